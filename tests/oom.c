/* Out of memory on one rank: the allocator hooks fail one allocation site (once, or from then on
   for good) on the rank named by UT_OOM_RANK, while a representative program runs: register,
   put (small and shared-store sized), remote tasks with refs, get, get_many, get_copy, wait, a
   burst of tasks, free, a second round once memory is back, shutdown. That is one phase; with a
   list of sites the program runs a phase for each, from init to shutdown, with memory back in
   between, so that one job sweeps many sites (tests/oom_sweep.sh starts the next job after the
   site that ended one).

   Every call must end with UD_OK or UD_ERR_NOMEM, a task may fail with "out of memory", any
   value that is got must be right, and at the end of each phase every rank must have given
   back every byte it took through the hooks. What is seen is printed on lines "oom: ...":
   "oom: site K: ..." by the driver when phase K is over, "oom: BAD ..." by any rank for what
   went wrong. The exit code is 0 only when nothing was wrong.

     UT_OOM_RANK   the rank whose allocations fail (unset: none; count mode counts on it)
     UT_OOM_MODE   count: list the allocation sites the rank goes through, with hits
                   once: fail the first allocation at the phase's site only
                   always: fail it and every allocation after it, to the end of the phase
     UT_OOM_LIST   count mode: the file to write the sites to (one per line: the site, as
                   offsets in this program "4af9:1a2b3c:1a2d00", then its hits);
                   once and always: the file to read them from
     UT_OOM_FIRST  once and always: the index in that list of the first site (0) */
#define _GNU_SOURCE
#define UNIDIST_IMPLEMENTATION
#include "unidist_mpi.h"
#include "ud_test.h"

#include <dlfcn.h>
#include <execinfo.h>
#include <stdatomic.h>

#define BIG_BYTES 300000 /* above the shared store's threshold */
#define BURST 40

/* ---- the allocator hooks -------------------------------------------------------------------- */
typedef union head {
    max_align_t align;
    size_t size;
} head;

#define MAX_SITES 512
static struct {
    int rank, target, mode; /* mode: 0 none, 1 count, 2 once, 3 always */
    uintptr_t base, want[3];
    int nwanted;
    uintptr_t (*wanted)[3];   /* the sites of once and always, a phase each */
    atomic_int fired;
    atomic_llong live;
    pthread_mutex_t lock; /* the site list of count mode */
    int nsites;
    uintptr_t sites[MAX_SITES][3];
    long hits[MAX_SITES];
} g = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Three frames above the hook, as offsets in this program: the runtime's allocation function
   (when not inlined), its caller and the caller's caller. */
static void site_of(uintptr_t out[3]) {
    void *fr[4];
    int n = backtrace(fr, 4), i;
    for (i = 0; i < 3; i++) out[i] = n > i + 1 ? (uintptr_t)fr[i + 1] - g.base : 0;
}

static void count_site(const uintptr_t s[3]) {
    int i;
    pthread_mutex_lock(&g.lock);
    for (i = 0; i < g.nsites && memcmp(g.sites[i], s, sizeof g.sites[i]); i++) {}
    if (i == g.nsites && i < MAX_SITES) {
        memcpy(g.sites[i], s, sizeof g.sites[i]);
        g.nsites++;
    }
    if (i < MAX_SITES) g.hits[i]++;
    pthread_mutex_unlock(&g.lock);
}

/* Does this allocation fail? */
static int injected(void) {
    uintptr_t s[3];
    if (g.rank != g.target || g.mode == 0) return 0;
    if (g.mode == 3 && atomic_load(&g.fired)) return 1;
    site_of(s);
    if (g.mode == 1) {
        count_site(s);
        return 0;
    }
    if (memcmp(s, g.want, sizeof s)) return 0;
    if (g.mode == 2) return atomic_exchange(&g.fired, 1) == 0;
    atomic_store(&g.fired, 1);
    return 1;
}

