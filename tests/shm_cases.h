/* The cases of the shared object store's tests (unidist_shm.h). The runtime starts once per
   process, so each tests/m_shm*.c is one configuration: it sets up the config, and main()
   below runs that program's cases, then checks that /dev/shm is left as it was found. */
#ifndef SHM_CASES_H
#define SHM_CASES_H
#define UNIDIST_IMPLEMENTATION
#include "unidist_mpi.h"
#include "ud_test.h"
#include <dirent.h>
#include <sys/mount.h>
#include <sys/statvfs.h>

#define MIB (1 << 20)
#define SHM_CASE __attribute__((unused)) void /* each program runs some of them */

static ud_func f_fill, f_probe, f_inc, f_fail, f_fill_fail;
static MPI_Comm g_comm;
static int g_rank, g_size, g_hosts;
static int g_expect_hosts;    /* the runtime's hosts: each machine split into g_hosts at most */
static uint64_t g_threshold = UD_MPI_SHARED_OBJECT_STORE_THRESHOLD;

static unsigned char pattern(size_t k, int seed) { return (unsigned char)((k * 131u + (unsigned)seed) & 255u); }

/* fill(n, seed): n bytes of a pattern that says where each byte came from. */
static int fill(ud_task *t) {
    int n = 0, seed = 0;
    unsigned char *p;
    size_t k;
    if (!ut_arg_int(t, 0, &n) || !ut_arg_int(t, 1, &seed) || n < 0) return ud_task_fail(t, "fill: bad arguments");
    if (!(p = (unsigned char *)ud_task_result(t, 0, (size_t)n))) return ud_task_fail(t, "fill: no memory");
    for (k = 0; k < (size_t)n; k++) p[k] = pattern(k, seed);
    return 0;
}

/* fill_fail(n, seed): writes n bytes as fill does, then fails. */
static int fill_fail(ud_task *t) {
    int rc = fill(t);
    return rc ? rc : ud_task_fail(t, "fill_fail: failed after writing its result");
}

static int intact(ud_view v, size_t n, int seed) {
    const unsigned char *p = (const unsigned char *)v.data;
    size_t k;
    if (v.status != UD_OK || v.size != n) return 0;
    for (k = 0; k < n; k++)
        if (p[k] != pattern(k, seed)) return 0;
    return 1;
}

/* What a worker sees of an argument: [intact, in this host's store, references there, rank]. */
typedef struct probe_out {
    int intact, in_store, refs, rank;
} probe_out;

static int probe(ud_task *t) {
    ud_view v, rv;
    int n = 0, seed = 0;
    ud_ref ref;
    probe_out *o = (probe_out *)ud_task_result(t, 0, sizeof *o);
    if (!o || ud_task_arg(t, 0, &v) != UD_OK || ud_task_arg(t, 1, &rv) != UD_OK || rv.size != sizeof ref ||
        !ut_arg_int(t, 2, &n) || !ut_arg_int(t, 3, &seed))
        return ud_task_fail(t, "probe: bad arguments");
    memcpy(&ref, rv.data, sizeof ref);
    o->intact = intact(v, (size_t)n, seed);
    o->in_store = ud_shm_contains(v.data);
    o->refs = (int)ud_shm_refs(ref);
    o->rank = ud_rank();
    return 0;
}

static int inc(ud_task *t) {
    int x = 0;
    if (!ut_arg_int(t, 0, &x)) return ud_task_fail(t, "inc: bad argument");
    return ut_result_int(t, 0, x + 1);
}

/* Fails with a message of 600 bytes: larger than the threshold of some programs. */
static int fail(ud_task *t) {
    char msg[601];
    memset(msg, 'x', 600);
    msg[600] = '\0';
    return ud_task_fail(t, "%s", msg);
}

/* ---- helpers for the driver ---------------------------------------------------------------- */
/* Whether a worker shares the driver's host: reads in place by the driver need one. */
static int driver_host_has_worker(void) {
    int w;
    for (w = 0; w < ud_num_workers(); w++)
        if (ud_worker_host(w) == ud_shm_host(0)) return 1;
    return 0;
}

/* Where the cases' tasks run: on the driver's host when it has a worker, so that what they
   make is in the store the driver reads; anywhere otherwise. */
static ud_opts near_driver(void) {
    ud_opts o = ud_on_host(ud_shm_host(0));
    if (!driver_host_has_worker()) o.place = UD_ANYWHERE;
    return o;
}

