/* The MPI backend's own behaviours, beyond the shared suite: data that lives on another worker,
   chains across workers, many tasks in flight, checksums, and memory that stays bounded while
   refs are freed under steady load; a task's calls that the driver refuses or limits, and one
   made while the driver shuts down. Run under mpiexec with 3 or more ranks. */
#define UNIDIST_IMPLEMENTATION
#include "unidist_mpi.h"
#include "ud_test.h"

static ud_func f_whoami, f_add_rank, f_add1, f_live, f_fill, f_sum, f_echo, f_asks, f_late, f_touch;
static ut_counting mem; /* every rank counts its own runtime's bytes */
static atomic_int warnings; /* the driver's log lines of WARN and worse */

static void count_warnings(int level, int rank, const char *message, void *user) {
    (void)user;
    if (level <= UD_LOG_WARN) atomic_fetch_add(&warnings, 1);
    fprintf(stderr, "[ud r%d] %s\n", rank, message);
}

/* Returns the rank it ran on. */
static int whoami(ud_task *t) {
    int64_t *r = (int64_t *)ud_task_result(t, 0, sizeof *r);
    if (!r) return ud_task_fail(t, "whoami: no memory");
    *r = ud_rank();
    return 0;
}

/* Returns (the rank its argument was made on, its own rank). */
static int add_rank(ud_task *t) {
    ud_view a;
    int64_t *r = (int64_t *)ud_task_result(t, 0, 2 * sizeof *r);
    if (ud_task_arg(t, 0, &a) != UD_OK || a.size != sizeof(int64_t) || !r)
        return ud_task_fail(t, "add_rank: bad argument");
    memcpy(&r[0], a.data, sizeof r[0]);
    r[1] = ud_rank();
    return 0;
}

static int add1(ud_task *t) {
    ud_view a;
    int64_t x, *y = (int64_t *)ud_task_result(t, 0, sizeof *y);
    if (ud_task_arg(t, 0, &a) != UD_OK || a.size != sizeof x || !y) return ud_task_fail(t, "add1: bad argument");
    memcpy(&x, a.data, sizeof x);
    *y = x + 1;
    return 0;
}

/* Returns the live bytes of the runtime on the rank it runs on. */
static int live(ud_task *t) {
    int64_t *r = (int64_t *)ud_task_result(t, 0, 2 * sizeof *r);
    if (!r) return ud_task_fail(t, "live: no memory");
    r[0] = ud_rank();
    r[1] = (int64_t)atomic_load(&mem.live_bytes);
    return 0;
}

/* fill(n, seed): n bytes of a pattern, as two parts (a header of 24 bytes, then the rest). */
static int fill(ud_task *t) {
    ud_view a, b;
    uint64_t n, seed, k;
    size_t sizes[2];
    void *p[2];
    if (ud_task_arg(t, 0, &a) != UD_OK || ud_task_arg(t, 1, &b) != UD_OK) return ud_task_fail(t, "fill: args");
    memcpy(&n, a.data, sizeof n);
    memcpy(&seed, b.data, sizeof seed);
    sizes[0] = 24;
    sizes[1] = (size_t)n;
    if (ud_task_result_parts(t, 0, sizes, 2, p) != UD_OK) return ud_task_fail(t, "fill: no memory for %llu bytes", (unsigned long long)n);
    memset(p[0], 0x5a, 24);
    for (k = 0; k < n; k++) ((unsigned char *)p[1])[k] = (unsigned char)(k * 131 + seed);
    return 0;
}

/* XXH3 of all parts of all arguments, in order. */
static int sum(ud_task *t) {
    XXH3_state_t st;
    uint64_t *h = (uint64_t *)ud_task_result(t, 0, sizeof *h);
    int i, k;
    if (!h) return ud_task_fail(t, "sum: no memory");
    XXH3_64bits_reset(&st);
    for (i = 0; i < ud_task_nargs(t); i++) {
        ud_view a;
        if (ud_task_arg(t, i, &a) != UD_OK) return ud_task_fail(t, "sum: arg %d", i);
        for (k = 0; k < a.nparts; k++) XXH3_64bits_update(&st, a.parts[k].data, a.parts[k].size);
    }
    *h = XXH3_64bits_digest(&st);
    return 0;
}

