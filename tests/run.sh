#!/usr/bin/env bash
# Builds and runs every tests/t_*.c in several variants, then the compile tests and the README
# check. Each program prints "PASS name" / "FAIL name" lines; this script shows them prefixed
# with the variant and program, sums them, and ends with the line
# "N passed, N failed, N skipped".
#
#   tests/run.sh                                    everything
#   VARIANTS="default asan" tests/run.sh            some variants (default single asan tsan
#                                                   compile readme fuzz; MPI: ompi-N mpich-N for N
#                                                   ranks, ompi-NxT mpich-NxT for N ranks of
#                                                   T task threads, ompi-N-rr mpich-N-rr with
#                                                   the round_robin scheduler (rr: threads),
#                                                   ompi-chunk mpich-chunk
#                                                   ompi-asan mpich-asan ompi-tsan mpich-tsan
#                                                   ompi-big mpich-big, ompi-oom mpich-oom:
#                                                   tests/oom_sweep.sh, ompi-kill mpich-kill:
#                                                   tests/kill.c, ompi-hosts mpich-hosts:
#                                                   tests/hosts/hosts.sh)
#   TESTS="t_core t_errors" tests/run.sh            some programs (name or path, .c optional)
#   TIMEOUT=120 SAN_TIMEOUT=300 tests/run.sh        seconds per program (sanitizers: SAN_TIMEOUT)
#   CC=gcc CXX=g++ CLANGXX=clang++ TSAN_CC=gcc JOBS=2  compilers, parallel builds
#   FUZZ_SECONDS=30 FUZZ_CC=clang                   the fuzz variant: seconds a target, compiler
#   CTEST=1                                         the compile variant also builds the CMake
#                                                   project with its tests and runs ctest (minutes)
#   REQUIRE_ALL=1                                   a variant skipped whole (hosts without root,
#                                                   fuzz without libFuzzer) is a FAIL; the default
#                                                   where CI=true (.ci/run sets it)
#
# A crash, a time-out, or a non-zero exit with no FAIL line counts as one FAIL for that
# program and variant; so does a program that prints no PASS line at all. SKIP lines are
# shown and counted apart; the variants skipped whole are named before the last line.
set -uo pipefail
cd "$(dirname "$0")/.."

# MPI at 2, 3 and 4 ranks under each MPI (6 MPICH ranks, whose polling suffers most from more
# ranks than cores, run across the simulated hosts of mpich-hosts): with the task threads a
# rank gets by default (one on this 2-core machine), and with 2 and 4 a rank at two rank
# counts. (ompi-6, mpich-6, ompi-4x2, mpich-3x2, 6 ranks of several threads each, more round
# robin variants and mpich-chunk also pass, when named, but cost minutes of a suite that must
# stay under 45.)
MPI_RANKS="ompi-2 ompi-3 ompi-4 mpich-2 mpich-3 mpich-4"
MPI_THREADS="ompi-2x2 ompi-3x4 mpich-2x4 mpich-4x4"
# the seeds' round robin scheduler (UNIDIST_SCHEDULER=round_robin), once under each MPI
MPI_RR="ompi-4-rr mpich-3-rr"
ALL_VARIANTS="default rr single asan tsan compile readme fuzz $MPI_RANKS $MPI_THREADS $MPI_RR ompi-chunk ompi-asan mpich-asan ompi-tsan mpich-tsan ompi-big mpich-big ompi-oom mpich-oom ompi-kill mpich-kill ompi-hosts mpich-hosts"
VARIANTS=${VARIANTS:-$ALL_VARIANTS}
TESTS=${TESTS:-}
TIMEOUT=${TIMEOUT:-120}
SAN_TIMEOUT=${SAN_TIMEOUT:-300}
KILL_AFTER=${KILL_AFTER:-10}     # SIGKILL this long after the SIGTERM of a time-out
CC=${CC:-cc}
CXX=${CXX:-g++}
CLANGXX=${CLANGXX:-clang++}
FUZZ_CC=${FUZZ_CC:-clang}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
TSAN_CC=${TSAN_CC:-$CC}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
SHOW_LINES=${SHOW_LINES:-150}    # lines of other output shown per program (the log has all)

OUT=build/tests
WARN="-Wall -Wextra -Werror"
CFLAGS_BASE="-std=gnu11 -g $WARN"
LIBS="-pthread"

# Sanitizers stop at the first report so that it becomes a non-zero exit; a user's own
# settings win.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}

passed=0
failed=0
skipped=0   # SKIP lines: shown and counted apart, neither passed nor failed
skipped_whole=()  # "variant: why" of each variant that ran nothing
if [ "${CI:-}" = true ]; then REQUIRE_ALL=${REQUIRE_ALL:-1}; else REQUIRE_ALL=${REQUIRE_ALL:-0}; fi

failures=()  # every FAIL line, shown again at the end where a log's tail shows it

pass() { echo "[$1] PASS $2"; passed=$((passed + 1)); }

# A variant that cannot run here at all: one SKIP line, or a FAIL with REQUIRE_ALL=1.
skip_variant() {   # variant why
    if [ "$REQUIRE_ALL" = 1 ]; then
        fail "$1" "skipped whole, and REQUIRE_ALL=1: $2"
        return
    fi
    echo "[$1] SKIP the whole variant: $2"
    skipped=$((skipped + 1))
    skipped_whole+=("$1 ($2)")
}
fail() { echo "[$1] FAIL $2"; failed=$((failed + 1)); failures+=("[$1] FAIL $2"); }

# Shows a file's lines prefixed with a tag, at most SHOW_LINES of them.
show() {
    local tag=$1 file=$2 n
    n=$(wc -l <"$file")
    head -n "$SHOW_LINES" "$file" | sed "s|^|[$tag]   |"
    if [ "$n" -gt "$SHOW_LINES" ]; then
        echo "[$tag]   ... $((n - SHOW_LINES)) more lines in $file"
    fi
}

# The test programs of a variant's kind, narrowed by TESTS:
#   threads: tests/t_*.c
#   mpi:     tests/m_*.c but m_big.c, and every tests/t_*.c that says "ut: mpi" (it runs
#            on either backend)
#   big:     tests/m_big.c (an object over 2 GiB: once for each MPI)
# m_driver_funneled.c (m_driver.c with the host's MPI_THREAD_FUNNELED) runs only in the
# variants of FUNNELED_VARIANTS: a plain one of each MPI and the sanitizers' (the suite's time).
KIND=threads
VARIANT=
FUNNELED_VARIANTS=${FUNNELED_VARIANTS:-ompi-3 mpich-4 ompi-asan ompi-tsan mpich-tsan}
test_sources() {
    local t all skip='m_big\.c$'
    [[ " $FUNNELED_VARIANTS " == *" $VARIANT "* ]] || skip='m_big\.c$|m_driver_funneled\.c$'
    case $KIND in
        threads) all=$(ls tests/t_*.c 2>/dev/null) ;;
        mpi)     all=$( (ls tests/m_*.c | grep -Ev "$skip"; grep -l 'ut: mpi' tests/t_*.c) 2>/dev/null) ;;
        big)     all=tests/m_big.c ;;
    esac
    if [ -z "$TESTS" ]; then
        echo "$all"
        return
    fi
    for t in $TESTS; do
        t=${t##*/}
        echo "$all" | grep -x "tests/${t%.c}.c"
    done
}

# Runs up to JOBS of the given commands at once; each is a string for bash -c.
parallel() {
    local cmd
    for cmd in "$@"; do
        while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
        bash -c "$cmd" &
    done
    wait
}

