/* bench.c - unidist benchmark: every figure beside a baseline measured in the same run.

   make bench    (or: ./build/bench [out.json]; BENCH_OUT=path also sets the output file)

   Each figure is the median of several repetitions, with min and max. A figure and its
   baseline run alternately, so noise on a shared machine hits both alike, and the ratio
   (figure / baseline, in the same unit) is what the goals are set on. Results go to a table
   on stdout and one JSON line per figure to the output file.

   Environment: BENCH_ONLY=word runs only the benches whose name contains word;
   BENCH_STRICT=1 makes a missed goal an exit status of 2.

   Adding figures (e.g. for the MPI backend): write a bench function that calls report(),
   and add it to the table `benches` at the end, with the backend it applies to.
*/
#define UNIDIST_IMPLEMENTATION
#include "unidist.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- timing and plumbing ------------------------------------------------------------------ */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Tells the compiler that p's memory is read, so stores into it (a memcpy, a malloc) are
   not optimised away. */
static void escape(const void *p) { __asm__ volatile("" : : "g"(p) : "memory"); }

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

#define CHECK(call)                                                                    \
    do {                                                                               \
        ud_status s_ = (call);                                                         \
        if (s_ != UD_OK)                                                               \
            die("%s:%d: %s: %s: %s", __FILE__, __LINE__, #call, ud_status_str(s_),     \
                ud_last_error());                                                      \
    } while (0)

