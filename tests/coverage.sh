#!/usr/bin/env bash
# Line coverage of unidist.h, unidist_mpi.h and unidist_shm.h by what the test suite runs (make
# coverage). The programs and harnesses of tests/run.sh are built with --coverage at -O0 and run
# in those variants of the suite (COVERAGE_VARIANTS, run.sh's names) that reach lines:
#
#   threads        every tests/t_*.c on the threads backend
#   ompi-4-rr      the MPI programs (tests/m_*.c but m_big.c, and the t_*.c marked "ut: mpi")
#                  on 4 ranks of Open MPI with the round robin scheduler
#   ompi-2x2       the same on 2 ranks of 2 task threads each (UNIDIST_CPUS)
#   mpich-3        the same on 3 ranks of MPICH
#   ompi-chunk     the same on 4 ranks, built with run.sh's small chunk and inline limit
#   fuzz           each fuzz target (tests/fuzz) replaying its seeds, and what libFuzzer keeps
#                  in COVERAGE_FUZZ_SECONDS (20) a target when clang has it (the suite: 60)
#   oom            tests/oom_sweep.sh under Open MPI, whole (at the suite's -O2: it names its
#                  allocation sites by inlined frames)
#   kill           tests/kill.c (each rank killed) and tests/exit.c, as the kill variants
#   hosts          as root, the core MPI programs (COVERAGE_HOST_TESTS) across three
#                  simulated hosts of their own (tests/hosts), 2 ranks a host
#
# Any other MPI variant of run.sh may be named too (ompi-2, ompi-3x4, mpich-4-rr, threads-rr...);
# measured, none of them ran a line that those above miss, each costing minutes.
# A job that ends on a fatal path still counts: tests/gcov_flush.c writes the counts in
# MPI_Abort, _exit and on SIGTERM. tests/coverage.py merges the counts of every program and
# prints each header's lines run of the lines that can run, against the goal (95%), and the
# lines never run. A program that fails here is named, and its counts still count.
#
#   tests/coverage.sh                                   everything (about 13 minutes)
#   COVERAGE_VARIANTS="threads ompi-2" tests/coverage.sh    some variants
#   COVERAGE_TESTS="t_core m_mpi" tests/coverage.sh     some programs (by name)
#   COVERAGE_STRICT=1 tests/coverage.sh                 exit 1 when a header is under its goal
#   COVERAGE_OUT=build/coverage TIMEOUT=300             where, and seconds a program may take
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${COVERAGE_OUT:-build/coverage}
TIMEOUT=${TIMEOUT:-300}
VARIANTS=${COVERAGE_VARIANTS:-threads ompi-4-rr ompi-2x2 mpich-3 ompi-chunk fuzz oom kill hosts}
FUZZ_SECONDS=${COVERAGE_FUZZ_SECONDS:-20}
# (run.sh's MPICH_HOST_TESTS: across hosts every program takes seconds more over TCP)
HOST_TESTS=${COVERAGE_HOST_TESTS:-m_mpi t_behave m_shm t_nested m_shm_hosts}
# (functions no program calls are kept, so that their lines count as never run)
FLAGS="-std=gnu11 -g -O0 --coverage -fkeep-static-functions -I. -Itests"
# linked into every program: writes the counts of a job that ends on a fatal path
FLUSH="tests/gcov_flush.c -Wl,--wrap=_exit"
CHUNK_FLAGS="-DUD_MPI_CHUNK_SIZE=4096 -DUD_MPI_INLINE_MAX=512 -DUD_CHECKSUM=1"   # as run.sh's
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
# As root each MPI job gets a /dev/shm of its own (PRIVATE_SHM), as in the suite.
. tests/private_shm.sh

wanted() {   # src: 1 when COVERAGE_TESTS is empty or names it
    local t
    [ -z "${COVERAGE_TESTS:-}" ] && return 0
    for t in $COVERAGE_TESTS; do [ "$(basename "$1" .c)" = "${t%.c}" ] && return 0; done
    return 1
}

mpi_sources() { (ls tests/m_*.c | grep -v 'm_big\.c$'; grep -l 'ut: mpi' tests/t_*.c) | sort -u; }

# build SET CC "EXTRA" SRC...: each program into $OUT/SET/PROG/ (its counts are written beside
# it), once per set: the variants that share a set run the same programs, counting together.
build() {
    local set=$1 cc=$2 extra=$3 src prog dir
    shift 3
    for src in "$@"; do
        wanted "$src" || continue
        prog=$(basename "$src" .c)
        dir=$OUT/$set/$prog
        [ -x "$dir/$prog" ] && continue
        mkdir -p "$dir"
        # shellcheck disable=SC2086
        $cc $FLAGS $extra -o "$dir/$prog" "$src" -pthread >"$dir/build.log" 2>&1 ||
            { sed 's/^/  /' "$dir/build.log" | head -n 20; echo "coverage: $set $prog did not build"; }
    done
}

