/* Allocator and log hooks. The allocator hooks are all three or none; when set, the runtime's
   memory goes through them (objects, results, inline arguments) and all of it is back when
   shutdown returns. The log hook gets each line with its level and the rank. */
#define _GNU_SOURCE /* mallinfo2 */
#define UNIDIST_IMPLEMENTATION
#include "unidist.h"
#include "ud_test.h"

#include <malloc.h>
#include <sys/mman.h>

#define BIG ((size_t)4 << 20)
#define CACHE_MS 2000 /* UNIDIST_BLOCK_CACHE_MS here: no block is trimmed while a case looks */

static ud_func f_big_result, f_sum_arg, f_fail;
static ut_counting mem;
static atomic_llong big_allocs; /* of BIG bytes or more */
static atomic_llong refuse_from; /* map_alloc gives no block of this many bytes or more (0: any) */

/* ---- an allocator that never calls malloc, so malloc's own counters show what bypasses it -- */
typedef union block {
    max_align_t align;
    struct {
        size_t size;
        uint32_t magic;
    } h;
} block;

#define MAGIC 0xa110ca7eu

static void *map_alloc(size_t size, void *user) {
    ut_counting *c = (ut_counting *)user;
    long long refuse = atomic_load(&refuse_from);
    block *b;
    if (refuse && (long long)size >= refuse) return NULL;
    b = mmap(NULL, sizeof *b + size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (b == MAP_FAILED) return NULL;
    b->h.size = size;
    b->h.magic = MAGIC;
    atomic_fetch_add(&c->live_bytes, (long long)size);
    atomic_fetch_add(&c->allocs, 1);
    if (size >= BIG) atomic_fetch_add(&big_allocs, 1);
    return b + 1;
}

static void map_free(void *ptr, size_t size, void *user) {
    ut_counting *c = (ut_counting *)user;
    block *b;
    if (!ptr) return;
    b = (block *)ptr - 1;
    if (b->h.magic != MAGIC) {
        atomic_fetch_add(&c->foreign, 1);
        return;
    }
    if (b->h.size != size) atomic_fetch_add(&c->bad_sizes, 1);
    atomic_fetch_sub(&c->live_bytes, (long long)b->h.size);
    atomic_fetch_add(&c->frees, 1);
    b->h.magic = 0;
    munmap(b, sizeof *b + b->h.size);
}

static void *map_realloc(void *ptr, size_t old_size, size_t new_size, void *user) {
    ut_counting *c = (ut_counting *)user;
    block *old;
    void *p;
    if (!ptr) return map_alloc(new_size, user);
    old = (block *)ptr - 1;
    if (old->h.magic != MAGIC) {
        atomic_fetch_add(&c->foreign, 1);
        return NULL;
    }
    if (old->h.size != old_size) atomic_fetch_add(&c->bad_sizes, 1);
    if (!(p = map_alloc(new_size, user))) return NULL;
    memcpy(p, ptr, old->h.size < new_size ? old->h.size : new_size);
    map_free(ptr, old->h.size, user);
    return p;
}

/* Bytes malloc has handed out and not taken back (every arena, plus its own mmaps). */
static long long malloc_in_use(void) {
    struct mallinfo2 mi = mallinfo2();
    return (long long)mi.uordblks + (long long)mi.hblkhd;
}

/* ---- the log hook --------------------------------------------------------------------------- */
#define MAX_LINES 256
static struct {
    pthread_mutex_t lock;
    int n, bad_level, bad_rank, empty, wrong_user;
    int levels[MAX_LINES];
    char text[MAX_LINES][160];
} logged = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0, 0, {0}, {{0}}};
static int log_token;

static void log_hook(int level, int rank, const char *message, void *user) {
    pthread_mutex_lock(&logged.lock);
    if (level < UD_LOG_ERROR || level > UD_LOG_DEBUG) logged.bad_level++;
    if (rank != 0) logged.bad_rank++;
    if (!message || !message[0]) logged.empty++;
    if (user != &log_token) logged.wrong_user++;
    if (logged.n < MAX_LINES) {
        logged.levels[logged.n] = level;
        snprintf(logged.text[logged.n], sizeof logged.text[0], "%s", message ? message : "");
    }
    logged.n++;
    pthread_mutex_unlock(&logged.lock);
}

