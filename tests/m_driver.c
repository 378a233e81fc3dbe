/* The driver's rank under MPI: its loop thread moves tasks, nested calls and cleanups while
   the program computes, and any number of the program's threads may call the API at once
   (m_driver_funneled.c: the same with the host's MPI_THREAD_FUNNELED, under which every call
   is handed to the loop).
   Each case is one a user meets: tasks submitted before a long computation, a task whose
   nested call the driver must serve, a long wait after many frees, several threads calling,
   a shutdown while other threads still call. Run under mpiexec with 2 or more ranks. */
#define UNIDIST_IMPLEMENTATION
#include "unidist_mpi.h"
#include "ud_test.h"
#include <stdatomic.h>

static ut_counting mem;

/* Ends the test (the driver says how it went); MPI, when the host started it, is the host's
   to finalize. */
static int finish(int driver) {
    int rc = driver ? ut_finish() : 0;
#ifdef UT_FUNNELED
    MPI_Finalize();
#endif
    return rc;
}
static ud_func f_nap, f_add1, f_nested, f_fill, f_live_after;

static int64_t i64_arg(ud_task *t, int i) {
    ud_view v;
    int64_t x = 0;
    if (ud_task_arg(t, i, &v) == UD_OK && v.size == sizeof x) memcpy(&x, v.data, sizeof x);
    return x;
}

/* nap(ms): sleeps, then returns ms. Takes no core: only the runtime's progress moves it. */
static int nap(ud_task *t) {
    int64_t ms = i64_arg(t, 0), *r = (int64_t *)ud_task_result(t, 0, sizeof *r);
    if (!r) return ud_task_fail(t, "nap: no memory");
    ut_sleep(1e-3 * (double)ms);
    *r = ms;
    return 0;
}

static int add1(ud_task *t) {
    int64_t *r = (int64_t *)ud_task_result(t, 0, sizeof *r);
    if (!r) return ud_task_fail(t, "add1: no memory");
    *r = i64_arg(t, 0) + 1;
    return 0;
}

/* nested(x): a nested remote of add1(x) and its get; returns (x + 1, seconds it took). */
static int nested(ud_task *t) {
    int64_t x = i64_arg(t, 0);
    ud_arg a = ud_arg_val(&x, sizeof x);
    double t0 = ut_now(), *r;
    ud_ref ref;
    ud_view v;
    if (ud_remote(f_add1, &a, 1, 1, &ref) != UD_OK || ud_get(ref, &v) != UD_OK || v.size != sizeof x)
        return ud_task_fail(t, "nested: %s", ud_last_error());
    if (!(r = (double *)ud_task_result(t, 0, 2 * sizeof *r))) return ud_task_fail(t, "nested: no memory");
    memcpy(&x, v.data, sizeof x);
    r[0] = (double)x;
    r[1] = ut_now() - t0;
    ud_free(ref);
    return 0;
}

/* fill(n): n bytes, under the shared store's threshold when small (counted by the hooks). */
static int fill(ud_task *t) {
    int64_t n = i64_arg(t, 0);
    void *p = ud_task_result(t, 0, (size_t)n);
    if (!p && n) return ud_task_fail(t, "fill: no memory");
    memset(p, 0x5a, (size_t)n);
    return 0;
}

/* live_after(ms): sleeps, then returns the runtime's live bytes on its rank. */
static int live_after(ud_task *t) {
    int64_t *r = (int64_t *)ud_task_result(t, 0, sizeof *r);
    if (!r) return ud_task_fail(t, "live_after: no memory");
    ut_sleep(1e-3 * (double)i64_arg(t, 0));
    *r = (int64_t)atomic_load(&mem.live_bytes);
    return 0;
}

static ud_status call1(ud_func f, int64_t x, const ud_opts *o, ud_ref *out) {
    ud_arg a = ud_arg_val(&x, sizeof x);
    return ud_remote_opts(o, f, &a, 1, 1, out);
}

static int64_t get_i64(ud_ref r) {
    ud_view v;
    int64_t x = INT64_MIN;
    if (ud_get(r, &v) == UD_OK && v.size == sizeof x) memcpy(&x, v.data, sizeof x);
    return x;
}

/* The program's own work: a core kept busy, no runtime call. */
static void compute(double seconds) {
    volatile double x = 0;
    double end = ut_now() + seconds;
    while (ut_now() < end)
        for (int k = 0; k < 10000; k++) x = x * 0.999 + 1;
}