static ud_ref make(int n, int seed) {
    ud_arg a[2];
    ud_ref r = {0, 0};
    ud_opts o = near_driver();
    a[0] = ud_arg_val(&n, sizeof n);
    a[1] = ud_arg_val(&seed, sizeof seed);
    UT_OK(ud_remote_opts(&o, f_fill, a, 2, 1, &r));
    return r;
}

static probe_out probe_of(ud_ref r, int n, int seed) {
    ud_arg a[4];
    ud_ref o;
    ud_view v;
    probe_out p = {0, 0, 0, -1};
    ud_opts on = near_driver();
    a[0] = ud_arg_ref(r);
    a[1] = ud_arg_val(&r, sizeof r);
    a[2] = ud_arg_val(&n, sizeof n);
    a[3] = ud_arg_val(&seed, sizeof seed);
    if (UT_OK(ud_remote_opts(&on, f_probe, a, 4, 1, &o)) && UT_OK(ud_get(o, &v)) && UT_EQ_INT(v.size, sizeof p))
        memcpy(&p, v.data, sizeof p);
    ud_free(o);
    return p;
}

static int64_t entries_now(void) {
    ud_shm_stats s;
    ud_shm_stats_get(&s);
    return s.entries;
}

static uint64_t used_now(void) {
    ud_shm_stats s;
    ud_shm_stats_get(&s);
    return s.used;
}

/* The last warning this rank logged, for the cases that expect one; every line goes to stderr
   as without the hook. */
static char g_warning[512];
static pthread_mutex_t g_warning_lock = PTHREAD_MUTEX_INITIALIZER;

static void log_line(int level, int rank, const char *msg, void *user) {
    static const char *names[] = {"", "ERROR", "WARN", "INFO", "DEBUG"};
    (void)user;
    pthread_mutex_lock(&g_warning_lock);
    if (level == UD_LOG_WARN) snprintf(g_warning, sizeof g_warning, "%s", msg);
    pthread_mutex_unlock(&g_warning_lock);
    fprintf(stderr, "[ud r%d] %s: %s\n", rank, level >= 1 && level <= 4 ? names[level] : "?", msg);
}

static void base_config(ud_config *c) {
    memset(c, 0, sizeof *c);
    c->mpi_comm = &g_comm;
    c->mpi_gc_threshold = 1; /* cleanups at once, so that counts fall while the test looks */
    c->log = log_line;
}

/* ---- scenarios (driver side) ---------------------------------------------------------------- */
/* Whether this rank's host has a store: the driver's has none when no worker shares it. */
static int store_here(void) {
    ud_shm_stats s;
    return ud_shm_stats_get(&s) == UD_OK && s.enabled;
}

