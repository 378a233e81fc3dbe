/* ud_test.h - the test harness of unidist's test programs (header-only)

   USAGE
       #define UNIDIST_IMPLEMENTATION
       #include "unidist.h"
       #include "ud_test.h"

       static void square_of_five(void) {
           ud_ref r;
           UT_REQUIRE_OK(ud_put(&five, sizeof five, &r));   (ends the case on failure)
           UT_EQ_INT(value_of(r), 25);                      (records, goes on)
       }
       int main(void) {
           ...
           UT_RUN(square_of_five);                          (prints PASS/FAIL square_of_five)
           UT_CASE("inline block") { UT_CHECK(x > 0); }     (a case without a function)
           return ut_finish();                              (0 only if every case passed)
       }

   A check that fails prints its file:line, the expression and, for ints and statuses, both
   values (plus ud_last_error() for statuses), indented by two spaces, and the case goes on;
   the case then prints "FAIL name" after its details. UT_REQUIRE* return from the case
   function, so they only belong in functions run by UT_RUN (in a UT_CASE block inside main,
   -Werror=return-type rejects them). Checks may be made from any thread (task functions,
   driver threads); they count against the case that is open.

   ut_finish() prints "# t_name: N passed, N failed" (never the bare total: tests/run.sh
   prints that) and returns the exit code.

   MPI: ut_set_reduce(rank, sum, user) makes every case end reduce "did this case fail here"
   over the ranks, and only rank 0 print PASS/FAIL lines and the summary; failure details are
   printed by the rank that saw them, prefixed "[rN]". Every rank must then run the same cases
   in the same order, since each case end is a collective.

   A hang is a failure: tests/run.sh runs each program under `timeout`, whose SIGTERM makes
   the harness print "FAIL <the open case>" before exiting; ut_watchdog(seconds) does the same
   with SIGALRM for a program run by hand.

   Sizes of stress loops go through ut_scaled(n): n times UT_SCALE (environment, default 1,
   or 0.1 in sanitizer builds, which run 5-20 times slower). Time limits that cannot be made
   a comparison with something measured in the same run are multiplied by ut_time_slack().
*/
#ifndef UD_TEST_H
#define UD_TEST_H

#ifndef UNIDIST_H
#error "include unidist.h before ud_test.h: the harness prints statuses with ud_status_str"
#endif

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define UT_SANITIZED 1
#endif
#endif
#ifndef UT_SANITIZED
#define UT_SANITIZED 0
#endif

/* Sums one int over every rank (MPI tests set it); the result must be the same on every rank. */
typedef int (*ut_reduce_fn)(int local, void *user);

static struct {
    pthread_mutex_t lock;
    const char *volatile case_name; /* the open case; read by the signal handler */
    int case_failures;              /* failed checks of the open case */
    const char *skip_reason;
    int loose_failures;             /* failed checks made outside any case */
    int passed, failed, skipped;
    int rank;
    ut_reduce_fn reduce;
    void *reduce_user;
    int signals_set;
} ut__s = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, NULL, 0, 0, 0, 0, 0, NULL, NULL, 0};

static inline void ut_set_reduce(int rank, ut_reduce_fn sum, void *user) {
    ut__s.rank = rank;
    ut__s.reduce = sum;
    ut__s.reduce_user = user;
}

static inline int ut__global(int local) {
    return ut__s.reduce ? ut__s.reduce(local, ut__s.reduce_user) : local;
}

/* ---- time, sleep, scale ------------------------------------------------------------------- */
static inline double ut_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Before init, in a program that measures the root alone (its messages, what it receives): the
   driver's rank gets no task threads of its own (UNIDIST_CPUS=1 there is one less: none),
   whatever the variant gives the workers. The launcher names the rank (Open MPI, MPICH's
   hydra). */
static inline void ut_driver_runs_no_tasks(void) {
    const char *r = getenv("OMPI_COMM_WORLD_RANK");
    if (!r) r = getenv("PMI_RANK");
    if (r && atoi(r) == 0) setenv("UNIDIST_CPUS", "1", 1);
}

