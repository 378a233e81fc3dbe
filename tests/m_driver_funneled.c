/* tests/m_driver.c with the host's MPI_THREAD_FUNNELED: every call of the program's threads is
   handed to the driver rank's loop thread, which alone calls MPI. */
#define UT_FUNNELED
#include "m_driver.c"
