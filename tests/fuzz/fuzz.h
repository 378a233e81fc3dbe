/* The fuzz targets' common part: the runtime, built over the stub MPI (tests/fuzz/mpi.h),
   runs as rank FZ_RANK of a pretend world of FZ_SIZE ranks on one host, and the fuzz input
   is the messages it receives. A target defines FZ_RANK (0: the driver, 1: the monitor and
   the host's store manager, 2: a plain worker) and includes this file.

   The input is a list of messages, each [source rank][channel][length: 2 bytes, little
   endian][bytes]; channel 0 is operations, 1 the large parts that follow them, 2 the host's
   store manager's channel, and 3 a hold: the messages after it come only once the rank has
   taken those before it and caught up (its task threads idle, parked or waiting for an
   answer; 20 ms at most), so that an answer can follow the call it answers.

   A worker rank runs its loop inside ud_init on those messages; once they are all taken,
   the rest of the world plays its part honestly until the rank can stop (fz_settle): what
   it waits for comes, its calls are answered with an error, then the next input comes (or
   the driver cancels the run). The driver runs a short program (fz_driver) whose receives
   take the messages; once they are all taken, each receive it waits on fails.

   Every byte the runtime allocates goes through fz_malloc: past FZ_ALLOC_MAX it fails, as a
   full machine's would. It stays well above what the stub makes up in a run (FZS_MADE_UP_MAX,
   mpi_stub.c), so that an honest message always finds memory, and low enough that a size a
   message claims costs little to allocate. A run that ends on the runtime's fatal path
   after a receive failed (fzs_failed: a large part that never came, or a message longer
   than its receive) ended as it should, since the stream of messages could not be kept
   whole; so did one after an allocation failed (a rank whose own stream needs the memory
   waits for it no longer than its patience, then ends the job): it is ended here and
   everything it held is freed. Any other fatal path is a crash.

   A worker rank is not started for each input: it runs a session of inputs (see "a worker
   rank's session" below), which makes a target run thousands of inputs a second. */
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void *fz_malloc(size_t n);
static void *fz_realloc(void *p, size_t n);
static void fz_free(void *p);
#define UD_MALLOC(n) fz_malloc(n)
#define UD_REALLOC(p, n) fz_realloc(p, n)
#define UD_FREE(p) fz_free(p)
/* An input of a few hundred bytes could ask for a million results, and its rank would take
   seconds to make and free them: the bound is checked alike at any size, so a small one here
   keeps every input's work small. */
#define UD__MAX_RESULTS 256
/* the block cache and the pre-faulting of large blocks start at 1 MiB: at 64 KiB here, what
   the stub makes up for an input reaches them without an input's pages costing much */
#define UD__CACHE_MIN ((size_t)64 << 10)
/* the driver's program alone takes the driver's messages, as the input orders them (its
   fatal path jumps back on its own thread) */
#define UD__ROOT_LOOP_THREAD 0
#define UNIDIST_IMPLEMENTATION
#include "unidist_mpi.h"

#ifndef FZ_SIZE
#define FZ_SIZE 4
#endif
/* 1 MiB: past UD__CACHE_MIN (above), a larger object tries nothing a smaller one does not,
   and each one's pages cost an input its time */
#define FZ_ALLOC_MAX ((size_t)1 << 20)
#define FZ_SHM_MEM ((uint64_t)64 << 10)
#define FZ_SHM_SLOTS 64
/* seconds a rank may take to stop once its input is taken; FZ_SETTLE_MAX in the environment
   says more, for a long run at a low priority on a busy machine */
static double fz_settle_max(void) {
    static double max;
    if (!max) {
        const char *e = getenv("FZ_SETTLE_MAX");
        max = e && atof(e) > 0 ? atof(e) : 10.0;
    }
    return max;
}

/* ---- the allocator: every block on a list while a run goes, so a run ended early frees all */
typedef struct fz_blk {
    struct fz_blk *prev, *next;
    size_t size, tracked;
} fz_blk;

static pthread_mutex_t fz_mu = PTHREAD_MUTEX_INITIALIZER;
static fz_blk fz_live = {&fz_live, &fz_live, 0, 0};
static int fz_tracking;
static size_t fz_live_bytes; /* of the blocks on the list */

