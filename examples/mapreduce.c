/* mapreduce.c - sum the first N odd numbers with a map stage and a tree of reduce tasks.

   1 + 3 + 5 + ... + (2N-1) = N * N, so the answer can be checked by hand.

   MPI backend (4 ranks: driver, monitor, 2 workers):   make demo
       mpicc.openmpi -std=gnu11 -O2 -I. -DWITH_MPI examples/mapreduce.c -o build/mapreduce_mpi
       mpiexec.openmpi -n 4 ./build/mapreduce_mpi
   Threads backend, the same source without MPI:         make demo-threads
       cc -std=gnu11 -O2 -I. examples/mapreduce.c -o build/mapreduce -pthread
       ./build/mapreduce
*/
#define UNIDIST_IMPLEMENTATION
#ifdef WITH_MPI
#include "unidist_mpi.h"
#else
#include "unidist.h"
#endif

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define N       (1L << 24)   /* 16 Mi values, 64 MiB of int32 */
#define NCHUNKS 64           /* enough chunks to keep every worker busy and see progress */
_Static_assert(NCHUNKS >= 2 && N % NCHUNKS == 0, "chunks must split N evenly");

/* What each stage hands to the next: small, fixed-size, so it travels inline. */
typedef struct partial {
    int64_t count;
    int64_t sum;
} partial;

#define CHECK(call)                                                                   \
    do {                                                                              \
        ud_status s_ = (call);                                                        \
        if (s_ != UD_OK) {                                                            \
            fprintf(stderr, "mapreduce: %s failed: %s: %s\n", #call, ud_status_str(s_), \
                    ud_last_error());                                                 \
            return 1;                                                                 \
        }                                                                             \
    } while (0)

/* map: one chunk of int32 values -> its partial count and sum. */
static int map_chunk(ud_task *t) {
    ud_view v;
    if (ud_task_arg(t, 0, &v) != UD_OK) return ud_task_fail(t, "map: no chunk argument");
    if (v.size % sizeof(int32_t) != 0)
        return ud_task_fail(t, "map: chunk of %zu bytes is not a whole number of int32", v.size);
    const int32_t *x = v.data;
    size_t n = v.size / sizeof *x;
    partial *p = ud_task_result(t, 0, sizeof *p);
    if (!p) return ud_task_fail(t, "map: out of memory");
    p->count = (int64_t)n;
    p->sum = 0;
    for (size_t i = 0; i < n; i++) p->sum += x[i];
    return 0;
}

/* reduce: two partials -> one. Associative, so the tree's shape does not change the answer. */
static int reduce_pair(ud_task *t) {
    ud_view a, b;
    if (ud_task_arg(t, 0, &a) != UD_OK || ud_task_arg(t, 1, &b) != UD_OK)
        return ud_task_fail(t, "reduce: needs two arguments");
    if (a.size != sizeof(partial) || b.size != sizeof(partial))
        return ud_task_fail(t, "reduce: arguments of %zu and %zu bytes, want %zu", a.size,
                            b.size, sizeof(partial));
    const partial *pa = a.data, *pb = b.data;
    partial *p = ud_task_result(t, 0, sizeof *p);
    if (!p) return ud_task_fail(t, "reduce: out of memory");
    p->count = pa->count + pb->count;
    p->sum = pa->sum + pb->sum;
    return 0;
}

static ud_func fmap, freduce;

/* Report the map stage as it completes: ud_wait lists refs first completed first, so asking
   for k done tells us which chunk finished k-th, whatever order they were submitted in. */
static int report_progress(const ud_ref *maps, int n) {
    int ready[NCHUNKS], nready;
    for (int quarter = 1; quarter <= 4; quarter++) {
        int want = n * quarter / 4;
        CHECK(ud_wait(maps, n, want, -1.0, ready, &nready));
        printf("map: %3d%% of chunks done (%d/%d), latest chunk %d\n", quarter * 25, nready, n,
               ready[nready - 1]);
    }
    return 0;
}

