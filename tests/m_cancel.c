/* A shutdown that fails still cancels the workers: here the driver's MPI_Recv (this program's
   own, over PMPI) spoils the first operation it receives once shutdown has begun, so shutdown
   fails with UD_ERR_PROTO while worker 0's task threads each sleep in a task. Then a task
   queued behind them never runs, nor do tasks whose argument a sleeper makes, a sleeper's
   nested call after it wakes fails with UD_ERR_STATE, and so do the calls of tasks on worker 1
   that the cancel finds waiting (a get and a wait of a sleeper's result; with 3 or more
   ranks), and every rank ends (the run's timeout would tell a hang). The tasks leave files
   saying what happened, in a folder the driver names in their arguments; the driver reads
   them once shutdown has returned. Run under mpiexec with 2 or more ranks. */
#define UNIDIST_IMPLEMENTATION
#include "unidist_mpi.h"
#include "ud_test.h"

#include <sys/stat.h>

static atomic_int armed; /* the next operation this process receives is spoiled */

int MPI_Recv(void *buf, int count, MPI_Datatype type, int source, int tag, MPI_Comm comm,
             MPI_Status *status) {
    int rc = PMPI_Recv(buf, count, type, source, tag, comm, status);
    if (rc == MPI_SUCCESS && tag == UD__TAG_OP && count >= 2 && atomic_exchange(&armed, 0))
        ((unsigned char *)buf)[0] ^= 0xff; /* the header's magic */
    return rc;
}

static ud_func f_sleeper, f_marker, f_fib, f_asker;

static void path_of(char *out, size_t cap, const char *dir, const char *name, int k) {
    snprintf(out, cap, "%s/%s.%d", dir, name, k);
}

/* The folder in argument 1. */
static const char *dir_arg(ud_task *t) {
    ud_view v;
    if (ud_task_arg(t, 1, &v) != UD_OK || v.size < 2 || ((const char *)v.data)[v.size - 1]) return NULL;
    return (const char *)v.data;
}

/* Leaves dir/name.k holding a status and the last error. */
static void leave_status(const char *dir, const char *name, int k, ud_status st) {
    char path[300];
    FILE *f;
    path_of(path, sizeof path, dir, name, k);
    if ((f = fopen(path, "w"))) {
        fprintf(f, "%d %s\n", (int)st, ud_last_error());
        fclose(f);
    }
}

static int fib(ud_task *t) {
    int n = 0;
    return ut_arg_int(t, 0, &n) ? ut_result_int(t, 0, n) : ud_task_fail(t, "fib");
}

/* sleeper(k, dir): leaves dir/started.k, sleeps 1.5 s, then makes a nested call and leaves
   dir/nested.k holding its status. */
static int sleeper(ud_task *t) {
    int k = 0, one = 1;
    char path[300];
    FILE *f;
    ud_ref r;
    ud_arg a = ud_arg_val(&one, sizeof one);
    ud_status st;
    const char *dir = dir_arg(t);
    if (!ut_arg_int(t, 0, &k) || !dir) return ud_task_fail(t, "sleeper");
    path_of(path, sizeof path, dir, "started", k); /* it holds its thread from now on */
    if ((f = fopen(path, "w"))) fclose(f);
    ut_sleep(1.5 * ut_time_slack());
    st = ud_remote(f_fib, &a, 1, 1, &r);
    leave_status(dir, "nested", k, st);
    return ut_result_int(t, 0, k);
}

/* asker(how, dir, ref): puts a value of its own, leaves dir/asking.how, then gets (how 0) or
   waits for (how 1) ref, given by value, and leaves dir/asked.how holding the status; then it
   frees its value and leaves dir/freed.how holding that status. */
static int asker(ud_task *t) {
    int how = 0, ready[1], nready = 0;
    char path[300];
    const char *dir = dir_arg(t);
    ud_view v;
    ud_ref ref, mine;
    ud_status st;
    FILE *f;
    if (!ut_arg_int(t, 0, &how) || !dir || ud_task_arg(t, 2, &v) != UD_OK || v.size != sizeof ref)
        return ud_task_fail(t, "asker");
    memcpy(&ref, v.data, sizeof ref);
    if (ud_put(&how, sizeof how, &mine) != UD_OK) return ud_task_fail(t, "asker: %s", ud_last_error());
    path_of(path, sizeof path, dir, "asking", how);
    if ((f = fopen(path, "w"))) fclose(f);
    st = how == 0 ? ud_get(ref, &v) : ud_wait(&ref, 1, 1, 60.0, ready, &nready);
    leave_status(dir, "asked", how, st);
    leave_status(dir, "freed", how, ud_free(mine));
    return ut_result_int(t, 0, how);
}

/* marker(k, dir[, anything]): leaves dir/ran.k. */
static int marker(ud_task *t) {
    int k = 0;
    char path[300];
    FILE *f;
    const char *dir = dir_arg(t);
    if (!ut_arg_int(t, 0, &k) || !dir) return ud_task_fail(t, "marker");
    path_of(path, sizeof path, dir, "ran", k);
    if ((f = fopen(path, "w"))) fclose(f);
    return ut_result_int(t, 0, k);
}

/* Reads dir/name.k (a status, then a message): the status is UD_ERR_STATE and the message
   names the cancel. */