static void fz_link(fz_blk *b) {
    b->tracked = (size_t)fz_tracking;
    if (!b->tracked) return;
    fz_live_bytes += b->size;
    b->next = fz_live.next;
    b->prev = &fz_live;
    fz_live.next->prev = b;
    fz_live.next = b;
}

static void fz_unlink(fz_blk *b) {
    if (!b->tracked) return;
    fz_live_bytes -= b->size;
    b->prev->next = b->next;
    b->next->prev = b->prev;
}

static atomic_int fz_refused; /* an allocation of this input's failed */

static void *fz_malloc(size_t n) {
    fz_blk *b;
    if (n > FZ_ALLOC_MAX || !(b = (fz_blk *)malloc(sizeof *b + n))) {
        atomic_store(&fz_refused, 1);
        return NULL;
    }
    b->size = n;
    pthread_mutex_lock(&fz_mu);
    fz_link(b);
    pthread_mutex_unlock(&fz_mu);
    return b + 1;
}

static void fz_free(void *p) {
    fz_blk *b;
    if (!p) return;
    b = (fz_blk *)p - 1;
    pthread_mutex_lock(&fz_mu);
    fz_unlink(b);
    pthread_mutex_unlock(&fz_mu);
    free(b);
}

static void *fz_realloc(void *p, size_t n) {
    fz_blk *b, *nb;
    size_t tracked;
    if (!p) return fz_malloc(n);
    if (n > FZ_ALLOC_MAX) {
        atomic_store(&fz_refused, 1);
        return NULL;
    }
    b = (fz_blk *)p - 1;
    pthread_mutex_lock(&fz_mu);
    tracked = b->tracked;
    fz_unlink(b);
    nb = (fz_blk *)realloc(b, sizeof *b + n);
    if (nb) {
        b = nb;
        b->size = n;
    }
    if (tracked) {
        int was = fz_tracking;
        fz_tracking = 1;
        fz_link(b);
        fz_tracking = was;
    }
    pthread_mutex_unlock(&fz_mu);
    return nb ? (void *)(nb + 1) : NULL;
}

/* At the end of a run: forget the blocks still live, so that LeakSanitizer sees them. */
static void fz_untrack_all(void) {
    pthread_mutex_lock(&fz_mu);
    if (getenv("FZ_LOG") && fz_live.next != &fz_live)
        fprintf(stderr, "fuzz: a block of %zu bytes is still held after the run\n", fz_live.next->size);
    while (fz_live.next != &fz_live) {
        fz_blk *b = fz_live.next;
        fz_unlink(b);
        b->tracked = 0;
    }
    fz_tracking = 0;
    pthread_mutex_unlock(&fz_mu);
}

static void fz_free_all(void) {
    pthread_mutex_lock(&fz_mu);
    while (fz_live.next != &fz_live) {
        fz_blk *b = fz_live.next;
        fz_unlink(b);
        free(b);
    }
    fz_tracking = 0;
    pthread_mutex_unlock(&fz_mu);
}

/* ---- task functions: the same on every rank, so an EXECUTE may name them ------------------- */
static atomic_int fz_gate_open, fz_stopping, fz_parked;
static ud_func fz_fn_id, fz_fn_gate, fz_fn_nest, fz_fn_inl;

/* Each result is a copy of argument 0. */
static int fz_id(ud_task *t) {
    ud_view v;
    const void *d = "";
    size_t size = 0;
    int i;
    if (ud_task_nargs(t) > 0 && ud_task_arg(t, 0, &v) == UD_OK) d = v.data, size = v.size;
    for (i = 0; i < ud_task_nreturns(t) && i < 4; i++) {
        void *p = ud_task_result(t, i, size);
        if (p && size) memcpy(p, d, size);
    }
    return 0;
}

/* Holds its task thread until the input is taken, so that the tasks after it stay queued
   (and may be stolen), or until the rank takes a CANCEL (fz_on_taken), after which it takes no
   more of the input but waits for its tasks; 2 s at most, whatever happens. */
static int fz_gate(ud_task *t) {
    struct timespec ts = {0, 100000};
    double since = ud__now();
    (void)t;
    atomic_fetch_add(&fz_parked, 1);
    while (!atomic_load(&fz_gate_open) && ud__now() - since < 2.0) nanosleep(&ts, NULL);
    atomic_fetch_sub(&fz_parked, 1);
    return 0;
}

