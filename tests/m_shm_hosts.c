/* Two virtual hosts on this machine: data moves between hosts through MPI, once a host.
   With 3 ranks the second host's only rank manages its store and no worker is left. */
#include "shm_cases.h"

static int shm_config(ud_config *c) {
    c->mpi_hosts = g_hosts = 2;
    c->mpi_shared_object_store_threshold = g_threshold = 512;
    return g_size >= 4;
}

static const char *shm_refusal(void) { return "no rank is left to run tasks"; }
static void shm_cases(void) {
    virtual_hosts();
    failures();
}
