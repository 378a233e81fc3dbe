/* The unit with the implementation; the task and the calls live in two_units_user.c. */
#include <stdio.h>

#define UNIDIST_IMPLEMENTATION
#include "unidist.h"

ud_status user_register(ud_func *f);
int user_add_one(ud_func f, int x);

int main(void) {
    ud_func f;
    ud_role role;
    int y;
    if (user_register(&f) != UD_OK || ud_init(NULL, &role) != UD_OK) {
        fprintf(stderr, "start: %s\n", ud_last_error());
        return 1;
    }
    y = user_add_one(f, 41);
    ud_shutdown();
    if (y != 42) {
        fprintf(stderr, "add_one(41) gave %d, want 42\n", y);
        return 1;
    }
    return 0;
}
