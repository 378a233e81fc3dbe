/* A rank that dies: a task kills the process of rank KILL_RANK (the driver, the monitor's rank
   or a worker) with SIGKILL while the driver waits for its result. The job must end within
   seconds, the process named (its rank, or its pid, which each rank prints first), with no
   process and no /dev/shm file left; tests/run.sh (kill_variant) checks all of that from
   outside. Run it under mpiexec with 3 ranks. */
#define UNIDIST_IMPLEMENTATION
#include "unidist_mpi.h"
#include "ud_test.h"

#include <signal.h>

static ud_func f_kill_rank;

/* Kills the process whose pid is the argument, or its own when that is 0. */
static int kill_rank(ud_task *t) {
    ud_view a;
    int64_t pid;
    if (ud_task_arg(t, 0, &a) != UD_OK || a.size != sizeof pid) return ud_task_fail(t, "kill_rank: bad argument");
    memcpy(&pid, a.data, sizeof pid);
    kill(pid ? (pid_t)pid : getpid(), SIGKILL);
    for (;;) pause(); /* the driver's own death, or this one's, ends the job */
    return 0;
}

int main(void) {
    const char *v = getenv("KILL_RANK");
    int victim = v ? atoi(v) : 2;
    ud_config cfg;
    ud_role role;
    ud_ref out;
    ud_view view;
    printf("kill: rank %d is pid %d\n", ut_launcher_rank(), (int)getpid());
    fflush(stdout);
    ud_register("kill_rank", kill_rank, NULL, &f_kill_rank);
    memset(&cfg, 0, sizeof cfg);
    if (ud_init(&cfg, &role) != UD_OK) {
        printf("kill: init: %s\n", ud_last_error());
        return 1;
    }
    if (role == UD_ROLE_DRIVER) {
        /* the victim's task runs on worker victim - 1; the driver's on worker 0 */
        int64_t pid = victim == 0 ? (int64_t)getpid() : 0;
        ud_arg a = ud_arg_val(&pid, sizeof pid);
        ud_opts o = ud_on_worker(victim == 0 ? 0 : victim - 1);
        if (ud_remote_opts(&o, f_kill_rank, &a, 1, 1, &out) == UD_OK) ud_get(out, &view);
        printf("kill: the driver's get returned: the job went on after a rank died\n");
        ud_shutdown();
    }
    return 0;
}