/* ---- tasks ---------------------------------------------------------------------------------- */
static int big_result(ud_task *t) {
    unsigned char *p = ud_task_result(t, 0, BIG);
    if (!p) return ud_task_fail(t, "big_result: no memory");
    memset(p, 0xab, BIG);
    return 0;
}

/* Result: the sum of argument 0's bytes, modulo 2^32. */
static int sum_arg(ud_task *t) {
    ud_view v;
    uint32_t sum = 0, *out;
    size_t i;
    if (ud_task_arg(t, 0, &v) != UD_OK) return ud_task_fail(t, "sum_arg: no argument");
    for (i = 0; i < v.size; i++) sum += ((const unsigned char *)v.data)[i];
    if (!(out = ud_task_result(t, 0, sizeof *out))) return ud_task_fail(t, "sum_arg: no memory");
    *out = sum;
    return 0;
}

static int fail(ud_task *t) {
    return ud_task_fail(t, "failed on purpose");
}

/* ---- cases ---------------------------------------------------------------------------------- */
static void expect_refused(const ud_config *cfg, const char *what) {
    ud_role role;
    ud_status s = ud_init(cfg, &role);
    if (!UT_EQ_STATUS(s, UD_ERR_CONFIG)) {
        UT_FAIL("  (hooks: %s)", what);
        if (s == UD_OK) ud_shutdown();
        return;
    }
    if (!ut_contains_nocase(ud_last_error(), "alloc") && !ut_contains_nocase(ud_last_error(), "free"))
        UT_FAIL("hooks %s: last error \"%s\" does not name the allocator", what, ud_last_error());
    UT_EQ_INT(ud_is_initialized(), 0);
}

static void hooks_all_or_none(void) {
    ud_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.alloc_user = &mem;
    cfg.alloc = map_alloc;
    expect_refused(&cfg, "alloc only");
    cfg.free = map_free;
    expect_refused(&cfg, "alloc and free");
    cfg.alloc = NULL;
    cfg.realloc = map_realloc;
    expect_refused(&cfg, "realloc and free");
    cfg.free = NULL;
    expect_refused(&cfg, "realloc only");
    UT_EQ_INT(atomic_load(&mem.allocs), 0);
}

static void init_with_hooks(void) {
    ud_role role;
    ud_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.alloc = map_alloc;
    cfg.realloc = map_realloc;
    cfg.free = map_free;
    cfg.alloc_user = &mem;
    cfg.log = log_hook;
    cfg.log_user = &log_token;
    cfg.log_level = UD_LOG_DEBUG;
    cfg.block_cache_ms = CACHE_MS;
    UT_REQUIRE_OK(ud_init(&cfg, &role));
    UT_CHECK(atomic_load(&mem.allocs) > 0); /* workers, queues and the store come from the hooks */
}

/* Every byte of v is b. */
static int all_bytes(ud_view v, unsigned char b) {
    size_t i;
    for (i = 0; i < v.size; i++)
        if (((const unsigned char *)v.data)[i] != b) return 0;
    return 1;
}

/* Objects, results and inline arguments all come from the hooks, not from malloc. */
static void objects_go_through_hooks(void) {
    unsigned char *src = malloc(BIG);
    long long live0, malloc0, live_peak;
    ud_ref put_ref, res, sum;
    ud_arg a;
    ud_view v;
    UT_REQUIRE(src);
    memset(src, 1, BIG);
    live0 = atomic_load(&mem.live_bytes);
    malloc0 = malloc_in_use();

    UT_REQUIRE_OK(ud_put(src, BIG, &put_ref));
    UT_REQUIRE_OK(ud_remote(f_big_result, NULL, 0, 1, &res));
    a = ud_arg_val(src, BIG);
    UT_REQUIRE_OK(ud_remote(f_sum_arg, &a, 1, 1, &sum));
    if (UT_OK(ud_get(res, &v))) UT_CHECK(v.size == BIG && all_bytes(v, 0xab));
    if (UT_OK(ud_get(sum, &v)) && UT_EQ_INT(v.size, 4)) UT_EQ_INT(*(const uint32_t *)v.data, (uint32_t)BIG);
    if (UT_OK(ud_get(put_ref, &v))) UT_CHECK(v.size == BIG && all_bytes(v, 1));

    live_peak = atomic_load(&mem.live_bytes);
    /* the put copy and the big result are alive now */
    UT_CHECK(live_peak - live0 >= (long long)(2 * BIG));
#if !UT_SANITIZED /* sanitizers replace malloc, and mallinfo2 with it */
    if (malloc_in_use() - malloc0 >= (long long)BIG / 4)
        UT_FAIL("malloc grew by %lld bytes while moving three 4 MiB buffers through the runtime",
                malloc_in_use() - malloc0);
#else
    (void)malloc0;
#endif
    UT_OK(ud_free(put_ref));
    UT_OK(ud_free(res));
    UT_OK(ud_free(sum));
    UT_EVENTUALLY(atomic_load(&mem.live_bytes) < live0 + (long long)BIG / 4, 30.0);
    free(src);
}

