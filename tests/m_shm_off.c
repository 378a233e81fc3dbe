/* UNIDIST_MPI_SHARED_OBJECT_STORE=0: no store, and large objects still move. */
#include "shm_cases.h"

static void shm_config(ud_config *c) {
    (void)c;
    setenv("UNIDIST_MPI_SHARED_OBJECT_STORE", "0", 1);
}

static void shm_cases(void) { store_off(); }