# Builds one program quietly; the compiler's output goes to BIN.build.log.
build_cmd() {   # cc "flags" src bin
    printf 'rm -f %q; %s %s -o %q %q %s >%q 2>&1' "$4" "$1" "$2" "$4" "$3" "$LIBS" "$4.build.log"
}

# Counts and shows the PASS/FAIL lines of one run (with every other line it printed), and
# turns a crash, a time-out or a silent failure into a FAIL line.
record_run() {   # variant name log rc limit
    local tag="$1 $2" log=$3 rc=$4 limit=$5 line npass=0 nfail=0 nskip=0 nother=0
    while IFS= read -r line || [ -n "$line" ]; do
        case $line in
            "PASS "*) echo "[$tag] $line"; npass=$((npass + 1)) ;;
            "FAIL "*) echo "[$tag] $line"; nfail=$((nfail + 1)); failures+=("[$tag] $line") ;;
            "SKIP "*) echo "[$tag] $line"; nskip=$((nskip + 1)) ;;
            *)  nother=$((nother + 1))
                [ "$nother" -le "$SHOW_LINES" ] && echo "[$tag]   $line" ;;
        esac
    done <"$log"
    [ "$nother" -gt "$SHOW_LINES" ] &&
        echo "[$tag]   ... $((nother - SHOW_LINES)) more lines in $log"
    passed=$((passed + npass))
    failed=$((failed + nfail))
    skipped=$((skipped + nskip))
    if [ "$rc" -ne 0 ] && [ "$nfail" -eq 0 ]; then
        if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
            fail "$tag" "timed out after ${limit}s"
        elif [ "$rc" -gt 128 ]; then
            fail "$tag" "killed by signal $((rc - 128))"
        else
            fail "$tag" "exit status $rc with no FAIL line"
        fi
    elif [ "$rc" -eq 0 ] && [ $((npass + nfail + nskip)) -eq 0 ]; then
        fail "$tag" "printed no PASS line"
    fi
}