/* A freed large object's memory makes the next one of about its size (a put or a task's
   result), holding the new object's bytes, not the old one's, and goes back once unused for
   UNIDIST_BLOCK_CACHE_MS, the process idle. */
static void freed_large_objects_are_reused(void) {
    unsigned char *src = malloc(2 * BIG);
    long long big0, live0;
    ud_ref r, res;
    ud_view v;
    UT_REQUIRE(src);
    memset(src, 7, BIG);
    memset(src + BIG, 9, BIG);
    live0 = atomic_load(&mem.live_bytes);
    big0 = atomic_load(&big_allocs);
    UT_REQUIRE_OK(ud_put(src, BIG, &r));
    UT_OK(ud_free(r));
    UT_REQUIRE_OK(ud_put(src + BIG, BIG - 4096, &r)); /* a little smaller: the same block fits */
    UT_EQ_INT(atomic_load(&big_allocs) - big0, 1);
    if (UT_OK(ud_get(r, &v))) UT_CHECK(v.size == BIG - 4096 && all_bytes(v, 9));
    UT_OK(ud_free(r));
    UT_REQUIRE_OK(ud_remote(f_big_result, NULL, 0, 1, &res)); /* a task's result: the same */
    if (UT_OK(ud_get(res, &v))) UT_CHECK(v.size == BIG && all_bytes(v, 0xab));
    UT_EQ_INT(atomic_load(&big_allocs) - big0, 1);
    UT_OK(ud_free(res));
    UT_REQUIRE_OK(ud_put(src, 2 * BIG, &r)); /* twice the size: a block of its own */
    UT_EQ_INT(atomic_load(&big_allocs) - big0, 2);
    if (UT_OK(ud_get(r, &v))) UT_CHECK(v.size == 2 * BIG && memcmp(v.data, src, v.size) == 0);
    UT_OK(ud_free(r));
    UT_CHECK(atomic_load(&mem.live_bytes) >= live0 + (long long)(2 * BIG)); /* kept while young */
    UT_EVENTUALLY(atomic_load(&mem.live_bytes) < live0 + (long long)BIG / 4, 30.0);
    free(src);
}

static void log_lines_have_level_and_rank(void) {
    ud_ref r;
    ud_view v;
    int i;
    UT_REQUIRE_OK(ud_remote(f_fail, NULL, 0, 1, &r));
    UT_EQ_STATUS(ud_get(r, &v), UD_ERR_TASK);
    UT_OK(ud_free(r));
    pthread_mutex_lock(&logged.lock);
    UT_CHECK(logged.n > 0); /* at level 4, init reports at least what it started */
    UT_EQ_INT(logged.bad_level, 0);
    UT_EQ_INT(logged.bad_rank, 0);
    UT_EQ_INT(logged.empty, 0);
    UT_EQ_INT(logged.wrong_user, 0);
    for (i = 0; i < logged.n && i < MAX_LINES; i++)
        if (logged.text[i][0] == '[') UT_FAIL("line %d carries the default prefix: \"%s\"", i, logged.text[i]);
    pthread_mutex_unlock(&logged.lock);
}

/* Threads backend out of memory: a call of the driver that cannot allocate returns
   UD_ERR_NOMEM naming what it could not have, a task whose argument or result finds no room
   fails as a value, and the runtime stays usable. */
