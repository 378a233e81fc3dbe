// The implementation built as C++ (-DWITH_MPI: the MPI backend, run on 2 or more ranks): an
// exception that escapes a task fails that task with its what(), or "unknown C++ exception",
// on every result; the worker lives on and runs the next task.
#define UNIDIST_IMPLEMENTATION
#ifdef WITH_MPI
#include "unidist_mpi.h"
#else
#include "unidist.h"
#endif

#include <cstdio>
#include <cstring>
#include <stdexcept>

// Writes its first result, then throws: the result must not outlive the failure.
static int throws_std(ud_task *t) {
    int *y = static_cast<int *>(ud_task_result(t, 0, sizeof(int)));
    if (y) *y = 1;
    throw std::runtime_error("bad input 7");
}

static int throws_int(ud_task *) { throw 42; }

static int square(ud_task *t) {
    ud_view a;
    int x;
    if (ud_task_arg(t, 0, &a) != UD_OK || a.size != sizeof x) return -1;
    std::memcpy(&x, a.data, sizeof x);
    int *y = static_cast<int *>(ud_task_result(t, 0, sizeof(int)));
    if (!y) return -1;
    *y = x * x;
    return 0;
}

static int failures;

static void expect_failed(ud_ref r, const char *what, const char *want) {
    ud_view v;
    ud_status s = ud_get(r, &v);
    if (s != UD_ERR_TASK || v.status != UD_ERR_TASK || std::strcmp(static_cast<const char *>(v.data), want)) {
        std::printf("FAIL %s: ud_get gave %s, message \"%s\", want UD_ERR_TASK \"%s\"\n", what,
                    ud_status_str(s), s == UD_ERR_TASK ? static_cast<const char *>(v.data) : "", want);
        failures++;
    } else {
        std::printf("PASS %s\n", what);
    }
    ud_free(r);
}

int main() {
    ud_func fstd, fint, fsquare;
    ud_role role;
    if (ud_register("throws_std", throws_std, NULL, &fstd) || ud_register("throws_int", throws_int, NULL, &fint) ||
        ud_register("square", square, NULL, &fsquare) || ud_init(NULL, &role)) {
        std::printf("FAIL init: %s\n", ud_last_error());
        return 1;
    }
    if (role != UD_ROLE_DRIVER) return 0; // an MPI worker or monitor, after shutdown
    ud_ref two[2], one, in, out;
    int five = 5, got = 0;
    if (ud_remote(fstd, NULL, 0, 2, two) || ud_remote(fint, NULL, 0, 1, &one)) {
        std::printf("FAIL remote: %s\n", ud_last_error());
        return 1;
    }
    expect_failed(two[0], "std::exception's what() in the first result", "bad input 7");
    expect_failed(two[1], "std::exception's what() in the second result", "bad input 7");
    expect_failed(one, "a thrown int is an unknown C++ exception", "unknown C++ exception");
    ud_arg a;
    size_t size = 0;
    if (ud_put(&five, sizeof five, &in) || (a = ud_arg_ref(in), ud_remote(fsquare, &a, 1, 1, &out)) ||
        ud_get_copy(out, &got, sizeof got, &size) || got != 25) {
        std::printf("FAIL a task after the exceptions: %s (got %d)\n", ud_last_error(), got);
        failures++;
    } else {
        std::printf("PASS a task after the exceptions\n");
    }
    ud_free(in);
    ud_free(out);
    if (ud_shutdown()) {
        std::printf("FAIL shutdown: %s\n", ud_last_error());
        failures++;
    }
    return failures ? 1 : 0;
}
