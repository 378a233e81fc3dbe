/* Nested tasks that cannot deadlock: a task that waits in a nested get or wait runs nothing
   else on its stack (its slot goes to another thread meanwhile), so no task is buried under
   one that waits for it; timeouts of nested waits hold; depth past a limit is a clear error;
   cycles a rank can see are UD_ERR_ARG at once; a task frees only the refs it made.
   Each run: 1, 2 and 4 task threads a worker.
   ut: mpi (built with mpicc -DUT_MPI it runs under mpiexec, each run a phase on every rank;
   with cc on the threads backend). */
#define UNIDIST_IMPLEMENTATION
#ifdef UT_MPI
#include "unidist_mpi.h"
#else
#include "unidist.h"
#endif
#include "ud_test.h"

static ud_func f_leaf, f_split, f_getter, f_holder, f_reader, f_timed, f_chain, f_self, f_pair,
    f_freer, f_stuck, f_cross_a, f_cross_b;
static ut_counting mem;
static _Thread_local size_t ut_size; /* ud_get_copy's size, unread */

/* ---- tasks ------------------------------------------------------------------------------------ */
static int put_ints(ud_task *t, const int *y, int n) {
    int *out = (int *)ud_task_result(t, 0, (size_t)n * sizeof *y);
    if (!out) return ud_task_fail(t, "no memory");
    memcpy(out, y, (size_t)n * sizeof *y);
    return 0;
}

/* The ref written to path (a side channel: a task cannot be handed its own result), polled
   for up to 20 s. */
static int read_ref(const char *path, ud_ref *r) {
    double end = ut_now() + 20;
    while (ut_now() < end) {
        FILE *f = fopen(path, "rb");
        if (f) {
            int ok = fread(r, sizeof *r, 1, f) == 1;
            fclose(f);
            if (ok) return 1;
        }
        ut_sleep(0.002);
    }
    return 0;
}

static void write_ref(const char *path, ud_ref r) {
    char tmp[300];
    FILE *f;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (!(f = fopen(tmp, "wb"))) return;
    fwrite(&r, sizeof r, 1, f);
    fclose(f);
    rename(tmp, path); /* whole, or not there */
}

/* leaf(ms): sleeps ms, returns ms. */
static int leaf(ud_task *t) {
    int ms = 0;
    if (!ut_arg_int(t, 0, &ms)) return ud_task_fail(t, "leaf: bad argument");
    ut_sleep(ms / 1000.0);
    return ut_result_int(t, 0, ms);
}

/* split(x): a divide-and-conquer step: one nested child (leaf of 20 ms), waited for with a
   get; returns x + 20. */
static int split(ud_task *t) {
    int x = 0, ms = 20, y = 0;
    ud_arg a = ud_arg_val(&ms, sizeof ms);
    ud_ref r;
    if (!ut_arg_int(t, 0, &x)) return ud_task_fail(t, "split: bad argument");
    if (ud_remote(f_leaf, &a, 1, 1, &r) != UD_OK || ud_get_copy(r, &y, sizeof y, &ut_size) != UD_OK)
        return ud_task_fail(t, "split: %s", ud_last_error());
    ud_free(r);
    return ut_result_int(t, 0, x + y);
}

/* getter(refs): the refs come inside an object (not as arguments, which the runtime would
   wait for before the task starts): gets them all, returns their sum. */
static int getter(ud_task *t) {
    ud_view v, got[16];
    ud_ref refs[16];
    int n, i, sum = 0;
    if (ud_task_arg(t, 0, &v) != UD_OK || v.size % sizeof(ud_ref) || v.size / sizeof(ud_ref) > 16)
        return ud_task_fail(t, "getter: bad argument");
    n = (int)(v.size / sizeof(ud_ref));
    memcpy(refs, v.data, v.size);
    if (ud_get_many(refs, n, got) != UD_OK) return ud_task_fail(t, "getter: %s", ud_last_error());
    for (i = 0; i < n; i++) sum += *(const int *)got[i].data;
    return ut_result_int(t, 0, sum);
}