static void out_of_memory_is_a_status(void) {
    unsigned char *src = malloc(4 * BIG);
    ud_ref r = {0, 0}, res;
    ud_arg a;
    ud_view v;
    UT_REQUIRE(src);
    memset(src, 3, 4 * BIG);
    atomic_store(&refuse_from, (long long)(2 * BIG));
    UT_MISUSE(ud_put(src, 4 * BIG, &r), UD_ERR_NOMEM, "put: out of memory");
    a = ud_arg_val(src, 4 * BIG);
    UT_MISUSE(ud_remote(f_sum_arg, &a, 1, 1, &res), UD_ERR_NOMEM, "remote: out of memory");
    atomic_store(&refuse_from, (long long)BIG);
    if (UT_OK(ud_remote(f_big_result, NULL, 0, 1, &res))) {
        UT_EQ_STATUS(ud_get(res, &v), UD_ERR_TASK); /* ud_task_result gave it NULL */
        UT_CONTAINS(ud_last_error(), "big_result: no memory");
        UT_OK(ud_free(res));
    }
    atomic_store(&refuse_from, 0);
    if (UT_OK(ud_put(src, 4 * BIG, &r))) {
        if (UT_OK(ud_get(r, &v))) UT_CHECK(v.size == 4 * BIG && memcmp(v.data, src, v.size) == 0);
        UT_OK(ud_free(r));
    }
    free(src);
}

static void shutdown_returns_every_byte(void) {
    UT_OK(ud_shutdown());
    UT_EQ_INT(atomic_load(&mem.live_bytes), 0);
    UT_EQ_INT(atomic_load(&mem.allocs), atomic_load(&mem.frees));
    UT_EQ_INT(atomic_load(&mem.bad_sizes), 0);
    UT_EQ_INT(atomic_load(&mem.foreign), 0);
}

/* UNIDIST_BLOCK_CACHE 0 (off): a freed large object's memory goes back at once, and the next
   one of its size is a block of its own. */
static void block_cache_off(void) {
    ud_role role;
    ud_config cfg;
    unsigned char *src = malloc(BIG);
    long long big0, live0;
    ud_ref r;
    UT_REQUIRE(src);
    memset(src, 5, BIG);
    ud_config_init(&cfg);
    cfg.alloc = map_alloc;
    cfg.realloc = map_realloc;
    cfg.free = map_free;
    cfg.alloc_user = &mem;
    cfg.block_cache = 0;
    if (!UT_OK(ud_init(&cfg, &role))) {
        free(src);
        return;
    }
    live0 = atomic_load(&mem.live_bytes);
    big0 = atomic_load(&big_allocs);
    UT_REQUIRE_OK(ud_put(src, BIG, &r));
    UT_OK(ud_free(r));
    UT_CHECK(atomic_load(&mem.live_bytes) < live0 + (long long)BIG / 4); /* back at once */
    UT_REQUIRE_OK(ud_put(src, BIG, &r));
    UT_EQ_INT(atomic_load(&big_allocs) - big0, 2);
    UT_OK(ud_free(r));
    UT_OK(ud_shutdown());
    UT_EQ_INT(atomic_load(&mem.live_bytes), 0);
    free(src);
}

static void register_all(void) {
    UT_OK(ud_register("big_result", big_result, NULL, &f_big_result));
    UT_OK(ud_register("sum_arg", sum_arg, NULL, &f_sum_arg));
    UT_OK(ud_register("fail", fail, NULL, &f_fail));
}

int main(void) {
    unsetenv("UNIDIST_LOG_LEVEL"); /* this program sets its own level */
    UT_RUN(register_all);
    UT_RUN(hooks_all_or_none);
    UT_RUN(init_with_hooks);
    if (!ud_is_initialized()) return ut_finish();
    UT_RUN(objects_go_through_hooks);
    UT_RUN(freed_large_objects_are_reused);
    UT_RUN(log_lines_have_level_and_rank);
    UT_RUN(out_of_memory_is_a_status);
    UT_RUN(shutdown_returns_every_byte);
    UT_RUN(block_cache_off);
    return ut_finish();
}
