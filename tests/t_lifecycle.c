/* The runtime's life: registration while it is not running, init, a shutdown that finishes
   the work already submitted, UD_ERR_STATE for every call outside that window, and a second
   run after the first (refs of the first are gone). Also the version and the status strings. */
#define _GNU_SOURCE /* sched_getaffinity, to count the cores the way the runtime may */
#define UNIDIST_IMPLEMENTATION
#include "unidist.h"
#include "ud_test.h"

#include <sched.h>

static ud_func f_square, f_slow_flag;
static atomic_int flags_set;

static int square(ud_task *t) {
    int x, *y;
    if (!ut_arg_int(t, 0, &x)) return ud_task_fail(t, "square: argument 0 is not an int");
    if (!(y = ud_task_result(t, 0, sizeof *y))) return ud_task_fail(t, "square: no memory");
    *y = x * x;
    return 0;
}

/* Sleeps 0.3 s when its argument is 3, then counts itself done; its result is its argument. */
static int slow_flag(ud_task *t) {
    int x = 0, *y;
    ut_arg_int(t, 0, &x);
    if (x == 3) ut_sleep(0.3);
    atomic_fetch_add(&flags_set, 1);
    if (ud_task_nreturns(t) > 0 && (y = ud_task_result(t, 0, sizeof *y))) *y = x;
    return 0;
}

/* Every call that needs a running runtime returns UD_ERR_STATE, with a detail message. */
static void expect_state_everywhere(ud_ref r) {
    ud_view v;
    ud_ref out, refs[2];
    ud_arg a = ud_arg_ref(r);
    ud_part part = {"ab", 2};
    char buf[8];
    size_t size;
    int ready[2], nready, x = 1;
    refs[0] = refs[1] = r;
#define STATE(call) \
    do { \
        if (UT_EQ_STATUS(call, UD_ERR_STATE)) UT_CHECK(ud_last_error() && ud_last_error()[0]); \
    } while (0)
    STATE(ud_put(&x, sizeof x, &out));
    STATE(ud_put_parts(&part, 1, &out));
    STATE(ud_get(r, &v));
    STATE(ud_get_many(refs, 2, &v));
    STATE(ud_get_copy(r, buf, sizeof buf, &size));
    STATE(ud_wait(refs, 2, 1, 0.0, ready, &nready));
    STATE(ud_remote(f_square, &a, 1, 1, &out));
    STATE(ud_free(r));
    STATE(ud_free_many(refs, 2));
    STATE(ud_shutdown());
#undef STATE
    UT_EQ_INT(ud_is_initialized(), 0);
    UT_EQ_INT(ud_num_workers(), 0);
    UT_EQ_STR(ud_backend_name(), "none");
}

static void before_init(void) {
    ud_ref r = {0, 1};
    expect_state_everywhere(r);
    UT_EQ_STATUS(ud_init(NULL, NULL), UD_ERR_ARG); /* the role pointer is required */
    UT_EQ_INT(ud_is_initialized(), 0);
}

static void register_rules(void) {
    ud_func id = 0;
    UT_EQ_STATUS(ud_register(NULL, square, NULL, &id), UD_ERR_ARG);
    UT_EQ_STATUS(ud_register("no_function", NULL, NULL, &id), UD_ERR_ARG);
    UT_OK(ud_register("square", square, NULL, &f_square));
    UT_CHECK(f_square == ud_func_id("square"));
    UT_OK(ud_register("slow_flag", slow_flag, NULL, NULL));
    f_slow_flag = ud_func_id("slow_flag");
    UT_EQ_STATUS(ud_register("square", square, NULL, &id), UD_ERR_DUP);
    UT_CONTAINS(ud_last_error(), "square");
    UT_EQ_STATUS(ud_register("slow_flag", square, NULL, NULL), UD_ERR_DUP);
}

static void version(void) {
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", UD_VERSION_MAJOR, UD_VERSION_MINOR, UD_VERSION_PATCH);
    UT_EQ_STR(UD_VERSION_STRING, want);
    UT_EQ_STR(ud_version(), UD_VERSION_STRING);
}