/* Nested calls, chosen by argument 0: [kind, worker, 6 bytes][up to 4 refs (owner, num)]. */
static int fz_nest(ud_task *t) {
    ud_view v, views[4];
    ud_ref refs[4], out[2];
    ud_arg a;
    ud_opts o;
    int n = 0, ready[4], nready;
    const unsigned char *p;
    if (atomic_load(&fz_stopping) || ud_task_nargs(t) < 1 || ud_task_arg(t, 0, &v) != UD_OK || v.size < 8)
        return 0;
    p = (const unsigned char *)v.data;
    for (n = 0; n < 4 && 8 + 16 * (size_t)(n + 1) <= v.size; n++) memcpy(&refs[n], p + 8 + 16 * n, 16);
    a = ud_arg_val(p, 8);
    switch (p[0] % 7) {
    case 0: ud_put(p, v.size, &out[0]); break;
    case 1: ud_remote(fz_fn_id, &a, 1, 2, out); break;
    case 6: /* what it made, it reads and frees without asking the root */
        if (ud_remote(fz_fn_id, &a, 1, 2, out) == UD_OK && ud_get_many(out, 2, views) == UD_OK)
            ud_free_many(out, 2);
        break;
    case 2: ud_get_many(refs, n, views); break;
    case 3: ud_wait(refs, n, n, 0.01, ready, &nready); break;
    case 4: ud_free_many(refs, n); break;
    default:
        o = p[1] & 1 ? ud_on_worker(p[1] >> 1) : n ? ud_near(refs[0]) : ud_on_host(p[1] >> 1);
        ud_remote_opts(&o, fz_fn_id, &a, 1, 1, out);
    }
    return 0;
}

/* ---- messages ------------------------------------------------------------------------------ */
static void fz_push_op(int src, int op, uint32_t flags, int32_t count, int32_t aux, int32_t status,
                       int64_t a, int64_t b, const void *payload, size_t len) {
    char buf[512];
    ud__hdr *h = (ud__hdr *)buf;
    size_t n = sizeof *h + UD__ALIGN8(len);
    if (n > sizeof buf) abort();
    memset(buf, 0, n);
    ud__hdr_init(h, op);
    h->flags = flags;
    h->count = count;
    h->aux = aux;
    h->status = status;
    h->a = a;
    h->b = b;
    h->length = n;
    if (len) memcpy(h + 1, payload, len);
    fzs_push(src, UD__TAG_OP, buf, n);
}

static const int fz_tags[4] = {UD__TAG_OP, UD__TAG_DATA, UD__SHM_TAG, FZS_HOLD};

static void fz_push_input(const uint8_t *data, size_t size) {
    while (size >= 4) {
        size_t len = (size_t)data[2] | (size_t)data[3] << 8;
        if (len > size - 4) len = size - 4;
        fzs_push(data[0] % FZ_SIZE, fz_tags[data[1] % 4], data + 4, len);
        data += 4 + len;
        size -= 4 + len;
    }
}

/* ---- the rest of the world, once the input is taken ---------------------------------------- */
static int fz_input_done, fz_cancelled, fz_flip;
static int fz_next_input(void);
static double fz_settle_since, fz_held_since;

/* Tasks of the pool waiting in a nested call now. */
static int fz_pool_waiting(void) {
    int n;
    pthread_mutex_lock(&ud__wk.pool.mu);
    n = ud__wk.pool.nwaiting;
    pthread_mutex_unlock(&ud__wk.pool.mu);
    return n;
}

/* Every task that runs waits, in a nested call or parked by a gate, and nothing is queued.
   This catches what the count below misses: a task answered but not yet back at work is
   still counted as waiting for a moment, so this must last a quarter of a millisecond. */
static double fz_all_wait_since;

static int fz_all_waiting(void) {
    ud__pool *p = &ud__wk.pool;
    int i, idle = fz_pool_waiting() + atomic_load(&fz_parked) >= ud__wk.running;
    for (i = 0; idle && i < p->n; i++) idle = !ud__pool_has_work(p, &p->q[i]);
    if (!idle) return (int)(fz_all_wait_since = 0);
    if (fz_all_wait_since == 0) fz_all_wait_since = ud__now();
    return ud__now() - fz_all_wait_since > 0.00025;
}

/* A worker rank has caught up: no task thread works on something that could still send. A
   task waits for a call's answer, or (a nested get) for objects, in the pool's help; a gate
   parks its thread. */
