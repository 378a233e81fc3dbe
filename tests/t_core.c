/* The core API on the threads backend: put, remote, get, get_many, get_copy, parts, inline
   arguments, num_returns from 0 up, and refs passed from task to task. */
#define UNIDIST_IMPLEMENTATION
#include "unidist.h"
#include "ud_test.h"

#include <limits.h>

#define WORKERS 4

static ud_func f_square, f_two, f_count, f_slow, f_gate, f_empty, f_zero_size, f_describe,
    f_make_parts, f_axpb, f_add2, f_user, f_inline_sum;

static atomic_int counter;
static atomic_int gates[8];
static int user_token;

/* ---- tasks -------------------------------------------------------------------------------- */
static int square(ud_task *t) {
    int x;
    if (!ut_arg_int(t, 0, &x)) return ud_task_fail(t, "square: argument 0 is not an int");
    return ut_result_int(t, 0, x * x);
}

static int x_and_square(ud_task *t) {
    int x;
    if (!ut_arg_int(t, 0, &x)) return ud_task_fail(t, "x_and_square: argument 0 is not an int");
    if (ut_result_int(t, 0, x)) return -1;
    return ut_result_int(t, 1, x * x);
}

static int add_to_counter(ud_task *t) {
    int x;
    if (!ut_arg_int(t, 0, &x)) return ud_task_fail(t, "add_to_counter: argument 0 is not an int");
    atomic_fetch_add(&counter, x);
    return 0;
}

static int slow_identity(ud_task *t) {
    int x;
    ut_sleep(0.5);
    if (!ut_arg_int(t, 0, &x)) return ud_task_fail(t, "slow_identity: argument 0 is not an int");
    return ut_result_int(t, 0, x);
}

/* Holds its worker until the driver opens gate[i]; its result is i. */
static int gate(ud_task *t) {
    int i;
    if (!ut_arg_int(t, 0, &i) || i < 0 || i >= 8) return ud_task_fail(t, "gate: bad index");
    while (!atomic_load(&gates[i])) ut_sleep(0.001);
    return ut_result_int(t, 0, i);
}

static int empty(ud_task *t) {
    (void)t;
    return 0;
}

static int zero_size(ud_task *t) {
    (void)ud_task_result(t, 0, 0);
    return 0;
}

/* Result: nparts, then each part's size, then the sum of all bytes. */
static int describe(ud_task *t) {
    ud_view v;
    int out[8] = {0}, k, n = 0;
    long sum = 0;
    if (ud_task_arg(t, 0, &v) != UD_OK) return ud_task_fail(t, "describe: no argument");
    out[n++] = v.nparts;
    for (k = 0; k < v.nparts && k < 6; k++) {
        const unsigned char *p = (const unsigned char *)v.parts[k].data;
        size_t i;
        out[n++] = (int)v.parts[k].size;
        for (i = 0; i < v.parts[k].size; i++) sum += p[i];
    }
    out[7] = (int)sum;
    {
        void *res = ud_task_result(t, 0, sizeof out);
        if (!res) return ud_task_fail(t, "describe: no memory");
        memcpy(res, out, sizeof out);
    }
    return 0;
}

static const size_t part_sizes[3] = {sizeof(int), 3, 1000};

static int make_parts(ud_task *t) {
    void *p[3];
    ud_status s = ud_task_result_parts(t, 0, part_sizes, 3, p);
    if (s != UD_OK) return ud_task_fail(t, "make_parts: %s", ud_status_str(s));
    *(int *)p[0] = 77;
    memcpy(p[1], "abc", 3);
    memset(p[2], 0x5a, 1000);
    return 0;
}

/* a * x + b, the three being arguments 0, 1 and 2. */
static int axpb(ud_task *t) {
    int a, x, b;
    if (ud_task_nargs(t) != 3) return ud_task_fail(t, "axpb: %d arguments", ud_task_nargs(t));
    if (!ut_arg_int(t, 0, &a) || !ut_arg_int(t, 1, &x) || !ut_arg_int(t, 2, &b))
        return ud_task_fail(t, "axpb: bad argument");
    return ut_result_int(t, 0, a * x + b);
}