static void *hook_alloc(size_t size, void *user) {
    head *h;
    (void)user;
    if (injected() || !(h = (head *)malloc(sizeof *h + size))) return NULL;
    h->size = size;
    atomic_fetch_add(&g.live, (long long)size);
    return h + 1;
}

static void hook_free(void *p, size_t size, void *user) {
    head *h = (head *)p - 1;
    (void)size;
    (void)user;
    if (!p) return;
    atomic_fetch_sub(&g.live, (long long)h->size);
    free(h);
}

static void *hook_realloc(void *p, size_t old_size, size_t new_size, void *user) {
    head *h;
    size_t had;
    (void)old_size;
    (void)user;
    if (!p) return hook_alloc(new_size, user);
    if (injected()) return NULL;
    had = ((head *)p - 1)->size;
    if (!(h = (head *)realloc((head *)p - 1, sizeof *h + new_size))) return NULL;
    h->size = new_size;
    atomic_fetch_add(&g.live, (long long)new_size - (long long)had);
    return h + 1;
}

/* The sites to fail, from the list count mode wrote. */
static void read_sites(const char *path) {
    FILE *f = path ? fopen(path, "r") : NULL;
    unsigned long a, b, c;
    long hits;
    if (!f) return;
    g.wanted = calloc(MAX_SITES, sizeof *g.wanted);
    while (g.wanted && g.nwanted < MAX_SITES && fscanf(f, "%lx:%lx:%lx %ld", &a, &b, &c, &hits) == 4) {
        g.wanted[g.nwanted][0] = a;
        g.wanted[g.nwanted][1] = b;
        g.wanted[g.nwanted][2] = c;
        g.nwanted++;
    }
    fclose(f);
}

static void hooks_setup(void) {
    const char *m = getenv("UT_OOM_MODE"), *t = getenv("UT_OOM_RANK");
    Dl_info info;
    void *fr[2];
    backtrace(fr, 2); /* its first call loads the unwinder, with malloc: not inside a hook */
    if (dladdr((void *)hooks_setup, &info)) g.base = (uintptr_t)info.dli_fbase;
    g.rank = ut_launcher_rank() < 0 ? 0 : ut_launcher_rank();
    g.target = t ? atoi(t) : -1;
    g.mode = !m ? 0 : !strcmp(m, "count") ? 1 : !strcmp(m, "once") ? 2 : !strcmp(m, "always") ? 3 : 0;
    if (g.mode >= 2) read_sites(getenv("UT_OOM_LIST"));
}

static void write_sites(void) {
    const char *path = getenv("UT_OOM_LIST");
    FILE *f;
    int i;
    if (g.mode != 1 || g.rank != g.target || !path || !(f = fopen(path, "w"))) return;
    for (i = 0; i < g.nsites; i++)
        fprintf(f, "%lx:%lx:%lx %ld\n", (unsigned long)g.sites[i][0], (unsigned long)g.sites[i][1],
                (unsigned long)g.sites[i][2], g.hits[i]);
    fclose(f);
}

/* ---- tasks ---------------------------------------------------------------------------------- */
static ud_func f_ident, f_add, f_big;

/* The argument's bytes, copied. */
static int ident(ud_task *t) {
    ud_view a;
    void *y;
    if (ud_task_arg(t, 0, &a) != UD_OK) return ud_task_fail(t, "ident: no argument");
    if (!(y = ud_task_result(t, 0, a.size))) return ud_task_fail(t, "ident: out of memory");
    memcpy(y, a.data, a.size);
    return 0;
}

/* The sum of its int64 arguments. */
static int add(ud_task *t) {
    int64_t s = 0, x, *y;
    int i;
    for (i = 0; i < ud_task_nargs(t); i++) {
        ud_view a;
        if (ud_task_arg(t, i, &a) != UD_OK || a.size != sizeof x) return ud_task_fail(t, "add: bad argument");
        memcpy(&x, a.data, sizeof x);
        s += x;
    }
    if (!(y = (int64_t *)ud_task_result(t, 0, sizeof *y))) return ud_task_fail(t, "add: out of memory");
    *y = s;
    return 0;
}