# run_variant NAME CC "CFLAGS" "RUNNER" TIMEOUT
# Builds every selected program with CC CFLAGS into build/tests/NAME/ and runs each as
# "timeout TIMEOUT RUNNER ./program". RUNNER is empty for the threads backend; an MPI
# variant passes e.g. "mpiexec -n 4".
# Variants that build with the same compiler and flags share one build: the later ones link
# its programs under their own names (each variant's processes have a path of their own).
declare -A BUILT
run_variant() {
    local name=$1 cc=$2 cflags=$3 runner=$4 limit=$5 src prog bin rc t0 cmds=() key
    mkdir -p "$OUT/$name"
    key="$KIND|$cc|$cflags|$(test_sources | tr "\n" " ")"
    for src in $(test_sources); do
        prog=$(basename "$src" .c)
        if [ -n "${BUILT[$key]:-}" ]; then
            cmds+=("$(printf 'rm -f %q; ln %q %q 2>/dev/null || cp %q %q' "$OUT/$name/$prog" \
                "$OUT/${BUILT[$key]}/$prog" "$OUT/$name/$prog" "$OUT/${BUILT[$key]}/$prog" "$OUT/$name/$prog")")
        else
            cmds+=("$(build_cmd "$cc" "$cflags" "$src" "$OUT/$name/$prog")")
        fi
    done
    if [ ${#cmds[@]} -eq 0 ]; then
        fail "$name" "no test programs match TESTS='$TESTS'"
        return
    fi
    parallel "${cmds[@]}"
    [ -z "${BUILT[$key]:-}" ] && BUILT[$key]=$name
    for src in $(test_sources); do
        prog=$(basename "$src" .c)
        bin=$OUT/$name/$prog
        if [ ! -x "$bin" ]; then
            show "$name $prog" "$bin.build.log"
            fail "$name $prog" "build"
            continue
        fi
        # timeout kills the program's whole process group, so nothing is left behind; the
        # outer 2>/dev/null only hides bash's own "Aborted" notice (record_run reports it).
        # shellcheck disable=SC2086
        t0=$SECONDS
        if [ -n "$runner" ]; then
            { "${PRIVATE_SHM[@]}" timeout -k "$KILL_AFTER" "$limit" $runner "./$bin" >"$bin.log" 2>&1 </dev/null; } \
                2>/dev/null
        else
            { timeout -k "$KILL_AFTER" "$limit" "./$bin" >"$bin.log" 2>&1 </dev/null; } 2>/dev/null
        fi
        rc=$?
        record_run "$name" "$prog" "$bin.log" "$rc" "$limit"
        echo "$name $prog $((SECONDS - t0))" >>"$OUT/times"   # what makes the suite long
        [ -n "$runner" ] && check_left_behind "$name $prog" "$bin"
    done
}

# As root, every MPI program runs on a /dev/shm of its own (PRIVATE_SHM).
. tests/private_shm.sh

# The processes running program $1 (a path under build/) started from this checkout: another
# checkout's suite may run the same variant meanwhile, under the same relative path.
own_pids() {
    local p
    for p in $(pgrep -f "(^|/)$1( |\$)" 2>/dev/null); do
        [ "$(readlink "/proc/$p/cwd" 2>/dev/null)" = "$PWD" ] && echo "$p"
    done
}

# After an MPI run no rank of it may be left: one that is, is a FAIL, and is killed.
check_left_behind() {   # tag bin
    local pids
    sleep 0.2
    pids=$(own_pids "$2")   # this variant's binary, nobody else's
    if [ -n "$pids" ]; then
        echo "[$1]   left behind: $(echo $pids)"
        kill -9 $pids 2>/dev/null
        fail "$1" "processes left behind"
    fi
}

# ---- MPI variants --------------------------------------------------------------------------
# mpi_variant NAME MPI RANKS KIND [EXTRA_CFLAGS]: build with MPI's mpicc, run under its mpiexec.
# RANKS may be NxT: N ranks, each worker with T task threads (UNIDIST_CPUS).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1   # more ranks than cores
mpi_variant() {
    local name=$1 mpi=$2 ranks=$3 kind=$4 extra="${5:-} -DUT_MPI"
    if [[ $ranks == *-rr ]]; then
        UNIDIST_SCHEDULER=round_robin mpi_variant "$name" "$mpi" "${ranks%-rr}" "$kind" "${5:-}"
        return
    fi
    if [[ $ranks == *x* ]]; then
        UNIDIST_CPUS=${ranks#*x} mpi_variant "$name" "$mpi" "${ranks%x*}" "$kind" "${5:-}"
        return
    fi
    if ! command -v "mpicc.$mpi" >/dev/null || ! command -v "mpiexec.$mpi" >/dev/null; then
        fail "$name" "mpicc.$mpi or mpiexec.$mpi is not installed (run .ci/setup)"
        return
    fi
    KIND=$kind
    VARIANT=$name
    local limit=$TIMEOUT
    [[ $extra == *-fsanitize* ]] && limit=$SAN_TIMEOUT
    run_variant "$name" "mpicc.$mpi" "$CFLAGS_BASE -O2 $extra -I." "${MPI_RUNNER:-mpiexec.$mpi -n $ranks}" "$limit"
    KIND=threads
    VARIANT=
}

# ---- simulated hosts -----------------------------------------------------------------------
# ompi-hosts, mpich-hosts: as root, where network, mount, UTS and IPC namespaces can be made,
# every MPI program across three simulated hosts (tests/hosts/hosts.sh: a network, hostname,
# IPC and /dev/shm each) in each layout of ranks per host, at UT_SCALE 0.1 (TCP between hosts
# is slow here); the hosts go even when a test fails or the suite is stopped. After each
# program hosts.sh names what the job left on each host (processes, /dev/shm, IPC) as FAIL
# lines. Under MPICH many jobs, a plain MPI program's too, hang in MPI_Finalize across hosts:
# hosts.sh ends one after UD_FINALIZE_WAIT quiet seconds and says SKIP when a plain MPI
# control in the same layout hangs too, FAIL when it does not (README, "Several hosts"); each
# costs those seconds, so MPICH runs one layout.
OMPI_HOST_LAYOUTS=${OMPI_HOST_LAYOUTS:-2,2,2 3,2,1 1,1,1}
MPICH_HOST_LAYOUTS=${MPICH_HOST_LAYOUTS:-2,2,2}
# MPICH across hosts runs the core of the programs (the rest end in the same finalize hang,
# each costing its wait); TESTS, or MPICH_HOST_TESTS=all, runs more.
MPICH_HOST_TESTS=${MPICH_HOST_TESTS:-m_mpi t_behave m_shm t_nested m_shm_hosts m_driver m_driver_rank}
export UD_FINALIZE_WAIT=${UD_FINALIZE_WAIT:-3}
hosts_variant() {   # name mpi layouts
    local name=$1 mpi=$2 layouts=$3 why layout saved=("${PRIVATE_SHM[@]}")
    if ! why=$(bash tests/hosts/hosts.sh check); then
        skip_variant "$name" "simulated hosts cannot be made: $why"
        return
    fi
    mkdir -p "$OUT"
    trap 'bash tests/hosts/hosts.sh down' EXIT
    if ! bash tests/hosts/hosts.sh up >"$OUT/$name.up.log" 2>&1; then
        show "$name" "$OUT/$name.up.log"
        fail "$name" "setting up the simulated hosts"
        bash tests/hosts/hosts.sh down
        return
    fi
    PRIVATE_SHM=() # each host has a /dev/shm of its own
    for layout in $layouts; do
        UT_SCALE=${UT_SCALE:-0.1} MPI_RUNNER="bash tests/hosts/hosts.sh run $mpi $layout" \
            mpi_variant "$name-${layout//,/-}" "$mpi" 0 mpi
    done
    [ "$mpi" = openmpi ] && bind_warning "$name" "$OUT/$name-1-1-1/m_phases"
    PRIVATE_SHM=("${saved[@]}")
    bash tests/hosts/hosts.sh down
    trap - EXIT
}

# One rank a host at 2 ranks: Open MPI binds each to one core of the host's two, fewer than its
# share; the warning says so, with the launch to use instead, once for the job's phases.
bind_warning() {   # name prog
    local name=$1 prog=$2 log=$OUT/$1.bind.log n
    [ -x "$prog" ] || return
    bash tests/hosts/hosts.sh run openmpi 1,1 "$prog" >"$log" 2>&1
    n=$(grep -c "is bound to 1 core, fewer than its share of its host (2).*--bind-to none" "$log")
    if [ "$n" -eq 1 ] && grep -q '^PASS' "$log" && ! grep -q '^FAIL' "$log"; then
        pass "$name" "a rank bound to fewer cores than its share is told how to launch, once a job"
    else
        show "$name" "$log"
        fail "$name" "binding warning: $n lines, want 1"
    fi
}

# The single-header variant must really compile against build/dist/unidist.h, the header a
# release ships (`make dist`): the preprocessor's dependency list must name it and no other
# unidist.h.
check_single_resolution() {   # cflags
    local src deps bad=0
    for src in $(test_sources); do
        # shellcheck disable=SC2086
        deps=$($CC $1 -M "$src" 2>&1 | tr ' \\' '\n\n' | grep 'unidist[^/]*\.h$' | sort -u)
        if [ "$deps" != "build/dist/unidist.h" ]; then
            echo "[single]   $src includes: ${deps:-no unidist header}"
            bad=1
        fi
    done
    if [ "$bad" -eq 0 ]; then
        pass single "programs include build/dist/unidist.h"
    else
        fail single "programs include build/dist/unidist.h"
    fi
}

# The release single header, by the command `make dist` runs.
make_dist() { ${MAKE:-make} --no-print-directory -s dist; }

variant_single() {
    local flags="$CFLAGS_BASE -O2 -Ibuild/dist -I."
    if ! make_dist; then
        fail single "make dist"
        return
    fi
    check_single_resolution "$flags"
    run_variant single "$CC" "$flags" "" "$TIMEOUT"
}

# ---- compile tests ----------------------------------------------------------------------
# Each builds (and where it makes a program, runs) something from tests/compile/ and is one
# PASS or FAIL; the compiler's output is shown on failure.
C=tests/compile
CO=$OUT/compile

# expect_ok TAG NAME COMMAND...: PASS when the command succeeds; its output is shown if not.
expect_ok() {
    local tag=$1 name=$2 log
    log="$OUT/$tag/$(echo "$name" | tr -c 'A-Za-z0-9_\n' '_').log"
    shift 2
    mkdir -p "$OUT/$tag"
    if "$@" >"$log" 2>&1; then
        pass "$tag" "$name"
    else
        show "$tag" "$log"
        fail "$tag" "$name"
    fi
}

run_prog() { timeout -k "$KILL_AFTER" "$TIMEOUT" "$@" </dev/null; }

# The object with the implementation that several tests link against.
impl_object() {
    $CC $CFLAGS_BASE -O2 -I. -c "$C/impl.c" -o "$CO/impl.o"
}

cc_c99_header() {
    $CC -std=c99 -pedantic -Werror -Wall -Wextra -I. -c "$C/c99_header.c" -o "$CO/c99_header.o"
}

cc_cxx() {
    impl_object &&
        $CXX -std=c++11 -pedantic -Werror -Wall -Wextra -I. "$C/cxx_api.cpp" "$CO/impl.o" \
            -o "$CO/cxx_api" $LIBS &&
        run_prog "$CO/cxx_api"
}

cc_c11_impl() {
    $CC -std=c11 -pedantic -Wall -Wextra -Werror -I. -c "$C/impl_c11.c" -o "$CO/impl_c11.o"
}

cc_two_units() {
    $CC $CFLAGS_BASE -O2 -I. "$C/two_units_main.c" "$C/two_units_user.c" -o "$CO/two_units" \
        $LIBS && run_prog "$CO/two_units"
}

# Two copies of the library, each static in its own unit, linked into one program; neither
# object may export a ud_ symbol.
cc_static() {
    local o
    $CC $CFLAGS_BASE -O2 -I. -c "$C/static_a.c" -o "$CO/static_a.o" &&
        $CC $CFLAGS_BASE -O2 -I. -c "$C/static_b.c" -o "$CO/static_b.o" &&
        $CC "$CO/static_a.o" "$CO/static_b.o" -o "$CO/static_ab" $LIBS || return 1
    for o in "$CO/static_a.o" "$CO/static_b.o"; do
        if nm -g --defined-only "$o" | awk '{print $NF}' | grep -E '^_?ud_'; then
            echo "$o exports the ud_ symbols above"
            return 1
        fi
    done
    run_prog "$CO/static_ab"
}

# Every symbol an object with the implementation defines globally is in the ud_ namespace.
cc_namespace() {
    local syms bad
    impl_object || return 1
    syms=$(nm -g --defined-only "$CO/impl.o" | awk '{print $NF}')
    bad=$(echo "$syms" | grep -v '^ud_')
    if [ -n "$bad" ]; then
        echo "exported symbols outside ud_:"
        echo "$bad"
        return 1
    fi
    # A test that cannot fail is no test: the object must export the API.
    echo "$syms" | grep -qx 'ud_init' || { echo "ud_init not exported"; return 1; }
}

# UD_MALLOC alone must stop the build with the library's #error (not some other error).
cc_alloc_error() {
    if $CC $CFLAGS_BASE -I. -c "$C/malloc_only.c" -o "$CO/malloc_only.o" 2>"$CO/malloc_only.err"
    then
        echo "UD_MALLOC without UD_REALLOC/UD_FREE compiled"
        return 1
    fi
    grep -q '#error' "$CO/malloc_only.err" || { cat "$CO/malloc_only.err"; return 1; }
}

# expect_error_naming WHAT NEEDLE COMMAND...: the build must fail with an #error containing NEEDLE.
expect_error_naming() {
    local err=$CO/$1.err
    shift
    local needle=$1
    shift
    if "$@" 2>"$err"; then
        echo "it compiled"
        return 1
    fi
    grep '#error' "$err" | grep -qF "$needle" || { cat "$err"; return 1; }
}

# -std=c11 without POSIX (and with -pthread, which makes CLOCK_MONOTONIC appear anyway) stops
# at the header's #error, which says what to define.
cc_c11_without_posix() {
    expect_error_naming c11_no_posix "_POSIX_C_SOURCE=200809L" \
        $CC -std=c11 -pthread -I. -c "$C/impl.c" -o "$CO/impl_no_posix.o"
}

# An xxHash older than 0.8 (no XXH3) stops at the header's #error.
cc_old_xxhash() {
    mkdir -p "$CO/old_xxhash" &&
        printf '#include_next <xxhash.h>\n#undef XXH_VERSION_NUMBER\n#define XXH_VERSION_NUMBER 704\n' >"$CO/old_xxhash/xxhash.h" &&
        expect_error_naming old_xxhash "xxHash 0.8.0" \
            $CC $CFLAGS_BASE -I"$CO/old_xxhash" -I. -c "$C/impl.c" -o "$CO/impl_old_xxhash.o"
}

# The single header of make dist, alone in a folder, builds a program that runs
# (tests/compile/consumer.c, below).
cc_single_alone() {
    rm -rf "$CO/alone" && mkdir -p "$CO/alone" && make_dist &&
        cp build/dist/unidist.h "$CO/alone/unidist.h" &&
        $CC $CFLAGS_BASE -O2 -I"$CO/alone" -DCONSUMER_SINGLE "$C/consumer.c" \
            -o "$CO/single_alone" $LIBS &&
        run_consumer "$CO/single_alone"
}

# The generator gives the same bytes twice, and --check tells a stale file from a fresh one, a
# release build (--release, known by its second line) from a plain one.
cc_amalgamate_check() {
    python3 amalgamate.py -o "$CO/a1.h" && python3 amalgamate.py -o "$CO/a2.h" &&
        cmp "$CO/a1.h" "$CO/a2.h" &&
        python3 amalgamate.py --check "$CO/a1.h" &&
        echo "/* edited */" >>"$CO/a2.h" &&
        ! python3 amalgamate.py --check "$CO/a2.h" &&
        python3 amalgamate.py --release -o "$CO/a3.h" && ! cmp -s "$CO/a1.h" "$CO/a3.h" &&
        python3 amalgamate.py --check "$CO/a3.h" &&
        ! python3 amalgamate.py --release --check "$CO/a1.h"
}

# ---- adding unidist to a build: CMake, pkg-config, make install, make dist ------------------
# Each consumer is tests/compile/consumer.c: it prints one line, checked here word for word.
VERSION_STRING=$(sed -n 's/^#define UD_VERSION_STRING "\(.*\)"/\1/p' unidist.h)

# run_consumer BIN [MPI]: on the threads backend, or on 3 ranks of MPI's mpiexec.
run_consumer() {
    local bin=$1 mpi=${2:-} out want
    if [ -n "$mpi" ]; then
        want="consumer: mpi $VERSION_STRING square(5) = 25"
        out=$(run_prog "mpiexec.$mpi" -n 3 "$bin" 2>&1)
    else
        want="consumer: threads $VERSION_STRING square(5) = 25"
        out=$(run_prog "$bin" 2>&1)
    fi
    echo "$out"
    echo "$out" | grep -qxF "$want" || { echo "$bin did not print: $want"; return 1; }
}

# cmake_consumer HOW [MPI]: tests/compile/cmake_consumer with unidist taken HOW (subdir, fetch,
# package: from $CO/prefix-cmake), built and run; with MPI, linked to unidist::mpi under it.
cmake_consumer() {
    local how=$1 mpi=${2:-} dir=$CO/cmake-$1${2:+-$2}
    local args=(-DUNIDIST_HOW="$how" -DUNIDIST_SOURCE="$PWD" -DCMAKE_PREFIX_PATH="$PWD/$CO/prefix-cmake")
    [ -n "$mpi" ] && args+=(-DCONSUMER_MPI=ON -DMPI_C_COMPILER="mpicc.$mpi"
                            -DMPIEXEC_EXECUTABLE="$(command -v "mpiexec.$mpi")")
    rm -rf "$dir"
    echo "== cmake consumer: $how ${mpi:-threads}"
    cmake -S "$C/cmake_consumer" -B "$dir" "${args[@]}" && cmake --build "$dir" &&
        run_consumer "$dir/consumer" "$mpi"
}

cc_cmake_subdir() { cmake_consumer subdir && cmake_consumer subdir openmpi; }
cc_cmake_fetch() { cmake_consumer fetch; }

# unidist installed by CMake into $CO/prefix-cmake, then found by find_package.
cc_cmake_package() {
    rm -rf "$CO/ud-build" "$CO/prefix-cmake"
    cmake -S . -B "$CO/ud-build" -DUNIDIST_BUILD_TESTS=OFF -DUNIDIST_INSTALL=ON &&
        cmake --build "$CO/ud-build" &&
        cmake --install "$CO/ud-build" --prefix "$PWD/$CO/prefix-cmake" &&
        cmake_consumer package && cmake_consumer package openmpi && cmake_consumer package mpich
}

# pkg_consumer PREFIX PC NAME [MPI] [DEFINES]: consumer.c built by cc with the flags of
# `pkg-config --cflags --libs PC` from PREFIX/lib/pkgconfig, its headers from PREFIX, and run.
pkg_consumer() {
    local prefix=$1 pc=$2 bin=$CO/$3 mpi=${4:-} defs=${5:-} flags deps
    flags=$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs "$pc") || return 1
    echo "== pkg-config $pc: $flags"
    # shellcheck disable=SC2086
    deps=$($CC $CFLAGS_BASE ${mpi:+-DCONSUMER_MPI} $defs -M "$C/consumer.c" $flags) || return 1
    echo "$deps" | grep -q "$prefix/\(lib/pkgconfig/\.\./\.\./\)\?include/unidist" ||
        { echo "consumer.c did not include unidist from $prefix: $deps"; return 1; }
    # shellcheck disable=SC2086
    $CC $CFLAGS_BASE -O2 ${mpi:+-DCONSUMER_MPI} $defs "$C/consumer.c" -o "$bin" $flags &&
        run_consumer "$bin" "$mpi"
}

# make install into $CO/prefix-make (Open MPI), and with DESTDIR (MPICH): the .pc files find
# the headers relative to themselves, so the tree under DESTDIR works where it is; then make
# uninstall leaves no file behind.
cc_pkgconfig() {
    local p=$PWD/$CO/prefix-make d=$PWD/$CO/destdir left
    rm -rf "$p" "$d"
    make --no-print-directory -s install PREFIX="$p" MPI_PC=ompi-c &&
        pkg_consumer "$p" unidist pkg-threads &&
        pkg_consumer "$p" unidist pkg-single "" -DCONSUMER_SINGLE_INSTALLED &&
        pkg_consumer "$p" unidist-mpi pkg-openmpi openmpi &&
        make --no-print-directory -s install DESTDIR="$d" PREFIX=/opt/unidist MPI_PC=mpich &&
        pkg_consumer "$d/opt/unidist" unidist-mpi pkg-mpich mpich &&
        make --no-print-directory -s uninstall PREFIX="$p" || return 1
    left=$(find "$p" -type f)
    [ -z "$left" ] || { echo "make uninstall left: $left"; return 1; }
}

# build/dist/unidist.h alone in a folder: its version and LICENSE's whole text at the top, and
# consumer.c built with cc (cc_single_alone) and each MPI's mpicc (UD_ENABLE_MPI), then run.
cc_dist_alone() {
    local d=$CO/dist-alone mpi
    rm -rf "$d" && mkdir -p "$d" && make_dist && cp build/dist/unidist.h "$d/" || return 1
    head -n 1 "$d/unidist.h" | grep -qF "v$VERSION_STRING" ||
        { echo "the first line does not say v$VERSION_STRING"; return 1; }
    sed -n '/^   LICENSE (the file LICENSE/,/^#ifndef UD__SINGLE_FILE/p' "$d/unidist.h" |
        sed '1d;$d' | sed 's/^   //; s/ \*\/$//; s/[[:space:]]*$//' >"$d/license.txt"
    sed 's/[[:space:]]*$//' LICENSE | diff - "$d/license.txt" >"$d/license.diff" ||
        { echo "LICENSE's text differs at the top of the header:"; head -n 20 "$d/license.diff"; return 1; }
    cc_single_alone || return 1
    for mpi in openmpi mpich; do
        "mpicc.$mpi" $CFLAGS_BASE -O2 -I"$d" -DCONSUMER_SINGLE -DCONSUMER_MPI "$C/consumer.c" \
            -o "$d/$mpi" $LIBS && run_consumer "$d/$mpi" "$mpi" || return 1
    done
}

# unidist's own CMake build with its tests, and ctest (Open MPI): minutes, so only with CTEST=1.
cc_ctest() {
    local dir=$CO/ctest
    rm -rf "$dir"
    cmake -S . -B "$dir" -DMPI_C_COMPILER=mpicc.openmpi \
        -DMPIEXEC_EXECUTABLE="$(command -v mpiexec.openmpi)" &&
        cmake --build "$dir" -j "$JOBS" && (cd "$dir" && ctest -j "$JOBS" --output-on-failure)
}

variant_compile() {
    mkdir -p "$CO"
    expect_ok compile "header as C99 -pedantic" cc_c99_header
    expect_ok compile "header as C++11, linked and run" cc_cxx
    expect_ok compile "implementation as C11 -pedantic" cc_c11_impl
    expect_ok compile "two translation units" cc_two_units
    expect_ok compile "UD_STATIC twice in one program, no ud_ exports" cc_static
    expect_ok compile "exported symbols start with ud_" cc_namespace
    expect_ok compile "UD_MALLOC alone is an #error" cc_alloc_error
    expect_ok compile "-std=c11 without POSIX is an #error naming the fix" cc_c11_without_posix
    expect_ok compile "xxHash older than 0.8 is an #error" cc_old_xxhash
    expect_ok compile "single header on its own" cc_single_alone
    expect_ok compile "amalgamate.py deterministic, --check" cc_amalgamate_check
    expect_ok compile ".cpp implementation, g++ C++11 and C++17, run: a task's exception fails it with its what()" \
        cc_cxx_impl "$CXX"
    if command -v "$CLANGXX" >/dev/null; then
        expect_ok compile ".cpp implementation, clang++ C++11 and C++17, run: a task's exception fails it with its what()" \
            cc_cxx_impl "$CLANGXX"
    else
        echo "[compile] SKIP .cpp implementation with clang++: $CLANGXX is not installed (run .ci/setup)"
        skipped=$((skipped + 1))
    fi
    expect_ok compile "without the try/catch, a task's exception ends the program (the test above can fail)" \
        cc_cxx_no_catch
    expect_ok compile "MPI implementation with mpicxx.openmpi, 3 ranks: a task's exception fails it with its what()" \
        cc_cxx_mpi openmpi 3
    expect_ok compile "MPI implementation with mpicxx.mpich, 2 ranks: a task's exception fails it with its what()" \
        cc_cxx_mpi mpich 2
    expect_ok compile "unidist.hpp: owning refs, typed helpers, errors as exceptions" cc_cxx_hpp
    expect_ok compile "unidist.hpp example builds and runs (threads, and MPI on 3 ranks)" cc_cxx_example
    expect_ok compile "make dist header builds alone (threads and MPI)" cc_dist_alone
    expect_ok compile "CMake add_subdirectory consumer builds and runs" cc_cmake_subdir
    expect_ok compile "CMake FetchContent from a local path" cc_cmake_fetch
    expect_ok compile "installed tree: find_package(unidist CONFIG) consumer (threads and MPI)" \
        cc_cmake_package
    expect_ok compile "installed tree: pkg-config consumer (unidist and unidist-mpi)" cc_pkgconfig
    if [ "${CTEST:-0}" = 1 ]; then
        expect_ok compile "ctest passes" cc_ctest
    else
        echo "[compile] SKIP ctest passes: it takes minutes; CTEST=1 runs it"
        skipped=$((skipped + 1))
    fi
}

# ---- C++ -----------------------------------------------------------------------------------
# The implementation in a .cpp file: tests/compile/cxx_throw.cpp throws from tasks and checks
# each failure's message, then runs a task after them.
CXXWARN="-Wall -Wextra -Werror -pedantic"

cc_cxx_impl() {   # compiler
    local std
    for std in c++11 c++17; do
        echo "== $1 -std=$std"
        $1 -std=$std $CXXWARN -O2 -I. "$C/cxx_throw.cpp" -o "$CO/cxx_throw_$std" $LIBS &&
            run_prog "$CO/cxx_throw_$std" || return 1
    done
}

# The same test over a copy of unidist.h whose ud__task_invoke has no try/catch must fail.
cc_cxx_no_catch() {
    rm -rf "$CO/no_catch" && mkdir -p "$CO/no_catch" || return 1
    sed '/^static int ud__task_invoke/,/^}/s/^#ifdef __cplusplus$/#if 0/' unidist.h >"$CO/no_catch/unidist.h"
    if cmp -s unidist.h "$CO/no_catch/unidist.h"; then
        echo "ud__task_invoke's #ifdef __cplusplus not found: update this test"
        return 1
    fi
    $CXX -std=c++11 -I"$CO/no_catch" "$C/cxx_throw.cpp" -o "$CO/cxx_throw_no_catch" $LIBS || return 1
    if run_prog "$CO/cxx_throw_no_catch"; then
        echo "passed without the try/catch"
        return 1
    fi
}

cc_cxx_mpi() {   # mpi ranks
    local bin=$CO/cxx_throw_$1
    "mpicxx.$1" -std=c++11 $CXXWARN -O2 -DWITH_MPI -I. "$C/cxx_throw.cpp" -o "$bin" || return 1
    "${PRIVATE_SHM[@]}" timeout -k "$KILL_AFTER" "$TIMEOUT" "mpiexec.$1" -n "$2" "$bin" </dev/null
}

cc_cxx_hpp() {
    $CXX -std=c++11 $CXXWARN -O2 -I. "$C/cxx_hpp.cpp" -o "$CO/cxx_hpp" $LIBS && run_prog "$CO/cxx_hpp"
}

cc_cxx_example() {
    local bin=$CO/cxx_tasks
    $CXX -std=c++11 $CXXWARN -O2 -I. examples/cxx_tasks.cpp -o "$bin" $LIBS && run_prog "$bin" &&
        mpicxx.openmpi -std=c++17 $CXXWARN -O2 -DWITH_MPI -I. examples/cxx_tasks.cpp -o "$bin"_mpi &&
        "${PRIVATE_SHM[@]}" timeout -k "$KILL_AFTER" "$TIMEOUT" mpiexec.openmpi -n 3 "$bin"_mpi </dev/null
}

# README.md holds exactly the table tests/config_table.c prints (`make readme` rewrites it).
variant_readme() {
    mkdir -p "$OUT"
    if ! $CC $CFLAGS_BASE -I. tests/config_table.c -o "$OUT/config_table" >"$OUT/config_table.log" 2>&1
    then
        show readme "$OUT/config_table.log"
        fail readme "readme config table"
        return
    fi
    "$OUT/config_table" >"$OUT/config_table.md"
    sed -n '/^<!-- config-table -->$/,/^<!-- \/config-table -->$/p' README.md |
        sed '1d;$d' >"$OUT/readme_table.md"
    if diff -u "$OUT/readme_table.md" "$OUT/config_table.md" >"$OUT/readme_table.diff"; then
        pass readme "readme config table"
    else
        show readme "$OUT/readme_table.diff"
        echo "[readme]   run \`make readme\` to regenerate it"
        fail readme "readme config table"
    fi
    readme_blocks
    contents_check
}

# Each header's CONTENTS list names its sections as its banners do, in order, and every
# section of an implementation says what it owns (tests/contents.py).
contents_check() {
    local line
    while IFS= read -r line; do
        case $line in
            PASS\ *) pass readme "${line#PASS }" ;;
            FAIL\ *) fail readme "${line#FAIL }" ;;
            *) echo "[readme]   $line" ;;
        esac
    done < <(python3 tests/contents.py unidist.h unidist_mpi.h unidist_shm.h)
}

