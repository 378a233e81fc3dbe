/* A threshold of one byte: every object, however small, goes through the store. */
#include "shm_cases.h"

static void shm_config(ud_config *c) {
    c->mpi_shared_object_store_threshold = g_threshold = 1;
    c->mpi_shared_object_store_memory = 64 * MIB;
}

static void shm_cases(void) {
    tiny_threshold();
    in_place();
    failures();
}
