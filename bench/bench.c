/* bench.c - unidist benchmark: every figure beside a baseline measured in the same run.

   make bench    (or: ./build/bench [out.json]; BENCH_OUT=path also sets the output file)

   Each figure is the median of several repetitions, with min and max. A figure and its
   baseline run alternately, so noise on a shared machine hits both alike, and the ratio
   (figure / baseline, in the same unit) is what the goals are set on. Results go to a table
   on stdout and one JSON line per figure to the output file.

   The MPI backend: build with mpicc and -DBENCH_MPI, run under mpiexec with 2 or more ranks
   (4: the driver and three workers). The program then initializes MPI itself and measures raw
   MPI between rank 0 and rank 2 (rank 1 with 2 ranks: ping-pong, a stream of small sends,
   256 MiB each way) on MPI_COMM_WORLD, before the runtime starts and again after it stopped;
   in between it hosts the runtime on the same ranks (ud_config.mpi_comm) and measures its
   figures on the driver. With UNIDIST_MPI_HOSTS=2 (the third run of make bench,
   BENCH_ONLY=big) the ranks form two virtual hosts and the large-object figures, named
   *_2hosts, measure results that cross between them. The fourth run is on 2 ranks (the driver
   and one worker of 2 task threads, figures named *_2ranks), the fifth on 4 virtual hosts of
   one rank each (BENCH_ONLY=hosts).

   Environment: BENCH_ONLY=word runs only the benches whose name contains word;
   BENCH_STRICT=1 makes a missed goal an exit status of 2; BENCH_CHURN=n sets the number of
   tasks of the churn bench (default 1 000 000); BENCH_TAG=word appends _word to every name.

   Adding figures: write a bench function that calls report(), and add it to the table
   `benches` at the end, with the backend it applies to.
*/
#define UNIDIST_IMPLEMENTATION
#ifdef BENCH_MPI
#include "unidist_mpi.h"
#else
#include "unidist.h"
#endif

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
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
#ifdef BENCH_MPI
    {   /* the other ranks would wait for this one forever */
        int init = 0, done = 0;
        MPI_Initialized(&init);
        MPI_Finalized(&done);
        if (init && !done) MPI_Abort(MPI_COMM_WORLD, 1);
    }
#endif
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

typedef enum goal_kind {
    GOAL_NONE, GOAL_AT_LEAST, GOAL_AT_MOST, GOAL_RATIO_AT_MOST, GOAL_RATIO_AT_LEAST
} goal_kind;

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
static int quiet;   /* no progress lines */
static char run_backend[16] = "?";
static int run_workers;
static char run_where[160];   /* ranks, MPI library: the header's tail */

/* BENCH_TAG=word names every figure of the run name_word: a run with another layout (2 ranks,
   say) measures another thing, and its figures must not pass for the usual ones. */
static const char *tagged(const char *name) {
    static char names[2 * MAX_RESULTS][64];
    static int used;
    const char *tag = getenv("BENCH_TAG");
    if (!tag || !*tag) return name;
    if (used == 2 * MAX_RESULTS) die("tagged: too many names");
    snprintf(names[used], sizeof names[0], "%s_%s", name, tag);
    return names[used++];
}

static void report(const char *name, const char *unit, stats fig, const char *baseline,
                   const stats *base, goal_kind goal, double goal_value) {
    if (nresults == MAX_RESULTS) die("too many results");
    name = tagged(name);
    result *r = &results[nresults++];
    r->name = name;
    r->unit = unit;
    r->fig = fig;
    r->baseline = base ? baseline : NULL;
    r->baseline_value = base ? base->median : 0;
    r->goal = goal;
    r->goal_value = goal_value;
    if (!quiet) fprintf(stderr, "  %s done\n", name);   /* progress, kept off the table */
}

/* Lines printed under the table: what a figure does not show by itself. */
#define MAX_NOTES 16
static char notes[MAX_NOTES][200];
static int nnotes;

static void note(const char *fmt, ...) {
    va_list ap;
    if (nnotes == MAX_NOTES) return;
    va_start(ap, fmt);
    vsnprintf(notes[nnotes++], sizeof notes[0], fmt, ap);
    va_end(ap);
}

static int has_ratio(const result *r) { return r->baseline && r->baseline_value > 0; }
static double ratio(const result *r) { return r->fig.median / r->baseline_value; }

static int goal_met(const result *r) {
    switch (r->goal) {
    case GOAL_AT_LEAST: return r->fig.median >= r->goal_value;
    case GOAL_AT_MOST: return r->fig.median <= r->goal_value;
    case GOAL_RATIO_AT_MOST: return has_ratio(r) && ratio(r) <= r->goal_value;
    case GOAL_RATIO_AT_LEAST: return has_ratio(r) && ratio(r) >= r->goal_value;
    default: return 1;
    }
}

/* ---- task functions ------------------------------------------------------------------------ */

static ud_func f_empty, f_identity, f_identity_inline, f_fill, f_nap, f_sum, f_sleep, f_fib;

static int empty_task(ud_task *t) {
    (void)t;
    return 0;
}

/* fib(n) as tasks: each n >= 2 submits fib(n - 1) and fib(n - 2) and reads them with a
   nested get (threads backend: tasks may submit tasks). */
static int fib_task(ud_task *t) {
    ud_view a, v[2];
    ud_ref r[2];
    int n, x = 0, *y;
    if (ud_task_arg(t, 0, &a) != UD_OK || a.size != sizeof n) return ud_task_fail(t, "fib: arg");
    memcpy(&n, a.data, sizeof n);
    if (n < 2) x = n;
    for (int k = 0; n >= 2 && k < 2; k++) {
        int m = n - 1 - k;
        ud_arg arg = ud_arg_val(&m, sizeof m);
        if (ud_remote(f_fib, &arg, 1, 1, &r[k]) != UD_OK) return ud_task_fail(t, "fib: remote");
    }
    if (n >= 2) {
        if (ud_get_many(r, 2, v) != UD_OK) return ud_task_fail(t, "fib: get");
        x = *(const int *)v[0].data + *(const int *)v[1].data;
        ud_free_many(r, 2);
    }
    if (!(y = ud_task_result(t, 0, sizeof *y))) return ud_task_fail(t, "fib: no memory");
    *y = x;
    return 0;
}

#define NAP_S 0.010

/* Sleeps 10 ms: a task that takes a thread but no core. */
static int nap_task(ud_task *t) {
    (void)t;
    sleep_s(NAP_S);
    return 0;
}

/* Sleeps as many seconds as argument 0 (a double) says. */
static int sleep_task(ud_task *t) {
    ud_view v;
    double s;
    if (ud_task_arg(t, 0, &v) != UD_OK || v.size != sizeof s) return ud_task_fail(t, "sleep: no length");
    memcpy(&s, v.data, sizeof s);
    sleep_s(s);
    return 0;
}

/* Reads every byte of argument 0 (a sum of its 8-byte words); says whether it was in place. */
static int sum_task(ud_task *t) {
    ud_view v;
    uint64_t *out = ud_task_result(t, 0, 2 * sizeof *out), acc = 0;
    if (!out || ud_task_arg(t, 0, &v) != UD_OK) return ud_task_fail(t, "sum: no argument");
    for (size_t i = 0; i + 8 <= v.size; i += 8) {
        uint64_t w;
        memcpy(&w, (const char *)v.data + i, 8);
        acc += w;
    }
    out[0] = acc;
#ifdef BENCH_MPI
    out[1] = (uint64_t)ud_shm_contains(v.data);
#else
    out[1] = 1;
#endif
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

/* Returns an object of as many bytes as argument 0 (a uint64_t) says, every byte written: a
   large result with no large argument to move first. */
static int fill_task(ud_task *t) {
    ud_view v;
    uint64_t n;
    if (ud_task_arg(t, 0, &v) != UD_OK || v.size != sizeof n)
        return ud_task_fail(t, "fill: no size");
    memcpy(&n, v.data, sizeof n);
    void *out = ud_task_result(t, 0, (size_t)n);
    if (!out && n) return ud_task_fail(t, "fill: out of memory");
    if (n) memset(out, 7, (size_t)n);
    return 0;
}

/* ---- baselines ----------------------------------------------------------------------------- */

#ifndef BENCH_MPI   /* threads baselines; under MPI the baselines are raw MPI */
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

/* A thread hand-off where both sides spin on one flag, never sleeping in the kernel: what a
   hand-off costs when the other thread is already looking, as the runtime's task threads are
   for UNIDIST_SPIN_US after a task. A round trip is two. */
typedef struct spinpong {
    atomic_int turn;   /* 1: the partner's move, 0: the caller's, -1: stop */
    pthread_t partner;
} spinpong;

static void *spinpong_partner(void *arg) {
    spinpong *p = arg;
    for (;;) {
        int t = atomic_load_explicit(&p->turn, memory_order_acquire);
        if (t < 0) return NULL;
        if (t == 1) atomic_store_explicit(&p->turn, 0, memory_order_release);
    }
}

static void spinpong_start(spinpong *p) {
    atomic_init(&p->turn, 0);
    if (pthread_create(&p->partner, NULL, spinpong_partner, p)) die("pthread_create failed");
}

static void spinpong_stop(spinpong *p) {
    atomic_store(&p->turn, -1);
    pthread_join(p->partner, NULL);
}

static void spinpong_round_trip(spinpong *p) {
    atomic_store_explicit(&p->turn, 1, memory_order_release);
    while (atomic_load_explicit(&p->turn, memory_order_acquire) != 0) {
    }
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

#endif

/* Some goals of the performance issue differ by backend. */
static int on_threads(void) { return strcmp(ud_backend_name(), "threads") == 0; }

/* ---- other processes: CPU time and peak memory through /proc ------------------------------ */

/* The processes of the runtime: under MPI every rank's (gathered before init; all ranks run on
   this host), on threads this one. */
#define MAX_RANKS 64
static pid_t rank_pid[MAX_RANKS];
static int nranks = 0;

static void ranks_self(void) {
    rank_pid[0] = getpid();
    nranks = 1;
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* utime + stime of a process, from /proc/PID/stat (clock ticks); this process's own through
   getrusage, which is finer. */
static double cpu_seconds_of(pid_t pid) {
    char path[64], buf[1024];
    unsigned long ut = 0, st = 0;
    if (pid == getpid()) return cpu_seconds();
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) die("cannot read %s: %s", path, strerror(errno));
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');   /* the command name may hold spaces */
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        die("cannot parse %s", path);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* A "Vm...:  N kB" line of /proc/PID/status, in KiB. */
static long proc_status_kib(pid_t pid, const char *key) {
    char path[64], line[256];
    long v = -1;
    size_t klen = strlen(key);
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) die("cannot read %s: %s", path, strerror(errno));
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, klen) && line[klen] == ':') {
            v = strtol(line + klen + 1, NULL, 10);
            break;
        }
    fclose(f);
    if (v < 0) die("no %s in %s", key, path);
    return v;
}

