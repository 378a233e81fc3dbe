/* The behaviour list of the core, one program for every backend: put, remote, get, wait and
   every misuse, written so that it holds whether tasks run on threads of this process or in
   other processes. ut: mpi (tests/run.sh also builds it with mpicc -DUT_MPI and runs it under
   mpiexec; built with cc it runs on the threads backend).

   Tasks talk to the driver only through their arguments and results, or through files in a
   folder the driver makes and names in an inline argument (a gate polls for a file the driver
   creates; a task with no results leaves a file behind). Where a task ran comes back in its
   results (its worker, rank and thread), and so does when it ended: expectations about order
   follow from what the backends promise (wait lists the first completed first), whatever the
   number of workers, the task threads of each, and where the scheduler put the tasks. Times
   are CLOCK_MONOTONIC, which every process of one machine shares. */
#define UNIDIST_IMPLEMENTATION
#ifdef UT_MPI
#include "unidist_mpi.h"
#else
#include "unidist.h"
#endif
#include "ud_test.h"

#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>

#ifdef UT_MPI
#define BACKEND "mpi"
#else
#define BACKEND "threads"
#endif

static ud_func f_square, f_two, f_touch, f_square_touch, f_slow, f_fail_msg, f_fail_text, f_fail_rc,
    f_slow_fail, f_empty, f_zero_size, f_make_parts, f_describe, f_echo, f_whoami, f_read_where,
    f_timed, f_gate, f_probe;

static char tmpdir[256];
static ud_role role;

/* ---- where a task ran --------------------------------------------------------------------- */
typedef struct where {
    int64_t worker; /* ud_worker_id(): -1 outside a task */
    int64_t rank;
    int64_t thread; /* tells the threads of one process apart */
    double end;     /* when it was made, on CLOCK_MONOTONIC */
} where;

static _Thread_local char where_tag;

static where here(void) {
    where w;
    w.worker = ud_worker_id();
    w.rank = ud_rank();
    w.thread = (int64_t)(intptr_t)&where_tag;
    w.end = ut_now();
    return w;
}

static int same_worker(where a, where b) { return a.worker == b.worker && a.rank == b.rank; }

/* ---- a content pattern and a hash that see misplaced blocks ------------------------------- */
static uint64_t pattern_word(uint64_t k, uint64_t seed) {
    uint64_t x = (k + 1) * 0x9E3779B97F4A7C15ull ^ seed;
    x ^= x >> 31;
    return x * 0xBF58476D1CE4E5B9ull;
}

static void fill_pattern(unsigned char *p, size_t n, uint64_t seed) {
    size_t i;
    for (i = 0; i < n; i++) p[i] = (unsigned char)(pattern_word(i / 8, seed) >> (8 * (i % 8)));
}

/* Index of the first byte that is not the pattern, or n. */
static size_t check_pattern(const unsigned char *p, size_t n, uint64_t seed) {
    size_t i;
    for (i = 0; i < n; i++)
        if (p[i] != (unsigned char)(pattern_word(i / 8, seed) >> (8 * (i % 8)))) return i;
    return n;
}

