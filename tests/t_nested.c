/* Tasks that submit tasks: put, remote, get, wait and free inside a task, with the driver's
   semantics. A task blocked in a nested get runs the tasks it waits for on its thread when
   they have not started, else hands its queue to another thread while it waits (t_deadlock
   checks that nothing is buried so): fib(22) and a quicksort of 10^6 ints run on 1 and 2 task
   threads and under round_robin, and a chain 2000 tasks deep on one.
   ut: mpi (built with mpicc -DUT_MPI it runs under mpiexec, each run a phase on every rank;
   with cc on the threads backend). */
#define UNIDIST_IMPLEMENTATION
#ifdef UT_MPI
#include "unidist_mpi.h"
#else
#include "unidist.h"
#endif
#include "ud_test.h"

#ifdef UT_MPI
#define UT_BACKEND "mpi"
#else
#define UT_BACKEND "threads"
#endif

static ud_func f_fib, f_qsort, f_fail, f_waiter, f_maker, f_chain, f_api, f_inl, f_inl_big, f_inl_fail, f_sleep,
    f_plain_big;
static ut_counting mem; /* the runtime's bytes on this rank: none left after each shutdown */

/* fib(n) = fib(n - 1) + fib(n - 2), each a task, read with a nested get. */
static int fib(ud_task *t) {
    int n = 0, a, b, *y, k;
    ud_ref r[2];
    ud_view v[2];
    if (!ut_arg_int(t, 0, &n)) return ud_task_fail(t, "fib: bad argument");
    if (n < 2) {
        a = n;
    } else {
        for (k = 0; k < 2; k++) {
            int m = n - 1 - k;
            ud_arg arg = ud_arg_val(&m, sizeof m);
            if (ud_remote(f_fib, &arg, 1, 1, &r[k]) != UD_OK) return ud_task_fail(t, "fib: %s", ud_last_error());
        }
        if (ud_get_many(r, 2, v) != UD_OK) return ud_task_fail(t, "fib: %s", ud_last_error());
        memcpy(&a, v[0].data, sizeof a);
        memcpy(&b, v[1].data, sizeof b);
        a += b;
        ud_free_many(r, 2);
    }
    if (!(y = ud_task_result(t, 0, sizeof *y))) return ud_task_fail(t, "fib: no memory");
    *y = a;
    return 0;
}

#define QS_LEAF 20000 /* ints sorted in place by one task */

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* qsort(ints): sorted. Above QS_LEAF ints it partitions around the middle value, puts each
   side and sorts the sides as two nested tasks, then joins them. */
static int qsort_task(ud_task *t) {
    ud_view a, side[2];
    ud_ref part[2], sorted[2];
    size_t n, k, lo = 0, hi = 0;
    int *out, *tmp, pivot, j;
    if (ud_task_arg(t, 0, &a) != UD_OK || a.size % sizeof(int)) return ud_task_fail(t, "qsort: bad argument");
    n = a.size / sizeof(int);
    if (!(out = (int *)ud_task_result(t, 0, a.size))) return ud_task_fail(t, "qsort: no memory");
    if (n) memcpy(out, a.data, a.size);
    if (n <= QS_LEAF) {
        qsort(out, n, sizeof *out, cmp_int);
        return 0;
    }
    pivot = out[n / 2];
    if (!(tmp = (int *)malloc(a.size))) return ud_task_fail(t, "qsort: no memory");
    for (k = 0; k < n; k++) /* smaller ones from the front, the rest from the back */
        if (out[k] < pivot) tmp[lo++] = out[k];
        else tmp[n - 1 - hi++] = out[k];
    if (lo == 0) { /* every value >= pivot: pivot is the least, so split off its copies */
        for (k = 0, lo = 0, hi = 0; k < n; k++)
            if (out[k] == pivot) tmp[lo++] = out[k];
            else tmp[n - 1 - hi++] = out[k];
    }
    for (j = 0; j < 2; j++) {
        ud_arg arg;
        if (ud_put(tmp + (j ? lo : 0), (j ? hi : lo) * sizeof(int), &part[j]) != UD_OK) break;
        arg = ud_arg_ref(part[j]);
        if (ud_remote(f_qsort, &arg, 1, 1, &sorted[j]) != UD_OK) break;
    }
    free(tmp);
    if (j < 2 || ud_get_many(sorted, 2, side) != UD_OK) return ud_task_fail(t, "qsort: %s", ud_last_error());
    if (side[0].size) memcpy(out, side[0].data, side[0].size);
    if (side[1].size) memcpy(out + lo, side[1].data, side[1].size);
    ud_free_many(part, 2);
    ud_free_many(sorted, 2);
    return 0;
}

