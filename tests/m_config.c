/* Configuration rows set through ud_config (filled by ud_config_init) to values other than
   their defaults, each with its effect seen: several runs of the runtime, one a group of rows
   (the last: the round_robin scheduler, a trace, and the idle loop's own yield).
   Run under mpiexec with 2 or more ranks. */
#define _GNU_SOURCE /* pthread_getattr_np */
#define UNIDIST_IMPLEMENTATION
#include "unidist_mpi.h"
#include "ud_test.h"

#include <fcntl.h>

static ud_func f_make, f_stack, f_len, f_where;

/* make(n): n bytes, byte i being i % 251. */
static int make(ud_task *t) {
    int n = 0, i;
    unsigned char *p;
    if (!ut_arg_int(t, 0, &n) || !(p = (unsigned char *)ud_task_result(t, 0, (size_t)n)))
        return ud_task_fail(t, "make");
    for (i = 0; i < n; i++) p[i] = (unsigned char)(i % 251);
    return 0;
}

/* stack(): the size of the stack of the thread that runs it. */
static int stack(ud_task *t) {
    pthread_attr_t at;
    size_t size = 0;
    int64_t *out = (int64_t *)ud_task_result(t, 0, sizeof *out);
    if (!out || pthread_getattr_np(pthread_self(), &at) != 0) return ud_task_fail(t, "stack");
    pthread_attr_getstacksize(&at, &size);
    pthread_attr_destroy(&at);
    *out = (int64_t)size;
    return 0;
}

/* len(object): its size. */
static int len(ud_task *t) {
    ud_view v;
    int64_t *out = (int64_t *)ud_task_result(t, 0, sizeof *out);
    if (!out || ud_task_arg(t, 0, &v) != UD_OK) return ud_task_fail(t, "len");
    *out = (int64_t)v.size;
    return 0;
}

/* where(anything): the worker that runs it. */
static int where(ud_task *t) { return ut_result_int(t, 0, ud_worker_id()); }

/* A task on a 100 KiB object made on worker 1 (done, so the root knows its size): drawn there
   when the object passes UNIDIST_SCHED_LOCALITY_MIN (64 KiB by default), not when that is
   1 GiB (then the monitor's worker, 0, takes it first). */
static void locality_min(int drawn) {
    int n = 100 << 10, w = -1, ready[1], nready = 0;
    ud_arg a = ud_arg_val(&n, sizeof n);
    ud_opts on1 = ud_on_worker(1);
    ud_ref big, r;
    size_t size = 0;
    const char *sched = getenv("UNIDIST_SCHEDULER");
    if (ud_num_workers() < 2 || (sched && !strcmp(sched, "round_robin"))) {
        ut_skip("needs 2 workers and the auto scheduler");
        return;
    }
    UT_REQUIRE_OK(ud_remote_opts(&on1, f_make, &a, 1, 1, &big));
    UT_REQUIRE_OK(ud_wait(&big, 1, 1, 30.0, ready, &nready));
    a = ud_arg_ref(big);
    if (UT_OK(ud_remote(f_where, &a, 1, 1, &r)) && UT_OK(ud_get_copy(r, &w, sizeof w, &size))) {
        if (drawn) UT_EQ_INT(w, 1);
        else if (w == 1) UT_FAIL("drawn to worker 1, though 100 KiB is under UNIDIST_SCHED_LOCALITY_MIN");
    }
    ud_free(r);
    ud_free(big);
}

static int64_t int64_of(ud_ref r) {
    ud_view v;
    int64_t x = -1;
    if (UT_OK(ud_get(r, &v)) && UT_EQ_INT(v.size, sizeof x)) memcpy(&x, v.data, sizeof x);
    return x;
}

/* Summed over the ranks. */
typedef struct {
    int64_t msgs, separate, inl, cleanups;
} totals;

static totals totals_now(void) {
    ud_stats st[256];
    totals t = {0, 0, 0, 0};
    int n = 0, k;
    if (ud_stats_get(st, 256, &n) != UD_OK) return (totals){-1, -1, -1, -1};
    for (k = 0; k < n; k++) {
        t.msgs += st[k].msgs_sent;
        t.separate += st[k].separate_bytes_sent;
        t.inl += st[k].inline_bytes_sent;
        t.cleanups += st[k].cleanups;
    }
    return t;
}

/* Starts a run with c; 1 on the driver, 0 on another rank once the run is over, -1 on failure. */
static int start(ud_config *c, const char *what) {
    ud_role role;
    if (ud_init(c, &role) != UD_OK) {
        printf("FAIL init (%s): %s\n", what, ud_last_error());
        return -1;
    }
    return role == UD_ROLE_DRIVER;
}

