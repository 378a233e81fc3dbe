/* Driver threads racing to start and to stop the runtime (the threads backend's API may be
   called from any driver thread): one init wins and the other gets UD_ERR_STATE; the same for
   shutdown. Its own program, because a double start leaves a runtime that cannot stop. */
#define UNIDIST_IMPLEMENTATION
#include "unidist.h"
#include "ud_test.h"

static ud_func f_square;

static int square(ud_task *t) {
    ud_view v;
    int x, *y;
    if (ud_task_arg(t, 0, &v) != UD_OK || v.size != sizeof x) return ud_task_fail(t, "square: bad argument");
    memcpy(&x, v.data, sizeof x);
    if (!(y = ud_task_result(t, 0, sizeof *y))) return ud_task_fail(t, "square: no memory");
    *y = x * x;
    return 0;
}

struct racer {
    pthread_barrier_t *line;
    int stop; /* 0: ud_init, 1: ud_shutdown */
    ud_role role;
    ud_status status;
};

static void *race(void *p) {
    struct racer *r = (struct racer *)p;
    pthread_barrier_wait(r->line);
    r->status = r->stop ? ud_shutdown() : ud_init(NULL, &r->role);
    return NULL;
}

/* Runs the call on four threads released together; returns how many got UD_OK. */
static int race_four(int stop, struct racer *r) {
    enum { T = 4 };
    pthread_barrier_t line;
    pthread_t th[T];
    int k, wins = 0, started = 0;
    pthread_barrier_init(&line, NULL, T);
    for (k = 0; k < T; k++) {
        r[k].line = &line;
        r[k].stop = stop;
        r[k].role = (ud_role)-1;
        r[k].status = UD_ERR_INTERNAL;
    }
    for (k = 0; k < T; k++) {
        if (pthread_create(&th[k], NULL, race, &r[k]) != 0) break;
        started++;
    }
    if (started < T) { /* the started ones stay parked at the barrier */
        UT_FAIL("could start only %d threads", started);
        return -1;
    }
    for (k = 0; k < T; k++) pthread_join(th[k], NULL);
    pthread_barrier_destroy(&line);
    for (k = 0; k < T; k++) wins += r[k].status == UD_OK;
    return wins;
}

static int started_twice;

static void concurrent_init_starts_once(void) {
    struct racer r[4];
    int wins = race_four(0, r), k;
    if (wins > 1) started_twice = 1;
    UT_EQ_INT(wins, 1);
    for (k = 0; k < 4; k++) {
        if (r[k].status == UD_OK) UT_EQ_INT(r[k].role, UD_ROLE_DRIVER);
        else UT_EQ_STATUS(r[k].status, UD_ERR_STATE);
    }
    UT_EQ_INT(ud_is_initialized(), 1);
}

static void runtime_works(void) {
    ud_ref in, out;
    ud_arg a;
    ud_view v;
    int five = 5;
    UT_REQUIRE_OK(ud_put(&five, sizeof five, &in));
    a = ud_arg_ref(in);
    UT_REQUIRE_OK(ud_remote(f_square, &a, 1, 1, &out));
    if (UT_OK(ud_get(out, &v)) && UT_EQ_INT(v.size, sizeof(int))) UT_EQ_INT(*(const int *)v.data, 25);
    UT_OK(ud_free(in));
    UT_OK(ud_free(out));
}

static void concurrent_shutdown_stops_once(void) {
    struct racer r[4];
    int wins = race_four(1, r), k;
    UT_EQ_INT(wins, 1);
    for (k = 0; k < 4; k++)
        if (r[k].status != UD_OK) UT_EQ_STATUS(r[k].status, UD_ERR_STATE);
    UT_EQ_INT(ud_is_initialized(), 0);
}

int main(void) {
    UT_CASE("register") { UT_OK(ud_register("square", square, NULL, &f_square)); }
    UT_RUN(concurrent_init_starts_once);
    if (!ud_is_initialized() || started_twice) return ut_finish(); /* a double start cannot stop */
    UT_RUN(runtime_works);
    UT_RUN(concurrent_shutdown_stops_once);
    return ut_finish();
}
