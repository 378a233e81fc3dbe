/* The amalgamated header alone in its folder (tests/run.sh copies it there): it needs no other
   unidist file to build and run square(5). */
#include <stdio.h>
#include <string.h>

#define UNIDIST_IMPLEMENTATION
#include "unidist.h"

static int square(ud_task *t) {
    ud_view a;
    int x, *y;
    if (ud_task_arg(t, 0, &a) != UD_OK || a.size != sizeof x) return -1;
    memcpy(&x, a.data, sizeof x);
    if (!(y = (int *)ud_task_result(t, 0, sizeof *y))) return -1;
    *y = x * x;
    return 0;
}

int main(void) {
    ud_func f;
    ud_role role;
    ud_ref r, out;
    ud_view v;
    int five = 5, got = 0;
    ud_arg a;
    if (ud_register("square", square, NULL, &f) != UD_OK || ud_init(NULL, &role) != UD_OK ||
        ud_put(&five, sizeof five, &r) != UD_OK) {
        fprintf(stderr, "start: %s\n", ud_last_error());
        return 1;
    }
    a = ud_arg_ref(r);
    if (ud_remote(f, &a, 1, 1, &out) != UD_OK || ud_get(out, &v) != UD_OK) {
        fprintf(stderr, "square: %s\n", ud_last_error());
        return 1;
    }
    if (v.size == sizeof got) memcpy(&got, v.data, sizeof got);
    ud_free(r);
    ud_free(out);
    ud_shutdown();
    if (got != 25) {
        fprintf(stderr, "square(5) gave %d, want 25\n", got);
        return 1;
    }
    return 0;
}
