/* Errors are values: a failed task's results carry its message to every get and to the tasks
   that depend on it. Every misuse of the API returns its own status and a detail message, and
   the runtime keeps working afterwards. */
#define UNIDIST_IMPLEMENTATION
#include "unidist.h"
#include "ud_test.h"

#include <limits.h>

static ud_func f_fail_soft, f_fail_unnamed;
static ud_func f_square, f_fail_msg, f_fail_rc, f_fail_two, f_slow_fail, f_counted_square,
    f_add2, f_probe;

static atomic_int square_runs;

/* ---- tasks -------------------------------------------------------------------------------- */
static int square(ud_task *t) {
    int x;
    if (!ut_arg_int(t, 0, &x)) return ud_task_fail(t, "square: argument 0 is not an int");
    return ut_result_int(t, 0, x * x);
}

static int counted_square(ud_task *t) {
    atomic_fetch_add(&square_runs, 1);
    return square(t);
}

static int add2(ud_task *t) {
    int a, b;
    if (!ut_arg_int(t, 0, &a) || !ut_arg_int(t, 1, &b)) return ud_task_fail(t, "add2: bad argument");
    return ut_result_int(t, 0, a + b);
}

static int fail_msg(ud_task *t) {
    int x = -1;
    ut_arg_int(t, 0, &x);
    return ud_task_fail(t, "boom %d", x);
}

/* Fails, then returns 0 as if nothing happened: the failure stands. */
static int fail_soft(ud_task *t) {
    int *y = ud_task_result(t, 0, sizeof *y);
    if (y) *y = 1;
    ud_task_fail(t, "soft failure");
    return 0;
}

/* Fails with no message of its own (a NULL format). */
static int fail_unnamed(ud_task *t) { return ud_task_fail(t, NULL); }

static int fail_rc(ud_task *t) {
    (void)t;
    return 7;
}

/* Allocates and writes result 0, then fails: both results must fail. */
static int fail_two(ud_task *t) {
    int *y = ud_task_result(t, 0, sizeof *y);
    if (y) *y = 1;
    return ud_task_fail(t, "second half went wrong");
}

static int slow_fail(ud_task *t) {
    ut_sleep(0.3);
    return ud_task_fail(t, "slow failure %s", "here");
}

/* Misuses the task API from inside a task; result 0 gets one status (or flag) per probe. */
enum {
    P_ARG_PAST_END, P_ARG_NEGATIVE, P_ARG_NULL_OUT, P_RESULT_PAST_END, P_RESULT_NEGATIVE,
    P_RESULT_TWICE, P_PARTS_PAST_END, P_PARTS_NULL_SIZES, P_PARTS_NULL_PTRS, P_PARTS_NEGATIVE,
    P_PARTS_AFTER_RESULT, P_GET, P_GET_LAST_ERROR, P_WAIT, P_GET_COPY, P_GET_MANY, P_RESULT_1_OK,
    P_COUNT
};
static const char *const probe_names[P_COUNT] = {
    "ud_task_arg(t, nargs, &v)", "ud_task_arg(t, -1, &v)", "ud_task_arg(t, 0, NULL)",
    "ud_task_result(t, nreturns, 4) is NULL", "ud_task_result(t, -1, 4) is NULL",
    "second ud_task_result(t, 0, 4) is NULL", "ud_task_result_parts(t, 5, ...)",
    "ud_task_result_parts(t, 1, NULL sizes, ...)", "ud_task_result_parts(t, 1, ..., NULL ptrs)",
    "ud_task_result_parts(t, 1, sizes, -1, ptrs)", "ud_task_result_parts(t, 0, ...) after result 0",
    "ud_get of a never issued ref inside a task",
    "ud_last_error() after that ud_get inside a task is non-empty",
    "ud_wait inside a task", "ud_get_copy inside a task", "ud_get_many inside a task",
    "ud_task_result(t, 1, 4) after bad result_parts calls is not NULL"};

