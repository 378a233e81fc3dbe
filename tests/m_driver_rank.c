/* The driver's rank runs tasks too: with task threads of its own (UNIDIST_CPUS less one for
   the program's thread; by default its share of its host's cores less one) it is the last
   worker, and every way a task meets the others' goes through its worker part: its results
   read elsewhere and its own tasks reading others', the driver's puts read in place even when
   freed at once, nested calls, nested waits on its results, failures, cleanup of its objects.
   A second phase takes the default count: with one rank a host (the simulated hosts' 1,1,1)
   the driver's rank has the cores it may use less one, and tasks run there.
   Run under mpiexec with 2 or more ranks. */
#define _GNU_SOURCE /* sched_getaffinity */
#define UNIDIST_IMPLEMENTATION
#include "unidist_mpi.h"
#include "ud_test.h"
#include <sched.h>

static ud_func f_where, f_sum, f_nested, f_fail, f_waiter, f_big;

/* where(): this task's rank. */
static int where(ud_task *t) {
    ut_sleep(0.002);
    return ut_result_int(t, 0, ud_rank());
}

/* sum(refs...): the sum of its arguments' bytes, as integers, and their count; a failed
   argument fails it. */
static int sum(ud_task *t) {
    int64_t s = 0, *r;
    int i;
    for (i = 0; i < ud_task_nargs(t); i++) {
        ud_view v;
        size_t k;
        if (ud_task_arg(t, i, &v) != UD_OK) return ud_task_fail(t, "sum: argument %d: %s", i, ud_last_error());
        for (k = 0; k < v.size; k++) s += ((const unsigned char *)v.data)[k];
    }
    if (!(r = (int64_t *)ud_task_result(t, 0, 2 * sizeof *r))) return ud_task_fail(t, "sum: no memory");
    r[0] = s;
    r[1] = ud_rank();
    return 0;
}

/* big(n, b): n bytes of b (large ones land in the host's store). */
static int big(ud_task *t) {
    int n = 0, b = 0;
    ud_view v;
    void *p;
    if (!ut_arg_int(t, 0, &n) || ud_task_arg(t, 1, &v) != UD_OK || v.size != sizeof b) return ud_task_fail(t, "big");
    memcpy(&b, v.data, sizeof b);
    if (!(p = ud_task_result(t, 0, (size_t)n))) return ud_task_fail(t, "big: no memory");
    memset(p, b, (size_t)n);
    return 0;
}

/* nested(x): on its worker, a nested remote of where() and its get, and of sum(x) near it;
   returns (its rank, the nested one's rank, the sum). */
static int nested(ud_task *t) {
    int64_t y[3] = {ud_rank(), -1, -1};
    ud_ref r[2];
    ud_view v;
    ud_arg a;
    if (ud_task_arg(t, 0, &v) != UD_OK) return ud_task_fail(t, "nested: no argument");
    a = ud_arg_val(v.data, v.size);
    if (ud_remote(f_where, NULL, 0, 1, &r[0]) != UD_OK || ud_remote(f_sum, &a, 1, 1, &r[1]) != UD_OK)
        return ud_task_fail(t, "nested: %s", ud_last_error());
    if (ud_get(r[0], &v) != UD_OK || v.size != sizeof(int)) return ud_task_fail(t, "nested get: %s", ud_last_error());
    y[1] = *(const int *)v.data;
    if (ud_get(r[1], &v) != UD_OK || v.size != 2 * sizeof(int64_t)) return ud_task_fail(t, "nested get: %s", ud_last_error());
    y[2] = ((const int64_t *)v.data)[0];
    ud_free_many(r, 2);
    if (!(v.data = ud_task_result(t, 0, sizeof y))) return ud_task_fail(t, "nested: no memory");
    memcpy((void *)v.data, y, sizeof y);
    return 0;
}

static int fail(ud_task *t) { return ud_task_fail(t, "failed on purpose on rank %d", ud_rank()); }

/* waiter(ref): a nested wait of 10 s on ref, given by value; returns its status. */
static int waiter(ud_task *t) {
    ud_view v;
    ud_ref r;
    int ready[1], n = 0;
    if (ud_task_arg(t, 0, &v) != UD_OK || v.size != sizeof r) return ud_task_fail(t, "waiter");
    memcpy(&r, v.data, sizeof r);
    return ut_result_int(t, 0, (int)ud_wait(&r, 1, 1, 10.0, ready, &n));
}

static int64_t i64_at(ud_ref r, int k) {
    ud_view v;
    int64_t x = -1;
    if (ud_get(r, &v) == UD_OK && v.size >= (size_t)(k + 1) * sizeof x) memcpy(&x, (const char *)v.data + k * sizeof x, sizeof x);
    return x;
}