static void *xmalloc(size_t n) {
    void *p = malloc(n);
    if (!p) die("out of memory (%zu bytes)", n);
    return p;
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* ---- statistics and results --------------------------------------------------------------- */

typedef struct stats {
    double median, min, max;
    int reps;
} stats;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_of(double *v, int n) {   /* sorts v */
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static stats summarize(double *v, int n) {
    stats s;
    s.median = median_of(v, n);
    s.min = v[0];
    s.max = v[n - 1];
    s.reps = n;
    return s;
}

/* One repetition of a measurement; returns its value in the figure's unit. */
typedef double (*rep_fn)(void *ctx);

#define MAX_REPS 31

/* Runs fig and base (which may be NULL) alternately, after one untimed warm-up of each. */
static void measure(rep_fn fig, rep_fn base, void *ctx, int reps, stats *fs, stats *bs) {
    double fv[MAX_REPS], bv[MAX_REPS];
    if (reps > MAX_REPS) reps = MAX_REPS;
    fig(ctx);
    if (base) base(ctx);
    for (int i = 0; i < reps; i++) {
        fv[i] = fig(ctx);
        if (base) bv[i] = base(ctx);
    }
    *fs = summarize(fv, reps);
    if (base) *bs = summarize(bv, reps);
}

typedef enum goal_kind { GOAL_NONE, GOAL_AT_LEAST, GOAL_AT_MOST, GOAL_RATIO_AT_MOST } goal_kind;

typedef struct result {
    const char *name, *unit;
    stats fig;
    const char *baseline;   /* NULL: no baseline */
    double baseline_value;  /* in the figure's unit */
    goal_kind goal;
    double goal_value;
} result;

#define MAX_RESULTS 64
static result results[MAX_RESULTS];
static int nresults;

static void report(const char *name, const char *unit, stats fig, const char *baseline,
                   const stats *base, goal_kind goal, double goal_value) {
    if (nresults == MAX_RESULTS) die("too many results");
    result *r = &results[nresults++];
    r->name = name;
    r->unit = unit;
    r->fig = fig;
    r->baseline = base ? baseline : NULL;
    r->baseline_value = base ? base->median : 0;
    r->goal = goal;
    r->goal_value = goal_value;
    fprintf(stderr, "  %s done\n", name);   /* progress, kept off the table */
}

static int has_ratio(const result *r) { return r->baseline && r->baseline_value > 0; }
static double ratio(const result *r) { return r->fig.median / r->baseline_value; }

static int goal_met(const result *r) {
    switch (r->goal) {
    case GOAL_AT_LEAST: return r->fig.median >= r->goal_value;
    case GOAL_AT_MOST: return r->fig.median <= r->goal_value;
    case GOAL_RATIO_AT_MOST: return has_ratio(r) && ratio(r) <= r->goal_value;
    default: return 1;
    }
}

/* ---- task functions ------------------------------------------------------------------------ */

static ud_func f_empty, f_identity;

static int empty_task(ud_task *t) {
    (void)t;
    return 0;
}

/* Returns a copy of argument 0, part for part. */
static int identity_task(ud_task *t) {
    ud_view v;
    if (ud_task_arg(t, 0, &v) != UD_OK) return ud_task_fail(t, "identity: no argument");
    if (v.nparts <= 1) {
        void *out = ud_task_result(t, 0, v.size);
        if (!out) return ud_task_fail(t, "identity: out of memory");
        if (v.size) memcpy(out, v.data, v.size);
        return 0;
    }
    size_t sizes[16];
    void *ptrs[16];
    if (v.nparts > 16) return ud_task_fail(t, "identity: %d parts", v.nparts);
    for (int k = 0; k < v.nparts; k++) sizes[k] = v.parts[k].size;
    if (ud_task_result_parts(t, 0, sizes, v.nparts, ptrs) != UD_OK)
        return ud_task_fail(t, "identity: out of memory");
    for (int k = 0; k < v.nparts; k++) memcpy(ptrs[k], v.parts[k].data, sizes[k]);
    return 0;
}

/* ---- baselines ----------------------------------------------------------------------------- */

/* A thread hand-off through a mutex and two condition variables; a round trip is two. */
typedef struct pingpong {
    pthread_mutex_t mu;
    pthread_cond_t ping, pong;
    int turn;   /* 1: the partner's move, 0: the caller's */
    int stop;
    pthread_t partner;
} pingpong;

static void *pingpong_partner(void *arg) {
    pingpong *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->turn != 1 && !p->stop) pthread_cond_wait(&p->ping, &p->mu);
        if (p->stop) break;
        p->turn = 0;
        pthread_cond_signal(&p->pong);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void pingpong_start(pingpong *p) {
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->ping, NULL);
    pthread_cond_init(&p->pong, NULL);
    p->turn = 0;
    p->stop = 0;
    if (pthread_create(&p->partner, NULL, pingpong_partner, p)) die("pthread_create failed");
}

static void pingpong_stop(pingpong *p) {
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_signal(&p->ping);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->partner, NULL);
    pthread_cond_destroy(&p->ping);
    pthread_cond_destroy(&p->pong);
    pthread_mutex_destroy(&p->mu);
}

