/* Configuration: compile-time default < set field of ud_config < environment variable;
   a value that does not parse is UD_ERR_CONFIG naming the variable; ud_config_print lists every
   row of UD_CONFIG_TABLE. The program sets its own environment, so it ignores the caller's. */
#define UNIDIST_IMPLEMENTATION
#include "unidist.h"
#include "ud_test.h"


static void clear_env(void) {
#define UNSET(kind, field, env, def, doc) unsetenv(env);
    UD_CONFIG_TABLE(UNSET)
#undef UNSET
}

/* True when text has a line "name = value" (the value ending at a blank or the line's end). */
static int has_setting(const char *text, const char *name, const char *value) {
    char want[128];
    size_t n = (size_t)snprintf(want, sizeof want, "%s = %s", name, value);
    const char *p = text;
    while (p && *p) {
        if (strncmp(p, want, n) == 0 && (p[n] == '\n' || p[n] == '\0' || p[n] == ' ' || p[n] == '\t'))
            return 1;
        p = strchr(p, '\n');
        if (p) p++;
    }
    return 0;
}

/* The output of ud_config_print, malloc'ed. */
static char *printed_config(void) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    ud_config_print(f);
    fclose(f);
    return buf;
}

static void defaults(void) {
    ud_config out, in;
    memset(&out, 0x7f, sizeof out);
    UT_REQUIRE_OK(ud_config_resolve(NULL, &out));
    UT_EQ_STR(out.backend, UD_BACKEND);
    UT_EQ_STR(out.backend, "auto");
    /* 0 means one worker per core; resolve may keep the 0 or count the cores. */
    if (out.cpus != UD_CPUS && out.cpus < 1)
        UT_FAIL("default cpus: got %lld, want %d or a core count", (long long)out.cpus, UD_CPUS);
    UT_EQ_INT(out.log_level, UD_LOG_LEVEL);
    memset(&in, 0, sizeof in);
    memset(&out, 0x7f, sizeof out);
    UT_REQUIRE_OK(ud_config_resolve(&in, &out));
    UT_EQ_STR(out.backend, "auto");
    UT_EQ_INT(out.log_level, UD_LOG_LEVEL);
}

static void config_fields_override_defaults(void) {
    ud_config in, out;
    memset(&in, 0, sizeof in);
    in.backend = "threads";
    in.cpus = 3;
    in.log_level = UD_LOG_ERROR;
    UT_REQUIRE_OK(ud_config_resolve(&in, &out));
    UT_EQ_STR(out.backend, "threads");
    UT_EQ_INT(out.cpus, 3);
    UT_EQ_INT(out.log_level, UD_LOG_ERROR);
    /* a zero field leaves the default */
    in.cpus = 0;
    in.backend = NULL;
    UT_REQUIRE_OK(ud_config_resolve(&in, &out));
    UT_EQ_STR(out.backend, "auto");
    UT_EQ_INT(out.log_level, UD_LOG_ERROR);
}

