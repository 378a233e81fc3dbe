#!/usr/bin/env bash
# Simulated hosts on one machine, for running MPI programs across hosts (root only).
#
#   tests/hosts/hosts.sh check            can hosts be made here? (else says why, exit 1)
#   tests/hosts/hosts.sh up               make the hosts
#   tests/hosts/hosts.sh run MPI LAYOUT PROGRAM [ARGS...]
#                                         run PROGRAM under MPI (openmpi | mpich) with LAYOUT
#                                         ranks per host ("3,2,1"), then report what it left
#   tests/hosts/hosts.sh down             end whatever runs in them and remove them
#
# Each host (UD_HOSTS, default "udA udB udC") is a network namespace joined by a veth pair to
# the bridge br-ud (10.203.0.0/24, no route out) and has a hostname, System V IPC and /dev/shm
# (a tmpfs) of its own, kept as namespace files in UD_HOSTS_DIR (default /run/ud-hosts): MPI
# sees separate nodes, MPI_COMM_TYPE_SHARED splits by host and no shared memory spans two.
# Ranks start through tests/hosts/rsh, the stand-in for ssh that both MPIs' launchers call.
#
# After a run, `run` prints a "FAIL left ..." line for each process of the job still alive in
# a host (it is killed), each new name in a host's /dev/shm and each new IPC object, and
# exits with the program's status. Under MPICH a job whose every live rank is inside
# MPI_Finalize for UD_FINALIZE_WAIT seconds (default 20) after its output stopped is ended,
# and tests/hosts/plain.c (no unidist: an allreduce, then MPI_Finalize) runs in the same
# layout as a control, up to UD_CONTROL_RUNS times: when it hangs in MPI_Finalize too, "SKIP
# finalize hang" (Debian's MPICH 4.0.2 over UCX on TCP), exit 0 when the job printed no FAIL
# line; when it never does, the hang is the job's own: a FAIL line. The leftover checks run
# either way.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HOSTS=${UD_HOSTS:-udA udB udC}
D=${UD_HOSTS_DIR:-/run/ud-hosts}
# UD_HOSTS_NET and UD_HOSTS_BRIDGE (with other UD_HOSTS and UD_HOSTS_DIR) make a second set of
# hosts beside the suite's, as tests/coverage.sh does
NET=${UD_HOSTS_NET:-10.203.0}
BRIDGE=${UD_HOSTS_BRIDGE:-br-ud}

check() {
    local why=""
    if [ "$(id -u)" -ne 0 ]; then why="not root"
    elif ! command -v ip >/dev/null; then why="no ip command (iproute2)"
    elif ! command -v unshare >/dev/null || ! command -v nsenter >/dev/null; then why="no unshare/nsenter (util-linux)"
    elif ip netns del ud-probe 2>/dev/null; ! ip netns add ud-probe 2>/dev/null; then why="ip netns add fails"
    else
        ip netns del ud-probe
        unshare --mount --uts --ipc --propagation private -- sh -c 'mount -t tmpfs t /dev/shm' 2>/dev/null ||
            why="unshare of mount, UTS and IPC namespaces fails"
    fi
    [ -z "$why" ] && return 0
    echo "$why"
    return 1
}

up() {
    local h i=1
    down >/dev/null 2>&1
    set -e
    ip link add $BRIDGE type bridge
    ip addr add $NET.1/24 dev $BRIDGE
    ip link set $BRIDGE up
    mkdir -p "$D"
    mountpoint -q "$D" || mount --bind "$D" "$D"
    mount --make-private "$D"
    for h in $HOSTS; do
        i=$((i + 1))
        ip netns add "$h"
        ip link add "v-$h" type veth peer name eth0 netns "$h"
        ip link set "v-$h" master $BRIDGE
        ip link set "v-$h" up
        ip netns exec "$h" ip link set lo up
        ip netns exec "$h" ip addr add "$NET.$i/24" dev eth0
        ip netns exec "$h" ip link set eth0 up
        touch "$D/$h.mnt" "$D/$h.uts" "$D/$h.ipc"
        # the host's own hostname and /dev/shm, and its network's sysfs (MPI reads interfaces
        # there); the copies of $D and /run/netns in it are let go, so no host pins another's
        unshare --mount="$D/$h.mnt" --uts="$D/$h.uts" --ipc="$D/$h.ipc" --propagation private -- \
            sh -c 'set -e; hostname "$1"; mount -t tmpfs -o size=6g,mode=1777 "shm-$1" /dev/shm
                   nsenter --net="/run/netns/$1" sh -c "umount -l /sys && mount -t sysfs sysfs /sys"
                   umount -l "$2" 2>/dev/null || true; umount -l /run/netns 2>/dev/null || true' \
            sh "$h" "$D"
    done
    set +e
}

