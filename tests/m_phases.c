/* tests/t_phases.c embedded in a host code: the host starts MPI, gives the runtime a duplicate
   of its communicator, runs its own MPI_Allreduce between the phases and finalizes MPI itself. */
#define UT_EMBED
#include "t_phases.c"
