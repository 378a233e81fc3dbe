/* Writes the fuzz targets' seed corpus: a few small valid conversations per target, built
   with the runtime's own wire structures, so that the seeds follow the wire format when it
   changes. Run from the repository's top:

     cc -std=gnu11 -I tests/fuzz -I . tests/fuzz/gen_seeds.c tests/fuzz/mpi_stub.c -o gen -pthread
     ./gen tests/fuzz/corpus

   Each seed is the input format of tests/fuzz/fuzz.h: messages [source][channel][length][bytes]. */
#define FZ_RANK 0
#include "fuzz.h"

#include <sys/stat.h>

static unsigned char seed[8192];
static size_t seed_len;
static char msg[4096];
static size_t msg_len;
static const char *out_dir;

/* ---- building a message --------------------------------------------------------------------- */
static ud__hdr *op(int kind) {
    ud__hdr *h = (ud__hdr *)msg;
    memset(msg, 0, sizeof msg);
    ud__hdr_init(h, kind);
    msg_len = sizeof *h;
    return h;
}

static void put(const void *p, size_t n) {
    memcpy(msg + msg_len, p, n);
    msg_len += UD__ALIGN8(n);
}

static void i64(int64_t v) { put(&v, sizeof v); }

/* An object of one inline part. */
static void obj(const char *s) {
    ud__wpart w;
    memset(&w, 0, sizeof w);
    w.size = strlen(s) + 1;
    w.inl = 1;
    put(&w, sizeof w);
    put(s, w.size);
}

static void add_raw(int src, int chan, const void *p, size_t n) {
    seed[seed_len++] = (unsigned char)src;
    seed[seed_len++] = (unsigned char)chan;
    seed[seed_len++] = (unsigned char)(n & 0xFF);
    seed[seed_len++] = (unsigned char)(n >> 8);
    memcpy(seed + seed_len, p, n);
    seed_len += n;
}

/* The message built so far, from src, into the seed. */
static void send_op(int src) {
    ((ud__hdr *)msg)->length = msg_len;
    add_raw(src, 0, msg, msg_len);
}

/* A hold: what follows comes once the rank caught up with what came before. */
static void hold(void) { add_raw(0, 3, "", 0); }

static void shm(int src, int64_t kind, int64_t a, int64_t b, int64_t c) {
    ud__shm_msg m;
    m.op = kind;
    m.a = a;
    m.b = b;
    m.c = c;
    add_raw(src, 2, &m, sizeof m);
}

static void write_seed(const char *target, const char *name) {
    char path[512];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", out_dir, target);
    mkdir(path, 0777);
    snprintf(path, sizeof path, "%s/%s/%s", out_dir, target, name);
    if (!(f = fopen(path, "wb")) || fwrite(seed, 1, seed_len, f) != seed_len || fclose(f) != 0) {
        fprintf(stderr, "gen_seeds: cannot write %s\n", path);
        exit(1);
    }
    seed_len = 0;
}

/* ---- pieces the targets' seeds share ---------------------------------------------------------- */
#define NUM(k, owner) ((((int64_t)1 << 36) + (k)) * FZ_SIZE + (owner)) /* a number of this run */

/* EXECUTE from the root: fn with one inline argument of n bytes, nret results numbered
   from first. */
static void execute_bytes(int64_t fn, const void *arg, size_t n, int nret, int64_t first) {
    ud__hdr *h = op(UD__OP_EXECUTE);
    ud__wpart w;
    h->a = fn;
    h->b = first;
    h->count = 1;
    h->aux = nret;
    i64(UD__WARG_VAL);
    memset(&w, 0, sizeof w);
    w.size = n;
    w.inl = 1;
    put(&w, sizeof w);
    put(arg, n);
}

static void execute(int64_t fn, const char *arg, int nret, int64_t first) {
    execute_bytes(fn, arg, strlen(arg) + 1, nret, first);
}

static void execute_ref(int64_t fn, ud_ref ref, int64_t first) {
    ud__hdr *h = op(UD__OP_EXECUTE);
    h->a = fn;
    h->b = first;
    h->count = 1;
    h->aux = 1;
    i64(UD__WARG_REF);
    i64(ref.owner);
    i64(ref.num);
}

static void put_data(int64_t owner, int64_t num, const char *s, uint32_t flags, int64_t first) {
    ud__hdr *h = op(UD__OP_PUT_DATA);
    ud__wobj wo;
    h->a = owner;
    h->count = 1;
    h->flags = flags;
    h->b = first;
    wo.num = num;
    wo.status = UD_OK;
    wo.nparts = 1;
    put(&wo, sizeof wo);
    obj(s);
}