# run_set SET NAME RUNNER...: every program of SET, each from its folder, as RUNNER ./PROG.
run_set() {
    local set=$1 name=$2 dir prog
    shift 2
    for dir in "$OUT/$set"/*/; do
        prog=$(basename "$dir")
        if [ ! -x "$dir/$prog" ] || ! wanted "$prog"; then continue; fi
        (cd "$dir" && timeout -k 10 "$TIMEOUT" "$@" "./$prog" >"$name.log" 2>&1 </dev/null) ||
            echo "coverage: $name $prog exited with status $? (its counts still count; $dir$name.log)"
    done
}

# An MPI set: built with MPI's mpicc (ompi: openmpi, mpich), gcov_flush.c linked in.
mpi_set() {   # set mpi extra
    # shellcheck disable=SC2046
    build "$1" "mpicc.$2" "-DUT_MPI $3 $FLUSH" $(mpi_sources)
}

# ompi-N, ompi-NxT, ompi-N-rr, mpich-N...: run.sh's names for N ranks, T task threads,
# round robin.
mpi_variant() {   # name
    local name=$1 mpi=openmpi ranks
    [[ $name == mpich-* ]] && mpi=mpich
    ranks=${name#*-}
    mpi_set "$mpi" "$mpi" ""
    case $ranks in
        *-rr) UNIDIST_SCHEDULER=round_robin run_set "$mpi" "$name" "${PRIVATE_SHM[@]}" "mpiexec.$mpi" -n "${ranks%-rr}" ;;
        *x*)  UNIDIST_CPUS=${ranks#*x} run_set "$mpi" "$name" "${PRIVATE_SHM[@]}" "mpiexec.$mpi" -n "${ranks%x*}" ;;
        *)    run_set "$mpi" "$name" "${PRIVATE_SHM[@]}" "mpiexec.$mpi" -n "$ranks" ;;
    esac
}

# Each fuzz target, built with cc and run over its inputs by tests/fuzz/replay.c instead of
# libFuzzer: the committed seeds, those gen_seeds makes now, and (with clang's libFuzzer) what a
# run of FUZZ_SECONDS keeps, as the suite's fuzz variant runs it.
fuzz_variant() {
    local dir=$OUT/fuzz t corpus
    local fz="-DUD__MEMORY_PATIENCE=0.001 -Itests/fuzz -I."
    mkdir -p "$dir"
    # shellcheck disable=SC2086
    ${CC:-cc} -std=gnu11 -O1 $fz tests/fuzz/gen_seeds.c tests/fuzz/mpi_stub.c -o "$dir/gen_seeds" -pthread &&
        "$dir/gen_seeds" "$dir/gen" >/dev/null 2>&1 || echo "coverage: the fuzz seed generator failed"
    for t in worker monitor shm root; do
        corpus=$dir/corpus_$t
        mkdir -p "$corpus" && cp tests/fuzz/corpus/$t/* "$dir/gen/$t"/* "$corpus/" 2>/dev/null
        [ "$FUZZ_SECONDS" -gt 0 ] && fuzz_run "$t" "$corpus"
        build fuzz "${CC:-cc}" "$fz tests/fuzz/mpi_stub.c tests/fuzz/replay.c" "tests/fuzz/fuzz_$t.c"
        FZ_SETTLE_MAX=60 timeout -k 10 "$TIMEOUT" "$dir/fuzz_$t/fuzz_$t" "$corpus" >"$dir/fuzz_$t/replay.log" 2>&1 </dev/null ||
            echo "coverage: fuzz_$t's replay exited with status $? ($dir/fuzz_$t/replay.log)"
    done
}

# libFuzzer's run of target T for FUZZ_SECONDS, new inputs kept in CORPUS (only for their
# replay: without sanitizers, for speed; the seed is fixed, the runtime's threads are not).
fuzz_run() {   # t corpus
    local bin=$OUT/fuzz/libfuzzer_$1
    clang -g -O1 -fsanitize=fuzzer -DUD__MEMORY_PATIENCE=0.001 -Itests/fuzz -I. \
        -fsanitize-coverage-ignorelist=tests/fuzz/coverage.ignore "tests/fuzz/fuzz_$1.c" \
        tests/fuzz/mpi_stub.c -o "$bin" -pthread >"$bin.build.log" 2>&1 || return 0
    timeout -k 10 $((FUZZ_SECONDS + 60)) "$bin" -max_total_time="$FUZZ_SECONDS" -seed=1 -timeout=60 \
        -artifact_prefix="$OUT/fuzz/" "$2" >"$bin.log" 2>&1 </dev/null ||
        echo "coverage: libFuzzer on fuzz_$1 exited with status $? ($bin.log)"
}

# The OOM sweep under Open MPI, built at its -O2 (its counts: see tests/coverage.py).
oom_variant() {
    mkdir -p "$OUT/oom" && touch "$OUT/oom/optimized"
    OOM_BUILD="--coverage -DUT_MPI $FLUSH" \
        bash tests/oom_sweep.sh openmpi "$OUT/oom" >"$OUT/oom.log" 2>&1 ||
        echo "coverage: the OOM sweep failed ($OUT/oom.log)"
}

# tests/kill.c with each of 3 ranks killed, tests/exit.c's cases (run.sh's kill variants).
kill_variant() {
    local v c
    build kill mpicc.openmpi "-DUT_MPI $FLUSH" tests/kill.c tests/exit.c
    build kill-threads "${CC:-cc}" "$FLUSH" tests/exit.c
    for v in 0 1 2; do
        KILL_RANK=$v run_one kill/kill "kill$v" "${PRIVATE_SHM[@]}" mpiexec.openmpi -n 3
    done
    for c in task main; do
        EXIT_CASE=$c run_one kill/exit "exit-$c" "${PRIVATE_SHM[@]}" mpiexec.openmpi -n 3
    done
    EXIT_CASE=task run_one kill-threads/exit exit-task
}

# run_one SET/PROG NAME RUNNER...: one program of a set, from its folder (these end badly by
# design: their status says nothing here).
run_one() {
    local dir=$OUT/$1 prog=${1#*/} name=$2
    shift 2
    [ -x "$dir/$prog" ] || return 0
    (cd "$dir" && timeout -k 5 "$TIMEOUT" "$@" "./$prog" >"$name.log" 2>&1 </dev/null)
}