static SHM_CASE in_place(void) {
    UT_CASE("a large task result is read by the driver in place") {
        ud_ref r = make(8 * MIB, 1);
        ud_view v;
        if (UT_OK(ud_get(r, &v))) {
            UT_CHECK(intact(v, 8 * MIB, 1));
            UT_EQ_INT(ud_shm_contains(v.data), store_here());
        }
        ud_free(r);
    }
    UT_CASE("every worker reads a large result in place, wherever it was made") {
        ud_ref r = make(4 * MIB, 2);
        int i;
        for (i = 0; i < 2 * ud_num_workers(); i++) { /* round robin: each worker twice */
            probe_out p = probe_of(r, 4 * MIB, 2);
            UT_CHECK(p.intact);
            UT_CHECK(p.in_store);
            UT_CHECK(p.refs >= (p.rank == (int)r.owner ? 1 : 2)); /* the maker and the reader */
        }
        ud_free(r);
    }
    UT_CASE("a put above the threshold goes to the store, one below it does not") {
        static char big[MIB], small[1000];
        ud_ref a, b;
        ud_view va, vb;
        memset(big, 7, sizeof big);
        memset(small, 8, sizeof small);
        UT_OK(ud_put(big, sizeof big, &a));
        UT_OK(ud_put(small, sizeof small, &b));
        if (UT_OK(ud_get(a, &va))) {
            UT_EQ_INT(ud_shm_contains(va.data), store_here());
            UT_EQ_MEM(va.data, big, sizeof big);
        }
        if (UT_OK(ud_get(b, &vb))) UT_EQ_INT(ud_shm_contains(vb.data), store_here() && sizeof small > g_threshold);
        {
            probe_out p = probe_of(a, 0, 0); /* only where it lies: the sizes differ on purpose */
            UT_CHECK(p.in_store);
        }
        ud_free(a);
        ud_free(b);
    }
    UT_CASE("an object of 5 parts is read in place, every part intact") {
        static unsigned char parts[5][60000];
        ud_part p[5];
        ud_ref r;
        ud_view v;
        int j;
        size_t k;
        for (j = 0; j < 5; j++) {
            for (k = 0; k < sizeof parts[j]; k++) parts[j][k] = pattern(k, 20 + j);
            p[j].data = parts[j];
            p[j].size = sizeof parts[j] - (size_t)j; /* sizes that differ */
        }
        UT_OK(ud_put_parts(p, 5, &r));
        if (UT_OK(ud_get(r, &v)) && UT_EQ_INT(v.nparts, 5))
            for (j = 0; j < 5; j++) {
                UT_EQ_INT(v.parts[j].size, sizeof parts[j] - (size_t)j);
                UT_EQ_MEM(v.parts[j].data, parts[j], v.parts[j].size);
                UT_EQ_INT(ud_shm_contains(v.parts[j].data), store_here());
            }
        {
            probe_out q = probe_of(r, (int)sizeof parts[0], 20);
            UT_CHECK(q.intact && q.in_store);
        }
        ud_free(r);
    }
    UT_CASE("reference counts rise as refs are got and fall as they are freed") {
        int64_t before;
        ud_ref r;
        ud_view v;
        int ready, nready;
        if (!driver_host_has_worker()) {
            ut_skip("no worker shares the driver's host: its store holds no task's result");
            continue;
        }
        UT_EVENTUALLY(entries_now() == 0, 10); /* the cases above, cleaned up */
        before = entries_now();
        r = make(2 * MIB, 3);
        UT_OK(ud_wait(&r, 1, 1, -1, &ready, &nready));
        UT_EVENTUALLY(ud_shm_refs(r) == 1, 10); /* its maker's */
        if (UT_OK(ud_get(r, &v))) {
            UT_EQ_INT(ud_shm_refs(r), 2);
            UT_OK(ud_get(r, &v)); /* the driver holds one reference, however often it gets */
            UT_EQ_INT(ud_shm_refs(r), 2);
            UT_EQ_INT(entries_now(), before + 1);
        }
        UT_OK(ud_free(r));
        UT_EVENTUALLY(ud_shm_refs(r) == 0, 10);
        UT_EVENTUALLY(entries_now() == before, 10);
    }
    UT_CASE("a task that fails after writing a large result gives its room in the store back") {
        int n = 2 * MIB, seed = 4;
        ud_arg a[2] = {ud_arg_val(&n, sizeof n), ud_arg_val(&seed, sizeof seed)};
        ud_opts o = near_driver();
        ud_ref r;
        ud_view v;
        if (!driver_host_has_worker()) {
            ut_skip("no worker shares the driver's host: its store holds no task's result");
            continue;
        }
        UT_EVENTUALLY(entries_now() == 0 && used_now() == 0, 10);
        if (UT_OK(ud_remote_opts(&o, f_fill_fail, a, 2, 1, &r))) {
            if (UT_EQ_STATUS(ud_get(r, &v), UD_ERR_TASK)) UT_CONTAINS((const char *)v.data, "failed after writing");
            UT_OK(ud_free(r));
        }
        UT_EVENTUALLY(entries_now() == 0 && used_now() == 0, 10); /* the unpublished room too */
    }
}