static void refs_op(int kind, const ud_ref *refs, int n, int64_t extra) {
    ud__hdr *h = op(kind);
    int i;
    h->count = n;
    for (i = 0; i < n; i++) {
        ud__wref w;
        w.owner = refs[i].owner;
        w.num = refs[i].num;
        w.n = extra;
        put(&w, sizeof w);
    }
}

/* A task of fz_nest, which makes the nested call its argument says, and a hold, so that
   what follows comes once the call was made. */
static void nest_task(const unsigned char *arg, size_t n) {
    execute_bytes((int64_t)fz_fn_nest, arg, n, 1, NUM(1, 2));
    send_op(0);
    hold();
}

/* A task held on the gate (the rank's one task thread), two queued behind it, and a hold. */
static void gate_and_two_queued(void) {
    execute((int64_t)fz_fn_gate, "", 1, NUM(1, 2));
    send_op(0);
    execute((int64_t)fz_fn_id, "a", 1, NUM(2, 2));
    send_op(0);
    execute((int64_t)fz_fn_id, "b", 1, NUM(3, 2));
    send_op(0);
    hold();
}

/* NESTED from the root: its answer to a task's call of this kind (the worker's first call,
   id 1), which the caller completes and sends. */
static ud__hdr *answer(int kind) {
    ud__hdr *h = op(UD__OP_NESTED);
    h->aux = kind;
    h->b = 1;
    return h;
}

static void task_done(int64_t first, int64_t nret, uint32_t flags) {
    ud__hdr *h = op(UD__OP_TASK_DONE);
    h->flags = flags;
    h->count = 1;
    i64(first);
    i64(nret);
    i64(3); /* size code */
}