static int fail_task(ud_task *t) { return ud_task_fail(t, "planned failure"); }

/* waiter(): submits a failing task, waits for it (it counts as done) and gets it (its
   error); result: {wait status, ready count, get status, error message has the text}. */
static int waiter(ud_task *t) {
    ud_ref r;
    ud_view v;
    int ready[1], nready = 0, *y = (int *)ud_task_result(t, 0, 4 * sizeof(int));
    if (!y || ud_remote(f_fail, NULL, 0, 1, &r) != UD_OK) return ud_task_fail(t, "waiter: %s", ud_last_error());
    y[0] = ud_wait(&r, 1, 1, 10.0, ready, &nready);
    y[1] = nready;
    y[2] = ud_get(r, &v);
    y[3] = strstr(ud_last_error(), "planned failure") != NULL;
    ud_free(r);
    return 0;
}

/* maker(x): puts x, submits fib(x) and returns both refs for the driver to read and free;
   a third object it puts and frees itself. */
static int maker(ud_task *t) {
    int x = 0;
    ud_ref refs[2], scratch;
    ud_arg arg;
    void *y;
    if (!ut_arg_int(t, 0, &x)) return ud_task_fail(t, "maker: bad argument");
    arg = ud_arg_val(&x, sizeof x);
    if (ud_put(&x, sizeof x, &refs[0]) != UD_OK || ud_remote(f_fib, &arg, 1, 1, &refs[1]) != UD_OK ||
        ud_put("scratch", 8, &scratch) != UD_OK || ud_free(scratch) != UD_OK)
        return ud_task_fail(t, "maker: %s", ud_last_error());
    if (!(y = ud_task_result(t, 0, sizeof refs))) return ud_task_fail(t, "maker: no memory");
    memcpy(y, refs, sizeof refs);
    return 0;
}

/* chain(d): d + 1 tasks deep, each getting the next's result. */
static int chain(ud_task *t) {
    int d = 0, *y, below = 0;
    if (!ut_arg_int(t, 0, &d)) return ud_task_fail(t, "chain: bad argument");
    if (d > 0) {
        int next = d - 1;
        ud_arg arg = ud_arg_val(&next, sizeof next);
        ud_ref r;
        ud_view v;
        if (ud_remote(f_chain, &arg, 1, 1, &r) != UD_OK || ud_get(r, &v) != UD_OK)
            return ud_task_fail(t, "chain %d: %s", d, ud_last_error());
        memcpy(&below, v.data, sizeof below);
        ud_free(r);
    }
    if (!(y = ud_task_result(t, 0, sizeof *y))) return ud_task_fail(t, "chain: no memory");
    *y = below + 1;
    return 0;
}

static int put_result(ud_task *t, const void *p, size_t n) {
    void *out = ud_task_result(t, 0, n);
    if (out) memcpy(out, p, n);
    return out != NULL;
}

/* inl(x), registered UD_FN_INLINE: {x + 1, then the statuses of put, remote, get, wait and
   free, each of which it may not call, then whether the last message names the flag and its
   worker id is one}. */
static int inl(ud_task *t) {
    int x = 0, k = 1, y[8], ready[1], n = 0;
    ud_ref r = {0, 1};
    ud_view v;
    ud_arg a = ud_arg_val(&x, sizeof x);
    if (!ut_arg_int(t, 0, &x)) return ud_task_fail(t, "inl: bad argument");
    y[0] = x + 1;
    y[k++] = ud_put(&x, sizeof x, &r);
    y[k++] = ud_remote(f_fib, &a, 1, 1, &r);
    y[k++] = ud_get(r, &v);
    y[k++] = ud_wait(&r, 1, 1, 0.0, ready, &n);
    y[k++] = ud_free(r);
    y[k++] = strstr(ud_last_error(), "UD_FN_INLINE") != NULL;
    y[k++] = ud_worker_id() >= 0 && ud_worker_id() < ud_num_workers();
    return put_result(t, y, sizeof y) ? 0 : ud_task_fail(t, "inl: no memory");
}