/* Returns its argument unchanged, part by part. */
static int echo(ud_task *t) {
    ud_view a;
    size_t sizes[16];
    void *p[16];
    int k;
    if (ud_task_arg(t, 0, &a) != UD_OK || a.nparts > 16) return ud_task_fail(t, "echo: bad argument");
    for (k = 0; k < a.nparts; k++) sizes[k] = a.parts[k].size;
    if (ud_task_result_parts(t, 0, sizes, a.nparts, p) != UD_OK) return ud_task_fail(t, "echo: no memory");
    for (k = 0; k < a.nparts; k++) memcpy(p[k], a.parts[k].data, sizes[k]);
    return 0;
}

/* A ref given by value (its bytes), so that the task that reads it does not wait for it. */
static int ref_arg(ud_task *t, int i, ud_ref *r) {
    ud_view v;
    if (ud_task_arg(t, i, &v) != UD_OK || v.size != sizeof *r) return 0;
    memcpy(r, v.data, sizeof *r);
    return 1;
}

/* asks(how, ref): a call the driver answers with a refusal or a limit, made from a task.
   Result: {status, whether the message names what was wrong, the rank a task ran on}.
     0  a get of ref (the driver freed it)
     1  a remote asking for 2^20 + 1 results
     2  a remote of whoami near ref, then a get of its result */
static int asks(ud_task *t) {
    int how = 0;
    int64_t *y = (int64_t *)ud_task_result(t, 0, 3 * sizeof *y);
    ud_ref r, made;
    ud_view v;
    if (!y || !ut_arg_int(t, 0, &how) || !ref_arg(t, 1, &r)) return ud_task_fail(t, "asks: bad argument");
    y[1] = y[2] = -1;
    if (how == 0) {
        y[0] = ud_get(r, &v);
        y[1] = strstr(ud_last_error(), "was freed") != NULL;
    } else if (how == 1) {
        int n = (1 << 20) + 1;
        ud_ref *outs = (ud_ref *)malloc((size_t)n * sizeof *outs);
        if (!outs) return ud_task_fail(t, "asks: no memory");
        y[0] = ud_remote(f_whoami, NULL, 0, n, outs);
        y[1] = strstr(ud_last_error(), "num_returns 1048577") != NULL;
        free(outs);
    } else {
        ud_opts near = ud_near(r);
        if ((y[0] = ud_remote_opts(&near, f_whoami, NULL, 0, 1, &made)) == UD_OK) {
            if ((y[0] = ud_get(made, &v)) == UD_OK && v.size == sizeof(int64_t)) memcpy(&y[2], v.data, sizeof y[2]);
            ud_free(made);
        }
    }
    return 0;
}

/* touch(path): makes the file. */
static int touch(ud_task *t) {
    ud_view v;
    FILE *f;
    if (ud_task_arg(t, 0, &v) != UD_OK || !v.size || ((const char *)v.data)[v.size - 1] || !(f = fopen((const char *)v.data, "w")))
        return ud_task_fail(t, "touch: bad argument");
    fclose(f);
    return 0;
}

/* late(path): after 0.3 s, submits touch(path) and returns without waiting for it. */
static int late(ud_task *t) {
    ud_view v;
    ud_ref r;
    ud_arg a;
    if (ud_task_arg(t, 0, &v) != UD_OK) return ud_task_fail(t, "late: bad argument");
    a = ud_arg_val(v.data, v.size);
    ut_sleep(0.3);
    return ud_remote(f_touch, &a, 1, 1, &r) == UD_OK ? 0 : ud_task_fail(t, "late: %s", ud_last_error());
}

static int64_t get_i64(ud_ref r, int k) {
    ud_view v;
    int64_t x = -1;
    if (UT_OK(ud_get(r, &v)) && UT_CHECK(v.size >= (size_t)(k + 1) * sizeof x))
        memcpy(&x, (const char *)v.data + k * sizeof x, sizeof x);
    return x;
}

/* A result made on one worker, read by a task on another: the reader asks the owner. Maker
   i runs on worker i, reader i on the worker after the maker it reads. */