/* Resets the peak resident size (VmHWM) to the current one; 0 if the kernel refused. */
static int reset_peak_rss(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/clear_refs", (int)pid);
    FILE *f = fopen(path, "w");
    if (!f) return 0;
    int ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
}

/* ---- raw MPI baselines (MPI build) ----------------------------------------------------------
   Measured between rank 0 and rank 2 on MPI_COMM_WORLD before the runtime starts and again
   after it stopped (the ranks run the runtime in between); both sets of repetitions are
   pooled, so slow drift of the machine's load shows in the spread. */
#ifdef BENCH_MPI
typedef struct raw_set {
    double v[2 * MAX_REPS];
    int n;
} raw_set;

static raw_set raw_rtt;     /* ns, one 8 B round trip (a repetition: median of many) */
static raw_set raw_send;    /* ns a message, a stream of 64 B sends */
static raw_set raw_big;     /* ms, 256 MiB from rank 0 to rank 2 and back */

static double as_is(double v) { return v; }
static double twice(double v) { return 2 * v; }
static double half(double v) { return v / 2; }
static double per_second(double ns) { return 1e9 / ns; }
static double oneway_us(double ms) { return ms / 2 * 1e3; }
static double gb_per_s(double ms) { return 2.0 * (double)((size_t)256 << 20) / (ms * 1e-3) / 1e9; }

static stats raw_stats(const raw_set *s, double (*f)(double)) {
    double v[2 * MAX_REPS];
    for (int i = 0; i < s->n; i++) v[i] = f(s->v[i]);
    return summarize(v, s->n);
}
#endif

/* ---- (a) task throughput ------------------------------------------------------------------- */

#define NTASKS 100000

typedef struct tasks_ctx {
    ud_ref *refs;
    int *ready;
    ud_view *views;
    int n;                            /* tasks a repetition */
    double submit_ns[MAX_REPS + 1];   /* the submit loop, a task, one a repetition */
    int nsubmit;
    double root_ns[MAX_REPS + 1];     /* the driver's CPU time in submit and get_many, a task */
    int nroot;
} tasks_ctx;

static tasks_ctx tasks_ctx_new(void) {
    tasks_ctx c;
    memset(&c, 0, sizeof c);
    c.refs = xmalloc(NTASKS * sizeof(ud_ref));
    c.ready = xmalloc(NTASKS * sizeof(int));
    c.views = xmalloc(NTASKS * sizeof(ud_view));
    c.n = NTASKS;
    return c;
}

static void tasks_ctx_free(tasks_ctx *c) {
    free(c->refs);
    free(c->ready);
    free(c->views);
}

/* Submits c->n empty tasks; keeps what the submit loop cost a task (the root's share). */
static void submit_empty(tasks_ctx *c) {
    double t0 = now();
    for (int i = 0; i < c->n; i++) CHECK(ud_remote(f_empty, NULL, 0, 1, &c->refs[i]));
    if (c->nsubmit < MAX_REPS + 1) c->submit_ns[c->nsubmit++] = (now() - t0) / c->n * 1e9;
}

static double rep_tasks_get(void *ctx) {
    tasks_ctx *c = ctx;
    ud_view v;
    double t0 = now();
    submit_empty(c);
    for (int i = 0; i < c->n; i++) CHECK(ud_get(c->refs[i], &v));
    double t = now() - t0;
    CHECK(ud_free_many(c->refs, c->n));
    return c->n / t;
}

/* All results in one call: under MPI one GET a worker instead of one a result. */
static double rep_tasks_get_many(void *ctx) {
    tasks_ctx *c = ctx;
    double cpu0 = cpu_seconds(), t0 = now();
    submit_empty(c);
    CHECK(ud_get_many(c->refs, c->n, c->views));
    double t = now() - t0;
    if (c->nroot < MAX_REPS + 1) c->root_ns[c->nroot++] = (cpu_seconds() - cpu0) / c->n * 1e9;
    CHECK(ud_free_many(c->refs, c->n));
    return c->n / t;
}

static double rep_tasks_wait_free(void *ctx) {
    tasks_ctx *c = ctx;
    int nready;
    double t0 = now();
    submit_empty(c);
    CHECK(ud_wait(c->refs, c->n, c->n, -1.0, c->ready, &nready));
    CHECK(ud_free_many(c->refs, c->n));
    double t = now() - t0;
    if (nready != c->n) die("wait: %d of %d ready", nready, c->n);
    return c->n / t;
}

/* What recording a trace costs: 100 000 empty tasks then get_many, in phases of the runtime
   with UNIDIST_TRACE off and on in turn, in this same process (so the same machine state
   each time); each phase measures once after a warm-up. Every rank takes part (ud_init on
   each): under MPI the driver measures while the others serve, as in any run. */
#define TRACE_PAIRS 7
#define TRACE_PATH "build/bench_trace.json"

static void bench_trace_cost(ud_config *cfg) {
    double off[TRACE_PAIRS], on[TRACE_PAIRS];
    ud_role role;
    for (int k = 0; k < 2 * TRACE_PAIRS; k++) {
        cfg->trace = k % 2 ? TRACE_PATH : NULL;
        CHECK(ud_init(cfg, &role));
        if (role != UD_ROLE_DRIVER) continue; /* back after the driver's shutdown */
        tasks_ctx c = tasks_ctx_new();
        if (!run_workers) { /* only this bench ran: the table's header comes from here */
            run_workers = ud_num_workers();
            snprintf(run_backend, sizeof run_backend, "%s", ud_backend_name());
        }
        rep_tasks_get_many(&c);
        (k % 2 ? on : off)[k / 2] = rep_tasks_get_many(&c);
        tasks_ctx_free(&c);
        CHECK(ud_shutdown());
    }
    cfg->trace = NULL;
    if (role != UD_ROLE_DRIVER) return;
    remove(TRACE_PATH);
    stats fon = summarize(on, TRACE_PAIRS), foff = summarize(off, TRACE_PAIRS);
    report("traced_tasks_get_many", "tasks/s", fon, "untraced_tasks_get_many", &foff,
           GOAL_RATIO_AT_LEAST, 0.9);
}

static int trace_selected(void) {
    const char *only = getenv("BENCH_ONLY");
    return !only || !*only || strstr(only, "trace") != NULL;
}

#ifdef BENCH_MPI
/* 0.76 on a loaded 2-core machine, 4 ranks (the root's CPU time; the raw send's wall time) */
#define ROOT_COST_GOAL 2
/* Under MPI the baseline is raw MPI: small sends a second from rank 0 to rank 2, and what one
   of them costs against what the root spends submitting a task. */
#define NTASKS_EACH 5000

static void bench_tasks(void) {
    tasks_ctx c = tasks_ctx_new();
    stats f, sub, root;
    stats rate = raw_stats(&raw_send, per_second), send = raw_stats(&raw_send, as_is);
    stats send2 = raw_stats(&raw_send, twice);
    measure(rep_tasks_get_many, NULL, &c, 5, &f, NULL);
    sub = summarize(c.submit_ns + 1, c.nsubmit - 1);   /* not the warm-up's */
    root = summarize(c.root_ns + 1, c.nroot - 1);
    /* 4 ranks (driver and 3 workers) are held to 500 000 a second; one worker rank of 2 task
       threads (mpiexec -n 2) to 200 000 */
    report("tasks_submit_get_many", "tasks/s", f, "mpi_send_64B_rate", &rate, GOAL_AT_LEAST,
           ud_num_workers() >= 3 ? 500000 : ud_num_workers() == 1 && ud_worker_threads(0) >= 2 ? 200000 : 100000);
    /* The submit loop alone leaves out the batches it holds and the completions the root
       handles later: shown, without a goal. The goal is on the root's whole CPU time a task
       (submit, the batches flushed, every completion and the get_many), against a raw 64 B
       send and receive a task, as a root would spend with no runtime and no batches. */
    report("root_submit_per_task", "ns", sub, "mpi_send_64B", &send, GOAL_NONE, 0);
    report("root_cost_per_task", "ns", root, "mpi_send_64B_x2", &send2, GOAL_RATIO_AT_MOST,
           ROOT_COST_GOAL);
    /* One ud_get a result: small results come to the driver with their completion, so a get
       waits for no round trip. On 5 000 tasks, or a slow round trip makes the run long. */
    c.n = NTASKS_EACH;
    measure(rep_tasks_get, NULL, &c, 3, &f, NULL);
    report("tasks_submit_get_5k", "tasks/s", f, "mpi_send_64B_rate", &rate, GOAL_AT_LEAST,
           300000);
    c.n = NTASKS;
    measure(rep_tasks_wait_free, NULL, &c, 5, &f, NULL);
    report("tasks_submit_wait_free", "tasks/s", f, "mpi_send_64B_rate", &rate, GOAL_AT_LEAST,
           100000);
    tasks_ctx_free(&c);
}
#else
static double rep_queue(void *ctx) {
    (void)ctx;
    return queue_throughput(NTASKS);
}

static void bench_tasks(void) {
    tasks_ctx c = tasks_ctx_new();
    stats f, b;
    measure(rep_tasks_get, rep_queue, &c, 7, &f, &b);
    report("tasks_submit_get", "tasks/s", f, "mutex_queue", &b, GOAL_AT_LEAST, 500000);
    measure(rep_tasks_get_many, rep_queue, &c, 7, &f, &b);
    report("tasks_submit_get_many", "tasks/s", f, "mutex_queue", &b, GOAL_AT_LEAST, 500000);
    measure(rep_tasks_wait_free, rep_queue, &c, 7, &f, &b);
    report("tasks_submit_wait_free", "tasks/s", f, "mutex_queue", &b, GOAL_AT_LEAST, 500000);
    tasks_ctx_free(&c);
}
#endif

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

#ifdef BENCH_MPI
#define NRTT 1000   /* a slow round trip (a rank asleep in its backoff) must not make it long */
#else
#define NRTT 3000
#endif

/* Both round trips are timed one by one and a repetition gives their median: a scheduler
   hiccup should not move a latency figure. */
static ud_func rtt_fn; /* the function of the round trip: f_identity or f_identity_inline */

static double rep_remote_rtt(void *ctx) {
    static double t[NRTT];
    (void)ctx;
    uint64_t x = 7;
    for (int i = 0; i < NRTT; i++) {
        ud_arg a = ud_arg_val(&x, sizeof x);
        ud_ref out;
        ud_view v;
        double t0 = now();
        CHECK(ud_remote(rtt_fn, &a, 1, 1, &out));
        CHECK(ud_get(out, &v));
        t[i] = now() - t0;
        if (v.size != sizeof x || memcmp(v.data, &x, sizeof x) != 0)
            die("identity returned %zu bytes, not the 8 it was given", v.size);
        CHECK(ud_free(out));
    }
    return median_of(t, NRTT) * 1e9;
}