/* inl_big(n), UD_FN_INLINE: n bytes, byte i being i % 251 (past the shared store's threshold
   under MPI: an inline task's result stays in its worker's memory). */
static int inl_big(ud_task *t) {
    int n = 0, i;
    unsigned char *p;
    if (!ut_arg_int(t, 0, &n) || !(p = (unsigned char *)ud_task_result(t, 0, (size_t)n)))
        return ud_task_fail(t, "inl_big: no argument or memory");
    for (i = 0; i < n; i++) p[i] = (unsigned char)(i % 251);
    return 0;
}

static int inl_fail(ud_task *t) { return ud_task_fail(t, "inline failure %d", 7); }

/* sleep_ms(ms): holds its task thread; the time it woke (ut_now: one clock for the ranks of
   one machine). */
static int sleep_ms(ud_task *t) {
    int ms = 0;
    double *end = (double *)ud_task_result(t, 0, sizeof *end);
    if (!ut_arg_int(t, 0, &ms) || !end) return ud_task_fail(t, "sleep_ms: bad argument");
    ut_sleep(ms / 1000.0);
    *end = ut_now();
    return 0;
}

/* ---- cases --------------------------------------------------------------------------------- */
static int run_int(ud_func f, int x, int *out) {
    ud_arg arg = ud_arg_val(&x, sizeof x);
    ud_ref r;
    ud_view v;
    int ok = UT_OK(ud_remote(f, &arg, 1, 1, &r)) && UT_OK(ud_get(r, &v)) && UT_EQ_INT(v.size, sizeof(int));
    if (ok) memcpy(out, v.data, sizeof *out);
    ud_free(r);
    return ok;
}

/* fib(22), 57 313 tasks; fib(15), 1 973, when UT_SCALE shrinks the suite (simulated hosts) */
static void fib_22(void) {
    static const int want[] = {0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987,
                               1597, 2584, 4181, 6765, 10946, 17711, 28657};
    int y = 0, n = ut_scale() < 1 ? 15 : 22;
    double t0 = ut_now();
    if (run_int(f_fib, n, &y)) UT_EQ_INT(y, want[n]);
    ut_note("fib(%d): %d tasks in %.2f s", n, 2 * want[n + 1] - 1, ut_now() - t0);
}

static void quicksort_1e6(void) {
    enum { N = 1000000 };
    int *a = (int *)malloc(N * sizeof(int));
    uint64_t x = 12345, sum = 0, sum2 = 0;
    ud_ref in, out;
    ud_arg arg;
    ud_view v;
    size_t k;
    UT_REQUIRE(a != NULL);
    for (k = 0; k < N; k++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        a[k] = (int)(x >> 33) % 100000; /* repeats, so that equal values are split too */
        sum += (uint64_t)a[k];
    }
    if (UT_OK(ud_put(a, N * sizeof(int), &in))) {
        arg = ud_arg_ref(in);
        if (UT_OK(ud_remote(f_qsort, &arg, 1, 1, &out)) && UT_OK(ud_get(out, &v)) &&
            UT_EQ_INT(v.size, N * sizeof(int))) {
            const int *s = (const int *)v.data;
            int sorted = 1;
            for (k = 0; k < N; k++) {
                sum2 += (uint64_t)s[k];
                if (k && s[k - 1] > s[k]) sorted = 0;
            }
            UT_CHECK(sorted);
            UT_CHECK(sum == sum2);
        }
        ud_free(out);
        ud_free(in);
    }
    free(a);
}

static void nested_wait_and_get_of_a_failure(void) {
    ud_ref r;
    ud_view v;
    if (UT_OK(ud_remote(f_waiter, NULL, 0, 1, &r)) && UT_OK(ud_get(r, &v)) &&
        UT_EQ_INT(v.size, 4 * sizeof(int))) {
        const int *y = (const int *)v.data;
        UT_EQ_STATUS(y[0], UD_OK);
        UT_EQ_INT(y[1], 1);
        UT_EQ_STATUS(y[2], UD_ERR_TASK);
        UT_EQ_INT(y[3], 1);
    }
    ud_free(r);
}

