/* fuzz_root: libFuzzer target for the MPI backend's decoders on the driver (rank 0): what its
   get, wait, stats and shutdown receive: PUT_DATA and PUT_SHARED_DATA (ud__root_take_data), the
   monitor's WAIT answer and GET_TASK_COUNT (ud__root_take_counts), STATS, READY_TO_SHUTDOWN, and
   a task's NESTED calls (ud__root_nested). How to run it: tests/fuzz/README. */
#define FZ_RANK 0
#include "fuzz.h"
