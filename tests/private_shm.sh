# Sourced by tests/run.sh and tests/oom_sweep.sh. As root, PRIVATE_SHM is a command prefix that
# runs a program in a mount namespace of its own, on a /dev/shm of its own: leftover checks then
# see only what that run made, whatever else runs on the machine, and nothing it leaves outlives
# it; the program sees UT_OWN_SHM=1 then, and may fill that /dev/shm. Otherwise it is empty.
PRIVATE_SHM=()
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null &&
    unshare --mount --propagation private -- sh -c 'mount -t tmpfs tmpfs /dev/shm' 2>/dev/null; then
    PRIVATE_SHM=(unshare --mount --propagation private -- sh -c 'mount -t tmpfs tmpfs /dev/shm && export UT_OWN_SHM=1 && exec "$@"' sh)
fi