/* holder: waits in a nested get on a 50 ms child. */
static int holder(ud_task *t) {
    int ms = 50, y = 0;
    ud_arg a = ud_arg_val(&ms, sizeof ms);
    ud_ref r;
    if (ud_remote(f_leaf, &a, 1, 1, &r) != UD_OK || ud_get_copy(r, &y, sizeof y, &ut_size) != UD_OK)
        return ud_task_fail(t, "holder: %s", ud_last_error());
    ud_free(r);
    return ut_result_int(t, 0, 1000 + y);
}

/* reader(ref inside an object): gets it (the holder's result, which the holder's wait must
   not bury under this task). */
static int reader(ud_task *t) {
    ud_view v;
    ud_ref r;
    int y = 0;
    if (ud_task_arg(t, 0, &v) != UD_OK || v.size != sizeof r) return ud_task_fail(t, "reader: bad argument");
    memcpy(&r, v.data, sizeof r);
    if (ud_get_copy(r, &y, sizeof y, &ut_size) != UD_OK) return ud_task_fail(t, "reader: %s", ud_last_error());
    return ut_result_int(t, 0, y + 1);
}

/* timed(ms): a nested wait of 0.1 s on a child that sleeps ms; returns the wait's status, how
   long it took in microseconds, and whether its message named UNIDIST_TASK_WAITS. */
static int timed(ud_task *t) {
    int ms = 0, ready[1], n = 0, y[3];
    ud_arg a;
    ud_ref r;
    double t0;
    /* under MPI on another worker when there is one: on this one a nested task runs before
       the tasks queued here (depth first), and no two of these would wait at once */
    ud_opts other = ud_on_worker(ud_num_workers() > 1 ? 1 - (ud_worker_id() & 1) : 0);
    const ud_opts *here = strcmp(ud_backend_name(), "mpi") ? NULL : &other;
    if (!ut_arg_int(t, 0, &ms)) return ud_task_fail(t, "timed: bad argument");
    a = ud_arg_val(&ms, sizeof ms);
    if (ud_remote_opts(here, f_leaf, &a, 1, 1, &r) != UD_OK) return ud_task_fail(t, "timed: %s", ud_last_error());
    t0 = ut_now();
    y[0] = ud_wait(&r, 1, 1, 0.1, ready, &n);
    y[1] = (int)((ut_now() - t0) * 1e6);
    y[2] = y[0] == UD_ERR_STATE && strstr(ud_last_error(), "UNIDIST_TASK_WAITS=") != NULL;
    ud_free(r);
    return put_ints(t, y, 3);
}

/* chain(n): n nested tasks deep, each waiting for the next; returns n + 1. */
static int chain(ud_task *t) {
    int n = 0, y = 0, m;
    ud_arg a;
    ud_ref r;
    if (!ut_arg_int(t, 0, &n)) return ud_task_fail(t, "chain: bad argument");
    if (n == 0) return ut_result_int(t, 0, 1);
    m = n - 1;
    a = ud_arg_val(&m, sizeof m);
    if (ud_remote(f_chain, &a, 1, 1, &r) != UD_OK || ud_get_copy(r, &y, sizeof y, &ut_size) != UD_OK) {
        /* the deepest failure, not each level's wrapping of it (which the message's length
           would cut short) */
        const char *e = ud_last_error(), *deepest = strstr(e, "remote '");
        return ud_task_fail(t, "chain %d: %s", n, deepest ? deepest : e);
    }
    ud_free(r);
    return ut_result_int(t, 0, y + 1);
}

/* self(path): reads its own result's ref from path, then gets it and waits on it: each is
   UD_ERR_ARG at once, naming the task. Returns the two statuses and whether both messages
   said "itself". */
static int self_task(ud_task *t) {
    ud_view v;
    ud_ref r;
    char path[256];
    int y[3] = {0, 0, 0}, ready[1], n = 0;
    if (ud_task_arg(t, 0, &v) != UD_OK || v.size >= sizeof path) return ud_task_fail(t, "self: bad argument");
    memcpy(path, v.data, v.size);
    path[v.size] = 0;
    if (!read_ref(path, &r)) return ud_task_fail(t, "self: no ref in %s", path);
    y[0] = ud_get(r, &v);
    y[2] = ut_contains_nocase(ud_last_error(), "itself") && ut_contains_nocase(ud_last_error(), "self_task");
    y[1] = ud_wait(&r, 1, 1, -1, ready, &n);
    y[2] = y[2] && ut_contains_nocase(ud_last_error(), "itself");
    return put_ints(t, y, 3);
}