static int fz_caught_up(void) {
    ud__call *c;
    int waiting = 0, helping = fz_pool_waiting(), busy;
    for (c = ud__wk.calls; c; c = c->next) waiting++;
    waiting = (waiting > helping ? waiting : helping) + atomic_load(&fz_parked);
    pthread_mutex_lock(&ud__in.mu);
    busy = ud__in.done || ud__in.calls;
    pthread_mutex_unlock(&ud__in.mu);
    if (busy || ud__wk.inl) return (int)(fz_all_wait_since = 0); /* a thread was at work */
    /* with every task thread parked, the tasks queued behind them wait too; inline tasks run
       at the end of the loop's turn */
    return ud__wk.running <= waiting || atomic_load(&fz_parked) >= ud__wk.pool.n || fz_all_waiting();
}

/* A hold goes once the rank caught up (a worker), or on the second probe that meets it with
   nothing sent in between (the driver: its service takes what is there and stops at the first
   empty probe, then the call goes on and sends; a waiting receive probes again). A worker's
   waits 20 ms at most. */
static uint64_t fz_hold_sent;
static int fz_hold_probes;

static void fz_hold(void) {
    double t = ud__now();
    int pass;
    if (fz_held_since == 0) fz_held_since = t;
    if (FZ_RANK == UD__ROOT) {
        if (fzs_sent != fz_hold_sent) fz_hold_probes = 0;
        fz_hold_sent = fzs_sent;
        pass = ++fz_hold_probes >= 2;
    } else {
        pass = fz_caught_up() || t - fz_held_since > 0.02;
    }
    if (pass) {
        fzs_pass();
        fz_held_since = fz_all_wait_since = 0;
        fz_hold_probes = 0;
    }
}

static void fz_hang(const char *what) {
    fprintf(stderr, "fuzz: rank %d did not stop within %.0f s of its input: %s\n", FZ_RANK,
            fz_settle_max(), what);
    abort();
}

/* A worker rank: what it waits for comes, then the driver cancels the run. */
static void fz_settle(void) {
    ud__call *c;
    size_t i;
    int pushed = 0, busy;
    if (fz_cancelled || ud__wk.stop) return; /* cancelled by its input: it hears no more */
    if (!fz_input_done) {
        fz_input_done = 1;
        fz_settle_since = ud__now();
        atomic_store(&fz_gate_open, 1);
    }
    if (ud__now() - fz_settle_since > fz_settle_max()) fz_hang(ud__wk.running ? "a task runs" : "waiting");
    for (c = ud__wk.calls; c; c = c->next, pushed++) /* a nested call: the root refuses it */
        fz_push_op(UD__ROOT, UD__OP_NESTED, 0, 0, c->kind, UD_ERR_PROTO, 0, c->id, "fuzz", 5);
    pthread_mutex_lock(&ud__in.mu);
    busy = ud__in.done || ud__in.calls;
    pthread_mutex_unlock(&ud__in.mu);
    if (pushed || busy) return;
    for (i = 0; ud__wk.map.count && i < ud__wk.map.cap; i++) { /* data tasks (and gets) wait for: its owner sends it */
        ud__went *e = (ud__went *)ud__wk.map.slots[i].val;
        ud__wobj wo;
        if (!ud__wk.map.slots[i].key.num || !e->waiters || e->obj) continue;
        wo.num = e->ref.num;
        wo.status = UD_OK;
        wo.nparts = 0;
        fz_push_op(UD__ROOT, UD__OP_PUT_DATA, 0, 1, 0, 0, e->ref.owner, 0, &wo, sizeof wo);
        pushed++;
    }
    for (i = 0; ud__wk.given.count && i < ud__wk.given.cap; i++) { /* tasks a thief took: it ran them */
        ud__wt *t = (ud__wt *)ud__wk.given.slots[i].val;
        int64_t rec[2];
        if (!ud__wk.given.slots[i].key.num) continue;
        rec[0] = t->first;
        rec[1] = t->nret;
        fz_push_op(FZ_RANK == 3 ? 2 : 3, UD__OP_TASK_DONE, UD__F_DELEGATED, 1, 0, 0, 0, 0, rec, sizeof rec);
        pushed++;
    }
    if (pushed || ud__wk.running > 0 || ud__wk.inl || fz_next_input()) return;
    fz_push_op(UD__ROOT, UD__OP_CANCEL, 0, 0, 0, 0, 0, 0, NULL, 0);
    fz_cancelled = 1;
}