static int int_of(ud_ref r) {
    ud_view v;
    return ud_get(r, &v) == UD_OK && v.size == sizeof(int) ? *(const int *)v.data : -1;
}

static void driver_rank_cases(int size) {
    int last = ud_num_workers() - 1, k, here = 0;
    ud_opts on_me = ud_on_worker(last), on_0 = ud_on_worker(0);
    UT_CASE("the driver's rank is the last worker, with UNIDIST_CPUS less one task threads") {
        UT_EQ_INT(ud_num_workers(), size);
        UT_EQ_INT(ud_worker_rank(last), 0);
        UT_EQ_INT(ud_worker_threads(last), 1);
        UT_EQ_INT(ud_worker_host(last), 0);
    }
    UT_CASE("tasks anywhere run on the driver's rank too") {
        enum { N = 64 };
        ud_ref r[N];
        for (k = 0; k < N; k++) UT_REQUIRE_OK(ud_remote(f_where, NULL, 0, 1, &r[k]));
        for (k = 0; k < N; k++) here += int_of(r[k]) == 0;
        ut_note("%d of %d tasks ran on rank 0", here, N);
        UT_CHECK(here > 0);
        UT_OK(ud_free_many(r, N));
    }
    UT_CASE("its results are read by the others' tasks, and it reads theirs, small and large") {
        static const int sizes[2] = {100, 3 << 20};
        int s, b = 3;
        for (s = 0; s < 2; s++) {
            ud_arg a[2] = {ud_arg_val(&sizes[s], sizeof(int)), ud_arg_val(&b, sizeof b)};
            ud_ref mine, theirs, x, y;
            UT_REQUIRE_OK(ud_remote_opts(&on_me, f_big, a, 2, 1, &mine));
            UT_REQUIRE_OK(ud_remote_opts(&on_0, f_big, a, 2, 1, &theirs));
            a[0] = ud_arg_ref(mine);
            UT_REQUIRE_OK(ud_remote_opts(&on_0, f_sum, a, 1, 1, &x));
            a[0] = ud_arg_ref(theirs);
            UT_REQUIRE_OK(ud_remote_opts(&on_me, f_sum, a, 1, 1, &y));
            UT_EQ_INT(i64_at(x, 0), (int64_t)sizes[s] * b);
            UT_EQ_INT(i64_at(x, 1), ud_worker_rank(0));
            UT_EQ_INT(i64_at(y, 0), (int64_t)sizes[s] * b);
            UT_EQ_INT(i64_at(y, 1), 0);
            UT_EQ_INT(mine.owner, 0);
            { /* the driver reads its own rank's result */
                ud_view v;
                if (UT_OK(ud_get(mine, &v))) UT_EQ_INT(v.size, (size_t)sizes[s]);
            }
            ud_ref all[4] = {mine, theirs, x, y};
            UT_OK(ud_free_many(all, 4));
        }
    }
    UT_CASE("a put read by the driver rank's task, freed as soon as it is submitted") {
        for (k = 0; k < 20; k++) {
            char buf[5000];
            ud_ref p, r;
            ud_arg a;
            memset(buf, 1, sizeof buf);
            UT_REQUIRE_OK(ud_put(buf, (size_t)(k % 2 ? sizeof buf : 10), &p));
            a = ud_arg_ref(p);
            UT_REQUIRE_OK(ud_remote_opts(&on_me, f_sum, &a, 1, 1, &r));
            UT_OK(ud_free(p));
            UT_EQ_INT(i64_at(r, 0), k % 2 ? (int64_t)sizeof buf : 10);
            UT_OK(ud_free(r));
        }
    }
    UT_CASE("a task on the driver's rank makes nested tasks and gets them") {
        int64_t x = 7;
        ud_arg a = ud_arg_val(&x, sizeof x);
        ud_ref r;
        UT_REQUIRE_OK(ud_remote_opts(&on_me, f_nested, &a, 1, 1, &r));
        UT_EQ_INT(i64_at(r, 0), 0);
        UT_CHECK(i64_at(r, 1) >= 0);
        UT_EQ_INT(i64_at(r, 2), 7);
        UT_OK(ud_free(r));
    }
    UT_CASE("a nested wait on another worker for the driver rank's result, and the driver's wait") {
        int a_ms = 300, ready[2], n = 0;
        ud_arg a = ud_arg_val(&a_ms, sizeof a_ms), b;
        ud_ref slow, w, both[2];
        UT_REQUIRE_OK(ud_remote_opts(&on_me, f_where, &a, 0, 1, &slow));
        (void)a;
        b = ud_arg_val(&slow, sizeof slow);
        UT_REQUIRE_OK(ud_remote_opts(&on_0, f_waiter, &b, 1, 1, &w));
        UT_EQ_INT(int_of(w), UD_OK);
        both[0] = slow;
        both[1] = w;
        UT_OK(ud_wait(both, 2, 2, 10.0, ready, &n));
        UT_EQ_INT(n, 2);
        UT_OK(ud_free_many(both, 2));
    }
    UT_CASE("a failure on the driver's rank is a value that the others' tasks see") {
        ud_ref bad, r;
        ud_arg a;
        ud_view v;
        UT_REQUIRE_OK(ud_remote_opts(&on_me, f_fail, NULL, 0, 1, &bad));
        a = ud_arg_ref(bad);
        UT_REQUIRE_OK(ud_remote_opts(&on_0, f_sum, &a, 1, 1, &r));
        UT_EQ_STATUS(ud_get(bad, &v), UD_ERR_TASK);
        UT_CONTAINS(ud_last_error(), "failed on purpose on rank 0");
        UT_EQ_STATUS(ud_get(r, &v), UD_ERR_TASK);
        UT_OK(ud_free(bad));
        UT_OK(ud_free(r));
    }
    UT_CASE("its objects go once freed: the cleanup reaches the driver rank's worker part") {
        enum { N = 16 };
        ud_stats s[64];
        int ns = 0, b = 1, n = 1 << 16;
        int64_t before;
        ud_ref r[N];
        ud_arg a[2] = {ud_arg_val(&n, sizeof n), ud_arg_val(&b, sizeof b)};
        UT_REQUIRE_OK(ud_stats_get(s, 64, &ns));
        before = s[0].cleanups;
        for (k = 0; k < N; k++) UT_REQUIRE_OK(ud_remote_opts(&on_me, f_big, a, 2, 1, &r[k]));
        for (k = 0; k < N; k++) {
            ud_view v;
            UT_OK(ud_get(r[k], &v));
        }
        UT_OK(ud_free_many(r, N));
        UT_EVENTUALLY((ud_stats_get(s, 64, &ns), s[0].cleanups >= before + N), 10);
        ut_note("rank 0's cleanups: %lld after %d of its results were freed", (long long)(s[0].cleanups - before), N);
    }
}

