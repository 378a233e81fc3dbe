#!/usr/bin/env bash
# Out of memory at every allocation site of a representative program (tests/oom.c), on the
# driver, on the monitor's rank and on a worker, failing once and failing for good, under one
# MPI. Each site ends in one of:
#   clean    every call gave UD_OK or UD_ERR_NOMEM, every value got was right, no byte leaked
#   failed   the same, and some task failed with "out of memory" (a value, as a task failure is)
#   ended    the job ended at once, deliberately, the injected rank naming itself and the cause
#            (only where that rank's stream of messages could not be kept whole)
# and never in a hang, a crash, a wrong value, a leak or a process left behind. One job runs a
# phase a site (init to shutdown, memory back in between); a site that ends its job is followed
# by a new job from the next site. Prints a PASS or FAIL line per role and mode with the counts,
# details of every bad site, and exits non-zero when there was one.
#
#   tests/oom_sweep.sh MPI DIR        MPI: openmpi or mpich; DIR: build and logs
#   OOM_TIMEOUT=20                    seconds a job may take, and 3 more a site (a hang: FAIL)
#   OOM_ROLES="driver:0 monitor:1 worker:2"
#   OOM_BUILD="--coverage tests/gcov_flush.c"   more compiler arguments (tests/coverage.sh)
set -uo pipefail
cd "$(dirname "$0")/.."
mpi=${1:?usage: tests/oom_sweep.sh openmpi|mpich DIR}
dir=${2:?usage: tests/oom_sweep.sh openmpi|mpich DIR}
T=${OOM_TIMEOUT:-20}
ROLES=${OOM_ROLES:-"driver:0 monitor:1 worker:2"}
RANKS=3   # the driver, rank 1 (a worker with the monitor's duty), rank 2 (a worker)
bin=$dir/oom
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

mkdir -p "$dir"
# shellcheck disable=SC2086
if ! "mpicc.$mpi" -std=gnu11 -O2 -g -Wall -Wextra -Werror -I. tests/oom.c ${OOM_BUILD:-} -o "$bin" -pthread -ldl \
        >"$bin.build.log" 2>&1; then
    cat "$bin.build.log"
    echo "FAIL oom: build"
    exit 1
fi

# As root, each job has a /dev/shm of its own: what a job that ended leaves goes with it.
. tests/private_shm.sh

# job MODE RANK LIST FIRST LIMIT: one job; sets out (its output) and rc.
job() {
    out=$(UT_OOM_MODE=$1 UT_OOM_RANK=$2 UT_OOM_LIST=$3 UT_OOM_FIRST=$4 \
          "${PRIVATE_SHM[@]:-env}" timeout -k 5 "$5" "mpiexec.$mpi" -n $RANKS "$bin" 2>&1 </dev/null)
    rc=$?
}

# The functions of site K of the list (offsets in the program), innermost first.
site_text() {   # list k
    local a b c
    IFS=: read -r a b c < <(sed -n "$(($2 + 1))p" "$1" | cut -d' ' -f1)
    addr2line -f -e "$bin" "0x$a" "0x$b" "0x$c" 2>/dev/null | awk 'NR % 2 == 1' | paste -sd '<'
}

# Reads a job's output from site FIRST on: prints "K class" for every site it finished, then
# "K end" for the site it did not finish (none when it finished them all).
sites_of_job() {   # first
    awk -v k="$1" '
        /^oom: BAD site [0-9]+,/ { s = $4; sub(",", "", s); wrong[s] = 1; next }
        /^oom: BAD/ { pending = 1; next }
        /^oom: site [0-9]+ was not reached/ { print $3, "unreached"; next }
        /^oom: site [0-9]+:/ {
            s = $3; sub(":", "", s)
            cls = /tasks failed [1-9]/ ? "failed" : "clean"
            if (pending || wrong[s]) cls = "wrong"
            pending = 0
            print s, cls
            if (s + 0 >= k) k = s + 1
        }
        END { print k, "end" }' <<<"$out"
}

# How the job that did not finish site K ended: ended, hung or crashed.
job_end() {   # rank
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then echo hung
    elif grep -qE "^\[ud r$1\] ERROR: .*memory" <<<"$out"; then echo ended
    else echo crashed
    fi
}

bad_total=0
for role in $ROLES; do
    name=${role%%:*}
    rank=${role#*:}
    list=$dir/sites.$name
    rm -f "$list"
    job count "$rank" "$list" 0 "$T"
    if [ "$rc" -ne 0 ] || [ ! -s "$list" ]; then
        echo "  the program without injection did not run clean on rank $rank (exit $rc):"
        head -n 30 <<<"$out" | sed 's/^/    /'
        echo "FAIL oom $name: counting its allocation sites"
        bad_total=$((bad_total + 1))
        continue
    fi
    nsites=$(wc -l <"$list")
    for mode in once always; do
        declare -A n=([clean]=0 [failed]=0 [ended]=0 [hung]=0 [wrong]=0 [crashed]=0 [unreached]=0)
        first=0 jobs=0
        while [ "$first" -lt "$nsites" ]; do
            job "$mode" "$rank" "$list" "$first" $((T + 3 * (nsites - first)))
            jobs=$((jobs + 1))
            next=$nsites
            while read -r k c; do
                [ "$k" -ge "$nsites" ] && break
                if [ "$c" = unreached ]; then   # counted apart; its line of results follows
                    n[unreached]=$((n[unreached] + 1))
                    continue
                fi
                if [ "$c" = end ]; then
                    c=$(job_end "$rank")
                    next=$((k + 1))
                fi
                n[$c]=$((n[$c] + 1))
                case $c in
                    clean|failed|ended) ;;
                    *)  echo "  $name $mode: $c at site $k ($(site_text "$list" "$k")), job exit $rc:"
                        grep -v "^oom: site" <<<"$out" | head -n 20 | sed 's/^/    /' ;;
                esac
            done < <(sites_of_job "$first")
            first=$next
            left=$(for p in $(pgrep -f "(^|/)$bin( |\$)"); do   # this checkout's, not another's
                       [ "$(readlink "/proc/$p/cwd" 2>/dev/null)" = "$PWD" ] && echo "$p"; done)
            if [ -n "$left" ]; then
                kill -9 $left 2>/dev/null
                echo "  $name $mode: processes left behind after site $((first - 1)): $(echo $left)"
                n[crashed]=$((n[crashed] + 1))
            fi
        done
        summary="$name, $mode: $nsites sites in $jobs jobs: ${n[clean]} clean, ${n[failed]} a task failed, ${n[ended]} ended the job, ${n[hung]} hung (${n[unreached]} not reached this time)"
        bad=$((n[hung] + n[wrong] + n[crashed]))
        [ $((n[wrong] + n[crashed])) -gt 0 ] && summary="$summary, ${n[wrong]} wrong, ${n[crashed]} crashed or left processes"
        if [ "$bad" -eq 0 ]; then echo "PASS oom $summary"; else echo "FAIL oom $summary"; fi
        bad_total=$((bad_total + bad))
    done
done
[ "$bad_total" -eq 0 ]
