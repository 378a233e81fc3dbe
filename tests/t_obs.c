/* Seeing what the runtime did: the log hook gets the info lines of init and, at debug level,
   one line an operation with its ref. Each part runs in a phase of its own (init, work,
   shutdown), on every rank with the same configuration; workers come back from init after
   each shutdown. ut: mpi */
#define UNIDIST_IMPLEMENTATION
#ifdef UT_MPI
#include "unidist_mpi.h"
#else
#include "unidist.h"
#endif
#include "ud_test.h"

#include <fcntl.h>
#include <unistd.h>

static ud_func f_big;

/* big(n): n bytes, more than UNIDIST_MPI_PUSH_MAX, so that the driver's get asks for them. */
static int big(ud_task *t) {
    int n = 0;
    char *p;
    if (!ut_arg_int(t, 0, &n) || !(p = (char *)ud_task_result(t, 0, (size_t)n)))
        return ud_task_fail(t, "big: bad argument");
    memset(p, 7, (size_t)n);
    return 0;
}

/* ---- the log hook: lines kept in memory ---- */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_text[1 << 16];
static size_t log_len;
static int log_bad_rank;

static void keep_line(int level, int rank, const char *msg, void *user) {
    (void)user;
    pthread_mutex_lock(&log_mu);
    if (rank != ud_rank()) log_bad_rank++;
    log_len += (size_t)snprintf(log_text + log_len, sizeof log_text - log_len, "L%d r%d %s\n", level,
                                rank, msg);
    if (log_len >= sizeof log_text) log_len = sizeof log_text - 1;
    pthread_mutex_unlock(&log_mu);
}

static void log_reset(void) {
    pthread_mutex_lock(&log_mu);
    log_len = 0;
    log_text[0] = '\0';
    pthread_mutex_unlock(&log_mu);
}

/* A line that holds every one of the words (NULL-ended), or NULL. */
static const char *line_with(const char *a, const char *b, const char *c) {
    const char *p = log_text;
    static char line[1024];
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n >= sizeof line) n = sizeof line - 1;
        memcpy(line, p, n);
        line[n] = '\0';
        if (strstr(line, a) && (!b || strstr(line, b)) && (!c || strstr(line, c))) return line;
        p += n + (e ? 1 : 0);
    }
    return NULL;
}

static int is_driver;

/* init with a log level, the hook and a progress mode; 1 for the driver. */
static int start_with(int level, int progress) {
    ud_config cfg;
    ud_role role = UD_ROLE_DRIVER;
    ud_config_init(&cfg);
    cfg.progress = progress;
    cfg.log = keep_line;
    cfg.log_level = level;
    cfg.mpi_push_max = 64;
    if (ud_init(&cfg, &role) != UD_OK) {
        printf("FAIL init: %s\n", ud_last_error());
        exit(1);
    }
    return is_driver = role == UD_ROLE_DRIVER;
}

static int start(int level) { return start_with(level, 0); }

static void info_names_topology_and_settings(void) {
    UT_CHECK(line_with("settings:", "UNIDIST_CPUS=", NULL) != NULL);
    UT_CHECK(line_with("settings:", "UNIDIST_LOG_LEVEL=3", NULL) != NULL);
#ifdef UT_MPI
    UT_CHECK(line_with("mpi backend:", "ranks", "host") != NULL);
    UT_CHECK(line_with("ranks:", "r1: host", NULL) != NULL);
#else
    UT_CHECK(line_with("threads backend:", "workers", NULL) != NULL);
#endif
    UT_CHECK(line_with("L4 r", NULL, NULL) == NULL); /* nothing at debug level */
    UT_EQ_INT(log_bad_rank, 0);
}