static void fz_on_empty(int tag, int src, int blocking) {
    ud__shm_msg m;
    if (tag == UD__SHM_TAG && blocking) {
        memset(&m, 0, sizeof m);
        if (src == MPI_ANY_SOURCE) { /* the manager's farewell: another rank of the host ends */
            m.op = UD__SHM_END;
            src = FZ_RANK == 2 ? 3 : 2;
        } else { /* a reservation: the manager has no room */
            m.op = UD__SHM_RESERVE;
            m.a = m.b = -1;
        }
        fzs_push_first(src, tag, &m, sizeof m);
    } else if (fzs_held()) {
        fz_hold();
    } else if (tag == UD__TAG_OP && FZ_RANK != UD__ROOT) {
        fz_settle();
    } else if (tag == UD__TAG_OP && (fz_flip ^= 1)) { /* the driver: a waiting receive fails */
        static const char bad[8];
        fzs_push(UD__MONITOR, tag, bad, sizeof bad);
    }
}

static void fz_on_taken(int tag, const void *data, size_t len) {
    if (tag == UD__TAG_OP && len >= sizeof(ud__hdr) && ((const ud__hdr *)data)->op == UD__OP_CANCEL)
        atomic_store(&fz_gate_open, 1);
}

/* The store's sizes as its manager (rank 1) sends them. */
static void fz_on_bcast(void *buf, int count, MPI_Datatype type) {
    if (count == 2 && type == MPI_INT64_T) {
        ((int64_t *)buf)[0] = (int64_t)FZ_SHM_MEM;
        ((int64_t *)buf)[1] = FZ_SHM_SLOTS;
    }
}

/* ---- the fatal path -------------------------------------------------------------------------- */
static jmp_buf fz_jmp;
static pthread_t fz_main;
static ud_config fz_cfg;

static void fz_log(int level, int rank, const char *msg, void *user) {
    (void)user;
    if (getenv("FZ_LOG")) fprintf(stderr, "[fuzz r%d] %d: %s\n", rank, level, msg);
}

/* The runtime's fatal path: ended here only after a receive failed, or after an allocation
   failed, which a rank's loop may wait out no longer than its patience (see above). */
static void fz_on_abort(void) {
    if ((fzs_failed || atomic_load(&fz_refused)) && pthread_equal(pthread_self(), fz_main))
        longjmp(fz_jmp, 1);
}

static atomic_int fz_joined;

static void *fz_join_pool(void *arg) {
    (void)arg;
    ud__pool_stop(&ud__wk.pool);
    atomic_store(&fz_joined, 1);
    return NULL;
}

/* Calls answered with an error (each lives on its thread's stack until answered; a free that
   no thread waits for is the loop's). Under ud__in.mu. */
static void fz_refuse_all(ud__call *c) {
    while (c) {
        ud__call *next = c->next;
        c->status = UD_ERR_PROTO;
        if (c->kind != UD__NEST_FREE || !c->local) {
            ud__atomic_store(&c->answered, 1);
            pthread_cond_signal(&c->cv);
        }
        c = next;
    }
}

/* After a run ended on the fatal path: its threads stop, all it held is freed. */
static void fz_reset_runtime(void) {
    pthread_t joiner;
    struct timespec ts = {0, 100000};
    atomic_store(&fz_stopping, 1);
    atomic_store(&fz_gate_open, 1);
    atomic_store(&fz_joined, 0);
    if (FZ_RANK != UD__ROOT && ud__wk.pool.q) {
        /* once, as a cancelled rank does: nested gets whose objects have not all come are
           refused, each waking its helper (a task that ends frees its gets) */
        ud__wk_refuse_gets();
        if (pthread_create(&joiner, NULL, fz_join_pool, NULL) != 0) abort();
        while (!atomic_load(&fz_joined)) { /* what the task threads ask for until they end */
            pthread_mutex_lock(&ud__in.mu);
            fz_refuse_all(ud__in.calls);
            ud__in.calls = NULL;
            fz_refuse_all(ud__wk.calls);
            ud__wk.calls = NULL;
            pthread_mutex_unlock(&ud__in.mu);
            nanosleep(&ts, NULL);
        }
        pthread_join(joiner, NULL);
    }
    (void)pthread_mutex_trylock(&ud__life_mu); /* held when the run ended inside init or shutdown */
    pthread_mutex_unlock(&ud__life_mu);
    ud__cache_trim(1);
    fz_free_all();
    memset(&ud__net, 0, sizeof ud__net);
    memset(&ud__bo, 0, sizeof ud__bo);
    memset(&ud__st, 0, sizeof ud__st);
    ud__comm = MPI_COMM_NULL;
    memset(&ud__root, 0, sizeof ud__root);
    memset(&ud__wk, 0, sizeof ud__wk);
    memset(&ud__mon, 0, sizeof ud__mon);
    memset(&ud__sh, 0, sizeof ud__sh);
    if (FZ_RANK == UD__ROOT) { /* the driver's call that jumped out held the root's lock */
        (void)pthread_mutex_trylock(&ud__rl.root_mu);
        pthread_mutex_unlock(&ud__rl.root_mu);
        ud__rl_mine = 0;
        ud__atomic_store(&ud__rl.running, 0);
    }
    ud__in_runtime = 0; /* (an exit now would be the program's again) */
    ud__abort_hook = NULL;
    ud__rt.be = NULL;
    ud__atomic_store(&ud__rt.state, UD__STOPPED);
    ud__atomic_store(&ud__rt.nested, 0);
}

