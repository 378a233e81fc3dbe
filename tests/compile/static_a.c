/* Two copies of the library, each static (UD_STATIC) in its own unit, in one program: they
   link without clashing, and each keeps its own state. */
#include <stdio.h>
#include <string.h>

#define UD_STATIC
#define UNIDIST_IMPLEMENTATION
#include "unidist.h"

const char *static_b_version(void);
int static_b_initialized(void);

static int twice(ud_task *t) {
    ud_view a;
    int x, *y;
    if (ud_task_arg(t, 0, &a) != UD_OK || a.size != sizeof x) return -1;
    memcpy(&x, a.data, sizeof x);
    if (!(y = (int *)ud_task_result(t, 0, sizeof *y))) return -1;
    *y = 2 * x;
    return 0;
}

int main(void) {
    ud_func f;
    ud_role role;
    ud_ref out;
    int x = 21, y = 0, b_running;
    size_t size = 0;
    ud_arg a = ud_arg_val(&x, sizeof x);
    if (ud_register("twice", twice, NULL, &f) != UD_OK || ud_init(NULL, &role) != UD_OK ||
        ud_remote(f, &a, 1, 1, &out) != UD_OK || ud_get_copy(out, &y, sizeof y, &size) != UD_OK) {
        fprintf(stderr, "copy a: %s\n", ud_last_error());
        return 1;
    }
    b_running = static_b_initialized();
    ud_free(out);
    ud_shutdown();
    if (y != 42 || size != sizeof y) {
        fprintf(stderr, "twice(21) gave %d, want 42\n", y);
        return 1;
    }
    if (b_running) {
        fprintf(stderr, "the copy in static_b.c says it is running: the copies share state\n");
        return 1;
    }
    if (strcmp(static_b_version(), ud_version()) != 0) {
        fprintf(stderr, "versions differ: %s, %s\n", static_b_version(), ud_version());
        return 1;
    }
    return 0;
}