static int add2(ud_task *t) {
    int a, b;
    if (!ut_arg_int(t, 0, &a) || !ut_arg_int(t, 1, &b)) return ud_task_fail(t, "add2: bad argument");
    return ut_result_int(t, 0, a + b);
}

/* Result: whether ud_task_user is &user_token, nargs, nreturns. */
static int report_context(ud_task *t) {
    int k, n = ud_task_nreturns(t);
    for (k = 0; k < n; k++) {
        int *r = ud_task_result(t, k, 3 * sizeof(int));
        if (!r) return ud_task_fail(t, "no memory");
        r[0] = ud_task_user(t) == &user_token;
        r[1] = ud_task_nargs(t);
        r[2] = n;
    }
    return 0;
}

/* Sum of the bytes of argument 0, whatever its size (for large inline values). */
static int inline_sum(ud_task *t) {
    ud_view v;
    long sum = 0;
    size_t i;
    if (ud_task_arg(t, 0, &v) != UD_OK) return ud_task_fail(t, "inline_sum: no argument");
    for (i = 0; i < v.size; i++) sum += ((const unsigned char *)v.data)[i];
    return ut_result_int(t, 0, (int)sum) || ut_result_int(t, 1, (int)v.size);
}

/* ---- helpers ------------------------------------------------------------------------------ */
static int int_of(ud_ref r) {
    ud_view v;
    int x;
    if (!UT_OK(ud_get(r, &v))) return INT_MIN;
    if (!UT_EQ_INT(v.status, UD_OK) || !UT_EQ_INT(v.size, sizeof(int)) || !UT_CHECK(v.data))
        return INT_MIN;
    memcpy(&x, v.data, sizeof x);
    return x;
}

static int expected_workers(void) {
    const char *e = getenv("UNIDIST_CPUS");
    return e && *e ? atoi(e) : WORKERS;
}

/* ---- cases -------------------------------------------------------------------------------- */
static ud_role role = (ud_role)-1;

static void runtime_started(void) {
    UT_EQ_INT(role, UD_ROLE_DRIVER);
    UT_EQ_INT(ud_is_initialized(), 1);
    UT_EQ_STR(ud_backend_name(), "threads");
    UT_EQ_INT(ud_num_workers(), expected_workers());
    UT_EQ_INT(ud_rank(), 0);
}

static void square_of_five(void) {
    ud_ref r, out;
    ud_view v;
    UT_REQUIRE_OK(ud_put(&(int){5}, sizeof(int), &r));
    UT_REQUIRE_OK(ut_call_ref(f_square, r, &out));
    UT_EQ_INT(int_of(out), 25);
    UT_OK(ud_get(out, &v));
    UT_EQ_INT(v.nparts, 1);
    UT_CHECK(v.parts && v.parts[0].data == v.data && v.parts[0].size == v.size);
    UT_OK(ud_free(r));
    UT_OK(ud_free(out));
}

static void one_put_ref_to_four_tasks(void) {
    ud_ref r = ut_put_int(6), outs[4];
    ud_view views[4];
    int k;
    for (k = 0; k < 4; k++) UT_REQUIRE_OK(ut_call_ref(f_square, r, &outs[k]));
    for (k = 0; k < 4; k++) UT_EQ_INT(int_of(outs[k]), 36);
    UT_OK(ud_get_many(outs, 4, views));
    for (k = 0; k < 4; k++) {
        UT_EQ_INT(views[k].status, UD_OK);
        UT_CHECK(views[k].size == sizeof(int) && *(const int *)views[k].data == 36);
    }
    for (k = 0; k < 4; k++) UT_CHECK(outs[k].num != r.num || outs[k].owner != r.owner);
    UT_EQ_INT(int_of(r), 6);
    UT_OK(ud_free_many(outs, 4));
    UT_OK(ud_free(r));
}