static void refs_made_in_a_task_outlive_it(void) {
    ud_ref r, made[2];
    ud_view v;
    int x = 0;
    ud_arg arg = ud_arg_val(&(int){10}, sizeof(int));
    UT_REQUIRE_OK(ud_remote(f_maker, &arg, 1, 1, &r));
    if (UT_OK(ud_get(r, &v)) && UT_EQ_INT(v.size, sizeof made)) {
        memcpy(made, v.data, sizeof made);
        UT_OK(ud_free(r)); /* the refs inside stay valid: the driver holds them now */
        if (UT_OK(ud_get(made[0], &v))) memcpy(&x, v.data, sizeof x), UT_EQ_INT(x, 10);
        if (UT_OK(ud_get(made[1], &v))) memcpy(&x, v.data, sizeof x), UT_EQ_INT(x, 55);
        arg = ud_arg_ref(made[0]); /* and pass as arguments */
        if (UT_OK(ud_remote(f_fib, &arg, 1, 1, &r)) && UT_OK(ud_get(r, &v))) {
            memcpy(&x, v.data, sizeof x);
            UT_EQ_INT(x, 55);
            ud_free(r);
        }
        UT_OK(ud_free_many(made, 2));
        UT_EQ_STATUS(ud_get(made[0], &v), UD_ERR_FREED);
    }
}

static void chain_2000_deep(void) {
    int y = 0;
    if (run_int(f_chain, 1999, &y)) UT_EQ_INT(y, 2000);
}

/* The calls a task may make (README, "Inside a task") work in it, and those it may not
   (init, shutdown, register, stats) are UD_ERR_STATE, never a hang: their statuses, then
   whether get_copy, put_parts, remote_opts, free_many and the queries gave what they should. */
static int api_in_task(ud_task *t) {
    int y[10], x = 6, got = 0, k = 0, n;
    ud_role role;
    ud_stats st[4];
    ud_ref r, q, both[2];
    ud_part parts[2] = {{&x, sizeof x}, {&x, sizeof x}};
    ud_arg arg = ud_arg_val(&x, sizeof x);
    ud_opts on0 = ud_on_worker(0);
    size_t size = 0;
    y[k++] = ud_init(NULL, &role);
    y[k++] = ud_shutdown();
    y[k++] = ud_register("late", fib, NULL, NULL);
    y[k++] = ud_stats_get(st, 4, &n);
    y[k++] = ud_put_parts(parts, 2, &r) == UD_OK && ud_get_copy(r, both, sizeof both, &size) == UD_OK &&
             size == 2 * sizeof x;
    y[k++] = ud_remote_opts(&on0, f_fib, &arg, 1, 1, &q) == UD_OK &&
             ud_get_copy(q, &got, sizeof got, &size) == UD_OK && got == 8;
    both[0] = r, both[1] = q;
    y[k++] = ud_free_many(both, 2) == UD_OK;
    y[k++] = ud_num_workers() > 0 && ud_num_hosts() > 0 && ud_worker_threads(0) > 0;
    y[k++] = ud_worker_id() >= 0 && ud_worker_id() < ud_num_workers();
    y[k++] = !strcmp(ud_backend_name(), UT_BACKEND);
    return put_result(t, y, sizeof y) ? 0 : ud_task_fail(t, "api_in_task: no memory");
}

static void what_a_task_may_call(void) {
    ud_ref r;
    ud_view v;
    int k;
    if (UT_OK(ud_remote(f_api, NULL, 0, 1, &r)) && UT_OK(ud_get(r, &v)) && UT_EQ_INT(v.size, 10 * sizeof(int))) {
        const int *y = (const int *)v.data;
        for (k = 0; k < 4; k++) UT_EQ_STATUS(y[k], UD_ERR_STATE);
        for (k = 4; k < 10; k++)
            if (!y[k]) UT_FAIL("check %d of what a task may call failed", k);
    }
    ud_free(r);
}

/* A task registered UD_FN_INLINE runs, on an argument another task makes, and may call
   only ud_task_* functions: the runtime's calls are UD_ERR_STATE, naming the flag. */