/* The big argument's bytes with the first one incremented. */
static int big(ud_task *t) {
    ud_view a;
    unsigned char *y;
    if (ud_task_arg(t, 0, &a) != UD_OK || a.size != BIG_BYTES) return ud_task_fail(t, "big: bad argument");
    if (!(y = (unsigned char *)ud_task_result(t, 0, a.size))) return ud_task_fail(t, "big: out of memory");
    memcpy(y, a.data, a.size);
    y[0]++;
    return 0;
}

/* ---- what the driver sees ------------------------------------------------------------------- */
static int calls, nomem, task_failed, bad;

/* A call's status: fine when UD_OK, or out of memory; a task may have failed for memory. */
static int seen(ud_status st, const char *what) {
    calls++;
    if (st == UD_OK) return 1;
    if (st == UD_ERR_NOMEM) {
        nomem++;
        if (!strstr(ud_last_error(), "memory")) {
            printf("oom: BAD %s: UD_ERR_NOMEM without saying so: %s\n", what, ud_last_error());
            bad++;
        }
    } else if (st == UD_ERR_TASK && strstr(ud_last_error(), "out of memory")) {
        task_failed++;
    } else {
        printf("oom: BAD %s: %s: %s\n", what, ud_status_str(st), ud_last_error());
        bad++;
    }
    return 0;
}

static void expect_int(const ud_view *v, int64_t want, const char *what) {
    int64_t x;
    if (v->size != sizeof x) {
        printf("oom: BAD %s: %zu bytes\n", what, v->size);
        bad++;
        return;
    }
    memcpy(&x, v->data, sizeof x);
    if (x != want) {
        printf("oom: BAD %s: %lld, want %lld\n", what, (long long)x, (long long)want);
        bad++;
    }
}

static void put_int(int64_t x, ud_ref *r, int *ok) { *ok = seen(ud_put(&x, sizeof x, r), "put"); }

static void free_if(int ok, ud_ref r) {
    if (ok) seen(ud_free(r), "free");
}

/* One round of everything; the second round runs after the first's failures. */
static void round_of_calls(int round) {
    static unsigned char blob[BIG_BYTES];
    ud_ref x, y, bigr, sum, copy, bigcopy, burst[BURST];
    int okx, oky, okb, oks = 0, okc = 0, okbc = 0, okburst[BURST], i;
    ud_view v, vs[2];
    int ready[2], nready = 0;
    memset(blob, round + 1, sizeof blob);
    put_int(20, &x, &okx);
    put_int(22, &y, &oky);
    okb = seen(ud_put(blob, sizeof blob, &bigr), "put big");
    if (okx && oky) {
        ud_arg a[2];
        a[0] = ud_arg_ref(x);
        a[1] = ud_arg_ref(y);
        oks = seen(ud_remote(f_add, a, 2, 1, &sum), "remote add");
    }
    if (oks) {
        ud_arg a = ud_arg_ref(sum);
        okc = seen(ud_remote(f_ident, &a, 1, 1, &copy), "remote ident");
    }
    if (okb) {
        ud_arg a = ud_arg_ref(bigr);
        okbc = seen(ud_remote(f_big, &a, 1, 1, &bigcopy), "remote big");
    }
    for (i = 0; i < BURST; i++) {
        int64_t k = i;
        ud_arg a = ud_arg_val(&k, sizeof k);
        okburst[i] = seen(ud_remote(f_ident, &a, 1, 1, &burst[i]), "remote burst");
    }
    if (okc && seen(ud_get(copy, &v), "get")) expect_int(&v, 42, "get of ident(add(20, 22))");
    if (oks && okc) {
        ud_ref two[2];
        two[0] = sum;
        two[1] = copy;
        if (seen(ud_wait(two, 2, 2, -1, ready, &nready), "wait") && seen(ud_get_many(two, 2, vs), "get_many")) {
            expect_int(&vs[0], 42, "get_many[0]");
            expect_int(&vs[1], 42, "get_many[1]");
        }
    }
    if (oks) {
        int64_t z = 0;
        size_t size = 0;
        if (seen(ud_get_copy(sum, &z, sizeof z, &size), "get_copy") && z != 42) {
            printf("oom: BAD get_copy: %lld\n", (long long)z);
            bad++;
        }
    }
    if (okbc && seen(ud_get(bigcopy, &v), "get big")) {
        const unsigned char *p = (const unsigned char *)v.data;
        if (v.size != BIG_BYTES || p[0] != (unsigned char)(round + 2) || p[BIG_BYTES - 1] != (unsigned char)(round + 1)) {
            printf("oom: BAD get big: %zu bytes\n", v.size);
            bad++;
        }
    }
    for (i = 0; i < BURST; i++)
        if (okburst[i] && seen(ud_get(burst[i], &v), "get burst")) expect_int(&v, i, "get burst");
    for (i = 0; i < BURST; i++) free_if(okburst[i], burst[i]);
    free_if(okbc, bigcopy);
    free_if(okc, copy);
    free_if(oks, sum);
    free_if(okb, bigr);
    free_if(oky, y);
    free_if(okx, x);
}