static void get_many_keeps_order(void) {
    enum { N = 16 };
    ud_ref in[N], out[N], rev[N];
    ud_view v[N];
    int k;
    for (k = 0; k < N; k++) {
        in[k] = ut_put_int(k);
        UT_REQUIRE_OK(ut_call_ref(f_square, in[k], &out[k]));
    }
    UT_OK(ud_get_many(out, N, v));
    for (k = 0; k < N; k++)
        UT_CHECK(v[k].status == UD_OK && v[k].size == sizeof(int) && *(const int *)v[k].data == k * k);
    for (k = 0; k < N; k++) rev[k] = in[N - 1 - k];
    UT_OK(ud_get_many(rev, N, v));
    for (k = 0; k < N; k++) UT_CHECK(v[k].size == sizeof(int) && *(const int *)v[k].data == N - 1 - k);
    UT_OK(ud_free_many(in, N));
    UT_OK(ud_free_many(out, N));
}

static void two_returns(void) {
    ud_ref outs[2];
    UT_REQUIRE_OK(ut_call_int(f_two, 5, 2, outs));
    UT_CHECK(outs[0].num != outs[1].num || outs[0].owner != outs[1].owner);
    UT_EQ_INT(int_of(outs[1]), 25);
    UT_EQ_INT(int_of(outs[0]), 5);
    UT_OK(ud_free_many(outs, 2));
}

static void zero_returns_task_still_runs(void) {
    ud_ref sentinel = {-77, -77};
    atomic_store(&counter, 0);
    UT_OK(ut_call_int(f_count, 7, 0, NULL));
    UT_OK(ut_call_int(f_count, 8, 0, &sentinel));
    UT_CHECK(sentinel.owner == -77 && sentinel.num == -77); /* no ref written */
    UT_EVENTUALLY(atomic_load(&counter) == 15, 30.0);
}

static void slow_ref_passed_to_dependent(void) {
    ud_ref slow, dep;
    UT_REQUIRE_OK(ut_call_int(f_slow, 5, 1, &slow));
    UT_REQUIRE_OK(ut_call_ref(f_square, slow, &dep));
    UT_EQ_INT(int_of(dep), 25);
    UT_EQ_INT(int_of(slow), 5);
    UT_OK(ud_free(slow));
    UT_OK(ud_free(dep));
}

/* Tasks whose argument is not ready must not occupy workers: with the gate holding one worker
   and many tasks waiting on it, independent tasks still run. */
static void waiting_task_does_not_hold_a_worker(void) {
    int w = ud_num_workers(), k, nready = 0;
    ud_ref g, *deps = malloc(3 * (size_t)w * sizeof *deps), *free_tasks = malloc((size_t)w * sizeof *free_tasks);
    int *ready = malloc((size_t)w * sizeof *ready);
    if (w < 2) {
        ut_skip("needs 2 workers");
        goto done;
    }
    UT_REQUIRE(deps && free_tasks && ready);
    atomic_store(&gates[0], 0);
    UT_REQUIRE_OK(ut_call_int(f_gate, 0, 1, &g));
    for (k = 0; k < 3 * w; k++) UT_REQUIRE_OK(ut_call_ref(f_square, g, &deps[k]));
    for (k = 0; k < w; k++) UT_REQUIRE_OK(ut_call_int(f_square, k, 1, &free_tasks[k]));
    /* w submissions round-robin over w queues: at most one lands behind the gate. */
    UT_OK(ud_wait(free_tasks, w, w - 1, 30.0, ready, &nready));
    UT_EQ_INT(nready, w - 1);
    atomic_store(&gates[0], 1);
    for (k = 0; k < w; k++) UT_EQ_INT(int_of(free_tasks[k]), k * k);
    for (k = 0; k < 3 * w; k++) UT_EQ_INT(int_of(deps[k]), 0);
    UT_OK(ud_free(g));
    UT_OK(ud_free_many(deps, 3 * w));
    UT_OK(ud_free_many(free_tasks, w));
done:
    free(deps);
    free(free_tasks);
    free(ready);
}

static void empty_result(void) {
    ud_ref r;
    ud_view v;
    size_t size = 99;
    char dst[4];
    UT_REQUIRE_OK(ud_remote(f_empty, NULL, 0, 1, &r));
    UT_OK(ud_get(r, &v));
    UT_EQ_INT(v.status, UD_OK);
    UT_EQ_INT(v.nparts, 0);
    UT_EQ_INT(v.size, 0);
    UT_CHECK(v.data != NULL);
    UT_OK(ud_get_copy(r, dst, sizeof dst, &size));
    UT_EQ_INT(size, 0);
    UT_OK(ud_free(r));
}