static inline void ut_sleep(double seconds) {
    struct timespec ts;
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static inline double ut_scale(void) {
    const char *s = getenv("UT_SCALE");
    if (s && *s) {
        char *end;
        double v = strtod(s, &end);
        if (*end == '\0' && v > 0) return v;
    }
    return UT_SANITIZED ? 0.1 : 1.0;
}

/* How many times longer than on an idle machine a timed step may take here: UT_TIME_SLACK
   (environment), else 4 in sanitizer builds, 1 otherwise, times the load a core (the 1-minute
   load average over the cores online) when that is above 1; at most 16. */
static inline double ut_time_slack(void) {
    const char *s = getenv("UT_TIME_SLACK");
    double load[1], f = UT_SANITIZED ? 4.0 : 1.0;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (s && *s) {
        char *end;
        double v = strtod(s, &end);
        if (*end == '\0' && v > 0) return v;
    }
    if (getloadavg(load, 1) == 1 && ncpu > 0 && load[0] / (double)ncpu > 1) f *= load[0] / (double)ncpu;
    return f < 16 ? f : 16;
}

/* n scaled by UT_SCALE, at least 1. */
static inline long ut_scaled(long n) {
    long v = (long)((double)n * ut_scale());
    return v < 1 ? 1 : v;
}

/* ---- reporting ---------------------------------------------------------------------------- */
/* The rest of a report line, then its end; the caller holds the lock. */
static inline void ut__vline(const char *fmt, va_list ap) {
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
}

static inline void ut__detail(const char *file, int line, const char *fmt, ...) {
    const char *base = strrchr(file, '/');
    va_list ap;
    pthread_mutex_lock(&ut__s.lock);
    if (ut__s.case_name) ut__s.case_failures++;
    else ut__s.loose_failures++;
    if (ut__s.reduce) printf("  [r%d] %s:%d: ", ut__s.rank, base ? base + 1 : file, line);
    else printf("  %s:%d: ", base ? base + 1 : file, line);
    va_start(ap, fmt);
    ut__vline(fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&ut__s.lock);
}

/* A note under the open case (not a failure), e.g. why it was skipped. */
static inline void ut_note(const char *fmt, ...) {
    va_list ap;
    pthread_mutex_lock(&ut__s.lock);
    printf("  # ");
    va_start(ap, fmt);
    ut__vline(fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&ut__s.lock);
}

static void ut__on_signal(int sig) {
    /* Only async-signal-safe calls here: write and _exit. */
    const char *name = ut__s.case_name ? ut__s.case_name : "outside_cases";
    const char *why = sig == SIGALRM ? "  watchdog expired (hang?) in case "
                                     : "  killed by SIGTERM (timeout: hang?) in case ";
    ssize_t rc;
    rc = write(1, why, strlen(why));
    rc = write(1, name, strlen(name));
    rc = write(1, "\nFAIL ", 6);
    rc = write(1, name, strlen(name));
    rc = write(1, "\n", 1);
    (void)rc;
    _exit(124);
}

/* This process's rank as mpiexec tells it (Open MPI, MPICH's Hydra, PMIx), before the runtime
   starts or while it runs its loop; -1 when not launched by mpiexec. */
static inline int ut_launcher_rank(void) {
    const char *names[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"};
    size_t i;
    for (i = 0; i < sizeof names / sizeof names[0]; i++)
        if (getenv(names[i])) return atoi(getenv(names[i]));
    return -1;
}

/* Fails the open case if the program is still running after `seconds`. */
static inline void ut_watchdog(unsigned seconds) {
    signal(SIGALRM, ut__on_signal);
    alarm(seconds);
}

/* ---- cases -------------------------------------------------------------------------------- */
static inline void ut_end(void);

static inline void ut_begin(const char *name) {
    if (ut__s.case_name) ut_end();
    if (!ut__s.signals_set) {
        ut__s.signals_set = 1;
        fflush(stdout);
        signal(SIGTERM, ut__on_signal);
    }
    pthread_mutex_lock(&ut__s.lock);
    ut__s.case_failures = 0;
    ut__s.skip_reason = NULL;
    ut__s.case_name = name;
    pthread_mutex_unlock(&ut__s.lock);
}

/* Marks the open case as not applicable here (it prints SKIP unless a check failed). */
static inline void ut_skip(const char *reason) {
    pthread_mutex_lock(&ut__s.lock);
    ut__s.skip_reason = reason;
    pthread_mutex_unlock(&ut__s.lock);
}

static inline void ut_end(void) {
    const char *name;
    int failed_here, skipped_here, failed_ranks, skipped_ranks;
    pthread_mutex_lock(&ut__s.lock);
    name = ut__s.case_name;
    failed_here = ut__s.case_failures > 0;
    skipped_here = ut__s.skip_reason != NULL;
    pthread_mutex_unlock(&ut__s.lock);
    if (!name) return;
    failed_ranks = ut__global(failed_here);
    skipped_ranks = ut__global(skipped_here);
    pthread_mutex_lock(&ut__s.lock);
    if (failed_ranks) ut__s.failed++;
    else if (skipped_ranks) ut__s.skipped++;
    else ut__s.passed++;
    if (ut__s.rank == 0) {
        if (failed_ranks) printf("FAIL %s\n", name);
        else if (skipped_ranks) printf("SKIP %s (%s)\n", name, skipped_here ? ut__s.skip_reason : "on some rank");
        else printf("PASS %s\n", name);
        fflush(stdout);
    }
    ut__s.case_name = NULL;
    pthread_mutex_unlock(&ut__s.lock);
}

#define UT_RUN(fn) (ut_begin(#fn), fn(), ut_end())
/* A case as a block: UT_CASE("name") { checks } (no UT_REQUIRE inside, no break out of it). */
#define UT_CASE(name) for (int ut__once = (ut_begin(name), 1); ut__once; ut__once = (ut_end(), 0))

static inline int ut__finish(const char *file) {
    const char *base = strrchr(file, '/');
    char prog[128];
    size_t n;
    int loose;
    if (ut__s.case_name) ut_end();
    loose = ut__global(ut__s.loose_failures > 0);
    if (loose) {
        ut__s.failed++;
        if (ut__s.rank == 0) printf("FAIL outside_cases\n");
    }
    base = base ? base + 1 : file;
    n = strcspn(base, ".");
    if (n >= sizeof prog) n = sizeof prog - 1;
    memcpy(prog, base, n);
    prog[n] = '\0';
    if (ut__s.rank == 0) {
        if (ut__s.skipped)
            printf("# %s: %d passed, %d failed, %d skipped\n", prog, ut__s.passed, ut__s.failed,
                   ut__s.skipped);
        else
            printf("# %s: %d passed, %d failed\n", prog, ut__s.passed, ut__s.failed);
        fflush(stdout);
    }
    return ut__s.failed == 0 && ut__s.passed + ut__s.skipped > 0 ? 0 : 1;
}
#define ut_finish() ut__finish(__FILE__)

/* ---- checks: each returns 1 when it held ------------------------------------------------- */
static inline int ut__check(int ok, const char *file, int line, const char *expr) {
    if (!ok) ut__detail(file, line, "check failed: %s", expr);
    return ok;
}

static inline int ut__eq_int(long long got, long long want, const char *file, int line,
                             const char *gexpr, const char *wexpr) {
    if (got != want) ut__detail(file, line, "%s == %s: got %lld, want %lld", gexpr, wexpr, got, want);
    return got == want;
}

static inline const char *ut__status_name(int s) {
    const char *str = ud_status_str((ud_status)s);
    return str ? str : "(NULL from ud_status_str)";
}

static inline int ut__eq_status(int got, int want, const char *file, int line, const char *gexpr) {
    if (got != want) {
        const char *last = ud_last_error();
        ut__detail(file, line, "%s: got %d [%s], want %d [%s]; last error \"%s\"", gexpr, got,
                   ut__status_name(got), want, ut__status_name(want), last ? last : "(NULL)");
    }
    return got == want;
}

static inline int ut__eq_str(const char *got, const char *want, const char *file, int line,
                             const char *gexpr) {
    int ok = got && want && strcmp(got, want) == 0;
    if (!ok)
        ut__detail(file, line, "%s: got \"%s\", want \"%s\"", gexpr, got ? got : "(NULL)",
                   want ? want : "(NULL)");
    return ok;
}

static inline int ut__contains(const char *hay, const char *needle, const char *file, int line,
                               const char *hexpr) {
    int ok = hay && needle && strstr(hay, needle) != NULL;
    if (!ok)
        ut__detail(file, line, "%s: \"%s\" does not contain \"%s\"", hexpr, hay ? hay : "(NULL)",
                   needle ? needle : "(NULL)");
    return ok;
}

static inline int ut__eq_mem(const void *got, const void *want, size_t n, const char *file,
                             int line, const char *gexpr) {
    size_t i;
    const unsigned char *g = (const unsigned char *)got, *w = (const unsigned char *)want;
    if (n == 0) return 1;
    if (!g) {
        ut__detail(file, line, "%s: NULL, want %zu bytes", gexpr, n);
        return 0;
    }
    for (i = 0; i < n && g[i] == w[i]; i++) {
    }
    if (i < n)
        ut__detail(file, line, "%s: byte %zu of %zu differs: got 0x%02x, want 0x%02x", gexpr, i, n,
                   g[i], w[i]);
    return i == n;
}

#define UT_CHECK(cond) ut__check(!!(cond), __FILE__, __LINE__, #cond)
#define UT_EQ_INT(got, want) \
    ut__eq_int((long long)(got), (long long)(want), __FILE__, __LINE__, #got, #want)
#define UT_EQ_STATUS(got, want) ut__eq_status((int)(got), (int)(want), __FILE__, __LINE__, #got)
#define UT_OK(expr) UT_EQ_STATUS(expr, UD_OK)
#define UT_EQ_STR(got, want) ut__eq_str((got), (want), __FILE__, __LINE__, #got)
#define UT_CONTAINS(hay, needle) ut__contains((hay), (needle), __FILE__, __LINE__, #hay)
#define UT_EQ_MEM(got, want, n) ut__eq_mem((got), (want), (n), __FILE__, __LINE__, #got)
/* Fails with a message of the caller's own. */
#define UT_FAIL(...) ut__detail(__FILE__, __LINE__, __VA_ARGS__)

/* A misuse: the call returns want, and ud_last_error() contains hint, the argument or state
   the message must name ("put: out is NULL"); an empty hint is a compile error when it is a
   literal, a failed check when not. */
#define UT_MISUSE(call, want, hint) \
    do { \
        _Static_assert(sizeof(hint) > 1, "UT_MISUSE needs a hint"); \
        if (UT_EQ_STATUS(call, want)) { \
            if (!(hint)[0]) UT_FAIL("a misuse check without a hint"); \
            else UT_CONTAINS(ud_last_error(), hint); \
        } \
    } while (0)

#define UT_REQUIRE(cond) \
    do { \
        if (!UT_CHECK(cond)) return; \
    } while (0)
#define UT_REQUIRE_OK(expr) \
    do { \
        if (!UT_OK(expr)) return; \
    } while (0)

/* Polls cond every millisecond until it holds or `seconds` pass; records a failure if it never
   held. A deadline, not a timing check: use generous values. Evaluates to 1 if it held. */
#define UT_EVENTUALLY(cond, seconds) \
    __extension__({ \
        double ut__deadline = ut_now() + (seconds); \
        int ut__held; \
        while (!(ut__held = !!(cond)) && ut_now() < ut__deadline) ut_sleep(0.001); \
        if (!ut__held) UT_FAIL("never held within %g s: %s", (double)(seconds), #cond); \
        ut__held; \
    })

/* Does hay contain needle, ignoring case? (error messages name settings in either case) */
static inline int ut_contains_nocase(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (; hay && *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i])) i++;
        if (i == n) return 1;
    }
    return 0;
}

/* ---- small task helpers shared by the test programs ------------------------------------------ */
/* The driver's side: an int put, and a task called on one ref or one int. */
static inline ud_ref ut_put_int(int x) {
    ud_ref r = {-1, -1};
    UT_OK(ud_put(&x, sizeof x, &r));
    return r;
}

static inline ud_status ut_call_ref(ud_func f, ud_ref arg, ud_ref *out) {
    ud_arg a = ud_arg_ref(arg);
    return ud_remote(f, &a, 1, 1, out);
}

static inline ud_status ut_call_int(ud_func f, int x, int nret, ud_ref *outs) {
    ud_arg a = ud_arg_val(&x, sizeof x);
    return ud_remote(f, &a, 1, nret, outs);
}

/* Reads argument i as an int; 0 when it is missing, failed or not an int's size. */
static inline int ut_arg_int(ud_task *t, int i, int *x) {
    ud_view v;
    if (ud_task_arg(t, i, &v) != UD_OK || v.status != UD_OK || v.size != sizeof *x) return 0;
    memcpy(x, v.data, sizeof *x);
    return 1;
}

/* Writes x as result i; fails the task when there is no memory. */
static inline int ut_result_int(ud_task *t, int i, int x) {
    int *y = (int *)ud_task_result(t, i, sizeof *y);
    if (!y) return ud_task_fail(t, "no memory for result %d", i);
    *y = x;
    return 0;
}

/* ---- a counting allocator for ud_config's hooks --------------------------------------------
   Each block carries its size in a header, so the sizes the library passes to free and realloc
   are checked against what it asked for. */
typedef struct ut_counting {
    atomic_llong live_bytes;
    atomic_llong allocs, frees;
    atomic_llong bad_sizes;   /* free/realloc called with a size other than the block's */
    atomic_llong foreign;     /* free/realloc of a block this allocator did not hand out */
} ut_counting;

typedef union ut__block {
    max_align_t align;
    struct {
        size_t size;
        uint32_t magic;
    } h;
} ut__block;

#define UT__MAGIC 0x5eedf00du

static inline void *ut_counting_alloc(size_t size, void *user) {
    ut_counting *c = (ut_counting *)user;
    ut__block *b = (ut__block *)malloc(sizeof *b + size);
    if (!b) return NULL;
    b->h.size = size;
    b->h.magic = UT__MAGIC;
    atomic_fetch_add(&c->live_bytes, (long long)size);
    atomic_fetch_add(&c->allocs, 1);
    return b + 1;
}

static inline int ut__counting_release(ut_counting *c, void *ptr, size_t size) {
    ut__block *b = (ut__block *)ptr - 1;
    if (b->h.magic != UT__MAGIC) {
        atomic_fetch_add(&c->foreign, 1);
        return 0;
    }
    if (b->h.size != size) atomic_fetch_add(&c->bad_sizes, 1);
    atomic_fetch_sub(&c->live_bytes, (long long)b->h.size);
    return 1;
}

static inline void ut_counting_free(void *ptr, size_t size, void *user) {
    ut_counting *c = (ut_counting *)user;
    if (!ptr) return;
    if (!ut__counting_release(c, ptr, size)) return;
    atomic_fetch_add(&c->frees, 1);
    ((ut__block *)ptr - 1)->h.magic = 0;
    free((ut__block *)ptr - 1);
}

static inline void *ut_counting_realloc(void *ptr, size_t old_size, size_t new_size, void *user) {
    ut_counting *c = (ut_counting *)user;
    ut__block *b;
    if (!ptr) return ut_counting_alloc(new_size, user);
    if (!ut__counting_release(c, ptr, old_size)) return NULL;
    b = (ut__block *)realloc((ut__block *)ptr - 1, sizeof *b + new_size);
    if (!b) {
        atomic_fetch_add(&c->live_bytes, (long long)((ut__block *)ptr - 1)->h.size);
        return NULL;
    }
    b->h.size = new_size;
    atomic_fetch_add(&c->live_bytes, (long long)new_size);
    return b + 1;
}

/* Points cfg's allocator hooks at c. */
static inline void ut_counting_use(ud_config *cfg, ut_counting *c) {
    cfg->alloc = ut_counting_alloc;
    cfg->realloc = ut_counting_realloc;
    cfg->free = ut_counting_free;
    cfg->alloc_user = c;
}

#endif /* UD_TEST_H */
