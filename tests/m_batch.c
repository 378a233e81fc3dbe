/* The driver's batches of tasks (UNIDIST_MPI_BATCH): built so that every small task is held
   for a batch, as if each worker were behind, so that batches form whatever the timing. What
   is held must go out in order, before anything else for that worker, and at every call of
   the driver but remote. Run under mpiexec with 2 or more ranks. */
#define UD_TEST_HOLD_TASKS 1
#define UNIDIST_IMPLEMENTATION
#include "unidist_mpi.h"
#include "ud_test.h"

enum { BATCH = 5 };

static ud_func f_add1, f_len;

static int64_t int_arg(ud_task *t, int i, int *ok) {
    ud_view v;
    int64_t x = 0;
    *ok = ud_task_arg(t, i, &v) == UD_OK && v.size == sizeof x;
    if (*ok) memcpy(&x, v.data, sizeof x);
    return x;
}

static int add1(ud_task *t) {
    int ok;
    int64_t x = int_arg(t, 0, &ok), *y = (int64_t *)ud_task_result(t, 0, sizeof *y);
    if (!ok || !y) return ud_task_fail(t, "add1: bad argument");
    *y = x + 1;
    return 0;
}

/* The size of its argument, and its first and last bytes. */
static int len(ud_task *t) {
    ud_view v;
    int64_t *r = (int64_t *)ud_task_result(t, 0, 3 * sizeof *r);
    if (ud_task_arg(t, 0, &v) != UD_OK || !r || v.size == 0) return ud_task_fail(t, "len: bad argument");
    r[0] = (int64_t)v.size;
    r[1] = ((const unsigned char *)v.data)[0];
    r[2] = ((const unsigned char *)v.data)[v.size - 1];
    return 0;
}

static int64_t msgs_sent(void) {
    ud_stats st[1];
    int n = 0;
    return ud_stats_get(st, 1, &n) == UD_OK && n == 1 ? st[0].msgs_sent : -1;
}

static ud_status add1_of(int64_t x, ud_ref *out) {
    ud_arg a = ud_arg_val(&x, sizeof x);
    return ud_remote(f_add1, &a, 1, 1, out);
}

static int64_t int_of(ud_ref r) {
    ud_view v;
    int64_t x = -1;
    if (ud_get(r, &v) == UD_OK && v.size == sizeof x) memcpy(&x, v.data, sizeof x);
    else printf("  get: %s\n", ud_last_error());
    return x;
}

/* A burst of tasks goes in batches: far fewer messages than tasks, every result right. What
   sends a batch before it is full grows with the burst's time, so a burst slow enough to
   allow half a message a task proves nothing: it is tried again, up to 5 times, and the case
   is a SKIP when no burst was quick enough. */
static void burst_goes_in_batches(void) {
    enum { N = 1000 };
    static ud_ref refs[N];
    static ud_view views[N];
    int64_t before, after, allowed = N;
    double t0, took;
    int i, bad, tries;
    for (tries = 0; tries < 5; tries++) {
        before = msgs_sent();
        t0 = ut_now();
        for (i = 0; i < N; i++) UT_REQUIRE_OK(add1_of(i, &refs[i]));
        after = msgs_sent(); /* the stats call sends what is held, after counting */
        took = ut_now() - t0;
        /* a message a batch, and what sends batches before they are full: a GET_TASK_COUNT at
           most a millisecond, which also sends rank 1's batch, and the reaping of sends every
           64th task, after which each worker's batch goes (without batches: a message a task) */
        allowed = N / BATCH + (N / 64 + 2) * ud_num_workers() + 2 * (int64_t)(1e3 * took + 1);
        if (allowed < N / 2 && !(before >= 0 && after - before <= allowed))
            UT_FAIL("%lld messages for %d tasks (at most %lld)", (long long)(after - before), N,
                    (long long)allowed);
        UT_REQUIRE_OK(ud_get_many(refs, N, views));
        for (i = 0, bad = 0; i < N; i++) {
            int64_t x;
            memcpy(&x, views[i].data, sizeof x);
            bad += views[i].size != sizeof x || x != i + 1;
        }
        UT_EQ_INT(bad, 0);
        UT_OK(ud_free_many(refs, N));
        if (allowed < N / 2) return;
        ut_note("a burst of %d tasks took %.0f ms: too slow to tell batches apart", N, 1e3 * took);
    }
    ut_skip("no burst was quick enough to tell batches apart");
}

