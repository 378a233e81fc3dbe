/* Two virtual hosts on this machine: data moves between hosts through MPI, once a host. With
   2 ranks each host has one (the driver's host then has no store: only workers make one). */
#include "shm_cases.h"

static void shm_config(ud_config *c) {
    c->mpi_hosts = g_hosts = 2;
    c->mpi_shared_object_store_threshold = g_threshold = 512;
}

static void shm_cases(void) {
    virtual_hosts();
    hosts_and_places();
    failures();
}