/* Tasks submitted before a long computation all finish during it: the loop sends the batches
   held back and takes the completions while the program thread never calls in. */
static void tasks_move_while_the_driver_computes(void) {
    enum { PER = 16 };
    int n = PER * ud_num_workers(), i, nready = 0;
    ud_ref *refs = (ud_ref *)malloc((size_t)n * sizeof *refs);
    int *ready = (int *)malloc((size_t)n * sizeof *ready);
    UT_REQUIRE(refs && ready);
    for (i = 0; i < n; i++) UT_REQUIRE_OK(call1(f_nap, 10, NULL, &refs[i]));
    compute(1.0); /* 16 naps of 10 ms a worker take 0.16 s */
    ud_wait(refs, n, n, 0, ready, &nready);
    ut_note("%d of %d tasks done while the driver computed 1 s", nready, n);
    UT_EQ_INT(nready, n);
    UT_OK(ud_free_many(refs, n));
    free(refs);
    free(ready);
}

/* A task's nested remote and get are served while the driver computes, not when it next
   calls in. */
static void a_nested_call_is_served_while_the_driver_computes(void) {
    ud_ref r;
    ud_view v;
    double took[2];
    UT_REQUIRE_OK(call1(f_nested, 41, NULL, &r));
    compute(1.0);
    UT_REQUIRE_OK(ud_get(r, &v));
    UT_REQUIRE(v.size == sizeof took);
    memcpy(took, v.data, sizeof took);
    ut_note("the nested remote and get took %.3f s of the driver's 1 s computation", took[1]);
    UT_EQ_INT((int64_t)took[0], 42);
    UT_CHECK(took[1] < 0.75);
    UT_OK(ud_free(r));
}

/* Refs freed just before a long wait are cleaned up during it (UNIDIST_MPI_GC_DELAY_MS after
   the frees), not after: their worker lets go of them while the driver still waits. */
static void cleanup_goes_while_the_driver_waits(void) {
    enum { N = 10, SIZE = 64 << 10 };
    ud_opts o = ud_on_worker(0);
    ud_ref made[N], probe;
    int64_t before, during;
    int k, ready, nready = 0;
    int done[N];
    for (k = 0; k < N; k++) UT_REQUIRE_OK(call1(f_fill, SIZE, &o, &made[k]));
    UT_REQUIRE_OK(ud_wait(made, N, N, -1, done, &nready)); /* all made (some by a thief) */
    UT_REQUIRE_OK(call1(f_live_after, 0, &o, &probe));
    before = get_i64(probe);
    UT_OK(ud_free(probe));
    UT_OK(ud_free_many(made, N));
    UT_REQUIRE_OK(call1(f_live_after, 500, &o, &probe));
    UT_OK(ud_wait(&probe, 1, 1, -1, &ready, &nready));
    during = get_i64(probe);
    ut_note("worker 0: %lld live bytes before the frees, %lld half a second into the wait",
            (long long)before, (long long)during);
    UT_CHECK(during <= before - N * (int64_t)SIZE);
    UT_OK(ud_free(probe));
}

typedef struct caller {
    pthread_t thread;
    int id, rounds, bad;
    char why[600];
} caller;

static void caller_failed(caller *c, const char *what) {
    if (!c->bad++) snprintf(c->why, sizeof c->why, "thread %d: %s: %s", c->id, what, ud_last_error());
}

/* remote + get + free, rounds times, each result checked. */
static void *remote_get_loop(void *arg) {
    caller *c = (caller *)arg;
    for (int k = 0; k < c->rounds; k++) {
        int64_t x = 1000 * c->id + k;
        ud_ref r;
        if (call1(f_add1, x, NULL, &r) != UD_OK) {
            caller_failed(c, "remote");
            continue;
        }
        if (get_i64(r) != x + 1) caller_failed(c, "get");
        if (ud_free(r) != UD_OK) caller_failed(c, "free");
    }
    return NULL;
}