/* For a store of 64 MiB. */
static SHM_CASE reuse(void) {
    UT_CASE("putting and freeing 10x the store's size reuses its space") {
        static char buf[8 * MIB];
        ud_shm_stats s;
        int i, in_store = 0;
        ud_shm_stats_get(&s);
        UT_CHECK(s.capacity <= 64 * MIB);
        for (i = 0; i < 80; i++) { /* 640 MiB through a 64 MiB store */
            ud_ref r;
            ud_view v;
            buf[0] = (char)i;
            if (!UT_OK(ud_put(buf, sizeof buf, &r))) break;
            if (UT_OK(ud_get(r, &v))) {
                in_store += ud_shm_contains(v.data);
                UT_EQ_INT(((const char *)v.data)[0], (char)i);
            }
            UT_OK(ud_free(r));
        }
        UT_EQ_INT(in_store, store_here() ? 80 : 0); /* a free reaches the manager before the next reserve */
        UT_EVENTUALLY(used_now() == 0, 10);
    }
    UT_CASE("task results through a small store, freed as they go") {
        int i, in_store = 0;
        for (i = 0; i < 40; i++) {
            ud_ref r = make(6 * MIB, i);
            ud_view v;
            if (UT_OK(ud_get(r, &v))) {
                UT_CHECK(intact(v, 6 * MIB, i));
                in_store += ud_shm_contains(v.data);
            }
            ud_free(r);
        }
        ut_note("%d of 40 results were in the store", in_store);
        if (store_here()) UT_CHECK(in_store > 0);
        else UT_EQ_INT(in_store, 0);
        UT_EVENTUALLY(used_now() == 0, 10);
    }
    UT_CASE("a store cut into more than 64 free ranges joins them again as they are freed") {
        enum { N = 140 };                  /* 28 MiB in pieces; the rest of 64 MiB is < 40 MiB */
        static char piece[200000], big[40 * MIB];
        ud_ref r[N], b;
        ud_view v;
        int i, in_store = 0;
        if (!store_here()) {
            ut_skip("no worker shares the driver's host: the driver has no store to cut");
            continue;
        }
        UT_EVENTUALLY(used_now() == 0, 10);
        for (i = 0; i < N; i++) {
            UT_OK(ud_put(piece, sizeof piece, &r[i]));
            in_store += UT_OK(ud_get(r[i], &v)) && ud_shm_contains(v.data);
        }
        UT_EQ_INT(in_store, N);
        for (i = 0; i < N; i += 2) UT_OK(ud_free(r[i])); /* 70 holes between the odd ones */
        UT_EVENTUALLY(entries_now() == N / 2, 10);
        UT_OK(ud_put(big, sizeof big, &b));
        if (UT_OK(ud_get(b, &v))) UT_CHECK(!ud_shm_contains(v.data)); /* no hole is large enough */
        UT_OK(ud_free(b));
        for (i = 1; i < N; i += 2) UT_OK(ud_free(r[i]));
        UT_EVENTUALLY(used_now() == 0, 10);
        UT_OK(ud_put(big, sizeof big, &b));
        if (UT_OK(ud_get(b, &v))) UT_CHECK(ud_shm_contains(v.data)); /* one range again */
        UT_OK(ud_free(b));
        UT_EVENTUALLY(used_now() == 0, 10);
    }
}

/* For a store of 64 MiB. */
static SHM_CASE full(void) {
    UT_CASE("a full store falls back to local memory") {
        static char buf[40 * MIB];
        ud_ref a, b, c, r;
        ud_view va, vb, vc, vr;
        if (!store_here()) {
            ut_skip("no worker shares the driver's host: the driver has no store to fill");
            continue;
        }
        memset(buf, 5, sizeof buf);
        UT_OK(ud_put(buf, sizeof buf, &a));
        UT_OK(ud_put(buf, sizeof buf, &b)); /* only one fits in 64 MiB */
        r = make(40 * MIB, 9);
        UT_OK(ud_put(buf, sizeof buf, &c));
        if (UT_OK(ud_get(a, &va)) && UT_OK(ud_get(b, &vb)) && UT_OK(ud_get(c, &vc))) {
            UT_CHECK(ud_shm_contains(va.data));
            UT_CHECK(!ud_shm_contains(vb.data));
            UT_CHECK(!ud_shm_contains(vc.data));
            UT_EQ_MEM(vb.data, buf, sizeof buf);
            UT_EQ_MEM(vc.data, buf, sizeof buf);
        }
        if (UT_OK(ud_get(r, &vr))) {
            UT_CHECK(intact(vr, 40 * MIB, 9));
            UT_CHECK(!ud_shm_contains(vr.data));
        }
        ud_free(a);
        ud_free(b);
        ud_free(c);
        ud_free(r);
        UT_EVENTUALLY(used_now() == 0, 10);
        UT_OK(ud_put(buf, sizeof buf, &a)); /* room again */
        if (UT_OK(ud_get(a, &va))) UT_CHECK(ud_shm_contains(va.data));
        ud_free(a);
    }
}

