/* Volume and concurrency: many tasks in flight, a long chain of dependents, driver threads
   calling the API at once, refs freed while their tasks are pending, and memory that comes
   back after a million puts and frees (counted through ud_config's allocator hooks).
   Sizes scale with UT_SCALE (see ud_test.h). */
#define UNIDIST_IMPLEMENTATION
#include "unidist.h"
#include "ud_test.h"

#include <limits.h>

#define SETTLE 30.0 /* deadline for memory released by workers after the driver's last call */

static ud_func f_inc, f_square, f_add2, f_gate, f_big;
static ut_counting mem;
static atomic_int gate_open, runs;

static long long live(void) {
    return atomic_load(&mem.live_bytes);
}

/* ---- tasks -------------------------------------------------------------------------------- */
static int inc(ud_task *t) {
    int x;
    if (!ut_arg_int(t, 0, &x)) return ud_task_fail(t, "inc: argument 0 is not an int");
    return ut_result_int(t, 0, x + 1);
}

static int square(ud_task *t) {
    int x;
    atomic_fetch_add(&runs, 1);
    if (!ut_arg_int(t, 0, &x)) return ud_task_fail(t, "square: argument 0 is not an int");
    return ut_result_int(t, 0, x * x);
}

static int add2(ud_task *t) {
    int a, b;
    if (!ut_arg_int(t, 0, &a) || !ut_arg_int(t, 1, &b)) return ud_task_fail(t, "add2: bad argument");
    return ut_result_int(t, 0, a + b);
}

static int gate(ud_task *t) {
    (void)t;
    while (!atomic_load(&gate_open)) ut_sleep(0.001);
    return ut_result_int(t, 0, 3);
}