/* pair(path): reads its partner's ref from path and gets it, while the partner gets this
   one's: one of the two sees the cycle (UD_ERR_ARG naming it) and returns, which ends the
   other's wait. Returns the get's status and whether its message said "cycle". */
static int pair_task(ud_task *t) {
    ud_view v;
    ud_ref r;
    char path[256];
    int y[2] = {0, 0};
    if (ud_task_arg(t, 0, &v) != UD_OK || v.size >= sizeof path) return ud_task_fail(t, "pair: bad argument");
    memcpy(path, v.data, v.size);
    path[v.size] = 0;
    if (!read_ref(path, &r)) return ud_task_fail(t, "pair: no ref in %s", path);
    y[0] = ud_get(r, &v);
    y[1] = y[0] == UD_ERR_ARG && ut_contains_nocase(ud_last_error(), "cycle");
    return put_ints(t, y, 2);
}

/* freer(ref inside an object): frees that ref, which the driver made (refused, naming it),
   then one it puts itself (fine). */
static int freer(ud_task *t) {
    ud_view v;
    ud_ref r, mine;
    int x = 3, y[3];
    if (ud_task_arg(t, 0, &v) != UD_OK || v.size != sizeof r) return ud_task_fail(t, "freer: bad argument");
    memcpy(&r, v.data, sizeof r);
    y[0] = ud_free(r);
    y[1] = ut_contains_nocase(ud_last_error(), "not made by the calling task");
    y[2] = ud_put(&x, sizeof x, &mine) == UD_OK ? ud_free(mine) : -100;
    return put_ints(t, y, 3);
}

/* ---- cases --------------------------------------------------------------------------------- */
static int get_ints(ud_ref r, int *y, int n) {
    ud_view v;
    if (!UT_OK(ud_get(r, &v)) || !UT_EQ_INT(v.size, (long long)n * (long long)sizeof *y)) return 0;
    memcpy(y, v.data, (size_t)n * sizeof *y);
    return 1;
}

/* 8 divide-and-conquer tasks, each waiting on a nested child, and a task that gets their refs,
   handed to it inside an object. */
static void divide_and_conquer_then_getter(void) {
    ud_ref prod[8], pack, g;
    ud_arg a;
    int i, sum = 0;
    for (i = 0; i < 8; i++) UT_REQUIRE_OK(ut_call_int(f_split, i, 1, &prod[i]));
    UT_REQUIRE_OK(ud_put(prod, sizeof prod, &pack));
    a = ud_arg_ref(pack);
    if (UT_OK(ud_remote(f_getter, &a, 1, 1, &g)) && UT_OK(ud_get_copy(g, &sum, sizeof sum, &ut_size)))
        UT_EQ_INT(sum, 28 + 8 * 20);
    ud_free(g);
    ud_free(pack);
    ud_free_many(prod, 8);
}

/* A task waits in a nested get; a task queued behind it on the same worker gets its result:
   the first's wait must not run the second on its stack. */
static void a_waiting_task_buries_nothing(void) {
    ud_opts on0 = ud_on_worker(0);
    ud_ref h, pack, rd;
    ud_arg a;
    int y = 0;
    UT_REQUIRE_OK(ud_remote_opts(&on0, f_holder, NULL, 0, 1, &h));
    UT_REQUIRE_OK(ud_put(&h, sizeof h, &pack));
    a = ud_arg_ref(pack);
    if (UT_OK(ud_remote_opts(&on0, f_reader, &a, 1, 1, &rd)) && UT_OK(ud_get_copy(rd, &y, sizeof y, &ut_size)))
        UT_EQ_INT(y, 1051);
    ud_free_many((ud_ref[]){h, pack, rd}, 3);
}

/* A nested wait of 0.1 s on a child that sleeps 1 s times out within 50 ms of that, whatever
   the thread does meanwhile (sanitizers: the margin grows as they slow the run). */
