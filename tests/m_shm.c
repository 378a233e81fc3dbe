/* The shared store as it comes: large objects read in place by the driver and by every
   worker, puts placed by size, references that rise and fall; a store larger than /dev/shm
   is refused at init. */
#include "shm_cases.h"

static void shm_config(ud_config *c) {
    ud_config huge = *c;
    ud_role role;
    ud_status st;
    huge.mpi_shared_object_store_memory = (uint64_t)1 << 50;
    st = ud_init(&huge, &role);
    UT_CASE("a store larger than /dev/shm is refused at init, naming the setting and the host") {
        UT_EQ_STATUS(st, UD_ERR_CONFIG);
        UT_CONTAINS(ud_last_error(), "UNIDIST_MPI_SHARED_OBJECT_STORE_MEMORY");
        UT_CONTAINS(ud_last_error(), "/dev/shm");
        /* rank 1 manages a host's store in every layout: the lowest rank but the driver */
        UT_CONTAINS(ud_last_error(), "on the host of rank 1 ");
    }
}

static void shm_cases(void) { in_place(); }