/* For a store of 1 MiB (less than a chunk of mapping) with 4 entries, above 50000 bytes. */
static SHM_CASE cramped(void) {
    UT_CASE("a store of 1 MiB holds objects as a large one does") {
        ud_ref r = make(300000, 12);
        ud_view v;
        if (UT_OK(ud_get(r, &v))) {
            UT_CHECK(intact(v, 300000, 12));
            UT_EQ_INT(ud_shm_contains(v.data), store_here());
        }
        {
            probe_out p = probe_of(r, 300000, 12);
            UT_CHECK(p.intact && p.in_store);
        }
        ud_free(r);
        UT_EVENTUALLY(entries_now() == 0, 10);
    }
    UT_CASE("with every entry of the store taken, a put stays in local memory until one is freed, and a get looks past them all") {
        static char buf[5][100000];
        ud_shm_stats s;
        ud_ref r[5], again;
        ud_view v;
        int i;
        if (!store_here()) {
            ut_skip("no worker shares the driver's host: the driver has no store to fill");
            continue;
        }
        if (UT_OK(ud_shm_stats_get(&s))) UT_EQ_INT(s.slots, 4);
        for (i = 0; i < 5; i++) {
            memset(buf[i], 'a' + i, sizeof buf[i]);
            UT_OK(ud_put(buf[i], sizeof buf[i], &r[i]));
            if (UT_OK(ud_get(r[i], &v))) {
                UT_EQ_INT(ud_shm_contains(v.data), i < 4); /* the fifth finds no entry */
                UT_EQ_MEM(v.data, buf[i], sizeof buf[i]);
            }
        }
        { /* a get looks for a task's result in the store: past every entry, none empty */
            ud_ref sum;
            if (UT_OK(ut_call_int(f_inc, 41, 1, &sum)) && UT_OK(ud_get(sum, &v))) UT_EQ_INT(*(const int *)v.data, 42);
            ud_free(sum);
        }
        UT_OK(ud_free(r[0]));
        UT_EVENTUALLY(entries_now() == 3, 10);
        UT_OK(ud_put(buf[0], sizeof buf[0], &again));
        if (UT_OK(ud_get(again, &v))) UT_CHECK(ud_shm_contains(v.data));
        UT_OK(ud_free(again));
        for (i = 1; i < 5; i++) UT_OK(ud_free(r[i]));
        UT_EVENTUALLY(entries_now() == 0, 10);
    }
}

/* /dev/shm resized to what it holds, as root, on a /dev/shm of this job's own (UT_OWN_SHM:
   tests/private_shm.sh), before anything was written to the store: its pages are not had yet. */
static SHM_CASE dev_shm_full(void) {
    UT_CASE("when /dev/shm fills up after init, a large put stays in local memory, with a warning") {
        static char buf[600000];
        struct statvfs fs;
        unsigned long long size, used;
        char opts[64];
        ud_ref r;
        ud_view v;
        if (!store_here() || geteuid() != 0 || !getenv("UT_OWN_SHM")) {
            ut_skip("needs root, a store on the driver's host and a /dev/shm of the job's own");
            continue;
        }
        if (!UT_CHECK(statvfs("/dev/shm", &fs) == 0)) continue;
        size = (unsigned long long)fs.f_blocks * fs.f_frsize;
        used = (unsigned long long)(fs.f_blocks - fs.f_bfree) * fs.f_frsize;
        snprintf(opts, sizeof opts, "size=%llu", used + 65536);
        if (!UT_CHECK(mount("tmpfs", "/dev/shm", "tmpfs", MS_REMOUNT, opts) == 0)) continue;
        memset(buf, 3, sizeof buf);
        pthread_mutex_lock(&g_warning_lock);
        g_warning[0] = '\0';
        pthread_mutex_unlock(&g_warning_lock);
        UT_OK(ud_put(buf, sizeof buf, &r));
        snprintf(opts, sizeof opts, "size=%llu", size);
        UT_CHECK(mount("tmpfs", "/dev/shm", "tmpfs", MS_REMOUNT, opts) == 0);
        if (UT_OK(ud_get(r, &v))) {
            UT_CHECK(!ud_shm_contains(v.data));
            UT_EQ_MEM(v.data, buf, sizeof buf);
        }
        pthread_mutex_lock(&g_warning_lock);
        UT_CONTAINS(g_warning, "/dev/shm cannot back");
        pthread_mutex_unlock(&g_warning_lock);
        UT_OK(ud_free(r));
        UT_EVENTUALLY(entries_now() == 0 && used_now() == 0, 10); /* the room went back */
        UT_OK(ud_put(buf, sizeof buf, &r));
        if (UT_OK(ud_get(r, &v))) UT_CHECK(ud_shm_contains(v.data)); /* room again */
        UT_OK(ud_free(r));
    }
}