# Every code block of the README is real (tests/readme_blocks.py sorts them): programs build
# and run (C ones also under each MPI, with unidist_mpi.h: the README says the program is the
# same), translation units and statements compile, and the shell commands marked to run do,
# from a fresh copy of the repository's files.
readme_blocks() {
    local dir=$OUT/readme f
    rm -rf "$dir" && mkdir -p "$dir"
    if ! python3 tests/readme_blocks.py README.md "$dir" || [ -z "$(ls "$dir")" ]; then
        fail readme "README code blocks found"
        return
    fi
    for f in "$dir"/*; do
        case $f in
            *.prog.c)   expect_ok readme "README block ${f##*/}: builds and runs" readme_c_prog "$f" ;;
            *.prog.cpp) expect_ok readme "README block ${f##*/}: builds and runs" readme_cpp_prog "$f" ;;
            *.unit.c)   expect_ok readme "README block ${f##*/}: compiles" \
                            $CC $CFLAGS_BASE -I. -c "$f" -o "$f.o" ;;
            *.body.c)   expect_ok readme "README block ${f##*/}: compiles as main's body" readme_c_body "$f" ;;
            *.run.sh)   expect_ok readme "README block ${f##*/}: runs from a fresh copy" readme_sh "$f" ;;
        esac
    done
}