/* ---- the targets ---------------------------------------------------------------------------- */
static void worker_seeds(void) {
    char big[300];
    ud_ref theirs = {3, NUM(1, 3)};
    ud__hdr *h;
    char e1[1024];
    size_t n1;
    unsigned char nest[8 + 16] = {0};
    int k;
    memset(big, 'x', sizeof big);

    execute((int64_t)fz_fn_id, "hello", 1, NUM(1, 2));
    send_op(0);
    write_seed("worker", "execute");

    execute((int64_t)fz_fn_id, "hello", 2, NUM(1, 2));
    send_op(0);
    op(UD__OP_GET)->a = 2;
    ((ud__hdr *)msg)->count = 2;
    i64(NUM(1, 2));
    i64(NUM(2, 2));
    send_op(0);
    op(UD__OP_GET)->a = 2;
    ((ud__hdr *)msg)->count = 1;
    i64(NUM(1, 2));
    send_op(3);
    write_seed("worker", "execute_get");

    execute_ref((int64_t)fz_fn_id, theirs, NUM(1, 2));
    send_op(0);
    put_data(3, theirs.num, "theirs", 0, 0);
    send_op(3);
    refs_op(UD__OP_CLEANUP, &theirs, 1, 0);
    send_op(0);
    write_seed("worker", "ref_arg");

    /* an inline task (UD_FN_INLINE), on a value and on a ref that comes later */
    execute((int64_t)fz_fn_inl, "inline", 2, NUM(1, 2));
    send_op(0);
    execute_ref((int64_t)fz_fn_inl, theirs, NUM(3, 2));
    send_op(0);
    put_data(3, theirs.num, "theirs", 0, 0);
    send_op(3);
    write_seed("worker", "inline");

    /* a BATCH of two EXECUTEs */
    execute((int64_t)fz_fn_id, "one", 1, NUM(1, 2));
    ((ud__hdr *)msg)->length = msg_len;
    memcpy(e1, msg, msg_len);
    n1 = msg_len;
    execute((int64_t)fz_fn_id, "two", 1, NUM(2, 2));
    ((ud__hdr *)msg)->length = msg_len;
    memmove(msg + sizeof(ud__hdr) + n1, msg, msg_len);
    memcpy(msg + sizeof(ud__hdr), e1, n1);
    msg_len += sizeof(ud__hdr) + n1;
    ud__hdr_init((ud__hdr *)msg, UD__OP_BATCH);
    ((ud__hdr *)msg)->count = 2;
    send_op(0);
    write_seed("worker", "batch");

    /* work stealing: a task held on the gate, two queued; a thief takes them and gives back */
    gate_and_two_queued();
    h = op(UD__OP_STEAL);
    h->count = 2;
    send_op(3);
    for (k = 2; k <= 3; k++) { /* whichever it gave */
        put_data(2, NUM(k, 2), "stolen", UD__F_RESULTS, NUM(k, 2));
        send_op(3);
        h = op(UD__OP_TASK_DONE);
        h->flags = UD__F_DELEGATED;
        h->count = 1;
        i64(NUM(k, 2));
        i64(1);
        send_op(3);
    }
    h = op(UD__OP_STEAL);
    h->aux = 1;
    send_op(3);
    h = op(UD__OP_STEAL);
    h->aux = 2;
    send_op(1);
    write_seed("worker", "steal");

    /* cancelled with a task held on the gate and two queued (dropped, never run), then with
       one queued and one a thief took (freed, though its results never come) */
    for (k = 0; k < 2; k++) {
        gate_and_two_queued();
        if (k) {
            h = op(UD__OP_STEAL);
            h->count = 1;
            send_op(3);
            put_data(2, NUM(2, 2), "stolen", UD__F_RESULTS, NUM(2, 2)); /* a result, no TASK_DONE */
            send_op(3);
        }
        op(UD__OP_CANCEL);
        send_op(0);
        write_seed("worker", k ? "cancel_given" : "cancel_queued");
    }

    /* a thief's results numbered far below the task's first */
    execute((int64_t)fz_fn_gate, "", 1, NUM(1, 2));
    send_op(0);
    for (k = 2; k <= 3; k++) {
        execute((int64_t)fz_fn_id, "c", 1, NUM(k, 2));
        send_op(0);
    }
    hold();
    h = op(UD__OP_STEAL);
    h->count = 1;
    send_op(3);
    for (k = 2; k <= 3; k++) {
        put_data(2, INT64_MIN + 1, "low", UD__F_RESULTS, NUM(k, 2));
        send_op(3);
    }
    write_seed("worker", "steal_low_number");

    /* a task stolen from rank 3: run here, the results go back */
    h = op(UD__OP_EXECUTE);
    h->flags = UD__F_DELEGATED;
    h->a = (int64_t)fz_fn_id;
    h->b = NUM(4, 3);
    h->c = 3;
    h->count = 2;
    h->aux = 1;
    i64(UD__WARG_OBJ);
    i64(2);
    {
        ud__wpart w[2];
        memset(w, 0, sizeof w);
        w[0].size = 3;
        w[0].inl = 1;
        w[1].size = 4;
        w[1].inl = 1;
        put(w, sizeof w);
        put("ab", 3);
        put("cde", 4);
    }
    i64(UD__WARG_REF);
    i64(3);
    i64(NUM(1, 3));
    send_op(3);
    put_data(3, NUM(1, 3), "arg", 0, 0);
    send_op(3);
    write_seed("worker", "delegated");

    /* nested calls: a put answered by the root, a wait answered by the root then the monitor */
    nest_task(nest, sizeof nest);
    h = answer(UD__NEST_PUT);
    h->count = 1;
    i64(0);
    i64(NUM(5, 0));
    send_op(0);
    write_seed("worker", "nested_put");

    nest[0] = 3;
    memcpy(nest + 8, &theirs, sizeof theirs);
    nest_task(nest, sizeof nest);
    answer(UD__NEST_WAIT);
    send_op(0);
    hold();
    h = op(UD__OP_WAIT);
    h->flags = UD__F_REPLY;
    h->b = 1;
    h->count = 1;
    {
        int32_t idx[2] = {0, 3};
        put(idx, sizeof idx);
    }
    send_op(1);
    write_seed("worker", "nested_wait");

    /* cancelled while a task waits for the root's answer, then while its get waits for an
       object: the calls are refused, and the rank stops once the task ends */
    nest_task(nest, sizeof nest);
    op(UD__OP_CANCEL);
    send_op(0);
    write_seed("worker", "cancel_nested_wait");

    nest[0] = 2;
    nest_task(nest, sizeof nest);
    answer(UD__NEST_GET);
    send_op(0);
    hold();
    op(UD__OP_CANCEL);
    send_op(0);
    write_seed("worker", "cancel_nested_get");

    execute_ref((int64_t)fz_fn_id, theirs, NUM(1, 2)); /* an argument that never comes */
    send_op(0);
    hold();
    op(UD__OP_CANCEL);
    send_op(0);
    write_seed("worker", "cancel_waiting_task");

    /* a nested remote, then a get of what it made, answered in turn; then the same with an
       answer that names a rank and a number no ref has */
    for (k = 0; k < 2; k++) {
        nest[0] = 6;
        nest_task(nest, sizeof nest);
        h = answer(UD__NEST_REMOTE);
        h->count = 2;
        i64(k ? 1000 : 3);
        i64(NUM(7, 3));
        i64(3);
        i64(k ? 0 : NUM(8, 3));
        send_op(0);
        hold();
        put_data(3, NUM(7, 3), "made", 0, 0);
        send_op(3);
        put_data(3, NUM(8, 3), "made too", 0, 0);
        send_op(3);
        write_seed("worker", k ? "nested_remote_bad_refs" : "nested_remote_get");
    }

    /* a nested get of a ref that names no rank, which the root lets through */
    nest[0] = 2;
    memcpy(nest + 8, &(ud_ref){1000, NUM(1, 3)}, sizeof(ud_ref));
    nest_task(nest, sizeof nest);
    answer(UD__NEST_GET);
    send_op(0);
    write_seed("worker", "nested_get_no_rank");
    memcpy(nest + 8, &theirs, sizeof theirs);

    /* a nested get answered by a WAIT from the monitor, as if it were a wait */
    nest[0] = 2;
    nest_task(nest, sizeof nest);
    h = op(UD__OP_WAIT);
    h->flags = UD__F_REPLY;
    h->b = 1;
    send_op(1);
    write_seed("worker", "nested_get_wait_answer");

    /* a large result: room asked of the store's manager */
    execute_bytes((int64_t)fz_fn_id, big, sizeof big, 1, NUM(1, 2));
    send_op(0);
    shm(1, UD__SHM_RESERVE, 0, 0, 0);
    h = op(UD__OP_STATS);
    send_op(0);
    write_seed("worker", "store_result");

    execute_bytes((int64_t)fz_fn_id, big, sizeof big, 1, NUM(1, 2));
    send_op(0);
    {   /* an answer shorter than its four numbers */
        int64_t part[1] = {UD__SHM_RESERVE};
        add_raw(1, 2, part, sizeof part);
    }
    write_seed("worker", "store_short_answer");

    /* a part that follows its message */
    h = op(UD__OP_EXECUTE);
    h->a = (int64_t)fz_fn_id;
    h->b = NUM(1, 2);
    h->count = 1;
    h->aux = 1;
    i64(UD__WARG_VAL);
    {
        ud__wpart w;
        memset(&w, 0, sizeof w);
        w.size = 16;
        put(&w, sizeof w);
    }
    send_op(0);
    add_raw(0, 1, "0123456789abcdef", 16);
    h = op(UD__OP_PUT_SHARED_DATA);
    h->a = 3;
    h->count = 1;
    i64(NUM(1, 3));
    i64(0);
    send_op(3);
    write_seed("worker", "large_part");

    /* parts the stub makes up, past the block cache's bound (UD__CACHE_MIN in fuzz.h): the
       first task's argument is pre-faulted, and its block, kept once freed, is the second's */
    for (k = 0; k < 2; k++) {
        ud__wpart w;
        h = op(UD__OP_EXECUTE);
        h->a = (int64_t)fz_fn_id;
        h->b = NUM(2 + k, 2);
        h->count = 1;
        h->aux = 1;
        i64(UD__WARG_VAL);
        memset(&w, 0, sizeof w);
        w.size = 100 << 10;
        put(&w, sizeof w);
        send_op(0);
    }
    write_seed("worker", "large_made_up");
}