#ifndef BENCH_MPI
/* The median of NRTT round trips of a hand-off, in ns. */
static double handoff_median(void (*round_trip)(void *), void *p) {
    static double t[NRTT];
    for (int i = 0; i < NRTT; i++) {
        double t0 = now();
        round_trip(p);
        t[i] = now() - t0;
    }
    return median_of(t, NRTT) * 1e9;
}

static void pingpong_rt(void *p) { pingpong_round_trip(p); }
static void spinpong_rt(void *p) { spinpong_round_trip(p); }
static double rep_pingpong(void *ctx) { return handoff_median(pingpong_rt, ctx); }
static double rep_spinpong(void *ctx) { return handoff_median(spinpong_rt, ctx); }
#endif

#ifdef BENCH_MPI
/* A task there and its result back, against an 8 B MPI_Send/MPI_Recv round trip; the same
   function registered UD_FN_INLINE runs on the worker's loop thread, with no hand-off. */
static void bench_remote_rtt(void) {
    stats f, fi, b = raw_stats(&raw_rtt, as_is);
    rtt_fn = f_identity;
    measure(rep_remote_rtt, NULL, NULL, 9, &f, NULL);
    report("remote_rtt_8B", "ns", f, "mpi_rtt_8B", &b, GOAL_RATIO_AT_MOST, 8);
    rtt_fn = f_identity_inline;
    measure(rep_remote_rtt, NULL, NULL, 9, &fi, NULL);
    report("remote_rtt_8B_inline", "ns", fi, "mpi_rtt_8B", &b, GOAL_RATIO_AT_MOST, 8);
}
#else
/* Two hand-offs, the task's bookkeeping and the get: 67x on a loaded 2-core machine. */
#define RTT_SPIN_GOAL 100
/* Against a spin-wait hand-off, whose partner is looking already, as a task thread is while it
   spins; the condition-variable hand-off (each side asleep in the kernel) is shown beside it,
   without a goal: a runtime whose threads spin first beats it by construction. */
static void bench_remote_rtt(void) {
    pingpong p;
    spinpong sp;
    stats f, b, cv;
    spinpong_start(&sp);
    rtt_fn = f_identity;
    measure(rep_remote_rtt, rep_spinpong, &sp, 9, &f, &b);
    spinpong_stop(&sp);
    report("remote_rtt_8B", "ns", f, "spin_pingpong", &b, GOAL_RATIO_AT_MOST, RTT_SPIN_GOAL);
    pingpong_start(&p);
    measure(rep_pingpong, NULL, &p, 9, &cv, NULL);
    pingpong_stop(&p);
    report("remote_rtt_8B_vs_condvar", "ns", f, "condvar_pingpong", &cv, GOAL_NONE, 0);
}
#endif

/* ---- (d) large objects ----------------------------------------------------------------------
   256 MiB put, got and through a task, and the get of a finished task's result at 1 MiB,
   256 MiB and 1 GiB: on one host a view, whatever the size. Under MPI with the ranks split
   into several hosts (UNIDIST_MPI_HOSTS) the 256 MiB figures are labelled with the number of
   hosts and the result comes from another host, so it travels through MPI. */

#define BIG ((size_t)256 << 20)
#define MIB ((size_t)1 << 20)
#define GIB ((size_t)1 << 30)

typedef struct big_ctx {
    size_t n;        /* bytes of every object and copy of a repetition */
    char *src;       /* what gets put: touched, so no first-touch faults on the source side */
    char *warm;      /* a touched destination for the warm memcpy */
    ud_ref kept;     /* a put object whose get is timed */
    int hosts;       /* under MPI the hosts the ranks span, else 1 */
    int store;       /* under MPI the driver's host has a shared store */
    char *evict;     /* read before a timed get of a result: larger than the last-level cache */
    size_t nevict;
    int as_is;       /* time the get of a result as it comes, without evicting the caches first */
    ud_opts where;   /* where the tasks run: with several hosts, on the last one */
    char *chase;     /* pages for the cold pointer chase, apart from the eviction buffer */
    ud_ref held[8];  /* fresh puts, kept until their figure is done */
    int nheld;
    char *held_copy[8];   /* the baseline's fresh copies, kept the same way */
    int nheld_copy;
} big_ctx;

static void big_alloc(big_ctx *c, size_t n) {
    c->n = n;
    c->src = xmalloc(n);
    c->warm = xmalloc(n);
    for (size_t i = 0; i < n; i += 64) c->src[i] = (char)i;
    memset(c->warm, 1, n);
}

static void big_release(big_ctx *c) {
    free(c->src);
    free(c->warm);
    c->src = c->warm = NULL;
}

/* The figure's name, with "_<N>hosts" when the ranks span several hosts: such a run measures
   another path, and its figures must not pass for the one-host ones. The names stay until the
   table is printed; on threads (where names cross a pipe as pointers) base itself comes back. */
static const char *host_name(const big_ctx *c, const char *base) {
    static char names[8][48];
    static int used;
    if (c->hosts <= 1) return base;
    if (used == 8) die("host_name: too many names");
    snprintf(names[used], sizeof names[0], "%s_%dhosts", base, c->hosts);
    return names[used++];
}

#define CHASE_BYTES ((size_t)64 << 20)
#define CHASE_PAGES 8

/* Twice the last-level cache (glibc tells; 64 MiB to 1 GiB), touched once so that reading it
   costs no page faults. */
static void evict_alloc(big_ctx *c) {
    long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    size_t n = l3 > 0 ? 2 * (size_t)l3 : 0;
    if (n < (size_t)64 << 20) n = (size_t)64 << 20;
    if (n > GIB) n = GIB;
    c->nevict = n;
    c->evict = xmalloc(n);
    memset(c->evict, 1, n);
    c->chase = xmalloc(CHASE_BYTES);
    memset(c->chase, 0, CHASE_BYTES);
}

/* Making a large result leaves the caches cold and a small one leaves them warm: reading the
   eviction buffer before every timed get of a result puts each size in the same state, so
   that sizes are compared and not cache states. */
static void evict_caches(const big_ctx *c) {
    long sum = 0;
    for (size_t i = 0; i < c->nevict; i += 64) sum += c->evict[i];
    escape(&sum);
}

#ifdef BENCH_MPI
static int made_on_driver_host(ud_ref r) { return ud_shm_host((int)r.owner) == ud_shm_host(0); }
#endif

static double rep_put_big(void *ctx) {
    big_ctx *c = ctx;
    ud_ref r;
    double t0 = now();
    CHECK(ud_put(c->src, c->n, &r));
    double t = now() - t0;
    CHECK(ud_free(r));
    return t * 1e3;
}

/* A put into memory never used before: every one is kept until the figure is done, so that
   neither the shared store nor the block cache has touched room to give it. */
static double rep_put_big_fresh(void *ctx) {
    big_ctx *c = ctx;
    if (c->nheld == (int)(sizeof c->held / sizeof c->held[0])) die("put_256MiB_fresh: too many reps");
    double t0 = now();
    CHECK(ud_put(c->src, c->n, &c->held[c->nheld]));
    double t = now() - t0;
    c->nheld++;
    return t * 1e3;
}

/* Like put: a fresh destination, so its page faults are counted as put's are. */
static double rep_memcpy_fresh(void *ctx) {
    big_ctx *c = ctx;
    double t0 = now();
    char *dst = xmalloc(c->n);
    memcpy(dst, c->src, c->n);
    escape(dst);
    double t = now() - t0;
    free(dst);
    return t * 1e3;
}

/* The same into fresh memory whose pages are mapped in one call first (MADV_POPULATE_WRITE,
   as the runtime maps a fresh object's), the call counted: what put_256MiB_fresh does at
   best. Where the call is not known, the first touches fault them in. Each copy is kept until
   the figure is done, as the puts are: a buffer freed and asked for again each time costs
   several times more here (the kernel's, not the copy's). */
static double rep_memcpy_fresh_populated(void *ctx) {
    big_ctx *c = ctx;
    if (c->nheld_copy == (int)(sizeof c->held_copy / sizeof c->held_copy[0]))
        die("memcpy_fresh_populated: too many reps");
    double t0 = now();
    char *dst = xmalloc(c->n);
#if defined(__linux__) && defined(MADV_POPULATE_WRITE)
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE), a = ((uintptr_t)dst + pg - 1) & ~(pg - 1),
              e = ((uintptr_t)dst + c->n) & ~(pg - 1);
    if (e > a) madvise((void *)a, e - a, MADV_POPULATE_WRITE);
#endif
    memcpy(dst, c->src, c->n);
    escape(dst);
    double t = now() - t0;
    c->held_copy[c->nheld_copy++] = dst;
    return t * 1e3;
}

static double rep_memcpy_warm_us(void *ctx) {
    big_ctx *c = ctx;
    double t0 = now();
    memcpy(c->warm, c->src, c->n);
    escape(c->warm);
    return (now() - t0) * 1e6;
}

static double rep_memcpy_warm_ms(void *ctx) { return rep_memcpy_warm_us(ctx) * 1e-3; }

static double rep_get_big(void *ctx) {
    big_ctx *c = ctx;
    ud_view v;
    double t0 = now();
    CHECK(ud_get(c->kept, &v));
    double t = now() - t0;
    if (v.size != c->n) die("get of %zu bytes gave %zu", c->n, v.size);
    return t * 1e6;
}

static double rep_put_task_get_big(void *ctx) {
    big_ctx *c = ctx;
    ud_ref r, out;
    ud_view v;
    double t0 = now();
    CHECK(ud_put(c->src, c->n, &r));
    ud_arg a = ud_arg_ref(r);
    CHECK(ud_remote_opts(&c->where, f_identity, &a, 1, 1, &out));
    CHECK(ud_get(out, &v));
    double t = now() - t0;
    if (v.size != c->n) die("identity of %zu bytes gave %zu", c->n, v.size);
    CHECK(ud_free(r));
    CHECK(ud_free(out));
    return t * 1e3;
}

/* get of a task result that is already done, with cold caches; a fill task makes it, so no
   argument travels first. On one host only the view, no copy; under MPI the view must then lie
   in the shared store, or the figure would measure something else. With several hosts the
   result comes from the last host. */