readme_c_prog() {
    local f=$1 mpi
    $CC $CFLAGS_BASE -O2 -I. "$f" -o "$f.bin" $LIBS && run_prog "$f.bin" || return 1
    sed 's|#include "unidist.h"|#include "unidist_mpi.h"|' "$f" >"$f.mpi.c"
    for mpi in openmpi mpich; do
        "mpicc.$mpi" $CFLAGS_BASE -O2 -I. "$f.mpi.c" -o "$f.$mpi" &&
            run_prog "mpiexec.$mpi" -n 3 "$f.$mpi" || return 1
    done
}

readme_cpp_prog() {
    $CXX -std=c++11 -O2 -Wall -Wextra -Werror -I. "$1" -o "$1.bin" $LIBS && run_prog "$1.bin"
}

readme_c_body() {
    { printf '#define UNIDIST_IMPLEMENTATION\n#include "unidist.h"\n#include <stdio.h>\nint main(void) {\n'
      cat "$1"; printf '    return 0;\n}\n'; } >"$1.main.c"
    $CC $CFLAGS_BASE -I. -c "$1.main.c" -o "$1.o"
}

# Shell commands as a new user types them: in a copy of the tracked files (no build/ yet).
readme_sh() {
    local copy=$OUT/readme/copy script
    script=$(realpath "$1") && rm -rf "$copy" && mkdir -p "$copy" || return 1
    if [ -d .git ] && command -v git >/dev/null; then
        git ls-files -z | xargs -0 cp --parents -t "$copy" || return 1
    else
        tar --exclude=./build -cf - . | tar -xf - -C "$copy" || return 1
    fi
    (cd "$copy" && timeout -k "$KILL_AFTER" "$TIMEOUT" bash -e "$script" </dev/null)
}