/* One remote round trip: the task goes out, the driver asks for its result, the result comes. */
static void debug_names_each_operation_with_its_ref(void) {
    int n = 4096;
    ud_ref r;
    ud_view v;
    char ref[64];
    ud_arg a = ud_arg_val(&n, sizeof n);
    log_reset();
    UT_REQUIRE_OK(ud_remote(f_big, &a, 1, 1, &r));
    UT_REQUIRE_OK(ud_get(r, &v));
    UT_EQ_INT(v.size, n);
    snprintf(ref, sizeof ref, "ref %lld:%lld", (long long)r.owner, (long long)r.num);
    UT_CHECK(line_with("remote big", ref, NULL) != NULL);
#ifdef UT_MPI
    UT_CHECK(line_with("sent EXECUTE", "task big", ref) != NULL);
    UT_CHECK(line_with("sent GET", ref, NULL) != NULL);
    UT_CHECK(line_with("received PUT_DATA", ref, NULL) != NULL);
#else
    UT_CHECK(line_with("get", ref, NULL) != NULL);
#endif
    if (!UT_CHECK(line_with("L4 r0 ", NULL, NULL) != NULL)) printf("%s", log_text);
    UT_EQ_INT(log_bad_rank, 0);
    UT_OK(ud_free(r));
}

static ud_func f_nap, f_len;

/* nap(seconds): sleeps; the seconds it slept, as measured by the task. */
static int nap(ud_task *t) {
    ud_view v;
    double t0 = ut_now(), *slept = (double *)ud_task_result(t, 0, sizeof *slept);
    if (ud_task_arg(t, 0, &v) != UD_OK || v.size != sizeof(double) || !slept) return ud_task_fail(t, "nap");
    ut_sleep(*(const double *)v.data);
    *slept = ut_now() - t0;
    return 0;
}

/* len(object): nothing back, so that only the argument moves. */
static int len(ud_task *t) {
    ud_view v;
    return ud_task_arg(t, 0, &v) == UD_OK ? 0 : -1;
}

/* The same nap, run by an MPI worker's loop itself: its time counts as the task threads' does. */
static ud_func f_nap_inl;

static int64_t sum_run(const ud_stats *s, int n) {
    int64_t k, sum = 0;
    for (k = 0; k < n; k++) sum += s[k].tasks_run;
    return sum;
}

/* Tasks run, summed over the processes, are the tasks submitted; their time shows as busy,
   once: the busy time is the time the tasks measured themselves, give or take a quarter and
   a few milliseconds a task (counted twice, it would be twice that). */
static void stats_count_tasks_and_their_time_with(ud_func fn, double d) {
    enum { N = 8 };
    ud_stats before[64], after[64];
    ud_ref r[N];
    ud_view v[N];
    int nb = 0, na = 0, k, ready[N], nready;
    double busy = 0, slept = 0;
    UT_REQUIRE_OK(ud_stats_get(before, 64, &nb));
    for (k = 0; k < N; k++) {
        ud_arg a = ud_arg_val(&d, sizeof d);
        UT_REQUIRE_OK(ud_remote(fn, &a, 1, 1, &r[k]));
    }
    UT_REQUIRE_OK(ud_wait(r, N, N, 60.0, ready, &nready));
    UT_REQUIRE_OK(ud_stats_get(after, 64, &na));
    UT_EQ_INT(na, nb);
    UT_EQ_INT(sum_run(after, na) - sum_run(before, nb), N);
    for (k = 0; k < na; k++) {
        busy += after[k].task_seconds - before[k].task_seconds;
        UT_CHECK(after[k].idle_seconds >= 0);
        UT_CHECK(after[k].store_peak >= after[k].store_bytes);
    }
    UT_REQUIRE_OK(ud_get_many(r, N, v));
    for (k = 0; k < N; k++) slept += v[k].size == sizeof(double) ? *(const double *)v[k].data : 0;
    ut_note("%d tasks slept %.3f s in all; busy %.3f s", N, slept, busy);
    UT_CHECK(slept >= N * d * 0.99);
    if (!(busy >= slept * 0.95 && busy <= slept * 1.25 + N * 0.003))
        UT_FAIL("busy %.3f s for tasks that slept %.3f s", busy, slept);
    UT_OK(ud_free_many(r, N));
}

