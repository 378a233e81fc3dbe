/* ud_wait: the first completed first, num_returns, timeouts, refs already done, duplicates.
   Completion order is set by gates the driver opens one at a time, not by sleeps, so the
   expected orders do not depend on how fast the machine is. */
#define UNIDIST_IMPLEMENTATION
#include "unidist.h"
#include "ud_test.h"

#include <limits.h>
#include <math.h>

#define WORKERS 4
#define NGATES 16
#define LONG_WAIT 30.0 /* a deadline that only a hang reaches */

static ud_func f_square, f_gate, f_slow, f_fail;
static atomic_int gates[NGATES];

/* ---- tasks -------------------------------------------------------------------------------- */
static int square(ud_task *t) {
    int x;
    if (!ut_arg_int(t, 0, &x)) return ud_task_fail(t, "square: argument 0 is not an int");
    return ut_result_int(t, 0, x * x);
}

/* Holds its worker until the driver opens gates[i]; its result is i. */
static int gate(ud_task *t) {
    int i;
    if (!ut_arg_int(t, 0, &i) || i < 0 || i >= NGATES) return ud_task_fail(t, "gate: bad index");
    while (!atomic_load(&gates[i])) ut_sleep(0.001);
    return ut_result_int(t, 0, i);
}

static int slow_identity(ud_task *t) {
    int x;
    ut_sleep(0.5);
    if (!ut_arg_int(t, 0, &x)) return ud_task_fail(t, "slow_identity: argument 0 is not an int");
    return ut_result_int(t, 0, x);
}

static int fail(ud_task *t) {
    return ud_task_fail(t, "failed on purpose");
}

/* ---- helpers ------------------------------------------------------------------------------ */
static ud_ref closed_gate(int i) {
    ud_ref r = {-1, -1};
    atomic_store(&gates[i], 0);
    UT_OK(ut_call_int(f_gate, i, 1, &r));
    return r;
}

/* Opens gate i and waits until the task behind it (ref r) is done. */
static void open_and_finish(int i, ud_ref r) {
    int ready[1], nready = 0;
    atomic_store(&gates[i], 1);
    UT_OK(ud_wait(&r, 1, 1, LONG_WAIT, ready, &nready));
    UT_EQ_INT(nready, 1);
}

static int need_workers(int n) {
    if (ud_num_workers() >= n) return 1;
    ut_skip(n == 2 ? "needs 2 workers" : "needs 3 workers");
    return 0;
}

#define EXPECT_READY(ready, nready, ...) \
    do { \
        static const int want_[] = {__VA_ARGS__}; \
        int n_ = (int)(sizeof want_ / sizeof want_[0]), k_; \
        if (UT_EQ_INT(nready, n_)) \
            for (k_ = 0; k_ < n_; k_++) \
                if (!UT_EQ_INT(ready[k_], want_[k_])) break; \
    } while (0)

/* ---- cases -------------------------------------------------------------------------------- */
static void slow_and_fast(void) {
    ud_ref refs[2];
    int ready[2] = {-1, -1}, nready = -1;
    if (!need_workers(2)) return;
    UT_REQUIRE_OK(ut_call_int(f_slow, 1, 1, &refs[0]));
    UT_REQUIRE_OK(ut_call_int(f_square, 2, 1, &refs[1]));
    UT_OK(ud_wait(refs, 2, 1, LONG_WAIT, ready, &nready));
    EXPECT_READY(ready, nready, 1);
    UT_OK(ud_wait(refs, 2, 2, LONG_WAIT, ready, &nready));
    EXPECT_READY(ready, nready, 1, 0);
    UT_OK(ud_free_many(refs, 2));
}

static void gated_and_fast(void) {
    ud_ref refs[2];
    int ready[2] = {-1, -1}, nready = -1;
    if (!need_workers(2)) return;
    refs[0] = closed_gate(0);
    UT_REQUIRE_OK(ut_call_int(f_square, 3, 1, &refs[1]));
    UT_OK(ud_wait(refs, 2, 1, LONG_WAIT, ready, &nready));
    EXPECT_READY(ready, nready, 1);
    open_and_finish(0, refs[0]);
    UT_OK(ud_free_many(refs, 2));
}

