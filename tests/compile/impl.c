/* The implementation alone: the object the C++ and symbol tests link against or inspect. */
#define UNIDIST_IMPLEMENTATION
#include "unidist.h"