/* Every call of the API: put, a task reading it, wait, get, free. */
static void *every_call_loop(void *arg) {
    caller *c = (caller *)arg;
    for (int k = 0; k < c->rounds; k++) {
        int64_t x = 1000 * c->id + k;
        ud_ref p, r;
        ud_arg a;
        int ready, nready = 0;
        if (ud_put(&x, sizeof x, &p) != UD_OK) {
            caller_failed(c, "put");
            continue;
        }
        a = ud_arg_ref(p);
        if (ud_remote(f_add1, &a, 1, 1, &r) != UD_OK) caller_failed(c, "remote");
        else if (ud_wait(&r, 1, 1, 60, &ready, &nready) != UD_OK || nready != 1) caller_failed(c, "wait");
        else if (get_i64(r) != x + 1 || get_i64(p) != x) caller_failed(c, "get");
        else if (ud_free(r) != UD_OK) caller_failed(c, "free");
        if (ud_free(p) != UD_OK) caller_failed(c, "free");
    }
    return NULL;
}

static void run_callers(int n, int rounds, void *(*fn)(void *)) {
    caller c[8];
    int k, bad = 0;
    for (k = 0; k < n; k++) {
        memset(&c[k], 0, sizeof c[k]);
        c[k].id = k;
        c[k].rounds = rounds;
        UT_REQUIRE(pthread_create(&c[k].thread, NULL, fn, &c[k]) == 0);
    }
    for (k = 0; k < n; k++) {
        pthread_join(c[k].thread, NULL);
        if (c[k].bad) UT_FAIL("%d calls failed; the first: %s", c[k].bad, c[k].why);
        bad += c[k].bad;
    }
    UT_EQ_INT(bad, 0);
}

static void four_threads_remote_and_get(void) { run_callers(4, (int)ut_scaled(200), remote_get_loop); }

static void eight_threads_make_every_call(void) { run_callers(8, (int)ut_scaled(100), every_call_loop); }

/* A thread that keeps calling while another shuts down: its calls end with UD_ERR_STATE, and
   nothing hangs or crashes. */
static atomic_int stop_status = -1;
static char stop_why[600];

static void *call_until_refused(void *arg) {
    int64_t k = 0;
    (void)arg;
    for (;;) {
        ud_ref r;
        int ready, nready = 0;
        /* (no views: the shutdown lets go of what they show, as it may) */
        ud_status st = call1(f_add1, k++, NULL, &r);
        if (st == UD_OK) st = ud_wait(&r, 1, 1, 60, &ready, &nready);
        if (st != UD_OK) {
            snprintf(stop_why, sizeof stop_why, "%s", ud_last_error());
            atomic_store(&stop_status, (int)st);
            return NULL;
        }
        ud_free(r);
    }
}

int main(int argc, char **argv) {
    ud_config cfg;
    ud_role role;
#ifdef UT_FUNNELED /* the host gives MPI_THREAD_FUNNELED: every call is handed to the loop */
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
#else
    (void)argc;
    (void)argv;
#endif
    memset(&cfg, 0, sizeof cfg);
    ut_counting_use(&cfg, &mem);
    UT_OK(ud_register("nap", nap, NULL, &f_nap));
    UT_OK(ud_register("add1", add1, NULL, &f_add1));
    UT_OK(ud_register("nested", nested, NULL, &f_nested));
    UT_OK(ud_register("fill", fill, NULL, &f_fill));
    UT_OK(ud_register("live_after", live_after, NULL, &f_live_after));
    if (ud_init(&cfg, &role) != UD_OK) {
        printf("FAIL init: %s\n", ud_last_error());
        return 1;
    }
    if (role != UD_ROLE_DRIVER) return finish(0);
#ifdef UT_FUNNELED
    UT_CASE("MPI_THREAD_FUNNELED: calls are handed to the loop") UT_EQ_INT(ud__rl.direct, provided > MPI_THREAD_FUNNELED);
#else
    UT_CASE("the runtime's own MPI: calls run on their threads") UT_EQ_INT(ud__rl.direct, 1);
#endif
    UT_RUN(tasks_move_while_the_driver_computes);
    UT_RUN(a_nested_call_is_served_while_the_driver_computes);
    UT_RUN(cleanup_goes_while_the_driver_waits);
    UT_RUN(four_threads_remote_and_get);
    UT_RUN(eight_threads_make_every_call);
    UT_CASE("a shutdown while another thread calls refuses its calls") {
        pthread_t th;
        if (!UT_CHECK(pthread_create(&th, NULL, call_until_refused, NULL) == 0)) break;
        ut_sleep(0.2);
        UT_OK(ud_shutdown());
        pthread_join(th, NULL);
        UT_EQ_STATUS(atomic_load(&stop_status), UD_ERR_STATE);
        UT_CHECK(strstr(stop_why, "shut") != NULL);
        ut_note("the other thread's last call: %s", stop_why);
    }
    return finish(1);
}