static void ready_in_completion_order(void) {
    ud_ref refs[3];
    int ready[3] = {-1, -1, -1}, nready = -1;
    if (!need_workers(3)) return;
    refs[0] = closed_gate(1);
    refs[1] = closed_gate(2);
    refs[2] = closed_gate(3);
    open_and_finish(2, refs[1]);
    open_and_finish(3, refs[2]);
    open_and_finish(1, refs[0]);
    UT_OK(ud_wait(refs, 3, 3, LONG_WAIT, ready, &nready));
    EXPECT_READY(ready, nready, 1, 2, 0);
    UT_OK(ud_wait(refs, 3, 2, LONG_WAIT, ready, &nready));
    EXPECT_READY(ready, nready, 1, 2);
    UT_OK(ud_free_many(refs, 3));
}

struct opener {
    ud_ref refs[3];
    int order[3];
};

static void *open_in_order(void *p) {
    struct opener *o = (struct opener *)p;
    int k;
    ut_sleep(0.05); /* usually lets the driver enter ud_wait first; either way the order holds */
    for (k = 0; k < 3; k++) open_and_finish(4 + o->order[k], o->refs[o->order[k]]);
    return NULL;
}

/* Tasks complete while the driver is inside ud_wait. */
static void order_while_waiting(void) {
    struct opener o = {{{0, 0}}, {2, 0, 1}};
    pthread_t th;
    int ready[3] = {-1, -1, -1}, nready = -1, k;
    if (!need_workers(3)) return;
    for (k = 0; k < 3; k++) o.refs[k] = closed_gate(4 + k);
    UT_REQUIRE(pthread_create(&th, NULL, open_in_order, &o) == 0);
    UT_OK(ud_wait(o.refs, 3, 3, LONG_WAIT, ready, &nready));
    pthread_join(th, NULL);
    EXPECT_READY(ready, nready, 2, 0, 1);
    UT_OK(ud_free_many(o.refs, 3));
}

static void timeout(void) {
    ud_ref refs[3];
    int ready[3] = {-1, -1, -1}, nready = -1;
    double t0, dt;
    refs[0] = ut_put_int(1);
    refs[1] = closed_gate(7);
    refs[2] = ut_put_int(2);
    t0 = ut_now();
    UT_EQ_STATUS(ud_wait(refs, 3, 3, 0.2, ready, &nready), UD_ERR_TIMEOUT);
    dt = ut_now() - t0;
    EXPECT_READY(ready, nready, 0, 2);
    UT_CHECK(dt >= 0.19); /* it did wait */
    UT_CHECK(dt < 10.0);  /* and gave up */
    t0 = ut_now();
    UT_EQ_STATUS(ud_wait(&refs[1], 1, 1, 0.0, ready, &nready), UD_ERR_TIMEOUT);
    UT_EQ_INT(nready, 0);
    UT_CHECK(ut_now() - t0 < 10.0);
    /* Enough done: no timeout, whatever the limit. */
    UT_OK(ud_wait(refs, 3, 2, 0.2, ready, &nready));
    EXPECT_READY(ready, nready, 0, 2);
    UT_OK(ud_wait(refs, 3, 1, 0.0, ready, &nready));
    EXPECT_READY(ready, nready, 0);
    open_and_finish(7, refs[1]);
    UT_OK(ud_wait(refs, 3, 3, 0.0, ready, &nready));
    EXPECT_READY(ready, nready, 0, 2, 1);
    UT_OK(ud_free_many(refs, 3));
}

/* A pending task finishing well before the limit ends the wait then, not at the limit. */
static void wait_ends_at_completion(void) {
    ud_ref r;
    int ready[1] = {-1}, nready = -1;
    double t0;
    UT_REQUIRE_OK(ut_call_int(f_slow, 1, 1, &r));
    t0 = ut_now();
    UT_OK(ud_wait(&r, 1, 1, 600.0, ready, &nready));
    EXPECT_READY(ready, nready, 0);
    UT_CHECK(ut_now() - t0 < 60.0);
    UT_OK(ud_free(r));
}

