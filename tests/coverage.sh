#!/usr/bin/env bash
# Line coverage of unidist.h, unidist_mpi.h and unidist_shm.h by the test programs (make
# coverage): every tests/t_*.c built with --coverage and run on the threads backend, then the
# MPI programs (tests/m_*.c but m_big.c, and the t_*.c marked "ut: mpi") built with Open MPI's
# mpicc and run on COVERAGE_RANKS ranks (default "2 4"). gcov's counts of every program are
# merged by tests/coverage.py, which prints each header's lines run of lines that can run, its
# percentage against the goal (95%) and the lines never run.
#
#   tests/coverage.sh                        everything (minutes)
#   COVERAGE_TESTS="t_core m_mpi" tests/coverage.sh    some programs
#   COVERAGE_STRICT=1 tests/coverage.sh      exit 1 when a header is under its goal
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=build/coverage
TIMEOUT=${TIMEOUT:-300}
RANKS=${COVERAGE_RANKS:-2 4}
# (functions no program calls are kept, so that their lines count as never run)
FLAGS="-std=gnu11 -g -O0 --coverage -fkeep-static-functions -I. -Itests"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

wanted() {   # src: 1 when COVERAGE_TESTS is empty or names it
    local t
    [ -z "${COVERAGE_TESTS:-}" ] && return 0
    for t in $COVERAGE_TESTS; do [ "$(basename "$1" .c)" = "${t%.c}" ] && return 0; done
    return 1
}

# build_and_run KIND CC SRC RUNNER...: a program of its own folder (its .gcda files beside it).
build_and_run() {
    local kind=$1 cc=$2 src=$3 prog dir def=""
    shift 3
    [[ $kind == mpi* ]] && def=-DUT_MPI
    prog=$(basename "$src" .c)
    dir=$OUT/$kind/$prog
    mkdir -p "$dir"
    # shellcheck disable=SC2086
    if ! $cc $FLAGS $def -o "$dir/$prog" "$src" -pthread >"$dir/build.log" 2>&1; then
        sed 's/^/  /' "$dir/build.log" | head -n 20
        echo "coverage: $kind $prog did not build"
        return
    fi
    (cd "$dir" && timeout -k 10 "$TIMEOUT" "$@" "./$prog" >run.log 2>&1 </dev/null) ||
        echo "coverage: $kind $prog exited with status $? (its counts still count; build/coverage/$kind/$prog/run.log)"
}

rm -rf "$OUT" && mkdir -p "$OUT"
for src in tests/t_*.c; do
    wanted "$src" && build_and_run threads "${CC:-cc}" "$src"
done
for n in $RANKS; do
    for src in $( (ls tests/m_*.c | grep -v 'm_big\.c$'; grep -l 'ut: mpi' tests/t_*.c) | sort -u); do
        wanted "$src" && build_and_run "mpi$n" mpicc.openmpi "$src" mpiexec.openmpi -n "$n"
    done
done
python3 tests/coverage.py "$OUT" unidist.h unidist_mpi.h unidist_shm.h