/* Each task reads the one before: the refs it names are in batches not yet sent. */
static void chain_through_batches(void) {
    enum { N = 200 };
    int64_t zero = 0;
    ud_ref x, next;
    int i;
    UT_REQUIRE_OK(ud_put(&zero, sizeof zero, &x));
    for (i = 0; i < N; i++) {
        ud_arg a = ud_arg_ref(x);
        UT_REQUIRE_OK(ud_remote(f_add1, &a, 1, 1, &next));
        UT_OK(ud_free(x)); /* sends what is held first, then the cleanup */
        x = next;
    }
    UT_EQ_INT(int_of(x), N);
    UT_OK(ud_free(x));
}

/* Refs freed while their tasks are held: the tasks still run first, the rest are right. */
static void free_while_held(void) {
    enum { N = 100 };
    ud_ref refs[N];
    int i, bad = 0;
    for (i = 0; i < N; i++) UT_REQUIRE_OK(add1_of(i, &refs[i]));
    for (i = 0; i < N; i += 2) UT_OK(ud_free(refs[i]));
    for (i = 1; i < N; i += 2) bad += int_of(refs[i]) != i + 1;
    UT_EQ_INT(bad, 0);
    for (i = 1; i < N; i += 2) UT_OK(ud_free(refs[i]));
}

/* Tasks too large to hold go on their own, after what is held for their worker. */
static void large_tasks_keep_their_place(void) {
    enum { N = 60, BIG = 9000 };
    static unsigned char buf[BIG];
    ud_ref refs[N];
    int i, bad = 0;
    for (i = 0; i < N; i++) {
        size_t n = i % 3 == 0 ? BIG : 1 + (size_t)i;
        ud_arg a;
        memset(buf, i, n);
        buf[n - 1] = (unsigned char)(255 - i);
        a = ud_arg_val(buf, n);
        UT_REQUIRE_OK(ud_remote(f_len, &a, 1, 1, &refs[i]));
    }
    for (i = 0; i < N; i++) {
        ud_view v;
        int64_t r[3];
        size_t n = i % 3 == 0 ? BIG : 1 + (size_t)i;
        if (ud_get(refs[i], &v) != UD_OK || v.size != sizeof r) {
            bad++;
            continue;
        }
        memcpy(r, v.data, sizeof r);
        bad += r[0] != (int64_t)n || r[1] != (n == 1 ? 255 - i : i) || r[2] != 255 - i;
    }
    UT_EQ_INT(bad, 0);
    UT_OK(ud_free_many(refs, N));
}

/* A wait sends what is held: the tasks finish within it. */
static void wait_sends_what_is_held(void) {
    enum { N = 7 };
    ud_ref refs[N];
    int ready[N], nready = 0, i;
    for (i = 0; i < N; i++) UT_REQUIRE_OK(add1_of(i, &refs[i]));
    UT_OK(ud_wait(refs, N, N, 60.0, ready, &nready));
    UT_EQ_INT(nready, N);
    UT_OK(ud_free_many(refs, N));
}

int main(void) {
    ud_config cfg;
    ud_role role;
    memset(&cfg, 0, sizeof cfg);
    cfg.mpi_batch = BATCH;
    UT_OK(ud_register("add1", add1, NULL, &f_add1));
    UT_OK(ud_register("len", len, NULL, &f_len));
    ut_driver_runs_no_tasks(); /* its worker part's messages would count too */
    if (ud_init(&cfg, &role) != UD_OK) {
        printf("FAIL init: %s\n", ud_last_error());
        return 1;
    }
    if (role != UD_ROLE_DRIVER) return 0;
    UT_RUN(burst_goes_in_batches);
    UT_RUN(chain_through_batches);
    UT_RUN(free_while_held);
    UT_RUN(large_tasks_keep_their_place);
    UT_RUN(wait_sends_what_is_held);
    UT_CASE("shutdown sends what is held") {
        ud_ref r;
        UT_OK(add1_of(1, &r));
        UT_OK(ud_shutdown());
    }
    return ut_finish();
}
