/* A threshold of one byte: every object, however small, goes through the store. */
#include "shm_cases.h"

static int shm_config(ud_config *c) {
    c->mpi_shared_object_store_threshold = g_threshold = 1;
    c->mpi_shared_object_store_memory = 64 * MIB;
    return 1;
}

static const char *shm_refusal(void) { return ""; }
static void shm_cases(void) {
    tiny_threshold();
    in_place();
    failures();
}
