/* The implementation under strict ISO C11 (-std=c11 -pedantic). ISO C has no monotonic clock,
   so a strict build asks for POSIX before the first #include, as unidist.h's #error says. */
#define _POSIX_C_SOURCE 200809L
#define UNIDIST_IMPLEMENTATION
#include "unidist.h"
