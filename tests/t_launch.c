/* A program built without the MPI backend, started by mpiexec on several ranks: rank 0 warns
   once that every rank runs its own threads backend and how to build for MPI, the other ranks
   say nothing, and UNIDIST_BACKEND=mpi is an error naming the fix for the modules and for the
   single header. mpiexec is stood in for by the variables it sets (Open MPI's, then Hydra's). */
#define UNIDIST_IMPLEMENTATION
#include "unidist.h"
#include "ud_test.h"

static int warnings;
static char last[1024];

static void capture(int level, int rank, const char *message, void *user) {
    (void)rank, (void)user;
    if (level != UD_LOG_WARN) return;
    warnings++;
    snprintf(last, sizeof last, "%s", message);
}

static void launch(const char *size_var, const char *size, const char *rank_var, const char *rank) {
    unsetenv("OMPI_COMM_WORLD_SIZE");
    unsetenv("OMPI_COMM_WORLD_RANK");
    unsetenv("PMI_SIZE");
    unsetenv("PMI_RANK");
    if (size_var) setenv(size_var, size, 1);
    if (rank_var) setenv(rank_var, rank, 1);
}

/* init and shutdown with the log captured; returns init's status */
static ud_status run(const char *backend) {
    ud_config c;
    ud_role role;
    ud_status st;
    memset(&c, 0, sizeof c);
    c.log = capture;
    c.backend = backend;
    warnings = 0;
    last[0] = '\0';
    if ((st = ud_init(&c, &role)) == UD_OK) ud_shutdown();
    return st;
}

/* The fix a message gives fits how the program was built: with the single file, its macro;
   with the modules, the MPI module. */
static void names_the_right_header(const char *msg) {
#ifdef UD__SINGLE_FILE
    UT_CONTAINS(msg, "UD_ENABLE_MPI");
    UT_CHECK(strstr(msg, "unidist_mpi.h") == NULL);
#else
    UT_CONTAINS(msg, "unidist_mpi.h");
    UT_CHECK(strstr(msg, "UD_ENABLE_MPI") == NULL);
#endif
}

static void other_ranks_say_nothing(void) {
    launch("OMPI_COMM_WORLD_SIZE", "3", "OMPI_COMM_WORLD_RANK", "2");
    UT_OK(run(NULL));
    UT_EQ_INT(warnings, 0);
}

static void one_rank_says_nothing(void) {
    launch("PMI_SIZE", "1", "PMI_RANK", "0");
    UT_OK(run(NULL));
    UT_EQ_INT(warnings, 0);
}

static void rank_0_warns_once(void) {
    launch("PMI_SIZE", "4", "PMI_RANK", "0");
    UT_OK(run(NULL));
    UT_EQ_INT(warnings, 1);
    UT_CONTAINS(last, "4 ranks");
    UT_CONTAINS(last, "threads backend");
    names_the_right_header(last);
    UT_OK(run(NULL)); /* a second run in the same process: once is enough */
    UT_EQ_INT(warnings, 0);
}

static void backend_mpi_names_the_fix(void) {
    launch(NULL, NULL, NULL, NULL);
    if (UT_EQ_STATUS(run("mpi"), UD_ERR_CONFIG)) {
        UT_CONTAINS(ud_last_error(), "UNIDIST_BACKEND=mpi");
        UT_CONTAINS(ud_last_error(), "mpicc");
        names_the_right_header(ud_last_error());
    }
    UT_EQ_INT(ud_is_initialized(), 0);
}

int main(void) {
    unsetenv("UNIDIST_BACKEND");
    UT_RUN(rank_0_warns_once); /* first: the process's first init logs by its own configuration */
    UT_RUN(other_ranks_say_nothing);
    UT_RUN(one_rank_says_nothing);
    UT_RUN(backend_mpi_names_the_fix);
    return ut_finish();
}