static void zero_size_result(void) {
    ud_ref r;
    ud_view v;
    UT_REQUIRE_OK(ud_remote(f_zero_size, NULL, 0, 1, &r));
    UT_OK(ud_get(r, &v));
    UT_EQ_INT(v.status, UD_OK);
    UT_EQ_INT(v.size, 0);
    UT_CHECK(v.data != NULL);
    UT_OK(ud_free(r));
}

static void put_copies(void) {
    enum { BIG = 1 << 20 };
    int x = 11;
    unsigned char *buf = malloc(BIG), *orig = malloc(BIG);
    ud_ref r, rb;
    ud_view v;
    size_t i;
    UT_REQUIRE(buf && orig);
    for (i = 0; i < BIG; i++) buf[i] = (unsigned char)(i * 7);
    memcpy(orig, buf, BIG);
    UT_OK(ud_put(&x, sizeof x, &r));
    UT_OK(ud_put(buf, BIG, &rb));
    x = 12;
    memset(buf, 0, BIG);
    UT_EQ_INT(int_of(r), 11);
    if (UT_OK(ud_get(rb, &v)) && UT_EQ_INT(v.size, BIG)) {
        UT_EQ_MEM(v.data, orig, BIG);
        UT_CHECK(v.data != buf);
    }
    UT_OK(ud_free(r));
    UT_OK(ud_free(rb));
    free(buf);
    free(orig);
}

static void put_empty(void) {
    ud_ref r;
    ud_view v;
    UT_REQUIRE_OK(ud_put(NULL, 0, &r));
    UT_OK(ud_get(r, &v));
    UT_EQ_INT(v.status, UD_OK);
    UT_EQ_INT(v.size, 0);
    UT_CHECK(v.data != NULL);
    UT_OK(ud_free(r));
}

struct header {
    int rows, cols;
    double scale;
};

static void put_parts_stay_separate(void) {
    struct header h = {10, 100, 0.5};
    double arr[1000];
    char tail[3] = {'x', 'y', 'z'};
    ud_part parts[3];
    ud_ref r;
    ud_view v;
    int k;
    for (k = 0; k < 1000; k++) arr[k] = k * 0.25;
    parts[0].data = &h, parts[0].size = sizeof h;
    parts[1].data = arr, parts[1].size = sizeof arr;
    parts[2].data = tail, parts[2].size = sizeof tail;
    UT_REQUIRE_OK(ud_put_parts(parts, 3, &r));
    h.rows = -1;
    arr[500] = -1;
    tail[0] = '!';
    UT_REQUIRE_OK(ud_get(r, &v));
    UT_EQ_INT(v.nparts, 3);
    UT_REQUIRE(v.parts != NULL && v.nparts == 3);
    UT_EQ_INT(v.parts[0].size, sizeof h);
    UT_EQ_INT(v.parts[1].size, sizeof arr);
    UT_EQ_INT(v.parts[2].size, 3);
    UT_CHECK(v.data == v.parts[0].data && v.size == v.parts[0].size);
    UT_EQ_INT(((const struct header *)v.parts[0].data)->rows, 10);
    UT_CHECK(((const double *)v.parts[1].data)[500] == 125.0);
    UT_EQ_MEM(v.parts[2].data, "xyz", 3);
    UT_OK(ud_free(r));
}

static void put_parts_with_empty_part(void) {
    int a = 1, b = 2;
    ud_part parts[3] = {{&a, sizeof a}, {&b, 0}, {&b, sizeof b}};
    ud_ref r;
    ud_view v;
    UT_REQUIRE_OK(ud_put_parts(parts, 3, &r));
    UT_REQUIRE_OK(ud_get(r, &v));
    UT_EQ_INT(v.nparts, 3);
    if (v.nparts == 3) {
        UT_EQ_INT(v.parts[1].size, 0);
        UT_EQ_INT(*(const int *)v.parts[2].data, 2);
    }
    UT_OK(ud_free(r));
}

