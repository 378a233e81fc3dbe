/* fuzz_worker: libFuzzer target for the MPI backend's decoders on a worker rank (rank 2):
   ud__rank_handle and what it calls: EXECUTE, BATCH, GET, PUT_DATA and PUT_SHARED_DATA (a get's
   answer, a thief's results), STEAL, STATS, CLEANUP, CANCEL, the NESTED and WAIT answers to a
   task's calls, TASK_DONE of a task given away, and the store manager's answer to a reservation.
   How to run it: tests/fuzz/README. */
#define FZ_RANK 2
#include "fuzz.h"
