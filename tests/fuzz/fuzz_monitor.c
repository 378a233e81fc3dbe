/* fuzz_monitor: libFuzzer target for the MPI backend's decoders on rank 1, which carries the
   root monitor's duty: TASK_DONE records (ud__mon_task_done, ud__mon_record), WAIT,
   GET_TASK_COUNT, SHUTDOWN and CLEANUP, besides a worker's operations. How to run it:
   tests/fuzz/README. */
#define FZ_RANK 1
#include "fuzz.h"
