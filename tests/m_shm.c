/* The shared store as it comes: large objects read in place by the driver and by every
   worker, puts placed by size, references that rise and fall; a store larger than /dev/shm,
   and a service buffer too small or too large, are refused at init. */
#include "shm_cases.h"

/* A case: init with c is refused as a configuration error whose message holds each of want. */
static void refused(const char *name, ud_config c, const char *const want[3]) {
    ud_role role;
    ud_status st = ud_init(&c, &role);
    int k;
    UT_CASE(name) {
        UT_EQ_STATUS(st, UD_ERR_CONFIG);
        for (k = 0; k < 3 && want[k]; k++) UT_CONTAINS(ud_last_error(), want[k]);
    }
}

static void shm_config(ud_config *c) {
    ud_config svc = *c, huge = *c;
    svc.mpi_shared_service_memory = 100;
    refused("a service buffer too small for one entry is refused at init, naming the setting", svc,
            (const char *const[3]){"UNIDIST_MPI_SHARED_SERVICE_MEMORY: 100 bytes hold no entry"});
    svc.mpi_shared_service_memory = (uint64_t)3 << 30;
    refused("a service buffer over 2G is refused at init, naming the setting", svc,
            (const char *const[3]){"UNIDIST_MPI_SHARED_SERVICE_MEMORY", "more than 2G"});
    huge.mpi_shared_object_store_memory = (uint64_t)1 << 50;
    /* the lowest manager names its host: rank 1 (the lowest rank but the driver), or the
       driver's rank 0 when it runs tasks alone on its host (one rank a host) */
    refused("a store larger than /dev/shm is refused at init, naming the setting and the host", huge,
            (const char *const[3]){"UNIDIST_MPI_SHARED_OBJECT_STORE_MEMORY", "/dev/shm", "on the host of rank "});
    UT_CASE("the host named is the lowest manager's (rank 0 or 1)")
        UT_CHECK(strstr(ud_last_error(), "on the host of rank 0 ") || strstr(ud_last_error(), "on the host of rank 1 "));
}

static void shm_cases(void) { in_place(); }