/* A 1 MiB result, so that a result kept by mistake shows in the live bytes. */
static int big(ud_task *t) {
    void *p = ud_task_result(t, 0, 1 << 20);
    if (!p) return ud_task_fail(t, "big: no memory");
    memset(p, 1, 1 << 20);
    atomic_fetch_add(&runs, 1);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------------ */
static int int_of(ud_ref r) {
    ud_view v;
    int x;
    if (ud_get(r, &v) != UD_OK || v.size != sizeof(int) || !v.data) return INT_MIN;
    memcpy(&x, v.data, sizeof x);
    return x;
}

/* ---- cases -------------------------------------------------------------------------------- */
static void many_tasks_in_flight(void) {
    long n = ut_scaled(10000), k, wrong = 0;
    ud_ref *refs = malloc((size_t)n * sizeof *refs);
    UT_REQUIRE(refs);
    for (k = 0; k < n; k++) {
        if (!UT_OK(ut_call_int(f_inc, (int)k, 1, &refs[k]))) {
            n = k;
            break;
        }
    }
    for (k = 0; k < n; k++) {
        int got = int_of(refs[k]);
        if (got != k + 1 && wrong++ < 5) UT_FAIL("task %ld: got %d, want %ld", k, got, k + 1);
    }
    UT_EQ_INT(wrong, 0);
    UT_OK(ud_free_many(refs, (int)n));
    free(refs);
}

static void chain_of_dependents(void) {
    enum { N = 1000 };
    ud_ref r, next;
    int k;
    int zero = 0;
    UT_REQUIRE_OK(ud_put(&zero, sizeof zero, &r));
    for (k = 0; k < N; k++) {
        UT_REQUIRE_OK(ut_call_ref(f_inc, r, &next));
        UT_REQUIRE_OK(ud_free(r)); /* freed while its task may be pending */
        r = next;
    }
    UT_EQ_INT(int_of(r), N);
    UT_OK(ud_free(r));
}

struct driver {
    int id;
    long iters;
    ud_ref common; /* holds 1000 */
    long failures;
};

static void *drive(void *p) {
    struct driver *d = (struct driver *)p;
    long i;
    for (i = 0; i < d->iters; i++) {
        int x = (int)(i % 1000) + d->id, back = 0, ready[2], nready = 0;
        ud_ref r, sq, sum, both[2];
        ud_arg args[2];
        size_t size = 0;
        if (ud_put(&x, sizeof x, &r) != UD_OK) {
            d->failures++;
            UT_FAIL("thread %d: put: %s", d->id, ud_last_error());
            break;
        }
        if (ut_call_ref(f_square, r, &sq) != UD_OK) {
            d->failures++;
            UT_FAIL("thread %d: remote: %s", d->id, ud_last_error());
            ud_free(r);
            break;
        }
        args[0] = ud_arg_ref(d->common);
        args[1] = ud_arg_ref(r);
        if (ud_remote(f_add2, args, 2, 1, &sum) != UD_OK) {
            d->failures++;
            UT_FAIL("thread %d: remote add2: %s", d->id, ud_last_error());
            ud_free(r);
            ud_free(sq);
            break;
        }
        both[0] = sq;
        both[1] = sum;
        if (ud_wait(both, 2, 2, SETTLE, ready, &nready) != UD_OK || nready != 2) {
            d->failures++;
            UT_FAIL("thread %d: wait: nready %d: %s", d->id, nready, ud_last_error());
        }
        if (int_of(sq) != x * x || int_of(sum) != 1000 + x) {
            if (d->failures++ < 3) UT_FAIL("thread %d, iteration %ld: wrong results", d->id, i);
        }
        if (ud_get_copy(r, &back, sizeof back, &size) != UD_OK || back != x || size != sizeof x) {
            if (d->failures++ < 3) UT_FAIL("thread %d, iteration %ld: get_copy", d->id, i);
        }
        if (ud_free(r) != UD_OK || ud_free(sq) != UD_OK || ud_free(sum) != UD_OK) {
            if (d->failures++ < 3) UT_FAIL("thread %d: free: %s", d->id, ud_last_error());
        }
    }
    return NULL;
}

static void concurrent_driver_threads(void) {
    enum { T = 8 };
    struct driver d[T];
    pthread_t th[T];
    int k, started = 0, thousand = 1000;
    ud_ref common;
    UT_REQUIRE_OK(ud_put(&thousand, sizeof thousand, &common));
    for (k = 0; k < T; k++) {
        d[k].id = k;
        d[k].iters = ut_scaled(2000);
        d[k].common = common;
        d[k].failures = 0;
    }
    for (k = 0; k < T; k++)
        if (pthread_create(&th[k], NULL, drive, &d[k]) == 0) started++;
    UT_EQ_INT(started, T);
    for (k = 0; k < started; k++) {
        pthread_join(th[k], NULL);
        UT_EQ_INT(d[k].failures, 0);
    }
    UT_EQ_INT(int_of(common), 1000);
    UT_OK(ud_free(common));
}

struct getter {
    ud_ref r;
    int got;
};

static void *get_one(void *arg) {
    struct getter *g = arg;
    g->got = int_of(g->r);
    return NULL;
}

/* Driver threads blocked in get at once, three on one ref and others on refs made 1, 64 and
   128 after it (the threads backend wakes the gets of refs 64 apart through one condition):
   every get returns once the tasks end. */
static void blocked_gets_all_wake(void) {
    enum { N = 129, T = 6 };
    static const int pick[T] = {0, 0, 0, 1, 64, 128};
    ud_ref refs[N];
    struct getter g[T];
    pthread_t th[T];
    int k, started = 0;
    atomic_store(&gate_open, 0);
    for (k = 0; k < N; k++) UT_REQUIRE_OK(ud_remote(f_gate, NULL, 0, 1, &refs[k]));
    for (k = 0; k < T; k++) {
        g[k].r = refs[pick[k]];
        g[k].got = 0;
        started += pthread_create(&th[k], NULL, get_one, &g[k]) == 0;
    }
    UT_EQ_INT(started, T);
    ut_sleep(0.05); /* the gets block */
    atomic_store(&gate_open, 1);
    for (k = 0; k < started; k++) {
        pthread_join(th[k], NULL);
        UT_EQ_INT(g[k].got, 3);
    }
    UT_OK(ud_free_many(refs, N));
}

/* Refs dropped while their tasks wait or run: the tasks still run, the dependents still get
   their arguments, and the results nobody holds are released when the tasks end. */
static void free_refs_of_pending_tasks(void) {
    enum { DEPS = 50, BIGS = 16 };
    ud_ref g, deps[DEPS], bigs[BIGS];
    ud_view v;
    long long before = live();
    int k;
    atomic_store(&gate_open, 0);
    atomic_store(&runs, 0);
    UT_REQUIRE_OK(ud_remote(f_gate, NULL, 0, 1, &g));
    for (k = 0; k < DEPS; k++) UT_REQUIRE_OK(ut_call_ref(f_square, g, &deps[k]));
    for (k = 0; k < BIGS; k++) UT_REQUIRE_OK(ud_remote(f_big, NULL, 0, 1, &bigs[k]));
    UT_OK(ud_free(g));
    UT_OK(ud_free_many(deps, DEPS - 1));
    UT_OK(ud_free_many(bigs, BIGS));
    UT_EQ_STATUS(ud_get(deps[0], &v), UD_ERR_FREED);
    atomic_store(&gate_open, 1);
    UT_EQ_INT(int_of(deps[DEPS - 1]), 9);
    UT_EVENTUALLY(atomic_load(&runs) == DEPS + BIGS, SETTLE);
    UT_OK(ud_free(deps[DEPS - 1]));
    /* 16 MiB of results were produced and nobody holds them. */
    UT_EVENTUALLY(live() < before + (1 << 20), SETTLE);
}

struct freer {
    const ud_ref *refs;
    ud_status *status;
    int n;
    pthread_barrier_t *line;
};

static void *free_all(void *p) {
    struct freer *f = (struct freer *)p;
    int k;
    pthread_barrier_wait(f->line);
    for (k = 0; k < f->n; k++) f->status[k] = ud_free(f->refs[k]);
    return NULL;
}

/* Two threads free the same refs at once: each ref is freed exactly once, the other call is
   a double free. */
static void racing_frees(void) {
    int n = (int)ut_scaled(5000), k, bad = 0, started = 0;
    ud_ref *refs = malloc((size_t)n * sizeof *refs);
    ud_status *st = malloc(2 * (size_t)n * sizeof *st);
    struct freer f[2];
    pthread_t th[2];
    pthread_barrier_t line;
    if (!UT_CHECK(refs && st)) goto done;
    for (k = 0; k < n; k++)
        if (!UT_OK(ud_put(&k, sizeof k, &refs[k]))) goto done;
    pthread_barrier_init(&line, NULL, 2);
    for (k = 0; k < 2; k++) {
        f[k].refs = refs;
        f[k].status = st + (size_t)k * (size_t)n;
        f[k].n = n;
        f[k].line = &line;
    }
    for (k = 0; k < 2; k++) started += pthread_create(&th[k], NULL, free_all, &f[k]) == 0;
    UT_EQ_INT(started, 2);
    for (k = 0; k < started; k++) pthread_join(th[k], NULL);
    pthread_barrier_destroy(&line);
    for (k = 0; k < n && started == 2; k++) {
        ud_status a = st[k], b = st[n + k];
        int ok = (a == UD_OK && b == UD_ERR_FREED) || (a == UD_ERR_FREED && b == UD_OK);
        if (!ok && bad++ < 5)
            UT_FAIL("ref %d freed by two threads: %s and %s", k, ud_status_str(a), ud_status_str(b));
    }
    UT_EQ_INT(bad, 0);
done:
    free(refs);
    free(st);
}

static void million_puts_and_frees(void) {
    long n = ut_scaled(1000000), k;
    long long baseline;
    uint64_t x = 0;
    ud_ref r;
    for (k = 0; k < 1000; k++) {
        UT_REQUIRE_OK(ud_put(&x, sizeof x, &r));
        UT_REQUIRE_OK(ud_free(r));
    }
    baseline = live();
    for (k = 0; k < n; k++) {
        x = (uint64_t)k;
        if (!UT_OK(ud_put(&x, sizeof x, &r))) break;
        if (!UT_OK(ud_free(r))) break;
    }
    /* At most the starting value: memory a worker was still releasing then may be gone now. */
    if (!UT_EVENTUALLY(live() <= baseline, SETTLE))
        UT_FAIL("live bytes: %lld after %ld puts and frees, %lld before", live(), n, baseline);
}

/* A steady load of many live objects: the store reuses its room instead of growing. */
static void steady_load_does_not_grow(void) {
    enum { LIVE = 1000 };
    long rounds = ut_scaled(200), k, i;
    long long after_first = 0;
    ud_ref refs[LIVE];
    for (k = 0; k < rounds; k++) {
        for (i = 0; i < LIVE; i++)
            if (!UT_OK(ud_put(&i, sizeof i, &refs[i]))) return;
        UT_REQUIRE_OK(ud_free_many(refs, LIVE));
        if (k == 0) after_first = live();
    }
    if (!UT_EVENTUALLY(live() <= after_first, SETTLE))
        UT_FAIL("live bytes: %lld after %ld rounds, %lld after the first", live(), rounds, after_first);
}

static void register_all(void) {
    UT_OK(ud_register("inc", inc, NULL, &f_inc));
    UT_OK(ud_register("square", square, NULL, &f_square));
    UT_OK(ud_register("add2", add2, NULL, &f_add2));
    UT_OK(ud_register("gate", gate, NULL, &f_gate));
    UT_OK(ud_register("big", big, NULL, &f_big));
}

int main(void) {
    ud_role role;
    ud_config cfg;
    memset(&cfg, 0, sizeof cfg);
    ut_counting_use(&cfg, &mem);
    UT_RUN(register_all);
    UT_CASE("init") { UT_OK(ud_init(&cfg, &role)); }
    if (!ud_is_initialized()) return ut_finish();
    UT_RUN(many_tasks_in_flight);
    UT_RUN(chain_of_dependents);
    UT_RUN(concurrent_driver_threads);
    UT_RUN(blocked_gets_all_wake);
    UT_RUN(free_refs_of_pending_tasks);
    UT_RUN(racing_frees);
    UT_RUN(million_puts_and_frees);
    UT_RUN(steady_load_does_not_grow);
    UT_CASE("shutdown_returns_all_memory") {
        UT_OK(ud_shutdown());
        UT_EQ_INT(live(), 0);
        UT_EQ_INT(atomic_load(&mem.allocs), atomic_load(&mem.frees));
        UT_EQ_INT(atomic_load(&mem.bad_sizes), 0);
        UT_EQ_INT(atomic_load(&mem.foreign), 0);
    }
    return ut_finish();
}