/* ---- run 1: no store, small chunks and inline limit, a message limit, a stack size, stats -- */
static void chunks_inline_and_message_limits(void) {
    int n = 20000;
    ud_arg a = ud_arg_val(&n, sizeof n);
    ud_ref r, l;
    ud_view v;
    totals t0 = totals_now(), t1;
    static char part[3][500];
    ud_part parts[3] = {{part[0], 500}, {part[1], 500}, {part[2], 500}};
    /* a 20000-byte result: past the 512-byte inline limit, 5 chunks of 4096 bytes */
    UT_REQUIRE_OK(ud_remote(f_make, &a, 1, 1, &r));
    if (UT_OK(ud_get(r, &v))) UT_EQ_INT(v.size, n);
    t1 = totals_now();
    ut_note("20000 bytes: %lld bytes apart, %lld messages", (long long)(t1.separate - t0.separate),
            (long long)(t1.msgs - t0.msgs));
    UT_CHECK(t1.separate - t0.separate >= n);
    UT_CHECK(t1.msgs - t0.msgs >= 5);
    UT_OK(ud_free(r));
    /* three parts of 500 bytes, each under the inline limit: a 1000-byte message takes two */
    t0 = totals_now();
    UT_REQUIRE_OK(ud_put_parts(parts, 3, &r));
    a = ud_arg_ref(r);
    UT_REQUIRE_OK(ud_remote(f_len, &a, 1, 1, &l));
    UT_EQ_INT(int64_of(l), 500);
    t1 = totals_now();
    ut_note("3 parts of 500: %lld bytes inline, %lld apart", (long long)(t1.inl - t0.inl),
            (long long)(t1.separate - t0.separate));
    UT_CHECK(t1.inl - t0.inl >= 1000);
    UT_CHECK(t1.separate - t0.separate >= 500);
    UT_OK(ud_free(l));
    UT_OK(ud_free(r));
}

static void task_stack_size(void) {
    ud_ref r;
    int64_t size;
    UT_REQUIRE_OK(ud_remote(f_stack, NULL, 0, 1, &r));
    size = int64_of(r);
    ut_note("a task thread's stack: %lld bytes", (long long)size);
    UT_CHECK(size >= 256 << 10 && size < 1 << 20);
    UT_OK(ud_free(r));
}

/* Makes 20 small results on the workers, waits for them, frees them, lets 50 ms pass and
   makes a driver call (where a cleanup due by time goes). Returns the cleanups before. */
static int64_t free_twenty(void) {
    int n = 8, k, ready[20];
    ud_arg a = ud_arg_val(&n, sizeof n);
    ud_ref r[20], more;
    int64_t before = totals_now().cleanups;
    for (k = 0; k < 20; k++)
        if (!UT_OK(ud_remote(f_make, &a, 1, 1, &r[k]))) return before;
    UT_OK(ud_wait(r, 20, 20, 60.0, ready, &k));
    UT_OK(ud_free_many(r, 20));
    ut_sleep(0.05);
    if (UT_OK(ud_remote(f_make, &a, 1, 1, &more))) {
        UT_CHECK(int64_of(more) != 0);
        UT_OK(ud_free(more));
    }
    return before;
}

/* No cleanup goes by count, time or bytes: freed refs stay with their owners. */
static void cleanups_held(void) {
    int64_t before = free_twenty();
    UT_EQ_INT(totals_now().cleanups - before, 0);
}

/* ---- run 2: a cleanup after the delay (1 ms), at the next driver call ---------------------- */
static void cleanup_after_the_delay(void) {
    int64_t before = free_twenty();
    UT_EVENTUALLY(totals_now().cleanups - before >= 20, 10.0);
}

/* UNIDIST_MPI_BACKOFF 50 ms: an idle rank sleeps up to that long between polls, so a round
   trip after 0.3 s of quiet waits for each rank on its way, tens of milliseconds on average
   (with the default 1 ms, about a millisecond). The mean of 4 such round trips. */
static void backoff_delays_the_first_round_trip(void) {
    int n = 8, k;
    ud_arg a = ud_arg_val(&n, sizeof n);
    double sum = 0;
    for (k = 0; k < 4; k++) {
        ud_ref r;
        double t0;
        ut_sleep(0.3);
        t0 = ut_now();
        UT_REQUIRE_OK(ud_remote(f_make, &a, 1, 1, &r));
        UT_CHECK(int64_of(r) != 0);
        sum += ut_now() - t0;
        UT_OK(ud_free(r));
    }
    ut_note("a round trip after 0.3 s of quiet: %.1f ms on average", 1e3 * sum / 4);
    UT_CHECK(sum / 4 >= 0.01);
}

