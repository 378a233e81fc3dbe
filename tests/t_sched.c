/* Where tasks run: with UNIDIST_SCHEDULER=auto a task goes where its argument bytes are and
   idle workers take queued tasks from busy ones, so that no worker idles while another has
   runnable tasks waiting; a task pinned to a worker stays there; round_robin (the seeds'
   schedule_rank) keeps every task where it was sent. Results are the same under both. ut: mpi
   (built with mpicc -DUT_MPI it runs under mpiexec; with cc on the threads backend). */
#define UNIDIST_IMPLEMENTATION
#ifdef UT_MPI
#include "unidist_mpi.h"
#else
#include "unidist.h"
#endif
#include "ud_test.h"

static ud_func f_fill, f_span, f_sum2;
static int auto_sched;

#define BIG 200000 /* over UNIDIST_SCHED_LOCALITY_MIN: draws its task */

/* fill(n): n bytes of n's low byte. */
static int fill(ud_task *t) {
    int n = 0;
    void *p;
    if (!ut_arg_int(t, 0, &n) || !(p = ud_task_result(t, 0, (size_t)n))) return ud_task_fail(t, "fill");
    memset(p, n & 255, (size_t)n);
    return 0;
}

/* What a task saw and when: the worker it ran on, its start and end, and a check of its
   argument's bytes. */
typedef struct span {
    int64_t worker, sum;
    double start, end;
} span;

/* span(data, seconds): sleeps, and sums the first and last bytes of its argument. */
static int span_task(ud_task *t) {
    ud_view v;
    double s = 0;
    span sp;
    if (ud_task_arg(t, 0, &v) != UD_OK || v.status != UD_OK) return ud_task_fail(t, "span: argument");
    if (ud_task_nargs(t) > 1) {
        ud_view d;
        if (ud_task_arg(t, 1, &d) != UD_OK || d.size != sizeof s) return ud_task_fail(t, "span: seconds");
        memcpy(&s, d.data, sizeof s);
    }
    sp.start = ut_now();
    ut_sleep(s);
    sp.worker = ud_worker_id();
    sp.sum = v.size ? ((const unsigned char *)v.data)[0] + ((const unsigned char *)v.data)[v.size - 1] : 0;
    sp.end = ut_now();
    {
        span *out = (span *)ud_task_result(t, 0, sizeof sp);
        if (!out) return ud_task_fail(t, "span: no memory");
        *out = sp;
    }
    return 0;
}

/* sum2(a, b): the sizes of both arguments, as a check that it read them. */
static int sum2(ud_task *t) {
    ud_view a, b;
    if (ud_task_arg(t, 0, &a) != UD_OK || ud_task_arg(t, 1, &b) != UD_OK) return ud_task_fail(t, "sum2");
    return ut_result_int(t, 0, (int)(a.size + b.size));
}

static ud_ref make_on(int worker, int n) {
    ud_opts o = ud_on_worker(worker);
    ud_arg a = ud_arg_val(&n, sizeof n);
    ud_ref r = {-1, -1};
    int ready, nready;
    UT_OK(ud_remote_opts(&o, f_fill, &a, 1, 1, &r));
    UT_OK(ud_wait(&r, 1, 1, 60.0, &ready, &nready)); /* made, so that its place is known */
    return r;
}

static span span_of(ud_ref r) {
    ud_view v;
    span s;
    memset(&s, 0, sizeof s);
    s.worker = -1;
    if (UT_OK(ud_get(r, &v)) && UT_EQ_INT(v.size, sizeof s)) memcpy(&s, v.data, sizeof s);
    return s;
}

/* The worker a task was sent to: the owner of its results (worker w is ud_worker_rank(w)
   under MPI; on threads every result belongs to the one process). */
static int placed(ud_ref r) {
    int w;
    for (w = 0; w < ud_num_workers(); w++)
        if (ud_worker_rank(w) == r.owner) return w;
    return -1;
}

static void results_are_the_same(void) {
    int w = ud_num_workers(), i, n = 8 * w;
    ud_ref *made = (ud_ref *)calloc((size_t)n, sizeof *made), *sums = (ud_ref *)calloc((size_t)n, sizeof *sums);
    UT_REQUIRE(made && sums);
    for (i = 0; i < n; i++) {
        int size = i % 3 ? 100 + i : BIG + i;
        ud_arg a = ud_arg_val(&size, sizeof size);
        UT_REQUIRE_OK(ud_remote(f_fill, &a, 1, 1, &made[i]));
    }
    for (i = 0; i < n; i++) {
        ud_arg a[2] = {ud_arg_ref(made[i]), ud_arg_ref(made[(i + 1) % n])};
        UT_REQUIRE_OK(ud_remote(f_sum2, a, 2, 1, &sums[i]));
    }
    for (i = 0; i < n; i++) {
        int s1 = i % 3 ? 100 + i : BIG + i, j = (i + 1) % n, s2 = j % 3 ? 100 + j : BIG + j;
        ud_view v;
        if (UT_OK(ud_get(sums[i], &v))) UT_EQ_INT(*(const int *)v.data, s1 + s2);
    }
    UT_OK(ud_free_many(made, n));
    UT_OK(ud_free_many(sums, n));
    free(made);
    free(sums);
}

