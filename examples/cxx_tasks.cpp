/* cxx_tasks.cpp - unidist from C++ with unidist.hpp: tasks in a few lines, refs that free
   themselves, failures as exceptions.

   Sums the squares of 1..N with one task a number and a chain of add tasks, then shows that
   an exception thrown in a task comes back to the driver as a unidist::error.

   Threads backend:
       g++ -std=c++11 -O2 -I. examples/cxx_tasks.cpp -o build/cxx_tasks -pthread
       ./build/cxx_tasks
   MPI backend (the same source):
       mpicxx.openmpi -std=c++11 -O2 -I. -DWITH_MPI examples/cxx_tasks.cpp -o build/cxx_tasks_mpi
       mpiexec.openmpi -n 3 ./build/cxx_tasks_mpi
*/
#define UNIDIST_IMPLEMENTATION
#ifdef WITH_MPI
#include "unidist_mpi.h"
#else
#include "unidist.h"
#endif
#include "unidist.hpp"

#include <cstdio>
#include <stdexcept>
#include <vector>

static const long N = 100;

static int square(ud_task *t) {
    long x = unidist::arg<long>(t, 0);
    if (x < 0) throw std::domain_error("square: negative input " + std::to_string(x));
    unidist::result(t, 0, x * x);
    return 0;
}

static int add(ud_task *t) {
    unidist::result(t, 0, unidist::arg<long>(t, 0) + unidist::arg<long>(t, 1));
    return 0;
}

static ud_func fsquare, fadd;

static void run() {
    // Every square is submitted before any is known; the adds wait for theirs.
    std::vector<unidist::ref> squares;
    for (long i = 1; i <= N; i++) {
        unidist::ref x = unidist::put(i);
        squares.push_back(unidist::remote(fsquare, {x.as_arg()}));
    } // each x is freed here: the square task that needs it keeps it alive
    unidist::ref sum = std::move(squares[0]);
    for (long i = 1; i < N; i++) sum = unidist::remote(fadd, {sum.as_arg(), squares[i].as_arg()});
    long got = unidist::get<long>(sum), want = N * (N + 1) * (2 * N + 1) / 6;
    std::printf("sum of the squares of 1..%ld = %ld (expected %ld)\n", N, got, want);
    if (got != want) throw std::runtime_error("wrong sum");

    // A task's exception fails the task; get throws it on the driver.
    unidist::ref bad = unidist::put(-3L);
    unidist::ref out = unidist::remote(fsquare, {bad.as_arg()});
    try {
        unidist::get<long>(out);
        throw std::runtime_error("a failed task's result was got");
    } catch (const unidist::error &e) {
        if (e.status() != UD_ERR_TASK) throw;
        std::printf("failed as expected: %s\n", e.what());
    }
}

int main() {
    try {
        // Every process registers the same functions before init: under MPI the workers run them.
        fsquare = unidist::register_task("square", square);
        fadd = unidist::register_task("add", add);
        if (unidist::init() != UD_ROLE_DRIVER) return 0; // a worker or monitor, after shutdown
        std::printf("backend %s, %d workers\n", ud_backend_name(), ud_num_workers());
        try {
            run();
        } catch (...) {
            ud_shutdown(); // the workers stop too
            throw;
        }
        unidist::shutdown();
        std::printf("ok\n");
        return 0;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "cxx_tasks: %s\n", e.what());
        return 1;
    }
}
