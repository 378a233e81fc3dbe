/* A program that takes unidist the ways a project adds it to its build (tests/run.sh, compile
   variant: CMake, pkg-config, the header of make dist): square(5) on a worker. The driver prints
   "consumer: BACKEND VERSION square(5) = 25" and exits 0 only on 25 from the expected backend.
     CONSUMER_MPI               the MPI backend (run under mpiexec)
     CONSUMER_SINGLE            the single header as "unidist.h" (UD_ENABLE_MPI for MPI)
     CONSUMER_SINGLE_INSTALLED  the single header as installed, <unidist/unidist.h> */
#include <stdio.h>
#include <string.h>

#define UNIDIST_IMPLEMENTATION
#if defined(CONSUMER_SINGLE) || defined(CONSUMER_SINGLE_INSTALLED)
#ifdef CONSUMER_MPI
#define UD_ENABLE_MPI
#endif
#ifdef CONSUMER_SINGLE
#include "unidist.h"
#else
#include <unidist/unidist.h>
#endif
#elif defined(CONSUMER_MPI)
#include "unidist_mpi.h"
#else
#include "unidist.h"
#endif

#ifdef CONSUMER_MPI
#define WANT_BACKEND "mpi"
#else
#define WANT_BACKEND "threads"
#endif

static int square(ud_task *t) {
    ud_view a;
    int x, *y;
    if (ud_task_arg(t, 0, &a) != UD_OK || a.size != sizeof x) return -1;
    memcpy(&x, a.data, sizeof x);
    if (!(y = (int *)ud_task_result(t, 0, sizeof *y))) return -1;
    *y = x * x;
    return 0;
}

int main(void) {
    ud_func f;
    ud_role role;
    ud_ref r, out;
    ud_view v;
    ud_arg a;
    const char *backend;
    int five = 5, got = 0;
    if (ud_register("square", square, NULL, &f) != UD_OK || ud_init(NULL, &role) != UD_OK) {
        fprintf(stderr, "consumer: init: %s\n", ud_last_error());
        return 1;
    }
    if (role != UD_ROLE_DRIVER) return 0; /* a worker or monitor: init returned at shutdown */
    backend = ud_backend_name();              /* "none" again after shutdown */
    if (strcmp(backend, WANT_BACKEND) != 0) {
        fprintf(stderr, "consumer: backend %s, want %s\n", backend, WANT_BACKEND);
        ud_shutdown();
        return 1;
    }
    if (ud_put(&five, sizeof five, &r) != UD_OK) {
        fprintf(stderr, "consumer: put: %s\n", ud_last_error());
        return 1;
    }
    a = ud_arg_ref(r);
    if (ud_remote(f, &a, 1, 1, &out) != UD_OK || ud_get(out, &v) != UD_OK) {
        fprintf(stderr, "consumer: square: %s\n", ud_last_error());
        return 1;
    }
    if (v.size == sizeof got) memcpy(&got, v.data, sizeof got);
    ud_free(r);
    ud_free(out);
    if (ud_shutdown() != UD_OK) {
        fprintf(stderr, "consumer: shutdown: %s\n", ud_last_error());
        return 1;
    }
    printf("consumer: %s %s square(5) = %d\n", backend, ud_version(), got);
    return got == 25 ? 0 : 1;
}