static void inline_tasks_run_and_may_not_call(void) {
    int x = 5, k;
    ud_arg arg = ud_arg_val(&x, sizeof x), dep;
    ud_ref r[2];
    ud_view v;
    if (!UT_OK(ud_remote(f_fib, &arg, 1, 1, &r[0]))) return; /* fib(5) = 5 */
    dep = ud_arg_ref(r[0]);
    if (UT_OK(ud_remote(f_inl, &dep, 1, 1, &r[1])) && UT_OK(ud_get(r[1], &v)) &&
        UT_EQ_INT(v.size, 8 * sizeof(int))) {
        const int *y = (const int *)v.data;
        UT_EQ_INT(y[0], 6);
        for (k = 1; k <= 5; k++) UT_EQ_STATUS(y[k], UD_ERR_STATE);
        if (!y[6]) UT_FAIL("the inline task's last error does not name UD_FN_INLINE");
        if (!y[7]) UT_FAIL("the inline task's ud_worker_id is not a worker's");
    }
    ud_free_many(r, 2);
}

/* Its large result and its failure reach the driver as any task's do. */
static void inline_results_and_failures(void) {
    int n = 3 << 20, i, bad = 0;
    ud_arg arg = ud_arg_val(&n, sizeof n);
    ud_ref r[2];
    ud_view v;
    if (UT_OK(ud_remote(f_inl_big, &arg, 1, 1, &r[0])) && UT_OK(ud_get(r[0], &v)) && UT_EQ_INT(v.size, n)) {
        for (i = 0; i < n; i++) bad += ((const unsigned char *)v.data)[i] != i % 251;
        UT_EQ_INT(bad, 0);
    }
    if (UT_OK(ud_remote(f_inl_fail, NULL, 0, 1, &r[1]))) {
        UT_EQ_STATUS(ud_get(r[1], &v), UD_ERR_TASK);
        UT_CONTAINS(ud_last_error(), "inline failure 7");
    }
    ud_free_many(r, 2);
}

/* Bytes written to the shared stores, summed over the ranks; -1 when the stats fail. */
static int64_t shared_written(void) {
    ud_stats st[64];
    int n = 0, k;
    int64_t sum = 0;
    if (ud_stats_get(st, 64, &n) != UD_OK) return -1;
    for (k = 0; k < n; k++) sum += st[k].shared_bytes_written;
    return sum;
}

/* MPI: an inline task's large result goes to the shared store, as the same function's result
   does when it is not inline (the control: without a store there is nothing to tell, a
   SKIP): the loop that runs it reserves the room itself, as a task thread does. */
static void inline_large_result_goes_to_the_store(void) {
    int n = 3 << 20;
    ud_arg arg = ud_arg_val(&n, sizeof n);
    ud_func fns[2] = {f_plain_big, f_inl_big};
    int64_t grew[2] = {-1, -1}, before;
    int k;
    for (k = 0; k < 2; k++) {
        ud_ref r;
        ud_view v;
        before = shared_written();
        if (UT_OK(ud_remote(fns[k], &arg, 1, 1, &r)) && UT_OK(ud_get(r, &v)) && UT_EQ_INT(v.size, n) &&
            before >= 0)
            grew[k] = shared_written() - before;
        UT_OK(ud_free(r));
    }
    ut_note("shared store bytes written: %lld for the plain task, %lld for the inline one",
            (long long)grew[0], (long long)grew[1]);
    if (grew[0] < n) {
        ut_skip("the plain task's result did not go to a shared store here");
        return;
    }
    UT_CHECK(grew[1] >= n);
}

/* Under MPI an inline task does not wait for a task thread: with worker 0's only thread
   asleep for 1.5 s (times the time slack), an inline task sent there after it is done while
   the sleeper still sleeps. */
static void inline_task_passes_a_busy_thread(void) {
    int ms = (int)(1500 * ut_time_slack()), x = 1, ready[1], n = 0;
    ud_arg a = ud_arg_val(&ms, sizeof ms), b = ud_arg_val(&x, sizeof x);
    ud_opts on0 = ud_on_worker(0);
    ud_ref r[2];
    ud_view v;
    double t0, done;
    if (!UT_OK(ud_remote_opts(&on0, f_sleep, &a, 1, 1, &r[0]))) return;
    if (UT_OK(ud_remote_opts(&on0, f_inl, &b, 1, 1, &r[1]))) {
        t0 = ut_now();
        UT_OK(ud_wait(&r[1], 1, 1, 60.0, ready, &n));
        UT_EQ_INT(n, 1);
        done = ut_now();
        /* the sleeper still slept when the driver had the inline task's result */
        if (UT_OK(ud_get(r[0], &v)) && UT_EQ_INT(v.size, sizeof(double))) {
            double woke;
            memcpy(&woke, v.data, sizeof woke);
            if (!(done < woke))
                UT_FAIL("the inline task was done %.3f s after the sleeper woke (it took %.3f s)", done - woke,
                        done - t0);
        }
    }
    ud_free_many(r, 2);
}

