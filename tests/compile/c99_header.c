/* The public header is plain C99: built with -std=c99 -pedantic -Werror, without the
   implementation. Included twice to exercise the include guard. */
#include "unidist.h"
#include "unidist.h"

/* Every API entry point keeps the type a caller relies on. */
static ud_status (*const get_fn)(ud_ref, ud_view *) = ud_get;
static ud_status (*const put_fn)(const void *, size_t, ud_ref *) = ud_put;
static ud_status (*const remote_fn)(ud_func, const ud_arg *, int, int, ud_ref *) = ud_remote;
static ud_status (*const wait_fn)(const ud_ref *, int, int, double, int *, int *) = ud_wait;
static ud_status (*const free_fn)(ud_ref) = ud_free;

int c99_header_probe(void);
int c99_header_probe(void) {
    ud_config cfg = {0};
    ud_ref r = {0, 1};
    ud_arg a = ud_arg_ref(r);
    ud_arg b = ud_arg_val(&cfg, sizeof cfg);
    return (get_fn != 0) + (put_fn != 0) + (remote_fn != 0) + (wait_fn != 0) + (free_fn != 0) +
           (a.kind == UD_ARG_REF) + (b.kind == UD_ARG_VAL) + (UD_OK == 0) +
           (int)sizeof(ud_view);
}