static void task_reads_parts(void) {
    unsigned char a[5] = {1, 1, 1, 1, 1}, b[300];
    ud_part parts[2] = {{a, sizeof a}, {b, sizeof b}};
    ud_ref r, out;
    ud_view v;
    memset(b, 2, sizeof b);
    UT_REQUIRE_OK(ud_put_parts(parts, 2, &r));
    UT_REQUIRE_OK(ut_call_ref(f_describe, r, &out));
    UT_REQUIRE_OK(ud_get(out, &v));
    UT_REQUIRE(v.size == 8 * sizeof(int));
    {
        const int *d = (const int *)v.data;
        UT_EQ_INT(d[0], 2);
        UT_EQ_INT(d[1], 5);
        UT_EQ_INT(d[2], 300);
        UT_EQ_INT(d[7], 5 + 600);
    }
    UT_OK(ud_free(r));
    UT_OK(ud_free(out));
}

static void task_result_parts_stay_separate(void) {
    ud_ref r;
    ud_view v;
    unsigned char want[4 + 3 + 1000], got[sizeof want + 8];
    size_t size = 0;
    int k, seventy_seven = 77;
    UT_REQUIRE_OK(ud_remote(f_make_parts, NULL, 0, 1, &r));
    UT_REQUIRE_OK(ud_get(r, &v));
    UT_EQ_INT(v.nparts, 3);
    UT_REQUIRE(v.nparts == 3 && v.parts);
    for (k = 0; k < 3; k++) UT_EQ_INT(v.parts[k].size, part_sizes[k]);
    UT_EQ_INT(*(const int *)v.parts[0].data, 77);
    UT_EQ_MEM(v.parts[1].data, "abc", 3);
    UT_CHECK(v.data == v.parts[0].data && v.size == sizeof(int));
    memcpy(want, &seventy_seven, 4);
    memcpy(want + 4, "abc", 3);
    memset(want + 7, 0x5a, 1000);
    UT_OK(ud_get_copy(r, got, sizeof got, &size));
    UT_EQ_INT(size, sizeof want);
    UT_EQ_MEM(got, want, sizeof want);
    UT_OK(ud_free(r));
}

static void get_copy_sizes(void) {
    char text[] = "hello, world";
    char dst[64];
    size_t size = 0;
    ud_ref r;
    UT_REQUIRE_OK(ud_put(text, sizeof text, &r));
    memset(dst, 0, sizeof dst);
    UT_OK(ud_get_copy(r, dst, sizeof text, &size));
    UT_EQ_INT(size, sizeof text);
    UT_EQ_STR(dst, text);
    size = 0;
    UT_OK(ud_get_copy(r, dst, sizeof dst, &size));
    UT_EQ_INT(size, sizeof text);
    size = 0;
    UT_EQ_STATUS(ud_get_copy(r, dst, 4, &size), UD_ERR_SIZE);
    UT_EQ_INT(size, sizeof text);
    UT_CHECK(strlen(ud_last_error()) > 0);
    size = 0;
    UT_EQ_STATUS(ud_get_copy(r, dst, 0, &size), UD_ERR_SIZE);
    UT_EQ_INT(size, sizeof text);
    size = 0; /* asking for the size only */
    UT_EQ_STATUS(ud_get_copy(r, NULL, 0, &size), UD_ERR_SIZE);
    UT_EQ_INT(size, sizeof text);
    UT_OK(ud_free(r));
}

static void get_copy_of_parts(void) {
    ud_part parts[3] = {{"ab", 2}, {"cde", 3}, {"f", 1}};
    char dst[16];
    size_t size = 0;
    ud_ref r;
    UT_REQUIRE_OK(ud_put_parts(parts, 3, &r));
    memset(dst, 0, sizeof dst);
    UT_OK(ud_get_copy(r, dst, sizeof dst, &size));
    UT_EQ_INT(size, 6);
    UT_EQ_STR(dst, "abcdef");
    UT_EQ_STATUS(ud_get_copy(r, dst, 5, &size), UD_ERR_SIZE);
    UT_EQ_INT(size, 6);
    UT_OK(ud_free(r));
}