static uint64_t fnv(const void *data, size_t n, uint64_t h) {
    const unsigned char *p = (const unsigned char *)data;
    size_t i;
    for (i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001B3ull;
    return h;
}

#define FNV_START 0xCBF29CE484222325ull

/* ---- task helpers ------------------------------------------------------------------------- */
static int arg_fixed(ud_task *t, int i, void *x, size_t size) {
    ud_view v;
    if (ud_task_arg(t, i, &v) != UD_OK || v.status != UD_OK || v.size != size) return 0;
    memcpy(x, v.data, size);
    return 1;
}

/* A NUL-terminated string argument (a path). */
static const char *arg_str(ud_task *t, int i) {
    ud_view v;
    if (ud_task_arg(t, i, &v) != UD_OK || v.size == 0 || ((const char *)v.data)[v.size - 1] != '\0')
        return NULL;
    return (const char *)v.data;
}

static int result_copy(ud_task *t, int i, const void *src, size_t size) {
    void *p = ud_task_result(t, i, size);
    if (!p) return ud_task_fail(t, "no memory for result %d", i);
    memcpy(p, src, size);
    return 0;
}

static int touch(const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) return 0;
    fputs("ran\n", f);
    return fclose(f) == 0;
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- tasks -------------------------------------------------------------------------------- */
static int square(ud_task *t) {
    int x, y;
    if (!arg_fixed(t, 0, &x, sizeof x)) return ud_task_fail(t, "square: argument 0 is not an int");
    y = x * x;
    return result_copy(t, 0, &y, sizeof y);
}

/* x, then x * x. */
static int two(ud_task *t) {
    int x, y;
    if (!arg_fixed(t, 0, &x, sizeof x)) return ud_task_fail(t, "two: argument 0 is not an int");
    y = x * x;
    if (result_copy(t, 0, &x, sizeof x)) return -1;
    return result_copy(t, 1, &y, sizeof y);
}

/* Creates the file its argument names: the side effect of a task nobody can get. */
static int touch_task(ud_task *t) {
    const char *path = arg_str(t, 0);
    if (!path) return ud_task_fail(t, "touch: argument 0 is not a path");
    return touch(path) ? 0 : ud_task_fail(t, "touch: cannot create %s", path);
}

/* square(argument 1), leaving argument 0's file behind as proof that it ran. */
static int square_touch(ud_task *t) {
    const char *path = arg_str(t, 0);
    int x, y;
    if (!path || !touch(path)) return ud_task_fail(t, "square_touch: no file");
    if (!arg_fixed(t, 1, &x, sizeof x)) return ud_task_fail(t, "square_touch: argument 1 is not an int");
    y = x * x;
    return result_copy(t, 0, &y, sizeof y);
}

/* slow(seconds, x): x after a sleep. */
static int slow(ud_task *t) {
    double s;
    int x;
    if (!arg_fixed(t, 0, &s, sizeof s) || !arg_fixed(t, 1, &x, sizeof x))
        return ud_task_fail(t, "slow: bad arguments");
    ut_sleep(s);
    return result_copy(t, 0, &x, sizeof x);
}

static int fail_msg(ud_task *t) {
    int x = -1;
    arg_fixed(t, 0, &x, sizeof x);
    return ud_task_fail(t, "boom %d", x);
}

/* Fails with argument 0 (a string) as its message. */
static int fail_text(ud_task *t) {
    const char *text = arg_str(t, 0);
    return ud_task_fail(t, "%s", text ? text : "fail_text: argument 0 is not a string");
}

static int fail_rc(ud_task *t) {
    (void)t;
    return 7;
}

static int slow_fail(ud_task *t) {
    double s = 0;
    arg_fixed(t, 0, &s, sizeof s);
    ut_sleep(s);
    return ud_task_fail(t, "slow failure after %.1f s", s);
}

static int empty(ud_task *t) {
    (void)t;
    return 0;
}

static int zero_size(ud_task *t) {
    return ud_task_result(t, 0, 0) ? 0 : ud_task_fail(t, "zero_size: NULL for 0 bytes");
}

/* make_parts(sizes as uint64_t[], seed): one result whose part k has sizes[k] bytes of the
   pattern seeded seed + k. */
static int make_parts(ud_task *t) {
    ud_view v;
    uint64_t seed, n64[16];
    size_t sizes[16];
    void *p[16];
    int k, n;
    if (ud_task_arg(t, 0, &v) != UD_OK || v.size % 8 || v.size / 8 > 16 ||
        !arg_fixed(t, 1, &seed, sizeof seed))
        return ud_task_fail(t, "make_parts: bad arguments");
    n = (int)(v.size / 8);
    memcpy(n64, v.data, v.size);
    for (k = 0; k < n; k++) sizes[k] = (size_t)n64[k];
    if (ud_task_result_parts(t, 0, sizes, n, p) != UD_OK) return ud_task_fail(t, "make_parts: no memory");
    for (k = 0; k < n; k++) {
        if (sizes[k] && (uintptr_t)p[k] % 16)
            return ud_task_fail(t, "make_parts: part %d of %zu bytes is not 16-byte aligned", k, sizes[k]);
        fill_pattern((unsigned char *)p[k], sizes[k], seed + (uint64_t)k);
    }
    return 0;
}

/* Whether every part of a view starts 8-byte aligned (the header's promise). */
static int view_aligned(const ud_view *v) {
    int k;
    for (k = 0; k < v->nparts; k++)
        if (v->parts[k].size && (uintptr_t)v->parts[k].data % 8) return 0;
    return 1;
}

/* Describes argument 0 as int64s: nparts, then (size, hash) of each part. */
static int describe(ud_task *t) {
    ud_view v;
    int64_t out[1 + 2 * 16];
    int k;
    if (ud_task_arg(t, 0, &v) != UD_OK || v.nparts > 16) return ud_task_fail(t, "describe: bad argument");
    out[0] = v.nparts;
    for (k = 0; k < v.nparts; k++) {
        out[1 + 2 * k] = (int64_t)v.parts[k].size;
        out[2 + 2 * k] = (int64_t)fnv(v.parts[k].data, v.parts[k].size, FNV_START);
    }
    return result_copy(t, 0, out, (size_t)(1 + 2 * v.nparts) * sizeof *out);
}

/* Returns argument 0 part by part. */
static int echo(ud_task *t) {
    ud_view v;
    size_t sizes[16];
    void *p[16];
    int k;
    if (ud_task_arg(t, 0, &v) != UD_OK || v.nparts > 16) return ud_task_fail(t, "echo: bad argument");
    if (!view_aligned(&v)) return ud_task_fail(t, "echo: a part of the argument is not 8-byte aligned");
    for (k = 0; k < v.nparts; k++) sizes[k] = v.parts[k].size;
    if (ud_task_result_parts(t, 0, sizes, v.nparts, p) != UD_OK) return ud_task_fail(t, "echo: no memory");
    for (k = 0; k < v.nparts; k++)
        if (sizes[k]) memcpy(p[k], v.parts[k].data, sizes[k]);
    return 0;
}

static int whoami(ud_task *t) {
    where w = here();
    return result_copy(t, 0, &w, sizeof w);
}

/* The where in argument 0 (another task's result), then its own. */
static int read_where(ud_task *t) {
    where w[2];
    if (!arg_fixed(t, 0, &w[0], sizeof w[0])) return ud_task_fail(t, "read_where: bad argument");
    w[1] = here();
    return result_copy(t, 0, w, sizeof w);
}

/* timed(seconds): sleeps, then says where it ran. */
static int timed(ud_task *t) {
    double s;
    where w;
    if (!arg_fixed(t, 0, &s, sizeof s)) return ud_task_fail(t, "timed: bad argument");
    ut_sleep(s);
    w = here();
    return result_copy(t, 0, &w, sizeof w);
}

/* Holds its worker until the file argument 0 names exists (60 s at most); result 1. */
static int gate(ud_task *t) {
    const char *path = arg_str(t, 0);
    double deadline = ut_now() + 60.0;
    int one = 1;
    if (!path) return ud_task_fail(t, "gate: argument 0 is not a path");
    while (!exists(path))
        if (ut_now() > deadline) return ud_task_fail(t, "gate: %s never appeared", path);
        else ut_sleep(0.002);
    return result_copy(t, 0, &one, sizeof one);
}

/* The blocking calls from inside a task, on the ref its argument holds (as bytes): one status
   each, then whether ud_last_error() was non-empty after each. */
enum { PR_GET, PR_GET_MANY, PR_GET_COPY, PR_WAIT, PR_SHUTDOWN, PR_COUNT };
static int probe(ud_task *t) {
    int32_t out[2 * PR_COUNT];
    ud_ref r;
    ud_view v;
    size_t size;
    char buf[8];
    int ready[1], nready, k;
    if (!arg_fixed(t, 0, &r, sizeof r)) return ud_task_fail(t, "probe: bad argument");
    for (k = 0; k < PR_COUNT; k++) {
        ud_status st = UD_OK;
        switch (k) {
        case PR_GET: st = ud_get(r, &v); break;
        case PR_GET_MANY: st = ud_get_many(&r, 1, &v); break;
        case PR_GET_COPY: st = ud_get_copy(r, buf, sizeof buf, &size); break;
        case PR_WAIT: st = ud_wait(&r, 1, 1, 1.0, ready, &nready); break;
        case PR_SHUTDOWN: st = ud_shutdown(); break;
        }
        if (st == UD_OK && k != PR_WAIT && k != PR_SHUTDOWN && /* the int 6 it holds */
            (k == PR_GET_COPY ? size != 4 || memcmp(buf, &(int){6}, 4)
                              : v.size != 4 || memcmp(v.data, &(int){6}, 4)))
            st = UD_ERR_INTERNAL;
        if (k == PR_WAIT && st == UD_OK && (nready != 1 || ready[0] != 0)) st = UD_ERR_INTERNAL;
        out[2 * k] = st;
        out[2 * k + 1] = ud_last_error() != NULL && ud_last_error()[0] != '\0';
    }
    return result_copy(t, 0, out, sizeof out);
}

/* ---- driver helpers ----------------------------------------------------------------------- */
static const ud_ref no_ref = {-77, -77};

static ud_ref put_int(int x) {
    ud_ref r = no_ref;
    UT_OK(ud_put(&x, sizeof x, &r));
    return r;
}

/* The int a ref holds, INT_MIN (and a failure) if it is not one. */
static int int_of(ud_ref r) {
    ud_view v;
    int x = INT_MIN;
    if (UT_OK(ud_get(r, &v)) && UT_EQ_INT(v.size, sizeof x) && UT_CHECK(v.data != NULL))
        memcpy(&x, v.data, sizeof x);
    return x;
}

static where where_of(ud_ref r) {
    ud_view v;
    where w = {-1, -1, -1, 0};
    if (UT_OK(ud_get(r, &v)) && UT_EQ_INT(v.size, sizeof w)) memcpy(&w, v.data, sizeof w);
    return w;
}

static ud_status call_ref(ud_func f, ud_ref r, int nret, ud_ref *outs) {
    ud_arg a = ud_arg_ref(r);
    return ud_remote(f, &a, 1, nret, outs);
}

static ud_status call_int(ud_func f, int x, int nret, ud_ref *outs) {
    ud_arg a = ud_arg_val(&x, sizeof x);
    return ud_remote(f, &a, 1, nret, outs);
}

static ud_status call_seconds(ud_func f, double s, ud_ref *out) {
    ud_arg a = ud_arg_val(&s, sizeof s);
    return ud_remote(f, &a, 1, 1, out);
}

static ud_status call_slow(double s, int x, ud_ref *out) {
    ud_arg a[2];
    a[0] = ud_arg_val(&s, sizeof s);
    a[1] = ud_arg_val(&x, sizeof x);
    return ud_remote(f_slow, a, 2, 1, out);
}

static ud_status call_path(ud_func f, const char *path, int nret, ud_ref *outs) {
    ud_arg a = ud_arg_val(path, strlen(path) + 1);
    return ud_remote(f, &a, 1, nret, outs);
}

static ud_status call_make_parts(const uint64_t *sizes, int n, uint64_t seed, ud_ref *out) {
    ud_arg a[2];
    a[0] = ud_arg_val(sizes, (size_t)n * sizeof *sizes);
    a[1] = ud_arg_val(&seed, sizeof seed);
    return ud_remote(f_make_parts, a, 2, 1, out);
}

/* A fresh path in the driver's folder. */
static const char *new_path(char *buf, size_t cap, const char *what) {
    static int n;
    snprintf(buf, cap, "%s/%s.%d", tmpdir, what, ++n);
    return buf;
}

/* The description describe() would give of a view. */
static int describe_view(const ud_view *v, int64_t *out) {
    int k;
    out[0] = v->nparts;
    for (k = 0; k < v->nparts && k < 16; k++) {
        out[1 + 2 * k] = (int64_t)v->parts[k].size;
        out[2 + 2 * k] = (int64_t)fnv(v->parts[k].data, v->parts[k].size, FNV_START);
    }
    return 1 + 2 * (v->nparts < 16 ? v->nparts : 16);
}

/* describe(r) on a worker agrees with the driver's own view of r. */
static void check_described(ud_ref r) {
    ud_ref d;
    ud_view v, dv;
    int64_t want[1 + 2 * 16];
    int n;
    if (!UT_OK(call_ref(f_describe, r, 1, &d))) return;
    if (UT_OK(ud_get(r, &v)) && UT_OK(ud_get(d, &dv))) {
        n = describe_view(&v, want);
        if (UT_EQ_INT(dv.size, (size_t)n * sizeof(int64_t))) UT_EQ_MEM(dv.data, want, dv.size);
    }
    UT_OK(ud_free(d));
}

/* The text of a failed view, bounded by its size (a missing NUL must not run on). */
static void view_text(const ud_view *v, char *buf, size_t cap) {
    size_t n = v->data ? strnlen((const char *)v->data, v->size) : 0;
    snprintf(buf, cap, "%.*s", (int)n, v->data ? (const char *)v->data : "");
}

/* r is a task's failure: get says UD_ERR_TASK with a message containing want, as v.size
   bytes of text and a NUL; msg gets it. */
static int expect_failure(ud_ref r, const char *want, char *msg, size_t cap) {
    ud_view v;
    char text[512];
    int ok;
    memset(&v, 0, sizeof v);
    ok = UT_EQ_STATUS(ud_get(r, &v), UD_ERR_TASK);
    ok &= UT_CONTAINS(ud_last_error(), want);
    ok &= UT_EQ_INT(v.status, UD_ERR_TASK);
    if (!UT_CHECK(v.data != NULL)) return 0;
    ok &= UT_EQ_INT(strnlen((const char *)v.data, v.size), v.size);
    if (!UT_CHECK(((const char *)v.data)[v.size] == '\0')) {
        UT_FAIL("the message of %zu bytes does not end with a NUL: byte %zu is 0x%02x", v.size,
                v.size, ((const unsigned char *)v.data)[v.size]);
        ok = 0;
    }
    view_text(&v, text, sizeof text);
    ok &= UT_CONTAINS(text, want);
    if (msg) view_text(&v, msg, cap);
    return ok;
}

/* ready[0..n) lists tasks in the order they completed, by the times they report: no task is
   listed after one that ended more than margin seconds later (the margin covers the report's
   own way to the driver). */
static int in_completion_order(const where *at, const int *ready, int n, double margin) {
    int i, j, ok = 1;
    for (i = 0; i < n; i++)
        for (j = i + 1; j < n; j++)
            if (at[ready[i]].end > at[ready[j]].end + margin) {
                UT_FAIL("ready[%d] = %d ended %.3f s after ready[%d] = %d", i, ready[i],
                        at[ready[i]].end - at[ready[j]].end, j, ready[j]);
                ok = 0;
            }
    return ok;
}

/* ---- before init (every process; the driver reports it once it knows it is the driver) ---- */
enum { BI_PUT, BI_GET, BI_REMOTE, BI_WAIT, BI_FREE, BI_SHUTDOWN, BI_INIT_NULL_ROLE, BI_COUNT };
static const char *const bi_names[BI_COUNT] = {"put", "get", "remote", "wait", "free", "shutdown",
                                               "init with a NULL role"};
static struct {
    int status[BI_COUNT], has_detail[BI_COUNT];
    int workers, initialized;
    char backend[16];
} before;

static void calls_before_init_record(void) {
    int x = 1, k, ready[1], nready;
    ud_ref r = {0, 1};
    ud_view v;
    ud_arg a = ud_arg_val(&x, sizeof x);
    for (k = 0; k < BI_COUNT; k++) {
        ud_status st = UD_OK;
        switch (k) {
        case BI_PUT: st = ud_put(&x, sizeof x, &r); break;
        case BI_GET: st = ud_get(r, &v); break;
        case BI_REMOTE: st = ud_remote(f_square, &a, 1, 1, &r); break;
        case BI_WAIT: st = ud_wait(&r, 1, 1, 0.1, ready, &nready); break;
        case BI_FREE: st = ud_free(r); break;
        case BI_SHUTDOWN: st = ud_shutdown(); break;
        case BI_INIT_NULL_ROLE: st = ud_init(NULL, NULL); break;
        }
        before.status[k] = st;
        before.has_detail[k] = ud_last_error() != NULL && ud_last_error()[0] != '\0';
    }
    before.workers = ud_num_workers();
    before.initialized = ud_is_initialized();
    snprintf(before.backend, sizeof before.backend, "%s", ud_backend_name());
}

static void calls_before_init(void) {
    int k;
    for (k = 0; k < BI_COUNT; k++) {
        int want = k == BI_INIT_NULL_ROLE ? UD_ERR_ARG : UD_ERR_STATE;
        if (!UT_EQ_STATUS(before.status[k], want)) UT_FAIL("  (%s before init)", bi_names[k]);
        if (!before.has_detail[k]) UT_FAIL("%s before init left ud_last_error() empty", bi_names[k]);
    }
    UT_EQ_INT(before.workers, 0);
    UT_EQ_INT(before.initialized, 0);
    UT_EQ_STR(before.backend, "none");
}

/* ---- the cases ---------------------------------------------------------------------------- */
static void runtime_started(void) {
    const char *cpus = getenv("UNIDIST_CPUS");
    int w;
    UT_EQ_INT(role, UD_ROLE_DRIVER);
    UT_EQ_INT(ud_is_initialized(), 1);
    UT_EQ_STR(ud_backend_name(), BACKEND);
    UT_EQ_INT(ud_rank(), 0);
    UT_CHECK(ud_num_workers() >= 1);
#ifdef UT_MPI
    {
        int size = 0;
        MPI_Comm_size(ud_mpi_comm(), &size);
        /* every rank but the driver, and the driver's last when it has task threads (its
           share of the cores, or UNIDIST_CPUS, less one for the program's thread) */
        UT_EQ_INT(ud_num_workers(), size - 1 + (ud_worker_rank(ud_num_workers() - 1) == 0));
        for (w = 0; w < ud_num_workers(); w++) {
            UT_EQ_INT(ud_worker_rank(w), (w + 1) % size);
            UT_CHECK(ud_worker_threads(w) >= 1);
            if (cpus && *cpus) UT_EQ_INT(ud_worker_threads(w), atoi(cpus) - (ud_worker_rank(w) == 0));
        }
        UT_EQ_INT(ud_worker_rank(ud_num_workers()), -1);
    }
#else
    if (cpus && *cpus) UT_EQ_INT(ud_num_workers(), atoi(cpus));
    for (w = 0; w < ud_num_workers(); w++) UT_EQ_INT(ud_worker_threads(w), 1);
#endif
    ut_note("backend %s, %d workers, %d task threads on worker 0", ud_backend_name(),
            ud_num_workers(), ud_worker_threads(0));
}

/* Tasks run on the workers (other processes under MPI, ud_worker_rank(w) for worker w: the
   driver's rank too when it has task threads), never on the driver's thread; a task pinned to a worker runs there, on each of them. */
static void tasks_run_on_workers(void) {
    int w = ud_num_workers(), n = 2 * w, i;
    ud_ref *refs = (ud_ref *)calloc((size_t)n, sizeof *refs);
    where *at = (where *)calloc((size_t)n, sizeof *at);
    UT_REQUIRE(refs && at);
    for (i = 0; i < n; i++) {
        ud_opts o = ud_on_worker(i % w);
        UT_REQUIRE_OK(i < w ? ud_remote_opts(&o, f_whoami, NULL, 0, 1, &refs[i])
                            : ud_remote(f_whoami, NULL, 0, 1, &refs[i]));
    }
    for (i = 0; i < n; i++) {
        at[i] = where_of(refs[i]);
        UT_CHECK(at[i].worker >= 0 && at[i].worker < w);
        if (i < w) UT_EQ_INT(at[i].worker, i);
#ifdef UT_MPI
        UT_EQ_INT(at[i].rank, ud_worker_rank((int)at[i].worker));
#else
        UT_EQ_INT(at[i].rank, 0);
        UT_CHECK(at[i].thread != here().thread); /* not the driver's thread */
#endif
    }
    UT_EQ_INT(ud_worker_id(), -1); /* the driver is no worker */
    UT_OK(ud_free_many(refs, n));
    free(refs);
    free(at);
}

static void square_of_five(void) {
    ud_ref r, out;
    ud_view v;
    UT_REQUIRE_OK(ud_put(&(int){5}, sizeof(int), &r));
    UT_REQUIRE_OK(call_ref(f_square, r, 1, &out));
    UT_EQ_INT(int_of(out), 25);
    if (UT_OK(ud_get(out, &v))) {
        UT_EQ_INT(v.status, UD_OK);
        UT_EQ_INT(v.nparts, 1);
        UT_CHECK(v.parts && v.parts[0].data == v.data && v.parts[0].size == v.size);
    }
    UT_EQ_INT(int_of(r), 5);
    UT_OK(ud_free(r));
    UT_OK(ud_free(out));
}

static void one_put_ref_to_four_tasks(void) {
    ud_ref r = put_int(6), outs[4], rev[4];
    ud_view v[4];
    int k;
    for (k = 0; k < 4; k++) UT_REQUIRE_OK(call_ref(f_square, r, 1, &outs[k]));
    if (UT_OK(ud_get_many(outs, 4, v)))
        for (k = 0; k < 4; k++)
            UT_CHECK(v[k].status == UD_OK && v[k].size == sizeof(int) && *(const int *)v[k].data == 36);
    for (k = 0; k < 4; k++) UT_EQ_INT(int_of(outs[k]), 36);
    UT_EQ_INT(int_of(r), 6);
    UT_OK(ud_free_many(outs, 4));
    /* order kept: 0, 1, 4, 9 asked for backwards comes back backwards */
    for (k = 0; k < 4; k++) UT_REQUIRE_OK(call_int(f_square, k, 1, &outs[k]));
    for (k = 0; k < 4; k++) rev[k] = outs[3 - k];
    if (UT_OK(ud_get_many(rev, 4, v)))
        for (k = 0; k < 4; k++)
            UT_CHECK(v[k].size == sizeof(int) && *(const int *)v[k].data == (3 - k) * (3 - k));
    if (UT_OK(ud_get_many(outs, 4, v)))
        for (k = 0; k < 4; k++) UT_CHECK(v[k].size == sizeof(int) && *(const int *)v[k].data == k * k);
    UT_OK(ud_free_many(outs, 4));
    UT_OK(ud_free(r));
}

static void get_many_keeps_order(void) {
    enum { N = 24 };
    ud_ref in[N], out[N], mixed[2 * N];
    ud_view v[2 * N];
    int k;
    for (k = 0; k < N; k++) {
        in[k] = put_int(k);
        UT_REQUIRE_OK(call_ref(f_square, in[k], 1, &out[k]));
    }
    for (k = 0; k < N; k++) { /* puts and results, interleaved, results backwards */
        mixed[2 * k] = in[k];
        mixed[2 * k + 1] = out[N - 1 - k];
    }
    if (UT_OK(ud_get_many(mixed, 2 * N, v)))
        for (k = 0; k < N; k++) {
            UT_CHECK(v[2 * k].size == sizeof(int) && *(const int *)v[2 * k].data == k);
            UT_CHECK(v[2 * k + 1].size == sizeof(int) &&
                     *(const int *)v[2 * k + 1].data == (N - 1 - k) * (N - 1 - k));
        }
    UT_OK(ud_free_many(in, N));
    UT_OK(ud_free_many(out, N));
}

static void two_returns(void) {
    ud_ref outs[3] = {no_ref, no_ref, no_ref};
    UT_REQUIRE_OK(call_int(f_two, 5, 2, outs));
    UT_CHECK(outs[0].num != outs[1].num || outs[0].owner != outs[1].owner);
    UT_CHECK(outs[2].num == no_ref.num && outs[2].owner == no_ref.owner); /* only two written */
    UT_EQ_INT(int_of(outs[0]), 5);
    UT_EQ_INT(int_of(outs[1]), 25);
    UT_OK(ud_free_many(outs, 2));
}

static void zero_returns_task_still_runs(void) {
    char p1[300], p2[300];
    ud_ref sentinel = no_ref;
    new_path(p1, sizeof p1, "zero_returns");
    new_path(p2, sizeof p2, "zero_returns");
    UT_OK(call_path(f_touch, p1, 0, NULL));
    UT_OK(call_path(f_touch, p2, 0, &sentinel));
    UT_CHECK(sentinel.owner == no_ref.owner && sentinel.num == no_ref.num); /* no ref written */
    UT_EVENTUALLY(exists(p1) && exists(p2), 60.0);
}

/* The driver does nothing but look for the file: the task must still reach its worker with an
   argument too large to travel inside the task's own message. */
static void zero_returns_task_with_large_argument(void) {
    enum { BIG = 1 << 20 };
    char path[300], *buf = (char *)malloc(BIG);
    ud_arg a;
    UT_REQUIRE(buf != NULL);
    new_path(path, sizeof path, "zero_returns_big");
    memset(buf, 'x', BIG); /* the path, its NUL, then padding up to a NUL at the end */
    memcpy(buf, path, strlen(path) + 1);
    buf[BIG - 1] = '\0';
    a = ud_arg_val(buf, BIG);
    UT_OK(ud_remote(f_touch, &a, 1, 0, NULL));
    free(buf);
    if (!UT_EVENTUALLY(exists(path), 20.0)) { /* tell a stalled send from a lost task */
        double deadline = ut_now() + 20.0;
        ud_ref r;
        while (!exists(path) && ut_now() < deadline) {
            if (ud_put(NULL, 0, &r) == UD_OK) ud_free(r);
            ut_sleep(0.01);
        }
        UT_FAIL(exists(path) ? "the task ran only once the driver called into the runtime again"
                             : "the task did not run even while the driver called into the runtime");
    }
}

static void slow_ref_passed_to_dependent(void) {
    ud_ref s, dep;
    double t0 = ut_now();
    UT_REQUIRE_OK(call_slow(0.5, 5, &s));
    UT_REQUIRE_OK(call_ref(f_square, s, 1, &dep));
    UT_EQ_INT(int_of(dep), 25);
    UT_CHECK(ut_now() - t0 >= 0.45); /* it did wait for the slow one */
    UT_EQ_INT(int_of(s), 5);
    UT_OK(ud_free(s));
    UT_OK(ud_free(dep));
}

static void task_error_reaches_get(void) {
    ud_ref r, rc;
    char first[256], second[256];
    char buf[64];
    size_t size = 0;
    ud_view v[3];
    ud_ref trio[3];
    UT_REQUIRE_OK(call_int(f_fail_msg, 42, 1, &r));
    expect_failure(r, "boom 42", first, sizeof first);
    expect_failure(r, "boom 42", second, sizeof second);
    UT_EQ_STR(second, first);
    UT_EQ_STATUS(ud_get_copy(r, buf, sizeof buf, &size), UD_ERR_TASK);
    UT_CONTAINS(ud_last_error(), "boom 42");
    /* get_many: the first failure, every view filled */
    trio[0] = put_int(1);
    trio[1] = r;
    trio[2] = put_int(2);
    memset(v, 0, sizeof v);
    UT_EQ_STATUS(ud_get_many(trio, 3, v), UD_ERR_TASK);
    UT_CHECK(v[0].status == UD_OK && v[0].size == sizeof(int) && *(const int *)v[0].data == 1);
    UT_EQ_INT(v[1].status, UD_ERR_TASK);
    view_text(&v[1], buf, sizeof buf);
    UT_CONTAINS(buf, "boom 42");
    UT_CHECK(v[2].status == UD_OK && v[2].size == sizeof(int) && *(const int *)v[2].data == 2);
    UT_OK(ud_free(trio[0]));
    UT_OK(ud_free(trio[2]));
    /* a task that returns non-zero fails too, with some message */
    UT_REQUIRE_OK(ud_remote(f_fail_rc, NULL, 0, 1, &rc));
    expect_failure(rc, "", first, sizeof first);
    UT_CHECK(first[0] != '\0');
    expect_failure(rc, "", second, sizeof second);
    UT_EQ_STR(second, first);
    UT_OK(ud_free(rc));
    UT_OK(ud_free(r));
}

/* Messages of every length from 1 to 64 bytes come back whole, as text with its NUL, to the
   driver and through a task that depends on them. */
static void failure_messages_of_every_length(void) {
    enum { N = 64 };
    ud_ref bad[N], dep[N];
    char want[N + 1], got[256];
    int len, k;
    for (len = 1; len <= N; len++) {
        for (k = 0; k < len; k++) want[k] = (char)('a' + (len + k) % 26);
        want[len] = '\0';
        UT_REQUIRE_OK(call_path(f_fail_text, want, 1, &bad[len - 1]));
        UT_REQUIRE_OK(call_ref(f_square, bad[len - 1], 1, &dep[len - 1]));
    }
    for (len = 1; len <= N; len++) {
        for (k = 0; k < len; k++) want[k] = (char)('a' + (len + k) % 26);
        want[len] = '\0';
        if (expect_failure(bad[len - 1], want, got, sizeof got)) UT_EQ_STR(got, want);
        if (expect_failure(dep[len - 1], want, got, sizeof got)) UT_EQ_STR(got, want);
    }
    UT_OK(ud_free_many(bad, N));
    UT_OK(ud_free_many(dep, N));
}

/* A task on a failed ref does not run (no file) and fails with the same message, whether the
   failure is known at submit or still on its way; so does a task on that task's result. */
static void dependent_task_fails_with_same_message(void) {
    int pending;
    for (pending = 0; pending < 2; pending++) {
        ud_ref bad, dep, dep2, ok = put_int(3), mixed;
        ud_arg args[2];
        char orig[256], got[256], path[300];
        new_path(path, sizeof path, "dependent");
        if (pending) UT_REQUIRE_OK(call_seconds(f_slow_fail, 0.3, &bad));
        else {
            UT_REQUIRE_OK(call_int(f_fail_msg, 9, 1, &bad));
            expect_failure(bad, "boom 9", orig, sizeof orig); /* known at the driver */
        }
        args[0] = ud_arg_val(path, strlen(path) + 1);
        args[1] = ud_arg_ref(bad);
        UT_REQUIRE_OK(ud_remote(f_square_touch, args, 2, 1, &dep));
        UT_REQUIRE_OK(call_ref(f_square, dep, 1, &dep2));
        args[1] = ud_arg_ref(ok);
        args[0] = ud_arg_ref(bad);
        UT_REQUIRE_OK(ud_remote(f_square_touch, args, 2, 1, &mixed)); /* arg 0 fails first */
        expect_failure(dep2, pending ? "slow failure" : "boom 9", got, sizeof got);
        expect_failure(bad, pending ? "slow failure" : "boom 9", orig, sizeof orig);
        UT_EQ_STR(got, orig);
        expect_failure(dep, "", got, sizeof got);
        UT_EQ_STR(got, orig);
        expect_failure(mixed, "", got, sizeof got);
        UT_EQ_STR(got, orig);
        UT_CHECK(!exists(path)); /* the dependent never ran */
        UT_EQ_INT(int_of(ok), 3);
        UT_OK(ud_free(bad));
        UT_OK(ud_free(dep));
        UT_OK(ud_free(dep2));
        UT_OK(ud_free(ok));
        UT_OK(ud_free(mixed));
    }
}

static void wait_counts_failed_as_done(void) {
    ud_ref refs[2];
    int ready[2] = {-1, -1}, nready = -1;
    UT_REQUIRE_OK(call_seconds(f_slow_fail, 0.3, &refs[0]));
    UT_OK(ud_wait(refs, 1, 1, 60.0, ready, &nready));
    UT_EQ_INT(nready, 1);
    UT_EQ_INT(ready[0], 0);
    UT_REQUIRE_OK(call_int(f_fail_msg, 1, 1, &refs[1]));
    UT_OK(ud_wait(refs, 2, 2, -1.0, ready, &nready));
    UT_EQ_INT(nready, 2);
    UT_CHECK((ready[0] == 0 && ready[1] == 1) || (ready[0] == 1 && ready[1] == 0));
    expect_failure(refs[0], "slow failure", NULL, 0);
    UT_OK(ud_free_many(refs, 2));
}

static void empty_result(void) {
    ud_ref r;
    ud_view v;
    size_t size = 99;
    char dst[4];
    UT_REQUIRE_OK(ud_remote(f_empty, NULL, 0, 1, &r));
    if (UT_OK(ud_get(r, &v))) {
        UT_EQ_INT(v.status, UD_OK);
        UT_EQ_INT(v.nparts, 0);
        UT_EQ_INT(v.size, 0);
        UT_CHECK(v.data != NULL);
    }
    UT_OK(ud_get_copy(r, dst, sizeof dst, &size));
    UT_EQ_INT(size, 0);
    check_described(r); /* and a task reading it sees it empty too */
    UT_OK(ud_free(r));
}

static void zero_size_result(void) {
    ud_ref r;
    ud_view v;
    UT_REQUIRE_OK(ud_remote(f_zero_size, NULL, 0, 1, &r));
    if (UT_OK(ud_get(r, &v))) {
        UT_EQ_INT(v.status, UD_OK);
        UT_EQ_INT(v.size, 0);
        UT_EQ_INT(v.nparts, 1);
        UT_CHECK(v.data != NULL);
    }
    check_described(r);
    UT_OK(ud_free(r));
}

/* Changing the source after put changes nothing, for the driver and for a task. */
static void put_copies(void) {
    enum { BIG = 1 << 20 };
    int x = 11;
    unsigned char *buf = (unsigned char *)malloc(BIG);
    ud_ref r, rb, sq, echoed;
    ud_view v;
    UT_REQUIRE(buf != NULL);
    fill_pattern(buf, BIG, 5);
    UT_OK(ud_put(&x, sizeof x, &r));
    UT_OK(ud_put(buf, BIG, &rb));
    x = 12;
    memset(buf, 0, BIG);
    UT_REQUIRE_OK(call_ref(f_square, r, 1, &sq));
    UT_REQUIRE_OK(call_ref(f_echo, rb, 1, &echoed));
    UT_EQ_INT(int_of(r), 11);
    UT_EQ_INT(int_of(sq), 121);
    if (UT_OK(ud_get(rb, &v)) && UT_EQ_INT(v.size, BIG)) {
        UT_EQ_INT(check_pattern((const unsigned char *)v.data, BIG, 5), BIG);
        UT_CHECK(v.data != buf);
    }
    if (UT_OK(ud_get(echoed, &v)) && UT_EQ_INT(v.size, BIG))
        UT_EQ_INT(check_pattern((const unsigned char *)v.data, BIG, 5), BIG);
    UT_OK(ud_free(r));
    UT_OK(ud_free(rb));
    UT_OK(ud_free(sq));
    UT_OK(ud_free(echoed));
    free(buf);
}

/* An inline value is copied when the task is submitted. */
static void inline_args_copied_at_submit(void) {
    enum { BIG = 100000 };
    int x = 4;
    unsigned char *buf = (unsigned char *)malloc(BIG);
    ud_arg a;
    ud_ref sq, echoed;
    ud_view v;
    UT_REQUIRE(buf != NULL);
    a = ud_arg_val(&x, sizeof x);
    UT_REQUIRE_OK(ud_remote(f_square, &a, 1, 1, &sq));
    x = 100;
    fill_pattern(buf, BIG, 9);
    a = ud_arg_val(buf, BIG);
    UT_REQUIRE_OK(ud_remote(f_echo, &a, 1, 1, &echoed));
    memset(buf, 0, BIG);
    UT_EQ_INT(int_of(sq), 16);
    if (UT_OK(ud_get(echoed, &v)) && UT_EQ_INT(v.size, BIG))
        UT_EQ_INT(check_pattern((const unsigned char *)v.data, BIG, 9), BIG);
    UT_OK(ud_free(sq));
    UT_OK(ud_free(echoed));
    free(buf);
}

/* Checks that v has the parts of make_parts(sizes, seed). */
static void check_parts(const ud_view *v, const uint64_t *sizes, int n, uint64_t seed) {
    int k;
    if (!UT_EQ_INT(v->status, UD_OK) || !UT_EQ_INT(v->nparts, n) || !UT_CHECK(v->parts != NULL)) return;
    UT_CHECK(v->data == v->parts[0].data && v->size == v->parts[0].size);
    UT_CHECK(view_aligned(v));
    for (k = 0; k < n; k++) {
        if (!UT_EQ_INT(v->parts[k].size, sizes[k])) continue;
        UT_CHECK(v->parts[k].data != NULL);
        UT_EQ_INT(check_pattern((const unsigned char *)v->parts[k].data, (size_t)sizes[k],
                                seed + (uint64_t)k),
                  sizes[k]);
    }
}

static void put_parts_keep_their_parts(void) {
    static const uint64_t sizes[4] = {24, 0, 3, 5000};
    unsigned char *bufs[4];
    ud_part parts[4];
    ud_ref r, echoed;
    ud_view v;
    int k;
    for (k = 0; k < 4; k++) {
        bufs[k] = (unsigned char *)malloc((size_t)sizes[k] + 1);
        UT_REQUIRE(bufs[k] != NULL);
        fill_pattern(bufs[k], (size_t)sizes[k], 30 + (uint64_t)k);
        parts[k].data = bufs[k];
        parts[k].size = (size_t)sizes[k];
    }
    UT_REQUIRE_OK(ud_put_parts(parts, 4, &r));
    for (k = 0; k < 4; k++) memset(bufs[k], 0xEE, (size_t)sizes[k] + 1);
    if (UT_OK(ud_get(r, &v))) check_parts(&v, sizes, 4, 30);
    check_described(r);
    UT_REQUIRE_OK(call_ref(f_echo, r, 1, &echoed));
    if (UT_OK(ud_get(echoed, &v))) check_parts(&v, sizes, 4, 30);
    UT_OK(ud_free(r));
    UT_OK(ud_free(echoed));
    for (k = 0; k < 4; k++) free(bufs[k]);
}

static void result_parts_keep_their_parts(void) {
    static const uint64_t sizes[5] = {4, 3, 0, 1000, 40000};
    ud_ref r, echoed;
    ud_view v;
    UT_REQUIRE_OK(call_make_parts(sizes, 5, 70, &r));
    if (UT_OK(ud_get(r, &v))) check_parts(&v, sizes, 5, 70);
    check_described(r);
    UT_REQUIRE_OK(call_ref(f_echo, r, 1, &echoed)); /* a result read by another task */
    if (UT_OK(ud_get(echoed, &v))) check_parts(&v, sizes, 5, 70);
    UT_OK(ud_free(r));
    UT_OK(ud_free(echoed));
}

/* Parts of odd sizes, inline, on their own and in the shared store: a task's result buffers
   are 16-byte aligned, and every view of them (the driver's, another task's) 8-byte aligned. */
static void parts_of_odd_sizes_are_aligned(void) {
    static const uint64_t sizes[7] = {1, 13, 3, 1001, 40001, 5, 150001};
    ud_ref r, echoed;
    ud_view v;
    UT_REQUIRE_OK(call_make_parts(sizes, 7, 33, &r));
    if (UT_OK(ud_get(r, &v))) check_parts(&v, sizes, 7, 33);
    UT_REQUIRE_OK(call_ref(f_echo, r, 1, &echoed));
    if (UT_OK(ud_get(echoed, &v))) check_parts(&v, sizes, 7, 33);
    UT_OK(ud_free(r));
    UT_OK(ud_free(echoed));
}

/* get_copy concatenates the parts; a buffer too small is UD_ERR_SIZE with the size set. */
static void get_copy_and_its_sizes(void) {
    static const uint64_t sizes[3] = {5, 0, 300};
    unsigned char want[305], got[400];
    size_t size;
    ud_ref r, p;
    int x = 77;
    UT_REQUIRE_OK(call_make_parts(sizes, 3, 90, &r));
    fill_pattern(want, 5, 90);
    fill_pattern(want + 5, 300, 92);
    memset(got, 0, sizeof got);
    size = 0;
    UT_OK(ud_get_copy(r, got, sizeof got, &size));
    UT_EQ_INT(size, 305);
    UT_EQ_MEM(got, want, 305);
    memset(got, 0, sizeof got);
    size = 0;
    UT_OK(ud_get_copy(r, got, 305, &size)); /* exactly enough */
    UT_EQ_INT(size, 305);
    UT_EQ_MEM(got, want, 305);
    size = 0;
    UT_MISUSE(ud_get_copy(r, got, 304, &size), UD_ERR_SIZE, "get_copy: the object has 305 bytes, the buffer 304");
    UT_EQ_INT(size, 305);
    size = 0;
    UT_MISUSE(ud_get_copy(r, NULL, 0, &size), UD_ERR_SIZE, "get_copy: the object has 305 bytes, the buffer 0");
    UT_EQ_INT(size, 305);
    UT_REQUIRE_OK(ud_put(&x, sizeof x, &p));
    size = 0;
    UT_MISUSE(ud_get_copy(p, got, 3, &size), UD_ERR_SIZE, "get_copy: the object has 4 bytes, the buffer 3");
    UT_EQ_INT(size, sizeof x);
    UT_OK(ud_get_copy(p, got, sizeof x, &size));
    UT_EQ_MEM(got, &x, sizeof x);
    UT_OK(ud_free(r));
    UT_OK(ud_free(p));
}

/* wait([slow, fast], num_returns 1) gives the one that finished first: the fast one, unless
   it had to wait for the slow one's thread. */
static void wait_slow_fast(void) {
    double secs[2] = {2.0, 0.0};
    ud_ref refs[2];
    where at[2];
    int ready[2] = {-1, -1}, nready = -1;
    double t0 = ut_now(), took;
    UT_REQUIRE_OK(call_seconds(f_timed, secs[0], &refs[0]));
    UT_REQUIRE_OK(call_seconds(f_timed, secs[1], &refs[1]));
    UT_OK(ud_wait(refs, 2, 1, 60.0, ready, &nready));
    took = ut_now() - t0;
    UT_EQ_INT(nready, 1);
    at[0] = where_of(refs[0]);
    at[1] = where_of(refs[1]);
    UT_EQ_INT(ready[0], at[1].end < at[0].end ? 1 : 0);
    if (ready[0] == 1 && !(t0 + took < at[0].end)) /* it did not wait for the slow one */
        UT_FAIL("the wait returned %.3f s after the slow task's end", t0 + took - at[0].end);
    UT_OK(ud_free_many(refs, 2));
}

/* One worker, a task of no time then one of 2 s: the first is reported before the second
   ends, though the second holds the worker's only thread (or one of them). */
static void done_reported_while_the_next_runs(void) {
    double secs[2] = {0.0, 2.0}, t0 = ut_now(), took;
    where second;
    ud_opts on0 = ud_on_worker(0);
    ud_ref refs[2];
    int ready[2] = {-1, -1}, nready = -1, k;
    for (k = 0; k < 2; k++) {
        ud_arg a = ud_arg_val(&secs[k], sizeof secs[k]);
        UT_REQUIRE_OK(ud_remote_opts(&on0, f_timed, &a, 1, 1, &refs[k]));
    }
    UT_OK(ud_wait(refs, 2, 1, 60.0, ready, &nready));
    took = ut_now() - t0;
    UT_EQ_INT(nready, 1);
    UT_EQ_INT(ready[0], 0);
    ut_note("the first of two came back after %.3f s", took);
    UT_OK(ud_wait(refs, 2, 2, 60.0, ready, &nready)); /* the next case needs worker 0 idle */
    second = where_of(refs[1]);
    if (!(t0 + took < second.end))
        UT_FAIL("the first came back %.3f s after the second's end", t0 + took - second.end);
    UT_OK(ud_free_many(refs, 2));
}

/* A task that blocks for 2 s on a thread of worker 0 delays nothing else: the GETs that worker
   serves (its result, got by the driver and read by a task elsewhere), its other task threads,
   and the report of a task that finished meanwhile; each is done before the blocked task
   ends (held behind it, each would come after). */
static void a_blocked_thread_delays_nothing(void) {
    int w = ud_num_workers(), k, ready[2] = {-1, -1}, nready = -1;
    double two = 2.0, fifth = 0.2, t0, got_at, read_at = 0, back = 0;
    ud_opts on0 = ud_on_worker(0), other = ud_on_worker(ud_worker_threads(0) >= 2 ? 0 : w - 1);
    ud_ref made, pair[2], read;
    ud_arg a = ud_arg_val(&two, sizeof two);
    where at;
    UT_REQUIRE_OK(ud_remote_opts(&on0, f_whoami, NULL, 0, 1, &made));
    UT_OK(ud_wait(&made, 1, 1, 60.0, ready, &nready));
    UT_REQUIRE_OK(ud_remote_opts(&on0, f_timed, &a, 1, 1, &pair[0]));
    ut_sleep(0.1); /* it holds a thread of worker 0 now */
    t0 = ut_now();
    at = where_of(made);
    UT_EQ_INT(at.worker, 0);
    got_at = ut_now();
    ut_note("got worker 0's result after %.3f s while its task sleeps", got_at - t0);
    if (w >= 2 || ud_worker_threads(0) >= 2) {
        a = ud_arg_ref(made);
        t0 = ut_now();
        UT_REQUIRE_OK(ud_remote_opts(&other, f_read_where, &a, 1, 1, &read));
        UT_OK(ud_wait(&read, 1, 1, 60.0, ready, &nready));
        read_at = ut_now();
        ut_note("a task on worker %d read it after %.3f s", other.index, read_at - t0);
        UT_OK(ud_free(read));
        a = ud_arg_val(&fifth, sizeof fifth);
        UT_REQUIRE_OK(ud_remote_opts(&other, f_timed, &a, 1, 1, &pair[1]));
        UT_OK(ud_wait(pair, 2, 1, 60.0, ready, &nready));
        back = ut_now();
        UT_EQ_INT(nready, 1);
        UT_EQ_INT(ready[0], 1);
        at = where_of(pair[1]);
        ut_note("a 0.2 s task on worker %d was reported %.1f ms after its end", other.index,
                1e3 * (back - at.end));
        UT_OK(ud_free(pair[1]));
    } else {
        ut_note("one worker of one thread: nothing else can run while it blocks");
    }
    UT_OK(ud_wait(pair, 1, 1, 60.0, ready, &nready));
    at = where_of(pair[0]);
    if (!(got_at < at.end)) UT_FAIL("the get ended %.3f s after the blocked task", got_at - at.end);
    if (read_at && !(read_at < at.end)) UT_FAIL("the read ended %.3f s after the blocked task", read_at - at.end);
    if (back && !(back < at.end)) UT_FAIL("the report came %.3f s after the blocked task's end", back - at.end);
    for (k = 0; k < 1; k++) UT_OK(ud_free(pair[k]));
    UT_OK(ud_free(made));
}

/* ready[] lists the first completed first: before the driver has any of the results, and
   still after it got them in another order; wherever the tasks ran, and on one worker. The
   tasks' lengths and the margin for a report's way to the driver grow with the time slack. */
static void wait_order_is_completion_order(void) {
    enum { N = 6 };
    double slack = ut_time_slack(), secs[N] = {0.6, 0.1, 0.4, 0.2, 0.5, 0.3};
    ud_ref refs[N];
    where at[N];
    int ready[N], nready, k, pass;
    for (k = 0; k < N; k++) secs[k] *= slack;
    for (pass = 0; pass < 2; pass++) {
        ud_opts o = ud_on_worker(ud_num_workers() - 1);
        for (k = 0; k < N; k++) {
            ud_arg a = ud_arg_val(&secs[k], sizeof secs[k]);
            UT_REQUIRE_OK(ud_remote_opts(pass ? &o : NULL, f_timed, &a, 1, 1, &refs[k]));
        }
        for (k = 0; k < N; k++) ready[k] = -1;
        UT_OK(ud_wait(refs, N, N, 60.0, ready, &nready));
        UT_EQ_INT(nready, N);
        for (k = 0; k < N; k++) at[k] = where_of(refs[k]);
        ut_note("%s: ready %d %d %d %d %d %d", pass ? "one worker" : "anywhere", ready[0], ready[1],
                ready[2], ready[3], ready[4], ready[5]);
        in_completion_order(at, ready, N, 0.03 * slack);
        /* the driver has every result now, fetched in index order: the same order again */
        {
            int again[N];
            UT_OK(ud_wait(refs, N, N, 60.0, again, &nready));
            UT_EQ_INT(nready, N);
            UT_EQ_MEM(again, ready, sizeof again);
            UT_OK(ud_wait(refs, N, 1, 60.0, again, &nready));
            UT_EQ_INT(nready, 1);
            UT_EQ_INT(again[0], ready[0]);
        }
        UT_OK(ud_free_many(refs, N));
    }
}

/* A gate that is never opened in time: the wait times out, says how many were done, and
   comes back around the time asked for; num_returns 0 never waits. */
static void wait_timeout(void) {
    char path[300];
    ud_ref refs[2];
    int ready[2] = {-1, -1}, nready = -1;
    double t0, took;
    new_path(path, sizeof path, "gate");
    UT_REQUIRE_OK(call_path(f_gate, path, 1, &refs[0]));
    t0 = ut_now();
    UT_EQ_STATUS(ud_wait(refs, 1, 1, 0.3, ready, &nready), UD_ERR_TIMEOUT);
    took = ut_now() - t0;
    UT_CHECK(ud_last_error()[0] != '\0');
    UT_EQ_INT(nready, 0);
    UT_CHECK(took >= 0.29);
    UT_CHECK(took < 10.0);
    ut_note("a 0.3 s wait took %.3f s", took);
    refs[1] = put_int(8);
    t0 = ut_now();
    UT_EQ_STATUS(ud_wait(refs, 2, 2, 0.2, ready, &nready), UD_ERR_TIMEOUT);
    took = ut_now() - t0;
    UT_EQ_INT(nready, 1);
    UT_EQ_INT(ready[0], 1);
    UT_CHECK(took >= 0.19 && took < 10.0);
    UT_EQ_STATUS(ud_wait(refs, 1, 1, 0.0, ready, &nready), UD_ERR_TIMEOUT); /* a poll */
    UT_EQ_INT(nready, 0);
    ready[0] = -1;
    UT_OK(ud_wait(refs, 2, 1, 0.2, ready, &nready));
    UT_EQ_INT(nready, 1);
    UT_EQ_INT(ready[0], 1);
    /* num_returns 0: done at once, even with no limit and a ref that is not ready */
    t0 = ut_now();
    nready = -1;
    UT_OK(ud_wait(refs, 2, 0, -1.0, NULL, &nready));
    UT_EQ_INT(nready, 0);
    UT_OK(ud_wait(refs, 2, 0, -1.0, ready, &nready));
    UT_EQ_INT(nready, 0);
    UT_CHECK(ut_now() - t0 < 10.0);
    /* open the gate: now both */
    UT_CHECK(touch(path));
    UT_OK(ud_wait(refs, 2, 2, 60.0, ready, &nready));
    UT_EQ_INT(nready, 2);
    UT_CHECK(ready[0] == 1 && ready[1] == 0); /* the put was done first */
    UT_EQ_INT(int_of(refs[0]), 1);
    UT_OK(ud_free_many(refs, 2));
}

/* get of [r, r]: the same object twice, for a put, a finished result and one still coming. */
static void get_same_ref_twice(void) {
    ud_ref p = put_int(3), done, coming, pair[2];
    ud_view v[2];
    int k;
    UT_REQUIRE_OK(call_int(f_square, 4, 1, &done));
    UT_EQ_INT(int_of(done), 16);
    UT_REQUIRE_OK(call_slow(0.3, 6, &coming));
    for (k = 0; k < 3; k++) {
        int want = k == 0 ? 3 : k == 1 ? 16 : 6;
        pair[0] = pair[1] = k == 0 ? p : k == 1 ? done : coming;
        memset(v, 0, sizeof v);
        if (UT_OK(ud_get_many(pair, 2, v))) {
            UT_CHECK(v[0].size == sizeof(int) && *(const int *)v[0].data == want);
            UT_CHECK(v[1].size == sizeof(int) && *(const int *)v[1].data == want);
        }
    }
    UT_OK(ud_free(p));
    UT_OK(ud_free(done));
    UT_OK(ud_free(coming));
}

/* ---- misuse ------------------------------------------------------------------------------- */
static void freed_ref(void) {
    ud_ref r = put_int(1), live = put_int(2), res, pair[2], out;
    ud_view v, views[2];
    char buf[8], num[32];
    size_t size;
    int ready[2], nready, k;
    UT_REQUIRE_OK(call_int(f_square, 3, 1, &res));
    UT_EQ_INT(int_of(res), 9);
    for (k = 0; k < 2; k++) { /* a put, then a task's result */
        ud_ref dead = k == 0 ? r : res;
        ud_arg a = ud_arg_ref(dead);
        snprintf(num, sizeof num, "%lld", (long long)dead.num);
        UT_REQUIRE_OK(ud_free(dead));
        UT_MISUSE(ud_get(dead, &v), UD_ERR_FREED, num);
        UT_MISUSE(ud_get_copy(dead, buf, sizeof buf, &size), UD_ERR_FREED, num);
        pair[0] = live;
        pair[1] = dead;
        UT_MISUSE(ud_get_many(pair, 2, views), UD_ERR_FREED, num);
        UT_MISUSE(ud_wait(pair, 2, 1, 1.0, ready, &nready), UD_ERR_FREED, num);
        UT_MISUSE(ud_remote(f_square, &a, 1, 1, &out), UD_ERR_FREED, num);
        UT_MISUSE(ud_free(dead), UD_ERR_FREED, num); /* double free */
        UT_MISUSE(ud_free_many(&dead, 1), UD_ERR_FREED, num);
    }
    UT_EQ_INT(int_of(live), 2);
    UT_OK(ud_free(live));
}

static void double_free(void) {
    ud_ref r = put_int(5), pending, pair[2];
    char num[48];
    UT_REQUIRE_OK(call_slow(0.3, 1, &pending));
    UT_OK(ud_free(pending)); /* freeing a ref whose task still runs is fine */
    snprintf(num, sizeof num, ":%lld was freed", (long long)pending.num);
    UT_MISUSE(ud_free(pending), UD_ERR_FREED, num);
    pair[0] = pair[1] = r; /* the second of the same ref in one call is a double free */
    snprintf(num, sizeof num, ":%lld was freed", (long long)r.num);
    UT_MISUSE(ud_free_many(pair, 2), UD_ERR_FREED, num);
    UT_MISUSE(ud_free(r), UD_ERR_FREED, num);
}

/* One misuse that must say UD_ERR_NOREF with a detail; 1 if it did. */
static int is_noref(ud_status st) {
    int ok = UT_EQ_STATUS(st, UD_ERR_NOREF);
    return ok && UT_CHECK(ud_last_error() != NULL && ud_last_error()[0] != '\0');
}

static void ref_never_issued(void) {
    ud_ref live = put_int(4), bad[8];
    int nbad = 0, k;
    bad[nbad++] = (ud_ref){0, 999999};
    bad[nbad++] = (ud_ref){1000, 1};
    if (ud_num_workers() + 2 <= 7) bad[nbad++] = (ud_ref){7, live.num}; /* there is no rank 7 */
    bad[nbad++] = (ud_ref){1, live.num}; /* under MPI rank 1 is the monitor: it owns nothing */
    bad[nbad++] = (ud_ref){-1, live.num};
    bad[nbad++] = (ud_ref){0, -live.num};
    bad[nbad++] = (ud_ref){0, 0};
    bad[nbad++] = (ud_ref){INT64_MIN, INT64_MIN};
    for (k = 0; k < nbad; k++) {
        ud_ref r = bad[k], out, pair[2];
        ud_view v[2];
        ud_arg a = ud_arg_ref(r);
        char buf[8];
        size_t size;
        int ready[2], nready, ok = 1;
        pair[0] = live;
        pair[1] = r;
        ok &= is_noref(ud_get(r, &v[0]));
        ok &= is_noref(ud_get_copy(r, buf, sizeof buf, &size));
        ok &= is_noref(ud_get_many(pair, 2, v));
        ok &= is_noref(ud_wait(pair, 2, 1, 1.0, ready, &nready));
        ok &= is_noref(ud_remote(f_square, &a, 1, 1, &out));
        ok &= is_noref(ud_free(r));
        if (!ok) UT_FAIL("  (get, get_copy, get_many, wait, remote, free of the ref {%lld, %lld})",
                         (long long)r.owner, (long long)r.num);
    }
    UT_EQ_INT(int_of(live), 4);
    UT_OK(ud_free(live));
}

/* A real number with an owner it was never issued to: the ref was never issued, whatever
   the number says. Under MPI a result belongs to a worker and a put to rank 0; on threads
   everything belongs to 0. */
static void ref_with_a_wrong_owner(void) {
    ud_ref p = put_int(4), res, forged[2];
    int k, ready[1], nready;
    ud_view v;
    UT_REQUIRE_OK(call_int(f_square, 3, 1, &res));
    UT_EQ_INT(int_of(res), 9);
    forged[0] = (ud_ref){2, p.num};                       /* a put's number, a worker's rank */
    forged[1] = (ud_ref){res.owner == 0 ? 2 : 0, res.num}; /* a result's number, another rank */
    for (k = 0; k < 2; k++) {
        ud_ref r = forged[k];
        int ok = is_noref(ud_get(r, &v));
        ok &= is_noref(ud_wait(&r, 1, 1, 1.0, ready, &nready));
        ok &= is_noref(ud_free(r));
        if (!ok) UT_FAIL("  (the ref {%lld, %lld}; the real one is {%lld, %lld})", (long long)r.owner,
                         (long long)r.num, (long long)(k ? res : p).owner, (long long)(k ? res : p).num);
    }
    UT_EQ_INT(int_of(p), 4);
    UT_EQ_INT(int_of(res), 9);
    UT_OK(ud_free(p));
    UT_OK(ud_free(res));
}

static void unknown_function(void) {
    ud_ref r = put_int(2), out = no_ref;
    ud_arg a = ud_arg_ref(r);
    UT_MISUSE(ud_remote(ud_func_id("no_such_function"), &a, 1, 1, &out), UD_ERR_NOFUNC, "remote: no function with id cbd3358a45bf0fb0 is registered");
    UT_MISUSE(ud_remote((ud_func)12345, &a, 1, 1, &out), UD_ERR_NOFUNC, "remote: no function with id 0000000000003039 is registered");
    UT_MISUSE(ud_remote(0, NULL, 0, 0, NULL), UD_ERR_NOFUNC, "remote: no function with id 0000000000000000 is registered");
    UT_CHECK(out.owner == no_ref.owner && out.num == no_ref.num);
    UT_EQ_INT(int_of(r), 2);
    UT_OK(ud_free(r));
}

static void null_pointers(void) {
    ud_ref r = put_int(2), out;
    ud_view v;
    ud_arg a = ud_arg_ref(r);
    ud_part parts[2] = {{"ab", 2}, {NULL, 3}};
    char buf[8];
    size_t size;
    int ready[1], nready;
    UT_MISUSE(ud_put(NULL, 4, &out), UD_ERR_ARG, "put: part 0 is NULL with size 4");
    UT_MISUSE(ud_put("abcd", 4, NULL), UD_ERR_ARG, "put: out is NULL");
    UT_MISUSE(ud_put_parts(NULL, 2, &out), UD_ERR_ARG, "put: 2 parts at");
    UT_MISUSE(ud_put_parts(parts, 1, NULL), UD_ERR_ARG, "put: out is NULL");
    UT_MISUSE(ud_put_parts(parts, 2, &out), UD_ERR_ARG, "put: part 1 is NULL with size 3"); /* part 1: NULL with 3 bytes */
    UT_MISUSE(ud_get(r, NULL), UD_ERR_ARG, "get: out is NULL");
    UT_MISUSE(ud_get_many(NULL, 1, &v), UD_ERR_ARG, "get: refs and out must be given for 1 refs");
    UT_MISUSE(ud_get_many(&r, 1, NULL), UD_ERR_ARG, "get: refs and out must be given for 1 refs");
    UT_MISUSE(ud_get_copy(r, NULL, sizeof buf, &size), UD_ERR_ARG, "get_copy: size must be given, and dst when cap > 0");
    UT_MISUSE(ud_get_copy(r, buf, sizeof buf, NULL), UD_ERR_ARG, "get_copy: size must be given, and dst when cap > 0");
    UT_MISUSE(ud_wait(NULL, 1, 1, 1.0, ready, &nready), UD_ERR_ARG, "wait: refs, ready and nready must be given");
    UT_MISUSE(ud_wait(&r, 1, 1, 1.0, NULL, &nready), UD_ERR_ARG, "wait: refs, ready and nready must be given");
    UT_MISUSE(ud_wait(&r, 1, 1, 1.0, ready, NULL), UD_ERR_ARG, "wait: refs, ready and nready must be given");
    UT_MISUSE(ud_remote(f_square, NULL, 1, 1, &out), UD_ERR_ARG, "remote 'square': 1 arguments at");
    UT_MISUSE(ud_remote(f_square, &a, 1, 1, NULL), UD_ERR_ARG, "remote 'square': num_returns 1 with outs");
    UT_MISUSE(ud_free_many(NULL, 1), UD_ERR_ARG, "free: 1 refs at");
    UT_MISUSE(ud_init(NULL, NULL), UD_ERR_ARG, "init: role is NULL");
    UT_MISUSE(ud_register(NULL, square, NULL, NULL), UD_ERR_ARG, "register: name and fn must be given");
    UT_MISUSE(ud_register("null_fn", NULL, NULL, NULL), UD_ERR_ARG, "register: name and fn must be given");
    UT_MISUSE(ud_config_resolve(NULL, NULL), UD_ERR_ARG, "config_resolve: out is NULL");
    UT_EQ_INT(int_of(r), 2);
    UT_OK(ud_free(r));
}

static void bad_counts(void) {
    ud_ref r = put_int(2), outs[2], two_refs[2];
    ud_view views[2];
    ud_part parts[1] = {{"ab", 2}};
    ud_arg a = ud_arg_ref(r);
    int ready[3], nready;
    UT_MISUSE(ud_remote(f_square, &a, 1, -1, outs), UD_ERR_ARG, "remote 'square': num_returns -1 with outs");
    UT_MISUSE(ud_remote(f_square, &a, 1, INT_MIN, outs), UD_ERR_ARG, "remote 'square': num_returns -2147483648 with outs");
    UT_MISUSE(ud_remote(f_square, &a, -1, 1, outs), UD_ERR_ARG, "remote 'square': -1 arguments at");
    two_refs[0] = two_refs[1] = r;
    UT_MISUSE(ud_wait(two_refs, 2, 3, 1.0, ready, &nready), UD_ERR_ARG, "wait: num_returns 3 is not in 0..2");
    UT_MISUSE(ud_wait(two_refs, 1, 2, 1.0, ready, &nready), UD_ERR_ARG, "wait: num_returns 2 is not in 0..1");
    UT_MISUSE(ud_wait(two_refs, 2, -1, 1.0, ready, &nready), UD_ERR_ARG, "wait: num_returns -1 is not in 0..2");
    UT_MISUSE(ud_wait(two_refs, -1, 0, 1.0, ready, &nready), UD_ERR_ARG, "wait: refs, ready and nready must be given");
    UT_MISUSE(ud_get_many(two_refs, -1, NULL), UD_ERR_ARG, "get: refs and out must be given for -1 refs");
    UT_MISUSE(ud_get_many(two_refs, -1, views), UD_ERR_ARG, "get: refs and out must be given for -1 refs");
    UT_MISUSE(ud_put_parts(NULL, -1, &outs[0]), UD_ERR_ARG, "put: -1 parts at");
    UT_MISUSE(ud_put_parts(parts, -1, &outs[0]), UD_ERR_ARG, "put: -1 parts at");
    UT_MISUSE(ud_free_many(two_refs, -1), UD_ERR_ARG, "free: -1 refs at");
    UT_EQ_INT(int_of(r), 2);
    UT_OK(ud_free(r));
}

static void bad_arg_kind(void) {
    ud_ref r = put_int(2), out = no_ref;
    static const int kinds[4] = {0, 3, -1, 99};
    ud_arg a;
    int k;
    for (k = 0; k < 4; k++) {
        ud_arg bad = ud_arg_ref(r);
        bad.kind = kinds[k];
        UT_MISUSE(ud_remote(f_square, &bad, 1, 1, &out), UD_ERR_ARG, "remote 'square': argument 0 has kind");
    }
    a = ud_arg_val(NULL, 4);
    UT_MISUSE(ud_remote(f_square, &a, 1, 1, &out), UD_ERR_ARG, "remote 'square': argument 0 is NULL with size 4");
    UT_CHECK(out.owner == no_ref.owner && out.num == no_ref.num);
    UT_EQ_INT(int_of(r), 2);
    UT_OK(ud_free(r));
}

static void register_after_init(void) {
    ud_func id;
    UT_MISUSE(ud_register("late", square, NULL, &id), UD_ERR_STATE, "register 'late': functions are registered while the runtime is not running (before ud_init or after ud_shutdown)");
    UT_MISUSE(ud_init(NULL, &role), UD_ERR_STATE, "init: the runtime is already running");
    UT_EQ_INT(role, UD_ROLE_DRIVER);
}

/* A task may get and wait (nested calls); shutdown is the driver's alone. */
static void blocking_calls_inside_a_task(void) {
    ud_ref target = put_int(6), out;
    ud_arg a = ud_arg_val(&target, sizeof target);
    ud_view v;
    static const char *const names[PR_COUNT] = {"get", "get_many", "get_copy", "wait", "shutdown"};
    int k;
    UT_REQUIRE_OK(ud_remote(f_probe, &a, 1, 1, &out));
    if (UT_OK(ud_get(out, &v)) && UT_EQ_INT(v.size, 2 * PR_COUNT * sizeof(int32_t))) {
        const int32_t *s = (const int32_t *)v.data;
        for (k = 0; k < PR_COUNT; k++) {
            ud_status want = k != PR_SHUTDOWN ? UD_OK : UD_ERR_STATE;
            if (!UT_EQ_STATUS(s[2 * k], want)) UT_FAIL("  (%s inside a task)", names[k]);
            if (want != UD_OK && !s[2 * k + 1])
                UT_FAIL("%s inside a task left ud_last_error() empty", names[k]);
        }
    }
    UT_EQ_INT(int_of(target), 6); /* the runtime is still up */
    UT_OK(ud_free(target));
    UT_OK(ud_free(out));
}

/* ---- sizes ---------------------------------------------------------------------------------- */
static void large_inline_argument(void) {
    enum { BIG = 1 << 20 };
    unsigned char *buf = (unsigned char *)malloc(BIG);
    ud_arg a;
    ud_ref echoed, d;
    ud_view v;
    UT_REQUIRE(buf != NULL);
    fill_pattern(buf, BIG, 41);
    a = ud_arg_val(buf, BIG);
    UT_REQUIRE_OK(ud_remote(f_echo, &a, 1, 1, &echoed));
    UT_REQUIRE_OK(ud_remote(f_describe, &a, 1, 1, &d));
    memset(buf, 0, BIG);
    if (UT_OK(ud_get(echoed, &v)) && UT_EQ_INT(v.nparts, 1) && UT_EQ_INT(v.size, BIG))
        UT_EQ_INT(check_pattern((const unsigned char *)v.data, BIG, 41), BIG);
    fill_pattern(buf, BIG, 41);
    if (UT_OK(ud_get(d, &v)) && UT_EQ_INT(v.size, 3 * sizeof(int64_t))) {
        const int64_t *x = (const int64_t *)v.data;
        UT_EQ_INT(x[0], 1);
        UT_EQ_INT(x[1], BIG);
        UT_EQ_INT(x[2], (int64_t)fnv(buf, BIG, FNV_START));
    }
    UT_OK(ud_free(echoed));
    UT_OK(ud_free(d));
    free(buf);
}

/* An 8 MiB result, and one of three parts around it, to the driver and to other tasks. */
static void large_results(void) {
    static const uint64_t one[1] = {8u << 20}, three[3] = {8u << 20, 5, (1u << 20) + 3};
    ud_ref r1, r3, echoed, d;
    ud_view v;
    size_t size;
    unsigned char *copy = (unsigned char *)malloc((8u << 20) + 8);
    UT_REQUIRE(copy != NULL);
    UT_REQUIRE_OK(call_make_parts(one, 1, 100, &r1));
    UT_REQUIRE_OK(call_make_parts(three, 3, 200, &r3));
    if (UT_OK(ud_get(r1, &v))) check_parts(&v, one, 1, 100);
    if (UT_OK(ud_get(r3, &v))) check_parts(&v, three, 3, 200);
    UT_OK(ud_get_copy(r1, copy, (8u << 20) + 8, &size));
    UT_EQ_INT(size, 8u << 20);
    UT_EQ_INT(check_pattern(copy, 8u << 20, 100), 8u << 20);
    check_described(r1);
    check_described(r3);
    UT_REQUIRE_OK(call_ref(f_echo, r3, 1, &echoed));
    if (UT_OK(ud_get(echoed, &v))) check_parts(&v, three, 3, 200);
    UT_OK(ud_free(echoed));
    /* the results read by tasks that run before the driver asks for them */
    UT_OK(ud_free_many((ud_ref[]){r1, r3}, 2));
    UT_REQUIRE_OK(call_make_parts(three, 3, 300, &r3));
    UT_REQUIRE_OK(call_ref(f_echo, r3, 1, &echoed));
    UT_REQUIRE_OK(call_ref(f_describe, echoed, 1, &d));
    if (UT_OK(ud_get(echoed, &v))) check_parts(&v, three, 3, 300);
    if (UT_OK(ud_get(d, &v)) && UT_EQ_INT(v.size, 7 * sizeof(int64_t))) {
        const int64_t *x = (const int64_t *)v.data;
        int k;
        UT_EQ_INT(x[0], 3);
        for (k = 0; k < 3; k++) {
            fill_pattern(copy, (size_t)three[k], 300 + (uint64_t)k);
            UT_EQ_INT(x[1 + 2 * k], three[k]);
            UT_EQ_INT(x[2 + 2 * k], (int64_t)fnv(copy, (size_t)three[k], FNV_START));
        }
    }
    UT_OK(ud_free_many((ud_ref[]){r3, echoed, d}, 3));
    free(copy);
}

/* Results made on one worker, read by tasks on others: maker i runs on worker i, and reader i
   on worker i + 1 reads it, once it is finished and while it is still being made. */
static void argument_from_another_worker(void) {
    int w = ud_num_workers(), n = 2 * w, i, crossed = 0;
    ud_ref *made = (ud_ref *)calloc((size_t)n, sizeof *made);
    ud_ref *read = (ud_ref *)calloc((size_t)n, sizeof *read);
    int *ready = (int *)calloc((size_t)n, sizeof *ready), nready;
    UT_REQUIRE(made && read && ready);
    for (i = 0; i < n; i++) {
        ud_opts o = ud_on_worker(i % w);
        UT_REQUIRE_OK(ud_remote_opts(&o, f_whoami, NULL, 0, 1, &made[i]));
    }
    UT_OK(ud_wait(made, n, n, 60.0, ready, &nready));
    for (i = 0; i < n; i++) {
        ud_opts o = ud_on_worker((i + 2) % w);
        ud_arg a = ud_arg_ref(made[(i + 1) % n]);
        UT_REQUIRE_OK(ud_remote_opts(&o, f_read_where, &a, 1, 1, &read[i]));
    }
    for (i = 0; i < n; i++) {
        ud_view v;
        where maker = where_of(made[(i + 1) % n]);
        if (UT_OK(ud_get(read[i], &v)) && UT_EQ_INT(v.size, 2 * sizeof(where))) {
            const where *x = (const where *)v.data;
            UT_CHECK(same_worker(x[0], maker)); /* the reader saw the maker's value */
            crossed += !same_worker(x[0], x[1]);
        }
    }
    ut_note("%d of %d readers ran on another worker than the maker", crossed, n);
    UT_EQ_INT(crossed, w >= 2 ? n : 0);
    /* and while it is still being made */
    {
        ud_ref s, sq;
        ud_opts o = ud_on_worker(0), o2 = ud_on_worker(w - 1);
        double sec = 0.3;
        int seven = 7;
        ud_arg a[2] = {ud_arg_val(&sec, sizeof sec), ud_arg_val(&seven, sizeof seven)};
        UT_REQUIRE_OK(ud_remote_opts(&o, f_slow, a, 2, 1, &s));
        a[0] = ud_arg_ref(s);
        UT_REQUIRE_OK(ud_remote_opts(&o2, f_square, a, 1, 1, &sq));
        UT_EQ_INT(int_of(sq), 49);
        UT_OK(ud_free(s));
        UT_OK(ud_free(sq));
    }
    UT_OK(ud_free_many(made, n));
    UT_OK(ud_free_many(read, n));
    free(made);
    free(read);
    free(ready);
}

/* MPI: ud_near(ref) runs the task on the worker that holds ref's object: for each
   worker, an object made there draws a task to it (asked twice, from either end of the list,
   so that no order of placement passes by chance). */
#ifdef UT_MPI
static void near_runs_where_the_object_lives(void) {
    int w = ud_num_workers(), k, pass;
    for (pass = 0; pass < 2; pass++)
        for (k = 0; k < w; k++) {
            int at = pass ? w - 1 - k : k;
            ud_opts on = ud_on_worker(at), o;
            ud_ref made, out;
            UT_REQUIRE_OK(ud_remote_opts(&on, f_whoami, NULL, 0, 1, &made));
            UT_EQ_INT(where_of(made).worker, at);
            o = ud_near(made);
            if (UT_OK(ud_remote_opts(&o, f_whoami, NULL, 0, 1, &out))) {
                UT_EQ_INT(where_of(out).worker, at);
                UT_OK(ud_free(out));
            }
            UT_OK(ud_free(made));
        }
}
#endif

/* A place that names no worker, no host or no live object is UD_ERR_ARG, saying which. */
static void bad_places(void) {
    ud_ref r = put_int(3), out = no_ref, gone = put_int(4);
    ud_opts o;
    int x = 1;
    ud_arg a = ud_arg_val(&x, sizeof x);
    UT_OK(ud_free(gone));
    o = ud_on_worker(ud_num_workers());
    UT_MISUSE(ud_remote_opts(&o, f_square, &a, 1, 1, &out), UD_ERR_ARG, "no worker");
    o = ud_on_worker(-1);
    UT_MISUSE(ud_remote_opts(&o, f_square, &a, 1, 1, &out), UD_ERR_ARG, "no worker -1");
    o = ud_on_host(ud_num_hosts());
    UT_MISUSE(ud_remote_opts(&o, f_square, &a, 1, 1, &out), UD_ERR_ARG, "no host");
    o = ud_near(gone);
    UT_MISUSE(ud_remote_opts(&o, f_square, &a, 1, 1, &out), UD_ERR_ARG, "freed");
    o = ud_near(no_ref);
    UT_MISUSE(ud_remote_opts(&o, f_square, &a, 1, 1, &out), UD_ERR_ARG, "never issued");
    o.place = (ud_place)42;
    UT_MISUSE(ud_remote_opts(&o, f_square, &a, 1, 1, &out), UD_ERR_ARG, "place 42");
    UT_CHECK(out.owner == no_ref.owner && out.num == no_ref.num); /* nothing was submitted */
    o = ud_near(r); /* and a good one runs */
    if (UT_OK(ud_remote_opts(&o, f_square, &a, 1, 1, &out))) {
        UT_EQ_INT(int_of(out), 1);
        UT_OK(ud_free(out));
    }
    o = ud_on_host(ud_worker_host(0));
    if (UT_OK(ud_remote_opts(&o, f_square, &a, 1, 1, &out))) {
        UT_EQ_INT(int_of(out), 1);
        UT_OK(ud_free(out));
    }
    UT_OK(ud_free(r));
}

static void still_works_after_misuse(void) {
    ud_ref r = put_int(9), out;
    UT_REQUIRE_OK(call_ref(f_square, r, 1, &out));
    UT_EQ_INT(int_of(out), 81);
    UT_OK(ud_free(r));
    UT_OK(ud_free(out));
}

static void calls_after_shutdown(void) {
    ud_ref r = {0, 1};
    ud_view v;
    int x = 1, ready[1], nready;
    ud_arg a = ud_arg_val(&x, sizeof x);
    UT_MISUSE(ud_put(&x, sizeof x, &r), UD_ERR_STATE, "put: the runtime was shut down");
    UT_MISUSE(ud_get(r, &v), UD_ERR_STATE, "get: the runtime was shut down");
    UT_MISUSE(ud_remote(f_square, &a, 1, 1, &r), UD_ERR_STATE, "remote: the runtime was shut down");
    UT_MISUSE(ud_wait(&r, 1, 1, 0.1, ready, &nready), UD_ERR_STATE, "wait: the runtime was shut down");
    UT_MISUSE(ud_free(r), UD_ERR_STATE, "free: the runtime was shut down");
    UT_MISUSE(ud_shutdown(), UD_ERR_STATE, "shutdown: the runtime was shut down");
    UT_EQ_INT(ud_num_workers(), 0);
    UT_EQ_STR(ud_backend_name(), "none");
    UT_EQ_INT(ud_is_initialized(), 0);
}

/* ---- set-up ------------------------------------------------------------------------------- */
static int register_all(void) {
    static const struct {
        const char *name;
        ud_task_fn fn;
        ud_func *id;
    } fns[] = {
        {"square", square, &f_square}, {"two", two, &f_two}, {"touch", touch_task, &f_touch},
        {"square_touch", square_touch, &f_square_touch}, {"slow", slow, &f_slow},
        {"fail_msg", fail_msg, &f_fail_msg}, {"fail_text", fail_text, &f_fail_text},
        {"fail_rc", fail_rc, &f_fail_rc},
        {"slow_fail", slow_fail, &f_slow_fail}, {"empty", empty, &f_empty},
        {"zero_size", zero_size, &f_zero_size}, {"make_parts", make_parts, &f_make_parts},
        {"describe", describe, &f_describe}, {"echo", echo, &f_echo}, {"whoami", whoami, &f_whoami},
        {"read_where", read_where, &f_read_where}, {"timed", timed, &f_timed}, {"gate", gate, &f_gate},
        {"probe", probe, &f_probe},
    };
    size_t k;
    for (k = 0; k < sizeof fns / sizeof *fns; k++)
        if (ud_register(fns[k].name, fns[k].fn, NULL, fns[k].id) != UD_OK) {
            fprintf(stderr, "register %s: %s\n", fns[k].name, ud_last_error());
            return 0;
        }
    return 1;
}

static void remove_tmpdir(void) {
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    char path[600];
    if (!d) return;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(tmpdir);
}

int main(void) {
    const char *base = getenv("TMPDIR");
    if (!register_all()) return 1;
    calls_before_init_record();
    if (ud_init(NULL, &role) != UD_OK) {
        printf("FAIL init: %s\n", ud_last_error());
        return 1;
    }
    if (role != UD_ROLE_DRIVER) return 0; /* a worker or the monitor, back after shutdown */
    snprintf(tmpdir, sizeof tmpdir, "%s/ut_behave.XXXXXX", base && *base ? base : "/tmp");
    UT_CASE("temp folder") { UT_CHECK(mkdtemp(tmpdir) != NULL); }
    UT_RUN(calls_before_init);
    UT_RUN(runtime_started);
    UT_RUN(tasks_run_on_workers);
    UT_RUN(square_of_five);
    UT_RUN(one_put_ref_to_four_tasks);
    UT_RUN(get_many_keeps_order);
    UT_RUN(two_returns);
    UT_RUN(zero_returns_task_still_runs);
    UT_RUN(zero_returns_task_with_large_argument);
    UT_RUN(slow_ref_passed_to_dependent);
    UT_RUN(task_error_reaches_get);
    UT_RUN(failure_messages_of_every_length);
    UT_RUN(dependent_task_fails_with_same_message);
    UT_RUN(wait_counts_failed_as_done);
    UT_RUN(empty_result);
    UT_RUN(zero_size_result);
    UT_RUN(put_copies);
    UT_RUN(inline_args_copied_at_submit);
    UT_RUN(put_parts_keep_their_parts);
    UT_RUN(result_parts_keep_their_parts);
    UT_RUN(parts_of_odd_sizes_are_aligned);
    UT_RUN(get_copy_and_its_sizes);
    UT_RUN(wait_slow_fast);
    UT_RUN(done_reported_while_the_next_runs);
    UT_RUN(a_blocked_thread_delays_nothing);
    UT_RUN(wait_order_is_completion_order);
    UT_RUN(wait_timeout);
    UT_RUN(get_same_ref_twice);
    UT_RUN(freed_ref);
    UT_RUN(double_free);
    UT_RUN(ref_never_issued);
    UT_RUN(ref_with_a_wrong_owner);
    UT_RUN(unknown_function);
    UT_RUN(null_pointers);
    UT_RUN(bad_counts);
    UT_RUN(bad_arg_kind);
    UT_RUN(register_after_init);
    UT_RUN(blocking_calls_inside_a_task);
    UT_RUN(large_inline_argument);
    UT_RUN(large_results);
    UT_RUN(argument_from_another_worker);
    UT_RUN(bad_places);
#ifdef UT_MPI
    UT_RUN(near_runs_where_the_object_lives);
#endif
    UT_RUN(still_works_after_misuse);
    UT_CASE("shutdown") { UT_OK(ud_shutdown()); }
    UT_RUN(calls_after_shutdown);
    remove_tmpdir();
    return ut_finish();
}