static void status_strings(void) {
    static const int codes[] = {
#define CODE(name, value, text) name,
        UD_STATUS_TABLE(CODE)
#undef CODE
    };
    static const char *const names[] = {
#define NAME(name, value, text) #name,
        UD_STATUS_TABLE(NAME)
#undef NAME
    };
    static const char *const texts[] = {
#define TEXT(name, value, text) text,
        UD_STATUS_TABLE(TEXT)
#undef TEXT
    };
    enum { N = sizeof codes / sizeof codes[0] };
    int i, j;
    UT_EQ_INT(codes[0], 0);
    for (i = 0; i < N; i++) {
        const char *s = ud_status_str((ud_status)codes[i]);
        if (!UT_CHECK(s != NULL)) continue;
        UT_CONTAINS(s, names[i]);
        UT_CONTAINS(s, texts[i]);
        if (i > 0) UT_CHECK(codes[i] < 0);
        for (j = 0; j < i; j++) {
            const char *o = ud_status_str((ud_status)codes[j]);
            if (o && strcmp(o, s) == 0) UT_FAIL("%s and %s share the string \"%s\"", names[i], names[j], s);
            if (codes[i] == codes[j]) UT_FAIL("%s and %s share the value %d", names[i], names[j], codes[i]);
        }
    }
}

static int cores(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
    return (int)sysconf(_SC_NPROCESSORS_ONLN);
}

static ud_ref kept; /* a ref still held at shutdown */
static char captured[8192]; /* what the library wrote to stderr during init */

/* ---- stderr capture, to see the default log writer's lines ---------------------------------- */
static int capture_fd = -1, saved_stderr = -1;

static void capture_stderr(void) {
    char path[] = "/tmp/t_lifecycle_XXXXXX";
    fflush(stderr);
    if ((capture_fd = mkstemp(path)) < 0) return;
    unlink(path);
    saved_stderr = dup(2);
    dup2(capture_fd, 2);
}

static void restore_stderr(void) {
    ssize_t n;
    if (capture_fd < 0) return;
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    lseek(capture_fd, 0, SEEK_SET);
    n = read(capture_fd, captured, sizeof captured - 1);
    captured[n > 0 ? n : 0] = '\0';
    close(capture_fd);
    capture_fd = -1;
}

static void init_once(void) {
    ud_role role = (ud_role)-1;
    ud_status st;
    setenv("UNIDIST_LOG_LEVEL", "3", 1); /* init's info line, for the default writer's format */
    capture_stderr();
    st = ud_init(NULL, &role);
    restore_stderr();
    UT_REQUIRE_OK(st);
    UT_EQ_INT(role, UD_ROLE_DRIVER);
}

static void default_log_format(void) {
    UT_CONTAINS(captured, "[ud r0] INFO: ");
}

static void runtime_runs(void) {
    ud_ref r, out;
    ud_arg a;
    ud_view v;
    const char *env = getenv("UNIDIST_CPUS");
    UT_EQ_INT(ud_is_initialized(), 1);
    UT_EQ_STR(ud_backend_name(), "threads");
    if (env && *env) {
        UT_EQ_INT(ud_num_workers(), atoi(env));
    } else {
        int w = ud_num_workers(), c = cores(), online = (int)sysconf(_SC_NPROCESSORS_ONLN);
        if (w != c && w != online) UT_FAIL("default workers: got %d, want one per core (%d)", w, c);
    }
    UT_REQUIRE_OK(ud_put(&(int){4}, sizeof(int), &r));
    a = ud_arg_ref(r);
    UT_REQUIRE_OK(ud_remote(f_square, &a, 1, 1, &out));
    if (UT_OK(ud_get(out, &v)) && UT_EQ_INT(v.size, sizeof(int))) UT_EQ_INT(*(const int *)v.data, 16);
    UT_OK(ud_free(out));
    kept = r;
}