static void stats_count_tasks_and_their_time(void) { stats_count_tasks_and_their_time_with(f_nap, 0.05); }

/* Under MPI a UD_FN_INLINE task runs on the worker's loop, not on a task thread. */
static void stats_count_inline_tasks_and_their_time(void) {
    stats_count_tasks_and_their_time_with(f_nap_inl, 0.01);
}

/* A known transfer: an object of the driver's read by a task on worker 0. The bytes the
   driver sends in operations are the bytes worker 0 receives in them, inline or apart. */
static void stats_bytes_sent_match_bytes_received(void) {
#ifdef UT_MPI
    static const size_t sizes[2] = {1000, 65536};
    int i;
    for (i = 0; i < 2; i++) {
        ud_stats b[64], a[64];
        int nb = 0, na = 0, ready, nready;
        char *buf = (char *)calloc(1, sizes[i]);
        ud_ref obj, out;
        ud_arg arg;
        ud_opts o = ud_on_worker(0);
        UT_REQUIRE(buf != NULL);
        UT_REQUIRE_OK(ud_put(buf, sizes[i], &obj));
        free(buf);
        UT_REQUIRE_OK(ud_stats_get(b, 64, &nb));
        arg = ud_arg_ref(obj);
        UT_REQUIRE_OK(ud_remote_opts(&o, f_len, &arg, 1, 1, &out));
        UT_REQUIRE_OK(ud_wait(&out, 1, 1, 30.0, &ready, &nready));
        UT_REQUIRE_OK(ud_stats_get(a, 64, &na));
        UT_REQUIRE(na >= 2);
        ut_note("%zu bytes: driver sent %lld inline, %lld apart; worker got %lld inline, %lld apart",
                sizes[i], (long long)(a[0].inline_bytes_sent - b[0].inline_bytes_sent),
                (long long)(a[0].separate_bytes_sent - b[0].separate_bytes_sent),
                (long long)(a[1].inline_bytes_recv - b[1].inline_bytes_recv),
                (long long)(a[1].separate_bytes_recv - b[1].separate_bytes_recv));
        UT_EQ_INT(a[0].inline_bytes_sent - b[0].inline_bytes_sent + a[0].separate_bytes_sent -
                      b[0].separate_bytes_sent, (long long)sizes[i]);
        UT_EQ_INT(a[1].inline_bytes_recv - b[1].inline_bytes_recv + a[1].separate_bytes_recv -
                      b[1].separate_bytes_recv, (long long)sizes[i]);
        UT_EQ_INT(a[0].separate_bytes_sent - b[0].separate_bytes_sent,
                  a[1].separate_bytes_recv - b[1].separate_bytes_recv);
        {   /* apart exactly when over the inline limit (the chunk variant's is 512 bytes) */
            ud_config c;
            UT_REQUIRE_OK(ud_config_resolve(NULL, &c));
            UT_EQ_INT(a[0].separate_bytes_sent - b[0].separate_bytes_sent,
                      sizes[i] > c.mpi_inline_max ? (long long)sizes[i] : 0);
        }
        {   /* a result larger than a push: the driver's get is one GET worker 0 serves */
            int n = 4096;
            ud_arg x = ud_arg_val(&n, sizeof n);
            ud_ref r;
            ud_view v;
            UT_REQUIRE_OK(ud_remote_opts(&o, f_big, &x, 1, 1, &r));
            UT_REQUIRE_OK(ud_get(r, &v));
            UT_REQUIRE_OK(ud_stats_get(b, 64, &nb));
            UT_EQ_INT(b[1].gets_served - a[1].gets_served, 1);
            UT_OK(ud_free(r));
        }
        UT_OK(ud_free(obj));
        UT_OK(ud_free(out));
    }
#else
    ud_stats b[4], a[4];
    int n = 0;
    ud_ref obj;
    static char buf[100000];
    UT_REQUIRE_OK(ud_stats_get(b, 4, &n));
    UT_REQUIRE_OK(ud_put(buf, sizeof buf, &obj));
    UT_REQUIRE_OK(ud_stats_get(a, 4, &n));
    UT_CHECK(a[0].store_bytes - b[0].store_bytes >= (int64_t)sizeof buf);
    UT_CHECK(a[0].store_peak >= a[0].store_bytes);
    UT_OK(ud_free(obj));
#endif
}