/* ---- a worker rank's session: one start for many inputs ---------------------------------------
   A worker rank starts once and takes input after input, on a thread of its own that takes
   turns with libFuzzer's. Once an input is taken and the rank has settled (fz_settle), what
   the input left in the rank's tables goes and its store is opened anew (fz_renew), while
   its task threads and communicators stay; then the next input's messages come. A session
   starts on an empty input, after which the bytes the rank holds, but for the buffers it
   reuses, are its baseline: an input that leaves more behind is a leak. A session ends, the
   runtime stopped and everything it still holds shown to LeakSanitizer as before, after
   FZ_SESSION_INPUTS inputs, on an input that stops the rank (a CANCEL) and on the fatal
   path; the next input starts another. */
#define FZ_SESSION_INPUTS 2000

static pthread_mutex_t fz_turn_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fz_turn_cv = PTHREAD_COND_INITIALIZER;
static int fz_rank_turn;   /* 1: the rank's thread runs an input, 0: libFuzzer's thread runs */
static int fz_up;          /* a session runs, its rank waiting for the next input */
static int fz_session_inputs;
static size_t fz_base_bytes;

/* Gives the turn to the other thread, and waits until it comes back. */
static void fz_turn(int to) {
    pthread_mutex_lock(&fz_turn_mu);
    fz_rank_turn = to;
    pthread_cond_broadcast(&fz_turn_cv);
    while (fz_rank_turn == to) pthread_cond_wait(&fz_turn_cv, &fz_turn_mu);
    pthread_mutex_unlock(&fz_turn_mu);
}

/* The buffers a rank reuses, which an input may grow for good: its maps' tables stay too,
   since fresh ones would cost more than all the rest of an input. */
static size_t fz_kept_bytes(void) {
    size_t req = sizeof *ud__net.reqs + sizeof *ud__net.recs + sizeof *ud__net.idx + sizeof *ud__net.sts;
    size_t slots = ud__wk.map.cap + ud__wk.given.cap + ud__mon.done.cap;
    size_t threads; /* the pool's threads stay, spares too (a task that waited left one) */
    pthread_mutex_lock(&ud__wk.pool.mu);
    threads = (size_t)ud__wk.pool.nthreads * sizeof(ud__pth);
    pthread_mutex_unlock(&ud__wk.pool.mu);
    return ud__net.rcap + (size_t)ud__net.capreqs * req + (size_t)ud__wk.capdone * sizeof *ud__wk.done +
           slots * sizeof(ud__slot) + threads;
}

/* A table an input grew past its first size goes: the harness scans every slot of the
   worker's tables at each empty probe, and one large input would slow every later one. */
static void fz_map_empty(ud__map *m) {
    if (m->cap > 1024) ud__map_clear(m);
    if (m->slots) memset(m->slots, 0, m->cap * sizeof *m->slots);
    m->count = 0;
}