/* auto, under MPI: a task reading a large object made on worker k is sent to worker k; with
   two, to the one with more bytes; with only small ones, to whichever is least loaded. */
static void tasks_go_to_their_data(void) {
    int w = ud_num_workers(), k, distinct = 0, seen[256] = {0};
    double zero = 0;
#ifndef UT_MPI
    ut_skip("one process: every object is as near as any other");
    return;
#endif
    if (!auto_sched) {
        ut_skip("round_robin places by turn");
        return;
    }
    for (k = 0; k < w; k++) {
        ud_ref r = make_on(k, BIG), out;
        ud_arg a[2] = {ud_arg_ref(r), ud_arg_val(&zero, sizeof zero)};
        UT_REQUIRE_OK(ud_remote(f_span, a, 2, 1, &out));
        UT_EQ_INT(placed(out), k);
        UT_EQ_INT(span_of(out).sum, 2 * (BIG & 255));
        UT_OK(ud_free(out));
        UT_OK(ud_free(r));
    }
    if (w >= 2) { /* 300 000 bytes on worker 1 outweigh 100 000 on worker 0 */
        ud_ref a0 = make_on(0, 100000), b1 = make_on(1, 300000), out;
        ud_arg a[2] = {ud_arg_ref(a0), ud_arg_ref(b1)};
        UT_REQUIRE_OK(ud_remote(f_sum2, a, 2, 1, &out));
        UT_EQ_INT(placed(out), 1);
        UT_OK(ud_free(out));
        UT_OK(ud_free(a0));
        UT_OK(ud_free(b1));
    }
    { /* small arguments draw nothing: the tasks spread */
        ud_ref small = make_on(0, 1000), outs[64];
        int n = 4 * w < 64 ? 4 * w : 64;
        double tenth = 0.05;
        for (k = 0; k < n; k++) {
            ud_arg a[2] = {ud_arg_ref(small), ud_arg_val(&tenth, sizeof tenth)};
            UT_REQUIRE_OK(ud_remote(f_span, a, 2, 1, &outs[k]));
        }
        for (k = 0; k < n; k++) {
            int p = placed(outs[k]);
            if (p >= 0 && p < 256 && !seen[p]++) distinct++;
        }
        UT_OK(ud_free_many(outs, n));
        ut_note("%d tasks with a small argument made on worker 0 went to %d workers", n, distinct);
        UT_EQ_INT(distinct, w);
        UT_OK(ud_free(small));
    }
}

/* Tasks pinned to a worker run there, even while others are idle. */
static void pinned_tasks_stay(void) {
    int k, n = 12, last = ud_num_workers() - 1;
    ud_opts o = ud_on_worker(last);
    ud_ref outs[12], r = make_on(0, 100);
    double d = 0.01;
    for (k = 0; k < n; k++) {
        ud_arg a[2] = {ud_arg_ref(r), ud_arg_val(&d, sizeof d)};
        UT_REQUIRE_OK(ud_remote_opts(&o, f_span, a, 2, 1, &outs[k]));
    }
    for (k = 0; k < n; k++) UT_EQ_INT(span_of(outs[k]).worker, last);
    UT_OK(ud_free_many(outs, n));
    UT_OK(ud_free(r));
}

/* 60 tasks of 10 to 40 ms that all read a large object of worker 0 go there first (under MPI;
   on threads, to the workers in turn); the other workers take the ones still waiting. No
   worker with a free thread stays idle for long while two tasks or more have not started:
   150 ms times the time slack, and never half the run's time or more (a worker left idle
   through the run would pass any fixed bound of a slow enough run). */
