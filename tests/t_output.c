/* What the runtime writes must not harm the program: the progress line into a pipe whose reader
   has left stops quietly (no SIGPIPE); a trace path that cannot be written fails ud_init at
   once, naming the path and the reason; a trace that cannot be written at the end makes
   ud_shutdown say so.
   ut: mpi (built with mpicc -DUT_MPI it runs under mpiexec; with cc on the threads backend). */
#define UNIDIST_IMPLEMENTATION
#ifdef UT_MPI
#include "unidist_mpi.h"
#else
#include "unidist.h"
#endif
#include "ud_test.h"
#include <sys/stat.h>

static ud_func f_nap;

static int nap(ud_task *t) {
    (void)t;
    ut_sleep(0.2);
    return ut_result_int(t, 0, 1);
}

/* Log lines go nowhere: only the progress line writes to stderr in that phase. */
static void quiet(int level, int rank, const char *message, void *user) {
    (void)level, (void)rank, (void)message, (void)user;
}

static int is_driver(void) { return ut_launcher_rank() <= 0; } /* rank 0, or no launcher */

/* UNIDIST_PROGRESS=2 with stderr a pipe whose reader has gone: the line's writes fail, and the
   program goes on (it would die of SIGPIPE at the first write otherwise). */
static void progress_into_a_closed_pipe(void) {
    int fds[2], saved, k, n = 0;
    ud_config c;
    ud_role role;
    if (pipe(fds) != 0 || (saved = dup(2)) < 0) {
        printf("FAIL progress: no pipe\n");
        exit(1);
    }
    fflush(stderr);
    dup2(fds[1], 2);
    close(fds[1]);
    close(fds[0]); /* the reader leaves */
    memset(&c, 0, sizeof c);
    c.progress = 2;
    c.log = quiet;
    if (ud_init(&c, &role) == UD_OK && role == UD_ROLE_DRIVER) {
        ud_ref r[8];
        int ready[8];
        for (k = 0; k < 8; k++) ud_remote(f_nap, NULL, 0, 1, &r[k]);
        ud_wait(r, 8, 8, 30.0, ready, &n);
        ud_free_many(r, 8);
        ud_shutdown();
    }
    dup2(saved, 2);
    close(saved);
    if (is_driver()) UT_CASE("the progress line into a pipe whose reader left: the program goes on") UT_EQ_INT(n, 8);
}

/* A trace path in a folder that does not exist: init fails on every rank, the driver's
   message naming the path and why. */
static void unwritable_trace_fails_init(void) {
    ud_config c;
    ud_role role;
    ud_status st;
    memset(&c, 0, sizeof c);
    c.trace = "/nonexistent-folder/trace.json";
    st = ud_init(&c, &role);
    if (is_driver()) UT_CASE("a trace that cannot be written fails init, naming why") {
        UT_EQ_STATUS(st, UD_ERR_CONFIG);
        UT_CONTAINS(ud_last_error(), "UNIDIST_TRACE: cannot write /nonexistent-folder/trace.json");
        UT_CONTAINS(ud_last_error(), "No such file or directory");
    }
}

/* The trace's folder goes while the runtime runs: shutdown says the trace was not written. */
static void lost_trace_fails_shutdown(void) {
    char dir[128], path[160];
    ud_config c;
    ud_role role;
    ud_ref r;
    /* the same on every rank, on every host (the trace setting must agree) */
    snprintf(dir, sizeof dir, "/tmp/ud_t_output_trace");
    snprintf(path, sizeof path, "%s/trace.json", dir);
    if (is_driver()) mkdir(dir, 0700);
    memset(&c, 0, sizeof c);
    c.trace = path;
    if (ud_init(&c, &role) != UD_OK) {
        printf("FAIL init with a trace in %s: %s\n", dir, ud_last_error());
        exit(1);
    }
    if (role != UD_ROLE_DRIVER) return;
    UT_CASE("a trace that cannot be written at the end fails shutdown, naming why") {
        UT_OK(ud_remote(f_nap, NULL, 0, 1, &r));
        ud_free(r);
        unlink(path);
        rmdir(dir);
        UT_EQ_STATUS(ud_shutdown(), UD_ERR_CONFIG);
        UT_CONTAINS(ud_last_error(), path);
        UT_CONTAINS(ud_last_error(), "No such file or directory");
    }
}

int main(void) {
    ut_watchdog(120);
    if (ud_register("nap", nap, NULL, &f_nap) != UD_OK) return 1;
    progress_into_a_closed_pipe();
    unwritable_trace_fails_init();
    lost_trace_fails_shutdown();
    return is_driver() ? ut_finish() : 0;
}