static double rep_get_result_big(void *ctx) {
    big_ctx *c = ctx;
    ud_ref out;
    ud_view v;
    int ready, nready;
    uint64_t n = c->n;
    ud_arg a = ud_arg_val(&n, sizeof n);
    CHECK(ud_remote_opts(&c->where, f_fill, &a, 1, 1, &out));
    CHECK(ud_wait(&out, 1, 1, -1.0, &ready, &nready));
#ifdef BENCH_MPI
    if (c->hosts > 1 && made_on_driver_host(out)) die("get_task_result: made on the driver's host");
#endif
    if (!c->as_is) evict_caches(c);
    double t0 = now();
    CHECK(ud_get(out, &v));
    double t = now() - t0;
    if (v.size != c->n) die("fill of %zu bytes gave %zu", c->n, v.size);
#ifdef BENCH_MPI
    if (c->store && made_on_driver_host(out) && !ud_shm_contains(v.data))
        die("get_task_result: a %zu-byte result made on rank %lld, on the driver's host, is not "
            "in the shared store: the figure would not measure the store", c->n,
            (long long)out.owner);
#endif
    CHECK(ud_free(out));
    return t * 1e6;
}

static char **chase_link(const big_ctx *c, int j) {   /* a random word in region j of the buffer */
    size_t region = CHASE_BYTES / 4096 / CHASE_PAGES;  /* pages: one region a link, so no cycle */
    size_t page = (size_t)j * region + (size_t)rand() % region;
    return (char **)(c->chase + page * 4096 + 8 * (size_t)(rand() % 512));
}

/* What the memory system charges for the first touch of a page after the eviction: a chain
   of CHASE_PAGES loads, each from a random page and each waiting for the one before (as a
   lookup waits for the slot that points to its entry), ns a page. The cold gets of a result
   are counted in these. */
static double rep_cold_chase(void *ctx) {
    big_ctx *c = ctx;
    char **p = chase_link(c, 0), **start = p;
    for (int j = 1; j < CHASE_PAGES; j++) {
        char **q = chase_link(c, j);
        *p = (char *)q;
        p = q;
    }
    *p = NULL;
    evict_caches(c);
    int n = 0;
    double t0 = now();
    for (p = start; p; p = (char **)*p) n++;
    double t = now() - t0;
    if (n != CHASE_PAGES) die("cold chase: %d loads, not %d", n, CHASE_PAGES);
    return t * 1e9 / CHASE_PAGES;
}

/* The get of a result on the driver's host at 1 MiB and 1 GiB, each beside a memcpy of its
   size, then the one against the other: a view costs the same whatever it shows. One buffer
   pair at a time, so 1 GiB takes 2 GiB here and 1 GiB for the result. A 1 GiB repetition
   spends most of a second faulting pages in: three of them. */
static void bench_get_result_sizes(big_ctx *c) {
    stats small, large, b, warm, chase;
    big_alloc(c, MIB);
    measure(rep_get_result_big, rep_memcpy_warm_us, c, 9, &small, &b);
    report("get_task_result_1MiB", "us", small, "memcpy_warm_1MiB", &b, GOAL_RATIO_AT_MOST, 0.01);
    c->as_is = 1;
    measure(rep_get_result_big, NULL, c, 9, &warm, NULL);
    c->as_is = 0;
    report("get_task_result_1MiB_warm", "us", warm, "memcpy_warm_1MiB", &b, GOAL_NONE, 0);
    measure(rep_cold_chase, NULL, c, 9, &chase, NULL);
    report("cold_page_touch", "ns", chase, NULL, NULL, GOAL_NONE, 0);
    note("get_task_result_1MiB: as long as %.1f cold page touches (cold_page_touch: a load from "
         "a page not touched since the eviction, waiting for the one before)",
         small.median * 1e3 / chase.median);
    big_release(c);
    big_alloc(c, GIB);
    measure(rep_get_result_big, rep_memcpy_warm_us, c, 3, &large, &b);
    report("get_task_result_1GiB", "us", large, "memcpy_warm_1GiB", &b, GOAL_NONE, 0);
    big_release(c);
    report("get_task_result_1GiB_vs_1MiB", "us", large, "get_task_result_1MiB", &small,
           GOAL_RATIO_AT_MOST, 2);
}

static void bench_big(void) {
    big_ctx c;
    stats f, b;
    int reps = on_threads() ? 5 : 3;   /* under MPI a repetition moves 512 MiB between ranks */
    memset(&c, 0, sizeof c);
    c.hosts = 1;
#ifdef BENCH_MPI
    ud_shm_stats st;
    CHECK(ud_shm_stats_get(&st));
    c.store = st.enabled;
    if (st.hosts > 1) {
        c.hosts = st.hosts;
        c.where = ud_on_host(st.hosts - 1);
    }
    if (!c.store)
        note("large objects: the shared store is off, so objects between ranks travel through "
             "MPI and the same-host goals are out of reach");
#endif
    big_alloc(&c, BIG);
    evict_alloc(&c);

    /* against a memcpy that maps its pages in one call first, as the put does (beside one
       that faults them in page by page, the put would win by construction) */
    measure(rep_put_big_fresh, rep_memcpy_fresh_populated, &c, 3, &f, &b);
    report(host_name(&c, "put_256MiB_fresh"), "ms", f, "memcpy_fresh_populated_256MiB", &b,
           GOAL_RATIO_AT_MOST, 1.2);
    CHECK(ud_free_many(c.held, c.nheld));
    c.nheld = 0;
    while (c.nheld_copy > 0) free(c.held_copy[--c.nheld_copy]);

    measure(rep_put_big, rep_memcpy_fresh, &c, 5, &f, &b);
    report(host_name(&c, "put_256MiB"), "ms", f, "memcpy_fresh_256MiB", &b, GOAL_NONE, 0);

    /* a view's cost does not grow with the size: against the get of a 1 MiB put in the same
       run (a memcpy of 256 MiB would make any view look free) */
    {
        size_t n = c.n;
        c.n = MIB;
        CHECK(ud_put(c.src, MIB, &c.kept));
        measure(rep_get_big, NULL, &c, 7, &b, NULL);
        CHECK(ud_free(c.kept));
        c.n = n;
    }
    CHECK(ud_put(c.src, BIG, &c.kept));
    measure(rep_get_big, NULL, &c, 7, &f, NULL);
    report(host_name(&c, "get_256MiB"), "us", f, "get_1MiB", &b, GOAL_RATIO_AT_MOST, 2);
    CHECK(ud_free(c.kept));

#ifdef BENCH_MPI
    stats raw = raw_stats(&raw_big, as_is);
    if (c.hosts > 1) {
        /* Between hosts the argument goes out through MPI and the result comes back: against
           raw MPI only. The raw figures run between rank 0 and rank 2, the tasks on the last
           host's workers (ranks 2 and 3 with 4 ranks): two ranks of this one machine either
           way, so the same path. */
        measure(rep_put_task_get_big, NULL, &c, reps, &f, NULL);
        report(host_name(&c, "put_task_get_256MiB"), "ms", f, "mpi_roundtrip_256MiB", &raw,
               GOAL_NONE, 0);
        measure(rep_get_result_big, NULL, &c, reps, &f, NULL);
        raw = raw_stats(&raw_big, oneway_us);
        /* ">= 0.8x raw MPI bandwidth" is a time ratio <= 1.25. */
        report(host_name(&c, "get_task_result_256MiB"), "us", f, "mpi_oneway_256MiB", &raw,
               GOAL_RATIO_AT_MOST, 1.25);
        note("%d hosts: 256 MiB results come from another host; the raw MPI baselines run "
             "between rank 0 and rank 2, the tasks on the last host: both on this one machine",
             c.hosts);
        note("%d hosts: the same-host figures (1 MiB, 1 GiB) are left to the one-host run",
             c.hosts);
        big_release(&c);
        free(c.evict);
        free(c.chase);
        return;
    }
#endif

    /* as a pipeline runs: put, transform, get, free, again; two copies are inherent (the
       put's and the identity task's) */
    measure(rep_put_task_get_big, rep_memcpy_warm_ms, &c, 5, &f, &b);
    report("put_task_get_256MiB", "ms", f, "memcpy_warm_256MiB", &b, GOAL_RATIO_AT_MOST, 2.5);
#ifdef BENCH_MPI
    report("put_task_get_256MiB_mpi", "ms", f, "mpi_roundtrip_256MiB", &raw, GOAL_NONE, 0);
#endif

    /* cold, against a cold get of a 1 MiB result in the same run: size must not matter */
    {
        size_t n = c.n;
        c.n = MIB;
        measure(rep_get_result_big, NULL, &c, reps, &b, NULL);
        c.n = n;
    }
    measure(rep_get_result_big, NULL, &c, reps, &f, NULL);
    report("get_task_result_256MiB", "us", f, "get_task_result_1MiB", &b, GOAL_RATIO_AT_MOST, 2);
#ifdef BENCH_MPI
    /* On one host the result is a view into the store: raw MPI only for scale here; the
       bandwidth goal is the multi-host run's. */
    raw = raw_stats(&raw_big, oneway_us);
    report("get_task_result_256MiB_mpi", "us", f, "mpi_oneway_256MiB", &raw, GOAL_NONE, 0);
#endif
    big_release(&c);

    bench_get_result_sizes(&c);
    free(c.evict);
    free(c.chase);
}

/* ---- (e) idle CPU -------------------------------------------------------------------------- */

#define IDLE_REPS 3

/* CPU time of every process of the runtime together over wall time, in percent (on threads
   the one process, every worker thread in it; under MPI every rank). per_rank gets each
   process's share. */
static double rep_idle(double *per_rank) {
    double c0[MAX_RANKS], t0 = now(), total = 0;
    for (int r = 0; r < nranks; r++) c0[r] = cpu_seconds_of(rank_pid[r]);
    sleep_s(2.0);
    double wall = now() - t0;
    for (int r = 0; r < nranks; r++) {
        per_rank[r] = (cpu_seconds_of(rank_pid[r]) - c0[r]) / wall * 100;
        total += per_rank[r];
    }
    return total;
}

static void bench_idle(const char *name) {
    double v[IDLE_REPS], share[IDLE_REPS][MAX_RANKS], col[IDLE_REPS];
    char text[160] = "";
    if (on_threads()) ranks_self();
    for (int i = 0; i < IDLE_REPS; i++) v[i] = rep_idle(share[i]);
    report(name, "% cpu", summarize(v, IDLE_REPS), NULL, NULL, GOAL_AT_MOST, 10);
    if (nranks < 2) return;
    for (int r = 0; r < nranks && strlen(text) < sizeof text - 16; r++) {
        for (int i = 0; i < IDLE_REPS; i++) col[i] = share[i][r];
        snprintf(text + strlen(text), sizeof text - strlen(text), " r%d %.2f", r,
                 median_of(col, IDLE_REPS));
    }
    note("%s, %% cpu a rank (median):%s", name, text);
}

static void bench_idle_after_init(void) { bench_idle("idle_after_init"); }

/* Idle again after a burst of tasks: workers that spin after work must settle. */
static void bench_idle_after_load(void) {
    tasks_ctx c = tasks_ctx_new();
    rep_tasks_get_many(&c);
    tasks_ctx_free(&c);
    bench_idle("idle_after_load");
}