/* The default count, one rank a host: the driver's rank has the cores it may use less one. */
static void one_rank_a_host(int size) {
    UT_CASE("one rank a host: the driver's rank takes its cores less one, and runs tasks") {
        cpu_set_t set;
        int cores = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
        int last = ud_num_workers() - 1, k, here = 0;
        ud_ref r[32];
        if (ud_num_hosts() != size || getenv("UNIDIST_MPI_HOSTS") || cores < 2) {
            ut_skip("needs one rank a host and 2 cores for the driver's rank (the hosts variant, 1,1,1)");
        } else {
            UT_EQ_INT(ud_worker_rank(last), 0);
            UT_EQ_INT(ud_worker_threads(last), cores - 1);
            for (k = 0; k < 32; k++) UT_REQUIRE_OK(ud_remote(f_where, NULL, 0, 1, &r[k]));
            for (k = 0; k < 32; k++) here += int_of(r[k]) == 0;
            ut_note("%d of 32 tasks ran on rank 0, which has %d task threads", here, ud_worker_threads(last));
            UT_CHECK(here > 0);
            UT_OK(ud_free_many(r, 32));
        }
    }
}

int main(void) {
    ud_role role;
    ud_config cfg;
    int size = 0;
    UT_OK(ud_register("where", where, NULL, &f_where));
    UT_OK(ud_register("sum", sum, NULL, &f_sum));
    UT_OK(ud_register("big", big, NULL, &f_big));
    UT_OK(ud_register("nested", nested, NULL, &f_nested));
    UT_OK(ud_register("fail", fail, NULL, &f_fail));
    UT_OK(ud_register("waiter", waiter, NULL, &f_waiter));
    unsetenv("UNIDIST_CPUS"); /* the config's count, whatever the variant sets */
    ud_config_init(&cfg);
    cfg.cpus = 2;
    if (ud_init(&cfg, &role) != UD_OK) {
        printf("FAIL init: %s\n", ud_last_error());
        return 1;
    }
    if (role == UD_ROLE_DRIVER) {
        MPI_Comm_size(ud_mpi_comm(), &size);
        driver_rank_cases(size);
        UT_CASE("shutdown") UT_OK(ud_shutdown());
    }
    cfg.cpus = 0; /* its share of its host's cores */
    if (ud_init(&cfg, &role) != UD_OK) {
        printf("FAIL second init: %s\n", ud_last_error());
        return 1;
    }
    if (role != UD_ROLE_DRIVER) return 0;
    MPI_Comm_size(ud_mpi_comm(), &size);
    one_rank_a_host(size);
    UT_CASE("second phase: shutdown") UT_OK(ud_shutdown());
    return ut_finish();
}