static void register_after_init(void) {
    UT_EQ_STATUS(ud_register("late", square, NULL, NULL), UD_ERR_STATE);
    UT_CHECK(ud_last_error()[0] != '\0');
}

static void second_init(void) {
    ud_role role;
    ud_ref out;
    ud_arg a = ud_arg_ref(kept);
    ud_view v;
    UT_EQ_STATUS(ud_init(NULL, &role), UD_ERR_STATE);
    UT_EQ_INT(ud_is_initialized(), 1);
    UT_REQUIRE_OK(ud_remote(f_square, &a, 1, 1, &out));
    if (UT_OK(ud_get(out, &v)) && UT_EQ_INT(v.size, sizeof(int))) UT_EQ_INT(*(const int *)v.data, 16);
    UT_OK(ud_free(out));
}

/* Shutdown finishes what was submitted: a running task, a quick one, and tasks still parked
   on the running one's result (they reach the queues only after shutdown has begun). */
static void shutdown_finishes_submitted_tasks(void) {
    enum { DEPS = 6 };
    ud_ref slow, deps[DEPS];
    ud_arg a;
    int three = 3, zero = 0, k;
    atomic_store(&flags_set, 0);
    a = ud_arg_val(&three, sizeof three);
    UT_REQUIRE_OK(ud_remote(f_slow_flag, &a, 1, 1, &slow));
    a = ud_arg_val(&zero, sizeof zero);
    UT_REQUIRE_OK(ud_remote(f_slow_flag, &a, 1, 0, NULL));
    a = ud_arg_ref(slow);
    for (k = 0; k < DEPS; k++) UT_REQUIRE_OK(ud_remote(f_slow_flag, &a, 1, 1, &deps[k]));
    UT_OK(ud_free(slow)); /* freed while pending: the dependents still get it */
    UT_OK(ud_shutdown());
    UT_EQ_INT(atomic_load(&flags_set), 2 + DEPS);
    UT_EQ_INT(ud_is_initialized(), 0);
}

static void after_shutdown(void) {
    expect_state_everywhere(kept);
    UT_EQ_INT(ud_is_initialized(), 0);
    UT_EQ_STR(ud_version(), UD_VERSION_STRING);
    UT_CONTAINS(ud_status_str(UD_ERR_STATE), "UD_ERR_STATE");
}

/* A second run: a function registered between the runs is there, a ref of the first run is
   not (a clear UD_ERR_FREED), and shutdown ends it as before. */
static void second_run(void) {
    ud_role role = UD_ROLE_WORKER;
    ud_func later;
    ud_view v;
    ud_ref out;
    ud_arg a;
    UT_REQUIRE_OK(ud_register("later", square, NULL, &later));
    UT_REQUIRE_OK(ud_init(NULL, &role));
    UT_EQ_INT(role, UD_ROLE_DRIVER);
    UT_EQ_INT(ud_is_initialized(), 1);
    UT_EQ_STATUS(ud_get(kept, &v), UD_ERR_FREED);
    UT_CONTAINS(ud_last_error(), "earlier run");
    a = ud_arg_val(&(int){5}, sizeof(int));
    if (UT_OK(ud_remote(later, &a, 1, 1, &out)) && UT_OK(ud_get(out, &v)) &&
        UT_EQ_INT(v.size, sizeof(int)))
        UT_EQ_INT(*(const int *)v.data, 25);
    UT_OK(ud_shutdown());
    UT_EQ_INT(ud_is_initialized(), 0);
}

int main(void) {
    UT_RUN(before_init);
    UT_RUN(register_rules);
    UT_RUN(version);
    UT_RUN(status_strings);
    UT_RUN(init_once);
    if (!ud_is_initialized()) return ut_finish();
    UT_RUN(default_log_format);
    UT_RUN(runtime_runs);
    UT_RUN(register_after_init);
    UT_RUN(second_init);
    UT_RUN(shutdown_finishes_submitted_tasks);
    UT_RUN(after_shutdown);
    UT_RUN(second_run);
    return ut_finish();
}