/* Reduce level by level without ever getting an intermediate value: each reduce task takes
   refs to results that may still be running, and the runtime holds it back until they are
   ready. Refs the tree made are dropped as soon as a task has taken them; the map refs are
   the caller's (it still waits on them). */
typedef struct node {
    ud_ref ref;
    int ours;   /* made by the tree, so the tree frees it */
} node;

static int reduce_tree(node *level, int n, ud_ref *total) {
    while (n > 1) {
        int next = 0;
        for (int i = 0; i + 1 < n; i += 2) {
            ud_arg args[2] = {ud_arg_ref(level[i].ref), ud_arg_ref(level[i + 1].ref)};
            ud_ref out;
            CHECK(ud_remote(freduce, args, 2, 1, &out));
            if (level[i].ours) CHECK(ud_free(level[i].ref));
            if (level[i + 1].ours) CHECK(ud_free(level[i + 1].ref));
            level[next++] = (node){out, 1};
        }
        if (n % 2) level[next++] = level[n - 1];   /* an odd one out moves up unchanged */
        n = next;
    }
    *total = level[0].ref;   /* NCHUNKS >= 2, so the root is always a reduce result */
    return 0;
}

static int run(void) {
    int32_t *data = malloc(N * sizeof *data);
    if (!data) { fprintf(stderr, "mapreduce: out of memory\n"); return 1; }
    for (long i = 0; i < N; i++) data[i] = (int32_t)(2 * i + 1);

    /* One object per chunk, so under MPI each worker receives only the chunk it sums.
       put copies, so the source array can go as soon as every chunk is in the store. */
    ud_ref chunks[NCHUNKS], maps[NCHUNKS], total;
    node level[NCHUNKS];
    const long per = N / NCHUNKS;
    for (int c = 0; c < NCHUNKS; c++)
        CHECK(ud_put(data + c * per, (size_t)per * sizeof *data, &chunks[c]));
    free(data);

    for (int c = 0; c < NCHUNKS; c++) {
        ud_arg a = ud_arg_ref(chunks[c]);
        CHECK(ud_remote(fmap, &a, 1, 1, &maps[c]));
        CHECK(ud_free(chunks[c]));   /* the pending map task keeps its chunk alive */
    }

    /* The whole tree is submitted before any map is known to be done. */
    for (int c = 0; c < NCHUNKS; c++) level[c] = (node){maps[c], 0};
    if (reduce_tree(level, NCHUNKS, &total)) return 1;
    if (report_progress(maps, NCHUNKS)) return 1;
    CHECK(ud_free_many(maps, NCHUNKS));

    ud_view v;
    CHECK(ud_get(total, &v));
    partial got = *(const partial *)v.data;
    CHECK(ud_free(total));

    int64_t want_count = N, want_sum = (int64_t)N * N;
    printf("count = %lld (expected N = %lld)\n", (long long)got.count, (long long)want_count);
    printf("sum   = %lld (expected N * N = %lld)\n", (long long)got.sum, (long long)want_sum);
    if (got.count != want_count || got.sum != want_sum) {
        fprintf(stderr, "mapreduce: WRONG result\n");
        return 1;
    }
    printf("ok\n");
    return 0;
}

int main(void) {
    ud_role role;
    /* Every process registers the same functions before init: under MPI the workers run them. */
    CHECK(ud_register("map_chunk", map_chunk, NULL, &fmap));
    CHECK(ud_register("reduce_pair", reduce_pair, NULL, &freduce));
    CHECK(ud_init(NULL, &role));
    if (role != UD_ROLE_DRIVER) return 0;   /* a worker or monitor: init returned at shutdown */

    printf("backend %s, %d workers, N = %ld in %d chunks\n", ud_backend_name(), ud_num_workers(),
           N, NCHUNKS);
    int rc = run();
    ud_status s = ud_shutdown();
    if (s != UD_OK) {
        fprintf(stderr, "mapreduce: ud_shutdown failed: %s: %s\n", ud_status_str(s),
                ud_last_error());
        rc = 1;
    }
    return rc;
}