/* ---- (f) steady churn ------------------------------------------------------------------------
   Tasks in batches; a batch is submitted, then the one before it is got and freed, so about
   two batches are live at any time. Every other task reads a result of the batch before,
   made on another worker (round robin), so data moves between workers and its cleanup must
   wait for that reader. The peak memory of every process at the end must stay near what it
   was after the first 10 000 tasks: nothing may grow with the number of tasks. */

#define CHURN_BATCH 1000
#define CHURN_FIRST 10000

static long churn_tasks(void) {
    const char *env = getenv("BENCH_CHURN");
    long n = env && *env ? strtol(env, NULL, 10) : 1000000;
    if (n < 2 * CHURN_FIRST) n = 2 * CHURN_FIRST;
    return n / CHURN_BATCH * CHURN_BATCH;
}

static void churn_submit(ud_ref *batch, const ud_ref *before, long first) {
    for (int j = 0; j < CHURN_BATCH; j++) {
        uint64_t x = (uint64_t)(first + j);
        ud_arg a = ud_arg_val(&x, sizeof x);
        if (before && j % 2 == 0 && j + 1 < CHURN_BATCH) a = ud_arg_ref(before[j + 1]);
        CHECK(ud_remote(f_identity, &a, 1, 1, &batch[j]));
    }
}

static void churn_collect(const ud_ref *batch, ud_view *views) {
    CHECK(ud_get_many(batch, CHURN_BATCH, views));
    for (int j = 0; j < CHURN_BATCH; j++)
        if (views[j].size != 8) die("churn: a result of %zu bytes, not 8", views[j].size);
    CHECK(ud_free_many(batch, CHURN_BATCH));
}

static void peaks(long *kib) {
    for (int r = 0; r < nranks; r++) kib[r] = proc_status_kib(rank_pid[r], "VmHWM");
}

/* Literals: on threads the results cross a pipe from a child process as pointers. */
static const char *const churn_names[] = {
    "churn_peak_rank0",  "churn_peak_rank1",  "churn_peak_rank2",  "churn_peak_rank3",
    "churn_peak_rank4",  "churn_peak_rank5",  "churn_peak_rank6",  "churn_peak_rank7",
    "churn_peak_rank8",  "churn_peak_rank9",  "churn_peak_rank10", "churn_peak_rank11",
    "churn_peak_rank12", "churn_peak_rank13", "churn_peak_rank14", "churn_peak_rank15",
};
#define NCHURN_NAMES ((int)(sizeof churn_names / sizeof churn_names[0]))

static void bench_churn(void) {
    static ud_ref ring[2][CHURN_BATCH];
    static ud_view views[CHURN_BATCH];
    long n = churn_tasks(), early[MAX_RANKS], late[MAX_RANKS];
    int reset = 1;
    if (on_threads()) ranks_self();
    for (int r = 0; r < nranks; r++) reset &= reset_peak_rss(rank_pid[r]);
    if (!reset)
        note("churn: the kernel would not reset VmHWM; peaks include earlier benches, so the "
             "peak goal is not judged");
    double t0 = now(), t_early = 0;
    for (long i = 0, k = 0; i < n; i += CHURN_BATCH, k++) {
        ud_ref *cur = ring[k % 2], *prev = ring[(k + 1) % 2];
        churn_submit(cur, k ? prev : NULL, i);
        if (k) churn_collect(prev, views);
        if (i + CHURN_BATCH == CHURN_FIRST) {
            peaks(early);
            t_early = now();
        }
    }
    churn_collect(ring[(n / CHURN_BATCH - 1) % 2], views);
    double t = now() - t0;
    peaks(late);
    stats rate = {n / t, n / t, n / t, 1};
    report("churn_tasks", "tasks/s", rate, NULL, NULL, GOAL_NONE, 0);
    for (int r = 0; r < nranks && r < NCHURN_NAMES; r++) {
        stats s = {(double)late[r], (double)late[r], (double)late[r], 1};
        stats b = {(double)early[r], (double)early[r], (double)early[r], 1};
        /* peaks that include earlier benches would meet the goal by construction */
        report(churn_names[r], "KiB", s, "peak_after_10k_tasks", &b,
               reset ? GOAL_RATIO_AT_MOST : GOAL_NONE, 1.5);
    }
    if (nranks > NCHURN_NAMES) note("churn: peaks shown for the first %d ranks", NCHURN_NAMES);
    note("churn: %ld tasks in %.1f s (the first %d in %.2f s), two batches of %d live",
         n, t, CHURN_FIRST, t_early - t0, CHURN_BATCH);
}

/* ---- (g) store scaling --------------------------------------------------------------------- */

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

/* ---- (h) tasks that wait: 1 000 naps of 10 ms --------------------------------------------------
   They take a thread each but no core, so the wall time shows how many run at once: with T
   task threads in all, 1 000 x 10 ms / T at best. The baseline does the same naps on a plain
   pool of T threads taking items from a counter, in the same run. */
#define NAPS 1000

typedef struct nap_pool {
    atomic_int next;
} nap_pool;

static void *nap_thread(void *arg) {
    nap_pool *p = arg;
    while (atomic_fetch_add(&p->next, 1) < NAPS) sleep_s(NAP_S);
    return NULL;
}

static int total_threads(void) {
    int n = 0;
    for (int w = 0; w < ud_num_workers(); w++) n += ud_worker_threads(w);
    return n;
}

static double rep_naps(void *ctx) {
    static ud_ref refs[NAPS];
    static int ready[NAPS];
    int nready;
    (void)ctx;
    double t0 = now();
    for (int i = 0; i < NAPS; i++) CHECK(ud_remote(f_nap, NULL, 0, 1, &refs[i]));
    CHECK(ud_wait(refs, NAPS, NAPS, -1.0, ready, &nready));
    double t = now() - t0;
    CHECK(ud_free_many(refs, NAPS));
    return t * 1e3;
}

static double rep_nap_pool(void *ctx) {
    int n = *(int *)ctx;
    pthread_t th[256];
    nap_pool p;
    atomic_init(&p.next, 0);
    double t0 = now();
    for (int i = 0; i < n && i < 256; i++) pthread_create(&th[i], NULL, nap_thread, &p);
    for (int i = 0; i < n && i < 256; i++) pthread_join(th[i], NULL);
    return (now() - t0) * 1e3;
}

static void bench_naps(void) {
    int threads = total_threads();
    stats f, b;
    measure(rep_naps, rep_nap_pool, &threads, 3, &f, &b);
    report("naps_10ms_x1000", "ms", f, "nap_pool_10ms_x1000", &b, GOAL_RATIO_AT_MOST, 1.15);
    note("naps: %d task threads in all; ideal %.0f ms (1000 x 10 ms / %d)", threads,
         NAPS * NAP_S * 1e3 / threads, threads);
}

/* ---- (j) irregular work: 200 tasks of 1 to 100 ms --------------------------------------------
   Lengths from a bounded Pareto distribution (alpha 1, fixed seed), submitted at once. The
   scheduler (auto) is held to the ideal, the sum of the lengths over the task threads; beside
   it the same tasks placed by turn (round robin: pinned to worker i mod W, so nothing moves),
   in the same run. */
#define IRREGULAR 200

static double irregular_secs[IRREGULAR], irregular_sum;

static void irregular_lengths(void) {
    unsigned x = 2026;
    irregular_sum = 0;
    for (int i = 0; i < IRREGULAR; i++) {
        x = x * 1103515245u + 12345u;
        double u = (double)(x >> 8) / (double)(1u << 24);
        irregular_secs[i] = 1e-3 / (1.0 - u * (1.0 - 1.0 / 100.0));
        irregular_sum += irregular_secs[i];
    }
}

static double rep_irregular(void *ctx) {
    static ud_ref refs[IRREGULAR];
    static int ready[IRREGULAR];
    int by_turn = *(int *)ctx, nready;
    double t0 = now();
    for (int i = 0; i < IRREGULAR; i++) {
        ud_arg a = ud_arg_val(&irregular_secs[i], sizeof irregular_secs[i]);
        ud_opts o = ud_on_worker(i % ud_num_workers());
        CHECK(ud_remote_opts(by_turn ? &o : NULL, f_sleep, &a, 1, 1, &refs[i]));
    }
    CHECK(ud_wait(refs, IRREGULAR, IRREGULAR, -1.0, ready, &nready));
    double t = now() - t0;
    CHECK(ud_free_many(refs, IRREGULAR));
    return t * 1e3;
}

static void bench_irregular(void) {
    int auto_ = 0, by_turn = 1, threads = total_threads();
    stats f, b, ideal;
    irregular_lengths();
    ideal.median = ideal.min = ideal.max = irregular_sum / threads * 1e3;
    ideal.reps = 1;
    measure(rep_irregular, NULL, &auto_, 3, &f, NULL);
    measure(rep_irregular, NULL, &by_turn, 3, &b, NULL);
    report("irregular_200", "ms", f, "ideal_sum_over_threads", &ideal, GOAL_RATIO_AT_MOST, 1.15);
    report("irregular_200_round_robin", "ms", b, "ideal_sum_over_threads", &ideal, GOAL_NONE, 0);
    note("irregular: %d tasks of 1-100 ms, %.0f ms in all, on %d workers of %d task threads in all",
         IRREGULAR, irregular_sum * 1e3, ud_num_workers(), threads);
}

#ifdef BENCH_MPI
/* ---- (k) a chain that follows its data --------------------------------------------------------
   Run with several hosts (the 2-host run of make bench): 20 tasks, each reading the 64 MiB
   result of the one before and making the next. The scheduler keeps the chain where its data
   is; placed by turn (round robin) every other link crosses to another host. The bytes that
   crossed between hosts are counted by the runtime (ud_stats_get), both ways in the same run. */
#define CHAIN 20
#define CHAIN_BYTES ((size_t)64 << 20)

static int64_t cross_host_bytes(void) {
    ud_stats s[MAX_RANKS];
    int n = 0;
    int64_t sum = 0;
    CHECK(ud_stats_get(s, MAX_RANKS, &n));
    for (int i = 0; i < n; i++) sum += s[i].bytes_sent_other_hosts;
    return sum;
}

typedef struct chain_ctx {
    int by_turn;
    int64_t crossed;     /* bytes between hosts in the last repetition */
} chain_ctx;