static void refused(const char *dir, const char *name, int k) {
    char path[300], text[400] = "";
    FILE *f;
    int got = 1;
    path_of(path, sizeof path, dir, name, k);
    if (UT_CHECK((f = fopen(path, "r")) != NULL)) {
        if (!fgets(text, sizeof text, f)) text[0] = '\0';
        fclose(f);
        UT_CHECK(sscanf(text, "%d", &got) == 1);
        UT_EQ_STATUS(got, UD_ERR_STATE);
        UT_CONTAINS(text, "cancelled");
    }
    unlink(path);
}

/* The driver answers its workers' calls while it is in one of its own. */
static void serve(void) {
    ud_stats s[64];
    int n;
    ud_stats_get(s, 64, &n);
}

int main(void) {
    ud_role role;
    ud_status st;
    int threads, k, two;
    ud_opts on0 = ud_on_worker(0), on1 = ud_on_worker(1);
    ud_ref r, first = {0, 0};
    char dir[] = "/tmp/ud_cancel_XXXXXX";
    UT_OK(ud_register("sleeper", sleeper, NULL, &f_sleeper));
    UT_OK(ud_register("marker", marker, NULL, &f_marker));
    UT_OK(ud_register("fib", fib, NULL, &f_fib));
    UT_OK(ud_register("asker", asker, NULL, &f_asker));
    ut_driver_runs_no_tasks(); /* the spoiled message must be one the root needs, not a STEAL */
    if (ud_init(NULL, &role) != UD_OK) {
        printf("FAIL init: %s\n", ud_last_error());
        return 1;
    }
    if (role != UD_ROLE_DRIVER) return 0;
    threads = ud_worker_threads(0);
    two = ud_num_workers() >= 2;
    UT_CASE("submit: a sleeper on each of worker 0's threads, then a task behind them") {
        if (!UT_CHECK(mkdtemp(dir) != NULL)) return (ud_shutdown(), ut_finish());
        for (k = 0; k < threads; k++) {
            ud_arg a[2] = {ud_arg_val(&k, sizeof k), ud_arg_val(dir, sizeof dir)};
            UT_OK(ud_remote_opts(&on0, f_sleeper, a, 2, 1, &r));
            if (k == 0) first = r;
        }
        for (k = 0; k < threads; k++) { /* every thread is held before the marker goes */
            char path[300];
            struct stat sb;
            path_of(path, sizeof path, dir, "started", k);
            if (!UT_EVENTUALLY(stat(path, &sb) == 0, 30)) break;
        }
        for (k = 1; k <= 2; k++) { /* tasks that need the first sleeper's result: 1 on worker 1, 2 on 0 */
            ud_arg a[3] = {ud_arg_val(&k, sizeof k), ud_arg_val(dir, sizeof dir), ud_arg_ref(first)};
            if (k == 2 || two) UT_OK(ud_remote_opts(k == 1 ? &on1 : &on0, f_marker, a, 3, 1, &r));
        }
        for (k = 0; k < 2 && two; k++) { /* on worker 1, a get and a wait of it, which stay out */
            char path[300];
            struct stat sb;
            ud_arg a[3] = {ud_arg_val(&k, sizeof k), ud_arg_val(dir, sizeof dir), ud_arg_val(&first, sizeof first)};
            UT_OK(ud_remote_opts(&on1, f_asker, a, 3, 1, &r));
            path_of(path, sizeof path, dir, "asking", k);
            UT_EVENTUALLY((serve(), stat(path, &sb) == 0), 30);
            unlink(path);
            ut_sleep(0.1);
            serve(); /* its call, answered: the get asks the owner, the wait the monitor */
        }
        k = 0;
        {
            ud_arg a[2] = {ud_arg_val(&k, sizeof k), ud_arg_val(dir, sizeof dir)};
            UT_OK(ud_remote_opts(&on0, f_marker, a, 2, 1, &r));
        }
        ut_sleep(0.1); /* the marker is queued behind them */
    }
    atomic_store(&armed, 1);
    st = ud_shutdown();
    UT_CASE("the shutdown fails: a spoiled message") {
        UT_EQ_STATUS(st, UD_ERR_PROTO);
        UT_CONTAINS(ud_last_error(), "malformed");
    }
    UT_CASE("a task not started never runs") {
        char path[300];
        struct stat sb;
        for (k = 0; k <= 2; k++) {
            path_of(path, sizeof path, dir, "ran", k);
            if (stat(path, &sb) == 0) UT_FAIL("task %d (%s) ran after the cancel", k, k ? "waiting for an argument" : "queued");
            unlink(path);
        }
    }
    UT_CASE("a running task's nested call fails with UD_ERR_STATE") {
        for (k = 0; k < threads; k++) {
            char path[300];
            refused(dir, "nested", k);
            path_of(path, sizeof path, dir, "started", k);
            unlink(path);
        }
    }
    if (two) {
        UT_CASE("a task's get and wait that the cancel finds out fail with UD_ERR_STATE") {
            refused(dir, "asked", 0);
            refused(dir, "asked", 1);
        }
        UT_CASE("the free of a task's own ref after the cancel returns UD_OK") {
            for (k = 0; k < 2; k++) {
                char path[300], text[400] = "";
                FILE *f;
                int got = 1;
                path_of(path, sizeof path, dir, "freed", k);
                if (UT_CHECK((f = fopen(path, "r")) != NULL)) {
                    if (!fgets(text, sizeof text, f)) text[0] = '\0';
                    fclose(f);
                    UT_CHECK(sscanf(text, "%d", &got) == 1 && got == UD_OK);
                }
                unlink(path);
            }
        }
    }
    rmdir(dir);
    return ut_finish();
}