static void nested_wait_timeout_holds(void) {
    int ms = 1000, y[3];
    ud_arg a = ud_arg_val(&ms, sizeof ms);
    ud_opts on0 = ud_on_worker(0);
    ud_ref r;
    if (!UT_OK(ud_remote_opts(&on0, f_timed, &a, 1, 1, &r))) return;
    if (get_ints(r, y, 3)) {
        UT_EQ_STATUS(y[0], UD_ERR_TIMEOUT);
        if (y[1] < 100000 || y[1] > 100000 + (int)(50000 / ut_scale()))
            UT_FAIL("a 0.1 s nested wait took %.3f s", y[1] / 1e6);
    }
    ud_free(r);
}

/* A task's get and wait of its own result: UD_ERR_ARG at once, naming it. */
static void own_result_is_an_error(void) {
    char path[256];
    ud_arg a;
    ud_ref r;
    int y[3];
    snprintf(path, sizeof path, "/tmp/ud_t_deadlock_self_%d", (int)getpid());
    remove(path);
    a = ud_arg_val(path, strlen(path));
    UT_REQUIRE_OK(ud_remote(f_self, &a, 1, 1, &r));
    write_ref(path, r);
    if (get_ints(r, y, 3)) {
        UT_EQ_STATUS(y[0], UD_ERR_ARG);
        UT_EQ_STATUS(y[1], UD_ERR_ARG);
        if (!y[2]) UT_FAIL("the messages do not say the ref is the task's own result");
    }
    ud_free(r);
    remove(path);
}

/* Two tasks on one worker that get each other's results: the second to wait sees the cycle. */
static void two_task_cycle_is_an_error(void) {
    char pa[256], pb[256];
    ud_opts on0 = ud_on_worker(0);
    ud_arg a, b;
    ud_ref ra, rb;
    int ya[2], yb[2];
    snprintf(pa, sizeof pa, "/tmp/ud_t_deadlock_a_%d", (int)getpid());
    snprintf(pb, sizeof pb, "/tmp/ud_t_deadlock_b_%d", (int)getpid());
    remove(pa);
    remove(pb);
    a = ud_arg_val(pa, strlen(pa)); /* a reads b's ref from pa, b reads a's from pb */
    b = ud_arg_val(pb, strlen(pb));
    UT_REQUIRE_OK(ud_remote_opts(&on0, f_pair, &a, 1, 1, &ra));
    UT_REQUIRE_OK(ud_remote_opts(&on0, f_pair, &b, 1, 1, &rb));
    write_ref(pa, rb);
    write_ref(pb, ra);
    if (get_ints(ra, ya, 2) && get_ints(rb, yb, 2)) {
        if (!((ya[0] == UD_ERR_ARG && ya[1] && yb[0] == UD_OK) || (yb[0] == UD_ERR_ARG && yb[1] && ya[0] == UD_OK)))
            UT_FAIL("statuses %d and %d: one get should name the cycle, the other succeed", ya[0], yb[0]);
    }
    ud_free(ra);
    ud_free(rb);
    remove(pa);
    remove(pb);
}

/* A task frees only the refs it made: the driver's is refused, naming it, and stays usable. */
static void a_task_frees_only_what_it_made(void) {
    int x = 41, y[3], z = 0;
    ud_ref mine, pack, r;
    ud_arg a;
    UT_REQUIRE_OK(ud_put(&x, sizeof x, &mine));
    UT_REQUIRE_OK(ud_put(&mine, sizeof mine, &pack));
    a = ud_arg_ref(pack);
    if (UT_OK(ud_remote(f_freer, &a, 1, 1, &r)) && get_ints(r, y, 3)) {
        UT_EQ_STATUS(y[0], UD_ERR_ARG);
        if (!y[1]) UT_FAIL("the refusal does not say why");
        UT_EQ_STATUS(y[2], UD_OK);
    }
    if (UT_OK(ud_get_copy(mine, &z, sizeof z, &ut_size))) UT_EQ_INT(z, 41);
    UT_OK(ud_free(mine));
    ud_free(pack);
    ud_free(r);
}

/* A chain deeper than a small task stack holds: past three quarters of it, each task waits on
   a thread of its own instead of running its child on the stack. */