# As root, HOST_TESTS under Open MPI across three simulated hosts of their own (names, network
# and bridge apart from the suite's, which may run meanwhile), 2 ranks a host.
hosts_variant() {
    local why
    local -x UD_HOSTS="covA covB covC" UD_HOSTS_DIR=/run/ud-hosts-cov UD_HOSTS_NET=10.204.0 UD_HOSTS_BRIDGE=br-udcov
    if ! why=$(bash tests/hosts/hosts.sh check); then
        echo "coverage: no simulated hosts ($why)"
        return
    fi
    trap 'bash tests/hosts/hosts.sh down' EXIT
    if bash tests/hosts/hosts.sh up >"$OUT/hosts.up.log" 2>&1; then
        mpi_set openmpi openmpi ""
        COVERAGE_TESTS=${COVERAGE_TESTS:-$HOST_TESTS} UT_SCALE=0.1 \
            run_set openmpi hosts bash "$PWD/tests/hosts/hosts.sh" run openmpi 2,2,2
    else
        echo "coverage: the simulated hosts did not come up ($OUT/hosts.up.log)"
    fi
    bash tests/hosts/hosts.sh down
    trap - EXIT
}

run_variant() {
    case $1 in
        threads)    build threads "${CC:-cc}" "$FLUSH" tests/t_*.c
                    run_set threads threads ;;
        threads-rr) build threads "${CC:-cc}" "$FLUSH" tests/t_*.c
                    UNIDIST_SCHEDULER=round_robin run_set threads threads-rr ;;
        ompi-chunk) mpi_set chunk openmpi "$CHUNK_FLAGS"
                    run_set chunk ompi-chunk "${PRIVATE_SHM[@]}" mpiexec.openmpi -n 4 ;;
        ompi-*|mpich-*) mpi_variant "$1" ;;
        fuzz)       fuzz_variant ;;
        oom)        oom_variant ;;
        kill)       kill_variant ;;
        hosts)      hosts_variant ;;
        *)          echo "coverage: unknown variant $1" ;;
    esac
}

rm -rf "$OUT" && mkdir -p "$OUT"
t0=$SECONDS
for v in $VARIANTS; do
    t=$SECONDS
    run_variant "$v"
    echo "coverage: $v took $((SECONDS - t)) s"
done
echo "coverage: the variants took $((SECONDS - t0)) s"
python3 tests/coverage.py "$OUT" unidist.h unidist_mpi.h unidist_shm.h