/* ---- run 3: a cleanup at once for 64 KiB freed, however few refs; a small service buffer -- */
static void cleanup_for_the_bytes(void) {
    int n = 1 << 20;
    ud_arg a = ud_arg_val(&n, sizeof n);
    ud_ref r;
    ud_view v;
    totals t0 = totals_now();
    UT_REQUIRE_OK(ud_remote(f_make, &a, 1, 1, &r));
    if (UT_OK(ud_get(r, &v))) UT_EQ_INT(v.size, n); /* the driver knows its size now */
    UT_OK(ud_free(r));
    UT_EVENTUALLY(totals_now().cleanups - t0.cleanups >= 1, 10.0);
}

static void service_buffer_holds_its_entries(void) {
    ud_shm_stats s;
    UT_REQUIRE_OK(ud_shm_stats_get(&s));
    if (!s.enabled) {
        ut_skip("the driver's host has no store here");
        return;
    }
    /* 88 bytes an entry (less a little for the buffer's own use); by default thousands */
    UT_CHECK(s.slots <= 6400 / 88 && s.slots >= 6400 / 88 - 8);
    ut_note("%lld entries", (long long)s.slots);
}

/* ---- run 5: round_robin, no store, a trace ---------------------------------------------- */
/* Tasks with nothing to draw them go to the workers in turn, and those for a host to its
   workers in turn (the auto scheduler sends them all to the idle worker that ran the last). */
static void round_robin_in_turn(void) {
    int w = ud_num_workers(), k, n = 2 * ud_num_workers(), got[16], host = ud_worker_host(0), on_host = 0;
    ud_opts oh = ud_on_host(host);
    ud_ref r[16];
    size_t size;
    UT_REQUIRE(n <= 16);
    for (k = 0; k < n; k++) UT_REQUIRE_OK(ud_remote(f_where, NULL, 0, 1, &r[k]));
    for (k = 0; k < n; k++) {
        got[k] = -1;
        UT_OK(ud_get_copy(r[k], &got[k], sizeof got[k], &size));
    }
    for (k = 1; k < n; k++) UT_EQ_INT(got[k], (got[k - 1] + 1) % w);
    UT_OK(ud_free_many(r, n));
    for (k = 0; k < w; k++) on_host += ud_worker_host(k) == host;
    for (k = 0; k < n; k++) UT_REQUIRE_OK(ud_remote_opts(&oh, f_where, NULL, 0, 1, &r[k]));
    for (k = 0; k < n; k++) {
        got[k] = -1;
        if (UT_OK(ud_get_copy(r[k], &got[k], sizeof got[k], &size)) && UT_CHECK(got[k] >= 0 && got[k] < w))
            UT_EQ_INT(ud_worker_host(got[k]), host);
    }
    /* in turn: the first on_host of them are each a different worker */
    for (k = 1; k < on_host; k++) UT_CHECK(got[k] != got[k - 1]);
    UT_OK(ud_free_many(r, n));
}

/* With no store, a result past the inline limit travels as a part of its own: the trace
   written at shutdown shows its send. */
static char trace_path[] = "m_config.trace.json";
static void large_part_traced(void) {
    int n = 100000;
    ud_arg a = ud_arg_val(&n, sizeof n);
    ud_ref r;
    ud_view v;
    UT_REQUIRE_OK(ud_remote(f_make, &a, 1, 1, &r));
    if (UT_OK(ud_get(r, &v))) UT_EQ_INT(v.size, n);
    UT_OK(ud_free(r));
}

static int trace_has(const char *needle) {
    static char text[1 << 20];
    FILE *f = fopen(trace_path, "r");
    size_t n;
    if (!f) return 0;
    n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    return strstr(text, needle) != NULL;
}

/* The driver's stderr while f runs, into buf. */
static void capture_stderr(void (*f)(void), char *buf, size_t cap) {
    FILE *tmp = tmpfile();
    int saved = dup(2);
    size_t n;
    buf[0] = '\0';
    if (!tmp || saved < 0) return;
    fflush(stderr);
    dup2(fileno(tmp), 2);
    f();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    n = fread(buf, 1, cap - 1, tmp);
    buf[n] = '\0';
    fclose(tmp);
}

static ud_status shutdown_status;
static void shut(void) { shutdown_status = ud_shutdown(); }