static SHM_CASE tiny_threshold(void) {
    UT_CASE("a threshold of one byte: every object is in the store") {
        int x = 0, i;
        ud_ref r, next;
        ud_view v;
        ud_arg a;
        UT_OK(ud_put(&x, sizeof x, &r));
        for (i = 0; i < 200; i++) { /* a chain across the workers */
            a = ud_arg_ref(r);
            if (!UT_OK(ud_remote(f_inc, &a, 1, 1, &next))) break;
            ud_free(r);
            r = next;
        }
        if (UT_OK(ud_get(r, &v))) {
            UT_EQ_INT(*(const int *)v.data, 200);
            UT_EQ_INT(ud_shm_contains(v.data), store_here());
        }
        ud_free(r);
        UT_EVENTUALLY(entries_now() == 0, 10);
    }
}

static SHM_CASE virtual_hosts(void) {
    UT_CASE("virtual hosts: data crosses between hosts intact and lands in each host's store") {
        static char buf[3 * MIB];
        ud_shm_stats s;
        ud_ref put, made;
        ud_view v;
        int i, w, n = ud_num_workers(), seen[4096] = {0}, again = 0, can_again = 0;
        UT_OK(ud_shm_stats_get(&s));
        UT_EQ_INT(s.hosts, g_expect_hosts);
        UT_EQ_INT(ud_num_hosts(), s.hosts); /* host 0, the driver's, has workers only with 3 ranks */
        for (i = 0; i < (int)sizeof buf; i++) buf[i] = (char)pattern((size_t)i, 4);
        UT_OK(ud_put(buf, sizeof buf, &put));
        made = make(5 * MIB, 6);
        if (UT_OK(ud_get(made, &v))) {
            UT_CHECK(intact(v, 5 * MIB, 6));
            UT_EQ_INT(ud_shm_contains(v.data), store_here()); /* made here, or copied here once */
        }
        for (i = 0; i < 2 * n; i++) { /* each worker twice, in turn */
            int host;
            probe_out p, q2;
            ud_arg a[4];
            ud_ref o;
            w = i % n;
            host = ud_worker_host(w);
            {
                ud_opts on = ud_on_worker(w);
                ud_view pv;
                a[0] = ud_arg_ref(made);
                a[1] = ud_arg_val(&made, sizeof made);
                a[2] = ud_arg_val(&(int){5 * MIB}, sizeof(int));
                a[3] = ud_arg_val(&(int){6}, sizeof(int));
                memset(&p, 0, sizeof p);
                if (UT_OK(ud_remote_opts(&on, f_probe, a, 4, 1, &o)) && UT_OK(ud_get(o, &pv)) &&
                    UT_EQ_INT(pv.size, sizeof p))
                    memcpy(&p, pv.data, sizeof p);
                ud_free(o);
            }
            q2 = probe_of(put, 3 * MIB, 4);
            UT_CHECK(p.intact && q2.intact);
            UT_CHECK(p.in_store && q2.in_store); /* every worker's host has a store */
            UT_EQ_INT(p.rank, ud_worker_rank(w));
            /* the first reader on another host brings it there; the next finds it there */
            if (host != ud_shm_host((int)made.owner) && host >= 0 && host < 4096) {
                if (seen[host] && seen[host] != p.rank) {
                    again++;
                    UT_CHECK(p.refs >= 2);
                }
                if (!seen[host]) seen[host] = p.rank;
            }
        }
        for (w = 0; w < n; w++) /* two workers on a host that did not make it */
            for (i = w + 1; i < n; i++)
                can_again |= ud_worker_host(w) == ud_worker_host(i) &&
                             ud_worker_host(w) != ud_shm_host((int)made.owner);
        ut_note("%d readers on other hosts found a copy already there", again);
        if (can_again) UT_CHECK(again > 0);
        ud_free(put);
        ud_free(made);
        UT_EVENTUALLY(entries_now() == 0, 10);
    }
}

/* With several hosts: ud_on_host runs a task on a worker of that host; under the auto
   scheduler a task goes to the host of its large argument, the driver's own put included. */