static void chain_deeper_than_the_stack(void) {
    int y = 0, n = 400;
    ud_arg a = ud_arg_val(&n, sizeof n);
    ud_ref r;
    if (UT_OK(ud_remote(f_chain, &a, 1, 1, &r)) && UT_OK(ud_get_copy(r, &y, sizeof y, &ut_size))) UT_EQ_INT(y, n + 1);
    ud_free(r);
}

/* UNIDIST_TASK_DEPTH 20: a chain of 30 fails at depth 20, naming it; one of 10 runs. */
static void depth_past_the_limit_fails(void) {
    int n = 30, y = 0;
    ud_arg a = ud_arg_val(&n, sizeof n);
    ud_ref r;
    UT_REQUIRE_OK(ud_remote(f_chain, &a, 1, 1, &r));
    UT_EQ_STATUS(ud_get_copy(r, &y, sizeof y, &ut_size), UD_ERR_TASK);
    UT_CONTAINS(ud_last_error(), "nesting depth 20");
    UT_CONTAINS(ud_last_error(), "UNIDIST_TASK_DEPTH");
    ud_free(r);
    n = 10;
    if (UT_OK(ud_remote(f_chain, &a, 1, 1, &r)) && UT_OK(ud_get_copy(r, &y, sizeof y, &ut_size))) UT_EQ_INT(y, 11);
    ud_free(r);
}

/* UNIDIST_TASK_WAITS 2: of four tasks on one worker that each wait (timed, so nothing runs
   inline) on a 300 ms child, the third to wait fails, naming the limit. */
static void waits_past_the_limit_fail(void) {
    int ms = 300, y[3], i, refused = 0;
    ud_arg a = ud_arg_val(&ms, sizeof ms);
    ud_opts on0 = ud_on_worker(0);
    ud_ref r[4];
    if (!strcmp(ud_backend_name(), "mpi") && ud_num_workers() < 2) {
        ut_skip("under MPI the children must run on a second worker");
        return;
    }
    for (i = 0; i < 4; i++) UT_REQUIRE_OK(ud_remote_opts(&on0, f_timed, &a, 1, 1, &r[i]));
    for (i = 0; i < 4; i++) {
        if (!get_ints(r[i], y, 3)) continue;
        if (y[0] == UD_ERR_STATE && y[2]) refused++;
        else UT_EQ_STATUS(y[0], UD_ERR_TIMEOUT);
    }
    if (refused < 1) UT_FAIL("no wait was refused past UNIDIST_TASK_WAITS=2");
    ud_free_many(r, 4);
}

/* One run: cpus task threads a worker; limits: 1, a nesting depth of 20; 2, two waiting
   tasks at most. Returns 1 on the driver, 0 on another rank, -1 if init failed. */
static int run_with(int cpus, int limits) {
    ud_config c;
    ud_role role;
    memset(&c, 0, sizeof c);
    ut_counting_use(&c, &mem);
    c.cpus = cpus;
    if (limits == 1) c.task_depth = 20;
    if (limits == 2) c.task_waits = 2;
    if (ud_init(&c, &role) != UD_OK) {
        printf("FAIL init with %d task threads: %s\n", cpus, ud_last_error());
        return -1;
    }
    if (role != UD_ROLE_DRIVER) {
        if (atomic_load(&mem.live_bytes) == 0) return 0;
        fprintf(stderr, "rank %d leaked %lld bytes\n", ud_rank(), (long long)atomic_load(&mem.live_bytes));
        return -1;
    }
    ut_note("%d task threads a worker, %d workers%s", cpus, ud_num_workers(),
            limits == 1 ? ", UNIDIST_TASK_DEPTH=20" : limits == 2 ? ", UNIDIST_TASK_WAITS=2" : "");
    if (limits == 1) {
        UT_RUN(depth_past_the_limit_fails);
    } else if (limits == 2) {
        UT_RUN(waits_past_the_limit_fail);
    } else {
        UT_RUN(divide_and_conquer_then_getter);
        UT_RUN(a_waiting_task_buries_nothing);
        UT_RUN(nested_wait_timeout_holds);
        UT_RUN(own_result_is_an_error);
        UT_RUN(two_task_cycle_is_an_error);
        UT_RUN(a_task_frees_only_what_it_made);
    }
    UT_CASE("shutdown returns every byte") {
        UT_OK(ud_shutdown());
        UT_EQ_INT(atomic_load(&mem.live_bytes), 0);
    }
    return 1;
}

