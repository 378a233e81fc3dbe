/* Task threads a rank: UNIDIST_CPUS (here ud_config.cpus) sets them on every worker rank, each
   rank may ask for its own, and more than the cores a rank may use is allowed with one
   warning for the whole job (its phases too). Tasks on
   one worker then run side by side. The host keeps MPI, so the ranks can count the warnings
   after shutdown. */
#define UNIDIST_IMPLEMENTATION
#include "unidist_mpi.h"
#include "ud_test.h"

static ud_func f_nap;
static atomic_int warnings;

static void count_log(int level, int rank, const char *msg, void *user) {
    (void)user;
    if (level == UD_LOG_WARN && strstr(msg, "UNIDIST_CPUS")) atomic_fetch_add(&warnings, 1);
    fprintf(stderr, "[r%d] %s\n", rank, msg);
}

/* Sleeps 0.3 s; returns when it started and ended. */
static int nap(ud_task *t) {
    double *se = (double *)ud_task_result(t, 0, 2 * sizeof *se);
    if (!se) return ud_task_fail(t, "nap: no memory");
    se[0] = ut_now();
    ut_sleep(0.3);
    se[1] = ut_now();
    return 0;
}

int main(int argc, char **argv) {
    enum { THREADS = 64, N = 8 };
    int rank, size, provided, w, all = 0, mine;
    ud_config cfg;
    ud_role role;
    ud_status st;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    ut_set_reduce(rank, NULL, NULL);
    ud_register("nap", nap, NULL, &f_nap);
    unsetenv("UNIDIST_CPUS"); /* the environment would win over the config (a test variant sets it) */
    memset(&cfg, 0, sizeof cfg);
    cfg.cpus = THREADS;
    cfg.log = count_log;
    st = ud_init(&cfg, &role);
    if (st == UD_OK && role == UD_ROLE_DRIVER) {
        UT_CASE("every worker has the task threads asked for") {
            UT_EQ_INT(ud_num_workers(), size); /* the driver's rank too: one thread is its program's */
            for (w = 0; w < ud_num_workers(); w++)
                UT_EQ_INT(ud_worker_threads(w), THREADS - (ud_worker_rank(w) == 0));
            UT_EQ_INT(ud_worker_threads(ud_num_workers()), 0);
        }
        UT_CASE("tasks on one worker run side by side") {
            ud_opts o = ud_on_worker(ud_num_workers() - 1);
            ud_ref r[N];
            ud_view v;
            double t0 = ut_now(), first_end = 1e30, last_start = 0;
            int k;
            for (k = 0; k < N; k++) UT_OK(ud_remote_opts(&o, f_nap, NULL, 0, 1, &r[k]));
            for (k = 0; k < N; k++)
                if (UT_OK(ud_get(r[k], &v)) && UT_EQ_INT(v.size, 2 * sizeof(double))) {
                    const double *se = (const double *)v.data;
                    if (se[1] < first_end) first_end = se[1];
                    if (se[0] > last_start) last_start = se[0];
                }
            ut_note("%d naps of 0.3 s on one worker took %.3f s", N, ut_now() - t0);
            UT_CHECK(last_start < first_end); /* all had started before any ended */
            UT_OK(ud_free_many(r, N));
        }
        UT_CASE("shutdown") UT_OK(ud_shutdown());
    }
    UT_CASE("init") UT_OK(st);
    /* a second phase where each rank asks for its own count: rank r, r + 1 threads */
    cfg.cpus = rank + 1;
    st = ud_init(&cfg, &role);
    if (st == UD_OK && role == UD_ROLE_DRIVER) {
        UT_CASE("UNIDIST_CPUS may differ from rank to rank: each worker has its own") {
            for (w = 0; w < ud_num_workers(); w++) UT_EQ_INT(ud_worker_threads(w), w + 2);
        }
        UT_CASE("second phase: shutdown") UT_OK(ud_shutdown());
    }
    UT_CASE("second phase: init") UT_OK(st);
    mine = atomic_load(&warnings);
    MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    UT_CASE("more task threads than cores: one warning for the whole job") UT_EQ_INT(all, 1);
    return (MPI_Finalize(), ut_finish());
}
