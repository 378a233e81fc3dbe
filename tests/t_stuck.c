/* A task that runs long makes ud_shutdown wait, as it must, but not silently: after
   UNIDIST_SHUTDOWN_WARN seconds the driver logs which tasks still run (function names) and, under
   MPI, on which ranks. ut: mpi (built with mpicc -DUT_MPI it runs under mpiexec). */
#define UNIDIST_IMPLEMENTATION
#ifdef UT_MPI
#include "unidist_mpi.h"
#else
#include "unidist.h"
#endif
#include "ud_test.h"

#define SLOW_SECONDS 1.6 /* longer than the 1 s warning interval set below */

static ud_func f_slow_sleeper;
static atomic_int started;

static int slow_sleeper(ud_task *t) {
    int *y = (int *)ud_task_result(t, 0, sizeof *y);
    if (!y) return ud_task_fail(t, "slow_sleeper: no memory");
    atomic_store(&started, 1);
    ut_sleep(SLOW_SECONDS);
    *y = ud_rank();
    return 0;
}

static struct {
    pthread_mutex_t mu;
    int n;
    char text[8][400];
} warned = {PTHREAD_MUTEX_INITIALIZER, 0, {{0}}};

static void log_hook(int level, int rank, const char *message, void *user) {
    (void)user;
    if (level == UD_LOG_WARN && strstr(message, "shutdown")) {
        pthread_mutex_lock(&warned.mu);
        if (warned.n < 8) snprintf(warned.text[warned.n++], sizeof warned.text[0], "%s", message);
        pthread_mutex_unlock(&warned.mu);
    }
    if (level <= UD_LOG_WARN) fprintf(stderr, "[ud r%d] %s\n", rank, message);
}

static int warned_with(const char *a, const char *b) {
    int i, found = 0;
    pthread_mutex_lock(&warned.mu);
    for (i = 0; i < warned.n && !found; i++) found = strstr(warned.text[i], a) && (!b || strstr(warned.text[i], b));
    pthread_mutex_unlock(&warned.mu);
    return found;
}

/* The seconds the first "shutdown has waited N s" warning names, or -1. */
static int first_waited(void) {
    int i, n = -1;
    pthread_mutex_lock(&warned.mu);
    for (i = 0; i < warned.n && n < 0; i++) {
        const char *p = strstr(warned.text[i], "shutdown has waited ");
        if (p && sscanf(p, "shutdown has waited %d s", &n) != 1) n = -1;
    }
    pthread_mutex_unlock(&warned.mu);
    return n;
}

int main(void) {
    ud_config cfg;
    ud_role role = UD_ROLE_DRIVER;
    ud_ref out;
    double t0, waited = 0;
    ud_status st;
    if (ud_register("slow_sleeper", slow_sleeper, NULL, &f_slow_sleeper) != UD_OK) return 1;
    memset(&cfg, 0, sizeof cfg);
    cfg.shutdown_warn = 1;
    cfg.log = log_hook;
    if (ud_init(&cfg, &role) != UD_OK) {
        printf("FAIL init: %s\n", ud_last_error());
        return 1;
    }
    if (role != UD_ROLE_DRIVER) return 0; /* a worker: back once the job is over */
    UT_CASE("shutdown waits for a task still running") {
        UT_OK(ud_remote(f_slow_sleeper, NULL, 0, 1, &out));
        t0 = ut_now();
#ifndef UT_MPI
        while (!atomic_load(&started) && ut_now() - t0 < 10) ut_sleep(0.01);
#endif
        st = ud_shutdown();
        UT_OK(st);
        waited = ut_now() - t0;
        UT_CHECK(waited >= SLOW_SECONDS - 0.1);
    }
    UT_CASE("after UNIDIST_SHUTDOWN_WARN seconds it names the task's function, and its rank") {
        char rank_text[32];
        int w = -1;
#ifdef UT_MPI
        /* the task ran on whichever worker the scheduler chose: the warning names one of them */
        int r, named = 0;
        for (r = 1; r < 64 && !named; r++) {
            snprintf(rank_text, sizeof rank_text, "rank %d:", r);
            if (warned_with(rank_text, "slow_sleeper")) named = 1, w = r;
        }
        UT_CHECK(named);
#else
        snprintf(rank_text, sizeof rank_text, "running");
        UT_CHECK(warned_with("running", "slow_sleeper"));
#endif
        /* the first warning comes after the interval (1 s), and names no more seconds than
           shutdown took (a loaded machine may make it later, and say so) */
        {
            int n = first_waited();
            if (!(n >= cfg.shutdown_warn && n <= (int)(waited + 0.5)))
                UT_FAIL("the first warning says %d s: want %d s to %.1f s, what shutdown took", n,
                        cfg.shutdown_warn, waited);
        }
        if (!warned_with("slow_sleeper", NULL)) {
            int i;
            for (i = 0; i < warned.n; i++) ut_note("warned: %s", warned.text[i]);
        }
        (void)w;
    }
    return ut_finish();
}