/* A UD_FN_INLINE task that does not return (for 2.6 s) holds its MPI worker's loop: a
   shutdown that waits for it names that rank as one whose loop does not answer. */
static int stuck(ud_task *t) {
    (void)t;
    ut_sleep(2.6);
    return 0;
}

/* cross(path, ms): reads its partner's ref from path and waits for it: untimed (ms < 0),
   or ms milliseconds. Returns the wait's status. Two of these on two MPI workers make a
   cycle no rank sees whole; the timed one breaks it. */
static int cross(ud_task *t) {
    ud_view v;
    ud_ref r;
    char path[256];
    int ms = 0, ready[1], n = 0;
    if (ud_task_arg(t, 0, &v) != UD_OK || v.size >= sizeof path || !ut_arg_int(t, 1, &ms))
        return ud_task_fail(t, "cross: bad argument");
    memcpy(path, v.data, v.size);
    path[v.size] = 0;
    if (!read_ref(path, &r)) return ud_task_fail(t, "cross: no ref in %s", path);
    return ut_result_int(t, 0, ud_wait(&r, 1, 1, ms < 0 ? -1.0 : ms / 1000.0, ready, &n));
}

#ifdef UT_MPI
static struct {
    pthread_mutex_t mu;
    char text[4096];
} stuck_log = {PTHREAD_MUTEX_INITIALIZER, {0}};

/* The shutdown's warnings, one after the other. */
static void stuck_hook(int level, int rank, const char *message, void *user) {
    (void)user;
    if (level == UD_LOG_WARN && strstr(message, "shutdown waits for rank")) {
        size_t len;
        pthread_mutex_lock(&stuck_log.mu);
        len = strlen(stuck_log.text);
        snprintf(stuck_log.text + len, sizeof stuck_log.text - len, "%s\n", message);
        pthread_mutex_unlock(&stuck_log.mu);
    }
    if (level <= UD_LOG_WARN) fprintf(stderr, "[ud r%d] %s\n", rank, message);
}

/* Two tasks on two workers that wait for each other (a cycle across ranks, which no rank
   sees whole): the shutdown warning names both as waiting in a nested call, until the
   timed one gives up after 2.5 s. */
static int run_cross(void) {
    char pa[256], pb[256];
    ud_config c;
    ud_role role;
    ud_opts on0 = ud_on_worker(0), on1 = ud_on_worker(1);
    ud_ref ra, rb;
    int forever = -1, three = 2500;
    memset(&c, 0, sizeof c);
    c.shutdown_warn = 1;
    c.log = stuck_hook;
    if (ud_init(&c, &role) != UD_OK) {
        printf("FAIL init for a cycle across workers: %s\n", ud_last_error());
        return -1;
    }
    if (role != UD_ROLE_DRIVER) return 0;
    UT_CASE("a cycle across workers: the shutdown warning names both tasks, waiting") {
        ud_arg a[2], b[2];
        if (ud_num_workers() < 2) {
            ut_skip("needs 2 workers");
            UT_OK(ud_shutdown());
            return 1;
        }
        snprintf(pa, sizeof pa, "/tmp/ud_t_deadlock_xa_%d", (int)getpid());
        snprintf(pb, sizeof pb, "/tmp/ud_t_deadlock_xb_%d", (int)getpid());
        remove(pa);
        remove(pb);
        a[0] = ud_arg_val(pa, strlen(pa)), a[1] = ud_arg_val(&forever, sizeof forever);
        b[0] = ud_arg_val(pb, strlen(pb)), b[1] = ud_arg_val(&three, sizeof three);
        UT_OK(ud_remote_opts(&on0, f_cross_a, a, 2, 1, &ra));
        UT_OK(ud_remote_opts(&on1, f_cross_b, b, 2, 1, &rb));
        write_ref(pa, rb);
        write_ref(pb, ra);
        pthread_mutex_lock(&stuck_log.mu);
        stuck_log.text[0] = 0;
        pthread_mutex_unlock(&stuck_log.mu);
        UT_OK(ud_shutdown()); /* it waits until the timed wait gives up */
        pthread_mutex_lock(&stuck_log.mu);
        UT_CONTAINS(stuck_log.text, "cross_a (waiting in a nested call)");
        UT_CONTAINS(stuck_log.text, "cross_b (waiting in a nested call)");
        pthread_mutex_unlock(&stuck_log.mu);
        remove(pa);
        remove(pb);
    }
    return 1;
}