static void argument_on_another_worker(void) {
    int w = ud_num_workers(), n = 2 * w < 8 ? 2 * w : 8, i;
    ud_ref made[8], read[8];
    for (i = 0; i < n; i++) {
        ud_opts o = ud_on_worker(i % w);
        UT_REQUIRE_OK(ud_remote_opts(&o, f_whoami, NULL, 0, 1, &made[i]));
    }
    for (i = 0; i < n; i++) {
        ud_opts o = ud_on_worker((i + 2) % w);
        ud_arg a = ud_arg_ref(made[(i + 1) % n]);
        UT_REQUIRE_OK(ud_remote_opts(&o, f_add_rank, &a, 1, 1, &read[i]));
    }
    for (i = 0; i < n; i++) {
        int64_t maker = get_i64(read[i], 0), reader = get_i64(read[i], 1);
        UT_EQ_INT(maker, ud_worker_rank((i + 1) % n % w));
        UT_EQ_INT(reader, ud_worker_rank((i + 2) % w));
        UT_EQ_INT(maker, get_i64(made[(i + 1) % n], 0));
    }
    for (i = 0; i < n; i++) {
        UT_OK(ud_free(made[i]));
        UT_OK(ud_free(read[i]));
    }
}

static void chain_across_workers(void) {
    long n = ut_scaled(2000), i;
    int64_t zero = 0;
    ud_ref *refs = (ud_ref *)calloc((size_t)n, sizeof *refs), prev;
    UT_REQUIRE(refs != NULL);
    UT_REQUIRE_OK(ud_put(&zero, sizeof zero, &prev));
    for (i = 0; i < n; i++) {
        ud_arg a = ud_arg_ref(i ? refs[i - 1] : prev);
        UT_REQUIRE_OK(ud_remote(f_add1, &a, 1, 1, &refs[i]));
    }
    UT_EQ_INT(get_i64(refs[n - 1], 0), n);
    UT_OK(ud_free_many(refs, (int)n));
    UT_OK(ud_free(prev));
    free(refs);
}

static void thousand_in_flight(void) {
    enum { N = 1000 };
    ud_ref outs[N];
    ud_view v[N];
    int i, ok = 1;
    for (i = 0; i < N; i++) {
        int64_t x = i;
        ud_arg a = ud_arg_val(&x, sizeof x);
        UT_REQUIRE_OK(ud_remote(f_add1, &a, 1, 1, &outs[i]));
    }
    UT_REQUIRE_OK(ud_get_many(outs, N, v));
    for (i = 0; i < N; i++) ok &= v[i].size == 8 && *(const int64_t *)v[i].data == i + 1;
    UT_CHECK(ok);
    UT_OK(ud_free_many(outs, N));
}

/* Objects of awkward sizes and several parts cross root -> worker -> worker -> root intact. */
static void parts_round_trip(void) {
    static const size_t sizes[] = {0, 1, 7, 8, 4095, 32768, 32769, 100000, 3u << 20};
    size_t k;
    for (k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        uint64_t n = sizes[k], seed = k;
        ud_arg args[2] = {ud_arg_val(&n, sizeof n), ud_arg_val(&seed, sizeof seed)};
        ud_ref made, echoed, h1, h2;
        ud_view v;
        ud_arg a;
        UT_REQUIRE_OK(ud_remote(f_fill, args, 2, 1, &made));
        a = ud_arg_ref(made);
        UT_REQUIRE_OK(ud_remote(f_echo, &a, 1, 1, &echoed));
        UT_REQUIRE_OK(ud_remote(f_sum, &a, 1, 1, &h1));
        a = ud_arg_ref(echoed);
        UT_REQUIRE_OK(ud_remote(f_sum, &a, 1, 1, &h2));
        if (UT_OK(ud_get(echoed, &v)) && UT_EQ_INT(v.nparts, 2) && UT_EQ_INT(v.parts[1].size, n)) {
            uint64_t i, bad = 0;
            for (i = 0; i < n; i++) bad += ((const unsigned char *)v.parts[1].data)[i] != (unsigned char)(i * 131 + seed);
            UT_EQ_INT(bad, 0);
        }
        UT_EQ_INT(get_i64(h1, 0), get_i64(h2, 0));
        UT_OK(ud_free(made));
        UT_OK(ud_free(echoed));
        UT_OK(ud_free(h1));
        UT_OK(ud_free(h2));
    }
}

/* The live bytes of worker 0, by a task pinned there. */
static int64_t worker0_live(void) {
    ud_opts o = ud_on_worker(0);
    ud_ref probe;
    int64_t bytes = -1;
    if (UT_OK(ud_remote_opts(&o, f_live, NULL, 0, 1, &probe))) {
        bytes = get_i64(probe, 1);
        UT_OK(ud_free(probe));
    }
    return bytes;
}