down() {
    local h k pids
    for h in $HOSTS; do
        pids=$(ip netns pids "$h" 2>/dev/null)
        [ -n "$pids" ] && kill -9 $pids 2>/dev/null
        for k in mnt uts ipc; do
            [ -e "$D/$h.$k" ] && { umount "$D/$h.$k" 2>/dev/null; rm -f "$D/$h.$k"; }
        done
        ip netns del "$h" 2>/dev/null
        ip link del "v-$h" 2>/dev/null
    done
    ip link del $BRIDGE 2>/dev/null
    if [ -d "$D" ] && [ -z "$(ls -A "$D")" ]; then umount "$D" 2>/dev/null; rmdir "$D"; fi
    true
}

in_host() { local h=$1; shift; nsenter --net="/run/netns/$h" --mount="$D/$h.mnt" --uts="$D/$h.uts" --ipc="$D/$h.ipc" -- "$@"; }
shm_names() { in_host "$1" ls -A /dev/shm 2>/dev/null | sort; }
ipc_ids() { in_host "$1" ipcs 2>/dev/null | awk '/^0x/ {print $1, $2}' | sort; }
job_pids() { local h; for h in $HOSTS; do ip netns pids "$h" 2>/dev/null; done; }

# The launcher's command line for MPI (openmpi | mpich) over the hosts of LAYOUT: sets cmd, n.
launcher() {   # mpi layout
    local h c i=0 list=""
    local -a counts
    IFS=, read -r -a counts <<<"$2"
    n=0
    for h in $HOSTS; do
        c=${counts[$i]:-0}; i=$((i + 1))
        [ "$c" -gt 0 ] || continue
        list="${list:+$list,}$h:$c"; n=$((n + c))
    done
    case $1 in
    openmpi) export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
             cmd=(mpiexec.openmpi --host "$list" -n "$n" --mca plm_rsh_agent "$here/rsh"
                  --mca oob_tcp_if_include $NET.0/24 --mca pml ob1 --mca btl tcp,self,vader
                  --mca btl_tcp_if_include $NET.0/24) ;;
    mpich)   cmd=(mpiexec.mpich -hosts "$list" -n "$n" -launcher ssh -launcher-exec "$here/rsh"
                  -iface $BRIDGE) ;;
    *) return 1 ;;
    esac
}

# Runs cmd (n ranks of prog) in the background, its output to out: sets job.
start() { "${cmd[@]}" "$@" >"$out" 2>&1 </dev/null & job=$!; }

# Waits for job; under MPICH, a job whose every rank has sat in MPI_Finalize for
# UD_FINALIZE_WAIT quiet seconds is killed and wait_job returns 99.
wait_job() {   # mpi prog n
    local last=-1 quiet=0 sz
    while kill -0 "$job" 2>/dev/null; do
        sleep 0.5
        sz=$(stat -c %s "$out")
        if [ "$sz" != "$last" ]; then last=$sz; quiet=0; continue; fi
        quiet=$((quiet + 1))
        [ "$1" = mpich ] && [ $quiet -ge $((2 * ${UD_FINALIZE_WAIT:-20})) ] || continue
        quiet=0 # gdb stops the ranks it looks at: once a quiet spell at most
        if ! grep -q '^FAIL ' "$out" && all_in_finalize "$(basename "$2")" "$3"; then
            kill -9 $(job_pids) 2>/dev/null; kill -9 "$job" 2>/dev/null
            wait "$job" 2>/dev/null
            return 99
        fi
    done
    wait "$job"
}