static double rep_chain(void *ctx) {
    chain_ctx *c = ctx;
    uint64_t n = CHAIN_BYTES;
    ud_ref link, next;
    ud_view v;
    int64_t before = cross_host_bytes();
    double t0 = now();
    ud_arg a = ud_arg_val(&n, sizeof n);
    ud_opts o = ud_on_worker(0);
    CHECK(ud_remote_opts(c->by_turn ? &o : NULL, f_fill, &a, 1, 1, &link));
    for (int i = 1; i < CHAIN; i++) {
        o = ud_on_worker(i % ud_num_workers());
        a = ud_arg_ref(link);
        CHECK(ud_remote_opts(c->by_turn ? &o : NULL, f_identity, &a, 1, 1, &next));
        CHECK(ud_free(link));
        link = next;
    }
    CHECK(ud_get(link, &v));
    double t = now() - t0;
    if (v.size != CHAIN_BYTES) die("chain: the last link has %zu bytes", v.size);
    CHECK(ud_free(link));
    c->crossed = cross_host_bytes() - before;
    return t * 1e3;
}

static double rep_chain_bytes(void *ctx) {
    rep_chain(ctx);
    return (double)((chain_ctx *)ctx)->crossed / (1 << 20);
}

static void bench_chain(void) {
    chain_ctx on = {0, 0}, by_turn = {1, 0};
    stats f, b, fb, bb;
    if (ud_num_hosts() < 2) {
        note("chain: one host, so nothing crosses between hosts: left to the 2-host run");
        return;
    }
    measure(rep_chain, NULL, &on, 3, &f, NULL);
    measure(rep_chain, NULL, &by_turn, 3, &b, NULL);
    measure(rep_chain_bytes, NULL, &on, 1, &fb, NULL);
    measure(rep_chain_bytes, NULL, &by_turn, 1, &bb, NULL);
    report("chain_64MiB_x20", "ms", f, "chain_64MiB_x20_round_robin", &b, GOAL_RATIO_AT_MOST, 1.0);
    report("chain_cross_host_MiB", "MiB", fb, "chain_cross_host_MiB_round_robin", &bb,
           GOAL_RATIO_AT_MOST, 0.25);
    note("chain: %d tasks each reading the 64 MiB result before; MiB sent between hosts, counted "
         "by the runtime: %.0f following the data, %.0f by turn", CHAIN, fb.median, bb.median);
}

/* ---- (i) one rank a host ---------------------------------------------------------------------
   Run with UNIDIST_MPI_HOSTS set to the number of ranks: every rank is a host of its own. The
   driver's host runs no tasks; every other host does, keeps the large results its worker
   makes in its own store, and a task there reads them in place. Each worker makes a 64 MiB
   result and a task pinned to it sums it; the baseline sums a 64 MiB buffer on the driver. */
#define HOST_BYTES ((size_t)64 << 20)

static double rep_host_read(void *ctx) {
    int w = *(int *)ctx, ready, nready;
    uint64_t n = HOST_BYTES;
    ud_opts on = ud_on_worker(w);
    ud_arg a = ud_arg_val(&n, sizeof n);
    ud_ref made, sum;
    ud_view v;
    CHECK(ud_remote_opts(&on, f_fill, &a, 1, 1, &made));
    CHECK(ud_wait(&made, 1, 1, -1.0, &ready, &nready));
    a = ud_arg_ref(made);
    double t0 = now();
    CHECK(ud_remote_opts(&on, f_sum, &a, 1, 1, &sum));
    CHECK(ud_get(sum, &v));
    double t = now() - t0;
    if (!((const uint64_t *)v.data)[1]) die("hosts: worker %d read its host's result by copy", w);
    CHECK(ud_free(made));
    CHECK(ud_free(sum));
    return t * 1e3;
}

static double rep_local_sum(void *ctx) {
    static char *buf;
    uint64_t acc = 0;
    (void)ctx;
    if (!buf) {
        buf = xmalloc(HOST_BYTES);
        memset(buf, 7, HOST_BYTES);
    }
    double t0 = now();
    for (size_t i = 0; i < HOST_BYTES; i += 8) {
        uint64_t w;
        memcpy(&w, buf + i, 8);
        acc += w;
    }
    escape(&acc);
    return (now() - t0) * 1e3;
}

static void bench_hosts(void) {
    static char names[8][48];
    int hosts = ud_num_hosts(), working = 0;
    for (int w = 0; w < ud_num_workers() && w < 8; w++) {
        stats f, b;
        int h = ud_worker_host(w);
        measure(rep_host_read, rep_local_sum, &w, 3, &f, &b);
        snprintf(names[w], sizeof names[w], "read_in_place_64MiB_host%d", h);
        report(names[w], "ms", f, "sum_64MiB_local", &b, GOAL_NONE, 0);
        working++;
    }
    note("hosts: %d hosts, %d of them with a worker; each worker's 64 MiB result read in place "
         "by a task on its own host", hosts, working);
}
#endif

/* ---- tasks that submit tasks ------------------------------------------------------------------
   fib(22): 57 313 tasks, each but the leaves submitting two and getting them inside a task,
   beside the same number of empty tasks submitted and got by the driver. Under MPI each
   nested remote is a round trip to the root (which numbers and places it). */
#define FIB_N 22
#define FIB_TASKS (2 * 28657 - 1)

static double rep_fib(void *ctx) {
    int n = FIB_N, x = 0;
    ud_arg a = ud_arg_val(&n, sizeof n);
    ud_ref r;
    ud_view v;
    double t0 = now();
    (void)ctx;
    CHECK(ud_remote(f_fib, &a, 1, 1, &r));
    CHECK(ud_get(r, &v));
    memcpy(&x, v.data, sizeof x);
    double t = now() - t0;
    CHECK(ud_free(r));
    if (x != 17711) die("fib(%d) = %d", FIB_N, x);
    return FIB_TASKS / t;
}

static void bench_nested(void) {
    tasks_ctx c = tasks_ctx_new();
    stats f, b;
    c.n = FIB_TASKS;
    measure(rep_fib, rep_tasks_get_many, &c, on_threads() ? 7 : 3, &f, &b);
    report("nested_fib22", "tasks/s", f, "flat_submit_get_many", &b, GOAL_NONE, 0);
    tasks_ctx_free(&c);
}

/* ---- (k) the driver's rank: progress while the program computes, calls from many threads ----
   busy_driver_done: 40 naps of 10 ms a task thread, then the program computes, with no runtime
   call, for twice the time the same naps take while it waits in ud_wait (the baseline, run
   just before); the share done when it is back. driver_threads_4: 4 threads each doing
   remote + get of an empty task, against one thread alone. store_room_us (MPI): how long a
   task thread waits in ud_task_result for room in the host's store (1 MiB, above the
   threshold) while every task thread does the same, against the raw MPI round trip. */
#define BUSY_NAP_S 0.01
#define BUSY_PER_THREAD 40

static int task_threads_all(void) {
    int n = 0;
    for (int w = 0; w < ud_num_workers(); w++) n += ud_worker_threads(w);
    return n > 0 ? n : 1;
}

static void submit_naps(ud_ref *refs, int n) {
    double s = BUSY_NAP_S;
    ud_arg a = ud_arg_val(&s, sizeof s);
    for (int i = 0; i < n; i++) CHECK(ud_remote(f_sleep, &a, 1, 1, &refs[i]));
}

static void compute_for(double seconds) {
    volatile double x = 0;
    double end = now() + seconds;
    while (now() < end)
        for (int k = 0; k < 10000; k++) x = x * 0.999 + 1;
}

static void bench_busy_driver(void) {
    int n = BUSY_PER_THREAD * task_threads_all(), nready = 0;
    ud_ref *refs = (ud_ref *)malloc((size_t)n * sizeof *refs);
    int *ready = (int *)malloc((size_t)n * sizeof *ready);
    double waited[3], done[3], took;
    if (!refs || !ready) die("busy_driver: no memory");
    for (int r = 0; r < 3; r++) {
        double t0 = now();
        submit_naps(refs, n);
        CHECK(ud_wait(refs, n, n, -1, ready, &nready));
        took = now() - t0;
        waited[r] = 100.0 * nready / n;
        CHECK(ud_free_many(refs, n));
        submit_naps(refs, n);
        compute_for(2 * took);
        ud_wait(refs, n, n, 0, ready, &nready);
        done[r] = 100.0 * nready / n;
        CHECK(ud_wait(refs, n, n, -1, ready, &nready));
        CHECK(ud_free_many(refs, n));
    }
    stats f = summarize(done, 3), b = summarize(waited, 3);
    report("busy_driver_done", "%", f, "done_while_waiting", &b, GOAL_AT_LEAST, 95);
    free(refs);
    free(ready);
}

#ifdef BENCH_MPI
/* driver_rank_tasks: 20 naps of 5 ms a task thread of the job, submitted at once, then one
   ud_wait; the share of them that the driver's rank ran (stats: tasks_run), against its share
   of the job's task threads (what an even spread gives it). Run one rank a host (make bench
   runs it across simulated hosts), where the driver's rank has its host's cores less one. */
static void bench_driver_rank(void) {
    int n = 20 * task_threads_all(), nready = 0, ns = 0, last = ud_num_workers() - 1;
    ud_ref *refs = (ud_ref *)malloc((size_t)n * sizeof *refs);
    int *ready = (int *)malloc((size_t)n * sizeof *ready);
    ud_stats before[64], after[64];
    double share[3], fair[3], s = 0.005;
    ud_arg a = ud_arg_val(&s, sizeof s);
    if (!refs || !ready) die("driver_rank: no memory");
    if (ud_worker_rank(last) != 0) { /* its share of its host's cores is one: the program's */
        note("driver_rank_tasks: the driver's rank has no task threads in this launch (its share "
             "of its host's cores is one); the one-rank-a-host run measures it");
        free(refs);
        free(ready);
        return;
    }
    for (int r = 0; r < 3; r++) {
        int64_t all = 0;
        CHECK(ud_stats_get(before, 64, &ns));
        for (int i = 0; i < n; i++) CHECK(ud_remote(f_sleep, &a, 1, 1, &refs[i]));
        CHECK(ud_wait(refs, n, n, -1, ready, &nready));
        CHECK(ud_stats_get(after, 64, &ns));
        for (int k = 0; k < ns; k++) all += after[k].tasks_run - before[k].tasks_run;
        share[r] = all > 0 ? 100.0 * (double)(after[0].tasks_run - before[0].tasks_run) / (double)all : 0;
        fair[r] = ud_worker_rank(last) == 0 ? 100.0 * ud_worker_threads(last) / task_threads_all() : 0;
        CHECK(ud_free_many(refs, n));
    }
    stats f = summarize(share, 3), b = summarize(fair, 3);
    report("driver_rank_tasks", "%", f, "driver_rank_thread_share", &b, GOAL_AT_LEAST, 0.01);
    free(refs);
    free(ready);
}
#endif

#define DRIVER_CALLS 2000

static void *remote_get_calls(void *arg) {
    int n = *(int *)arg;
    for (int i = 0; i < n; i++) {
        ud_ref r;
        ud_view v;
        CHECK(ud_remote(f_empty, NULL, 0, 1, &r));
        CHECK(ud_get(r, &v));
        CHECK(ud_free(r));
    }
    return NULL;
}