static void inline_args_copied_at_submit(void) {
    int a = 3, x = 4, b = 5;
    ud_ref ra = ut_put_int(a), rb = ut_put_int(b), out, outs2[2];
    ud_arg args[3];
    unsigned char *big = malloc(65536);
    long want = 0;
    int k;
    UT_REQUIRE(big);
    args[0] = ud_arg_ref(ra);
    args[1] = ud_arg_val(&x, sizeof x);
    args[2] = ud_arg_ref(rb);
    UT_REQUIRE_OK(ud_remote(f_axpb, args, 3, 1, &out));
    x = 1000;
    UT_EQ_INT(int_of(out), 3 * 4 + 5);
    for (k = 0; k < 65536; k++) want += big[k] = (unsigned char)(k % 251);
    args[0] = ud_arg_val(big, 65536);
    UT_OK(ud_remote(f_inline_sum, args, 1, 2, outs2));
    memset(big, 0, 65536);
    UT_EQ_INT(int_of(outs2[0]), want);
    UT_EQ_INT(int_of(outs2[1]), 65536);
    UT_OK(ud_free_many(outs2, 2));
    args[0] = ud_arg_val(NULL, 0);
    UT_OK(ud_remote(f_inline_sum, args, 1, 2, outs2));
    UT_EQ_INT(int_of(outs2[0]), 0);
    UT_EQ_INT(int_of(outs2[1]), 0);
    UT_OK(ud_free_many(outs2, 2));
    UT_OK(ud_free(ra));
    UT_OK(ud_free(rb));
    UT_OK(ud_free(out));
    free(big);
}

static void same_ref_twice(void) {
    ud_ref r = ut_put_int(21), rr[2], out;
    ud_arg args[2];
    ud_view v[2];
    rr[0] = rr[1] = r;
    UT_OK(ud_get_many(rr, 2, v));
    UT_CHECK(v[0].size == sizeof(int) && *(const int *)v[0].data == 21);
    UT_CHECK(v[1].size == sizeof(int) && *(const int *)v[1].data == 21);
    args[0] = args[1] = ud_arg_ref(r);
    UT_REQUIRE_OK(ud_remote(f_add2, args, 2, 1, &out));
    UT_EQ_INT(int_of(out), 42);
    /* The same for a result still being computed. */
    UT_REQUIRE_OK(ut_call_int(f_slow, 9, 1, &rr[0]));
    rr[1] = rr[0];
    UT_OK(ud_get_many(rr, 2, v));
    UT_CHECK(v[0].size == sizeof(int) && *(const int *)v[0].data == 9);
    UT_CHECK(v[1].size == sizeof(int) && *(const int *)v[1].data == 9);
    UT_OK(ud_free(rr[0]));
    UT_OK(ud_free(r));
    UT_OK(ud_free(out));
}

static void task_context(void) {
    ud_ref outs[3], r = ut_put_int(1);
    ud_arg args[2];
    ud_view v;
    int k;
    args[0] = ud_arg_ref(r);
    args[1] = ud_arg_val("x", 1);
    UT_REQUIRE_OK(ud_remote(f_user, args, 2, 3, outs));
    for (k = 0; k < 3; k++) {
        if (!UT_OK(ud_get(outs[k], &v)) || !UT_EQ_INT(v.size, 3 * sizeof(int))) continue;
        UT_EQ_INT(((const int *)v.data)[0], 1); /* ud_task_user is the registered pointer */
        UT_EQ_INT(((const int *)v.data)[1], 2);
        UT_EQ_INT(((const int *)v.data)[2], 3);
    }
    UT_OK(ud_free_many(outs, 3));
    UT_OK(ud_free(r));
}

static void func_ids(void) {
    UT_CHECK(ud_func_id("square") == f_square);
    UT_CHECK(ud_func_id("gate") == f_gate);
    UT_CHECK(f_square != f_gate && f_square != f_two);
    UT_CHECK(ud_func_id("square") != ud_func_id("squarE"));
}