# tests/hosts/plain.c under MPI in the same layout, up to UD_CONTROL_RUNS times (default 8:
# here it hangs in about half its runs): 99 at its first hang in MPI_Finalize, else the status
# of its last run (0: it never hung).
control() {   # mpi layout
    local cmd n job out rc=2 k i bin=$D/plain-$1
    [ -x "$bin" ] || "mpicc.$1" -O2 -o "$bin" "$here/plain.c" || return 2
    launcher "$1" "$2" || return 2
    for k in $(seq "${UD_CONTROL_RUNS:-8}"); do
        out=$(mktemp)
        start "$bin"
        wait_job "$1" "$bin" "$n"; rc=$?
        sed "s/^/control run $k: /" "$out"; rm -f "$out"
        for i in $(seq 50); do [ -z "$(job_pids)" ] && break; sleep 0.1; done
        kill -9 $(job_pids) 2>/dev/null
        [ "$rc" -eq 99 ] && break
    done
    return $rc
}

# All n ranks of the job (processes running prog in a host) are alive and inside MPI_Finalize.
all_in_finalize() {   # prog n
    local p ranks=()
    for p in $(job_pids); do
        grep -qF "$1" "/proc/$p/cmdline" 2>/dev/null && ranks+=("$p")
    done
    [ "${#ranks[@]}" -eq "$2" ] || return 1
    for p in "${ranks[@]}"; do
        timeout 20 gdb -q -batch -p "$p" -ex 'thread apply all bt 12' 2>/dev/null |
            grep -q 'MPI_Finalize\|ompi_mpi_finalize' || return 1
    done
}

run() {
    local mpi=$1 layout=$2 prog=$3 h c n rc hung=0 job out i crc
    local -a cmd counts
    shift 2
    declare -A shm0 ipc0
    launcher "$mpi" "$layout" || { echo "FAIL hosts.sh: MPI is openmpi or mpich, not '$mpi'"; return 2; }
    IFS=, read -r -a counts <<<"$layout"
    i=0
    for h in $HOSTS; do
        c=${counts[$i]:-0}; i=$((i + 1))
        [ "$c" -gt 0 ] || continue
        shm0[$h]=$(shm_names "$h"); ipc0[$h]=$(ipc_ids "$h")
    done
    out=$(mktemp)
    trap 'kill -TERM $job 2>/dev/null; kill -9 $(job_pids) 2>/dev/null; rm -f "$out"; exit 143' TERM INT
    start "$@"
    wait_job "$mpi" "$prog" "$n"; rc=$?
    cat "$out"; rm -f "$out"
    [ "$rc" -eq 99 ] && { hung=1; rc=0; }
    for i in $(seq 50); do [ -z "$(job_pids)" ] && break; sleep 0.1; done # launchers ending on other hosts
    for h in $(job_pids); do
        echo "FAIL left a process: $h $(tr '\0' ' ' </proc/$h/cmdline 2>/dev/null)"
        kill -9 "$h" 2>/dev/null; rc=1
    done
    for h in $HOSTS; do
        [ -n "${shm0[$h]+x}" ] || continue
        for c in $(comm -13 <(echo "${shm0[$h]}") <(shm_names "$h")); do echo "FAIL left in $h /dev/shm: $c"; rc=1; done
        while read -r c; do [ -n "$c" ] && { echo "FAIL left in $h IPC: $c"; rc=1; }; done \
            < <(comm -13 <(echo "${ipc0[$h]}") <(ipc_ids "$h"))
    done
    [ "$hung" -eq 1 ] || return $rc
    control "$mpi" "$layout"; crc=$?
    if [ "$crc" -eq 99 ]; then
        echo "SKIP finalize hang: all $n ranks sat in MPI_Finalize, and so did a plain MPI program's (tests/hosts/plain.c) in the same layout (Debian's MPICH over UCX on TCP)"
    else
        echo "FAIL finalize hang: all $n ranks sat in MPI_Finalize, while a plain MPI program in the same layout did not in ${UD_CONTROL_RUNS:-8} runs (last status $crc)"
        rc=1
    fi
    return $rc
}

case ${1:-} in
check) check ;;
up) up ;;
down) down ;;
run) shift; run "$@" ;;
*) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