/* Calls a second: nthreads threads of n remote + get each. */
static double driver_threads_rate(int nthreads, int n) {
    pthread_t th[4];
    double t0 = now();
    for (int k = 0; k < nthreads; k++)
        if (pthread_create(&th[k], NULL, remote_get_calls, &n) != 0) die("driver_threads: no thread");
    for (int k = 0; k < nthreads; k++) pthread_join(th[k], NULL);
    return nthreads * n / (now() - t0);
}

static double rep_driver_threads_4(void *ctx) { return driver_threads_rate(4, *(int *)ctx / 4); }
static double rep_driver_thread_1(void *ctx) { return driver_threads_rate(1, *(int *)ctx); }

static void bench_driver_threads(void) {
    int n = DRIVER_CALLS;
    stats f, b;
    measure(rep_driver_threads_4, rep_driver_thread_1, &n, 5, &f, &b);
    report("driver_threads_4", "calls/s", f, "driver_thread_1", &b, GOAL_RATIO_AT_LEAST, 0.8);
}

#ifdef BENCH_MPI
#define ROOM_BYTES ((size_t)1 << 20)
static ud_func f_room;

/* Returns how long ud_task_result took for 1 MiB, in microseconds (a double). */
static int room_task(ud_task *t) {
    double t0 = now();
    void *p = ud_task_result(t, 0, ROOM_BYTES);
    double us = (now() - t0) * 1e6;
    if (!p) return ud_task_fail(t, "room: no memory");
    memcpy(p, &us, sizeof us);
    return 0;
}

static void register_room(void) { CHECK(ud_register("room", room_task, NULL, &f_room)); }

static void bench_store_room(void) {
    int n = 20 * task_threads_all(), k = 0;
    ud_ref *refs = (ud_ref *)malloc((size_t)n * sizeof *refs);
    ud_view *v = (ud_view *)malloc((size_t)n * sizeof *v);
    double *us = (double *)malloc((size_t)9 * n * sizeof *us);
    stats b = raw_stats(&raw_rtt, as_is);
    if (!refs || !v || !us) die("store_room: no memory");
    for (int r = 0; r < 10; r++) { /* the first maps the store's pages in each rank: not counted */
        for (int i = 0; i < n; i++) CHECK(ud_remote(f_room, NULL, 0, 1, &refs[i]));
        CHECK(ud_get_many(refs, n, v));
        for (int i = 0; r > 0 && i < n; i++) memcpy(&us[k++], v[i].data, sizeof *us);
        CHECK(ud_free_many(refs, n));
    }
    for (int i = 0; i < k; i++) us[i] *= 1e3; /* ns, as the round trip */
    stats f = summarize(us, k);
    qsort(us, (size_t)k, sizeof *us, cmp_double);
    note("store_room_us: p90 %.0f ns, p99 %.0f ns, of %d", us[k * 9 / 10], us[k * 99 / 100], k);
    report("store_room_us", "ns", f, "mpi_rtt_8B", &b, GOAL_AT_MOST, 20000);
    free(refs);
    free(v);
    free(us);
}
#endif

static const bench benches[] = {
    {"idle_after_init", bench_idle_after_init, NULL},
    {"tasks", bench_tasks, NULL},
    {"put_get_small", bench_put_get_small, NULL},
    {"remote_rtt", bench_remote_rtt, NULL},
    {"churn", bench_churn, NULL},
    {"big", bench_big, NULL},
    {"store", bench_store, NULL},
    {"idle_after_load", bench_idle_after_load, NULL},
    {"naps", bench_naps, NULL},
    {"irregular", bench_irregular, NULL},
#ifdef BENCH_MPI
    {"chain", bench_chain, NULL},
#endif
    {"nested", bench_nested, NULL},
#ifdef BENCH_MPI
    {"hosts", bench_hosts, NULL},
    {"store_room", bench_store_room, NULL},
#endif
    {"busy_driver", bench_busy_driver, NULL},
    {"driver_threads", bench_driver_threads, NULL},
#ifdef BENCH_MPI
    {"driver_rank", bench_driver_rank, NULL},
#endif
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
    case GOAL_RATIO_AT_LEAST: snprintf(buf, cap, "ratio >= %s", n); break;
    default: snprintf(buf, cap, "-");
    }
}