/* A view stays valid until its ref is freed, however much the store grows meanwhile. */
static void view_survives_store_growth(void) {
    enum { N = 5000 };
    char text[100];
    ud_ref r, *many = malloc(N * sizeof *many);
    ud_view v;
    int k;
    UT_REQUIRE(many);
    memset(text, 'q', sizeof text);
    UT_REQUIRE_OK(ud_put(text, sizeof text, &r));
    UT_REQUIRE_OK(ud_get(r, &v));
    for (k = 0; k < N; k++) UT_OK(ud_put(&k, sizeof k, &many[k]));
    UT_EQ_INT(v.size, sizeof text);
    UT_EQ_MEM(v.data, text, sizeof text);
    UT_EQ_INT(int_of(many[N / 2]), N / 2);
    UT_OK(ud_free_many(many, N));
    UT_EQ_MEM(v.data, text, sizeof text);
    UT_OK(ud_free(r));
    free(many);
}

static void refs_are_distinct(void) {
    ud_ref a = ut_put_int(1), b = ut_put_int(1), c;
    UT_REQUIRE_OK(ut_call_ref(f_square, a, &c));
    UT_CHECK(a.num != b.num || a.owner != b.owner);
    UT_CHECK(c.num != b.num || c.owner != b.owner);
    UT_CHECK(c.num != a.num || c.owner != a.owner);
    UT_EQ_INT(a.owner, 0);
    UT_OK(ud_free(a));
    UT_OK(ud_free(b));
    UT_OK(ud_free(c));
}

static void register_all(void) {
    UT_OK(ud_register("square", square, NULL, &f_square));
    UT_OK(ud_register("x_and_square", x_and_square, NULL, &f_two));
    UT_OK(ud_register("add_to_counter", add_to_counter, NULL, &f_count));
    UT_OK(ud_register("slow_identity", slow_identity, NULL, &f_slow));
    UT_OK(ud_register("gate", gate, NULL, &f_gate));
    UT_OK(ud_register("empty", empty, NULL, &f_empty));
    UT_OK(ud_register("zero_size", zero_size, NULL, &f_zero_size));
    UT_OK(ud_register("describe", describe, NULL, &f_describe));
    UT_OK(ud_register("make_parts", make_parts, NULL, &f_make_parts));
    UT_OK(ud_register("axpb", axpb, NULL, &f_axpb));
    UT_OK(ud_register("add2", add2, NULL, &f_add2));
    UT_OK(ud_register("report_context", report_context, &user_token, &f_user));
    UT_OK(ud_register("inline_sum", inline_sum, NULL, &f_inline_sum));
}

int main(void) {
    ud_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.cpus = WORKERS;
    UT_RUN(register_all);
    UT_CASE("init") { UT_OK(ud_init(&cfg, &role)); }
    if (!ud_is_initialized()) return ut_finish();
    UT_RUN(runtime_started);
    UT_RUN(square_of_five);
    UT_RUN(one_put_ref_to_four_tasks);
    UT_RUN(get_many_keeps_order);
    UT_RUN(two_returns);
    UT_RUN(zero_returns_task_still_runs);
    UT_RUN(slow_ref_passed_to_dependent);
    UT_RUN(waiting_task_does_not_hold_a_worker);
    UT_RUN(empty_result);
    UT_RUN(zero_size_result);
    UT_RUN(put_copies);
    UT_RUN(put_empty);
    UT_RUN(put_parts_stay_separate);
    UT_RUN(put_parts_with_empty_part);
    UT_RUN(task_reads_parts);
    UT_RUN(task_result_parts_stay_separate);
    UT_RUN(get_copy_sizes);
    UT_RUN(get_copy_of_parts);
    UT_RUN(inline_args_copied_at_submit);
    UT_RUN(same_ref_twice);
    UT_RUN(task_context);
    UT_RUN(func_ids);
    UT_RUN(view_survives_store_growth);
    UT_RUN(refs_are_distinct);
    UT_CASE("shutdown") {
        UT_OK(ud_shutdown());
        UT_EQ_INT(ud_is_initialized(), 0);
    }
    return ut_finish();
}