static void num_returns_zero(void) {
    ud_ref g = closed_gate(8);
    int ready[1] = {-1}, nready = -1;
    UT_OK(ud_wait(&g, 1, 0, LONG_WAIT, ready, &nready));
    UT_EQ_INT(nready, 0);
    if (nready == 0) {
        UT_OK(ud_wait(&g, 1, 0, -1.0, ready, &nready));
        UT_EQ_INT(nready, 0);
    }
    open_and_finish(8, g);
    UT_OK(ud_wait(&g, 1, 0, -1.0, ready, &nready));
    UT_EQ_INT(nready, 0);
    UT_OK(ud_free(g));
}

static void already_done(void) {
    ud_ref refs[4];
    int ready[4] = {-1, -1, -1, -1}, nready = -1, k;
    ud_view v;
    refs[0] = ut_put_int(5);
    UT_REQUIRE_OK(ut_call_int(f_square, 6, 1, &refs[1]));
    UT_OK(ud_get(refs[1], &v));
    refs[2] = ut_put_int(7);
    UT_REQUIRE_OK(ut_call_int(f_fail, 0, 1, &refs[3]));
    UT_EQ_STATUS(ud_get(refs[3], &v), UD_ERR_TASK);
    UT_OK(ud_wait(refs, 4, 4, -1.0, ready, &nready));
    EXPECT_READY(ready, nready, 0, 1, 2, 3);
    ready[2] = ready[3] = -1;
    UT_OK(ud_wait(refs, 4, 2, 0.0, ready, &nready));
    EXPECT_READY(ready, nready, 0, 1);
    UT_CHECK(ready[2] == -1 && ready[3] == -1); /* room for num_returns indices is enough */
    for (k = 0; k < 4; k++) {
        UT_OK(ud_wait(&refs[k], 1, 1, 0.0, ready, &nready));
        EXPECT_READY(ready, nready, 0);
    }
    UT_OK(ud_free_many(refs, 4));
}

static void duplicate_refs(void) {
    ud_ref refs[3];
    int ready[3] = {-1, -1, -1}, nready = -1;
    refs[0] = refs[1] = ut_put_int(1);
    UT_OK(ud_wait(refs, 2, 2, LONG_WAIT, ready, &nready));
    UT_EQ_INT(nready, 2);
    UT_CHECK((ready[0] == 0 && ready[1] == 1) || (ready[0] == 1 && ready[1] == 0));
    UT_OK(ud_free(refs[0]));
    UT_REQUIRE_OK(ut_call_int(f_slow, 2, 1, &refs[0]));
    refs[1] = refs[2] = refs[0];
    UT_OK(ud_wait(refs, 3, 3, LONG_WAIT, ready, &nready));
    UT_EQ_INT(nready, 3);
    UT_EQ_INT(ready[0] + ready[1] + ready[2], 0 + 1 + 2);
    UT_OK(ud_free(refs[0]));
}

struct waiter {
    ud_ref ref;
    ud_status status;
    int nready, ready0;
};

static void *wait_one(void *p) {
    struct waiter *w = (struct waiter *)p;
    int ready[1] = {-1};
    w->status = ud_wait(&w->ref, 1, 1, LONG_WAIT, ready, &w->nready);
    w->ready0 = ready[0];
    return NULL;
}

/* Several driver threads wait on the same pending ref; one completion wakes them all. */
static void many_threads_wait(void) {
    enum { T = 4 };
    struct waiter w[T];
    pthread_t th[T];
    ud_ref g = closed_gate(9);
    int k, started = 0;
    for (k = 0; k < T; k++) {
        w[k].ref = g;
        w[k].status = UD_ERR_INTERNAL;
        w[k].nready = -1;
        w[k].ready0 = -1;
        if (pthread_create(&th[k], NULL, wait_one, &w[k]) == 0) started++;
    }
    UT_EQ_INT(started, T);
    ut_sleep(0.05);
    atomic_store(&gates[9], 1);
    for (k = 0; k < started; k++) {
        pthread_join(th[k], NULL);
        UT_EQ_STATUS(w[k].status, UD_OK);
        UT_EQ_INT(w[k].nready, 1);
        UT_EQ_INT(w[k].ready0, 0);
    }
    UT_OK(ud_free(g));
}

