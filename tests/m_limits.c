/* MPI settings at their edges must neither cost the square of a count nor misname a size:
   a 1 MiB object cut in chunks of 4 bytes (262 144 messages) crosses in about the time its
   messages take, not in the square of their count (a minute, before the sender kept at most
   UD__CHUNKS_IN_FLIGHT of them in flight); a shared store of 2^64 - 1 bytes is refused,
   naming that size, not a wrapped sum. Run under mpiexec with 2 or more ranks. */
#define UNIDIST_IMPLEMENTATION
#include "unidist_mpi.h"
#include "ud_test.h"

enum { SIZE = 1 << 20 };

static ud_func f_last;

/* The object's last byte. */
static int last_byte(ud_task *t) {
    ud_view v;
    if (ud_task_arg(t, 0, &v) != UD_OK || v.size != SIZE) return ud_task_fail(t, "last_byte: bad argument");
    return ut_result_int(t, 0, ((const unsigned char *)v.data)[SIZE - 1]);
}

/* A phase with parts cut in chunks of chunk bytes and no shared store: the seconds a put and
   a task that reads it took, or -1 when init failed (0 on a worker rank). */
static double crossing(size_t chunk) {
    static unsigned char buf[SIZE];
    ud_config c;
    ud_role role;
    ud_ref o, r;
    ud_arg a;
    double t0, t = -1;
    int y = 0;
    size_t got = 0;
    memset(&c, 0, sizeof c);
    c.mpi_chunk_size = chunk;
    c.mpi_inline_max = 1;
    setenv("UNIDIST_MPI_SHARED_OBJECT_STORE", "0", 1);
    if (ud_init(&c, &role) != UD_OK) {
        printf("FAIL init with %zu-byte chunks: %s\n", chunk, ud_last_error());
        return -1;
    }
    if (role != UD_ROLE_DRIVER) return 0;
    buf[SIZE - 1] = 7;
    t0 = ut_now();
    if (UT_OK(ud_put(buf, SIZE, &o))) {
        a = ud_arg_ref(o);
        if (UT_OK(ud_remote(f_last, &a, 1, 1, &r)) && UT_OK(ud_get_copy(r, &y, sizeof y, &got))) UT_EQ_INT(y, 7);
        t = ut_now() - t0;
        ud_free(r);
        ud_free(o);
    }
    UT_OK(ud_shutdown());
    return t;
}

int main(void) {
    double wide, tiny;
    ud_config c;
    ud_role role;
    int driver;
    ut_watchdog(240);
    if (ud_register("last_byte", last_byte, NULL, &f_last) != UD_OK) return 1;
    if ((wide = crossing(4096)) < 0 || (tiny = crossing(4)) < 0) return 1;
    driver = ut_launcher_rank() <= 0;
    if (driver) UT_CASE("a part in 262144 chunks of 4 bytes crosses in linear time") {
        ut_note("1 MiB in 4096-byte chunks: %.3f s; in 4-byte chunks: %.3f s", wide, tiny);
        /* linear: about 0.1 s here (1 s under sanitizers); the square of the count: a minute */
        if (tiny > 10.0 / ut_scale()) UT_FAIL("1 MiB in 4-byte chunks took %.1f s", tiny);
    }
    unsetenv("UNIDIST_MPI_SHARED_OBJECT_STORE");
    memset(&c, 0, sizeof c);
    /* (in a ud_config, all ones is "not set": the variable says it) */
    setenv("UNIDIST_MPI_SHARED_OBJECT_STORE_MEMORY", "18446744073709551615", 1);
    if (driver) UT_CASE("a store of 2^64 - 1 bytes is refused, naming that size") {
        UT_EQ_STATUS(ud_init(&c, &role), UD_ERR_CONFIG);
        UT_CONTAINS(ud_last_error(), "16384.0 PiB asked for the store");
        if (strstr(ud_last_error(), " MiB asked")) UT_FAIL("a wrapped size: %s", ud_last_error());
    } else {
        (void)ud_init(&c, &role); /* every rank refuses it together */
    }
    return driver ? ut_finish() : 0;
}
