/* A store of 64 MiB: freed space is reused, and a full store falls back to local memory. */
#include "shm_cases.h"

static void shm_config(ud_config *c) {
    c->mpi_shared_object_store_memory = 64 * MIB;
}

static void shm_cases(void) {
    reuse();
    full();
}