static int run_stuck(void) {
    ud_config c;
    ud_role role;
    ud_opts on0 = ud_on_worker(0);
    ud_ref r;
    memset(&c, 0, sizeof c);
    c.shutdown_warn = 1;
    c.log = stuck_hook;
    if (ud_init(&c, &role) != UD_OK) {
        printf("FAIL init for a stuck inline task: %s\n", ud_last_error());
        return -1;
    }
    if (role != UD_ROLE_DRIVER) return 0;
    UT_CASE("a stuck inline task: the shutdown warning names its rank") {
        UT_OK(ud_remote_opts(&on0, f_stuck, NULL, 0, 1, &r));
        pthread_mutex_lock(&stuck_log.mu);
        stuck_log.text[0] = 0;
        pthread_mutex_unlock(&stuck_log.mu);
        UT_OK(ud_shutdown());
        pthread_mutex_lock(&stuck_log.mu);
        UT_CONTAINS(stuck_log.text, "shutdown waits for rank 1: its loop has not answered");
        UT_CONTAINS(stuck_log.text, "UD_FN_INLINE");
        pthread_mutex_unlock(&stuck_log.mu);
    }
    return 1;
}
#endif

/* A chain past a small stack: its own run (a stack of 256 KiB, the default limits). */
static int run_deep(void) {
    ud_config c;
    ud_role role;
    memset(&c, 0, sizeof c);
    ut_counting_use(&c, &mem);
    c.cpus = 1;
    c.task_stack = 256 * 1024;
    if (ud_init(&c, &role) != UD_OK) {
        printf("FAIL init with a small stack: %s\n", ud_last_error());
        return -1;
    }
    if (role != UD_ROLE_DRIVER) return atomic_load(&mem.live_bytes) == 0 ? 0 : -1;
    UT_RUN(chain_deeper_than_the_stack);
    UT_CASE("shutdown after a deep chain returns every byte") {
        UT_OK(ud_shutdown());
        UT_EQ_INT(atomic_load(&mem.live_bytes), 0);
    }
    return 1;
}

int main(void) {
    static const int threads[] = {1, 2, 4};
    int k, d = 0, r;
    if (ud_register("leaf", leaf, NULL, &f_leaf) != UD_OK || ud_register("split", split, NULL, &f_split) != UD_OK ||
        ud_register("getter", getter, NULL, &f_getter) != UD_OK || ud_register("holder", holder, NULL, &f_holder) != UD_OK ||
        ud_register("reader", reader, NULL, &f_reader) != UD_OK || ud_register("timed", timed, NULL, &f_timed) != UD_OK ||
        ud_register("chain", chain, NULL, &f_chain) != UD_OK || ud_register("self_task", self_task, NULL, &f_self) != UD_OK ||
        ud_register("pair", pair_task, NULL, &f_pair) != UD_OK || ud_register("freer", freer, NULL, &f_freer) != UD_OK ||
        ud_register_flags("stuck", stuck, NULL, UD_FN_INLINE, &f_stuck) != UD_OK ||
        ud_register("cross_a", cross, NULL, &f_cross_a) != UD_OK || ud_register("cross_b", cross, NULL, &f_cross_b) != UD_OK)
        return 1;
    /* UNIDIST_CPUS overrides the count: then one run says all */
    for (k = 0; k < (getenv("UNIDIST_CPUS") ? 1 : 3); k++) {
        if ((r = run_with(threads[k], 0)) < 0) return 1;
        d |= r;
    }
    if ((r = run_with(1, 1)) < 0 || (r = run_with(1, 2)) < 0 || (r = run_deep()) < 0) return 1;
#ifdef UT_MPI
    if ((r = run_cross()) < 0 || (r = run_stuck()) < 0) return 1; /* ranks that see part of it */
#endif
    return d ? ut_finish() : 0;
}