static double thread_cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct delayed {
    int gate;
    double after;
};

static void *open_later(void *p) {
    struct delayed *d = (struct delayed *)p;
    ut_sleep(d->after);
    atomic_store(&gates[d->gate], 1);
    return NULL;
}

/* Waits on a gate that another thread opens after 0.3 s; returns the driver's CPU seconds
   spent in the call, or -1 when the wait failed. */
static double cpu_of_wait(int g, double timeout, int use_get) {
    struct delayed d = {g, 0.3};
    pthread_t th;
    ud_ref r = closed_gate(g);
    int ready[1] = {-1}, nready = -1;
    double c0, used;
    ud_view v;
    ud_status s;
    if (pthread_create(&th, NULL, open_later, &d) != 0) return -1;
    c0 = thread_cpu();
    s = use_get ? ud_get(r, &v) : ud_wait(&r, 1, 1, timeout, ready, &nready);
    used = thread_cpu() - c0;
    pthread_join(th, NULL);
    if (!UT_OK(s)) used = -1;
    if (!use_get && !UT_EQ_INT(nready, 1)) used = -1;
    UT_OK(ud_free(r));
    return used;
}

/* The CPU seconds this thread gets spinning for the given wall seconds: what a spinning wait
   would cost now, on this machine as loaded as it is. */
static double cpu_of_spinning(double seconds) {
    double c0 = thread_cpu(), end = ut_now() + seconds;
    while (ut_now() < end) {
    }
    return thread_cpu() - c0;
}

/* A driver blocked in wait or get sleeps: it does not spin on a core (0.3 s of waiting costs
   under half what spinning for 0.3 s costs in the same run; a loaded machine gives a spinner
   less, and the limit with it). */
static void waiting_is_idle(void) {
    double cpu, spin = cpu_of_spinning(0.3), limit = 0.5 * spin;
    ut_note("spinning for 0.3 s took %.3f s of CPU", spin);
    if ((cpu = cpu_of_wait(10, -1.0, 0)) >= limit) UT_FAIL("wait, no limit: %.3f s of CPU in 0.3 s (limit %.3f)", cpu, limit);
    if ((cpu = cpu_of_wait(11, LONG_WAIT, 0)) >= limit) UT_FAIL("wait, 30 s limit: %.3f s of CPU in 0.3 s (limit %.3f)", cpu, limit);
    if ((cpu = cpu_of_wait(12, 0.0, 1)) >= limit) UT_FAIL("get: %.3f s of CPU in 0.3 s (limit %.3f)", cpu, limit);
}

static double process_cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* With nothing to run, the workers sleep: half a second of idling costs the whole process
   under half what one thread spinning for 0.5 s gets in the same run, not WORKERS cores. */
static void idle_workers_sleep(void) {
    double spin = cpu_of_spinning(0.5), c0 = process_cpu(), used;
    ut_sleep(0.5);
    used = process_cpu() - c0;
    if (used >= 0.5 * spin)
        UT_FAIL("%.3f s of CPU while idle for 0.5 s with %d workers (one spinning thread: %.3f s)", used,
                ud_num_workers(), spin);
}

struct huge_wait {
    ud_ref ref;
    double timeout;
    ud_status status;
    int nready;
    atomic_int finished;
};

static void *wait_huge(void *p) {
    struct huge_wait *h = (struct huge_wait *)p;
    int ready[1];
    h->status = ud_wait(&h->ref, 1, 1, h->timeout, ready, &h->nready);
    atomic_store(&h->finished, 1);
    return NULL;
}

static int wait_hung; /* the runtime is stuck: shutdown would hang too */

/* A limit too large for the clock (HUGE_VAL, 1e300) is no limit, and the wait still ends when
   the ref is done. The wait runs on its own thread so that a hang is reported, not suffered. */