/* ud_stats_print: a heading, then one line a process, in the order of ud_stats_get, with its
   rank, host, threads and tasks run (nothing runs between the two calls). */
static void stats_print_one_line_a_process(void) {
    ud_stats s[64];
    int n = 0, lines = 0, rank, host, threads;
    long long tasks;
    char line[512];
    FILE *f = tmpfile();
    UT_REQUIRE(f != NULL);
    UT_REQUIRE_OK(ud_stats_get(s, 64, &n));
    ud_stats_print(f);
    rewind(f);
    while (fgets(line, sizeof line, f)) {
        if (lines == 0) {
            UT_CHECK(strncmp(line, "[ud] rank host thr   tasks  task_s", 34) == 0);
        } else if (lines <= n) {
            if (UT_EQ_INT(sscanf(line, "[ud] %d %d %d %lld", &rank, &host, &threads, &tasks), 4)) {
                UT_EQ_INT(rank, s[lines - 1].rank);
                UT_EQ_INT(host, s[lines - 1].host);
                UT_EQ_INT(threads, s[lines - 1].threads);
                UT_EQ_INT(tasks, s[lines - 1].tasks_run);
            }
        }
        lines++;
    }
    fclose(f);
    UT_EQ_INT(lines, n + 1);
}

static ud_func f_sq, f_add;

static int sq(ud_task *t) {
    int x = 0;
    return ut_arg_int(t, 0, &x) ? ut_result_int(t, 0, x * x) : ud_task_fail(t, "sq");
}

static int add(ud_task *t) {
    int x = 0, y = 0;
    return ut_arg_int(t, 0, &x) && ut_arg_int(t, 1, &y) ? ut_result_int(t, 0, x + y) : ud_task_fail(t, "add");
}

/* The known program: a map of 8 squares, then a tree of 7 adds (registered UD_FN_INLINE: under
   MPI the trace shows them on the workers' loop threads), a wait for the sum and its get. */
static void map_and_reduce(void) {
    ud_ref level[8];
    int k, n = 8;
    ud_view v;
    for (k = 0; k < 8; k++) UT_REQUIRE_OK(ut_call_int(f_sq, k, 1, &level[k]));
    while (n > 1) {
        for (k = 0; k < n / 2; k++) {
            ud_arg a[2];
            ud_ref r;
            a[0] = ud_arg_ref(level[2 * k]);
            a[1] = ud_arg_ref(level[2 * k + 1]);
            UT_REQUIRE_OK(ud_remote(f_add, a, 2, 1, &r));
            UT_OK(ud_free_many(&level[2 * k], 2));
            level[k] = r;
        }
        n /= 2;
    }
    {
        int ready, nready;
        UT_REQUIRE_OK(ud_wait(level, 1, 1, 60.0, &ready, &nready)); /* a wait in the trace */
    }
    UT_REQUIRE_OK(ud_get(level[0], &v));
    UT_EQ_INT(*(const int *)v.data, 140);
    UT_OK(ud_free(level[0]));
}

/* Parses the trace as JSON and checks it: exactly the program's task events, plausible times,
   every rank's events within its run and the run within the driver's, the driver's wait and get.
   Prints "ok" or why not. */