# MPICH under ThreadSanitizer: UCX's memory hooks crash ThreadSanitized threads at exit unless
# they are off, and then MPICH leaves the files of its shared windows in /dev/shm (a plain
# MPI program that allocates one does too). The shared store's tests skip their leftover
# check here, saying why, and the files this variant left are removed after it.
mpich_tsan() {
    local before after f
    before=$(ls /dev/shm 2>/dev/null)
    UCX_MEM_EVENTS=no UT_SHM_LEFTOVERS="MPICH under ThreadSanitizer leaves its window files" \
        mpi_variant mpich-tsan mpich 3x2 mpi "-O1 -fsanitize=thread"
    after=$(ls /dev/shm 2>/dev/null)
    for f in $after; do
        case $f in mpich_shar_tmp*) ;; *) continue ;; esac
        echo "$before" | grep -qx "$f" && continue
        grep -qs "/dev/shm/$f" /proc/[0-9]*/maps || rm -f "/dev/shm/$f"
    done
}

# Out of memory at every allocation site of tests/oom.c, on the driver, the monitor's rank and
# a worker, once and for good (tests/oom_sweep.sh): no hang, crash, wrong value or leak.
oom_variant() {   # name mpi
    local name=$1 mpi=$2 rc
    if ! command -v "mpicc.$mpi" >/dev/null || ! command -v "mpiexec.$mpi" >/dev/null; then
        fail "$name" "mpicc.$mpi or mpiexec.$mpi is not installed (run .ci/setup)"
        return
    fi
    mkdir -p "$OUT/$name"
    bash tests/oom_sweep.sh "$mpi" "$OUT/$name" >"$OUT/$name/sweep.log" 2>&1
    rc=$?
    record_run "$name" oom "$OUT/$name/sweep.log" "$rc" "${OOM_TIMEOUT:-20}"
    check_left_behind "$name oom" "$OUT/$name/oom"
}