static void huge_timeout_is_no_limit(void) {
    static const double limits[2] = {1e300, HUGE_VAL};
    int k;
    for (k = 0; k < 2 && !wait_hung; k++) {
        struct huge_wait h;
        pthread_t th;
        h.ref = closed_gate(13 + k);
        h.timeout = limits[k];
        h.status = UD_ERR_INTERNAL;
        h.nready = -1;
        atomic_store(&h.finished, 0);
        UT_REQUIRE(pthread_create(&th, NULL, wait_huge, &h) == 0);
        ut_sleep(0.05);
        atomic_store(&gates[13 + k], 1);
        if (!UT_EVENTUALLY(atomic_load(&h.finished), LONG_WAIT)) {
            UT_FAIL("ud_wait(ref, 1, 1, %g, ...) never returned after the ref was done", limits[k]);
            wait_hung = 1;
            pthread_detach(th);
            return;
        }
        pthread_join(th, NULL);
        UT_EQ_STATUS(h.status, UD_OK);
        UT_EQ_INT(h.nready, 1);
        UT_OK(ud_free(h.ref));
    }
}

/* UNIDIST_SPIN_US set to its most (a second): after a task, idle task threads look for work
   on their cores before they sleep, so for half a second the process takes at least half
   what one spinning thread gets in the same run (with the default 100 us it takes almost
   nothing: idle_workers_sleep). */
static void spin_us_keeps_threads_looking(void) {
    ud_role role;
    ud_config cfg;
    ud_ref r;
    ud_view v;
    double spin, c0, used;
    memset(&cfg, 0, sizeof cfg);
    cfg.cpus = WORKERS;
    cfg.spin_us = 1000000;
    int tries;
    if (!UT_OK(ud_init(&cfg, &role))) return;
    /* the baseline and the figure, side by side, up to 3 times: other load on the machine
       takes CPU from either, and is seldom the same through both three times */
    for (tries = 0; tries < 3; tries++) {
        spin = cpu_of_spinning(0.5);
        UT_REQUIRE_OK(ut_call_int(f_square, 3, 1, &r));
        ut_sleep(0.05); /* a task thread takes it (a get would run a task not started itself) */
        UT_OK(ud_get(r, &v));
        c0 = process_cpu();
        ut_sleep(0.5);
        used = process_cpu() - c0;
        UT_OK(ud_free(r));
        ut_note("spinning threads: %.3f s of CPU in 0.5 s (one spinning thread: %.3f s)", used, spin);
        if (used >= 0.5 * spin) break;
    }
    if (!(used >= 0.5 * spin)) UT_FAIL("%.3f s of CPU in 0.5 s with UNIDIST_SPIN_US=1000000", used);
    UT_OK(ud_shutdown());
}

static void register_all(void) {
    UT_OK(ud_register("square", square, NULL, &f_square));
    UT_OK(ud_register("gate", gate, NULL, &f_gate));
    UT_OK(ud_register("slow_identity", slow_identity, NULL, &f_slow));
    UT_OK(ud_register("fail", fail, NULL, &f_fail));
}

int main(void) {
    ud_role role;
    ud_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.cpus = WORKERS;
    UT_RUN(register_all);
    UT_CASE("init") { UT_OK(ud_init(&cfg, &role)); }
    if (!ud_is_initialized()) return ut_finish();
    UT_RUN(slow_and_fast);
    UT_RUN(gated_and_fast);
    UT_RUN(ready_in_completion_order);
    UT_RUN(order_while_waiting);
    UT_RUN(timeout);
    UT_RUN(wait_ends_at_completion);
    UT_RUN(num_returns_zero);
    UT_RUN(already_done);
    UT_RUN(duplicate_refs);
    UT_RUN(many_threads_wait);
    UT_RUN(waiting_is_idle);
    UT_RUN(idle_workers_sleep);
    UT_RUN(huge_timeout_is_no_limit);
    if (wait_hung) return ut_finish();
    UT_CASE("shutdown") { UT_OK(ud_shutdown()); }
#ifndef UT_MPI /* under MPI the task threads are on other ranks */
    if (!getenv("UNIDIST_SPIN_US")) UT_RUN(spin_us_keeps_threads_looking);
#endif
    return ut_finish();
}