/* After ud_config_init, 0 is a value like any other and UD_UNSET leaves the default. */
static void config_init_lets_zero_be_set(void) {
    ud_config in, out;
    ud_config_init(&in);
    UT_REQUIRE_OK(ud_config_resolve(&in, &out));
#define SAME_AS_DEFAULT(kind, field, env, def, doc) \
    if (memcmp(&out.field, &(UD__CTYPE_##kind){def}, sizeof out.field) && strcmp(#kind, "STR")) \
        UT_FAIL("%s: an unset field did not take the default", env);
    UD_CONFIG_TABLE(SAME_AS_DEFAULT)
#undef SAME_AS_DEFAULT
    UT_EQ_STR(out.backend, UD_BACKEND);
    in.log_level = 0;
    in.block_cache = 0;
    in.mpi_shared_object_store = 0;
    in.mpi_push_max = 0;
    in.backend = "threads";
    UT_REQUIRE_OK(ud_config_resolve(&in, &out));
    UT_EQ_INT(out.log_level, 0);
    UT_EQ_INT(out.block_cache, 0);
    UT_EQ_INT(out.mpi_shared_object_store, 0);
    UT_EQ_INT(out.mpi_push_max, 0);
    UT_EQ_STR(out.backend, "threads");
    UT_EQ_INT(out.mpi_batch, UD_MPI_BATCH); /* still unset */
    in.mpi_batch = UD_UNSET;                 /* unset again, explicitly */
    in.cpus = UD_UNSET;
    UT_REQUIRE_OK(ud_config_resolve(&in, &out));
    UT_EQ_INT(out.mpi_batch, UD_MPI_BATCH);
    UT_EQ_INT(out.log_level, 0);
    setenv("UNIDIST_LOG_LEVEL", "3", 1);     /* the environment still wins */
    UT_REQUIRE_OK(ud_config_resolve(&in, &out));
    UT_EQ_INT(out.log_level, 3);
    clear_env();
    in.mpi_batch = 0;                        /* a 0 that is set is checked like any value */
    UT_EQ_STATUS(ud_config_resolve(&in, &out), UD_ERR_CONFIG);
    UT_CONTAINS(ud_last_error(), "UNIDIST_MPI_BATCH");
}

/* The same field of 0 in a zeroed config is unset: older code keeps its meaning. */
static void zeroed_config_keeps_zero_unset(void) {
    ud_config in, out;
    memset(&in, 0, sizeof in);
    UT_REQUIRE_OK(ud_config_resolve(&in, &out));
    UT_EQ_INT(out.log_level, UD_LOG_LEVEL);
    UT_EQ_INT(out.mpi_batch, UD_MPI_BATCH);
    UT_EQ_INT(out.block_cache, UD_BLOCK_CACHE);
}

static void environment_overrides_config(void) {
    ud_config in, out;
    memset(&in, 0, sizeof in);
    in.backend = "auto";
    in.cpus = 3;
    in.log_level = UD_LOG_ERROR;
    setenv("UNIDIST_CPUS", "5", 1);
    setenv("UNIDIST_LOG_LEVEL", "4", 1);
    setenv("UNIDIST_BACKEND", "threads", 1);
    UT_OK(ud_config_resolve(&in, &out));
    UT_EQ_INT(out.cpus, 5);
    UT_EQ_INT(out.log_level, 4);
    UT_EQ_STR(out.backend, "threads");
    UT_OK(ud_config_resolve(NULL, &out));
    UT_EQ_INT(out.cpus, 5);
    UT_EQ_STR(out.backend, "threads");
    /* the environment may also lower a value to 0 */
    setenv("UNIDIST_LOG_LEVEL", "0", 1);
    setenv("UNIDIST_CPUS", "0", 1);
    UT_OK(ud_config_resolve(&in, &out));
    UT_EQ_INT(out.log_level, 0);
    if (out.cpus == 3) UT_FAIL("UNIDIST_CPUS=0 (one per core) lost to cfg.cpus = 3");
    clear_env();
    UT_OK(ud_config_resolve(&in, &out));
    UT_EQ_INT(out.cpus, 3);
}

static void expect_bad_env(const char *var, const char *value) {
    ud_config out;
    ud_status s;
    clear_env();
    setenv(var, value, 1);
    s = ud_config_resolve(NULL, &out);
    if (!UT_EQ_STATUS(s, UD_ERR_CONFIG)) UT_FAIL("  (with %s=\"%s\")", var, value);
    else UT_CONTAINS(ud_last_error(), var);
    clear_env();
}

static void bad_environment_values(void) {
    expect_bad_env("UNIDIST_CPUS", "abc");
    expect_bad_env("UNIDIST_CPUS", "-3");
    expect_bad_env("UNIDIST_CPUS", "");
    expect_bad_env("UNIDIST_CPUS", "3x");
    expect_bad_env("UNIDIST_CPUS", "99999999999999999999999");
    expect_bad_env("UNIDIST_BACKEND", "bogus");
    expect_bad_env("UNIDIST_BACKEND", "");
    expect_bad_env("UNIDIST_LOG_LEVEL", "loud");
    expect_bad_env("UNIDIST_LOG_LEVEL", "9");
}

/* The range of each setting that has one: its last value is taken, the next refused, the
   message naming the variable and what is wrong; a scheduler name is one of two. */
static void expect_env_ok(const char *var, const char *value) {
    ud_config out;
    clear_env();
    setenv(var, value, 1);
    if (!UT_OK(ud_config_resolve(NULL, &out))) UT_FAIL("  (with %s=\"%s\")", var, value);
    clear_env();
}

static void expect_env_refused(const char *var, const char *value, const char *why) {
    ud_config out;
    clear_env();
    setenv(var, value, 1);
    if (!UT_EQ_STATUS(ud_config_resolve(NULL, &out), UD_ERR_CONFIG)) UT_FAIL("  (with %s=\"%s\")", var, value);
    else UT_CONTAINS(ud_last_error(), why);
    clear_env();
}

static void range_limits(void) {
    static const struct {
        const char *var, *last, *next, *why;
    } rows[] = {
        {"UNIDIST_CPUS", "4096", "4097", "UNIDIST_CPUS: 4097 is more than 4096 worker threads"},
        {"UNIDIST_LOG_LEVEL", "4", "5", "UNIDIST_LOG_LEVEL: 5 is not in 0..4"},
        {"UNIDIST_SPIN_US", "1000000", "1000001", "UNIDIST_SPIN_US: 1000001 us is more than one second"},
        {"UNIDIST_MPI_BACKOFF", "1000000", "1000001", "UNIDIST_MPI_BACKOFF: 1000001 us is more than one second"},
        {"UNIDIST_MPI_BATCH", "65536", "65537", "UNIDIST_MPI_BATCH: 65537 is not in 1..65536"},
        {"UNIDIST_MPI_BATCH", "1", "0", "UNIDIST_MPI_BATCH: 0 is not in 1..65536"},
        {"UNIDIST_MPI_GC_DELAY_MS", "0", "-1", "UNIDIST_MPI_GC_DELAY_MS: '-1' (from the environment) is not a whole number >= 0"},
        {"UNIDIST_MPI_GC_THRESHOLD", "1", "0", "UNIDIST_MPI_GC_THRESHOLD: must be at least 1"},
        {"UNIDIST_MPI_CHUNK_SIZE", "2147483647", "2G", "UNIDIST_MPI_CHUNK_SIZE: 2147483648 is not in 1..2147483647"},
        {"UNIDIST_MPI_CHUNK_SIZE", "1", "0", "UNIDIST_MPI_CHUNK_SIZE: 0 is not in 1..2147483647"},
        {"UNIDIST_MPI_MESSAGE_MAX", "1G", "1073741825", "UNIDIST_MPI_MESSAGE_MAX: 1073741825 is more than 1G"},
        {"UNIDIST_MPI_INLINE_MAX", "1G", "1073741825", "UNIDIST_MPI_INLINE_MAX: 1073741825 is more than 1G"},
        {"UNIDIST_MPI_HOSTS", "4096", "4097", "UNIDIST_MPI_HOSTS: 4097 virtual hosts is more than 4096"},
        {"UNIDIST_SCHEDULER", "round_robin", "fifo", "UNIDIST_SCHEDULER: 'fifo' is not one of auto, round_robin"},
        {"UNIDIST_TASK_WAITS", "1000000", "1000001", "UNIDIST_TASK_WAITS: 1000001 is not in 1..1000000"},
        {"UNIDIST_TASK_DEPTH", "1000000", "1000001", "UNIDIST_TASK_DEPTH: 1000001 is not in 1..1000000"},
    };
    size_t k;
    for (k = 0; k < sizeof rows / sizeof rows[0]; k++) {
        expect_env_ok(rows[k].var, rows[k].last);
        expect_env_refused(rows[k].var, rows[k].next, rows[k].why);
    }
}

/* Every BOOL row of the table takes 1/0, true/false, yes/no and on/off in any case, and
   refuses anything else, naming the variable and the value. */
#define BOOL_CHECK_STR(field, env)
#define BOOL_CHECK_INT(field, env)
#define BOOL_CHECK_SIZE(field, env)
#define BOOL_CHECK_BOOL(field, env) \
    { \
        static const char *yes[] = {"1", "true", "YES", "On"}, *no[] = {"0", "False", "no", "OFF"}; \
        ud_config out; \
        int i; \
        rows++; \
        for (i = 0; i < 4; i++) { \
            clear_env(); \
            setenv(env, yes[i], 1); \
            if (UT_OK(ud_config_resolve(NULL, &out))) UT_EQ_INT(out.field, 1); \
            setenv(env, no[i], 1); \
            if (UT_OK(ud_config_resolve(NULL, &out))) UT_EQ_INT(out.field, 0); \
        } \
        expect_env_refused(env, "2", env); \
        expect_env_refused(env, "maybe", "'maybe' (from the environment) is not a boolean"); \
    }
#define BOOL_ROW(kind, field, env, def, doc) BOOL_CHECK_##kind(field, env)

static void booleans(void) {
    int rows = 0;
    UD_CONFIG_TABLE(BOOL_ROW)
    UT_CHECK(rows >= 3);
}

/* Every SIZE row of the table accepts K, M and G and refuses other suffixes. */
#define SIZE_CHECK_STR(field, env)
#define SIZE_CHECK_INT(field, env)
#define SIZE_CHECK_BOOL(field, env)
#define SIZE_CHECK_SIZE(field, env) \
    { \
        ud_config out; \
        rows++; \
        clear_env(); \
        setenv(env, "7", 1); \
        if (UT_OK(ud_config_resolve(NULL, &out))) UT_EQ_INT(out.field, 7); \
        setenv(env, "2K", 1); \
        if (UT_OK(ud_config_resolve(NULL, &out))) UT_EQ_INT(out.field, 2048); \
        setenv(env, "3M", 1); \
        if (UT_OK(ud_config_resolve(NULL, &out))) UT_EQ_INT(out.field, 3 << 20); \
        setenv(env, "1G", 1); \
        if (UT_OK(ud_config_resolve(NULL, &out))) UT_EQ_INT(out.field, 1 << 30); \
        setenv(env, "5X", 1); \
        if (UT_EQ_STATUS(ud_config_resolve(NULL, &out), UD_ERR_CONFIG)) UT_CONTAINS(ud_last_error(), env); \
        clear_env(); \
    }
#define SIZE_ROW(kind, field, env, def, doc) SIZE_CHECK_##kind(field, env)

static void size_suffixes(void) {
    int rows = 0;
    UD_CONFIG_TABLE(SIZE_ROW)
    if (rows == 0) ut_skip("no size variable in UD_CONFIG_TABLE yet");
}

static void bad_config_fields(void) {
    ud_config in, out;
    memset(&in, 0, sizeof in);
    in.backend = "bogus";
    if (UT_EQ_STATUS(ud_config_resolve(&in, &out), UD_ERR_CONFIG))
        UT_CHECK(ut_contains_nocase(ud_last_error(), "backend"));
    memset(&in, 0, sizeof in);
    in.cpus = -2;
    if (UT_EQ_STATUS(ud_config_resolve(&in, &out), UD_ERR_CONFIG))
        UT_CHECK(ut_contains_nocase(ud_last_error(), "cpus"));
    memset(&in, 0, sizeof in);
    in.log_level = -3; /* -1 is UD_UNSET */
    if (UT_EQ_STATUS(ud_config_resolve(&in, &out), UD_ERR_CONFIG))
        UT_CHECK(ut_contains_nocase(ud_last_error(), "log_level"));
}

static void bad_environment_at_init(void) {
    ud_role role;
    clear_env();
    setenv("UNIDIST_CPUS", "abc", 1);
    if (UT_EQ_STATUS(ud_init(NULL, &role), UD_ERR_CONFIG)) UT_CONTAINS(ud_last_error(), "UNIDIST_CPUS");
    UT_EQ_INT(ud_is_initialized(), 0);
    UT_EQ_INT(ud_num_workers(), 0);
    clear_env();
    setenv("UNIDIST_BACKEND", "bogus", 1);
    if (UT_EQ_STATUS(ud_init(NULL, &role), UD_ERR_CONFIG))
        UT_CONTAINS(ud_last_error(), "UNIDIST_BACKEND");
    UT_EQ_INT(ud_is_initialized(), 0);
    clear_env();
    /* This program does not include the MPI module. */
    setenv("UNIDIST_BACKEND", "mpi", 1);
    if (UT_EQ_STATUS(ud_init(NULL, &role), UD_ERR_CONFIG))
        UT_CHECK(ut_contains_nocase(ud_last_error(), "mpi"));
    UT_EQ_INT(ud_is_initialized(), 0);
    UT_EQ_STR(ud_backend_name(), "none");
    clear_env();
}

static void print_before_init(void) {
    char *text = printed_config(), want[32];
    ud_config_print(NULL); /* nowhere to write: nothing happens */
    UT_REQUIRE(text != NULL);
#define NAME_PRINTED(kind, field, env, def, doc) UT_CONTAINS(text, env " = ");
    UD_CONFIG_TABLE(NAME_PRINTED)
#undef NAME_PRINTED
    snprintf(want, sizeof want, "%d", UD_LOG_LEVEL);
    if (!has_setting(text, "UNIDIST_LOG_LEVEL", want)) UT_FAIL("no line \"UNIDIST_LOG_LEVEL = %s\" in:\n%s", want, text);
    if (!has_setting(text, "UNIDIST_BACKEND", UD_BACKEND)) UT_FAIL("no line \"UNIDIST_BACKEND = auto\" in:\n%s", text);
    free(text);
}

/* A configuration that does not resolve is printed as a comment saying why. */
static void print_unresolved(void) {
    char *text;
    clear_env();
    setenv("UNIDIST_CPUS", "abc", 1);
    text = printed_config();
    clear_env();
    UT_REQUIRE(text != NULL);
    UT_CONTAINS(text, "# configuration does not resolve: ");
    UT_CONTAINS(text, "UNIDIST_CPUS");
    free(text);
}

/* One successful init: cfg.cpus reaches the backend, and the environment beats cfg.log_level. */
static void init_with_config(void) {
    ud_role role;
    ud_config cfg;
    char *text;
    clear_env();
    memset(&cfg, 0, sizeof cfg);
    cfg.cpus = 3;
    cfg.log_level = UD_LOG_ERROR;
    setenv("UNIDIST_LOG_LEVEL", "3", 1);
    UT_REQUIRE_OK(ud_init(&cfg, &role));
    UT_EQ_INT(ud_num_workers(), 3);
    UT_EQ_STR(ud_backend_name(), "threads");
    text = printed_config();
    UT_REQUIRE(text != NULL);
#define NAME_PRINTED(kind, field, env, def, doc) UT_CONTAINS(text, env " = ");
    UD_CONFIG_TABLE(NAME_PRINTED)
#undef NAME_PRINTED
    if (!has_setting(text, "UNIDIST_CPUS", "3")) UT_FAIL("no line \"UNIDIST_CPUS = 3\" in:\n%s", text);
    if (!has_setting(text, "UNIDIST_LOG_LEVEL", "3")) UT_FAIL("no line \"UNIDIST_LOG_LEVEL = 3\" in:\n%s", text);
    free(text);
    clear_env();
}

int main(void) {
    clear_env();
    UT_RUN(defaults);
    UT_RUN(config_fields_override_defaults);
    UT_RUN(config_init_lets_zero_be_set);
    UT_RUN(zeroed_config_keeps_zero_unset);
    UT_RUN(environment_overrides_config);
    UT_RUN(bad_environment_values);
    UT_RUN(size_suffixes);
    UT_RUN(range_limits);
    UT_RUN(booleans);
    UT_RUN(bad_config_fields);
    UT_RUN(bad_environment_at_init);
    UT_RUN(print_before_init);
    UT_RUN(print_unresolved);
    UT_RUN(init_with_config);
    UT_CASE("shutdown") { UT_OK(ud_shutdown()); }
    return ut_finish();
}