# A rank killed while the driver waits on it (tests/kill.c): the driver's, the monitor's and a
# worker's. The job ends within KILL_LIMIT seconds and leaves no process and, as root, no file
# in its own /dev/shm; and the launcher's own lines (not the program's "kill: rank N is pid P")
# name the process: Open MPI's "process rank N", MPICH 4.0's Hydra a pid. Hydra ends the other
# ranks with SIGKILL too and names the lowest rank among them, so a pid of the job other than
# the victim's is a SKIP of that check (a pid of no rank of the job is a FAIL).
KILL_LIMIT=${KILL_LIMIT:-15}
kill_variant() {   # name mpi
    local name=$1 mpi=$2 dir=$OUT/$1 victim log t0 secs rc pid left named who
    mkdir -p "$dir"
    if ! "mpicc.$mpi" $CFLAGS_BASE -O2 -I. tests/kill.c -o "$dir/kill" $LIBS >"$dir/kill.build.log" 2>&1; then
        show "$name" "$dir/kill.build.log"
        fail "$name" "build"
        return
    fi
    if [ ${#PRIVATE_SHM[@]} -eq 0 ]; then
        echo "[$name] SKIP what a killed job leaves in /dev/shm: not root (no /dev/shm of its own)"
        skipped=$((skipped + 1))
    fi
    for victim in 0 1 2; do
        log=$dir/kill.$victim.log
        t0=$(date +%s.%N)
        # the job, then what it left in its /dev/shm, in the same mount namespace
        # (without a /dev/shm of its own, other jobs' files would show: the check is off then)
        KILL_RANK=$victim OWN_SHM=${#PRIVATE_SHM[@]} "${PRIVATE_SHM[@]:-env}" sh -c 'timeout -k 5 "$0" "$@" </dev/null;
            rc=$?; sleep 0.5; echo "kill: exit $rc"; [ "$OWN_SHM" -gt 0 ] || exit 0
            for f in /dev/shm/*; do [ -e "$f" ] && echo "kill: left $f"; done' \
            "$((KILL_LIMIT * 4))" "mpiexec.$mpi" -n 3 "$dir/kill" >"$log" 2>&1
        secs=$(printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc)")
        rc=$(sed -n 's/^kill: exit //p' "$log")
        left=$(own_pids "$dir/kill")
        [ -n "$left" ] && kill -9 $left 2>/dev/null
        if [ "${rc:-0}" -ne 0 ] && [ "$(echo "$secs <= $KILL_LIMIT" | bc)" -eq 1 ] &&
            ! grep -q "^kill: left" "$log" && ! grep -q "job went on" "$log" && [ -z "$left" ]; then
            pass "$name" "rank $victim killed: the job ended in $secs s, leaving nothing"
        else
            show "$name" "$log"
            [ -n "$left" ] && echo "[$name]   left behind: $(echo $left)"
            fail "$name" "rank $victim killed: exit ${rc:-?} after $secs s (limit ${KILL_LIMIT} s)"
        fi
        pid=$(sed -n "s/^kill: rank $victim is pid //p" "$log")
        if [ "$mpi" = openmpi ]; then
            named=$(grep -v '^kill: ' "$log" | grep -oE 'process rank [0-9]+' | head -n 1)
            named=${named#process rank }
            who="rank ${named:-none}"
        else
            named=$(grep -v '^kill: ' "$log" | grep -oE 'PID [0-9]+ RUNNING' | head -n 1 | tr -dc 0-9)
            who="pid ${named:-none}"
            [ -n "$named" ] && [ "$named" != "$pid" ] &&
                named=$(sed -n "s/^kill: rank \([0-9]*\) is pid $named\$/\1/p" "$log")
            [ -n "$named" ] && [ "$named" = "$pid" ] && named=$victim
        fi
        if [ "${named:-x}" = "$victim" ]; then
            pass "$name" "rank $victim killed: the launcher names it ($who)"
        elif [ "$mpi" = mpich ] && [ -n "$named" ]; then
            echo "[$name] SKIP rank $victim killed: the launcher names it (Hydra named rank $named, $who: it names the lowest rank of those it saw end badly)"
            skipped=$((skipped + 1))
        else
            show "$name" "$log"
            fail "$name" "rank $victim killed: the launcher names it (it named $who; rank $victim is pid ${pid:-?})"
        fi
    done
    exit_cases "$name" "$mpi" "$dir"
}

# A task's exit(), a task's crash (SIGSEGV, abort) and a driver that leaves main without
# ud_shutdown (tests/exit.c): the job ends within KILL_LIMIT, with the runtime's message
# naming the task (its rank and host) or the rank, no crash inside MPI, and nothing left; and
# a task's exit() on the threads backend (built with cc).
exit_cases() {   # name mpi dir
    local name=$1 mpi=$2 dir=$3 case log t0 secs left want bad
    if ! "mpicc.$mpi" $CFLAGS_BASE -O2 -DUT_MPI -I. tests/exit.c -o "$dir/exit" $LIBS >"$dir/exit.build.log" 2>&1 ||
        ! $CC $CFLAGS_BASE -O2 -I. tests/exit.c -o "$dir/exit_threads" $LIBS >>"$dir/exit.build.log" 2>&1; then
        show "$name" "$dir/exit.build.log"
        fail "$name" "exit: build"
        return
    fi
    for case in task main segv abort threads; do
        log=$dir/exit.$case.log
        t0=$(date +%s.%N)
        if [ "$case" = threads ]; then
            EXIT_CASE=task timeout -k 5 "$KILL_LIMIT" "$dir/exit_threads" </dev/null >"$log" 2>&1
        else
            EXIT_CASE=$case "${PRIVATE_SHM[@]:-env}" timeout -k 5 "$((KILL_LIMIT * 4))" \
                "mpiexec.$mpi" -n 3 "$dir/exit" </dev/null >"$log" 2>&1
        fi
        secs=$(printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc)")
        left=$(own_pids "$dir/exit")
        [ -n "$left" ] && kill -9 $left 2>/dev/null
        # a task's crash is the one signal the job may report; nothing else may crash
        bad="assertion|segmentation|signal 11|backtrace|went on"
        case $case in
            main)  want="rank 0 left main (or called exit) while the runtime runs" ;;
            segv)  want="task 'crasher' crashed (SIGSEGV) on rank 1, host "; bad="assertion|went on" ;;
            abort) want="task 'crasher' crashed (SIGABRT) on rank 1, host "; bad="assertion|segmentation|signal 11|went on" ;;
            *)     want="task 'quitter' called exit() on rank" ;;
        esac
        if grep -qF "$want" "$log" && ! grep -qiE "$bad" "$log" &&
            [ "$(echo "$secs <= $KILL_LIMIT" | bc)" -eq 1 ] && [ -z "$left" ]; then
            pass "$name" "exit ($case): the job ended in $secs s, naming why"
        else
            show "$name" "$log"
            [ -n "$left" ] && echo "[$name]   left behind: $(echo $left)"
            fail "$name" "exit ($case): after $secs s (limit $KILL_LIMIT s), want \"$want\""
        fi
    done
}

# ---- fuzz targets -------------------------------------------------------------------------
# Each tests/fuzz/fuzz_*.c (a decoder of received messages, over the stub MPI in tests/fuzz)
# runs for FUZZ_SECONDS on a temporary copy of its seeds: the committed ones and those
# tests/fuzz/gen_seeds.c makes now. A crash, a leak or a hang is a FAIL, with its report.
variant_fuzz() {
    # (memory a rank's stream needs is asked for again for a second before the job ends: the
    # fuzz inputs that ask for too much would each cost that second)
    local dir=$OUT/fuzz src t tmp rc flags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -DUD__MEMORY_PATIENCE=0.001 -fsanitize-coverage-ignorelist=tests/fuzz/coverage.ignore"
    mkdir -p "$dir"
    if ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return (int)(d && n); }' |
        $FUZZ_CC $flags -x c - -o "$dir/probe" >"$dir/probe.log" 2>&1; then
        skip_variant fuzz "$FUZZ_CC with libFuzzer is not installed"
        return
    fi
    expect_ok fuzz "seed generator" $CC $CFLAGS_BASE -Itests/fuzz -I. tests/fuzz/gen_seeds.c \
        tests/fuzz/mpi_stub.c -o "$dir/gen_seeds" $LIBS
    for src in tests/fuzz/fuzz_*.c; do
        t=$(basename "$src" .c)
        # shellcheck disable=SC2086
        if ! $FUZZ_CC $flags $WARN -Itests/fuzz -I. "$src" tests/fuzz/mpi_stub.c -o "$dir/$t" $LIBS \
            >"$dir/$t.build.log" 2>&1; then
            show "fuzz $t" "$dir/$t.build.log"
            fail fuzz "$t build"
            continue
        fi
        tmp=$(mktemp -d) && mkdir "$tmp/corpus" "$tmp/gen" &&
            cp "tests/fuzz/corpus/${t#fuzz_}"/* "$tmp/corpus/" 2>/dev/null
        [ -x "$dir/gen_seeds" ] && "$dir/gen_seeds" "$tmp/gen" >/dev/null 2>&1 &&
            cp "$tmp/gen/${t#fuzz_}"/* "$tmp/corpus/" 2>/dev/null
        timeout -k "$KILL_AFTER" $((FUZZ_SECONDS + 120)) "$dir/$t" -max_total_time="$FUZZ_SECONDS" \
            -timeout=60 -artifact_prefix="$tmp/" "$tmp/corpus" >"$dir/$t.log" 2>&1 </dev/null
        rc=$?
        if [ "$rc" -eq 0 ]; then
            echo "[fuzz $t]   $(grep -E '^#[0-9]+' "$dir/$t.log" | tail -n 1)"
            pass fuzz "$t"
        else
            tail -n "$SHOW_LINES" "$dir/$t.log" | sed "s|^|[fuzz $t]   |"
            cp "$tmp"/crash-* "$tmp"/leak-* "$tmp"/timeout-* "$tmp"/slow-unit-* "$dir/" 2>/dev/null
            echo "[fuzz $t]   exit status $rc; the input that failed is kept in $dir"
            fail fuzz "$t"
        fi
        rm -rf "$tmp"
    done
}

# ---- the variants -----------------------------------------------------------------------
run_named_variant() {
    case $1 in
        default) run_variant default "$CC" "$CFLAGS_BASE -O2 -I." "" "$TIMEOUT" ;;
        rr)      UNIDIST_SCHEDULER=round_robin run_variant rr "$CC" "$CFLAGS_BASE -O2 -I." "" "$TIMEOUT" ;;
        single)  variant_single ;;
        asan)    run_variant asan "$CC" \
                     "$CFLAGS_BASE -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all -I." \
                     "" "$SAN_TIMEOUT" ;;
        tsan)    run_variant tsan "$TSAN_CC" "$CFLAGS_BASE -O1 -fsanitize=thread -I." \
                     "" "$SAN_TIMEOUT" ;;
        compile) variant_compile ;;
        readme)  variant_readme ;;
        fuzz)    variant_fuzz ;;
        ompi-[0-9]*)  mpi_variant "$1" openmpi "${1#ompi-}" mpi ;;
        mpich-[0-9]*) mpi_variant "$1" mpich "${1#mpich-}" mpi ;;
        # a small chunk and inline limit, with checksums: every part crosses as many messages
        ompi-chunk)   mpi_variant "$1" openmpi 4 mpi "-DUD_MPI_CHUNK_SIZE=4096 -DUD_MPI_INLINE_MAX=512 -DUD_CHECKSUM=1" ;;
        mpich-chunk)  mpi_variant "$1" mpich 4 mpi "-DUD_MPI_CHUNK_SIZE=4096 -DUD_MPI_INLINE_MAX=512 -DUD_CHECKSUM=1" ;;
        # MPI libraries leak at finalize: leak checks are off here, and the MPI tests count
        # the runtime's own bytes through the allocator hooks instead
        ompi-asan)    ASAN_OPTIONS=detect_leaks=0:halt_on_error=1 mpi_variant "$1" openmpi 4 mpi "-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" ;;
        mpich-asan)   ASAN_OPTIONS=detect_leaks=0:halt_on_error=1 mpi_variant "$1" mpich 4 mpi "-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" ;;
        # worker ranks of 2 task threads under ThreadSanitizer: the hand-offs between a
        # worker's loop thread and its task threads. Open MPI's own lock orders are suppressed
        # (tests/tsan_mpi.supp); UCX's memory hooks crash ThreadSanitized threads at exit
        # under MPICH unless they are off.
        ompi-tsan)    TSAN_OPTIONS="$TSAN_OPTIONS:suppressions=$PWD/tests/tsan_mpi.supp" \
                      mpi_variant "$1" openmpi 3x2 mpi "-O1 -fsanitize=thread" ;;
        mpich-tsan)   mpich_tsan ;;
        ompi-kill)    kill_variant "$1" openmpi ;;
        mpich-kill)   kill_variant "$1" mpich ;;
        ompi-oom)     oom_variant "$1" openmpi ;;
        mpich-oom)    oom_variant "$1" mpich ;;
        ompi-hosts)   hosts_variant "$1" openmpi "$OMPI_HOST_LAYOUTS" ;;
        mpich-hosts)  if [ -n "$TESTS" ] || [ "$MPICH_HOST_TESTS" = all ]; then
                          hosts_variant "$1" mpich "$MPICH_HOST_LAYOUTS"
                      else
                          TESTS=$MPICH_HOST_TESTS hosts_variant "$1" mpich "$MPICH_HOST_LAYOUTS"
                      fi ;;
        ompi-big)     mpi_variant "$1" openmpi 4 big ;;
        mpich-big)    mpi_variant "$1" mpich 3 big ;;
        *) fail "$1" "unknown variant (known: $ALL_VARIANTS)" ;;
    esac
}

mkdir -p "$OUT" && : >"$OUT/times"
for v in $VARIANTS; do
    echo "== $v"
    t0=$SECONDS
    run_named_variant "$v"
    echo "== $v took $((SECONDS - t0)) s"
done

# the programs that took longest, for whoever keeps the suite inside its time
sort -k3 -n -r "$OUT/times" 2>/dev/null | head -n 12 | awk 'NR == 1 { printf "longest runs:" } { printf " %s %s %ss;", $1, $2, $3 } END { if (NR) print "" }'
[ ${#skipped_whole[@]} -gt 0 ] && printf 'skipped whole: %s\n' "${skipped_whole[@]}"
[ "$failed" -gt 0 ] && printf 'failed: %s\n' "${failures[@]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