static void monitor_seeds(void) {
    ud_ref r[2] = {{2, NUM(1, 2)}, {3, NUM(1, 3)}};
    ud__hdr *h;

    task_done(NUM(1, 2), 2, 0);
    send_op(2);
    h = op(UD__OP_GET_TASK_COUNT);
    send_op(0);
    write_seed("monitor", "task_done");

    refs_op(UD__OP_WAIT, r, 2, 0);
    h = (ud__hdr *)msg;
    h->aux = 1;
    h->c = -1;
    send_op(0);
    task_done(NUM(1, 3), 1, 0);
    send_op(3);
    write_seed("monitor", "wait");

    refs_op(UD__OP_WAIT, r, 2, 1);
    h = (ud__hdr *)msg;
    h->aux = 2;
    h->b = 7;
    h->c = 1000;
    send_op(2);
    task_done(NUM(1, 2), 1, 0);
    send_op(2);
    refs_op(UD__OP_CLEANUP, r, 2, 0);
    send_op(0);
    write_seed("monitor", "wait_worker");

    h = op(UD__OP_SHUTDOWN);
    h->a = 2;
    send_op(0);
    task_done(NUM(1, 2), 1, 0);
    send_op(2);
    task_done(NUM(1, 3), 3, 0);
    send_op(3);
    write_seed("monitor", "shutdown");

    refs_op(UD__OP_CLEANUP, r, 2, 0);
    send_op(0);
    task_done(NUM(1, 2), 1, 0);
    send_op(2);
    write_seed("monitor", "cleanup_first");
}

