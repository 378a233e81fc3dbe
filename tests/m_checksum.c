/* With checksums on (the checksum field of ud_config) a large part that arrives changed is
   refused, naming the checksum: a get of it says UD_ERR_PROTO, a task that needed it fails
   (its get says UD_ERR_TASK), and the runtime goes on. The change is made on the wire: this
   program defines MPI_Isend itself (PMPI interposition), and when a process has armed it, the
   next large part it sends (tag UD__TAG_DATA) goes out from a copy with one byte flipped. The
   shared store is off, so that parts cross through MPI even between ranks of one host. Run
   under mpiexec with 2 or more ranks. */
#define UNIDIST_IMPLEMENTATION
#include "unidist_mpi.h"
#include "ud_test.h"

enum { SIZE = 1 << 20 }; /* past UNIDIST_MPI_INLINE_MAX: a part of its own */

static atomic_int armed;        /* the next large part this process sends is changed */
static atomic_int changed;      /* parts changed by this process */
static void *copies[8];         /* the changed copies, freed at exit (MPI is done with them) */

int MPI_Isend(const void *buf, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm,
              MPI_Request *req) {
    int n = atomic_load(&changed);
    if (tag == UD__TAG_DATA && count > 0 && type == MPI_BYTE && n < 8 && atomic_exchange(&armed, 0)) {
        unsigned char *copy = (unsigned char *)malloc((size_t)count);
        if (copy) {
            memcpy(copy, buf, (size_t)count);
            copy[count / 2] ^= 0x40;
            copies[n] = copy;
            atomic_fetch_add(&changed, 1);
            return PMPI_Isend(copy, count, type, dest, tag, comm, req);
        }
    }
    return PMPI_Isend(buf, count, type, dest, tag, comm, req);
}

static void free_copies(void) {
    int k;
    for (k = 0; k < 8; k++) free(copies[k]);
}

static ud_func f_sum, f_make, f_make_changed;

static unsigned char pattern(size_t i) { return (unsigned char)(i * 131 + (i >> 9)); }

/* sum(object): the sum of its bytes. */
static int sum(ud_task *t) {
    ud_view a;
    int64_t *s = (int64_t *)ud_task_result(t, 0, sizeof *s);
    size_t i;
    if (ud_task_arg(t, 0, &a) != UD_OK || !s) return ud_task_fail(t, "sum: %s", ud_last_error());
    for (*s = 0, i = 0; i < a.size; i++) *s += ((const unsigned char *)a.data)[i];
    return 0;
}

static int make(ud_task *t) {
    unsigned char *p = (unsigned char *)ud_task_result(t, 0, SIZE);
    size_t i;
    if (!p) return ud_task_fail(t, "make: no memory");
    for (i = 0; i < SIZE; i++) p[i] = pattern(i);
    return 0;
}

/* make, on a worker that changes the next large part it sends: this result. */
static int make_changed(ud_task *t) {
    atomic_store(&armed, 1);
    return make(t);
}

static unsigned char *buf;
static int64_t want;

static int64_t sum_of(ud_ref r, ud_status *st) {
    ud_arg a = ud_arg_ref(r);
    ud_ref s;
    ud_view v;
    int64_t x = -1;
    if ((*st = ud_remote(f_sum, &a, 1, 1, &s)) != UD_OK) return -1;
    if ((*st = ud_get(s, &v)) == UD_OK && v.size == sizeof x) memcpy(&x, v.data, sizeof x);
    ud_free(s);
    return x;
}

/* The driver's put reaches a worker changed: the task that reads it fails, naming the
   checksum; the same object put again arrives whole. */
static void put_changed_on_the_way(void) {
    ud_ref r;
    ud_status st;
    int before = atomic_load(&changed);
    UT_REQUIRE_OK(ud_put(buf, SIZE, &r));
    atomic_store(&armed, 1);
    sum_of(r, &st);
    UT_EQ_INT(atomic_load(&changed), before + 1);
    UT_EQ_STATUS(st, UD_ERR_TASK);
    UT_CONTAINS(ud_last_error(), "checksum mismatch in part 0 (1048576 bytes) from rank 0");
    atomic_store(&armed, 0);
    UT_OK(ud_free(r));
    UT_REQUIRE_OK(ud_put(buf, SIZE, &r));
    UT_EQ_INT(sum_of(r, &st), want);
    UT_OK(st);
    UT_OK(ud_free(r));
}

/* A worker's result reaches the driver changed: the ref holds a failure naming the checksum,
   which a get reports as UD_ERR_PROTO; a result sent whole afterwards is right. */
static void result_changed_on_the_way(void) {
    ud_ref r;
    ud_view v;
    UT_REQUIRE_OK(ud_remote(f_make_changed, NULL, 0, 1, &r));
    UT_EQ_STATUS(ud_get(r, &v), UD_ERR_PROTO);
    UT_CONTAINS(ud_last_error(), "checksum mismatch in part 0 (1048576 bytes) from rank");
    UT_OK(ud_free(r));
    UT_REQUIRE_OK(ud_remote(f_make, NULL, 0, 1, &r));
    if (UT_OK(ud_get(r, &v)) && UT_EQ_INT(v.size, SIZE)) UT_EQ_MEM(v.data, buf, SIZE);
    UT_OK(ud_free(r));
}

int main(void) {
    ud_config cfg;
    ud_role role;
    size_t i;
    atexit(free_copies);
    UT_OK(ud_register("sum", sum, NULL, &f_sum));
    UT_OK(ud_register("make", make, NULL, &f_make));
    UT_OK(ud_register("make_changed", make_changed, NULL, &f_make_changed));
    memset(&cfg, 0, sizeof cfg);
    cfg.checksum = 1;
    setenv("UNIDIST_MPI_SHARED_OBJECT_STORE", "0", 1); /* every rank, before init */
    if (ud_init(&cfg, &role) != UD_OK) {
        printf("FAIL init: %s\n", ud_last_error());
        return 1;
    }
    if (role != UD_ROLE_DRIVER) return 0;
    buf = (unsigned char *)malloc(SIZE);
    UT_CASE("checksums are on, the store off") {
        char text[16384] = "";
        FILE *f = tmpfile();
        UT_CHECK(buf != NULL);
        if (UT_CHECK(f != NULL)) {
            ud_config_print(f);
            rewind(f);
            text[fread(text, 1, sizeof text - 1, f)] = '\0';
            fclose(f);
            UT_CONTAINS(text, "UNIDIST_CHECKSUM = 1\n");
            UT_CONTAINS(text, "UNIDIST_MPI_SHARED_OBJECT_STORE = 0\n");
        }
    }
    if (buf) {
        for (i = 0, want = 0; i < SIZE; i++) want += buf[i] = pattern(i);
        UT_RUN(put_changed_on_the_way);
        UT_RUN(result_changed_on_the_way);
    }
    free(buf);
    UT_CASE("shutdown") { UT_OK(ud_shutdown()); }
    return ut_finish();
}
