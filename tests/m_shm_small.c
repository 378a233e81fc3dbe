/* A store of 64 MiB: freed space is reused, and a full store falls back to local memory. Then
   a store of 1 MiB with 4 entries: a store under one chunk of mapping, entries that run out,
   and a /dev/shm that fills up after init. */
#define SHM_SECOND_CONFIG
#include "shm_cases.h"

static void shm_config(ud_config *c) {
    c->mpi_shared_object_store_memory = 64 * MIB;
}

static void shm_cases(void) {
    reuse();
    full();
}

static void shm_config2(ud_config *c) {
    c->mpi_shared_object_store_memory = MIB;
    c->mpi_shared_object_store_threshold = g_threshold = 50000;
    /* the service buffer's head and 4 entries (UNIDIST_MPI_SHARED_SERVICE_MEMORY) */
    c->mpi_shared_service_memory = ud__shm_svc_bytes(4);
}

static void shm_cases2(void) {
    dev_shm_full(); /* first: no page of the new store is had yet */
    cramped();
}