/* One phase: init, two rounds, shutdown; site is the index of the failing site (-1: none). */
static void phase(int site) {
    ud_config cfg;
    ud_role role = (ud_role)-1;
    ud_status st;
    long long live;
    calls = nomem = task_failed = 0;
    memset(&cfg, 0, sizeof cfg);
    cfg.alloc = hook_alloc;
    cfg.realloc = hook_realloc;
    cfg.free = hook_free;
    st = ud_init(&cfg, &role);
    if (st != UD_OK) {
        /* init may run out of memory too: then it must say so, on every rank alike */
        if (st != UD_ERR_NOMEM && !strstr(ud_last_error(), "memory")) {
            printf("oom: BAD site %d, rank %d: init: %s\n", site, g.rank, ud_last_error());
            bad++;
        }
        if (g.rank == 0) printf("oom: site %d: init: %s\n", site, ud_last_error());
    } else if (role == UD_ROLE_DRIVER) {
        round_of_calls(0);
        round_of_calls(1);
        st = ud_shutdown();
        if (st != UD_OK && !seen(st, "shutdown")) printf("oom: shutdown: %s\n", ud_last_error());
        printf("oom: site %d: calls %d, out of memory %d, tasks failed %d\n", site, calls, nomem, task_failed);
    }
    if (site >= 0 && g.rank == g.target && !atomic_load(&g.fired))
        printf("oom: site %d was not reached\n", site); /* this run took another path */
    atomic_store(&g.fired, 0); /* memory is back */
    live = atomic_load(&g.live);
    if (live != 0 && ud_is_initialized() == 0) {
        printf("oom: BAD site %d, rank %d: %lld bytes not given back\n", site, g.rank, live);
        atomic_store(&g.live, 0);
        bad++;
    }
    fflush(stdout);
}

int main(void) {
    int k;
    const char *first = getenv("UT_OOM_FIRST");
    hooks_setup();
    ud_register("ident", ident, NULL, &f_ident);
    ud_register("add", add, NULL, &f_add);
    ud_register("big", big, NULL, &f_big);
    if (g.mode < 2) {
        phase(-1);
        write_sites();
    }
    for (k = first ? atoi(first) : 0; k < g.nwanted; k++) {
        memcpy(g.want, g.wanted[k], sizeof g.want);
        phase(k);
    }
    free(g.wanted);
    return bad ? 1 : 0;
}