/* The objects the workers have sent in answer to GETs, all together. */
static int64_t gets_served(void) {
    ud_stats s[64];
    int64_t n = 0;
    int k, nranks = 0;
    if (!UT_OK(ud_stats_get(s, 64, &nranks))) return -1;
    for (k = 1; k < nranks; k++) n += s[k].gets_served;
    return n;
}

/* Small results come to the driver with their tasks' completion (UNIDIST_MPI_PUSH_MAX): once
   the tasks are done, getting them asks no worker for anything. The stats call before the
   gets takes the pushes in: each worker sent them ahead of its answer. (The driver's loop may
   send other messages meanwhile: a cleanup batch, a count asked of the monitor.) */
static void small_results_come_with_completion(void) {
    int n = 64, i, ready[64], nready;
    ud_ref r[64];
    int64_t served;
    for (i = 0; i < n; i++) {
        int64_t x = i;
        ud_arg a = ud_arg_val(&x, sizeof x);
        UT_REQUIRE_OK(ud_remote(f_add1, &a, 1, 1, &r[i]));
    }
    UT_REQUIRE_OK(ud_wait(r, n, n, 30.0, ready, &nready));
    served = gets_served();
    for (i = 0; i < n; i++) UT_EQ_INT(get_i64(r[i], 0), i + 1);
    UT_EQ_INT(gets_served() - served, 0);
    UT_OK(ud_free_many(r, n));
}

/* A get sent just after its task: the answer to the GET may cross the pushed result, and the
   ref may be freed before the second copy comes. Every value is right and nothing is logged. */
static void pushed_results_crossing_gets(void) {
    int i, w = ud_num_workers(), before = atomic_load(&warnings);
    for (i = 0; i < ut_scaled(3000); i++) {
        int64_t x = i;
        ud_arg a = ud_arg_val(&x, sizeof x);
        ud_opts o = ud_on_worker(i % w);
        ud_ref r;
        UT_REQUIRE_OK(ud_remote_opts(&o, f_add1, &a, 1, 1, &r));
        UT_EQ_INT(get_i64(r, 0), i + 1);
        UT_OK(ud_free(r));
    }
    UT_EQ_INT(atomic_load(&warnings) - before, 0);
}

/* A few freed objects are cleaned up within UNIDIST_MPI_GC_DELAY_MS of the driver's next call,
   not only once a batch of UNIDIST_MPI_GC_THRESHOLD (100 here) frees has gathered. */
static void few_frees_are_cleaned_up_soon(void) {
    enum { N = 10 };
    uint64_t n = 64 << 10, seed = 5; /* under the shared store's threshold: counted by the hooks */
    ud_arg args[2] = {ud_arg_val(&n, sizeof n), ud_arg_val(&seed, sizeof seed)};
    ud_opts o = ud_on_worker(0);
    ud_ref made[N];
    ud_view v;
    int64_t before, after;
    int k;
    for (k = 0; k < N; k++) UT_REQUIRE_OK(ud_remote_opts(&o, f_fill, args, 2, 1, &made[k]));
    for (k = 0; k < N; k++) UT_OK(ud_get(made[k], &v));
    before = worker0_live();
    UT_OK(ud_free_many(made, N));
    ut_sleep(0.05); /* past the delay: the next call sends the cleanup, ahead of the probe */
    after = worker0_live();
    ut_note("worker 0: %lld live bytes before the frees, %lld after", (long long)before, (long long)after);
    UT_CHECK(after <= before - N * (int64_t)n);
}

static uint64_t store_used(void) {
    ud_shm_stats s;
    return ud_shm_stats_get(&s) == UD_OK ? s.used : 0;
}

/* A freed large object that a worker read is cleaned up at once (UNIDIST_MPI_GC_BYTES): the
   worker lets go of it, and its room in the store is free again, while the driver makes no
   further call; the next large object can then reuse that room while it is warm. */