static void fz_check_bytes(void) {
    size_t held;
    pthread_mutex_lock(&fz_mu);
    held = fz_live_bytes - fz_kept_bytes();
    pthread_mutex_unlock(&fz_mu);
    if (getenv("FZ_DBG")) { fz_blk *b; for (b = fz_live.next; b != &fz_live; b = b->next) fprintf(stderr, "%zu ", b->size); fprintf(stderr, "= %zu\n", held); }
    if (!fz_base_bytes) fz_base_bytes = held;
    if (held == fz_base_bytes) return;
    fprintf(stderr, "fuzz: rank %d holds %zu bytes after this input, %zu after none: a leak\n",
            FZ_RANK, held, fz_base_bytes);
    abort();
}

/* What an input left on a settled rank goes, as at the end of a run; the task threads stay. */
static void fz_renew(void) {
    size_t i;
    MPI_Comm machine;
    ud__wk_flush_done();
    ud__wk_flush_push();
    for (i = 0; ud__wk.map.count && i < ud__wk.map.cap; i++) {
        ud__went *e = (ud__went *)ud__wk.map.slots[i].val;
        if (!ud__wk.map.slots[i].key.num) continue;
        for (ud__obj_release(e->obj); e->requests;) {
            ud__wreq *q = e->requests;
            e->requests = q->next;
            ud__free(q, sizeof *q);
        }
        ud__free(e, sizeof *e);
    }
    fz_map_empty(&ud__wk.map);
    fz_map_empty(&ud__wk.given);
    ud__wk.stealing = ud__wk.victim = ud__wk.failed = ud__wk.nrefused = 0;
    ud__wk.next_steal = 0;
    ud__wk.next_call = 0;
    memset(ud__wk.refused, 0, (size_t)((ud__net.size + 63) / 64) * sizeof *ud__wk.refused);
    memset(&ud__st, 0, sizeof ud__st);
    if (ud__net.rank == UD__MONITOR) { /* its waits go; its tables stay, emptied */
        ud__map done = ud__mon.done;
        int64_t *done_by = ud__mon.done_by;
        memset(&ud__mon.done, 0, sizeof ud__mon.done);
        ud__mon.done_by = NULL;
        ud__mon_stop();
        fz_map_empty(&done);
        ud__mon.done = done;
        ud__mon.done_by = done_by;
        ud__mon.on = 1;
        memset(done_by, 0, (size_t)ud__net.size * sizeof *done_by);
    }
    ud__shm_close(); /* the store's manager takes what is left on its channel, as at the end */
    if (MPI_Comm_split_type(ud__comm, MPI_COMM_TYPE_SHARED, ud__net.rank, MPI_INFO_NULL, &machine) ||
        ud__shm_open(ud__comm, machine, ud__net.rank, ud__net.size, ud__is_worker(UD__ROOT), &ud__rt.cfg) != UD_OK) {
        fprintf(stderr, "fuzz: the store did not open again: %s\n", ud_last_error());
        abort();
    }
    MPI_Comm_free(&machine);
    ud__async_drain(); /* the sends still in flight hold their buffers */
    ud__cache_trim(1); /* what the input freed is not held for the next */
}

/* A settled worker rank goes on with the next input (1), or its session ends (0). */
static int fz_next_input(void) {
    if (!ud__atomic_load(&ud__rt.nested) || ud__wk.stop || ++fz_session_inputs >= FZ_SESSION_INPUTS)
        return 0;
    fz_renew();
    fz_check_bytes();
    fz_up = 1;
    fz_turn(0);
    return 1;
}

/* ---- a run ------------------------------------------------------------------------------------ */
static void fz_driver(void);

/* The harness's part of an input that starts. */
static void fz_begin(void) {
    fz_input_done = fz_cancelled = fz_flip = 0;
    fz_held_since = fz_all_wait_since = 0;
    fz_hold_probes = 0;
    atomic_store(&fz_gate_open, 0);
    atomic_store(&fz_stopping, 0);
}

/* A run of the runtime: ud_init (a worker rank's loop, and then a session of inputs), or the
   driver's program; its end, or the fatal path. */
static void fz_run(void) {
    ud_role role;
    fz_main = pthread_self();
    fz_session_inputs = 0;
    fz_base_bytes = 0;
    ud__rt.phase = 0; /* every run numbers its refs alike */
    pthread_mutex_lock(&fz_mu);
    fz_tracking = 1;
    pthread_mutex_unlock(&fz_mu);
    if (setjmp(fz_jmp) == 0) {
        if (ud_init(&fz_cfg, &role) != UD_OK) {
            fprintf(stderr, "fuzz: init failed: %s\n", ud_last_error());
            abort();
        }
        if (role == UD_ROLE_DRIVER) fz_driver();
        fz_untrack_all();
    } else {
        fz_reset_runtime();
    }
    fz_up = 0;
}

