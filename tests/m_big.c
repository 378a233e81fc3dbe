/* An object over 2 GiB, larger than one MPI message can say, crosses root -> worker and
   worker -> root in chunks, checked by XXH3. The shared store is off, so that it crosses
   through MPI even between ranks of one host: the ranks' stats must show its bytes sent apart
   (in messages of their own, at least one a chunk), none through a store. Run under mpiexec
   with 3 or more ranks. */
#define UNIDIST_IMPLEMENTATION
#include "unidist_mpi.h"
#include "ud_test.h"

#define BIG (((size_t)2 << 30) + 12345) /* 2 GiB and a bit: past INT_MAX bytes */

static ud_func f_hash, f_make;

static unsigned char pattern(size_t i) { return (unsigned char)((i >> 12) ^ (i * 2654435761u)); }

static int hash(ud_task *t) {
    ud_view a;
    uint64_t *h = (uint64_t *)ud_task_result(t, 0, 2 * sizeof *h);
    if (ud_task_arg(t, 0, &a) != UD_OK || !h) return ud_task_fail(t, "hash: bad argument");
    h[0] = XXH3_64bits(a.data, a.size);
    h[1] = a.size;
    return 0;
}

static int make(ud_task *t) {
    unsigned char *p = (unsigned char *)ud_task_result(t, 0, BIG);
    size_t i;
    if (!p) return ud_task_fail(t, "make: no memory for %zu bytes", (size_t)BIG);
    for (i = 0; i < BIG; i++) p[i] = pattern(i);
    return 0;
}

static unsigned char *buf;
static uint64_t want;

/* Summed over every rank: bytes of large parts sent in messages of their own, messages, and
   bytes written to a shared store. */
typedef struct {
    int64_t separate, msgs, shared;
} moved;

static moved moved_now(void) {
    static ud_stats st[256];
    moved m = {0, 0, 0};
    int n = 0, k;
    if (ud_stats_get(st, 256, &n) != UD_OK) return (moved){-1, -1, -1};
    for (k = 0; k < n; k++) {
        m.separate += st[k].separate_bytes_sent;
        m.msgs += st[k].msgs_sent;
        m.shared += st[k].shared_bytes_written;
    }
    return m;
}

/* Since before: BIG bytes or more sent apart, in a message a chunk at least, none shared. */
static void check_moved_apart(moved before) {
    moved after = moved_now();
    ud_config c;
    int64_t chunks;
    UT_REQUIRE(before.separate >= 0 && after.separate >= 0);
    UT_REQUIRE_OK(ud_config_resolve(NULL, &c));
    chunks = (int64_t)((BIG + c.mpi_chunk_size - 1) / c.mpi_chunk_size);
    ut_note("%lld bytes sent apart, %lld messages (%lld chunks of %zu), %lld bytes shared",
            (long long)(after.separate - before.separate), (long long)(after.msgs - before.msgs),
            (long long)chunks, (size_t)c.mpi_chunk_size, (long long)(after.shared - before.shared));
    UT_CHECK(after.separate - before.separate >= (int64_t)BIG);
    UT_CHECK(chunks >= 2); /* the part is split: past INT_MAX bytes, whatever the chunk */
    UT_CHECK(after.msgs - before.msgs >= chunks);
    UT_EQ_INT(after.shared - before.shared, 0);
}

static void put_then_task_reads_it(void) {
    ud_ref r, h;
    ud_view v;
    ud_arg a;
    moved before = moved_now();
    UT_REQUIRE_OK(ud_put(buf, BIG, &r));
    a = ud_arg_ref(r);
    UT_REQUIRE_OK(ud_remote(f_hash, &a, 1, 1, &h));
    if (UT_OK(ud_get(h, &v))) {
        UT_EQ_INT(((const uint64_t *)v.data)[1], BIG);
        UT_CHECK(((const uint64_t *)v.data)[0] == want);
    }
    check_moved_apart(before);
    UT_OK(ud_free(h));
    UT_OK(ud_free(r));
}

static void task_result_to_root(void) {
    ud_ref r;
    ud_view v;
    moved before = moved_now();
    UT_REQUIRE_OK(ud_remote(f_make, NULL, 0, 1, &r));
    if (UT_OK(ud_get(r, &v))) {
        UT_EQ_INT(v.size, BIG);
        UT_CHECK(XXH3_64bits(v.data, v.size) == want);
    }
    check_moved_apart(before);
    UT_OK(ud_free(r));
}

int main(void) {
    ud_role role;
    size_t i;
    UT_OK(ud_register("hash", hash, NULL, &f_hash));
    UT_OK(ud_register("make", make, NULL, &f_make));
    setenv("UNIDIST_MPI_SHARED_OBJECT_STORE", "0", 1); /* every rank, before init */
    if (ud_init(NULL, &role) != UD_OK) {
        printf("FAIL init: %s\n", ud_last_error());
        return 1;
    }
    if (role != UD_ROLE_DRIVER) return 0;
    buf = (unsigned char *)malloc(BIG);
    UT_CASE("make the pattern") {
        UT_CHECK(buf != NULL);
    }
    if (buf) {
        for (i = 0; i < BIG; i++) buf[i] = pattern(i);
        want = XXH3_64bits(buf, BIG);
        UT_RUN(put_then_task_reads_it);
        free(buf);
        UT_RUN(task_result_to_root);
    }
    UT_CASE("shutdown") { UT_OK(ud_shutdown()); }
    return ut_finish();
}