/* ud_register_flags refuses a flag it does not know, by name. */
static void register_flags_checked(void) {
    UT_EQ_STATUS(ud_register_flags("odd", inl, NULL, 0x10, NULL), UD_ERR_ARG);
    UT_CONTAINS(ud_last_error(), "unknown flags 0x10");
}

/* One run of the runtime: cpus task threads (each worker rank's under MPI), under scheduler;
   every rank takes part, and only the driver runs the cases. Returns 1 on the driver, 0 on
   another rank, -1 if init failed. */
static int run_with(int cpus, const char *scheduler) {
    ud_config c;
    ud_role role;
    memset(&c, 0, sizeof c);
    ut_counting_use(&c, &mem);
    c.cpus = cpus;
    c.scheduler = scheduler;
    if (ud_init(&c, &role) != UD_OK) {
        printf("FAIL init with %d task threads, %s: %s\n", cpus, scheduler, ud_last_error());
        return -1;
    }
    if (role != UD_ROLE_DRIVER) { /* back after shutdown */
        if (atomic_load(&mem.live_bytes) == 0) return 0;
        fprintf(stderr, "rank %d leaked %lld bytes\n", ud_rank(), (long long)atomic_load(&mem.live_bytes));
        return -1;
    }
    ut_note("%d task threads a worker, %s, %d workers", cpus, scheduler, ud_num_workers());
    UT_RUN(fib_22);
    UT_RUN(quicksort_1e6);
    UT_RUN(nested_wait_and_get_of_a_failure);
    UT_RUN(refs_made_in_a_task_outlive_it);
    UT_RUN(what_a_task_may_call);
    UT_RUN(register_flags_checked);
    UT_RUN(inline_tasks_run_and_may_not_call);
    UT_RUN(inline_results_and_failures);
    /* (UNIDIST_CPUS may give worker 0 more threads than asked: then one would be free) */
    if (ud_worker_threads(0) == 1 && !strcmp(UT_BACKEND, "mpi")) UT_RUN(inline_task_passes_a_busy_thread);
    if (!strcmp(UT_BACKEND, "mpi")) UT_RUN(inline_large_result_goes_to_the_store);
    if (cpus == 1) UT_RUN(chain_2000_deep);
    UT_CASE("shutdown returns every byte") {
        UT_OK(ud_shutdown());
        UT_EQ_INT(atomic_load(&mem.live_bytes), 0);
    }
    return 1;
}

int main(void) {
    if (ud_register("fib", fib, NULL, &f_fib) != UD_OK || ud_register("qsort", qsort_task, NULL, &f_qsort) != UD_OK ||
        ud_register("fail", fail_task, NULL, &f_fail) != UD_OK || ud_register("waiter", waiter, NULL, &f_waiter) != UD_OK ||
        ud_register("maker", maker, NULL, &f_maker) != UD_OK || ud_register("chain", chain, NULL, &f_chain) != UD_OK ||
        ud_register("api_in_task", api_in_task, NULL, &f_api) != UD_OK ||
        ud_register_flags("inl", inl, NULL, UD_FN_INLINE, &f_inl) != UD_OK ||
        ud_register_flags("inl_big", inl_big, NULL, UD_FN_INLINE, &f_inl_big) != UD_OK ||
        ud_register_flags("inl_fail", inl_fail, NULL, UD_FN_INLINE, &f_inl_fail) != UD_OK ||
        ud_register("sleep_ms", sleep_ms, NULL, &f_sleep) != UD_OK ||
        ud_register("plain_big", inl_big, NULL, &f_plain_big) != UD_OK)
        return 1;
    int a, b, c;
    /* UNIDIST_CPUS overrides the count: then the second run would repeat the first; under MPI
       the suite's round_robin variants cover the third */
    int again = !getenv("UNIDIST_CPUS");
    if ((a = run_with(1, "auto")) < 0 || (b = again ? run_with(2, "auto") : 0) < 0 ||
        (c = strcmp(UT_BACKEND, "threads") ? 0 : run_with(2, "round_robin")) < 0)
        return 1;
    return a ? ut_finish() : 0; /* a worker rank: back after each shutdown, nothing to say */
}