static SHM_CASE hosts_and_places(void) {
    UT_CASE("tasks go to the host of their data, and where ud_on_host says") {
        ud_config c;
        int h, w, inc_arg = 1;
        UT_OK(ud_config_resolve(NULL, &c));
        for (h = 0; h < ud_num_hosts(); h++) {
            ud_opts o = ud_on_host(h);
            ud_arg a = ud_arg_val(&inc_arg, sizeof inc_arg);
            ud_ref r;
            int has = 0;
            for (w = 0; w < ud_num_workers(); w++) has |= ud_worker_host(w) == h;
            if (!has) {
                UT_EQ_STATUS(ud_remote_opts(&o, f_inc, &a, 1, 1, &r), UD_ERR_ARG);
                continue;
            }
            if (UT_OK(ud_remote_opts(&o, f_inc, &a, 1, 1, &r))) {
                UT_EQ_INT(ud_shm_host((int)r.owner), h);
                ud_free(r);
            }
        }
        if (!strcmp(c.scheduler, "auto")) {
            for (w = 0; w < ud_num_workers(); w++) { /* a result of worker w draws its reader there */
                ud_opts o = ud_on_worker(w);
                int n = 300000, seed = w, ready, nready;
                ud_arg a[2] = {ud_arg_val(&n, sizeof n), ud_arg_val(&seed, sizeof seed)};
                ud_ref made, r;
                if (!UT_OK(ud_remote_opts(&o, f_fill, a, 2, 1, &made))) break;
                UT_OK(ud_wait(&made, 1, 1, 60.0, &ready, &nready));
                a[0] = ud_arg_ref(made);
                if (UT_OK(ud_remote(f_inc, a, 1, 1, &r))) { /* it fails (not an int): a reader all the same */
                    UT_EQ_INT(r.owner, ud_worker_rank(w)); /* sent to the maker */
                    ud_free(r);
                }
                ud_free(made);
            }
        }
    }
}

/* For a threshold under 600 bytes: a failure's message would fit in the store. */
static SHM_CASE failures(void) {
    UT_CASE("a failed task's result stays a failure, on every host and every time") {
        ud_ref bad, dep;
        ud_view v;
        ud_arg a;
        int i;
        UT_OK(ud_remote(f_fail, NULL, 0, 1, &bad));
        for (i = 0; i < 2; i++) {
            UT_EQ_STATUS(ud_get(bad, &v), UD_ERR_TASK);
            UT_EQ_INT(v.status, UD_ERR_TASK);
            UT_EQ_INT(v.size, 600);
        }
        for (i = 0; i < 2 * ud_num_workers(); i++) { /* readers on each worker fail too */
            a = ud_arg_ref(bad);
            if (!UT_OK(ud_remote(f_inc, &a, 1, 1, &dep))) break;
            UT_EQ_STATUS(ud_get(dep, &v), UD_ERR_TASK);
            UT_EQ_INT(v.size, 600);
            ud_free(dep);
        }
        ud_free(bad);
    }
}

static SHM_CASE store_off(void) {
    UT_CASE("with the store off everything still works") {
        ud_shm_stats s;
        ud_ref r = make(2 * MIB, 11);
        ud_view v;
        UT_OK(ud_shm_stats_get(&s));
        UT_EQ_INT(s.enabled, 0);
        if (UT_OK(ud_get(r, &v))) {
            UT_CHECK(intact(v, 2 * MIB, 11));
            UT_CHECK(!ud_shm_contains(v.data));
        }
        {
            probe_out p = probe_of(r, 2 * MIB, 11);
            UT_CHECK(p.intact && !p.in_store);
        }
        ud_free(r);
    }
}

/* ---- /dev/shm before and after ---------------------------------------------------------------- */
#define MAX_NAMES 4096
static char *g_before[MAX_NAMES];
static int g_nbefore;

static int list_shm(char **names, int cap) {
    DIR *d = opendir("/dev/shm");
    struct dirent *e;
    int n = 0;
    if (!d) return -1;
    while ((e = readdir(d)) != NULL && n < cap)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) names[n++] = strdup(e->d_name);
    closedir(d);
    return n;
}

