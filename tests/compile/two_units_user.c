/* The second translation unit: only the API, no implementation. It must link against the
   implementation in two_units_main.c. */
#include <string.h>

#include "unidist.h"

static int add_one(ud_task *t) {
    ud_view a;
    int x, *y;
    if (ud_task_arg(t, 0, &a) != UD_OK || a.size != sizeof x) return ud_task_fail(t, "bad arg");
    memcpy(&x, a.data, sizeof x);
    if (!(y = (int *)ud_task_result(t, 0, sizeof *y))) return -1;
    *y = x + 1;
    return 0;
}

ud_status user_register(ud_func *f);
ud_status user_register(ud_func *f) { return ud_register("add_one", add_one, NULL, f); }

/* Submits add_one(x) with an inline argument and returns its result, or -1. */
int user_add_one(ud_func f, int x);
int user_add_one(ud_func f, int x) {
    ud_arg a = ud_arg_val(&x, sizeof x);
    ud_ref out;
    int y = -1;
    size_t size;
    if (ud_remote(f, &a, 1, 1, &out) != UD_OK) return -1;
    if (ud_get_copy(out, &y, sizeof y, &size) != UD_OK || size != sizeof y) y = -1;
    ud_free(out);
    return y;
}
