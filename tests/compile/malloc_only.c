/* UD_MALLOC without UD_REALLOC and UD_FREE must stop the build with unidist.h's #error. */
#include <stdlib.h>
#define UD_MALLOC(size) malloc(size)
#define UNIDIST_IMPLEMENTATION
#include "unidist.h"
