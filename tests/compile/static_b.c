/* A second private copy of the library (UD_STATIC), beside static_a.c's in one program. */
#define UD_STATIC
#define UNIDIST_IMPLEMENTATION
#include "unidist.h"

const char *static_b_version(void);
const char *static_b_version(void) { return ud_version(); }

/* This copy's state is its own: static_a.c's runtime running does not start this one. */
int static_b_initialized(void);
int static_b_initialized(void) { return ud_is_initialized(); }