static void shm_seeds(void) {
    char big[300];
    ud__hdr *h;
    memset(big, 'y', sizeof big);

    shm(2, UD__SHM_RESERVE, NUM(1, 2), 2, 1000);
    shm(2, UD__SHM_RELEASE, 0, NUM(1, 2), 0);
    shm(3, UD__SHM_END, 0, 0, 0);
    write_seed("shm", "reserve_release");

    {   /* a message shorter than its four numbers */
        int64_t part[2] = {UD__SHM_RESERVE, NUM(2, 2)};
        add_raw(2, 2, part, sizeof part);
    }
    shm(2, UD__SHM_RESERVE, NUM(1, 2), 2, 100);
    shm(3, UD__SHM_RESERVE, NUM(1, 3), 3, 5000);
    shm(2, UD__SHM_RELEASE, 1, NUM(1, 3), 0);
    shm(0, 9, 0, 0, 0);
    write_seed("shm", "two");

    /* a large result of this rank's own goes to the store; readers of the host pin it */
    execute_bytes((int64_t)fz_fn_id, big, sizeof big, 1, NUM(1, 1));
    send_op(0);
    h = op(UD__OP_GET);
    h->a = 1;
    h->count = 1;
    i64(NUM(1, 1));
    send_op(2);
    h = op(UD__OP_GET);
    h->a = 1;
    h->count = 1;
    h->flags = UD__F_NOREPLY;
    i64(NUM(1, 1));
    send_op(3);
    shm(2, UD__SHM_RELEASE, 0, NUM(1, 1), 0);
    write_seed("shm", "store_get");

    /* entries named by a message: a PUT_SHARED_DATA and a stolen task's SHARED argument */
    execute_bytes((int64_t)fz_fn_id, big, sizeof big, 1, NUM(1, 1));
    send_op(0);
    h = op(UD__OP_PUT_SHARED_DATA);
    h->a = 2;
    h->count = 1;
    i64(NUM(1, 2));
    i64(0);
    send_op(2);
    h = op(UD__OP_EXECUTE);
    h->flags = UD__F_DELEGATED;
    h->a = (int64_t)fz_fn_id;
    h->b = NUM(2, 3);
    h->c = 3;
    h->count = 1;
    h->aux = 1;
    i64(UD__WARG_SHARED);
    i64(0);
    i64(NUM(1, 1));
    send_op(3);
    write_seed("shm", "attach");
}

/* The driver program's wait: the monitor names two refs done. */
static void root_wait_answer(void) {
    ud__hdr *h;
    int32_t idx[4] = {0, 1, 3, 9};
    hold();
    h = op(UD__OP_WAIT);
    h->flags = UD__F_REPLY;
    h->count = 2;
    put(idx, sizeof idx);
    send_op(1);
}

/* The end of the driver program: every rank's stats, then the monitor's go-ahead. */
static void root_stats_and_shutdown(void) {
    ud__hdr *h;
    ud_stats st;
    int k;
    hold();
    for (k = 1; k < FZ_SIZE; k++) {
        op(UD__OP_STATS);
        memset(&st, 0, sizeof st);
        st.rank = k;
        put(&st, sizeof st);
        send_op(k);
    }
    hold();
    h = op(UD__OP_READY_TO_SHUTDOWN);
    h->a = 3;
    send_op(1);
}