static void *fz_rank_main(void *arg) {
    (void)arg;
    pthread_mutex_lock(&fz_turn_mu);
    while (!fz_rank_turn) pthread_cond_wait(&fz_turn_cv, &fz_turn_mu);
    pthread_mutex_unlock(&fz_turn_mu);
    for (;;) {
        fz_run();
        fz_turn(0);
    }
    return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fz_main = pthread_self();
    if (ud_register("fz_id", fz_id, NULL, &fz_fn_id) != UD_OK ||
        ud_register("fz_gate", fz_gate, NULL, &fz_fn_gate) != UD_OK ||
        ud_register("fz_nest", fz_nest, NULL, &fz_fn_nest) != UD_OK ||
        ud_register_flags("fz_inl", fz_id, NULL, UD_FN_INLINE, &fz_fn_inl) != UD_OK)
        abort();
    fz_cfg.backend = "mpi";
    fz_cfg.cpus = 1;
    fz_cfg.mpi_backoff = 20;
    fz_cfg.mpi_chunk_size = 65536;
    fz_cfg.mpi_shared_object_store_threshold = 256;
    fz_cfg.mpi_shared_object_store_memory = FZ_SHM_MEM;
    fz_cfg.mpi_shared_service_memory = sizeof(ud__shm_head) + FZ_SHM_SLOTS * UD__SHM_SLOT_BYTES;
    fz_cfg.log = fz_log;
    fzs_on_empty = fz_on_empty;
    fzs_on_abort = fz_on_abort;
    fzs_on_bcast = fz_on_bcast;
    fzs_on_taken = fz_on_taken;
    fzs_tag_data = UD__TAG_DATA;
    fzs_window_bytes[0] = FZ_SHM_MEM;
    fzs_window_bytes[1] = sizeof(ud__shm_head) + FZ_SHM_SLOTS * UD__SHM_SLOT_BYTES;
    if (FZ_RANK != UD__ROOT) {
        pthread_t t;
        if (pthread_create(&t, NULL, fz_rank_main, NULL) != 0) abort();
        pthread_detach(t);
    }
    return 0;
}

/* The driver runs on libFuzzer's thread, from its start to its shutdown; a worker rank's
   thread takes the input in its session (started first, on no input, when none runs). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (FZ_RANK != UD__ROOT && !fz_up) {
        fzs_reset(FZ_RANK, FZ_SIZE);
        fz_begin();
        fz_turn(1);
        if (!fz_up) {
            fprintf(stderr, "fuzz: rank %d stopped on no input\n", FZ_RANK);
            abort();
        }
    }
    if (FZ_RANK == UD__ROOT) fzs_reset(FZ_RANK, FZ_SIZE);
    else fzs_clear();
    atomic_store(&fz_refused, 0);
    fz_push_input(data, size);
    fz_begin();
    if (FZ_RANK == UD__ROOT) fz_run();
    else fz_turn(1);
    return 0;
}

#if FZ_RANK != 0
static void fz_driver(void) {}
#else
/* The driver's program: its calls receive what the input holds. The refs it makes are the
   same in every run (the generator's seeds answer them). */
static ud_ref fz_driver_refs[6]; /* for the seed generator */

static void fz_driver(void) {
    ud_ref *r = fz_driver_refs;
    ud_arg a[2];
    ud_view v[4];
    ud_stats st[FZ_SIZE];
    ud_opts on1 = ud_on_worker(1);
    int ready[4], n;
    ud_put("fuzz", 5, &r[0]);
    a[0] = ud_arg_ref(r[0]);
    a[1] = ud_arg_val("value", 6);
    ud_remote(fz_fn_id, a, 2, 2, &r[1]);
    ud_remote_opts(&on1, fz_fn_id, &a[1], 1, 1, &r[3]);
    ud_remote(fz_fn_nest, &a[1], 1, 1, &r[4]);
    ud_wait(&r[1], 4, 2, -1, ready, &n);
    ud_get_many(&r[1], 3, v);
    ud_stats_get(st, FZ_SIZE, &n);
    ud_free_many(r, 5);
    ud_put("again", 6, &r[5]);
    ud_get(r[5], v);
    ud_shutdown();
}
#endif
