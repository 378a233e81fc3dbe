/* fuzz_shm: libFuzzer target for the decoders of the shared store (unidist_shm.h) on rank 1, its
   host's manager: RESERVE, RELEASE and END on the store's channel (ud__shm_serve), and the
   entries a PUT_SHARED_DATA or a stolen task's SHARED argument names (ud__shm_attach). How to
   run it: tests/fuzz/README. */
#define FZ_RANK 1
#include "fuzz.h"