static int probe(ud_task *t) {
    int *s = ud_task_result(t, 0, P_COUNT * sizeof(int));
    ud_view v;
    ud_ref ref, never = {0, (int64_t)1 << 62};
    size_t sizes[2] = {4, 4}, size;
    void *ptrs[2];
    int ready[1], nready;
    char buf[16];
    if (!s) return ud_task_fail(t, "probe: no memory");
    if (ud_task_arg(t, 0, &v) != UD_OK || v.size != sizeof ref) return ud_task_fail(t, "probe: arg");
    memcpy(&ref, v.data, sizeof ref);
    s[P_ARG_PAST_END] = ud_task_arg(t, ud_task_nargs(t), &v);
    s[P_ARG_NEGATIVE] = ud_task_arg(t, -1, &v);
    s[P_ARG_NULL_OUT] = ud_task_arg(t, 0, NULL);
    s[P_RESULT_PAST_END] = ud_task_result(t, ud_task_nreturns(t), 4) == NULL;
    s[P_RESULT_NEGATIVE] = ud_task_result(t, -1, 4) == NULL;
    s[P_RESULT_TWICE] = ud_task_result(t, 0, 4) == NULL;
    s[P_PARTS_PAST_END] = ud_task_result_parts(t, 5, sizes, 2, ptrs);
    s[P_PARTS_NULL_SIZES] = ud_task_result_parts(t, 1, NULL, 2, ptrs);
    s[P_PARTS_NULL_PTRS] = ud_task_result_parts(t, 1, sizes, 2, NULL);
    s[P_PARTS_NEGATIVE] = ud_task_result_parts(t, 1, sizes, -1, ptrs);
    s[P_PARTS_AFTER_RESULT] = ud_task_result_parts(t, 0, sizes, 2, ptrs) != UD_OK;
    s[P_GET] = ud_get(never, &v);
    s[P_GET_LAST_ERROR] = ud_last_error() != NULL && ud_last_error()[0] != '\0';
    s[P_WAIT] = ud_wait(&ref, 1, 1, 0.0, ready, &nready);
    s[P_GET_COPY] = ud_get_copy(ref, buf, sizeof buf, &size);
    s[P_GET_MANY] = ud_get_many(&ref, 1, &v);
    s[P_RESULT_1_OK] = ud_task_result(t, 1, 4) != NULL;
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------------ */
static int int_of(ud_ref r) {
    ud_view v;
    int x;
    if (!UT_OK(ud_get(r, &v))) return INT_MIN;
    if (!UT_EQ_INT(v.size, sizeof(int)) || !UT_CHECK(v.data)) return INT_MIN;
    memcpy(&x, v.data, sizeof x);
    return x;
}

/* Checks that get of r fails with a message containing want; copies the message to msg. */
static int expect_task_failure(ud_ref r, const char *want, char *msg, size_t cap) {
    ud_view v;
    int ok = UT_EQ_STATUS(ud_get(r, &v), UD_ERR_TASK);
    ok &= UT_CONTAINS(ud_last_error(), want);
    ok &= UT_EQ_INT(v.status, UD_ERR_TASK);
    if (!UT_CHECK(v.data != NULL)) return 0;
    ok &= UT_EQ_INT(v.size, strlen((const char *)v.data));
    ok &= UT_CONTAINS((const char *)v.data, want);
    if (msg) snprintf(msg, cap, "%s", (const char *)v.data);
    return ok;
}

/* ---- failed tasks ------------------------------------------------------------------------- */
static void task_error_reaches_get(void) {
    ud_ref r;
    char first[256], second[256];
    size_t size = 0;
    char buf[64];
    UT_REQUIRE_OK(ut_call_int(f_fail_msg, 42, 1, &r));
    expect_task_failure(r, "boom 42", first, sizeof first);
    expect_task_failure(r, "boom 42", second, sizeof second);
    UT_EQ_STR(second, first);
    UT_EQ_STATUS(ud_get_copy(r, buf, sizeof buf, &size), UD_ERR_TASK);
    UT_CONTAINS(ud_last_error(), "boom 42");
    UT_OK(ud_free(r));
    UT_MISUSE(ud_get(r, &(ud_view){0}), UD_ERR_FREED, "freed");
}

/* Like errno: a call that succeeds leaves the last failure's text in place. */
static void success_keeps_the_last_error(void) {
    ud_ref r = ut_put_int(4), out;
    ud_view v;
    ud_arg a;
    char before[600];
    UT_OK(ud_free(r));
    UT_MISUSE(ud_get(r, &v), UD_ERR_FREED, "was freed");
    snprintf(before, sizeof before, "%s", ud_last_error());
    r = ut_put_int(5);
    UT_OK(ud_get(r, &v));
    a = ud_arg_ref(r);
    UT_OK(ud_remote(f_square, &a, 1, 1, &out));
    UT_OK(ud_get(out, &v));
    UT_OK(ud_free(out));
    UT_OK(ud_free(r));
    UT_EQ_STR(ud_last_error(), before);
}

static void nonzero_return_fails(void) {
    ud_ref r;
    char first[256], second[256];
    UT_REQUIRE_OK(ud_remote(f_fail_rc, NULL, 0, 1, &r));
    expect_task_failure(r, "", first, sizeof first);
    UT_CHECK(first[0] != '\0');
    expect_task_failure(r, "", second, sizeof second);
    UT_EQ_STR(second, first);
    UT_OK(ud_free(r));
}

static void fail_then_return_zero(void) {
    ud_ref r;
    UT_REQUIRE_OK(ud_remote(f_fail_soft, NULL, 0, 1, &r));
    expect_task_failure(r, "soft failure", NULL, 0);
    UT_OK(ud_free(r));
}

static void fail_without_a_message_names_the_task(void) {
    ud_ref r;
    UT_REQUIRE_OK(ud_remote(f_fail_unnamed, NULL, 0, 1, &r));
    expect_task_failure(r, "task 'fail_unnamed' failed", NULL, 0);
    UT_OK(ud_free(r));
}

static void every_result_of_failed_task_fails(void) {
    ud_ref outs[2];
    char m0[256], m1[256];
    UT_REQUIRE_OK(ud_remote(f_fail_two, NULL, 0, 2, outs));
    expect_task_failure(outs[0], "second half went wrong", m0, sizeof m0);
    expect_task_failure(outs[1], "second half went wrong", m1, sizeof m1);
    UT_EQ_STR(m1, m0);
    UT_OK(ud_free_many(outs, 2));
}

static void dependent_task_fails_with_same_message(void) {
    ud_ref bad, dep, dep2, ok = ut_put_int(3), mixed;
    ud_arg args[2];
    char orig[256], got[256];
    atomic_store(&square_runs, 0);
    UT_REQUIRE_OK(ut_call_int(f_fail_msg, 9, 1, &bad));
    UT_REQUIRE_OK(ut_call_ref(f_counted_square, bad, &dep));
    UT_REQUIRE_OK(ut_call_ref(f_counted_square, dep, &dep2));
    args[0] = ud_arg_ref(ok);
    args[1] = ud_arg_ref(bad);
    UT_REQUIRE_OK(ud_remote(f_add2, args, 2, 1, &mixed));
    expect_task_failure(bad, "boom 9", orig, sizeof orig);
    expect_task_failure(dep, "boom 9", got, sizeof got);
    UT_EQ_STR(got, orig);
    expect_task_failure(dep2, "boom 9", got, sizeof got);
    UT_EQ_STR(got, orig);
    expect_task_failure(mixed, "boom 9", got, sizeof got);
    UT_EQ_STR(got, orig);
    UT_EQ_INT(atomic_load(&square_runs), 0); /* the dependents never ran */
    UT_EQ_INT(int_of(ok), 3);
    UT_OK(ud_free(bad));
    UT_OK(ud_free(dep));
    UT_OK(ud_free(dep2));
    UT_OK(ud_free(ok));
    UT_OK(ud_free(mixed));
}

/* The dependent is submitted while the failing task is still running. */
static void dependent_of_pending_failure(void) {
    ud_ref bad, dep;
    char orig[256], got[256];
    atomic_store(&square_runs, 0);
    UT_REQUIRE_OK(ud_remote(f_slow_fail, NULL, 0, 1, &bad));
    UT_REQUIRE_OK(ut_call_ref(f_counted_square, bad, &dep));
    expect_task_failure(dep, "slow failure here", got, sizeof got);
    expect_task_failure(bad, "slow failure here", orig, sizeof orig);
    UT_EQ_STR(got, orig);
    UT_EQ_INT(atomic_load(&square_runs), 0);
    UT_OK(ud_free(bad));
    UT_OK(ud_free(dep));
}

static void get_many_with_a_failure(void) {
    ud_ref refs[3];
    ud_view v[3];
    refs[0] = ut_put_int(1);
    UT_REQUIRE_OK(ut_call_int(f_fail_msg, 5, 1, &refs[1]));
    refs[2] = ut_put_int(2);
    memset(v, 0, sizeof v);
    UT_EQ_STATUS(ud_get_many(refs, 3, v), UD_ERR_TASK);
    UT_EQ_INT(v[0].status, UD_OK);
    UT_CHECK(v[0].size == sizeof(int) && v[0].data && *(const int *)v[0].data == 1);
    UT_EQ_INT(v[1].status, UD_ERR_TASK);
    UT_CHECK(v[1].data && strstr((const char *)v[1].data, "boom 5"));
    UT_EQ_INT(v[2].status, UD_OK);
    UT_CHECK(v[2].size == sizeof(int) && v[2].data && *(const int *)v[2].data == 2);
    UT_OK(ud_free_many(refs, 3));
}

static void wait_returns_for_failed_task(void) {
    ud_ref refs[2];
    int ready[2] = {-1, -1}, nready = -1;
    UT_REQUIRE_OK(ud_remote(f_slow_fail, NULL, 0, 1, &refs[0]));
    UT_OK(ud_wait(refs, 1, 1, 30.0, ready, &nready));
    UT_EQ_INT(nready, 1);
    UT_EQ_INT(ready[0], 0);
    refs[1] = ut_put_int(4);
    UT_OK(ud_wait(refs, 2, 2, 30.0, ready, &nready));
    UT_EQ_INT(nready, 2);
    UT_OK(ud_wait(refs, 2, 2, -1.0, ready, &nready));
    UT_EQ_INT(nready, 2);
    UT_OK(ud_free_many(refs, 2));
}

/* ---- misuse ------------------------------------------------------------------------------- */
static void freed_ref(void) {
    ud_ref r = ut_put_int(1), live = ut_put_int(2), pair[2], out;
    ud_view v, views[2];
    ud_arg a = ud_arg_ref(r);
    char buf[8], num[32];
    size_t size;
    int ready[2], nready;
    snprintf(num, sizeof num, "%lld", (long long)r.num);
    UT_REQUIRE_OK(ud_free(r));
    UT_MISUSE(ud_get(r, &v), UD_ERR_FREED, "freed");
    UT_CONTAINS(ud_last_error(), num);
    UT_MISUSE(ud_free(r), UD_ERR_FREED, "freed");
    UT_MISUSE(ud_get_copy(r, buf, sizeof buf, &size), UD_ERR_FREED, "freed");
    pair[0] = live;
    pair[1] = r;
    UT_MISUSE(ud_get_many(pair, 2, views), UD_ERR_FREED, "freed");
    UT_MISUSE(ud_wait(pair, 2, 1, 1.0, ready, &nready), UD_ERR_FREED, "freed");
    UT_MISUSE(ud_remote(f_square, &a, 1, 1, &out), UD_ERR_FREED, "freed");
    UT_MISUSE(ud_free_many(&r, 1), UD_ERR_FREED, "freed");
    UT_EQ_INT(int_of(live), 2);
    /* the same ref twice in one call: the second is a double free */
    pair[0] = pair[1] = live;
    UT_MISUSE(ud_free_many(pair, 2), UD_ERR_FREED, "freed");
    UT_MISUSE(ud_get(live, &v), UD_ERR_FREED, "freed");
}

static void freed_task_result(void) {
    ud_ref r;
    ud_view v;
    UT_REQUIRE_OK(ut_call_int(f_square, 3, 1, &r));
    UT_EQ_INT(int_of(r), 9);
    UT_OK(ud_free(r));
    UT_MISUSE(ud_get(r, &v), UD_ERR_FREED, "freed");
    UT_MISUSE(ud_free(r), UD_ERR_FREED, "freed");
}

static void ref_never_issued(void) {
    static const ud_ref bad[2] = {{0, 999999}, {7, 1}};
    int k;
    for (k = 0; k < 2; k++) {
        ud_ref r = bad[k], out;
        ud_view v;
        ud_arg a = ud_arg_ref(r);
        char buf[8], num[32];
        size_t size;
        int ready[1], nready;
        snprintf(num, sizeof num, "%lld", (long long)r.num);
        UT_MISUSE(ud_get(r, &v), UD_ERR_NOREF, num);
        UT_MISUSE(ud_free(r), UD_ERR_NOREF, num);
        UT_MISUSE(ud_get_copy(r, buf, sizeof buf, &size), UD_ERR_NOREF, num);
        UT_MISUSE(ud_get_many(&r, 1, &v), UD_ERR_NOREF, num);
        UT_MISUSE(ud_wait(&r, 1, 1, 1.0, ready, &nready), UD_ERR_NOREF, num);
        UT_MISUSE(ud_remote(f_square, &a, 1, 1, &out), UD_ERR_NOREF, num);
    }
}

static void unknown_function(void) {
    ud_ref r = ut_put_int(2), out = {-5, -5};
    ud_arg a = ud_arg_ref(r);
    UT_MISUSE(ud_remote(ud_func_id("no_such_function"), &a, 1, 1, &out), UD_ERR_NOFUNC, "remote: no function with id cbd3358a45bf0fb0 is registered");
    UT_MISUSE(ud_remote((ud_func)12345, &a, 1, 1, &out), UD_ERR_NOFUNC, "remote: no function with id 0000000000003039 is registered");
    UT_MISUSE(ud_remote(0, NULL, 0, 0, NULL), UD_ERR_NOFUNC, "remote: no function with id 0000000000000000 is registered");
    UT_OK(ud_free(r));
}

/* The task calls outside a task, with no context: statuses and NULLs, never a crash. */
static void null_task_context(void) {
    ud_view v;
    size_t sizes[1] = {4};
    void *ptrs[1];
    UT_MISUSE(ud_task_arg(NULL, 0, &v), UD_ERR_ARG, "task_arg: task and out must be given");
    UT_CHECK(ud_task_result(NULL, 0, 4) == NULL);
    UT_MISUSE(ud_task_result_parts(NULL, 0, sizes, 1, ptrs), UD_ERR_ARG, "task_result: task, sizes and ptrs must be given");
    UT_CHECK(ud_task_user(NULL) == NULL);
    UT_CHECK(ud_task_fail(NULL, "nothing to fail") != 0);
    UT_CHECK(ud_task_nargs(NULL) <= 0 && ud_task_nreturns(NULL) <= 0);
}

static void misuse_inside_a_task(void) {
    ud_ref target = ut_put_int(6), outs[2];
    ud_arg a = ud_arg_val(&target, sizeof target);
    ud_view v;
    int want[P_COUNT], k;
    for (k = 0; k < P_COUNT; k++) want[k] = UD_ERR_ARG;
    want[P_RESULT_PAST_END] = want[P_RESULT_NEGATIVE] = want[P_RESULT_TWICE] = 1;
    want[P_PARTS_AFTER_RESULT] = want[P_GET_LAST_ERROR] = want[P_RESULT_1_OK] = 1;
    want[P_GET] = UD_ERR_NOREF; /* tasks may get, wait and get_copy (nested calls) */
    want[P_WAIT] = want[P_GET_COPY] = want[P_GET_MANY] = UD_OK;
    UT_REQUIRE_OK(ud_remote(f_probe, &a, 1, 2, outs));
    UT_REQUIRE_OK(ud_get(outs[0], &v));
    UT_REQUIRE(v.size == P_COUNT * sizeof(int));
    for (k = 0; k < P_COUNT; k++) {
        int got = ((const int *)v.data)[k];
        if (got == want[k]) continue;
        if (want[k] == 1) UT_FAIL("inside a task: %s: does not hold", probe_names[k]);
        else
            UT_FAIL("inside a task: %s: got [%s], want [%s]", probe_names[k],
                    ud_status_str((ud_status)got), ud_status_str((ud_status)want[k]));
    }
    UT_OK(ud_get(outs[1], &v));
    UT_OK(ud_free_many(outs, 2));
    UT_OK(ud_free(target));
}

struct other_thread {
    ud_ref ref;
    ud_status status;
    char error[1024];
};

static void *misuse_elsewhere(void *p) {
    struct other_thread *o = (struct other_thread *)p;
    ud_view v;
    o->status = ud_get(o->ref, &v);
    snprintf(o->error, sizeof o->error, "%s", ud_last_error());
    return NULL;
}

/* ud_last_error belongs to the calling thread: another thread's failure does not touch it. */
static void last_error_is_per_thread(void) {
    struct other_thread o;
    pthread_t th;
    ud_ref never = {0, 888888};
    ud_view v;
    char mine[1024];
    o.ref = ut_put_int(1);
    UT_REQUIRE_OK(ud_free(o.ref)); /* the other thread gets a freed ref */
    UT_MISUSE(ud_get(never, &v), UD_ERR_NOREF, "888888");
    snprintf(mine, sizeof mine, "%s", ud_last_error());
    UT_REQUIRE(pthread_create(&th, NULL, misuse_elsewhere, &o) == 0);
    pthread_join(th, NULL);
    UT_EQ_STATUS(o.status, UD_ERR_FREED);
    UT_CONTAINS(o.error, "freed");
    UT_EQ_STR(ud_last_error(), mine);
}

static void status_strings(void) {
    UT_CHECK(ud_status_str((ud_status)5) != NULL);
    UT_CHECK(ud_status_str((ud_status)-999) != NULL);
    UT_CHECK(ud_status_str(UD_STATUS_LAST_) != NULL);
}

static void still_works_after_misuse(void) {
    ud_ref r = ut_put_int(5), out;
    UT_REQUIRE_OK(ut_call_ref(f_square, r, &out));
    UT_EQ_INT(int_of(out), 25);
    UT_OK(ud_free(r));
    UT_OK(ud_free(out));
}

static void register_all(void) {
    UT_OK(ud_register("square", square, NULL, &f_square));
    UT_OK(ud_register("counted_square", counted_square, NULL, &f_counted_square));
    UT_OK(ud_register("add2", add2, NULL, &f_add2));
    UT_OK(ud_register("fail_msg", fail_msg, NULL, &f_fail_msg));
    UT_OK(ud_register("fail_rc", fail_rc, NULL, &f_fail_rc));
    UT_OK(ud_register("fail_soft", fail_soft, NULL, &f_fail_soft));
    UT_OK(ud_register("fail_unnamed", fail_unnamed, NULL, &f_fail_unnamed));
    UT_OK(ud_register("fail_two", fail_two, NULL, &f_fail_two));
    UT_OK(ud_register("slow_fail", slow_fail, NULL, &f_slow_fail));
    UT_OK(ud_register("probe", probe, NULL, &f_probe));
}

int main(void) {
    ud_role role;
    ud_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.cpus = 4;
    /* Misuse makes the library log; keep the output to PASS/FAIL lines. */
    if (!getenv("UNIDIST_LOG_LEVEL")) cfg.log_level = UD_LOG_ERROR;
    UT_RUN(register_all);
    UT_CASE("init") { UT_OK(ud_init(&cfg, &role)); }
    if (!ud_is_initialized()) return ut_finish();
    UT_RUN(task_error_reaches_get);
    UT_RUN(success_keeps_the_last_error);
    UT_RUN(nonzero_return_fails);
    UT_RUN(fail_then_return_zero);
    UT_RUN(fail_without_a_message_names_the_task);
    UT_RUN(every_result_of_failed_task_fails);
    UT_RUN(dependent_task_fails_with_same_message);
    UT_RUN(dependent_of_pending_failure);
    UT_RUN(get_many_with_a_failure);
    UT_RUN(wait_returns_for_failed_task);
    UT_RUN(freed_ref);
    UT_RUN(freed_task_result);
    UT_RUN(ref_never_issued);
    UT_RUN(unknown_function);
    UT_RUN(null_task_context);
    UT_RUN(misuse_inside_a_task);
    UT_RUN(last_error_is_per_thread);
    UT_RUN(status_strings);
    UT_RUN(still_works_after_misuse);
    UT_CASE("shutdown") { UT_OK(ud_shutdown()); }
    return ut_finish();
}
