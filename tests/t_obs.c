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
    log_len += (size_t)snprintf(log_text + log_len, sizeof log_text - log_len, "%d r%d %s\n", level,
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

/* init with a log level and the hook; 1 for the driver. */
static int start(int level) {
    ud_config cfg;
    ud_role role = UD_ROLE_DRIVER;
    memset(&cfg, 0, sizeof cfg);
    cfg.log = keep_line;
    cfg.log_level = level;
    cfg.mpi_push_max = 64;
    if (ud_init(&cfg, &role) != UD_OK) {
        printf("FAIL init: %s\n", ud_last_error());
        exit(1);
    }
    return is_driver = role == UD_ROLE_DRIVER;
}

static void info_names_topology_and_settings(void) {
    UT_CHECK(line_with("settings:", "UNIDIST_CPUS=", NULL) != NULL);
    UT_CHECK(line_with("settings:", "UNIDIST_LOG_LEVEL=3", NULL) != NULL);
#ifdef UT_MPI
    UT_CHECK(line_with("mpi backend:", "ranks", "host") != NULL);
    UT_CHECK(line_with("ranks:", "r1: host", NULL) != NULL);
#else
    UT_CHECK(line_with("threads backend:", "workers", NULL) != NULL);
#endif
    UT_CHECK(line_with("4 r", NULL, NULL) == NULL); /* nothing at debug level */
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
    if (!UT_CHECK(line_with("4 r0 ", NULL, NULL) != NULL)) printf("%s", log_text);
    UT_EQ_INT(log_bad_rank, 0);
    UT_OK(ud_free(r));
}

int main(void) {
    int driver;
    ut_watchdog(120);
    if (ud_register("big", big, NULL, &f_big) != UD_OK) return 1;

    driver = start(UD_LOG_INFO);
    if (driver) UT_RUN(info_names_topology_and_settings);
    if (driver && ud_shutdown() != UD_OK) UT_CASE("shutdown") UT_FAIL("%s", ud_last_error());

    log_reset();
    driver = start(UD_LOG_DEBUG);
    if (driver) UT_RUN(debug_names_each_operation_with_its_ref);
    if (driver && ud_shutdown() != UD_OK) UT_CASE("shutdown") UT_FAIL("%s", ud_last_error());

    if (!is_driver) return log_bad_rank != 0;
    return ut_finish();
}