int main(void) {
    ud_config c;
    int d;
    static char err[16384];
    if (ud_register("make", make, NULL, &f_make) != UD_OK || ud_register("stack", stack, NULL, &f_stack) != UD_OK ||
        ud_register("len", len, NULL, &f_len) != UD_OK || ud_register("where", where, NULL, &f_where) != UD_OK)
        return 1;

    ud_config_init(&c);
    c.mpi_shared_object_store = 0;
    c.mpi_chunk_size = 4096;
    c.mpi_inline_max = 512;
    c.mpi_message_max = 1000;
    c.task_stack = 256 << 10;
    c.stats = 1;
    c.mpi_gc_threshold = 1000000;
    c.mpi_gc_delay_ms = 0;
    c.mpi_gc_bytes = 0;
    if ((d = start(&c, "run 1")) < 0) return 1;
    if (d) {
        UT_RUN(chunks_inline_and_message_limits);
        UT_RUN(task_stack_size);
        UT_RUN(cleanups_held);
        capture_stderr(shut, err, sizeof err);
        UT_CASE("UNIDIST_STATS=1: shutdown prints the table on the driver's stderr") {
            UT_OK(shutdown_status);
            UT_CONTAINS(err, "[ud] rank host thr   tasks");
        }
    }

    ud_config_init(&c);
    c.mpi_gc_threshold = 1000000;
    c.mpi_gc_delay_ms = 1;
    c.mpi_gc_bytes = 0;
    c.mpi_backoff = 50000;
    if ((d = start(&c, "run 2")) < 0) return 1;
    if (d) {
        UT_RUN(cleanup_after_the_delay);
        UT_RUN(backoff_delays_the_first_round_trip);
        UT_CASE("run 2: shutdown, no table without UNIDIST_STATS") {
            capture_stderr(shut, err, sizeof err);
            UT_OK(shutdown_status);
            if (getenv("UNIDIST_STATS") == NULL) UT_CHECK(strstr(err, "[ud] rank host thr") == NULL);
        }
    }

    ud_config_init(&c);
    c.mpi_gc_threshold = 1000000;
    c.mpi_gc_delay_ms = 0;
    c.mpi_gc_bytes = 64 << 10;
    c.mpi_shared_service_memory = 6400;
    if ((d = start(&c, "run 3")) < 0) return 1;
    if (d) {
        UT_RUN(cleanup_for_the_bytes);
        UT_RUN(service_buffer_holds_its_entries);
        UT_CASE("run 3: a 100 KiB argument draws its task (UNIDIST_SCHED_LOCALITY_MIN 64 KiB)") locality_min(1);
        UT_CASE("run 3: shutdown") { UT_OK(ud_shutdown()); }
    }

    ud_config_init(&c);
    c.sched_locality_min = (uint64_t)1 << 30;
    c.mpi_yield = 7;
    if ((d = start(&c, "run 4")) < 0) return 1;
    if (d) {
        /* (every rank's idle loop reads it; the driver's is the one this process sees) */
        UT_CASE("run 4: UNIDIST_MPI_YIELD 7: a hot poll yields every 7th time") UT_EQ_INT(ud__bo.yield_every, 7);
        UT_CASE("run 4: UNIDIST_SCHED_LOCALITY_MIN 1 GiB: a 100 KiB argument draws nothing") locality_min(0);
        UT_CASE("run 4: shutdown") { UT_OK(ud_shutdown()); }
    }

    ud_config_init(&c);
    /* (Open MPI's mpiexec says so when it oversubscribes, and then yields in its own polls) */
    unsetenv("OMPI_MCA_mpi_oversubscribe");
    unsetenv("OMPI_MCA_mpi_yield_when_idle");
    c.scheduler = "round_robin";
    c.mpi_shared_object_store = 0;
    c.trace = trace_path; /* the same on every rank: the driver writes it, in its folder */
    if ((d = start(&c, "run 5")) < 0) return 1;
    if (d) {
        UT_CASE("run 5: more ranks than cores, and MPI yields not: a hot poll yields every other time") {
            int k, here = 0;
            for (k = 0; k < ud_num_workers() + 1; k++) here += ud_shm_host(k) == ud_shm_host(0);
            if (ud_num_hosts() > 1) ut_skip("several hosts: which ranks share a machine is MPI's to say");
            else UT_EQ_INT(ud__bo.yield_every, here > sysconf(_SC_NPROCESSORS_ONLN) ? 2 : 0);
        }
        UT_RUN(round_robin_in_turn);
        UT_RUN(large_part_traced);
        UT_CASE("run 5: shutdown writes the trace, a part's send in it") {
            UT_OK(ud_shutdown());
            UT_CHECK(trace_has("\"send part\""));
            remove(trace_path);
        }
        return ut_finish();
    }
    return 0;
}