static const char *trace_checker =
    "import json,sys\n"
    "ev=json.load(open(sys.argv[1]))\n"
    "tasks=[e for e in ev if e.get('cat')=='task']\n"
    "names=sorted(e['name'] for e in tasks)\n"
    "want=sorted(['sq']*8+['add']*7)\n"
    "if names!=want: print('tasks',names); sys.exit()\n"
    "run=[e for e in ev if e.get('cat')=='run'][0]\n"
    "runs={}\n"
    "for e in ev:\n"
    "  if e.get('name','').startswith('run of rank '): runs[e['pid']]=e\n"
    "slack=2000.0\n"
    "for e in ev:\n"
    "  if e.get('ph')!='X' or e.get('cat')=='run': continue\n"
    "  if e['dur']<0 or e['dur']>60e6: print('duration',e); sys.exit()\n"
    "  r=runs.get(e['pid'])\n"
    "  if r is None: print('no run for rank',e['pid']); sys.exit()\n"
    "  if e['ts']<r['ts']-slack or e['ts']+e['dur']>r['ts']+r['dur']+slack: print('outside its rank run',e,r); sys.exit()\n"
    "  if e['ts']<-slack or e['ts']+e['dur']>run['dur']+slack: print('outside the run',e,run); sys.exit()\n"
    "waits=[e for e in ev if e.get('cat')=='wait' and e['pid']==0 and e['name'] in ('get','wait')]\n"
    "if sorted(set(e['name'] for e in waits))!=['get','wait']: print('the driver waits in',waits); sys.exit()\n"
    "print('ok', len(ev), 'events on', len(runs), 'ranks')\n";

static char trace_path[512];

static void trace_holds_the_program(void) {
    char cmd[1200], out[512] = "";
    FILE *p, *f;
    UT_REQUIRE((f = fopen("/tmp/ud_t_obs_check.py", "w")) != NULL);
    fputs(trace_checker, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "python3 /tmp/ud_t_obs_check.py '%s' 2>&1", trace_path);
    UT_REQUIRE((p = popen(cmd, "r")) != NULL);
    if (!fgets(out, sizeof out, p)) out[0] = '\0';
    pclose(p);
    ut_note("trace: %s", out);
    UT_CHECK(strncmp(out, "ok ", 3) == 0);
    remove(trace_path);
}

/* A phase with UNIDIST_PROGRESS = mode and stderr in a file (every rank's, only the driver
   prints): naps of 0.3 s, three for each task thread (0.9 s at least, however many threads),
   so that the line is refreshed a few times. The file's text goes to out. */
#define PROGRESS_NAPS_MAX 256
static int progress_naps;

static void progress_phase(int mode, const char *path, char *out, size_t cap) {
    int saved, fd, driver;
    FILE *f;
    size_t n = 0;
    fflush(stderr);
    saved = dup(2);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (saved < 0 || fd < 0 || dup2(fd, 2) < 0) {
        printf("FAIL progress: cannot redirect stderr to %s\n", path);
        exit(1);
    }
    close(fd);
    if ((driver = start_with(UD_LOG_WARN, mode)) != 0) {
        ud_ref r[PROGRESS_NAPS_MAX];
        double d = 0.3;
        int k, n = 0, ready[PROGRESS_NAPS_MAX], nready;
        ud_arg a = ud_arg_val(&d, sizeof d);
        for (k = 0; k < ud_num_workers(); k++) n += 3 * ud_worker_threads(k); /* three rounds */
        if (n > PROGRESS_NAPS_MAX) n = PROGRESS_NAPS_MAX;
        progress_naps = n;
        for (k = 0; k < n; k++) ud_remote(f_nap, &a, 1, 1, &r[k]);
        ud_wait(r, n, n, 60.0, ready, &nready);
        ud_free_many(r, n);
        ud_shutdown();
    }
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    out[0] = '\0';
    if (driver && (f = fopen(path, "r")) != NULL) {
        n = fread(out, 1, cap - 1, f);
        out[n] = '\0';
        fclose(f);
    }
    unlink(path);
}

static char progress_text[1 << 14];

/* Mode 2: the line, refreshed while the naps run (4 times a second: at least twice in the
   0.9 s or more they take), then erased. */
