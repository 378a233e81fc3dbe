/* Three virtual hosts. Hosts are blocks of ranks: with 3 or 4 ranks every rank but the
   driver manages a host and no worker is left, which init must say; from 5 ranks on it runs. */
#include "shm_cases.h"

static int shm_config(ud_config *c) {
    c->mpi_hosts = g_hosts = 3;
    c->mpi_shared_object_store_threshold = g_threshold = 512;
    return g_size >= 5;
}

static const char *shm_refusal(void) { return "no rank is left to run tasks"; }
static void shm_cases(void) {
    virtual_hosts();
    failures();
}
