/* Three virtual hosts. Hosts are blocks of ranks: with 3 ranks, one rank a host (the usual
   one-rank-per-node launch), every rank but the driver running tasks and managing its host's
   store. */
#include "shm_cases.h"

static void shm_config(ud_config *c) {
    c->mpi_hosts = g_hosts = 3;
    c->mpi_shared_object_store_threshold = g_threshold = 512;
}

static void shm_cases(void) {
    virtual_hosts();
    hosts_and_places();
    failures();
}
