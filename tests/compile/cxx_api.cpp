// The public header from C++11 (-pedantic -Werror), linked against the C implementation
// (impl.c): square(5) through the API must give 25.
#include <cstdio>
#include <cstring>

#include "unidist.h"

static int square(ud_task *t) {
    ud_view a;
    if (ud_task_arg(t, 0, &a) != UD_OK || a.size != sizeof(int)) return -1;
    int x;
    std::memcpy(&x, a.data, sizeof x);
    int *y = static_cast<int *>(ud_task_result(t, 0, sizeof(int)));
    if (!y) return -1;
    *y = x * x;
    return 0;
}

#define CHECK(expr)                                                                  \
    do {                                                                             \
        ud_status s_ = (expr);                                                       \
        if (s_ != UD_OK) {                                                           \
            std::fprintf(stderr, "%s: %s (%s)\n", #expr, ud_status_str(s_), ud_last_error()); \
            return 1;                                                                \
        }                                                                            \
    } while (0)

int main() {
    ud_func fsquare;
    ud_role role;
    CHECK(ud_register("square", square, NULL, &fsquare));
    CHECK(ud_init(NULL, &role));
    int five = 5;
    ud_ref r, out;
    CHECK(ud_put(&five, sizeof five, &r));
    ud_arg a = ud_arg_ref(r);
    CHECK(ud_remote(fsquare, &a, 1, 1, &out));
    ud_view v;
    CHECK(ud_get(out, &v));
    int got = 0;
    if (v.size == sizeof got) std::memcpy(&got, v.data, sizeof got);
    CHECK(ud_free(r));
    CHECK(ud_free(out));
    CHECK(ud_shutdown());
    if (got != 25) {
        std::fprintf(stderr, "square(5) gave %d, want 25\n", got);
        return 1;
    }
    return 0;
}