static void pingpong_round_trip(pingpong *p) {
    pthread_mutex_lock(&p->mu);
    p->turn = 1;
    pthread_cond_signal(&p->ping);
    while (p->turn != 0) pthread_cond_wait(&p->pong, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

/* The simplest task pool: one consumer thread popping items from a mutex-protected queue and
   counting them done, the producer waiting for the count. What 100 000 empty tasks would
   cost with no runtime at all. */
typedef struct queue {
    pthread_mutex_t mu;
    pthread_cond_t nonempty, done_cv;
    int *items;
    long head, tail, done, n;
    int waiting;
} queue;

static void *queue_consumer(void *arg) {
    queue *q = arg;
    for (;;) {
        pthread_mutex_lock(&q->mu);
        while (q->tail == q->head) {
            q->waiting = 1;
            pthread_cond_wait(&q->nonempty, &q->mu);
            q->waiting = 0;
        }
        int item = q->items[q->tail++];
        pthread_mutex_unlock(&q->mu);
        if (item < 0) return NULL;
        escape(&item);   /* "run" the task */
        pthread_mutex_lock(&q->mu);
        if (++q->done == q->n) pthread_cond_signal(&q->done_cv);
        pthread_mutex_unlock(&q->mu);
    }
}

static void queue_push(queue *q, int item) {
    pthread_mutex_lock(&q->mu);
    q->items[q->head++] = item;
    if (q->waiting) pthread_cond_signal(&q->nonempty);
    pthread_mutex_unlock(&q->mu);
}

/* items/s through the queue for n items. */
static double queue_throughput(long n) {
    queue q;
    pthread_t th;
    pthread_mutex_init(&q.mu, NULL);
    pthread_cond_init(&q.nonempty, NULL);
    pthread_cond_init(&q.done_cv, NULL);
    q.items = xmalloc((size_t)(n + 1) * sizeof *q.items);
    q.head = q.tail = q.done = 0;
    q.n = n;
    q.waiting = 0;
    if (pthread_create(&th, NULL, queue_consumer, &q)) die("pthread_create failed");
    double t0 = now();
    for (long i = 0; i < n; i++) queue_push(&q, (int)i);
    pthread_mutex_lock(&q.mu);
    while (q.done < n) pthread_cond_wait(&q.done_cv, &q.mu);
    pthread_mutex_unlock(&q.mu);
    double t = now() - t0;
    queue_push(&q, -1);
    pthread_join(th, NULL);
    free(q.items);
    pthread_cond_destroy(&q.nonempty);
    pthread_cond_destroy(&q.done_cv);
    pthread_mutex_destroy(&q.mu);
    return (double)n / t;
}

/* Some goals of the performance issue differ by backend. */
static int on_threads(void) { return strcmp(ud_backend_name(), "threads") == 0; }

/* ---- (a) task throughput ------------------------------------------------------------------- */

#define NTASKS 100000

typedef struct tasks_ctx {
    ud_ref *refs;
    int *ready;
} tasks_ctx;

static double rep_tasks_get(void *ctx) {
    tasks_ctx *c = ctx;
    ud_view v;
    double t0 = now();
    for (int i = 0; i < NTASKS; i++) CHECK(ud_remote(f_empty, NULL, 0, 1, &c->refs[i]));
    for (int i = 0; i < NTASKS; i++) CHECK(ud_get(c->refs[i], &v));
    double t = now() - t0;
    CHECK(ud_free_many(c->refs, NTASKS));
    return NTASKS / t;
}

static double rep_tasks_wait_free(void *ctx) {
    tasks_ctx *c = ctx;
    int nready;
    double t0 = now();
    for (int i = 0; i < NTASKS; i++) CHECK(ud_remote(f_empty, NULL, 0, 1, &c->refs[i]));
    CHECK(ud_wait(c->refs, NTASKS, NTASKS, -1.0, c->ready, &nready));
    CHECK(ud_free_many(c->refs, NTASKS));
    double t = now() - t0;
    if (nready != NTASKS) die("wait: %d of %d ready", nready, NTASKS);
    return NTASKS / t;
}

static double rep_queue(void *ctx) {
    (void)ctx;
    return queue_throughput(NTASKS);
}

static void bench_tasks(void) {
    tasks_ctx c = {xmalloc(NTASKS * sizeof(ud_ref)), xmalloc(NTASKS * sizeof(int))};
    stats f, b;
    double goal = on_threads() ? 500000 : 100000;
    measure(rep_tasks_get, rep_queue, &c, 7, &f, &b);
    report("tasks_submit_get", "tasks/s", f, "mutex_queue", &b, GOAL_AT_LEAST, goal);
    measure(rep_tasks_wait_free, rep_queue, &c, 7, &f, &b);
    report("tasks_submit_wait_free", "tasks/s", f, "mutex_queue", &b, GOAL_AT_LEAST, goal);
    free(c.refs);
    free(c.ready);
}

/* ---- (b) put + get of 8 bytes -------------------------------------------------------------- */

#define NSMALL 200000

static double rep_put_get_8(void *ctx) {
    (void)ctx;
    uint64_t x = 42;
    ud_ref r;
    ud_view v;
    double t0 = now();
    for (int i = 0; i < NSMALL; i++) {
        x++;
        CHECK(ud_put(&x, sizeof x, &r));
        CHECK(ud_get(r, &v));
        CHECK(ud_free(r));
    }
    return (now() - t0) / NSMALL * 1e9;
}

static double rep_malloc_8(void *ctx) {
    (void)ctx;
    double t0 = now();
    for (int i = 0; i < NSMALL; i++) {
        void *p = malloc(8);
        escape(p);
        free(p);
    }
    return (now() - t0) / NSMALL * 1e9;
}

static void bench_put_get_small(void) {
    stats f, b;
    measure(rep_put_get_8, rep_malloc_8, NULL, 9, &f, &b);
    report("put_get_free_8B", "ns", f, "malloc_free_8B", &b, GOAL_AT_MOST, 1000);
}

/* ---- (c) remote round trip ----------------------------------------------------------------- */

#define NRTT 3000

/* Both round trips are timed one by one and a repetition gives their median: a scheduler
   hiccup should not move a latency figure. */
static double rep_remote_rtt(void *ctx) {
    static double t[NRTT];
    (void)ctx;
    uint64_t x = 7;
    for (int i = 0; i < NRTT; i++) {
        ud_arg a = ud_arg_val(&x, sizeof x);
        ud_ref out;
        ud_view v;
        double t0 = now();
        CHECK(ud_remote(f_identity, &a, 1, 1, &out));
        CHECK(ud_get(out, &v));
        t[i] = now() - t0;
        if (v.size != sizeof x || memcmp(v.data, &x, sizeof x) != 0)
            die("identity returned %zu bytes, not the 8 it was given", v.size);
        CHECK(ud_free(out));
    }
    return median_of(t, NRTT) * 1e9;
}

static double rep_pingpong(void *ctx) {
    static double t[NRTT];
    pingpong *p = ctx;
    for (int i = 0; i < NRTT; i++) {
        double t0 = now();
        pingpong_round_trip(p);
        t[i] = now() - t0;
    }
    return median_of(t, NRTT) * 1e9;
}

static void bench_remote_rtt(void) {
    pingpong p;
    stats f, b;
    pingpong_start(&p);
    measure(rep_remote_rtt, rep_pingpong, &p, 9, &f, &b);
    pingpong_stop(&p);
    /* Under MPI the goal is set against a raw MPI round trip, a bench of its own. */
    report("remote_rtt_8B", "ns", f, "condvar_pingpong", &b,
           on_threads() ? GOAL_RATIO_AT_MOST : GOAL_NONE, 3);
}

/* ---- (d) 256 MiB objects ------------------------------------------------------------------- */

#define BIG ((size_t)256 << 20)

typedef struct big_ctx {
    char *src;    /* what gets put: touched, so no first-touch faults on the source side */
    char *warm;   /* a touched destination for the warm memcpy */
    ud_ref kept;  /* a put object whose get is timed */
} big_ctx;

static double rep_put_big(void *ctx) {
    big_ctx *c = ctx;
    ud_ref r;
    double t0 = now();
    CHECK(ud_put(c->src, BIG, &r));
    double t = now() - t0;
    CHECK(ud_free(r));
    return t * 1e3;
}

/* Like put: a fresh destination, so its page faults are counted as put's are. */
static double rep_memcpy_fresh(void *ctx) {
    big_ctx *c = ctx;
    double t0 = now();
    char *dst = xmalloc(BIG);
    memcpy(dst, c->src, BIG);
    escape(dst);
    double t = now() - t0;
    free(dst);
    return t * 1e3;
}

static double rep_memcpy_warm_us(void *ctx) {
    big_ctx *c = ctx;
    double t0 = now();
    memcpy(c->warm, c->src, BIG);
    escape(c->warm);
    return (now() - t0) * 1e6;
}

static double rep_get_big(void *ctx) {
    big_ctx *c = ctx;
    ud_view v;
    double t0 = now();
    CHECK(ud_get(c->kept, &v));
    double t = now() - t0;
    if (v.size != BIG) die("get of 256 MiB gave %zu bytes", v.size);
    return t * 1e6;
}

static double rep_put_task_get_big(void *ctx) {
    big_ctx *c = ctx;
    ud_ref r, out;
    ud_view v;
    double t0 = now();
    CHECK(ud_put(c->src, BIG, &r));
    ud_arg a = ud_arg_ref(r);
    CHECK(ud_remote(f_identity, &a, 1, 1, &out));
    CHECK(ud_get(out, &v));
    double t = now() - t0;
    if (v.size != BIG) die("identity of 256 MiB gave %zu bytes", v.size);
    CHECK(ud_free(r));
    CHECK(ud_free(out));
    return t * 1e3;
}

/* get of a task result that is already done: only the view, no copy. */
static double rep_get_result_big(void *ctx) {
    big_ctx *c = ctx;
    ud_ref r, out;
    ud_view v;
    int ready, nready;
    CHECK(ud_put(c->src, BIG, &r));
    ud_arg a = ud_arg_ref(r);
    CHECK(ud_remote(f_identity, &a, 1, 1, &out));
    CHECK(ud_wait(&out, 1, 1, -1.0, &ready, &nready));
    double t0 = now();
    CHECK(ud_get(out, &v));
    double t = now() - t0;
    if (v.size != BIG) die("identity of 256 MiB gave %zu bytes", v.size);
    CHECK(ud_free(r));
    CHECK(ud_free(out));
    return t * 1e6;
}

static void bench_big(void) {
    big_ctx c;
    stats f, b;
    c.src = xmalloc(BIG);
    c.warm = xmalloc(BIG);
    for (size_t i = 0; i < BIG; i += 64) c.src[i] = (char)i;
    memset(c.warm, 1, BIG);

    measure(rep_put_big, rep_memcpy_fresh, &c, 5, &f, &b);
    report("put_256MiB", "ms", f, "memcpy_fresh_256MiB", &b, GOAL_NONE, 0);

    CHECK(ud_put(c.src, BIG, &c.kept));
    measure(rep_get_big, rep_memcpy_warm_us, &c, 7, &f, &b);
    report("get_256MiB", "us", f, "memcpy_warm_256MiB", &b, GOAL_RATIO_AT_MOST, 0.01);
    CHECK(ud_free(c.kept));

    measure(rep_put_task_get_big, rep_memcpy_fresh, &c, 5, &f, &b);
    report("put_task_get_256MiB", "ms", f, "memcpy_fresh_256MiB", &b, GOAL_RATIO_AT_MOST, 3);

    measure(rep_get_result_big, rep_memcpy_warm_us, &c, 5, &f, &b);
    report("get_task_result_256MiB", "us", f, "memcpy_warm_256MiB", &b, GOAL_RATIO_AT_MOST,
           0.01);
    free(c.src);
    free(c.warm);
}

/* ---- (e) idle CPU -------------------------------------------------------------------------- */

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* CPU time of the whole process (every worker thread) over wall time, in percent. Under MPI
   this is the root's alone; the other ranks' share needs a reduction over the ranks. */
static double rep_idle(void *ctx) {
    (void)ctx;
    double c0 = cpu_seconds(), t0 = now();
    sleep_s(2.0);
    return (cpu_seconds() - c0) / (now() - t0) * 100;
}

static void bench_idle(const char *name) {
    double v[3];
    for (int i = 0; i < 3; i++) v[i] = rep_idle(NULL);
    report(name, "% cpu", summarize(v, 3), NULL, NULL, GOAL_AT_MOST, 10);
}

static void bench_idle_after_init(void) { bench_idle("idle_after_init"); }

/* Idle again after a burst of tasks: workers that spin after work must settle. */
static void bench_idle_after_load(void) {
    tasks_ctx c = {xmalloc(NTASKS * sizeof(ud_ref)), xmalloc(NTASKS * sizeof(int))};
    rep_tasks_get(&c);
    free(c.refs);
    free(c.ready);
    bench_idle("idle_after_load");
}

/* ---- (f) store scaling --------------------------------------------------------------------- */

#define NSTORE_OPS 100000

typedef struct store_ctx {
    ud_ref *live;
    long nlive;
    uint32_t *pick;   /* random indices into live, drawn once */
} store_ctx;

static void store_grow(store_ctx *c, long to) {
    for (; c->nlive < to; c->nlive++) {
        uint64_t x = (uint64_t)c->nlive;
        CHECK(ud_put(&x, sizeof x, &c->live[c->nlive]));
    }
    uint64_t s = 0x9E3779B97F4A7C15u;
    for (long i = 0; i < NSTORE_OPS; i++) {   /* xorshift64: cheap and good enough here */
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        c->pick[i] = (uint32_t)(s % (uint64_t)c->nlive);
    }
}

/* put a new object, get it, free it: per operation, with nlive others in the store. */
static double rep_store_ops(void *ctx) {
    (void)ctx;
    uint64_t x = 1;
    ud_ref r;
    ud_view v;
    double t0 = now();
    for (int i = 0; i < NSTORE_OPS; i++) {
        CHECK(ud_put(&x, sizeof x, &r));
        CHECK(ud_get(r, &v));
        CHECK(ud_free(r));
    }
    return (now() - t0) / (3.0 * NSTORE_OPS) * 1e9;
}

/* get of a random live object: the lookup itself, at the store's full size. */
static double rep_store_get(void *ctx) {
    store_ctx *c = ctx;
    ud_view v;
    double t0 = now();
    for (int i = 0; i < NSTORE_OPS; i++) CHECK(ud_get(c->live[c->pick[i]], &v));
    return (now() - t0) / NSTORE_OPS * 1e9;
}

static void bench_store(void) {
    store_ctx c = {xmalloc(1000000 * sizeof(ud_ref)), 0, xmalloc(NSTORE_OPS * sizeof(uint32_t))};
    stats ops_small, get_small, ops_big, get_big;
    store_grow(&c, 1000);
    measure(rep_store_ops, rep_store_get, &c, 11, &ops_small, &get_small);
    store_grow(&c, 1000000);
    measure(rep_store_ops, rep_store_get, &c, 11, &ops_big, &get_big);
    CHECK(ud_free_many(c.live, (int)c.nlive));
    report("store_op_1M_live", "ns", ops_big, "store_op_1k_live", &ops_small,
           GOAL_RATIO_AT_MOST, 1.5);
    /* Informative: random lookups at 1M miss the cache whatever the map does. */
    report("store_get_random_1M_live", "ns", get_big, "store_get_random_1k_live", &get_small,
           GOAL_NONE, 0);
    free(c.live);
    free(c.pick);
}

/* ---- the table of benches ------------------------------------------------------------------ */

typedef struct bench {
    const char *name;
    void (*fn)(void);
    const char *backend;   /* NULL: every backend; else only when ud_backend_name() is this */
} bench;

static const bench benches[] = {
    {"idle_after_init", bench_idle_after_init, NULL},
    {"tasks", bench_tasks, NULL},
    {"put_get_small", bench_put_get_small, NULL},
    {"remote_rtt", bench_remote_rtt, NULL},
    {"big", bench_big, NULL},
    {"store", bench_store, NULL},
    {"idle_after_load", bench_idle_after_load, NULL},
};

/* ---- output -------------------------------------------------------------------------------- */

static void fmt_num(char *buf, size_t cap, double v) {
    double a = v < 0 ? -v : v;
    if (a >= 1000) snprintf(buf, cap, "%.0f", v);
    else if (a >= 10) snprintf(buf, cap, "%.1f", v);
    else if (a >= 0.01 || a == 0) snprintf(buf, cap, "%.3f", v);
    else snprintf(buf, cap, "%.2e", v);
}

static void fmt_goal(char *buf, size_t cap, const result *r) {
    char n[32];
    fmt_num(n, sizeof n, r->goal_value);
    switch (r->goal) {
    case GOAL_AT_LEAST: snprintf(buf, cap, ">= %s %s", n, r->unit); break;
    case GOAL_AT_MOST: snprintf(buf, cap, "<= %s %s", n, r->unit); break;
    case GOAL_RATIO_AT_MOST: snprintf(buf, cap, "ratio <= %s", n); break;
    default: snprintf(buf, cap, "-");
    }
}

static void print_table(FILE *f) {
    fprintf(f, "%-26s %12s %-8s %-23s %-26s %12s %9s  %s\n", "figure", "value", "unit",
            "spread (min..max)", "baseline", "baseline", "ratio", "goal");
    for (int i = 0; i < nresults; i++) {
        const result *r = &results[i];
        char v[32], lo[32], hi[32], spread[80], bv[32] = "-", ra[32] = "-", goal[64];
        fmt_num(v, sizeof v, r->fig.median);
        fmt_num(lo, sizeof lo, r->fig.min);
        fmt_num(hi, sizeof hi, r->fig.max);
        snprintf(spread, sizeof spread, "%s..%s", lo, hi);
        if (r->baseline) fmt_num(bv, sizeof bv, r->baseline_value);
        if (has_ratio(r)) fmt_num(ra, sizeof ra, ratio(r));
        fmt_goal(goal, sizeof goal, r);
        fprintf(f, "%-26s %12s %-8s %-23s %-26s %12s %9s  %s%s\n", r->name, v, r->unit, spread,
                r->baseline ? r->baseline : "-", bv, ra, goal,
                r->goal == GOAL_NONE ? "" : goal_met(r) ? "  ok" : "  MISSED");
    }
}

static void json_num(FILE *f, double v, int valid) {
    if (valid && v == v && v - v == 0) fprintf(f, "%.6g", v);   /* finite */
    else fprintf(f, "null");
}

static void write_json(FILE *f) {
    for (int i = 0; i < nresults; i++) {
        const result *r = &results[i];
        fprintf(f, "{\"name\":\"%s\",\"value\":", r->name);
        json_num(f, r->fig.median, 1);
        fprintf(f, ",\"unit\":\"%s\",\"baseline\":", r->unit);
        if (r->baseline) fprintf(f, "\"%s\"", r->baseline);
        else fprintf(f, "null");
        fprintf(f, ",\"baseline_value\":");
        json_num(f, r->baseline_value, r->baseline != NULL);
        fprintf(f, ",\"ratio\":");
        json_num(f, has_ratio(r) ? ratio(r) : 0, has_ratio(r));
        fprintf(f, ",\"min\":");
        json_num(f, r->fig.min, 1);
        fprintf(f, ",\"max\":");
        json_num(f, r->fig.max, 1);
        fprintf(f, ",\"reps\":%d}\n", r->fig.reps);
    }
}

static const char *output_path(int argc, char **argv) {
    if (argc > 1) return argv[1];
    const char *env = getenv("BENCH_OUT");
    if (env && *env) return env;
    mkdir("build", 0777);   /* may exist already; fopen reports a real failure */
    return "build/bench.json";
}

/* Other processes on the machine move every figure; the load average says how much. */
static const char *load_average(void) {
    static char buf[128];
    FILE *f = fopen("/proc/loadavg", "r");
    snprintf(buf, sizeof buf, "?\n");
    if (f) {
        if (!fgets(buf, sizeof buf, f)) snprintf(buf, sizeof buf, "?\n");
        fclose(f);
    }
    return buf;
}

/* Registers the task functions and starts the runtime; 0 on a process that is not the driver. */
static int start_runtime(void) {
    ud_role role;
    CHECK(ud_register("empty", empty_task, NULL, &f_empty));
    CHECK(ud_register("identity", identity_task, NULL, &f_identity));
    CHECK(ud_init(NULL, &role));
    return role == UD_ROLE_DRIVER;
}

static char run_backend[16] = "?";
static int run_workers;

static void run_bench(const bench *b) {
    if (b->backend && strcmp(b->backend, ud_backend_name()) != 0) return;
    fprintf(stderr, "bench %s...\n", b->name);
    b->fn();
}

#ifndef UNIDIST_MPI_H
/* Write or read all of n bytes through a pipe. */
static int pipe_io(int fd, void *buf, size_t n, int writing) {
    char *p = buf;
    while (n) {
        ssize_t k = writing ? write(fd, p, n) : read(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* The runtime cannot be started twice in one process, and its store keeps the size it grew
   to: so each bench gets a fresh runtime in a child process, and a figure such as the store
   at 1 000 live objects is not measured on a table that an earlier bench made large. The
   child sends its results back through a pipe (same image, so the name pointers hold). */
static int run_isolated(const bench *b) {
    int fd[2], status, n = 0;
    fflush(stdout);
    fflush(stderr);
    if (pipe(fd) != 0) die("pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) die("fork: %s", strerror(errno));
    if (pid == 0) {
        close(fd[0]);
        nresults = 0;   /* the parent's, copied by fork */
        start_runtime();
        run_workers = ud_num_workers();
        snprintf(run_backend, sizeof run_backend, "%s", ud_backend_name());
        run_bench(b);
        CHECK(ud_shutdown());
        if (pipe_io(fd[1], run_backend, sizeof run_backend, 1) ||
            pipe_io(fd[1], &run_workers, sizeof run_workers, 1) ||
            pipe_io(fd[1], &nresults, sizeof nresults, 1) ||
            pipe_io(fd[1], results, (size_t)nresults * sizeof *results, 1))
            _exit(3);
        _exit(0);
    }
    close(fd[1]);
    int before = nresults, ok = 0;
    if (!pipe_io(fd[0], run_backend, sizeof run_backend, 0) &&
        !pipe_io(fd[0], &run_workers, sizeof run_workers, 0) &&
        !pipe_io(fd[0], &n, sizeof n, 0) && n >= 0 && before + n <= MAX_RESULTS &&
        !pipe_io(fd[0], results + before, (size_t)n * sizeof *results, 0)) {
        nresults = before + n;
        ok = 1;
    }
    close(fd[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (!ok || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench %s: failed (see above)\n", b->name);
        return 0;
    }
    return 1;
}
#endif

static int selected(const bench *b) {
    const char *only = getenv("BENCH_ONLY");
    return !only || !*only || strstr(b->name, only);
}

int main(int argc, char **argv) {
    const char *out = output_path(argc, argv);
    int failed = 0;
    char load_before[128];
    snprintf(load_before, sizeof load_before, "%s", load_average());
#ifdef UNIDIST_MPI_H
    /* Under mpiexec every rank takes part in one runtime: all benches run in it. */
    if (!start_runtime()) return 0;
    run_workers = ud_num_workers();
    snprintf(run_backend, sizeof run_backend, "%s", ud_backend_name());
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++)
        if (selected(&benches[i])) run_bench(&benches[i]);
    CHECK(ud_shutdown());
#else
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++)
        if (selected(&benches[i])) failed += !run_isolated(&benches[i]);
#endif

    printf("unidist %s bench: backend %s, %d workers, %ld cores\n", ud_version(), run_backend,
           run_workers, sysconf(_SC_NPROCESSORS_ONLN));
    printf("load average before: %s", load_before);
    printf("load average after:  %s", load_average());
    print_table(stdout);
    FILE *f = fopen(out, "w");
    if (!f) die("cannot write %s: %s", out, strerror(errno));
    write_json(f);
    if (fclose(f) != 0) die("cannot write %s: %s", out, strerror(errno));
    printf("results: %s\n", out);

    int missed = 0;
    for (int i = 0; i < nresults; i++) missed += !goal_met(&results[i]);
    if (missed) printf("%d goal(s) missed\n", missed);
    if (failed) printf("%d bench(es) failed\n", failed);
    const char *strict = getenv("BENCH_STRICT");
    if (failed) return 1;
    return missed && strict && strcmp(strict, "1") == 0 ? 2 : 0;
}