static void progress_line_while_tasks_run(void) {
    const char *p = progress_text, *erase = "\r\033[K";
    size_t n = strlen(progress_text);
    int lines = 0;
    while ((p = strstr(p, "\r[ud] tasks ")) != NULL) lines++, p++;
    if (lines < 2) UT_FAIL("%d progress lines in: %s", lines, progress_text);
    {
        char want[32];
        snprintf(want, sizeof want, "/%d done, ", progress_naps);
        UT_CONTAINS(progress_text, want);
    }
    UT_CONTAINS(progress_text, "/s, ");
    UT_CONTAINS(progress_text, " MiB moved");
    UT_CHECK(n >= strlen(erase) && strcmp(progress_text + n - strlen(erase), erase) == 0);
}

/* Mode 1 and stderr a file: nothing. */
static void no_progress_line_when_not_a_terminal(void) {
    if (strstr(progress_text, "[ud] tasks")) UT_FAIL("a progress line in a file: %s", progress_text);
}

int main(int argc, char **argv) {
    int driver;
    ut_watchdog(120);
    if (ud_register("big", big, NULL, &f_big) != UD_OK || ud_register("nap", nap, NULL, &f_nap) != UD_OK ||
        ud_register("len", len, NULL, &f_len) != UD_OK || ud_register("sq", sq, NULL, &f_sq) != UD_OK ||
        ud_register_flags("add", add, NULL, UD_FN_INLINE, &f_add) != UD_OK ||
        ud_register_flags("nap_inl", nap, NULL, UD_FN_INLINE, &f_nap_inl) != UD_OK)
        return 1;

    driver = start(UD_LOG_INFO);
    if (driver) UT_RUN(info_names_topology_and_settings);
    if (driver && ud_shutdown() != UD_OK) UT_CASE("shutdown") UT_FAIL("%s", ud_last_error());

    log_reset();
    driver = start(UD_LOG_DEBUG);
    if (driver) UT_RUN(debug_names_each_operation_with_its_ref);
    if (driver && ud_shutdown() != UD_OK) UT_CASE("shutdown") UT_FAIL("%s", ud_last_error());

    driver = start(UD_LOG_WARN);
    if (driver) {
        UT_RUN(stats_count_tasks_and_their_time);
        UT_RUN(stats_count_inline_tasks_and_their_time);
        UT_RUN(stats_bytes_sent_match_bytes_received);
        UT_RUN(stats_print_one_line_a_process);
    }
    if (driver && ud_shutdown() != UD_OK) UT_CASE("shutdown") UT_FAIL("%s", ud_last_error());

    {   /* every rank records; the driver writes the file at shutdown */
        ud_config cfg;
        ud_role role = UD_ROLE_DRIVER;
        memset(&cfg, 0, sizeof cfg);
        snprintf(trace_path, sizeof trace_path, "%s.trace.json", argc > 0 ? argv[0] : "t_obs");
        cfg.trace = trace_path;
        if (ud_init(&cfg, &role) != UD_OK) {
            printf("FAIL init with a trace: %s\n", ud_last_error());
            return 1;
        }
        if ((is_driver = role == UD_ROLE_DRIVER)) {
            UT_RUN(map_and_reduce);
            if (ud_shutdown() != UD_OK) UT_CASE("shutdown") UT_FAIL("%s", ud_last_error());
            UT_RUN(trace_holds_the_program);
        }
    }

    {
        char path[600];
        snprintf(path, sizeof path, "%s.progress.%d", argc > 0 ? argv[0] : "t_obs", (int)getpid());
        progress_phase(2, path, progress_text, sizeof progress_text);
        if (is_driver) UT_RUN(progress_line_while_tasks_run);
        progress_phase(1, path, progress_text, sizeof progress_text);
        if (is_driver) UT_RUN(no_progress_line_when_not_a_terminal);
    }

    if (!is_driver) return log_bad_rank != 0;
    return ut_finish();
}