/* Does a live process map /dev/shm/name? (then it belongs to another job on this machine) */
static int in_use(const char *name) {
    char path[300], line[512], want[300];
    DIR *d = opendir("/proc");
    struct dirent *e;
    int used = 0;
    snprintf(want, sizeof want, "/dev/shm/%s", name);
    while (d && !used && (e = readdir(d)) != NULL) {
        FILE *f;
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        snprintf(path, sizeof path, "/proc/%s/maps", e->d_name);
        if (!(f = fopen(path, "r"))) continue;
        while (!used && fgets(line, sizeof line, f)) used = strstr(line, want) != NULL;
        fclose(f);
    }
    if (d) closedir(d);
    return used;
}

static int new_names(int show) {
    char *now[MAX_NAMES];
    int n = list_shm(now, MAX_NAMES), i, j, fresh = 0;
    for (i = 0; i < n; i++) {
        for (j = 0; j < g_nbefore && strcmp(now[i], g_before[j]); j++) {}
        if (j == g_nbefore && !in_use(now[i])) {
            fresh++;
            if (show) ut_note("left in /dev/shm: %s", now[i]);
        }
        free(now[i]);
    }
    return fresh;
}

/* What each program provides: its configuration, and its cases, run by the driver. A program
   that defines SHM_SECOND_CONFIG starts the runtime again after the first shutdown, in the
   same processes, with shm_config2 and shm_cases2: a store of another size without another
   program to start (each costs seconds in every variant of the suite). */
static void shm_config(ud_config *c);
static void shm_cases(void);
#ifdef SHM_SECOND_CONFIG
static void shm_config2(ud_config *c);
static void shm_cases2(void);
#endif

/* One start of the runtime: config, the driver's cases, shutdown. */
static void phase(void (*config)(ud_config *), void (*cases)(void), const char *what) {
    ud_config cfg;
    ud_role role = (ud_role)-1;
    ud_status st;
    char name[100];
    base_config(&cfg);
    config(&cfg);
    { /* each machine is split into g_hosts virtual hosts, or as many as it has ranks */
        MPI_Comm m;
        int lrank, lsize, mine, v = g_hosts > 1 ? g_hosts : 1;
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL, &m);
        MPI_Comm_rank(m, &lrank);
        MPI_Comm_size(m, &lsize);
        mine = lrank == 0 ? (v < lsize ? v : lsize) : 0;
        MPI_Allreduce(&mine, &g_expect_hosts, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        MPI_Comm_free(&m);
    }
    if ((st = ud_init(&cfg, &role)) != UD_OK) {
        snprintf(name, sizeof name, "init%s", what);
        UT_CASE(name) UT_FAIL("init: %s", ud_last_error());
    } else if (role == UD_ROLE_DRIVER) {
        cases();
        snprintf(name, sizeof name, "shutdown%s", what);
        UT_CASE(name) UT_OK(ud_shutdown());
    } else {
        snprintf(name, sizeof name, "init returned a role%s", what);
        UT_CASE(name) UT_CHECK(role == UD_ROLE_WORKER || role == UD_ROLE_MONITOR);
    }
}

int main(int argc, char **argv) {
    int provided;
    g_nbefore = list_shm(g_before, MAX_NAMES);
    MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    MPI_Comm_dup(MPI_COMM_WORLD, &g_comm);
    ut_set_reduce(g_rank, NULL, NULL);
    ud_register("fill", fill, NULL, &f_fill);
    ud_register("probe", probe, NULL, &f_probe);
    ud_register("inc", inc, NULL, &f_inc);
    ud_register("fail", fail, NULL, &f_fail);
    ud_register("fill_fail", fill_fail, NULL, &f_fill_fail);
    phase(shm_config, shm_cases, "");
#ifdef SHM_SECOND_CONFIG
    phase(shm_config2, shm_cases2, " (second configuration)");
#endif
    MPI_Comm_free(&g_comm);
    MPI_Finalize();
    if (g_rank == 0 && g_nbefore >= 0) {
        UT_CASE("nothing is left in /dev/shm") {
            /* the other ranks may still be finishing MPI_Finalize: give them time */
            double end = ut_now() + 10;
            const char *why = getenv("UT_SHM_LEFTOVERS");
            int left;
            while ((left = new_names(0)) > 0 && ut_now() < end) ut_sleep(0.2);
            if (left) new_names(1);
            if (why && *why) ut_skip(why); /* a variant whose MPI leaves files of its own */
            else UT_EQ_INT(left, 0);
        }
    }
    return ut_finish();
}
#endif