static void no_worker_idles_while_tasks_wait(void) {
    enum { N = 60 };
    int w = ud_num_workers(), k, i, worst_w = -1, threads[256];
    ud_ref r = make_on(0, BIG), outs[N];
    span sp[N];
    double t0, t1, worst = 0, bound = 0.15 * ut_time_slack();
    unsigned x = 7;
    ud_stats before[64], after[64];
    int nb = 0, na = 0;
    int64_t stolen = 0;
    UT_REQUIRE(w <= 256);
    for (k = 0; k < w; k++) threads[k] = ud_worker_threads(k);
    UT_OK(ud_stats_get(before, 64, &nb));
    t0 = ut_now();
    for (k = 0; k < N; k++) {
        double d;
        ud_arg a[2];
        x = x * 1103515245u + 12345u;
        d = 0.010 + 0.030 * (double)((x >> 16) % 1000) / 1000.0;
        a[0] = ud_arg_ref(r);
        a[1] = ud_arg_val(&d, sizeof d);
        UT_REQUIRE_OK(ud_remote(f_span, a, 2, 1, &outs[k]));
    }
    for (k = 0; k < N; k++) {
        sp[k] = span_of(outs[k]);
        UT_EQ_INT(sp[k].sum, 2 * (BIG & 255));
    }
    UT_OK(ud_free_many(outs, N));
    t1 = ut_now();
    if (bound > 0.5 * (t1 - t0)) bound = 0.5 * (t1 - t0);
    UT_OK(ud_stats_get(after, 64, &na));
    for (k = 0; k < na && k < nb; k++) stolen += after[k].tasks_stolen - before[k].tasks_stolen;
    ut_note("%d tasks on %d workers in %.3f s, %lld taken by idle workers", N, w, t1 - t0,
            (long long)stolen);
    if (!auto_sched) {
        UT_EQ_INT(stolen, 0);
        ut_skip("round_robin moves no task");
        UT_OK(ud_free(r));
        return;
    }
    /* every 2 ms: a worker with a free thread, while two tasks or more have yet to start */
    for (i = 0; i < w; i++) {
        double t, since = -1;
        for (t = t0 + 0.02; t < t1; t += 0.002) {
            int running = 0, waiting = 0;
            for (k = 0; k < N; k++) {
                running += sp[k].worker == i && sp[k].start <= t && t < sp[k].end;
                waiting += sp[k].start > t;
            }
            if (running < threads[i] && waiting >= 2) {
                if (since < 0) since = t;
                if (t - since > worst) {
                    worst = t - since;
                    worst_w = i;
                }
            } else {
                since = -1;
            }
        }
    }
    ut_note("longest a worker had a free thread while tasks waited: %.0f ms (worker %d)",
            worst * 1e3, worst_w);
    if (!(worst <= bound)) UT_FAIL("a worker idled %.0f ms while tasks waited (at most %.0f ms)", worst * 1e3, bound * 1e3);
#ifdef UT_MPI
    if (w >= 2) UT_CHECK(stolen > 0);
#endif
    UT_OK(ud_free(r));
}

/* The records add up: the tasks run, summed over the processes, are the tasks submitted. */
static void stats_add_up(void) {
    ud_stats before[64], after[64];
    ud_ref outs[40];
    int nb = 0, na = 0, k, n = 40;
    int64_t ran = 0;
    UT_REQUIRE_OK(ud_stats_get(before, 64, &nb));
    for (k = 0; k < n; k++) UT_REQUIRE_OK(ut_call_int(f_fill, 10, 1, &outs[k]));
    {
        ud_view v[40];
        UT_OK(ud_get_many(outs, n, v));
    }
    UT_REQUIRE_OK(ud_stats_get(after, 64, &na));
    UT_EQ_INT(na, nb);
#ifdef UT_MPI
    UT_EQ_INT(na, ud_num_workers() + (ud_worker_rank(ud_num_workers() - 1) != 0));
    UT_EQ_INT(after[0].rank, 0);
    {
        int last = ud_num_workers() - 1; /* the driver's rank, when it has task threads */
        UT_EQ_INT(after[0].threads, ud_worker_rank(last) == 0 ? ud_worker_threads(last) : 0);
    }
#endif
    for (k = 0; k < na; k++) ran += after[k].tasks_run - before[k].tasks_run;
    UT_EQ_INT(ran, n);
    UT_EQ_STATUS(ud_stats_get(NULL, 1, &na), UD_ERR_ARG);
    UT_OK(ud_free_many(outs, n));
}

int main(void) {
    ud_role role;
    ud_config c;
    if (ud_register("fill", fill, NULL, &f_fill) != UD_OK ||
        ud_register("span", span_task, NULL, &f_span) != UD_OK ||
        ud_register("sum2", sum2, NULL, &f_sum2) != UD_OK)
        return 1;
    if (ud_init(NULL, &role) != UD_OK) {
        printf("FAIL init: %s\n", ud_last_error());
        return 1;
    }
    if (role != UD_ROLE_DRIVER) return 0;
    UT_CASE("scheduler") {
        UT_OK(ud_config_resolve(NULL, &c));
        auto_sched = strcmp(c.scheduler, "auto") == 0;
        ut_note("UNIDIST_SCHEDULER=%s, %d workers", c.scheduler, ud_num_workers());
    }
    UT_RUN(results_are_the_same);
    UT_RUN(tasks_go_to_their_data);
    UT_RUN(pinned_tasks_stay);
    UT_RUN(no_worker_idles_while_tasks_wait);
    UT_RUN(stats_add_up);
    UT_CASE("shutdown") UT_OK(ud_shutdown());
    return ut_finish();
}