static void root_seeds(void) {
    const ud_ref *r = fz_driver_refs; /* r[1..4]: the tasks' results; r[5] the last put */
    ud__hdr *h;
    int k;

    /* the wait's answer, the get's data, every rank's stats, and the monitor's go-ahead */
    root_wait_answer();
    hold();
    for (k = 1; k <= 3; k++) {
        put_data(r[k].owner, r[k].num, "result", 0, 0);
        send_op((int)r[k].owner);
    }
    root_stats_and_shutdown();
    write_seed("root", "program");

    /* the monitor's counts, then a task's nested calls */
    h = op(UD__OP_GET_TASK_COUNT);
    h->count = FZ_SIZE;
    for (k = 0; k < FZ_SIZE; k++) i64(k);
    send_op(1);
    h = op(UD__OP_NESTED);
    h->aux = UD__NEST_PUT;
    h->b = 1;
    h->count = 1;
    obj("nested put");
    send_op(2);
    h = op(UD__OP_NESTED);
    h->aux = UD__NEST_REMOTE;
    h->a = (int64_t)fz_fn_id;
    h->b = 2;
    h->count = 2;
    h->status = 2;
    h->reserved = UD_NEAR;
    i64(UD__WARG_VAL);
    obj("v");
    i64(UD__WARG_REF);
    i64(r[0].owner);
    i64(r[0].num);
    i64(r[0].owner);
    i64(r[0].num);
    send_op(2);
    h = op(UD__OP_NESTED);
    h->aux = UD__NEST_GET;
    h->b = 3;
    h->count = 2;
    i64(r[0].owner);
    i64(r[0].num);
    i64(r[1].owner);
    i64(r[1].num);
    send_op(3);
    h = op(UD__OP_NESTED);
    h->aux = UD__NEST_FREE;
    h->flags = UD__F_NOREPLY;
    h->count = 1;
    i64(r[2].owner);
    i64(r[2].num);
    send_op(3);
    write_seed("root", "nested");

    /* a task's remote for a worker and a host that do not exist */
    for (k = 0; k < 2; k++) {
        h = op(UD__OP_NESTED);
        h->aux = UD__NEST_REMOTE;
        h->a = (int64_t)fz_fn_id;
        h->b = 4 + k;
        h->count = 1;
        h->status = 1;
        h->reserved = k ? UD_ON_HOST : UD_ON_WORKER;
        h->c = 1000;
        i64(UD__WARG_VAL);
        obj("w");
        send_op(2);
    }
    write_seed("root", "nested_place");

    /* a task's remote of many results that asks for no answer */
    h = op(UD__OP_NESTED);
    h->aux = UD__NEST_REMOTE;
    h->flags = UD__F_NOREPLY;
    h->a = (int64_t)fz_fn_id;
    h->b = 6;
    h->count = 1;
    h->status = 9;
    i64(UD__WARG_VAL);
    obj("n");
    send_op(2);
    write_seed("root", "nested_noreply");

    /* a get answered in two messages, one with a part that follows it, one from the store */
    hold();
    h = op(UD__OP_WAIT);
    h->flags = UD__F_REPLY;
    h->count = 1;
    {
        int32_t idx[2] = {1, 12};
        put(idx, sizeof idx);
    }
    send_op(1);
    hold();
    h = op(UD__OP_PUT_DATA);
    h->a = r[1].owner;
    h->count = 1;
    {
        ud__wobj wo = {r[1].num, UD_OK, 1};
        ud__wpart w;
        memset(&w, 0, sizeof w);
        w.size = 20;
        put(&wo, sizeof wo);
        put(&w, sizeof w);
    }
    send_op((int)r[1].owner);
    add_raw((int)r[1].owner, 1, "twenty bytes follow.", 20);
    h = op(UD__OP_PUT_SHARED_DATA);
    h->a = r[2].owner;
    h->count = 1;
    i64(r[2].num);
    i64(0);
    send_op((int)r[2].owner);
    put_data(r[3].owner, r[3].num, "third", 0, 0);
    send_op((int)r[3].owner);
    write_seed("root", "get_parts");

    /* the program's messages, with the results pushed before the get (one of them twice: a
       GET's answer crossing it) */
    root_wait_answer();
    hold();
    for (k = 1; k <= 3; k++) {
        put_data(r[k].owner, r[k].num, "pushed", UD__F_PUSHED, 0);
        ((ud__hdr *)msg)->c = k;
        send_op((int)r[k].owner);
    }
    put_data(r[1].owner, r[1].num, "pushed", 0, 0);
    send_op((int)r[1].owner);
    root_stats_and_shutdown();
    write_seed("root", "pushed");
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s corpus-folder\n", argv[0]);
        return 2;
    }
    out_dir = argv[1];
    mkdir(out_dir, 0777);
    LLVMFuzzerInitialize(&argc, &argv);
    LLVMFuzzerTestOneInput((const uint8_t *)"", 0); /* the driver's refs, as every run makes them */
    worker_seeds();
    monitor_seeds();
    shm_seeds();
    root_seeds();
    return 0;
}