static void large_frees_are_cleaned_up_at_once(void) {
    size_t n = (size_t)32 << 20;
    char *src = (char *)malloc(n);
    ud_opts o = ud_on_worker(0);
    ud_shm_stats s;
    ud_ref r, h;
    ud_arg a;
    uint64_t used;
    UT_REQUIRE(src != NULL);
    memset(src, 0x3c, n);
    if (ud_shm_stats_get(&s) != UD_OK || !s.enabled || ud_shm_host(1) != ud_shm_host(0)) {
        ut_skip("worker 0 shares no store with the driver");
        free(src);
        return;
    }
    UT_REQUIRE_OK(ud_put(src, n, &r));
    a = ud_arg_ref(r);
    UT_REQUIRE_OK(ud_remote_opts(&o, f_sum, &a, 1, 1, &h));
    UT_EQ_INT(get_i64(h, 0), (int64_t)XXH3_64bits(src, n));
    UT_OK(ud_free(h));
    UT_EQ_INT(ud_shm_refs(r), 2); /* the driver's and the worker's that read it */
    used = store_used();
    UT_OK(ud_free(r));
    UT_EVENTUALLY(store_used() + n <= used, 10.0);
    free(src);
}

/* 100 000 tasks with their refs freed as they go: every worker's live bytes at the end stay
   close to what they were early on. Without cleanup under load they grow with the count. */
static void memory_bounded_under_load(void) {
    long n = ut_scaled(100000), i, window = 256;
    int w = ud_num_workers(), k;
    int64_t early[64] = {0};
    ud_ref *ring = (ud_ref *)calloc((size_t)window, sizeof *ring);
    UT_REQUIRE(ring != NULL && w <= 64);
    for (i = 0; i < n; i++) {
        int64_t x = i;
        ud_arg a = ud_arg_val(&x, sizeof x);
        if (i >= window) {
            UT_EQ_INT(get_i64(ring[i % window], 0), i - window + 1);
            UT_OK(ud_free(ring[i % window]));
        }
        UT_REQUIRE_OK(ud_remote(f_add1, &a, 1, 1, &ring[i % window]));
        if (i == n / 10 || i == n - 1) { /* one task a worker */
            ud_ref probes[64];
            for (k = 0; k < w; k++) {
                ud_opts o = ud_on_worker(k);
                UT_REQUIRE_OK(ud_remote_opts(&o, f_live, NULL, 0, 1, &probes[k]));
            }
            for (k = 0; k < w; k++) {
                int64_t bytes = get_i64(probes[k], 1), rank = get_i64(probes[k], 0);
                UT_EQ_INT(rank, ud_worker_rank(k));
                if (i == n / 10) early[k] = bytes;
                else {
                    ut_note("worker %d (rank %lld): %lld live bytes early, %lld at the end", k,
                            (long long)rank, (long long)early[k], (long long)bytes);
                    UT_CHECK(bytes <= early[k] * 3 / 2 + (1 << 20));
                }
            }
            UT_OK(ud_free_many(probes, w));
        }
    }
    for (i = 0; i < window && i < n; i++) UT_OK(ud_free(ring[i]));
    free(ring);
}

/* asks(how, ref) run on worker 0; its three words in y. */
static int asked(int how, ud_ref ref, int64_t y[3]) {
    ud_opts o = ud_on_worker(0);
    ud_arg a[2] = {ud_arg_val(&how, sizeof how), ud_arg_val(&ref, sizeof ref)};
    ud_ref r;
    ud_view v;
    int ok = UT_OK(ud_remote_opts(&o, f_asks, a, 2, 1, &r)) && UT_OK(ud_get(r, &v)) &&
             UT_EQ_INT(v.size, 3 * sizeof *y);
    if (ok) memcpy(y, v.data, 3 * sizeof *y);
    ud_free(r);
    return ok;
}

/* A task's get of a ref the driver freed fails as the driver's would, naming the ref. */
static void task_gets_a_freed_ref(void) {
    int64_t y[3];
    ud_ref r = ut_put_int(7);
    UT_OK(ud_free(r));
    if (asked(0, r, y)) {
        UT_EQ_STATUS((int)y[0], UD_ERR_FREED);
        UT_EQ_INT(y[1], 1);
    }
}

/* More results than a task message carries: refused on the driver and in a task alike. */
static void too_many_results(void) {
    int n = (1 << 20) + 1;
    int64_t y[3];
    ud_ref *outs = (ud_ref *)malloc((size_t)n * sizeof *outs), none = {0, 0};
    UT_REQUIRE(outs != NULL);
    UT_EQ_STATUS(ud_remote(f_whoami, NULL, 0, n, outs), UD_ERR_ARG);
    UT_CONTAINS(ud_last_error(), "num_returns 1048577");
    free(outs);
    if (asked(1, none, y)) {
        UT_EQ_STATUS((int)y[0], UD_ERR_ARG);
        UT_EQ_INT(y[1], 1);
    }
}