static void print_table(FILE *f) {
    fprintf(f, "%-30s %12s %-8s %-23s %-26s %12s %9s  %s\n", "figure", "value", "unit",
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
        fprintf(f, "%-30s %12s %-8s %-23s %-26s %12s %9s  %s%s\n", r->name, v, r->unit, spread,
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

static const char *output_path(int argc, char **argv, const char *fallback) {
    if (argc > 1) return argv[1];
    const char *env = getenv("BENCH_OUT");
    if (env && *env) return env;
    mkdir("build", 0777);   /* may exist already; fopen reports a real failure */
    return fallback;
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

/* Registers the task functions (every process, before init). */
static void register_functions(void) {
    CHECK(ud_register("empty", empty_task, NULL, &f_empty));
    CHECK(ud_register("fib", fib_task, NULL, &f_fib));
    CHECK(ud_register("identity", identity_task, NULL, &f_identity));
    CHECK(ud_register_flags("identity_inline", identity_task, NULL, UD_FN_INLINE, &f_identity_inline));
    CHECK(ud_register("fill", fill_task, NULL, &f_fill));
    CHECK(ud_register("nap", nap_task, NULL, &f_nap));
    CHECK(ud_register("sum", sum_task, NULL, &f_sum));
    CHECK(ud_register("sleep", sleep_task, NULL, &f_sleep));
#ifdef BENCH_MPI
    register_room();
#endif
}

static void run_bench(const bench *b) {
    if (b->backend && strcmp(b->backend, ud_backend_name()) != 0) return;
    double t0 = now();
    fprintf(stderr, "bench %s...\n", b->name);
    b->fn();
    fprintf(stderr, "bench %s: %.1f s\n", b->name, now() - t0);
}

/* BENCH_ONLY: words, separated by commas; a bench runs when its name contains one. */
static int selected(const bench *b) {
    const char *only = getenv("BENCH_ONLY"), *p;
    if (!only || !*only) return 1;
    for (p = only; *p;) {
        size_t n = strcspn(p, ",");
        char word[64];
        snprintf(word, sizeof word, "%.*s", (int)(n < sizeof word ? n : sizeof word - 1), p);
        if (n && strstr(b->name, word)) return 1;
        p += n + (p[n] == ',');
    }
    return 0;
}

/* Prints the table, writes the JSON lines; returns the exit status. */
static int finish(const char *out, const char *load_before, int failed) {
    printf("unidist %s bench: backend %s, %d workers, %ld cores%s\n", ud_version(), run_backend,
           run_workers, sysconf(_SC_NPROCESSORS_ONLN), run_where);
    printf("load average before: %s", load_before);
    printf("load average after:  %s", load_average());
    print_table(stdout);
    for (int i = 0; i < nnotes; i++) printf("note: %s\n", notes[i]);
    FILE *f = fopen(out, "w");
    if (!f) die("cannot write %s: %s", out, strerror(errno));
    write_json(f);
    if (fclose(f) != 0) die("cannot write %s: %s", out, strerror(errno));
    printf("results: %s\n", out);

    int missed = 0;
    for (int i = 0; i < nresults; i++) missed += !goal_met(&results[i]);
    if (missed) printf("%d goal(s) missed\n", missed);
    if (failed) printf("%d bench(es) failed\n", failed);
    fflush(stdout);
    const char *strict = getenv("BENCH_STRICT");
    if (failed) return 1;
    return missed && strict && strcmp(strict, "1") == 0 ? 2 : 0;
}

#ifndef BENCH_MPI
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
   child sends its results and notes back through a pipe (same image, so the name pointers
   hold). */
static int run_isolated(const bench *b) {
    int fd[2], status, n = 0, nn = 0;
    fflush(stdout);
    fflush(stderr);
    if (pipe(fd) != 0) die("pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) die("fork: %s", strerror(errno));
    if (pid == 0) {
        ud_role role;
        close(fd[0]);
        nresults = nnotes = 0;   /* the parent's, copied by fork */
        register_functions();
        CHECK(ud_init(NULL, &role));
        run_workers = ud_num_workers();
        snprintf(run_backend, sizeof run_backend, "%s", ud_backend_name());
        run_bench(b);
        CHECK(ud_shutdown());
        if (pipe_io(fd[1], run_backend, sizeof run_backend, 1) ||
            pipe_io(fd[1], &run_workers, sizeof run_workers, 1) ||
            pipe_io(fd[1], &nresults, sizeof nresults, 1) ||
            pipe_io(fd[1], results, (size_t)nresults * sizeof *results, 1) ||
            pipe_io(fd[1], &nnotes, sizeof nnotes, 1) ||
            pipe_io(fd[1], notes, (size_t)nnotes * sizeof notes[0], 1))
            _exit(3);
        _exit(0);
    }
    close(fd[1]);
    int before = nresults, nbefore = nnotes, ok = 0;
    if (!pipe_io(fd[0], run_backend, sizeof run_backend, 0) &&
        !pipe_io(fd[0], &run_workers, sizeof run_workers, 0) &&
        !pipe_io(fd[0], &n, sizeof n, 0) && n >= 0 && before + n <= MAX_RESULTS &&
        !pipe_io(fd[0], results + before, (size_t)n * sizeof *results, 0) &&
        !pipe_io(fd[0], &nn, sizeof nn, 0) && nn >= 0 && nbefore + nn <= MAX_NOTES &&
        !pipe_io(fd[0], notes + nbefore, (size_t)nn * sizeof notes[0], 0)) {
        nresults = before + n;
        nnotes = nbefore + nn;
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

int main(int argc, char **argv) {
    const char *out = output_path(argc, argv, "build/bench.json");
    int failed = 0;
    char load_before[128];
    snprintf(load_before, sizeof load_before, "%s", load_average());
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++)
        if (selected(&benches[i])) failed += !run_isolated(&benches[i]);
    if (trace_selected()) {
        ud_config cfg;
        memset(&cfg, 0, sizeof cfg);
        fprintf(stderr, "bench trace (phases with and without a trace)...\n");
        register_functions();
        bench_trace_cost(&cfg);
    }
    return finish(out, load_before, failed);
}

#else /* BENCH_MPI */
/* ---- the MPI build: raw MPI, then the runtime on the same ranks, then raw MPI again -------- */

#define RAW_PEER (mpi_size > 2 ? 2 : 1) /* rank 0 talks to it in the raw measurements */
#define RAW_REPS 7        /* a phase; the two phases are pooled */
#define RAW_BIG_REPS 3
#define RAW_NRTT 2000
#define RAW_NSEND 10000
#define RAW_SMALL 64      /* about an EXECUTE of an empty task, header included */

enum { TAG_PING = 1, TAG_STREAM, TAG_ACK, TAG_BIG };

static int mpi_rank, mpi_size;

/* Waits for every rank without spinning: on this machine ranks outnumber cores, and the ranks
   that take no part in a raw measurement must not take CPU from the two that do (MPI's own
   barrier polls). */
static void quiet_barrier(void) {
    MPI_Request req;
    int done = 0;
    MPI_Ibarrier(MPI_COMM_WORLD, &req);
    for (;;) {
        MPI_Test(&req, &done, MPI_STATUS_IGNORE);
        if (done) break;
        sleep_s(200e-6);
    }
}

/* One repetition: the median of RAW_NRTT 8 B round trips, each timed on rank 0 (ns). */
static double raw_rep_rtt(int peer) {
    static double t[RAW_NRTT];
    char buf[8] = {0};
    for (int i = 0; i < RAW_NRTT; i++) {
        if (peer) {
            MPI_Recv(buf, 8, MPI_BYTE, 0, TAG_PING, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            MPI_Send(buf, 8, MPI_BYTE, 0, TAG_PING, MPI_COMM_WORLD);
        } else {
            double t0 = now();
            MPI_Send(buf, 8, MPI_BYTE, RAW_PEER, TAG_PING, MPI_COMM_WORLD);
            MPI_Recv(buf, 8, MPI_BYTE, RAW_PEER, TAG_PING, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            t[i] = now() - t0;
        }
    }
    return peer ? 0 : median_of(t, RAW_NRTT) * 1e9;
}

/* RAW_NSEND small sends in a row, then an acknowledgement: ns a send, the receiver's pace
   included, as the root's submissions are paced by the worker that takes them. */
static double raw_rep_send(int peer) {
    char buf[RAW_SMALL] = {0};
    double t0 = now();
    for (int i = 0; i < RAW_NSEND; i++) {
        if (peer)
            MPI_Recv(buf, RAW_SMALL, MPI_BYTE, 0, TAG_STREAM, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        else MPI_Send(buf, RAW_SMALL, MPI_BYTE, RAW_PEER, TAG_STREAM, MPI_COMM_WORLD);
    }
    if (peer) MPI_Send(buf, 1, MPI_BYTE, 0, TAG_ACK, MPI_COMM_WORLD);
    else MPI_Recv(buf, 1, MPI_BYTE, RAW_PEER, TAG_ACK, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    return (now() - t0) / RAW_NSEND * 1e9;
}

/* Messages of at most chunk bytes (under INT_MAX, an MPI count), as the runtime sends. */
static void send_chunked(const char *p, size_t n, int dst, size_t chunk) {
    for (size_t off = 0; off < n; off += chunk) {
        size_t k = n - off < chunk ? n - off : chunk;
        MPI_Send(p + off, (int)k, MPI_BYTE, dst, TAG_BIG, MPI_COMM_WORLD);
    }
}

static void recv_chunked(char *p, size_t n, int src, size_t chunk) {
    for (size_t off = 0; off < n; off += chunk) {
        size_t k = n - off < chunk ? n - off : chunk;
        MPI_Recv(p + off, (int)k, MPI_BYTE, src, TAG_BIG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    }
}

/* 256 MiB to the peer and back, between touched buffers (ms). */
static double raw_rep_big(int peer, char *a, char *b, size_t chunk) {
    double t0 = now();
    if (peer) {
        recv_chunked(a, BIG, 0, chunk);
        send_chunked(a, BIG, 0, chunk);
    } else {
        send_chunked(a, BIG, RAW_PEER, chunk);
        recv_chunked(b, BIG, RAW_PEER, chunk);
    }
    return (now() - t0) * 1e3;
}

static void raw_add(raw_set *s, double v) {
    if (s->n < 2 * MAX_REPS) s->v[s->n++] = v;
}

/* Every rank calls it; rank 0 and RAW_PEER measure, the others wait quietly. The buffers are
   freed after, so they count in no process's memory while the runtime runs. */
static void raw_phase(void) {
    if (mpi_rank == 0 || mpi_rank == RAW_PEER) {
        int peer = mpi_rank == RAW_PEER;
        ud_config c;
        CHECK(ud_config_resolve(NULL, &c));
        size_t chunk = (size_t)c.mpi_chunk_size;
        char *a = xmalloc(BIG), *b = peer ? NULL : xmalloc(BIG);
        memset(a, 1, BIG);
        if (b) memset(b, 2, BIG);
        raw_rep_rtt(peer);   /* warm-up */
        raw_rep_send(peer);
        raw_rep_big(peer, a, b, chunk);
        for (int i = 0; i < RAW_REPS; i++) {
            double rtt = raw_rep_rtt(peer), send = raw_rep_send(peer);
            if (!peer) {
                raw_add(&raw_rtt, rtt);
                raw_add(&raw_send, send);
            }
            if (i < RAW_BIG_REPS) {
                double big = raw_rep_big(peer, a, b, chunk);
                if (!peer) raw_add(&raw_big, big);
            }
        }
        free(a);
        free(b);
    }
    quiet_barrier();
}

typedef struct raw_baseline {
    const char *name, *unit;
    raw_set *set;
    double (*f)(double);
    int shown;   /* a line of its own in the table */
} raw_baseline;

static const raw_baseline raw_baselines[] = {
    {"mpi_rtt_8B", "ns", &raw_rtt, as_is, 1},
    {"mpi_half_rtt_8B", "ns", &raw_rtt, half, 1},
    {"mpi_send_64B", "ns", &raw_send, as_is, 1},
    {"mpi_send_64B_rate", "msgs/s", &raw_send, per_second, 0},
    {"mpi_roundtrip_256MiB", "ms", &raw_big, as_is, 1},
    {"mpi_oneway_256MiB", "us", &raw_big, oneway_us, 0},
    {"mpi_bw_256MiB", "GB/s", &raw_big, gb_per_s, 1},
};
#define NRAW (sizeof raw_baselines / sizeof raw_baselines[0])

/* The runtime's figures were set against the raw repetitions made before it started; now
   that those after it stopped are in, every ratio uses both. The raw figures go first. */
static void add_raw_figures(void) {
    result runtime[MAX_RESULTS];
    int n = nresults;
    memcpy(runtime, results, (size_t)n * sizeof *results);
    for (int i = 0; i < n; i++)
        for (size_t k = 0; k < NRAW; k++) {
            const raw_baseline *rb = &raw_baselines[k];
            if (runtime[i].baseline && !strcmp(runtime[i].baseline, rb->name))
                runtime[i].baseline_value = raw_stats(rb->set, rb->f).median;
        }
    nresults = 0;
    quiet = 1;
    for (size_t k = 0; k < NRAW; k++)
        if (raw_baselines[k].shown)
            report(raw_baselines[k].name, raw_baselines[k].unit,
                   raw_stats(raw_baselines[k].set, raw_baselines[k].f), NULL, NULL, GOAL_NONE, 0);
    if (nresults + n > MAX_RESULTS) die("too many results");
    memcpy(results + nresults, runtime, (size_t)n * sizeof *results);
    nresults += n;
}

/* "Open MPI v4.1.4, package: ..." -> "Open MPI v4.1.4"; "MPICH Version:\t4.0.2\n..." ->
   "MPICH Version: 4.0.2" */
static void mpi_library(char *buf, size_t cap) {
    char v[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    size_t n = 0;
    MPI_Get_library_version(v, &len);
    for (const char *p = v; *p && *p != ',' && *p != '\n' && n + 1 < cap; p++)
        if (*p != '\t' || (n && buf[n - 1] != ' ')) buf[n++] = *p == '\t' ? ' ' : *p;
    buf[n] = 0;
}

int main(int argc, char **argv) {
    int provided = 0, status = 0;
    ud_role role;
    ud_config cfg;
    MPI_Comm world = MPI_COMM_WORLD;
    char load_before[128], lib[96];
    MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
    MPI_Comm_rank(world, &mpi_rank);
    MPI_Comm_size(world, &mpi_size);
    if (mpi_size < 2 || mpi_size > MAX_RANKS) {
        if (mpi_rank == 0)
            fprintf(stderr, "bench: run under mpiexec with 2 to %d ranks (4: the driver and three "
                    "workers), not %d\n", MAX_RANKS, mpi_size);
        MPI_Finalize();
        return 1;
    }
    if (provided < MPI_THREAD_SERIALIZED && mpi_rank == 0)
        note("MPI gave thread level %d, not MPI_THREAD_SERIALIZED", provided);
    const char *out = output_path(argc, argv,
#ifdef OPEN_MPI
                                  "build/bench_mpi_openmpi.json"
#elif defined(MPICH)
                                  "build/bench_mpi_mpich.json"
#else
                                  "build/bench_mpi.json"
#endif
    );
    snprintf(load_before, sizeof load_before, "%s", load_average());
    {   /* every rank's process, for the idle and memory figures */
        int pid = (int)getpid(), all[MAX_RANKS];
        MPI_Allgather(&pid, 1, MPI_INT, all, 1, MPI_INT, world);
        for (int r = 0; r < mpi_size; r++) rank_pid[r] = (pid_t)all[r];
        nranks = mpi_size;
    }

    double t0 = now();
    if (mpi_rank == 0) fprintf(stderr, "raw MPI baselines (before the runtime)...\n");
    raw_phase();
    if (mpi_rank == 0) fprintf(stderr, "raw MPI baselines: %.1f s\n", now() - t0);

    register_functions();
    memset(&cfg, 0, sizeof cfg);
    cfg.mpi_comm = &world;   /* embedded: the runtime runs on a duplicate, MPI stays ours */
    CHECK(ud_init(&cfg, &role));
    if (role == UD_ROLE_DRIVER) {
        run_workers = ud_num_workers();
        snprintf(run_backend, sizeof run_backend, "%s", ud_backend_name());
        for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++)
            if (selected(&benches[i])) run_bench(&benches[i]);
        CHECK(ud_shutdown());
    }
    /* every rank is back from ud_init here */
    if (trace_selected()) {
        if (mpi_rank == 0) fprintf(stderr, "bench trace (phases with and without a trace)...\n");
        bench_trace_cost(&cfg);
    }

    if (mpi_rank == 0) fprintf(stderr, "raw MPI baselines (after the runtime)...\n");
    raw_phase();

    mpi_library(lib, sizeof lib);
    if (mpi_rank == 0) {
        snprintf(run_where, sizeof run_where, ", %d ranks, %s", mpi_size, lib);
        add_raw_figures();
        status = finish(out, load_before, 0);
    }
    MPI_Finalize();
    return status;
}
#endif /* BENCH_MPI */