/* A task's remote near a result of the last worker runs on that worker. */
static void task_remote_near(void) {
    int last = ud_num_workers() - 1;
    int64_t y[3];
    ud_opts o = ud_on_worker(last);
    ud_ref made;
    UT_REQUIRE_OK(ud_remote_opts(&o, f_whoami, NULL, 0, 1, &made));
    UT_EQ_INT(get_i64(made, 0), ud_worker_rank(last));
    if (asked(2, made, y)) {
        UT_OK((int)y[0]);
        UT_EQ_INT(y[2], ud_worker_rank(last));
    }
    UT_OK(ud_free(made));
}

static void checksum_config_is_live(void) {
    ud_config c;
    UT_OK(ud_config_resolve(NULL, &c));
    ut_note("UNIDIST_CHECKSUM=%d, inline max %llu, chunk %llu", c.checksum,
            (unsigned long long)c.mpi_inline_max, (unsigned long long)c.mpi_chunk_size);
    UT_EQ_STR(ud_backend_name(), "mpi");
    UT_CHECK(ud_num_workers() >= 1);
    UT_EQ_INT(ud_rank(), 0);
}

int main(void) {
    ud_config cfg;
    ud_role role;
    memset(&cfg, 0, sizeof cfg);
    ut_counting_use(&cfg, &mem);
    cfg.mpi_gc_threshold = 100; /* clean up often, so that the memory test sees it */
    cfg.log = count_warnings;
    UT_OK(ud_register("whoami", whoami, NULL, &f_whoami));
    UT_OK(ud_register("add_rank", add_rank, NULL, &f_add_rank));
    UT_OK(ud_register("add1", add1, NULL, &f_add1));
    UT_OK(ud_register("live", live, NULL, &f_live));
    UT_OK(ud_register("fill", fill, NULL, &f_fill));
    UT_OK(ud_register("sum", sum, NULL, &f_sum));
    UT_OK(ud_register("echo", echo, NULL, &f_echo));
    UT_OK(ud_register("asks", asks, NULL, &f_asks));
    UT_OK(ud_register("late", late, NULL, &f_late));
    UT_OK(ud_register("touch", touch, NULL, &f_touch));
    if (ud_init(&cfg, &role) != UD_OK) {
        printf("FAIL init: %s\n", ud_last_error());
        return 1;
    }
    if (role != UD_ROLE_DRIVER) /* a worker or monitor, back after shutdown: nothing leaked */
        return atomic_load(&mem.live_bytes) == 0 ? 0 : (fprintf(stderr, "rank leaked %lld bytes\n", (long long)atomic_load(&mem.live_bytes)), 1);
    UT_RUN(checksum_config_is_live);
    UT_RUN(argument_on_another_worker);
    UT_RUN(chain_across_workers);
    UT_RUN(thousand_in_flight);
    UT_RUN(parts_round_trip);
    UT_RUN(small_results_come_with_completion);
    UT_RUN(pushed_results_crossing_gets);
    UT_RUN(few_frees_are_cleaned_up_soon);
    UT_RUN(large_frees_are_cleaned_up_at_once);
    UT_RUN(memory_bounded_under_load);
    UT_RUN(task_gets_a_freed_ref);
    UT_RUN(too_many_results);
    UT_RUN(task_remote_near);
    {   /* a task that submits another once shutdown has begun: shutdown waits for that one too */
        char dir[] = "/tmp/ud_m_mpi_XXXXXX", path[64] = "";
        ud_ref r;
        if (mkdtemp(dir)) {
            ud_arg a;
            snprintf(path, sizeof path, "%s/late", dir);
            a = ud_arg_val(path, strlen(path) + 1);
            UT_OK(ud_remote(f_late, &a, 1, 1, &r));
        }
        UT_CASE("shutdown returns every byte") {
            UT_OK(ud_shutdown());
            UT_EQ_INT(atomic_load(&mem.live_bytes), 0);
        }
        UT_CASE("shutdown waits for a task submitted by a task meanwhile") {
            UT_CHECK(path[0] && access(path, F_OK) == 0);
            if (path[0]) unlink(path);
            rmdir(dir);
        }
    }
    return ut_finish();
}
