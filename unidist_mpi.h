/* unidist_mpi.h - v0.1.0 - the MPI backend of unidist for C - Apache-2.0 (see LICENSE)

   USAGE
     In exactly one C file:
         #define UNIDIST_IMPLEMENTATION
         #include "unidist_mpi.h"          (it includes unidist.h itself)
     Build with mpicc; run with mpiexec -n N (N >= 2). The program is the same as for the
     threads backend; only the driver (rank 0) returns from ud_init while the runtime runs:

         ud_init(NULL, &role);
         if (role != UD_ROLE_DRIVER) return 0;    (workers: shut down already)

   PROCESSES AND THREADS
     rank 0: the driver (root), runs main; a loop thread of its own does the root's work while
     the program does not call, so that tasks, nested calls and cleanups move while it
     computes (the program's calls do it themselves meanwhile, under the root's lock, or are
     handed to the loop under MPI_THREAD_FUNNELED). Every other rank is a worker: worker w is
     rank w + 1. The driver's rank is one too, the last, when it has task threads (its share of
     the cores, or UNIDIST_CPUS, less one for the program's thread): its loop and the calls
     that wait carry a worker's duties, and the operations for its worker part go there. A
     worker's loop thread receives operations, serves data to the others and hands tasks to
     its task threads (UNIDIST_CPUS of them; by default the cores of its affinity shared out
     among the ranks of its machine), which run them while it goes on. The loop also carries
     the duties a rank is given: the root monitor's on rank 1 (task counts, wait, shutdown)
     and, on the lowest rank but the driver of each host (the driver alone on its host, when
     it runs tasks), its shared store's.
     Results live on the worker that produced them; the root only keeps what it put or got.

   COMPILE-TIME OPTIONS / ENVIRONMENT
     The UNIDIST_MPI_* rows of UD_CONFIG_TABLE in unidist.h, and UNIDIST_CHECKSUM. Every rank
     resolves the same table and init refuses to start if the ranks disagree (but for the
     log level, UNIDIST_CPUS, and what only the driver acts on: the progress line and stats).

   EMBEDDING
     If MPI is already initialized, the runtime runs on a duplicate of the communicator that
     ud_config.mpi_comm points to (default MPI_COMM_WORLD) and leaves MPI_Finalize to the
     host. Otherwise it initializes MPI itself and finalizes it at shutdown.

   THREAD SAFETY
     Any thread of the program may call the API at any time, several at once. Only one thread
     of a rank is inside MPI at a time: a worker's loop thread; on the driver's rank, whichever
     thread holds the root's lock (its loop thread, or a calling thread running its own call
     when MPI gives MPI_THREAD_SERIALIZED or more, as when the runtime initializes MPI, which
     it asks for). A host's MPI_THREAD_FUNNELED is enough: then every call of the driver's
     program is handed to its loop thread (strictly, not the thread that initialized MPI; Open
     MPI and MPICH accept it). Init fails on every rank, naming the levels, when one has less
     than MPI_THREAD_FUNNELED.

   CONTENTS (the implementation's sections, in the order a task lives; each opens with what it
   owns, the state it writes and who calls it)
     the wire                        operations, their header, flags and payload records
     tuning knobs                    compile-time thresholds that are not configuration rows
     process state                   communicator, who is who, sends in flight, counts; failing
     transport: sends and receives   isends and what they keep alive, parts in chunks, receive
     transport: idle backoff         how a rank polls, yields and sleeps between events
     transport: building messages    a message or a batch of objects being written, and sent
     transport: reading messages     a received payload's objects and arguments
     the root: its ref store         an entry for every live ref the driver holds (seed 001)
     the root: the driver's calls    put, get, wait, remote, free, and the cleanup batch
     the root: what comes to it      answers, and what comes unasked (nested calls, data, counts)
     the root: its loop              the root's lock, the calls run under it or handed to the loop
     the root: batches of tasks      small tasks held while a send to their worker is out
     the root: the scheduler         where a task goes (seed 001's schedule_rank), its EXECUTE
     the worker: its store and loop  the loop's duties and one operation handled (seed 000)
     the worker: execute             a task's arguments, its run, its results and its report
     the worker: GET and CLEANUP     data served to readers, data that arrives, the cleanup
     the worker: work stealing       an idle worker asks; a busy one gives queued tasks
     calls from inside a task        a task's API calls: its thread, its loop, the root
     the monitor                     tasks done, waits answered in order, shutdown's count
     stats and trace                 every rank's counts and events, gathered to the driver
     start and stop                  MPI, the agreement check, roles, the backend tables
*/
#ifndef UNIDIST_MPI_H
#define UNIDIST_MPI_H

#include "unidist.h"
#include "unidist_shm.h" /* first: it keeps <mpi.h>'s C++ bindings out */
#include <mpi.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The communicator the runtime runs on (MPI_COMM_NULL before init): for the host's own use. */
UD_API MPI_Comm ud_mpi_comm(void);

#ifdef __cplusplus
}
#endif
#endif /* UNIDIST_MPI_H */

/* ============================================================================================
   IMPLEMENTATION
   ============================================================================================ */
#if defined(UNIDIST_IMPLEMENTATION) && !defined(UD_MPI_IMPLEMENTATION)
#define UD_MPI_IMPLEMENTATION
#endif

#if defined(UD_MPI_IMPLEMENTATION) && !defined(UD__MPI_IMPL_DONE)
#define UD__MPI_IMPL_DONE
#ifndef UD__IMPL_DONE
#error "unidist_mpi.h: the MPI implementation needs the core's in the same file: define UNIDIST_IMPLEMENTATION (or UD_IMPLEMENTATION as well)"
#endif

#define UD__ROOT 0
#define UD__MONITOR 1         /* a worker that carries the root monitor's duty too */
#define UD__PROGRAM (-1)      /* who submits a task: the driver's program, not a task of a rank */

/* ---- the wire -----------------------------------------------------------------------------------
   Owns the format of every message between ranks: the operations, their header, flags and
   payload records, and the encoding of sizes; it holds no state. Every operation is one
   message on UD__TAG_OP: a fixed header, then a payload; parts larger than
   UNIDIST_MPI_INLINE_MAX follow on UD__TAG_DATA from the same sender, in order (MPI does not
   let messages from one sender on one tag overtake each other). The clock sync at init has a
   tag of its own. Everything that sends or reads a message uses it. */
#define UD__TAG_OP 0x7564
#define UD__TAG_DATA 0x7565
#define UD__TAG_CLOCK 0x7566
#define UD__MAGIC 0x7564u
#define UD__WIRE_VERSION 5

/* The operations. In each, h is the header; fields not named are 0.
     EXECUTE         a task: a = function id, b = its first result's number (the others follow
                     every size-th), count = arguments, aux = results; a delegated one: c = its
                     owner; reserved = its nesting depth. Payload: each argument, a UD__WARG_*
                     kind, then a ref (owner,
                     number), an object of one part (VAL), parts counted then the object (OBJ)
                     or (slot, number) in the receiver's host store (SHARED)
     GET             a = owner, count = numbers; payload: the numbers
     PUT_DATA        a = owner, count = objects; payload: a ud__wobj, its part table and inline
                     parts each; b = the first result (UD__F_RESULTS), c = tasks the sender has
                     finished (UD__F_PUSHED)
     PUT_OWNER       (not sent: the seeds' op, kept so that the numbers stay)
     PUT_SHARED_DATA a = owner, count = objects; payload: (number, slot) each, in the
                     receiver's host store and pinned for it
     WAIT            aux = refs wanted, c = timeout in us (-1: none), b = the asker's id,
                     count = refs; payload: a ud__wref each (n: its index). The answer
                     (UD__F_REPLY): status, count = done; payload: their indices, then their
                     results' size codes (int32 each)
     CLEANUP         count = refs; payload: a ud__wref each (n: readers the owner serves, with
                     UD__WREF_PUT for the driver's puts, which no task made)
     TASK_DONE       count = tasks; payload: a UD__DONE_REC record each; delegated: (first
                     number, results) of one task a thief ran
     GET_TASK_COUNT  asked with no payload; answered with a = tasks finished, count = ranks,
                     payload: the tasks each rank was sent that it has finished
     RESERVE_SHARED_MEMORY, REQUEST_SHARED_DATA   (the seeds' ops: unidist_shm.h has its own)
     CANCEL          end the loop, dropping what has not started
     READY_TO_SHUTDOWN  a = tasks finished, when every task submitted has
     SHUTDOWN        a = tasks submitted: answer READY_TO_SHUTDOWN once they have finished
     STEAL           aux 0: a thief asks for count tasks; aux 1: the answer, count = tasks
                     given; aux 2: a victim that refused has work now
     STATS           asked with no payload; answered with the rank's ud_stats
     NESTED          a task's call: aux = UD__NEST_*, b = the call's id; remote: a = function
                     id, count = arguments, status = results, reserved = its place | its
                     depth << 4, c = its
                     index, then the arguments as in EXECUTE and the ref of UD_NEAR; put:
                     count = parts, then the object as in PUT_DATA; get, wait, free: count =
                     refs, then (owner, number) each. The answer: status, count = refs made,
                     then them or the error's message
     BATCH           count = EXECUTE messages, each whole, one after the other
     RUNNING         asked with no payload; answered (UD__F_REPLY) with a = tasks running,
                     b = tasks waiting for a thread, then the running ones' names as text */
#define UD__OP_TABLE(X)                                                                     \
    X(EXECUTE) X(GET) X(PUT_DATA) X(PUT_OWNER) X(PUT_SHARED_DATA) X(WAIT) X(CLEANUP)        \
    X(TASK_DONE) X(GET_TASK_COUNT) X(RESERVE_SHARED_MEMORY) X(REQUEST_SHARED_DATA) X(CANCEL) \
    X(READY_TO_SHUTDOWN) X(SHUTDOWN) X(STEAL) X(STATS) X(NESTED) X(BATCH) X(RUNNING)
enum {
    UD__OP_NONE = 0,
#define UD__OP_ENUM(name) UD__OP_##name,
    UD__OP_TABLE(UD__OP_ENUM)
#undef UD__OP_ENUM
    UD__OP_END
};

/* The header's flags, by the operations that carry them. */
#define UD__F_CHECKSUM 1u             /* any: each part's ud__wpart.sum holds its XXH3-64 */
#define UD__F_NOREPLY 2u              /* GET: count the reader as served, send nothing back;
                                         NESTED: a free that needs no answer */
#define UD__F_PINNED 4u               /* EXECUTE: runs on this worker, never moved */
#define UD__F_HOSTBOUND 8u            /* EXECUTE: moves only to a worker of the same host */
#define UD__F_DELEGATED 16u           /* EXECUTE, TASK_DONE: a task run for another worker */
#define UD__F_RESULTS 32u             /* PUT_DATA: the results of a task run for the receiver */
#define UD__F_GIVEN 64u               /* GET: for a task its owner gave away: no reader to count */
#define UD__F_REPLY 128u              /* WAIT, RUNNING, NESTED: the answer (rank 1 both asks and
                                         answers; the driver's rank may do both) */
#define UD__F_PUSHED 256u             /* PUT_DATA: small results sent to the root unasked; c = the
                                         tasks the sender has finished */
#define UD__F_NESTED 512u             /* EXECUTE: submitted by a task: its results are not pushed */
#define UD__F_WK 1024u                /* GET, WAIT: asked by the worker part of the driver's rank;
                                         PUT_DATA, WAIT: the answer, for that part (not the root) */

static const char *ud__op_name(int op) {
    static const char *names[] = {"NONE",
#define UD__OP_NAME(name) #name,
                                  UD__OP_TABLE(UD__OP_NAME)
#undef UD__OP_NAME
    };
    return op > 0 && op < UD__OP_END ? names[op] : "?";
}

typedef struct ud__hdr {
    uint16_t magic;
    uint8_t version;
    uint8_t op;
    uint32_t flags;
    int32_t count;            /* op-specific: arguments, parts, refs, records */
    int32_t aux;              /* op-specific: results, num_returns */
    int32_t status;
    int32_t reserved;
    int64_t a, b, c;          /* op-specific: ids, numbers, timeouts */
    uint64_t length;          /* the whole message, header included */
} ud__hdr;

typedef struct ud__wpart {    /* a part of an object on the wire */
    uint64_t size;
    uint64_t sum;             /* XXH3-64 of the bytes when UD__F_CHECKSUM */
    uint32_t inl;             /* 1: its bytes are in this message; 0: they follow it */
    uint32_t reserved;
} ud__wpart;

typedef struct ud__wref {     /* a ref in CLEANUP and WAIT; n: readers expected (CLEANUP) */
    int64_t owner, num, n;
} ud__wref;
#define UD__WREF_PUT ((int64_t)1 << 62) /* in a CLEANUP's n: a put (the monitor knows no task) */

/* VAL: an inline value (one part); OBJ: an object given whole, parts counted first; SHARED:
   (slot, number) of an entry in the receiver's host store, pinned for it. */
enum { UD__WARG_REF = 1, UD__WARG_VAL = 2, UD__WARG_OBJ = 3, UD__WARG_SHARED = 4 };

/* An object in PUT_DATA, before its part table. */
typedef struct ud__wobj {
    int64_t num;
    int32_t status;
    int32_t nparts;
} ud__wobj;

/* A record of TASK_DONE: (first number, results, size code of its largest result). */
#define UD__DONE_REC 3

/* What a NESTED call is (its aux). */
enum { UD__NEST_REMOTE = 1, UD__NEST_PUT, UD__NEST_GET, UD__NEST_WAIT, UD__NEST_FREE };

/* Sizes travel as their bit length (0 for none), enough to weigh where bytes lie. */
static int64_t ud__size_code(uint64_t n) {
    int64_t c = 0;
    while (n) {
        n >>= 1;
        c++;
    }
    return c;
}

static int64_t ud__size_of_code(int64_t c) { return c <= 0 ? 0 : c > 62 ? INT64_MAX / 2 : (int64_t)1 << (c - 1); }

/* ---- tuning knobs -------------------------------------------------------------------------------
   The compile-time thresholds of this module that are not rows of UD_CONFIG_TABLE (those the
   environment may override at init, and the README lists). Define one before the include to
   change it; they are read in the sections named. */
#ifndef UD__MEMORY_PATIENCE           /* process state: how long a stream waits for memory */
#define UD__MEMORY_PATIENCE 1.0       /* seconds */
#endif
#ifndef UD_MPI_SPIN_WINDOW            /* idle backoff: seconds a rank polls after an event */
#define UD_MPI_SPIN_WINDOW 100e-6
#endif
#ifndef UD_MPI_QUIET                  /* idle backoff: seconds without an event before the cap */
#define UD_MPI_QUIET 0.1              /* on sleeps grows ... */
#endif
#ifndef UD_MPI_QUIET_BACKOFF          /* ... up to this many times UNIDIST_MPI_BACKOFF */
#define UD_MPI_QUIET_BACKOFF 4
#endif
#ifndef UD_MPI_CALL_HOT               /* idle backoff: seconds a rank polls without sleeping */
#define UD_MPI_CALL_HOT 0.01          /* after a task's call went out or was answered */
#endif
#ifndef UD__MAX_RESULTS               /* the wire: num_returns a task message may ask for */
#define UD__MAX_RESULTS (1 << 20)
#endif
#ifndef UD__RBUF_MIN                  /* receives: the receive buffer's first size; every */
#define UD__RBUF_MIN 4096             /* header-only operation fits in it */
#endif
#ifndef UD__ROOT_LOOP_THREAD        /* 0: the driver's rank moves only while the program calls */
#define UD__ROOT_LOOP_THREAD 1      /* (the fuzz targets: one thread takes their messages) */
#endif
#ifndef UD__CHUNKS_IN_FLIGHT          /* sends: a part cut in chunks of UD__SMALL_CHUNK bytes */
#define UD__CHUNKS_IN_FLIGHT 1024     /* or less keeps about this many in flight at most */
#endif
#ifndef UD__SMALL_CHUNK
#define UD__SMALL_CHUNK 4096
#endif
#ifndef UD__ASYNC_WINDOW              /* sends: isends tested in one poll, oldest first */
#define UD__ASYNC_WINDOW 256
#endif
#ifndef UD__STAGE_TASK_MAX            /* batches of tasks: larger EXECUTEs go on their own */
#define UD__STAGE_TASK_MAX 4096
#endif
#ifndef UD__STAGE_BYTES               /* batches of tasks: a batch goes when it holds this much */
#define UD__STAGE_BYTES 65536
#endif
#ifndef UD_TEST_HOLD_TASKS            /* tests: hold every small task, as if a send were in */
#define UD_TEST_HOLD_TASKS 0          /* flight */
#endif
#ifndef UD__STEAL_MAX                 /* stealing: tasks one STEAL may take */
#define UD__STEAL_MAX 64
#endif
#ifndef UD__STEAL_SCAN                /* stealing: queued tasks looked at for each one taken */
#define UD__STEAL_SCAN 8
#endif
#ifndef UD__CLOCK_ROUNDS              /* trace: ping-pongs a rank for the clock sync */
#define UD__CLOCK_ROUNDS 8
#endif

/* ---- process state ------------------------------------------------------------------------------
   Owns this process's place in the job and what its transport holds: the communicator
   (ud__comm), who is who, the sends in flight and the receive buffer (ud__net), the idle
   backoff (ud__bo) and this rank's counts (ud__st). The transport writes them; start and stop
   set them up and tear them down; the root's batches and the worker hook in through the
   function pointers here. Then what every section uses to fail or wait: an MPI error's text,
   ending the job when a message cannot go, waiting for memory. */
typedef struct ud__async {     /* an isend in flight and what it keeps alive */
    void *buf;
    size_t bytes;
    ud__obj *obj;
    int dst;
} ud__async;

static MPI_Comm ud__comm = MPI_COMM_NULL; /* the runtime's duplicate of the host's communicator */

static struct ud__net {
    int rank, size;
    int owns_mpi;             /* MPI_Init was ours, so is MPI_Finalize */
    int *workers;             /* the ranks that run tasks: all but the driver */
    int *threads;             /* every rank's task threads (0: the driver) */
    int nworkers;
    char *rbuf;               /* the receive buffer, reused */
    size_t rcap;
    MPI_Request *reqs;        /* isends in flight, with their keep-alives */
    ud__async *recs;
    int *idx;
    MPI_Status *sts;          /* (MPICH's headers make gcc reject MPI_STATUSES_IGNORE here) */
    int nreqs, capreqs;
    int *pending_to;          /* isends in flight, by destination */
    int64_t sep_sent;         /* parts sent after their message, so far */
    /* the root's batches of tasks (ud__stage_add): what it holds for dst goes before anything
       else sent there, and a batch goes when the sends ahead of it complete */
    void (*before_send)(int dst);
    void (*sends_done)(void);
} ud__net;

struct ud__backoff {
    int spins;                /* idle polls since the last event */
    double idle_since;
    long sleep_ns;
    int yield_every;          /* polls between two yields while hot (0: never) */
    double hot_until;         /* a task's call is on its way: poll, yielding, until then */
    void (*nap)(long ns);     /* a worker's sleep, which its task threads can end */
    ud__atomic_long *unstarted; /* a worker's tasks that no task thread has taken yet */
};
static UD__THREAD_LOCAL struct ud__backoff ud__bo; /* each thread that polls has its own */

static int ud__yield_cfg;     /* ud__bo.yield_every, as init worked it out, for later threads */

static ud_stats ud__st;       /* this rank's counts (ud_stats_get) */

UD_API MPI_Comm ud_mpi_comm(void) { return ud__comm; }

static ud_status ud__mpi_fail(int rc, const char *what) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "code %d", rc);
    return ud__fail(UD_ERR_MPI, "%s: %s", what, text);
}

/* Worker and monitor loops have no caller to return an error to: an MPI failure there ends
   the job through ud__panic (MPI_Abort), which is what MPI itself would do by default. */
#define UD__MPI_MUST(call)                                                                   \
    do {                                                                                     \
        int ud__rc_ = (call);                                                                \
        if (ud__rc_ != MPI_SUCCESS) {                                                        \
            ud__mpi_fail(ud__rc_, #call);                                                    \
            ud__panic("%s", ud__errbuf);                                                     \
        }                                                                                    \
    } while (0)

/* Collective over comm: does every rank have what it allocated? Asked before a collective
   that needs it, so that a rank out of memory does not leave the others waiting there. */
static int ud__all_have(MPI_Comm comm, const void *p) {
    int ok = p != NULL;
    MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, comm);
    return ok;
}

/* Memory a stream cannot go on without (a received message, a store entry, a record of work
   done, a message a worker must send): asked again for a second, in case memory comes back
   (a task's objects freed), before the caller ends the job naming its rank and the cause. */
static int ud__memory_wait(double *end) {
    struct timespec ms = {0, 1000000};
    if (*end == 0) *end = ud__now() + UD__MEMORY_PATIENCE;
    if (ud__now() >= *end) return 0;
    nanosleep(&ms, NULL);
    return 1;
}
#define UD__PATIENTLY(ok)                                      \
    do {                                                       \
        double ud__end_ = 0;                                   \
        while (!(ok) && ud__memory_wait(&ud__end_)) {}         \
    } while (0)

/* ud__grow, patiently: for what a worker's loop cannot go on without. */
static void *ud__grow_patient(void *p, size_t *cap, size_t need, size_t elem, size_t first) {
    void *q = NULL;
    UD__PATIENTLY((q = ud__grow(p, cap, need, elem, first)) != NULL);
    return q;
}

static void ud__rl_hold_for_abort(void);

static void ud__mpi_abort(void) {
    ud__rl_hold_for_abort(); /* on the driver's rank: no other thread is inside MPI */
    MPI_Abort(ud__comm != MPI_COMM_NULL ? ud__comm : MPI_COMM_WORLD, 1);
}

static int ud__nworkers(void) { return ud__net.nworkers; }
/* Whether rank r runs tasks: every rank but the driver's, and the driver's when it has task
   threads (then it is the last worker, and its loop carries a worker's duties too). */
static int ud__is_worker(int64_t r) {
    return (r > UD__ROOT && r < ud__net.size) || (r == UD__ROOT && ud__net.threads && ud__net.threads[UD__ROOT] > 0);
}
static int ud__root_wk;       /* on the driver's rank: its worker part is up (start to stop) */
static int ud__root_runs_tasks(void) { return ud__root_wk; }
static int ud__owner_ok(int64_t r) { return r == UD__ROOT || ud__is_worker(r); }

/* ---- transport: sends and receives --------------------------------------------------------------
   Owns the isends in flight (each with what it keeps alive), the large parts sent and
   received in chunks, and the receive of one operation. Writes ud__net's send and receive
   tables and ud__st's counts; every section that talks to another rank calls it. */
static void ud__count_sent(int dst, size_t bytes) {
    ud__st.msgs_sent++;
    ud__st.bytes_sent += (int64_t)bytes;
    if (ud_shm_host(dst) != ud_shm_host(ud__net.rank)) ud__st.bytes_sent_other_hosts += (int64_t)bytes;
}
static void ud__count_recv(int src, size_t bytes) {
    ud__st.msgs_recv++;
    ud__st.bytes_recv += (int64_t)bytes;
    if (ud_shm_host(src) != ud_shm_host(ud__net.rank)) ud__st.bytes_recv_other_hosts += (int64_t)bytes;
}

static int ud__async_progress(void);

/* Room for one more send. The four arrays grow together, into new ones, so that a failure
   leaves the old ones whole; when they cannot grow, the send waits a while for one in flight
   to complete (a peer that receives completes it), then gives up: 0. */
static int ud__async_room(void) {
    int cap = ud__net.capreqs ? 2 * ud__net.capreqs : 64;
    MPI_Request *r;
    ud__async *a;
    int *x;
    MPI_Status *s;
    if (ud__net.nreqs < ud__net.capreqs) return 1;
    r = (MPI_Request *)ud__alloc((size_t)cap * sizeof *r);
    a = (ud__async *)ud__alloc((size_t)cap * sizeof *a);
    x = (int *)ud__alloc((size_t)cap * sizeof *x);
    s = (MPI_Status *)ud__alloc((size_t)cap * sizeof *s);
    if (r && a && x && s) {
        if (ud__net.nreqs) {
            memcpy(r, ud__net.reqs, (size_t)ud__net.nreqs * sizeof *r);
            memcpy(a, ud__net.recs, (size_t)ud__net.nreqs * sizeof *a);
        }
        ud__free(ud__net.reqs, (size_t)ud__net.capreqs * sizeof *r);
        ud__free(ud__net.recs, (size_t)ud__net.capreqs * sizeof *a);
        ud__free(ud__net.idx, (size_t)ud__net.capreqs * sizeof *x);
        ud__free(ud__net.sts, (size_t)ud__net.capreqs * sizeof *s);
        ud__net.reqs = r;
        ud__net.recs = a;
        ud__net.idx = x;
        ud__net.sts = s;
        ud__net.capreqs = cap;
        return 1;
    }
    ud__free(r, (size_t)cap * sizeof *r);
    ud__free(a, (size_t)cap * sizeof *a);
    ud__free(x, (size_t)cap * sizeof *x);
    ud__free(s, (size_t)cap * sizeof *s);
    if (ud__net.capreqs) {
        double end = 0;
        while (ud__net.nreqs >= ud__net.capreqs)
            if (!ud__async_progress() && !ud__memory_wait(&end)) return 0;
    }
    return ud__net.capreqs > 0;
}

static void ud__async_done(ud__async *a) {
    if (a->dst >= 0 && ud__net.pending_to) ud__net.pending_to[a->dst]--;
    if (a->buf) ud__free(a->buf, a->bytes);
    if (a->obj) ud__obj_release(a->obj);
}

static int ud__async_test(int win);

/* Frees what completed sends kept alive. Returns how many completed. */
static int ud__async_progress(void) {
    return ud__async_test(ud__net.nreqs < UD__ASYNC_WINDOW ? ud__net.nreqs : UD__ASYNC_WINDOW);
}

/* The same, testing the oldest win sends. */
static int ud__async_test(int win) {
    int n = 0, k, j, rc;
    if (!ud__net.nreqs) return 0;
    /* The oldest sends complete first: testing a window keeps a poll O(1) with many in flight. */
    rc = MPI_Testsome(win, ud__net.reqs, &n, ud__net.idx, ud__net.sts);
    if (rc != MPI_SUCCESS) {
        ud__mpi_fail(rc, "MPI_Testsome");
        ud__panic("%s", ud__errbuf);
    }
    if (n == MPI_UNDEFINED || n <= 0) return 0;
    for (k = 0; k < n; k++) ud__async_done(&ud__net.recs[ud__net.idx[k]]);
    for (k = 0, j = 0; k < win; k++) /* compact: completed requests are MPI_REQUEST_NULL */
        if (ud__net.reqs[k] != MPI_REQUEST_NULL) {
            ud__net.reqs[j] = ud__net.reqs[k];
            ud__net.recs[j++] = ud__net.recs[k];
        }
    if (j < win) {
        memmove(ud__net.reqs + j, ud__net.reqs + win, (size_t)(ud__net.nreqs - win) * sizeof *ud__net.reqs);
        memmove(ud__net.recs + j, ud__net.recs + win, (size_t)(ud__net.nreqs - win) * sizeof *ud__net.recs);
    }
    ud__net.nreqs -= win - j;
    if (ud__net.sends_done) ud__net.sends_done();
    return n;
}

/* Many sends in flight cost MPI's progress engine time for each of them at every poll, which
   makes a part cut in thousands of small chunks cost the square of their count: the sender
   lets the oldest complete first. Small chunks go eagerly, so they complete without the
   receiver's help; a second without one completing gives up (the next poll goes on). */
static void ud__async_settle(void) {
    double end = 0;
    while (ud__net.nreqs > UD__CHUNKS_IN_FLIGHT / 2) {
        if (ud__async_progress()) {
            end = 0;
            continue;
        }
        if (end == 0) end = ud__now() + 1.0;
        else if (ud__now() > end) return;
        sched_yield();
    }
}

/* Waits until every send has completed, but those to this rank itself (the driver's rank
   sends its worker part operations too), which complete only once its loop receives them:
   so every send is tested, not only the oldest. */
static void ud__async_drain(void) {
    while (ud__net.nreqs > (ud__net.pending_to ? ud__net.pending_to[ud__net.rank] : 0))
        if (!ud__async_test(ud__net.nreqs)) sched_yield();
}

static ud_status ud__isend(const void *data, size_t size, int dst, int tag, void *owned,
                           size_t owned_bytes, ud__obj *pin) {
    int rc;
    if (size > INT_MAX) { /* callers chunk and cap; this is the last line of defence */
        ud__free(owned, owned_bytes);
        return ud__fail(UD_ERR_INTERNAL, "send of %zu bytes to rank %d: over one message", size, dst);
    }
    if (ud__net.before_send) ud__net.before_send(dst); /* tasks held for dst go first (a send of its own) */
    if (!ud__async_room()) {
        ud__free(owned, owned_bytes);
        return ud__fail(UD_ERR_NOMEM, "send to rank %d: out of memory", dst);
    }
    rc = MPI_Isend(data, (int)size, MPI_BYTE, dst, tag, ud__comm, &ud__net.reqs[ud__net.nreqs]);
    if (rc != MPI_SUCCESS) {
        ud__free(owned, owned_bytes);
        return ud__mpi_fail(rc, "MPI_Isend");
    }
    ud__net.recs[ud__net.nreqs].buf = owned;
    ud__net.recs[ud__net.nreqs].bytes = owned_bytes;
    ud__net.recs[ud__net.nreqs].obj = pin;
    ud__net.recs[ud__net.nreqs].dst = ud__net.pending_to ? dst : -1;
    if (ud__net.pending_to) ud__net.pending_to[dst]++;
    if (pin) pin->refs++;
    ud__net.nreqs++;
    ud__count_sent(dst, size);
    return UD_OK;
}

/* Sends a large part as messages of at most UNIDIST_MPI_CHUNK_SIZE bytes, pinning its object. */
static ud_status ud__isend_part(const ud_part *p, ud__obj *pin, int dst) {
    size_t chunk = (size_t)ud__rt.cfg.mpi_chunk_size, off;
    ud_status st;
    if (ud__tracing()) {
        double t = ud__now();
        ud__trace(UD__EV_SEND, t, t, "send part", 0, dst, (int64_t)p->size);
    }
    for (off = 0; off < p->size; off += chunk) {
        size_t n = p->size - off < chunk ? p->size - off : chunk;
        if ((st = ud__isend((const char *)p->data + off, n, dst, UD__TAG_DATA, NULL, 0, pin)) != UD_OK)
            return st;
        if (chunk <= UD__SMALL_CHUNK && ud__net.nreqs > UD__CHUNKS_IN_FLIGHT) ud__async_settle();
    }
    return UD_OK;
}

static ud_status ud__recv_part(void *dst, size_t size, int src) {
    size_t chunk = (size_t)ud__rt.cfg.mpi_chunk_size, off;
    double t0 = ud__tracing() ? ud__now() : 0;
    int rc;
    for (off = 0; off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        rc = MPI_Recv((char *)dst + off, (int)n, MPI_BYTE, src, UD__TAG_DATA, ud__comm,
                      MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) return ud__mpi_fail(rc, "MPI_Recv of a large part");
        ud__count_recv(src, n);
    }
    if (t0 > 0) ud__trace(UD__EV_RECV, t0, ud__now(), "receive part", 0, src, (int64_t)size);
    return UD_OK;
}

/* A part the runtime's allocator refused still has to come off the wire, or the sender's later
   messages would not line up. It goes through a scratch buffer from the system allocator
   (one chunk at a time): MPI offers no way to discard a message, and a truncating receive is
   not safe (Open MPI's single-copy path writes past the buffer). */
static void ud__drain_part(size_t size, int src) {
    size_t chunk = (size_t)ud__rt.cfg.mpi_chunk_size, n = size < chunk ? size : chunk, off;
    char *scratch = (char *)UD_MALLOC(n ? n : 1);
    if (!scratch) ud__panic("no memory at all to receive %zu bytes from rank %d", size, src);
    for (off = 0; off < size; off += chunk) {
        size_t m = size - off < chunk ? size - off : chunk;
        int rc = MPI_Recv(scratch, (int)m, MPI_BYTE, src, UD__TAG_DATA, ud__comm, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) {
            ud__mpi_fail(rc, "MPI_Recv draining a part");
            ud__panic("%s", ud__errbuf);
        }
    }
    UD_FREE(scratch);
}

/* Whether a message header that has avail bytes from h on is well formed, its message whole
   within them: every received header goes through here, a BATCH's inner ones too. */
static int ud__hdr_ok(const ud__hdr *h, size_t avail) {
    return avail >= sizeof *h && h->magic == UD__MAGIC && h->version == UD__WIRE_VERSION &&
           h->op > UD__OP_NONE && h->op < UD__OP_END && h->length >= sizeof *h &&
           h->length <= (uint64_t)avail && h->count >= 0 && h->aux >= 0;
}

/* A receive buffer of n bytes at least; patient: ask again for a second before failing. Init
   makes one that every header-only operation fits, so that those always arrive. */
static int ud__rbuf_fit(size_t n, int patient) {
    char *p = (char *)(patient ? ud__grow_patient : ud__grow)(ud__net.rbuf, &ud__net.rcap, n, 1, UD__RBUF_MIN);
    if (!p) return 0;
    ud__net.rbuf = p;
    return 1;
}

static void ud__debug_op(const char *dir, const ud__hdr *h, int peer);

/* Receives one operation, from src or anyone; 0 when none is waiting. The header is checked
   before anything reads it; a bad message is logged and dropped (-1). */
static int ud__try_recv(int src, const ud__hdr **out, int *from) {
    MPI_Status s;
    int flag = 0, n = 0;
    const ud__hdr *h;
    UD__MPI_MUST(MPI_Iprobe(src, UD__TAG_OP, ud__comm, &flag, &s));
    if (!flag) return 0;
    UD__MPI_MUST(MPI_Get_count(&s, MPI_BYTE, &n));
    if (n == MPI_UNDEFINED || n < 0) n = 0; /* received below, then dropped as malformed */
    if (!ud__rbuf_fit((size_t)n, 1))
        ud__panic("receive of %d bytes from rank %d: out of memory (the message cannot be "
                  "left unreceived)", n, s.MPI_SOURCE);
    UD__MPI_MUST(MPI_Recv(ud__net.rbuf, n, MPI_BYTE, s.MPI_SOURCE, UD__TAG_OP, ud__comm,
                          MPI_STATUS_IGNORE));
    ud__count_recv(s.MPI_SOURCE, (size_t)n);
    h = (const ud__hdr *)ud__net.rbuf;
    *from = s.MPI_SOURCE;
    if (!ud__hdr_ok(h, (size_t)n) || h->length != (uint64_t)n) {
        ud__log(UD_LOG_ERROR, "dropped a malformed message of %d bytes from rank %d", n, s.MPI_SOURCE);
        return -1;
    }
    if (UD__DEBUGGING() && h->op != UD__OP_BATCH) ud__debug_op("received", h, s.MPI_SOURCE);
    *out = h;
    return 1;
}

/* ---- transport: idle backoff --------------------------------------------------------------------
   After an event a rank polls for UD_MPI_SPIN_WINDOW seconds; then it sleeps, doubling from a
   microsecond up to UNIDIST_MPI_BACKOFF, so that an idle rank costs almost no CPU but a busy
   one answers at once. While it polls it yields the core now and then when the machine runs
   more ranks than cores (ud__yield_every): a peer that shares the core may be the one to
   answer. Not at every poll: a sched_yield that hands the core over costs more than a round
   trip, and Open MPI, oversubscribed, yields inside every poll already.
   Past UD_MPI_QUIET seconds without an event the cap grows with the quiet time, up to
   UD_MPI_QUIET_BACKOFF times UNIDIST_MPI_BACKOFF: a wake-up is a context switch, which
   costs 100 us and more in a virtual machine once a rank maps much memory, and a rank that
   has heard nothing for that long can answer its next message a few milliseconds late.
   Linux rounds sleeps up by the timer slack (50 us by default): the runtime asks for 1 us. */
#if defined(__linux__)
#include <sys/prctl.h>
#endif

static void ud__busy(void) {
    ud__bo.spins = 0;
    ud__bo.sleep_ns = 0;
}

static void ud__idle_with(int sending);

static void ud__idle(void) { ud__idle_with(ud__net.nreqs > 0); }

/* The same, for a thread that looked at the sends in flight under the lock that guards them,
   and sleeps without it (the driver's rank). */
static void ud__idle_with(int sending) {
    struct timespec ts;
    long cap = (long)ud__rt.cfg.mpi_backoff * 1000;
    double idle, now;
    if (ud__bo.spins++ == 0) ud__bo.idle_since = ud__now();
    if (cap == 0) return;
    now = ud__now();
    if (now < ud__bo.hot_until) { /* a task's call is out: its answer comes within a round trip */
        sched_yield();
        return;
    }
    idle = now - ud__bo.idle_since;
    /* Hot: poll (sends progress only as we poll); then, with sends in flight or in the first
       10 ms of quiet, yield at every poll but one in eight, which sleeps; then sleep always. */
    if (idle < UD_MPI_SPIN_WINDOW) {
        /* a task handed over and not yet taken: its thread may be waiting for this core */
        if ((ud__bo.unstarted && ud__atomic_load(ud__bo.unstarted) > 0) ||
            (ud__bo.yield_every && ud__bo.spins % ud__bo.yield_every == 0))
            sched_yield();
        return;
    }
    if ((sending && idle < 50 * UD_MPI_SPIN_WINDOW) ||
        ((ud__bo.spins & 7) != 0 && idle < 100 * UD_MPI_SPIN_WINDOW)) {
        sched_yield();
        return;
    }
    if (idle > UD_MPI_QUIET) {
        double grow = idle / UD_MPI_QUIET;
        cap = (long)((double)cap * (grow < UD_MPI_QUIET_BACKOFF ? grow : UD_MPI_QUIET_BACKOFF));
    }
    ud__bo.sleep_ns = ud__bo.sleep_ns ? ud__bo.sleep_ns * 2 : 1000;
    if (ud__bo.sleep_ns > cap) ud__bo.sleep_ns = cap;
    if (ud__bo.nap) {
        ud__bo.nap(ud__bo.sleep_ns);
        return;
    }
    ts.tv_sec = ud__bo.sleep_ns / 1000000000L;
    ts.tv_nsec = ud__bo.sleep_ns % 1000000000L;
    nanosleep(&ts, NULL);
}

#ifdef OMPI_MAJOR_VERSION
static int ud__env_on(const char *name) {
    const char *v = getenv(name);
    return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0);
}
#endif

/* Polls between two yields while hot: UNIDIST_MPI_YIELD, else none when every rank of this
   machine (the ranks of machine) has a core of its own or when MPI yields in its own progress
   (Open MPI does when mpiexec oversubscribes: it says so in the environment), else every
   other poll. */
static int ud__yield_every(MPI_Comm machine) {
    int n = 1;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (ud__rt.cfg.mpi_yield > 0) return (int)ud__rt.cfg.mpi_yield;
    MPI_Comm_size(machine, &n);
    if (cores < 1 || n <= cores) return 0;
#ifdef OMPI_MAJOR_VERSION
    if (ud__env_on("OMPI_MCA_mpi_yield_when_idle") || ud__env_on("OMPI_MCA_mpi_oversubscribe"))
        return 0;
#endif
    return 2;
}

static void ud__idle_setup(MPI_Comm machine) {
#if defined(__linux__) && defined(PR_SET_TIMERSLACK)
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
#endif
    ud__bo.yield_every = ud__yield_cfg = ud__yield_every(machine);
}

/* ---- transport: building messages ---------------------------------------------------------------
   Owns a message while it is being written (ud__wbuf) and a batch of objects for one peer
   (ud__batch): the header, tables and small parts go in the message; the parts that go on
   their own (too large, or past UNIDIST_MPI_MESSAGE_MAX for one message) are listed with the
   object that keeps them alive, and sent right after the message, in order. Writes nothing
   outside the buffers it is given (and ud__st's byte counts). */
typedef struct ud__wbuf {
    char *p;
    size_t len, cap;
    size_t inl;               /* inline part bytes so far */
    ud_part *sep;             /* parts to send after the message */
    ud__obj **pins;
    int nsep;
    size_t capsep;
    int oom;
} ud__wbuf;

#define UD__ALIGN8(n) (((n) + 7) & ~(size_t)7)

static void *ud__wb_grow(ud__wbuf *b, size_t n) {
    size_t need = b->len + UD__ALIGN8(n);
    void *at;
    if (b->oom) return NULL;
    if (need > b->cap) {
        /* the driver's calls report a failure; a worker's messages must go, so it waits */
        char *p = (char *)(ud__net.rank != UD__ROOT ? ud__grow_patient : ud__grow)(b->p, &b->cap, need, 1, 256);
        if (!p) {
            b->oom = 1;
            return NULL;
        }
        b->p = p;
    }
    at = b->p + b->len;
    memset((char *)at + n, 0, UD__ALIGN8(n) - n);
    b->len = need;
    return at;
}

static void ud__wb_add(ud__wbuf *b, const void *src, size_t n) {
    void *at = ud__wb_grow(b, n);
    if (at && n) memcpy(at, src, n);
}

/* Room for n more bytes, had now so that adding them later cannot fail. */
static int ud__wb_room(ud__wbuf *b, size_t n) {
    size_t len = b->len;
    if (!ud__wb_grow(b, n)) return 0;
    b->len = len;
    return 1;
}

static void ud__hdr_init(ud__hdr *h, int op) {
    memset(h, 0, sizeof *h);
    h->magic = UD__MAGIC;
    h->version = UD__WIRE_VERSION;
    h->op = (uint8_t)op;
}

static ud__hdr *ud__wb_start(ud__wbuf *b, int op) {
    ud__hdr *h;
    memset(b, 0, sizeof *b);
    if (!(h = (ud__hdr *)ud__wb_grow(b, sizeof(ud__hdr)))) return NULL;
    ud__hdr_init(h, op);
    h->flags = ud__rt.cfg.checksum ? UD__F_CHECKSUM : 0;
    return h;
}

/* Lists a part to send after the message; pin keeps it alive (NULL: copy it first, since the
   caller's buffer may change as soon as the call returns). */
static void ud__wb_separate(ud__wbuf *b, const ud_part *part, ud__obj *pin) {
    if ((size_t)b->nsep == b->capsep) { /* the two tables grow together */
        size_t cap = b->capsep, cap2 = b->capsep;
        ud_part *p = (ud_part *)ud__grow(b->sep, &cap, (size_t)b->nsep + 1, sizeof *p, 4);
        ud__obj **q;
        if (p) b->sep = p;
        q = p ? (ud__obj **)ud__grow(b->pins, &cap2, (size_t)b->nsep + 1, sizeof *q, 4) : NULL;
        if (!q) {
            b->oom = 1;
            return;
        }
        b->pins = q;
        b->capsep = cap;
    }
    if (pin) {
        pin->refs++;
        b->sep[b->nsep] = *part;
    } else {
        if (!(pin = ud__obj_copy(part, 1))) {
            b->oom = 1;
            return;
        }
        b->sep[b->nsep] = pin->parts[0];
    }
    b->pins[b->nsep++] = pin;
}

/* The part table of an object and its inline parts. */
static void ud__wb_obj(ud__wbuf *b, const ud_part *parts, int nparts, ud__obj *pin) {
    ud__wpart *tab = (ud__wpart *)ud__wb_grow(b, (size_t)nparts * sizeof *tab);
    size_t at = tab ? (size_t)((char *)tab - b->p) : 0; /* tab moves as b grows */
    int k;
    for (k = 0; k < nparts && tab; k++) {
        ud__wpart *w = (ud__wpart *)(b->p + at) + k;
        size_t size = parts[k].size;
        w->size = size;
        w->sum = ud__rt.cfg.checksum ? XXH3_64bits(parts[k].data, size) : 0;
        w->reserved = 0;
        w->inl = size <= (size_t)ud__rt.cfg.mpi_inline_max &&
                 b->inl + size <= (size_t)ud__rt.cfg.mpi_message_max;
        if (w->inl) {
            ud__st.inline_bytes_sent += (int64_t)size;
            b->inl += size;
            ud__wb_add(b, parts[k].data, size);
        } else {
            ud__st.separate_bytes_sent += (int64_t)size;
            ud__wb_separate(b, &parts[k], pin);
        }
    }
}

static void ud__wb_release(ud__wbuf *b) {
    int k;
    for (k = 0; k < b->nsep; k++) ud__obj_release(b->pins[k]);
    ud__free(b->sep, (size_t)b->capsep * sizeof *b->sep);
    ud__free(b->pins, (size_t)b->capsep * sizeof *b->pins);
}

static void ud__wb_discard(ud__wbuf *b) {
    ud__free(b->p, b->cap);
    ud__wb_release(b);
}

/* Sends the message in b (consumed) to dst, then its separate parts. Once the message is out,
   a part that cannot follow would leave dst waiting for ever: that is fatal. */
static ud_status ud__wb_send(ud__wbuf *b, int dst) {
    ud_status st;
    int k;
    if (b->oom) {
        ud__free(b->p, b->cap);
        ud__wb_release(b);
        return ud__fail(UD_ERR_NOMEM, "send of an operation to rank %d: out of memory", dst);
    }
    ((ud__hdr *)b->p)->length = b->len;
    if (UD__DEBUGGING()) ud__debug_op("sent", (const ud__hdr *)b->p, dst);
    if ((st = ud__isend(b->p, b->len, dst, UD__TAG_OP, b->p, b->cap, NULL)) != UD_OK) {
        ud__wb_release(b);
        return st;
    }
    ud__net.sep_sent += b->nsep;
    for (k = 0; k < b->nsep; k++)
        if (ud__isend_part(&b->sep[k], b->pins[k], dst) != UD_OK)
            ud__panic("a part could not follow its message to rank %d: %s", dst, ud__errbuf);
    ud__wb_release(b);
    return UD_OK;
}

/* A worker's loop and the monitor have no caller to tell: a message that must go and cannot
   be made or sent ends the job, naming who and why. */
static ud__hdr *ud__start_or_end(ud__wbuf *b, int op, const char *who) {
    ud__hdr *h = ud__wb_start(b, op);
    if (!h) ud__panic("%s: out of memory", who);
    return h;
}

static void ud__or_end(ud_status st, const char *who) {
    if (st != UD_OK) ud__panic("%s: %s", who, ud__errbuf);
}

/* A header alone, from the caller's stack, when no buffer can be had: a blocking send of a
   few dozen bytes, which MPI delivers eagerly in practice (the standard does not promise it: a
   peer that is itself stuck sending to this rank, out of memory too, could hold it). Shutdown,
   cancels, counts and answers must reach their peer even when this rank's memory has run out. */
static ud_status ud__send_hdr(int dst, ud__hdr *h) {
    int rc;
    h->length = sizeof *h;
    if (UD__DEBUGGING()) ud__debug_op("sent", h, dst);
    if (ud__net.before_send) ud__net.before_send(dst); /* in order behind what is held for dst */
    if ((rc = MPI_Send(h, (int)sizeof *h, MPI_BYTE, dst, UD__TAG_OP, ud__comm)) != MPI_SUCCESS)
        return ud__mpi_fail(rc, "MPI_Send");
    ud__count_sent(dst, sizeof *h);
    return UD_OK;
}

/* A header-only operation; from the stack when there is no memory for its buffer. */
static ud_status ud__send_op(int dst, int op, int32_t status, int64_t a, int64_t b, int64_t c) {
    ud__wbuf w;
    ud__hdr *h = ud__wb_start(&w, op), mine;
    if (!h) ud__hdr_init(h = &mine, op);
    h->status = status;
    h->a = a;
    h->b = b;
    h->c = c;
    return h == &mine ? ud__send_hdr(dst, &mine) : ud__wb_send(&w, dst);
}

/* PUT_SHARED_DATA: a = owner, count = objects, then (number, slot) for each: the object is in
   the shared store of the receiver's host, pinned for it. A GET's answer may take both. */
typedef struct ud__batch {
    ud__wbuf w, sh;
    int n, nsh, dst;
    int64_t owner;
    uint32_t flags;           /* stamped on both messages (UD__F_RESULTS) */
    int64_t first;            /* with UD__F_RESULTS: the first result of the task, as b */
} ud__batch;

static void ud__batch_start(ud__batch *b, int64_t owner, int dst) {
    if (ud__wb_start(&b->w, UD__OP_PUT_DATA)) ((ud__hdr *)b->w.p)->a = owner;
    memset(&b->sh, 0, sizeof b->sh);
    b->n = b->nsh = 0;
    b->dst = dst;
    b->owner = owner;
    b->flags = 0;
    b->first = 0;
}

static void ud__batch_add(ud__batch *b, int64_t num, ud__obj *o) {
    ud__wobj wo;
    if ((o->flags & UD__OBJ_SHARED) && ud__shm_same_host(b->dst)) {
        int64_t rec[2];
        if (!b->nsh && ud__wb_start(&b->sh, UD__OP_PUT_SHARED_DATA)) ((ud__hdr *)b->sh.p)->a = b->owner;
        rec[0] = num;
        rec[1] = o->slot;
        ud__wb_add(&b->sh, rec, sizeof rec);
        if (!b->sh.oom && b->sh.p) ud__shm_pin_for_peer(o);
        else b->sh.oom = 1; /* sticky: the send then fails, and says so */
        b->nsh++;
        return;
    }
    wo.num = num;
    wo.status = o->status;
    wo.nparts = o->nparts;
    ud__wb_add(&b->w, &wo, sizeof wo);
    ud__wb_obj(&b->w, o->parts, o->nparts, o);
    b->n++;
}

/* Sends what the batch holds (nothing when it is empty). */
static void ud__batch_stamp(ud__batch *b, ud__wbuf *w, int count) {
    ud__hdr *h = (ud__hdr *)w->p;
    h->count = count;
    h->flags |= b->flags;
    h->b = b->first;
}

static ud_status ud__batch_send(ud__batch *b) {
    ud_status st = UD_OK, st2 = UD_OK;
    if (b->n) {
        if (!b->w.oom && b->w.p) ud__batch_stamp(b, &b->w, b->n);
        st = ud__wb_send(&b->w, b->dst);
    } else {
        ud__wb_discard(&b->w);
    }
    if (b->nsh) {
        if (!b->sh.oom && b->sh.p) ud__batch_stamp(b, &b->sh, b->nsh);
        else b->sh.oom = 1;
        st2 = ud__wb_send(&b->sh, b->dst);
    } else {
        ud__wb_discard(&b->sh);
    }
    return st != UD_OK ? st : st2;
}

/* One object to dst, its PUT_DATA marked with flags (UD__F_WK: for that rank's worker part). */
static ud_status ud__send_obj(int dst, ud_ref ref, ud__obj *o, uint32_t flags) {
    ud__batch b;
    ud__batch_start(&b, ref.owner, dst);
    b.flags = flags;
    ud__batch_add(&b, ref.num, o);
    return ud__batch_send(&b);
}

/* ---- transport: reading messages ----------------------------------------------------------------
   Owns the cursor over a received payload (ud__rd) and the reading of objects and arguments
   from it, whose large parts it receives; a malformed message never reads past its end.
   Writes ud__st's byte counts; the root, the worker and the monitor call it. */
typedef struct ud__rd {       /* a cursor over a received payload */
    const char *p, *end;
    int bad;
} ud__rd;

static const void *ud__rd_take(ud__rd *r, size_t n) {
    const char *at = r->p;
    if (r->bad || (size_t)(r->end - r->p) < UD__ALIGN8(n)) {
        r->bad = 1;
        return NULL;
    }
    r->p += UD__ALIGN8(n);
    return at;
}

static ud__rd ud__payload(const ud__hdr *h) {
    ud__rd r;
    r.p = (const char *)(h + 1);
    r.end = (const char *)h + h->length;
    r.bad = 0;
    return r;
}

/* Reads an object of nparts parts: its table and inline parts from r, its large parts from
   src. A large object from another host that has a key lands in this host's shared store,
   where the other ranks of the host find it. Returns NULL with *st set when the message is malformed, memory is short or a
   checksum does not match (the large parts are still received, so the stream stays whole). */
static ud__obj *ud__rd_obj(ud__rd *r, int nparts, int src, uint32_t flags, const ud_ref *key,
                           ud_status *st) {
    const ud__wpart *tab = (const ud__wpart *)ud__rd_take(r, (size_t)nparts * sizeof(ud__wpart));
    size_t small[8] = {0}, *sizes = small;
    ud__obj *o = NULL;
    int k;
    *st = UD_OK;
    if (!tab) {
        *st = ud__fail(UD_ERR_PROTO, "object from rank %d: part table cut short", src);
        return NULL;
    }
    if (nparts > 8 && !(sizes = (size_t *)ud__alloc((size_t)nparts * sizeof *sizes))) sizes = NULL;
    if (sizes) {
        for (k = 0; k < nparts; k++) sizes[k] = (size_t)tab[k].size;
        if (key && !ud__shm_same_host(src)) o = ud__shm_reserve(*key, sizes, nparts);
        if (!o) o = ud__obj_alloc(sizes, nparts);
        if (sizes != small) ud__free(sizes, (size_t)nparts * sizeof *sizes);
    }
    for (k = 0; k < nparts; k++) {
        size_t size = (size_t)tab[k].size;
        void *dst = o ? (void *)o->parts[k].data : NULL;
        if (tab[k].inl) {
            const void *at = ud__rd_take(r, size);
            if (!at) {
                *st = ud__fail(UD_ERR_PROTO, "object from rank %d: part %d cut short", src, k);
                break;
            }
            if (dst && size) memcpy(dst, at, size);
            ud__st.inline_bytes_recv += (int64_t)size;
        } else if (dst) {
            ud__st.separate_bytes_recv += (int64_t)size;
            if (ud__recv_part(dst, size, src) != UD_OK) ud__panic("%s", ud__errbuf);
        } else {
            ud__drain_part(size, src); /* no room for it: take it off the wire all the same */
        }
        if (o && (flags & UD__F_CHECKSUM) && *st == UD_OK &&
            XXH3_64bits(o->parts[k].data, size) != tab[k].sum)
            *st = ud__fail(UD_ERR_PROTO, "checksum mismatch in part %d (%zu bytes) from rank %d",
                           k, size, src);
    }
    if (!o && *st == UD_OK) *st = ud__fail(UD_ERR_NOMEM, "object from rank %d: out of memory", src);
    if (*st != UD_OK && o) {
        ud__obj_release(o);
        o = NULL;
    }
    if (o) ud__shm_publish(o);
    return o;
}

/* The next object of a PUT_DATA; 0 at the end. A bad object becomes an error object, so a
   reader never hangs; a message cut short ends the walk. */
static int ud__rd_next_obj(ud__rd *r, const ud__hdr *h, int src, ud_ref *ref, ud__obj **out) {
    const ud__wobj *wo = (const ud__wobj *)ud__rd_take(r, sizeof *wo);
    ud_status st = UD_OK;
    ud__obj *o = NULL;
    char text[48];
    if (!wo) {
        ud__log(UD_LOG_ERROR, "PUT_DATA from rank %d cut short", src);
        return 0;
    }
    ref->owner = h->a;
    ref->num = wo->num;
    if ((wo->status != UD_OK && wo->status != UD_ERR_TASK && wo->status != UD_ERR_PROTO) || wo->nparts < 0) {
        st = ud__fail(UD_ERR_PROTO, "status %d with %d parts", wo->status, wo->nparts);
        r->bad = 1; /* where its parts end cannot be known */
    } else
        o = ud__rd_obj(r, wo->nparts, src, h->flags, wo->status == UD_OK ? ref : NULL, &st);
    if (o) {
        o->status = wo->status;
    } else if (st == UD_ERR_NOMEM) {
        o = &ud__oom_obj; /* the owner still has it: the root asks again, a worker's task fails */
    } else {
        char msg[600];
        ud__ref_text(*ref, text, sizeof text);
        snprintf(msg, sizeof msg, "ref %s from rank %d: %s", text, src, ud__errbuf);
        ud__log(UD_LOG_ERROR, "%s", msg);
        if (!(o = ud__obj_error(msg))) o = &ud__oom_obj;
        else o->status = st; /* a get says what went wrong on the way (UD_ERR_PROTO), not a task */
    }
    *out = o;
    return 1;
}

/* The next object of a PUT_SHARED_DATA; 0 at the end. An entry that is not in the store
   becomes an error object, so a reader never hangs. */
static int ud__rd_next_shared(ud__rd *r, const ud__hdr *h, int src, ud_ref *ref, ud__obj **out) {
    const int64_t *rec = (const int64_t *)ud__rd_take(r, 2 * sizeof(int64_t));
    char text[48], msg[200];
    if (!rec) {
        ud__log(UD_LOG_ERROR, "PUT_SHARED_DATA from rank %d cut short", src);
        return 0;
    }
    ref->owner = h->a;
    ref->num = rec[0];
    if ((*out = ud__shm_attach(rec[1], rec[0])) != NULL) return 1;
    if (ud__shm_holds(rec[1], rec[0])) { /* there, but no memory to wrap it */
        *out = &ud__oom_obj;
        return 1;
    }
    ud__ref_text(*ref, text, sizeof text);
    snprintf(msg, sizeof msg, "ref %s from rank %d: entry %lld is not in this host's shared store",
             text, src, (long long)rec[1]);
    ud__log(UD_LOG_ERROR, "%s", msg);
    if (!(*out = ud__obj_error(msg))) *out = &ud__oom_obj;
    return 1;
}

/* The next object of either kind of data message. */
static int ud__rd_next(ud__rd *r, const ud__hdr *h, int src, ud_ref *ref, ud__obj **out) {
    return h->op == UD__OP_PUT_SHARED_DATA ? ud__rd_next_shared(r, h, src, ref, out)
                                          : ud__rd_next_obj(r, h, src, ref, out);
}

/* An argument given whole (OBJ) or in this host's store (SHARED); NULL when malformed. A
   value that cannot be read (checksum, memory) becomes an error that fails the task. */
static ud__obj *ud__rd_arg_obj(ud__rd *r, int64_t kind, int from, uint32_t flags) {
    ud__obj *o = NULL;
    ud_status st;
    if (kind == UD__WARG_SHARED) {
        const int64_t *rec = (const int64_t *)ud__rd_take(r, 2 * sizeof(int64_t));
        if (!rec) return NULL;
        if ((o = ud__shm_attach(rec[0], rec[1])) != NULL) return o;
        ud__fail(UD_ERR_PROTO, "argument in entry %lld of the host's store, which does not hold it",
                 (long long)rec[0]);
    } else if (kind == UD__WARG_VAL) {
        o = ud__rd_obj(r, 1, from, flags, NULL, &st);
    } else {
        const int64_t *nparts = (const int64_t *)ud__rd_take(r, sizeof(int64_t));
        if (nparts && *nparts >= 0 && *nparts <= (int64_t)(r->end - r->p) / (int64_t)sizeof(ud__wpart))
            o = ud__rd_obj(r, (int)*nparts, from, flags, NULL, &st);
        else r->bad = 1;
    }
    if (kind != UD__WARG_SHARED) {
        if (r->bad) {
            ud__obj_release(o);
            return NULL;
        }
        if (o) return o;
    }
    return (o = ud__obj_error(ud__errbuf)) != NULL ? o : &ud__oom_obj;
}

/* Debug: one line an operation sent or received, naming its peer and the ref it is about.
   The payload is read only where its header says it is whole (a received one was checked). */
static void ud__debug_op(const char *dir, const ud__hdr *h, int peer) {
    const int64_t *pay = (const int64_t *)(h + 1);
    int more = h->length >= sizeof *h + sizeof(int64_t);
    const char *to = dir[0] == 's' ? "to" : "from";
    switch (h->op) {
    case UD__OP_EXECUTE: {
        const ud__fn *fn = ud__find_fn((ud_func)h->a);
        ud__log(UD_LOG_DEBUG, "%s EXECUTE %s rank %d: task %s, %d args, %d results from ref %lld:%lld",
                dir, to, peer, fn ? fn->name : "?", h->count, h->aux,
                (long long)(h->b % (ud__net.size ? ud__net.size : 1)), (long long)h->b);
        break;
    }
    case UD__OP_GET:
        ud__log(UD_LOG_DEBUG, "%s GET %s rank %d: ref %lld:%lld%s%s", dir, to, peer, (long long)h->a,
                (long long)(h->count > 0 && more ? pay[0] : -1), h->count > 1 ? " and more" : "",
                (h->flags & UD__F_NOREPLY) ? " (no reply)" : "");
        break;
    case UD__OP_PUT_DATA: case UD__OP_PUT_SHARED_DATA:
        ud__log(UD_LOG_DEBUG, "%s %s %s rank %d: %d object%s, ref %lld:%lld%s", dir, ud__op_name(h->op),
                to, peer, h->count, h->count == 1 ? "" : "s", (long long)h->a,
                (long long)(h->count > 0 && more ? pay[0] : -1),
                (h->flags & UD__F_PUSHED) ? " (pushed)" : (h->flags & UD__F_RESULTS) ? " (results)" : "");
        break;
    default:
        ud__log(UD_LOG_DEBUG, "%s %s %s rank %d: count %d, a %lld, b %lld, c %lld", dir,
                ud__op_name(h->op), to, peer, h->count, (long long)h->a, (long long)h->b, (long long)h->c);
    }
}

/* ---- the root: its ref store --------------------------------------------------------------------
   Owns the root's state (ud__root): an entry for every live ref the user holds (ud__rent),
   with the data itself when the root put it or got it, and the set of ranks that were given it
   as a task argument; and the scheduler's counts, the garbage batch and the batches of tasks
   that the sections below keep in it. Only the driver's rank has one; start and stop make and
   free it. The owner serves each reader once; the cleanup tells the owner how many readers to
   expect, so it never drops data a reader has still to ask for, without waiting for the whole
   system to be idle. */
typedef struct ud__rent {
    ud_ref ref;
    ud__obj *obj;             /* NULL until the root has the data */
    uint64_t seq;             /* when the root learned it was done */
    int64_t size;             /* bytes of the object, -1 while the root does not know */
    int32_t fetching;         /* a GET is on its way; -1: its answer found no memory here */
    uint8_t first, counted;   /* a task's first result; its task counted done here */
    uint8_t pushed;           /* its data came unasked: an answer to a GET may follow */
    uint8_t result;           /* a task's: its owner's worker part holds the data (the driver's too) */
    int32_t pins;             /* gets and waits running that hold it: a free waits for them */
    uint64_t seen[1];         /* ranks holding it or asked to read it (a bitset) */
} ud__rent;

static struct ud__root {
    ud__map map;
    int64_t next_num;         /* numbers are k * size + owner: the owner is part of the number */
    uint64_t seq;
    int next_worker;
    int64_t submitted;
    ud__wref *garbage;
    int ngarbage;
    size_t capgarbage;
    double garbage_since;     /* when the oldest ref of the batch was freed */
    uint64_t garbage_bytes;   /* of the batch's objects whose size the root knows */
    size_t rent_bytes;
    /* the scheduler's view, a rank each: tasks sent, and done by what the monitor last said
       and by what the root saw itself (the larger is the better lower bound) */
    int64_t *assigned, *done_mon, *done_seen;
    int64_t *late;            /* answers still due to GETs of refs freed after a push filled them */
    int64_t *running_due;     /* RUNNING asked of a rank, not answered yet (a shutdown that waits) */
    uint64_t fills;           /* entries filled so far: a get on another thread looks again */
    double *score;            /* scratch: argument bytes on each rank, then on each host */
    int last;                 /* the worker of the last task */
    int polling;              /* a GET_TASK_COUNT is out */
    double polled_at, probed_at; /* when counts were asked for; when the root last probed */
    int stopping;             /* SHUTDOWN is out: a nested task submitted now raises its count */
    int staged;               /* workers with tasks held for a batch (ud__stage_add) */
    ud_ref *later;            /* refs tasks freed, let go at the driver's next call */
    int nlater;
    size_t caplater;
    struct ud__stage *stage;  /* a rank each: tasks held for one message (ud__stage_add) */
} ud__root;

static int ud__seen_has(const ud__rent *e, int rank) { return (int)((e->seen[rank / 64] >> (rank % 64)) & 1u); }
static void ud__seen_set(ud__rent *e, int rank) { e->seen[rank / 64] |= (uint64_t)1 << (rank % 64); }

/* Enters e (allocated, its map slot reserved) for ref. */
static ud__rent *ud__root_enter(ud__rent *e, ud_ref ref, ud__obj *obj) {
    memset(e, 0, ud__root.rent_bytes);
    e->ref = ref;
    e->obj = obj;
    e->size = obj ? (int64_t)obj->total : -1;
    if (obj) e->seq = ++ud__root.seq;
    ud__map_put(&ud__root.map, ref, e);
    return e;
}

static ud__rent *ud__root_new(ud_ref ref, ud__obj *obj) {
    ud__rent *e;
    if (!ud__map_reserve(&ud__root.map, 1) || !(e = (ud__rent *)ud__alloc(ud__root.rent_bytes)))
        return NULL;
    return ud__root_enter(e, ref, obj);
}

/* The entries of a task's results, made before the task is sent: once it is out, nothing may
   fail. Frees them all and returns 0 when one cannot be had. */
static int ud__root_rents(ud__rent **made, int n) {
    int i;
    for (i = 0; i < n; i++)
        if (!(made[i] = (ud__rent *)ud__alloc(ud__root.rent_bytes))) {
            while (i-- > 0) ud__free(made[i], ud__root.rent_bytes);
            return 0;
        }
    return 1;
}

static ud_status ud__root_lookup(const char *op, ud_ref r, ud__rent **out) {
    ud__rent *e = (ud__rent *)ud__map_get(&ud__root.map, r);
    if (e) {
        *out = e;
        return UD_OK;
    }
    return ud__ref_unknown(op, r, ud__owner_ok(r.owner) && r.num > 0 && r.num % ud__net.size == r.owner,
                           r.num / ud__net.size, ud__root.next_num);
}

/* The root knows a task is done: its result came, or the monitor named it in a wait. */
static void ud__root_learned_done(ud__rent *e) {
    if (!e->first || e->counted) return;
    e->counted = 1;
    ud__root.done_seen[e->ref.owner]++;
}

/* The root's own data (a put, or a task's put): done from the start, and pushed to the ranks
   that read it. A task's result owned by the driver's rank is not one: its worker part holds
   it, and serves it as any worker does. */
static int ud__is_put(const ud__rent *e) { return e->ref.owner == UD__ROOT && !e->result; }

static int ud__readers(const ud__rent *e) {
    int k, n = 0, words = (ud__net.size + 63) / 64;
    for (k = 0; k < words; k++) n += __builtin_popcountll(e->seen[k]);
    return n - (!ud__is_put(e) && ud__seen_has(e, (int)e->ref.owner));
}

static void ud__stage_flush_all(void);

/* ---- the root: the driver's calls ---------------------------------------------------------------
   Owns the driver's put, get, wait, remote and free, and the batch of freed refs (cleanup).
   Writes the ref store and the garbage batch; the driver's backend table (start and stop)
   calls these. */
static ud_status ud__mpi_put(const ud_part *parts, int nparts, ud_ref *out) {
    ud__obj *o;
    ud_ref ref;
    ud__stage_flush_all();
    ref.owner = UD__ROOT;
    ref.num = ud__root.next_num * ud__net.size + UD__ROOT;
    if (!(o = ud__shm_put_parts(ref, parts, nparts)) && !(o = ud__obj_copy(parts, nparts)))
        return ud__fail(UD_ERR_NOMEM, "put: out of memory");
    ud__root.next_num++;
    if (!ud__root_new(ref, o)) {
        ud__obj_release(o);
        return ud__fail(UD_ERR_NOMEM, "put: out of memory");
    }
    *out = ref;
    ud__async_progress();
    return UD_OK;
}

/* GET: a = owner, count = numbers, then the numbers. One message an owner, however many. The
   messages' buffers are made at the first ref that needs one: a get of what the root or this
   host already holds asks for no memory. */
static ud__obj *ud__wk_has(ud_ref ref);

static ud_status ud__root_ask(ud__rent **ents, int n, int *missing) {
    size_t wbytes = (size_t)ud__net.size * sizeof(ud__wbuf);
    ud__wbuf *w = NULL;
    ud_status st = UD_OK;
    int i, r;
    for (i = 0; i < n; i++) {
        ud__rent *e = ents[i];
        if (e->obj || e->fetching > 0) continue;
        if ((e->obj = ud__shm_find(e->ref)) != NULL || (e->obj = ud__wk_has(e->ref)) != NULL) {
            /* a rank of this host has it, or this rank's tasks made it: no message */
            e->seq = ++ud__root.seq;
            e->size = (int64_t)e->obj->total;
            ud__root_learned_done(e);
            continue;
        }
        if (!w) {
            if (!(w = (ud__wbuf *)ud__alloc(wbytes))) {
                st = ud__fail(UD_ERR_NOMEM, "get: out of memory");
                break;
            }
            memset(w, 0, wbytes);
        }
        r = (int)e->ref.owner;
        if (!w[r].p && !w[r].oom && ud__wb_start(&w[r], UD__OP_GET)) ((ud__hdr *)w[r].p)->a = r;
        ud__wb_add(&w[r], &e->ref.num, sizeof e->ref.num);
        if (w[r].oom) { /* a GET that cannot be written is not sent: nothing is on its way */
            st = ud__fail(UD_ERR_NOMEM, "get: out of memory for the request to rank %d", r);
            break;
        }
        e->fetching = 2; /* asked in this call: 1 once its GET has gone */
        (*missing)++;
    }
    if (!w) return st;
    for (r = 0; r < ud__net.size; r++) {
        if (!w[r].p) continue;
        if (!w[r].oom) ((ud__hdr *)w[r].p)->count = (int32_t)((w[r].len - sizeof(ud__hdr)) / sizeof(int64_t));
        if (st != UD_OK) ud__free(w[r].p, w[r].cap);
        else if ((st = ud__wb_send(&w[r], r)) == UD_OK) w[r].len = 0; /* gone (else: freed) */
    }
    for (i = 0; i < n; i++) /* a GET that did not go leaves nothing on its way */
        if (ents[i]->fetching == 2) ents[i]->fetching = w[ents[i]->ref.owner].len == 0;
    ud__free(w, wbytes);
    return st;
}

static ud_status ud__root_recv(int op, const ud__hdr **h, int *from);
static ud_status ud__root_recv_fill(const ud__hdr **h, int *from, uint64_t fills);
static int ud__root_take_data(const ud__hdr *h, int from);

static ud_status ud__mpi_get(const ud_ref *refs, int n, ud_view *out) {
    ud__rent *small[16], **ents = n <= 16 ? small : (ud__rent **)ud__alloc((size_t)n * sizeof *ents);
    ud_status st = UD_OK, first = UD_OK;
    int i, k, missing = 0, asked = 0, pinned;
    ud__stage_flush_all();
    if (!ents) return ud__fail(UD_ERR_NOMEM, "get: out of memory");
    for (i = 0; i < n && st == UD_OK; i++) st = ud__root_lookup("get", refs[i], &ents[i]);
    pinned = st == UD_OK ? i : i - 1; /* (the lookup that failed found nothing) */
    for (k = 0; k < pinned; k++) ents[k]->pins++; /* another thread's free of one waits for this get */
    if (st == UD_OK && (st = ud__root_ask(ents, n, &missing)) == UD_OK) asked = 1;
    for (i = 0; st == UD_OK && i < n; i++) { /* every answer moves i on as far as it can */
        while (!ents[i]->obj && st == UD_OK) {
            const ud__hdr *h;
            int from;
            uint64_t fills = ud__root.fills;
            if (ents[i]->fetching < 0) {
                char text[48];
                ud__ref_text(refs[i], text, sizeof text);
                st = ud__fail(UD_ERR_NOMEM, "get: out of memory for ref %s (rank %lld still has it)",
                              text, (long long)refs[i].owner);
                break;
            }
            /* a get on another thread may take this one's answer: it looks again then */
            if ((st = ud__root_recv_fill(&h, &from, fills)) == UD_OK) ud__root_take_data(h, from);
            else if (st == UD_ERR_TIMEOUT) st = UD_OK;
        }
    }
    /* after a broken stream a later call asks again for what did not come; after memory ran
       out, what is on its way still comes (and what found no room says so: fetching -1) */
    if (st != UD_OK && st != UD_ERR_NOMEM && asked)
        for (i = 0; i < n; i++)
            if (!ents[i]->obj) ents[i]->fetching = 0;
    (void)missing;
    for (i = 0; i < n && st == UD_OK; i++) first = ud__get_view(ents[i]->obj, refs[i], &out[i], first);
    for (i = 0; i < pinned; i++) ents[i]->pins--;
    if (ents != small) ud__free(ents, (size_t)n * sizeof *ents);
    return st != UD_OK ? st : first;
}

static void ud__root_service(void);
static ud_status ud__root_submit(const ud__fn *fn, const ud_arg *args, int nargs, int nret,
                                 ud_ref *outs, const ud_opts *opts, int caller, int depth);

static ud_status ud__mpi_remote(const ud__fn *fn, const ud_arg *args, int nargs, int nret,
                                ud_ref *outs, const ud_opts *opts) {
    ud__root_service();
    return ud__root_submit(fn, args, nargs, nret, outs, opts, UD__PROGRAM, 1);
}

/* What the root knows is done (what it put or got) comes first, oldest first; the monitor
   answers for the rest in the order the tasks finished, and handles the timeout. */
static ud_status ud__mpi_wait(const ud_ref *refs, int n, int num_returns, double timeout,
                              int *ready, int *nready) {
    size_t bytes = (size_t)n * (sizeof(ud__rent *) + sizeof(ud__done));
    ud__rent **ents = (ud__rent **)ud__alloc(bytes);
    ud__done *done = (ud__done *)(ents + n);
    ud_status st = UD_OK;
    int i, nlocal = 0, nremote = 0, pinned = 0;
    ud__wbuf w;
    ud__hdr *h;
    ud__stage_flush_all();
    if (!ents) return ud__fail(UD_ERR_NOMEM, "wait: out of memory");
    for (i = 0; i < n && st == UD_OK; i++) st = ud__root_lookup("wait", refs[i], &ents[i]);
    if (st != UD_OK) goto out;
    for (i = 0; i < n; i++) ents[i]->pins++; /* another thread's free of one waits for this wait */
    pinned = n;
    /* The root's own puts were done before any task; a task's result is ordered by the
       monitor, even when the root has fetched it, so that the first completed comes first. */
    for (i = 0; i < n; i++)
        if (ud__is_put(ents[i])) { done[nlocal].seq = ents[i]->seq; done[nlocal++].idx = i; }
    qsort(done, (size_t)nlocal, sizeof *done, ud__done_cmp);
    for (i = 0; i < nlocal && i < num_returns; i++) ready[i] = done[i].idx;
    *nready = i;
    if (nlocal >= num_returns) goto out;
    if (!(h = ud__wb_start(&w, UD__OP_WAIT))) {
        st = ud__fail(UD_ERR_NOMEM, "wait: out of memory");
        goto out;
    }
    h->aux = num_returns - nlocal;
    h->c = timeout < 0 ? -1 : (int64_t)(timeout * 1e6);
    for (i = 0; i < n; i++) {
        ud__wref r;
        if (ud__is_put(ents[i])) continue;
        r.owner = refs[i].owner;
        r.num = refs[i].num;
        r.n = i;
        ud__wb_add(&w, &r, sizeof r);
        nremote++;
    }
    if (w.p) ((ud__hdr *)w.p)->count = nremote;
    if ((st = ud__wb_send(&w, UD__MONITOR)) != UD_OK) goto out;
    for (;;) {
        const ud__hdr *rh;
        const int32_t *idx;
        ud__rd r;
        int from, k;
        if ((st = ud__root_recv(UD__OP_WAIT, &rh, &from)) != UD_OK) goto out;
        r = ud__payload(rh);
        idx = (const int32_t *)ud__rd_take(&r, (size_t)rh->count * 2 * sizeof *idx);
        if (!idx || rh->count > num_returns - nlocal) {
            st = ud__fail(UD_ERR_PROTO, "wait: malformed answer from the monitor");
            goto out;
        }
        for (k = 0; k < rh->count; k++) {
            ud__rent *e;
            if (idx[k] < 0 || idx[k] >= n) {
                st = ud__fail(UD_ERR_PROTO, "wait: the monitor named index %d of %d", idx[k], n);
                goto out;
            }
            ready[(*nready)++] = idx[k];
            e = ents[idx[k]]; /* done: the scheduler learns it, and how large it is */
            if (e->size < 0) e->size = ud__size_of_code(idx[rh->count + k]);
            ud__root_learned_done(e);
        }
        if (*nready < num_returns)
            st = ud__fail(UD_ERR_TIMEOUT, "wait: %d of %d refs done after %.3f s, %d asked for",
                          *nready, n, timeout, num_returns);
        break;
    }
out:
    for (i = 0; i < pinned; i++) ents[i]->pins--;
    ud__free(ents, bytes);
    return st;
}

/* CLEANUP to every worker and the monitor: count = refs, then one ud__wref each (to the
   driver's own worker part too, when it runs tasks: through MPI, after the tasks sent it). */
static ud_status ud__root_flush_garbage(void) {
    ud_status st = UD_OK;
    int dst;
    for (dst = ud__root_runs_tasks() ? UD__ROOT : UD__ROOT + 1; dst < ud__net.size && st == UD_OK; dst++) {
        ud__wbuf w;
        ud__hdr *h = ud__wb_start(&w, UD__OP_CLEANUP);
        if (!h) return ud__fail(UD_ERR_NOMEM, "free: out of memory");
        h->count = ud__root.ngarbage;
        ud__wb_add(&w, ud__root.garbage, (size_t)ud__root.ngarbage * sizeof(ud__wref));
        st = ud__wb_send(&w, dst);
    }
    ud__root.ngarbage = 0;
    ud__root.garbage_bytes = 0;
    /* A message past the eager size moves only while its sender is inside MPI: finish it
       here rather than leave the workers waiting on it while the driver computes. */
    ud__async_drain();
    return st;
}

/* A batch waits no longer than UNIDIST_MPI_GC_DELAY_MS: its objects may be large. */
static int ud__root_garbage_due(void) {
    return ud__root.ngarbage > 0 && ud__rt.cfg.mpi_gc_delay_ms > 0 &&
           ud__now() - ud__root.garbage_since >= 1e-3 * (double)ud__rt.cfg.mpi_gc_delay_ms;
}

/* A ref to free at the root's next turn (a task freed it, or a get or wait holds it); 0 when
   there is no memory to note it. */
static int ud__root_later(ud_ref ref) {
    ud_ref *g = (ud_ref *)ud__grow(ud__root.later, &ud__root.caplater, (size_t)ud__root.nlater + 1,
                                   sizeof *g, 64);
    if (!g) return 0;
    ud__root.later = g;
    ud__root.later[ud__root.nlater++] = ref;
    return 1;
}

static ud_status ud__mpi_free(const ud_ref *refs, int n) {
    ud_status st, first = UD_OK;
    int i;
    ud__stage_flush_all();
    for (i = 0; i < n; i++) {
        ud__rent *e;
        if ((st = ud__root_lookup("free", refs[i], &e)) != UD_OK) {
            if (first == UD_OK) first = st;
            continue;
        }
        if (e->pins > 0) { /* a get or wait on another thread holds it: freed after */
            if (!ud__root_later(e->ref)) return ud__fail(UD_ERR_NOMEM, "free: out of memory");
            continue;
        }
        /* Workers hold a ref the root put only if it was pushed to them. */
        if (!ud__is_put(e) || ud__readers(e) > 0) {
            ud__wref *g = (ud__wref *)ud__grow(ud__root.garbage, &ud__root.capgarbage,
                                               (size_t)ud__root.ngarbage + 1, sizeof *g, 256);
            if (!g) return ud__fail(UD_ERR_NOMEM, "free: out of memory");
            ud__root.garbage = g;
            if (ud__root.ngarbage == 0) ud__root.garbage_since = ud__now();
            ud__root.garbage[ud__root.ngarbage].owner = e->ref.owner;
            ud__root.garbage[ud__root.ngarbage].num = e->ref.num;
            ud__root.garbage[ud__root.ngarbage++].n = ud__readers(e) | (ud__is_put(e) ? UD__WREF_PUT : 0);
            if (e->size > 0) ud__root.garbage_bytes += (uint64_t)e->size;
        }
        if (e->pushed) ud__root.late[e->ref.owner]++;
        ud__map_del(&ud__root.map, e->ref);
        ud__obj_release(e->obj);
        ud__free(e, ud__root.rent_bytes);
        /* a batch at a time, so that a cleanup message stays the size of one batch */
        if (ud__root.ngarbage >= ud__rt.cfg.mpi_gc_threshold && (st = ud__root_flush_garbage()) != UD_OK)
            return st;
    }
    /* at once when the batch frees much memory, which the next large object may then reuse */
    if ((ud__root_garbage_due() ||
         (ud__rt.cfg.mpi_gc_bytes && ud__root.garbage_bytes >= ud__rt.cfg.mpi_gc_bytes)) &&
        (st = ud__root_flush_garbage()) != UD_OK)
        return st;
    ud__async_progress();
    return first;
}

/* The refs tasks freed, and those freed while a get or wait held them: the list is taken out
   first, as a ref still held goes back on it. */
static void ud__root_free_later(void) {
    ud_ref *refs = ud__root.later;
    size_t cap = ud__root.caplater;
    ud_status st;
    int n = ud__root.nlater;
    ud__root.later = NULL;
    ud__root.caplater = 0;
    ud__root.nlater = 0;
    if ((st = ud__mpi_free(refs, n)) != UD_OK && st != UD_ERR_FREED)
        ud__log(UD_LOG_WARN, "root: freeing the refs tasks freed: %s", ud__errbuf);
    ud__free(refs, cap * sizeof *refs);
}

/* ---- the root: what comes to it -----------------------------------------------------------------
   Owns the root's receiving: answers it waits for, and what comes unasked (data for an earlier
   GET or pushed by a worker, the monitor's counts, a task's nested call, a worker's RUNNING).
   Writes the ref store's entries and the scheduler's counts; the driver's calls wait here. */
/* A worker's answer to RUNNING: what it runs, by function name. */
static void ud__root_running(const ud__hdr *h, int from) {
    ud__rd r = ud__payload(h);
    size_t len = (size_t)(r.end - r.p);
    const char *text = r.p;
    ud__root.running_due[from] = 0;
    if (h->a <= 0 && h->b <= 0) return;
    if (!len || memchr(text, '\0', len) == NULL) text = "";
    ud__log(UD_LOG_WARN, "shutdown waits for rank %d: %lld task%s running%s%s%s, %lld more waiting there for a thread",
            from, (long long)h->a, h->a == 1 ? "" : "s", *text ? " (" : "", text, *text ? ")" : "",
            (long long)h->b);
}

static void ud__root_take_counts(const ud__hdr *h, int from);
static void ud__root_nested(const ud__hdr *h, int from);

/* Handles what may come unasked for at any time: data for an earlier GET (kept whoever
   asked, so that the stream never misaligns) and the monitor's task counts; any other
   operation is logged and dropped (none carries parts). */
static void ud__root_take_unasked(const ud__hdr *h, int from) {
    if (h->op == UD__OP_PUT_DATA || h->op == UD__OP_PUT_SHARED_DATA) ud__root_take_data(h, from);
    else if (h->op == UD__OP_GET_TASK_COUNT && from == UD__MONITOR) ud__root_take_counts(h, from);
    else if (h->op == UD__OP_NESTED && ud__is_worker(from)) ud__root_nested(h, from);
    else if (h->op == UD__OP_RUNNING && ud__is_worker(from)) ud__root_running(h, from);
    else ud__log(UD_LOG_WARN, "root: dropped an unexpected %s from rank %d", ud__op_name(h->op), from);
}

static int ud__rank_handle(const ud__hdr *h, int from);
static int ud__wk_duties(void);

/* On the driver's rank, whether an operation is for its worker part (the tasks it runs, the
   data they make) rather than for its root: what only workers are sent, and the answers to
   what the worker part asked (UD__F_WK; NESTED's answers). */
static int ud__for_wk_part(const ud__hdr *h) {
    switch (h->op) {
    case UD__OP_EXECUTE: case UD__OP_BATCH: case UD__OP_GET: case UD__OP_CLEANUP:
    case UD__OP_CANCEL: case UD__OP_STEAL: return 1;
    case UD__OP_TASK_DONE: return (h->flags & UD__F_DELEGATED) != 0;
    case UD__OP_PUT_DATA: case UD__OP_PUT_SHARED_DATA: return (h->flags & (UD__F_WK | UD__F_RESULTS)) != 0;
    case UD__OP_NESTED: return (h->flags & UD__F_REPLY) != 0;
    case UD__OP_WAIT: return (h->flags & UD__F_WK) != 0;
    case UD__OP_RUNNING: return !(h->flags & UD__F_REPLY);
    default: return 0;
    }
}

/* The next operation for the root: 1 (0: none waits, -1: a malformed one was dropped). On a
   driver's rank that runs tasks, one for its worker part is handled as it comes: 2. */
static int ud__root_try_recv(const ud__hdr **h, int *from) {
    int got = ud__try_recv(MPI_ANY_SOURCE, h, from);
    if (got > 0 && ud__root_runs_tasks() && ud__for_wk_part(*h)) {
        ud__rank_handle(*h, *from);
        return 2;
    }
    return got;
}

static ud_status ud__root_recv_until(int op, const ud__hdr **h, int *from, double until);

/* Waits for the next answer of kind op. What comes unasked for is taken as it comes; other
   unexpected operations are logged and dropped (none carries parts). */
static ud_status ud__root_recv(int op, const ud__hdr **h, int *from) {
    return ud__root_recv_until(op, h, from, 0);
}

static void ud__root_progress_tick(void);

static int ud__rl_handed(void);
static void ud__rl_garbage(void);
static void ud__rl_idle(void);

static ud_status ud__root_recv_loop(int op, const ud__hdr **h, int *from, double until, const uint64_t *fills);

/* The same, giving up with UD_ERR_TIMEOUT at time until (0: never). */
static ud_status ud__root_recv_until(int op, const ud__hdr **h, int *from, double until) {
    return ud__root_recv_loop(op, h, from, until, NULL);
}

/* The next data for the root; UD_ERR_TIMEOUT as soon as another thread's get has filled an
   entry since fills (it may be one this thread waits for). */
static ud_status ud__root_recv_fill(const ud__hdr **h, int *from, uint64_t fills) {
    return ud__root_recv_loop(UD__OP_PUT_DATA, h, from, 0, &fills);
}

static ud_status ud__root_recv_loop(int op, const ud__hdr **h, int *from, double until, const uint64_t *fills) {
    unsigned polls = 0;
    for (;;) {
        int got = ud__root_try_recv(h, from);
        if (got == 2 || (got == 0 && ud__wk_duties())) { /* its rank's tasks moved: look again */
            ud__busy();
            continue;
        }
        if (got > 0) {
            ud__busy();
            if ((*h)->op == op || (op == UD__OP_PUT_DATA && (*h)->op == UD__OP_PUT_SHARED_DATA))
                return UD_OK;
            ud__root_take_unasked(*h, *from);
            continue;
        }
        if (got < 0) return ud__fail(UD_ERR_PROTO, "root: a malformed message arrived");
        if (ud__rl_handed()) continue; /* other threads' calls, handed to the loop */
        /* testing every send costs O(sends): do it now and then while waiting, and send
           the cleanup batch when it is due, so that a long wait holds nothing back */
        if ((++polls & 63) == 0 && (ud__root_progress_tick(), ud__rl_garbage(), ud__async_progress())) continue;
        if (until > 0 && ud__now() >= until) return UD_ERR_TIMEOUT;
        ud__rl_idle();
        if (fills && ud__root.fills != *fills) return UD_ERR_TIMEOUT;
    }
}

/* Stores the objects of a PUT_DATA that answers the root's GETs, or that a worker pushed
   (UD__F_PUSHED: results of its tasks, which the driver may have freed meanwhile, and which
   may cross the answer to a GET of them); returns how many it filled. */
static int ud__root_take_data(const ud__hdr *h, int from) {
    ud__rd r = ud__payload(h);
    ud_ref ref;
    ud__obj *o;
    int i, filled = 0, pushed = (h->flags & UD__F_PUSHED) != 0, foreign = pushed && h->a != from;
    if (foreign) /* a worker pushes only what it owns: read it all (parts may follow), keep none */
        ud__log(UD_LOG_ERROR, "root: dropped a PUT_DATA from rank %d pushing rank %lld's refs", from, (long long)h->a);
    else if (pushed && ud__is_worker(from) && h->c > ud__root.done_mon[from])
        ud__root.done_mon[from] = h->c;
    for (i = 0; i < h->count && !r.bad && ud__rd_next(&r, h, from, &ref, &o); i++) {
        ud__rent *e = foreign ? NULL : (ud__rent *)ud__map_get(&ud__root.map, ref);
        if (!e || e->obj || (e->fetching <= 0 && !pushed)) { /* not asked for: the stream is whole */
            if (pushed)
                ; /* freed, or got already: a copy to drop */
            else if (e && e->pushed)
                e->pushed = 0; /* the answer that crossed the push */
            else if (!e && ud__root.late[from] > 0)
                ud__root.late[from]--;
            else
                ud__log(UD_LOG_WARN, "root: unexpected PUT_DATA of %lld:%lld from rank %d",
                        (long long)ref.owner, (long long)ref.num, from);
            ud__obj_release(o);
            continue;
        }
        if (o == &ud__oom_obj) { /* the get fails for memory; a later one asks again */
            if (!pushed) e->fetching = -1;
            continue;
        }
        e->obj = o;
        e->size = (int64_t)o->total;
        e->pushed = pushed && e->fetching > 0;
        e->fetching = 0;
        e->seq = ++ud__root.seq;
        ud__root_learned_done(e);
        filled++;
    }
    ud__root.fills += (uint64_t)filled;
    return filled;
}

/* GET_TASK_COUNT from the monitor: a = how many ranks, then the tasks each rank was sent that
   it has finished. Asked for at most every millisecond while the driver calls in, so that the
   scheduler knows the load without a message a task. */
static void ud__root_take_counts(const ud__hdr *h, int from) {
    ud__rd r = ud__payload(h);
    const int64_t *done = (const int64_t *)ud__rd_take(&r, (size_t)ud__net.size * sizeof *done);
    int k;
    ud__root.polling = 0;
    if (!done || h->count != ud__net.size) {
        ud__log(UD_LOG_ERROR, "root: dropped a malformed GET_TASK_COUNT from rank %d", from);
        return;
    }
    for (k = 0; k < ud__net.size; k++)
        if (done[k] > ud__root.done_mon[k]) ud__root.done_mon[k] = done[k];
}

static int64_t ud__done_of(int r);

/* What the progress line shows: tasks numbered, tasks the root knows are done, and the bytes
   the driver's rank sent and received. */
static void ud__root_publish_progress(void) {
    int64_t done = 0;
    int r;
    if (!ud__pg.on) return;
    for (r = 0; r < ud__net.size; r++) done += ud__done_of(r);
    ud__progress_publish(ud__root.submitted, done, ud__st.bytes_sent + ud__st.bytes_recv);
}

static void ud__root_poll(double now) {
    ud__root_publish_progress();
    if (ud__root.polling || now - ud__root.polled_at < 1e-3) return;
    if (ud__send_op(UD__MONITOR, UD__OP_GET_TASK_COUNT, 0, 0, 0, 0) != UD_OK) return;
    ud__root.polling = 1;
    ud__root.polled_at = now;
}

/* While the driver waits in a call with the progress line on: the counts stay fresh (at
   most a GET_TASK_COUNT a millisecond, as at the start of a call). */
static void ud__root_progress_tick(void) {
    if (ud__pg.on) ud__root_poll(ud__now());
}

/* At the start of a call: take what came meanwhile, at most every 100 us, and ask the monitor
   for counts again when they are old. Not at every call: Open MPI, oversubscribed, yields the
   core in each probe that finds nothing, and a driver submitting a burst of tasks would give
   its core away at every task. */
static void ud__root_service(void) {
    const ud__hdr *h;
    int from, got;
    double t = ud__now();
    if (ud__root.nlater) ud__root_free_later();
    if (ud__root_garbage_due() && ud__root_flush_garbage() != UD_OK)
        ud__log(UD_LOG_WARN, "root: cleanup: %s", ud__errbuf);
    if (t - ud__root.probed_at > 100e-6) {
        ud__root.probed_at = t;
        while ((got = ud__root_try_recv(&h, &from)) != 0)
            if (got == 1) ud__root_take_unasked(h, from);
        ud__wk_duties();
    }
    ud__root_poll(t);
}

/* ---- the root: its loop -------------------------------------------------------------------------
   Owns the driver rank's loop thread and the calls of the program's threads (ud__rq): any
   thread may call the API at any time, and between calls the loop does the root's duties, so
   that submissions, frees, cleanup batches, nested calls and results move while the program
   computes. The root's state and MPI belong to whoever holds ud__rl.root_mu: the loop for its
   turns, or, when MPI gives MPI_THREAD_SERIALIZED or more (it does when the runtime starts
   MPI), the calling thread itself, which so pays no hand-off; under MPI_THREAD_FUNNELED each
   call is handed to the loop instead, which alone calls MPI. Gets run side by side, a wait,
   stats or shutdown alone (in_call, exclusive); while they wait for answers (letting go of
   the lock between polls) the puts, remotes and frees of other threads still run (a free
   then lets go at the end of the call, as a task's free does), and the loop takes no turn,
   whose receives would take their answers. Writes ud__rl; start makes the thread, the
   shutdown ends it. */
enum { UD__RQ_PUT, UD__RQ_GET, UD__RQ_WAIT, UD__RQ_REMOTE, UD__RQ_FREE, UD__RQ_STATS, UD__RQ_STOP };

typedef struct ud__rq {
    int kind;                 /* UD__RQ_* */
    const ud_part *parts;     /* put */
    int nparts;
    const ud_ref *refs;       /* get, wait, free */
    int n, num_returns;
    ud_view *views;           /* get */
    double timeout;           /* wait */
    int *ready, *nready;
    const ud__fn *fn;         /* remote */
    const ud_arg *args;
    int nargs, nret;
    const ud_opts *opts;
    ud_ref *outs;             /* remote, put: the refs made */
    ud_stats *stats;          /* stats */
    int cap, *nstats;
    ud_status status;
    char err[512];            /* as long as ud_last_error's */
    ud__atomic_int answered;
    struct ud__rq *next;
} ud__rq;

static struct ud__rootloop {
    pthread_t thread;
    pthread_mutex_t root_mu;  /* the root's state and MPI: held by whoever runs root code */
    pthread_cond_t idle;      /* (root_mu) in_call went to 0; a blocking call's naps */
    int direct;               /* MPI_THREAD_SERIALIZED or more: callers run root code themselves */
    int in_call;              /* gets, waits, stats or a stop running (root_mu) */
    int exclusive;            /* the one running is a wait, stats or stop: nothing else blocks */
    pthread_mutex_t mu;       /* the queue of handed calls and the loop's sleep */
    pthread_cond_t wake;      /* the loop naps on it; a new call ends the nap */
    pthread_cond_t answered;  /* callers sleep on it once their spin is over */
    ud__rq *calls;            /* posted, newest first */
    ud__rq *queued;           /* taken, in order, not run yet (behind a blocking call) */
    int sleeping;             /* threads napping on wake: the loop, and callers waiting in MPI */
    ud__atomic_int poked;     /* a task of this rank finished or called: no nap until its
                                 worker part's duties have run (ud__wk_duties clears it) */
    ud__atomic_int running;   /* 1: waits to start; 2: turns; 0: done */
    double call_at;           /* when the loop last had something to do */
    double direct_at;         /* when a calling thread's call last ended (root_mu) */
    ud__atomic_int stopped;   /* the shutdown has run: calls from now on are refused */
} ud__rl;

static UD__THREAD_LOCAL int ud__rl_mine; /* this thread holds root_mu */

static void ud__rl_lock(void) {
    pthread_mutex_lock(&ud__rl.root_mu);
    ud__rl_mine = 1;
}

static int ud__rl_trylock(void) { return pthread_mutex_trylock(&ud__rl.root_mu) == 0 && (ud__rl_mine = 1); }

static void ud__rl_unlock(void) {
    ud__rl_mine = 0;
    pthread_mutex_unlock(&ud__rl.root_mu);
}

/* Before MPI_Abort on the driver's rank (a program that left main, a panic): the root's lock,
   so that no other thread is inside MPI then (MPICH's UCX asserts otherwise); given up on
   after 2 s, when the thread that holds it is stuck. */
static void ud__rl_hold_for_abort(void) {
    double end = ud__now() + 2;
    if (ud__net.rank != UD__ROOT || !ud__atomic_load(&ud__rl.running) || ud__rl_mine) return;
    while (!ud__rl_trylock() && ud__now() < end) sched_yield();
}

static int ud__rq_blocks(const ud__rq *q) {
    return q->kind == UD__RQ_GET || q->kind == UD__RQ_WAIT || q->kind == UD__RQ_STATS || q->kind == UD__RQ_STOP;
}

static ud_status ud__rq_direct(ud__rq *q);
static void ud__rl_nap(long ns);

/* A call that came after the shutdown had begun (another thread called it). */
#define UD__RL_REFUSED "the runtime is shut down: another thread's ud_shutdown began before this call ran"

/* On the calling thread: the call goes to the loop, and the thread waits for its answer,
   spinning UNIDIST_SPIN_US first (a remote's answer comes within microseconds). */
static ud_status ud__rq_call(ud__rq *q) {
    double until;
    if (ud__rl.direct) return ud__rq_direct(q);
    until = ud__now() + 1e-6 * (double)ud__rt.cfg.spin_us;
    q->status = UD_OK;
    q->err[0] = '\0';
    ud__atomic_store(&q->answered, 0);
    pthread_mutex_lock(&ud__rl.mu);
    if (ud__atomic_load(&ud__rl.stopped)) {
        pthread_mutex_unlock(&ud__rl.mu);
        return ud__fail(UD_ERR_STATE, UD__RL_REFUSED);
    }
    q->next = ud__rl.calls;
    ud__rl.calls = q;
    if (ud__rl.sleeping) pthread_cond_broadcast(&ud__rl.wake);
    pthread_mutex_unlock(&ud__rl.mu);
    while (!ud__atomic_load(&q->answered) && ud__now() < until) sched_yield();
    if (!ud__atomic_load(&q->answered)) {
        pthread_mutex_lock(&ud__rl.mu);
        while (!ud__atomic_load(&q->answered)) pthread_cond_wait(&ud__rl.answered, &ud__rl.mu);
        pthread_mutex_unlock(&ud__rl.mu);
    }
    pthread_mutex_lock(&ud__rl.mu); /* the loop answers under it: it is done with q */
    pthread_mutex_unlock(&ud__rl.mu);
    return q->status == UD_OK ? UD_OK : ud__fail(q->status, "%s", q->err);
}

/* Answers a handed call: its status, and the loop's message when it failed (or why, given). */
static void ud__rq_answer_why(ud__rq *q, ud_status st, const char *why) {
    q->status = st;
    if (st != UD_OK) snprintf(q->err, sizeof q->err, "%s", why);
    pthread_mutex_lock(&ud__rl.mu);
    ud__atomic_store(&q->answered, 1);
    pthread_cond_broadcast(&ud__rl.answered);
    pthread_mutex_unlock(&ud__rl.mu);
}

static void ud__rq_answer(ud__rq *q, ud_status st) { ud__rq_answer_why(q, st, ud__errbuf); }

static ud_status ud__mpi_stats(ud_stats *out, int cap, int *n);
static ud_status ud__mpi_stop(void);
static void ud__rl_join(void);
static ud_status ud__rl_stop(void);
static ud_status ud__root_submit(const ud__fn *fn, const ud_arg *args, int nargs, int nret,
                                 ud_ref *outs, const ud_opts *opts, int caller, int depth);

/* Runs a call, on whichever thread holds root_mu. */
static ud_status ud__rq_exec(ud__rq *q) {
    ud_status st;
    if (ud__root.stopping && q->kind != UD__RQ_STOP)
        return ud__fail(UD_ERR_STATE, UD__RL_REFUSED);
    switch (q->kind) {
    case UD__RQ_PUT: st = ud__mpi_put(q->parts, q->nparts, q->outs); break;
    case UD__RQ_REMOTE:
        st = ud__rl.in_call ? ud__root_submit(q->fn, q->args, q->nargs, q->nret, q->outs, q->opts, UD__PROGRAM, 1)
                            : ud__mpi_remote(q->fn, q->args, q->nargs, q->nret, q->outs, q->opts);
        break;
    case UD__RQ_FREE: st = ud__mpi_free(q->refs, q->n); break; /* (a ref a get holds waits for it) */
    case UD__RQ_GET: st = ud__mpi_get(q->refs, q->n, q->views); break;
    case UD__RQ_WAIT: st = ud__mpi_wait(q->refs, q->n, q->num_returns, q->timeout, q->ready, q->nready); break;
    case UD__RQ_STATS: st = ud__mpi_stats(q->stats, q->cap, q->nstats); break;
    default: st = ud__rl_stop(); break;
    }
    return st;
}

/* On the calling thread, MPI allowing: the call runs here, under root_mu. Gets run side by
   side (what any of them receives fills the entries all of them look at); a wait, stats or
   stop waits for answers that another's receive would take, so it runs alone. */
static ud_status ud__rq_direct(ud__rq *q) {
    int blocks = ud__rq_blocks(q), was = ud__in_runtime, alone = blocks && q->kind != UD__RQ_GET;
    ud_status st;
    ud__rl_lock();
    while (blocks && (ud__rl.exclusive || (alone && ud__rl.in_call)) && !ud__atomic_load(&ud__rl.stopped))
        pthread_cond_wait(&ud__rl.idle, &ud__rl.root_mu);
    if (ud__atomic_load(&ud__rl.stopped)) {
        ud__rl_unlock();
        return ud__fail(UD_ERR_STATE, UD__RL_REFUSED);
    }
    if (blocks) {
        ud__rl.in_call++;
        ud__rl.exclusive = alone;
        ud__bo.yield_every = ud__yield_cfg; /* this thread polls now */
        ud__bo.nap = ud__rl_nap;            /* and naps as the loop does */
    }
    ud__in_runtime = 1; /* an exit() from inside MPI now is MPI's, not the program's */
    st = ud__rq_exec(q);
    /* the loop stands back while the program calls: a burst of puts and frees must not
       leave the tasks of this rank waiting (ud__root_service looks every 100 us at most). Not
       while another thread's get or wait runs: its receives take the answers it waits for,
       and do these duties too. */
    if (!blocks && !ud__rl.in_call && ud__root_runs_tasks() && q->kind != UD__RQ_REMOTE) ud__root_service();
    ud__in_runtime = was;
    ud__rl.direct_at = ud__now();
    if (blocks) {
        ud__rl.in_call--;
        ud__rl.exclusive = 0;
        if (ud__root.nlater) ud__root_free_later(); /* what was freed while it held it */
        pthread_cond_broadcast(&ud__rl.idle);
    }
    ud__rl_unlock();
    return st;
}

/* A handed call: run by the loop, then answered. */
static void ud__rq_run(ud__rq *q) { ud__rq_answer(q, ud__rq_exec(q)); }

/* Runs the calls posted so far, oldest first; inside a blocking call, only those that do not
   block (the rest stay queued, in order). Returns how many ran. */
static int ud__rl_run_calls(void) {
    ud__rq **tail, *q, *fresh, *rev = NULL;
    int ran = 0, blocks;
    pthread_mutex_lock(&ud__rl.mu);
    fresh = ud__rl.calls;
    ud__rl.calls = NULL;
    pthread_mutex_unlock(&ud__rl.mu);
    while (fresh) { /* newest first: turn it round */
        q = fresh;
        fresh = q->next;
        q->next = rev;
        rev = q;
    }
    for (tail = &ud__rl.queued; *tail; tail = &(*tail)->next) {}
    *tail = rev;
    for (tail = &ud__rl.queued; (q = *tail) != NULL;) {
        if (ud__rl.in_call && ud__rq_blocks(q)) {
            tail = &q->next;
            continue;
        }
        *tail = q->next;
        blocks = ud__rq_blocks(q); /* (q is its caller's again once answered) */
        ud__rl.in_call += blocks;
        ud__rq_run(q);
        ud__rl.in_call -= blocks;
        ran++;
        if (!ud__atomic_load(&ud__rl.running)) break; /* the shutdown ran */
    }
    return ran;
}

/* Inside a blocking call on the loop: the calls handed meanwhile that do not block. */
static int ud__rl_handed(void) { return ud__rl.direct ? 0 : ud__rl_run_calls(); }

/* The cleanup batch, when it is due. */
static void ud__rl_garbage(void) {
    if (ud__root_garbage_due() && ud__root_flush_garbage() != UD_OK)
        ud__log(UD_LOG_WARN, "root: cleanup: %s", ud__errbuf);
}

/* One turn of the loop: the calls, what came unasked (answers, nested calls, pushed data,
   counts), the frees of tasks, the cleanup batch when due, the sends in flight. */
static int ud__rl_turn(void) {
    const ud__hdr *h;
    int from, got, k, events = ud__rl_run_calls();
    if (!ud__atomic_load(&ud__rl.running)) return 1;
    for (k = 0; k < 32 && (got = ud__root_try_recv(&h, &from)) != 0; k++, events++)
        if (got == 1) ud__root_take_unasked(h, from);
    events += ud__wk_duties();
    if (ud__root.nlater) ud__root_free_later();
    ud__rl_garbage();
    ud__root_progress_tick();
    /* The sends of a burst of calls are reaped every 64th task (ud__root_submit): a send still
       out holds the next small tasks for its worker in a batch. Once the calls pause, at once. */
    if (events) ud__rl.call_at = ud__now();
    else if (ud__now() - ud__rl.call_at > 100e-6) events += ud__async_progress();
    return events;
}

/* The loop's sleep, and that of a call waiting for answers: a call posted, or a task of this
   rank that finished or calls (ud__rl_poke), ends it early. */
static void ud__rl_nap(long ns) {
    struct timespec ts;
    pthread_mutex_lock(&ud__rl.mu);
    if (!ud__rl.calls && !ud__atomic_load(&ud__rl.poked)) {
        ud__rl.sleeping++;
        ud__abstime(ud__now() + 1e-9 * (double)ns, &ts);
        pthread_cond_timedwait(&ud__rl.wake, &ud__rl.mu, &ts);
        ud__rl.sleeping--;
    }
    pthread_mutex_unlock(&ud__rl.mu);
}

/* On a task thread of the driver's rank: its worker part has something to do. */
static void ud__rl_poke(void) {
    pthread_mutex_lock(&ud__rl.mu);
    ud__atomic_store(&ud__rl.poked, 1);
    if (ud__rl.sleeping) pthread_cond_broadcast(&ud__rl.wake);
    pthread_mutex_unlock(&ud__rl.mu);
}

#define UD__RL_STAND_BACK 200e-6 /* seconds after a calling thread's call */

/* Between two polls of a blocking call: the root's lock is let go, so that other threads'
   puts, remotes and frees run meanwhile (the loop takes no turn while in_call). */
static void ud__rl_idle(void) {
    int sending = ud__net.nreqs > 0;
    ud__rl_unlock();
    ud__idle_with(sending);
    ud__rl_lock();
}

/* The thread waits at start until every rank has started (init's collective steps are the
   main thread's), then turns until the shutdown has run: none while a calling thread's get
   or wait runs, whose answers its receives would take. */
static void *ud__rl_main(void *arg) {
    long standing = 0; /* its sleep while it stands back, in ns */
    (void)arg;
    pthread_mutex_lock(&ud__rl.mu);
    while (ud__atomic_load(&ud__rl.running) == 1) pthread_cond_wait(&ud__rl.wake, &ud__rl.mu);
    pthread_mutex_unlock(&ud__rl.mu);
    ud__in_runtime = 1; /* an exit() from inside MPI is MPI's, not the program's */
    ud__bo.yield_every = ud__yield_cfg;
    ud__bo.nap = ud__rl_nap;
    for (;;) {
        int events = 0, back = 1, sending = 0;
        /* while the program calls, its calls do the root's work, as they must wait for it
           anyway: the loop stands back (its turn, even its try for the lock, would cost them
           a switch to it) and looks again later, the longer the program goes on calling */
        if (ud__rl_trylock()) {
            if (ud__atomic_load(&ud__rl.running) != 2) events = -1;
            else if (!ud__rl.in_call && ud__now() - ud__rl.direct_at >= UD__RL_STAND_BACK)
                back = 0, events = ud__rl_turn();
            sending = ud__net.nreqs > 0;
            ud__rl_unlock();
        }
        if (events < 0 || ud__atomic_load(&ud__rl.running) != 2) break;
        if (back) {
            standing = standing ? 2 * standing : (long)(UD__RL_STAND_BACK * 1e9);
            if (standing > 1000L * ud__rt.cfg.mpi_backoff) standing = 1000L * ud__rt.cfg.mpi_backoff;
            ud__busy(); /* once the program is away, the loop starts hot */
            ud__rl_nap(standing > 0 ? standing : 1000);
            continue;
        }
        standing = 0;
        if (events) ud__busy();
        else ud__idle_with(sending);
    }
    return NULL;
}

/* Makes the thread, which waits for ud__rl_go. */
static ud_status ud__rl_start(void) {
    int level = MPI_THREAD_SINGLE;
    memset(&ud__rl, 0, sizeof ud__rl);
    MPI_Query_thread(&level);
    ud__rl.direct = !UD__ROOT_LOOP_THREAD || (level >= MPI_THREAD_SERIALIZED && !getenv("UD_TEST_HANDOFF"));
    pthread_mutex_init(&ud__rl.root_mu, NULL);
    ud__cond_init(&ud__rl.idle); /* a blocking call's naps end by the clock */
    pthread_mutex_init(&ud__rl.mu, NULL);
    ud__cond_init(&ud__rl.wake); /* the loop's naps too */
    pthread_cond_init(&ud__rl.answered, NULL);
    ud__atomic_store(&ud__rl.running, 1);
    if (UD__ROOT_LOOP_THREAD && pthread_create(&ud__rl.thread, NULL, ud__rl_main, NULL) != 0) {
        ud__atomic_store(&ud__rl.running, 0);
        return ud__fail(UD_ERR_NOMEM, "init: cannot start the driver rank's loop thread");
    }
    return UD_OK;
}

/* go: every rank started, the loop may call MPI now; else it ends at once. */
static void ud__rl_go(int go) {
    pthread_mutex_lock(&ud__rl.mu);
    ud__atomic_store(&ud__rl.running, go ? 2 : 0);
    pthread_cond_broadcast(&ud__rl.wake);
    pthread_mutex_unlock(&ud__rl.mu);
    if (!go) ud__rl_join();
}

static void ud__rl_join(void) {
    if (UD__ROOT_LOOP_THREAD) pthread_join(ud__rl.thread, NULL);
    pthread_mutex_destroy(&ud__rl.mu);
    pthread_cond_destroy(&ud__rl.wake);
    pthread_cond_destroy(&ud__rl.answered);
    pthread_mutex_destroy(&ud__rl.root_mu);
    pthread_cond_destroy(&ud__rl.idle);
}

/* The shutdown (run by the loop, or by the calling thread): then every call still queued is
   refused, and the loop ends. */
static ud_status ud__rl_stop(void) {
    ud_status st = ud__mpi_stop();
    ud__rq *q, *rest;
    pthread_mutex_lock(&ud__rl.mu);
    ud__atomic_store(&ud__rl.stopped, 1);
    ud__atomic_store(&ud__rl.running, 0);
    pthread_cond_broadcast(&ud__rl.wake);
    rest = ud__rl.calls;
    ud__rl.calls = NULL;
    pthread_mutex_unlock(&ud__rl.mu);
    while ((q = ud__rl.queued) != NULL) {
        ud__rl.queued = q->next;
        ud__rq_answer_why(q, UD_ERR_STATE, UD__RL_REFUSED);
    }
    while ((q = rest) != NULL) {
        rest = q->next;
        ud__rq_answer_why(q, UD_ERR_STATE, UD__RL_REFUSED);
    }
    return st;
}

/* The driver's table's calls, on the calling thread: each runs there (ud__rq_direct) or is
   handed to the loop. A task that the driver's rank runs calls as any task does (ud__nest_*). */
static ud_status ud__nest_put(const ud_part *parts, int nparts, ud_ref *out);
static ud_status ud__nest_get(const ud_ref *refs, int n, ud_view *out);
static ud_status ud__nest_wait(const ud_ref *refs, int n, int num_returns, double timeout, int *ready, int *nready);
static ud_status ud__nest_remote(const ud__fn *fn, const ud_arg *args, int nargs, int nret, ud_ref *outs,
                                 const ud_opts *opts);
static ud_status ud__nest_free(const ud_ref *refs, int n);

static void ud__rq_init(ud__rq *q, int kind) {
    memset(q, 0, sizeof *q);
    q->kind = kind;
}

static ud_status ud__drv_put(const ud_part *parts, int nparts, ud_ref *out) {
    ud__rq q;
    if (ud__cur_task) return ud__nest_put(parts, nparts, out);
    ud__rq_init(&q, UD__RQ_PUT);
    q.parts = parts;
    q.nparts = nparts;
    q.outs = out;
    return ud__rq_call(&q);
}

static ud_status ud__drv_get(const ud_ref *refs, int n, ud_view *out) {
    ud__rq q;
    if (ud__cur_task) return ud__nest_get(refs, n, out);
    ud__rq_init(&q, UD__RQ_GET);
    q.refs = refs;
    q.n = n;
    q.views = out;
    return ud__rq_call(&q);
}

static ud_status ud__drv_wait(const ud_ref *refs, int n, int num_returns, double timeout,
                              int *ready, int *nready) {
    ud__rq q;
    if (ud__cur_task) return ud__nest_wait(refs, n, num_returns, timeout, ready, nready);
    ud__rq_init(&q, UD__RQ_WAIT);
    q.refs = refs;
    q.n = n;
    q.num_returns = num_returns;
    q.timeout = timeout;
    q.ready = ready;
    q.nready = nready;
    return ud__rq_call(&q);
}

static ud_status ud__drv_remote(const ud__fn *fn, const ud_arg *args, int nargs, int nret,
                                ud_ref *outs, const ud_opts *opts) {
    ud__rq q;
    if (ud__cur_task) return ud__nest_remote(fn, args, nargs, nret, outs, opts);
    ud__rq_init(&q, UD__RQ_REMOTE);
    q.fn = fn;
    q.args = args;
    q.nargs = nargs;
    q.nret = nret;
    q.outs = outs;
    q.opts = opts;
    return ud__rq_call(&q);
}

static ud_status ud__drv_free(const ud_ref *refs, int n) {
    ud__rq q;
    if (ud__cur_task) return ud__nest_free(refs, n);
    ud__rq_init(&q, UD__RQ_FREE);
    q.refs = refs;
    q.n = n;
    return ud__rq_call(&q);
}

static ud_status ud__drv_stats(ud_stats *out, int cap, int *n) {
    ud__rq q;
    ud__rq_init(&q, UD__RQ_STATS);
    q.stats = out;
    q.cap = cap;
    q.nstats = n;
    return ud__rq_call(&q);
}

static ud_status ud__drv_stop(void) {
    ud__rq q;
    ud_status st;
    ud__rq_init(&q, UD__RQ_STOP);
    st = ud__rq_call(&q);
    ud__rl_join();
    return st;
}

/* ---- the root: batches of tasks -----------------------------------------------------------------
   Owns the tasks held for one message (ud__root.stage, .staged); the transport calls in
   through ud__net's hooks before a send and when sends complete, the scheduler's submit adds
   to it, and every driver call but remote flushes it. While a send to a worker is still in flight (MPI could not hand it over yet: the worker is
   behind), the driver's next small tasks for it wait in a batch, which goes as one BATCH
   message when those sends complete, when it holds UNIDIST_MPI_BATCH tasks, or before
   anything else goes to that worker; every driver call but remote sends them all. A task
   held so waits for nothing it would not wait for anyway: the send ahead of it also moves
   only while the driver is in a call. One message for many tasks saves the driver a send a
   task and the worker a receive, and keeps the driver's core its own under load. */
typedef struct ud__stage {
    char *p;                  /* room for the BATCH header, then EXECUTE messages, 8-aligned */
    size_t len, cap;
    int n;
} ud__stage;

static ud_status ud__stage_flush(int w) {
    ud__stage *s = &ud__root.stage[w];
    ud__hdr *h = (ud__hdr *)s->p;
    size_t len = s->len, cap = s->cap;
    int n = s->n;
    if (n == 0) return UD_OK;
    memset(s, 0, sizeof *s);
    ud__root.staged--;
    ud__hdr_init(h, UD__OP_BATCH);
    h->count = n;
    h->length = len;
    return ud__isend(h, len, w, UD__TAG_OP, h, cap, NULL);
}

/* The tasks of a batch were handed out as refs: if they cannot be sent, nothing can make
   those refs, and a wait on them would never end. */
static void ud__stage_flush_to(int w) {
    int n = ud__root.stage ? ud__root.stage[w].n : 0;
    if (n && ud__stage_flush(w) != UD_OK)
        ud__panic("a batch of %d tasks could not be sent to rank %d: %s", n, w, ud__errbuf);
}

static void ud__stage_flush_all(void) {
    int k;
    for (k = 0; k < ud__net.nworkers && ud__root.staged; k++) ud__stage_flush_to(ud__net.workers[k]);
}

/* After sends completed: the batches of workers that have nothing in flight any more. */
static void ud__stage_flush_ready(void) {
    int k;
    for (k = 0; k < ud__net.nworkers && ud__root.staged; k++) {
        int w = ud__net.workers[k];
        if (ud__net.pending_to[w] == 0) ud__stage_flush_to(w);
    }
}

/* Whether the last send to w has completed; MPI_Request_get_status leaves the request for
   ud__async_progress to reap (sends reaped late still count in pending_to). */
static int ud__last_send_done(int w) {
    int k, flag = 1;
    for (k = ud__net.nreqs - 1; k >= 0; k--)
        if (ud__net.recs[k].dst == w) {
            UD__MPI_MUST(MPI_Request_get_status(ud__net.reqs[k], &flag, MPI_STATUS_IGNORE));
            break;
        }
    return flag;
}

/* Holds the EXECUTE in b for worker w when a send to w is in flight. 1: held (b consumed);
   0: the caller sends it as usual. */
static int ud__stage_add(int w, ud__wbuf *b) {
    ud__stage *s = &ud__root.stage[w];
    size_t need = (s->len ? s->len : sizeof(ud__hdr)) + b->len;
    if (ud__rt.cfg.mpi_batch <= 1 || b->nsep || b->oom || b->len > UD__STAGE_TASK_MAX ||
        (s->n == 0 && !UD_TEST_HOLD_TASKS && (ud__net.pending_to[w] == 0 || ud__last_send_done(w))))
        return 0;
    if (need > s->cap) {
        char *p = (char *)ud__grow(s->p, &s->cap, need, 1, 4096);
        if (!p) {
            ud__stage_flush_to(w); /* what is held goes first, then this on its own */
            return 0;
        }
        s->p = p;
    }
    if (!s->len) s->len = sizeof(ud__hdr);
    ((ud__hdr *)b->p)->length = b->len; /* a multiple of 8, as every message's */
    if (UD__DEBUGGING()) ud__debug_op("batched", (const ud__hdr *)b->p, w);
    memcpy(s->p + s->len, b->p, b->len);
    s->len += b->len;
    if (s->n++ == 0) ud__root.staged++;
    ud__free(b->p, b->cap);
    ud__wb_release(b);
    if (s->n >= ud__rt.cfg.mpi_batch || s->len >= UD__STAGE_BYTES) ud__stage_flush_to(w);
    return 1;
}

/* ---- the root: the scheduler --------------------------------------------------------------------
   Owns where a task goes and its EXECUTE (ud__root_submit, for the driver's remote and a
   task's); writes the root's counts (assigned, next_worker, last) and the result entries it
   enters. round_robin is the seeds' schedule_rank: the next worker in turn. auto (the default) sends a
   task where most of its argument bytes already are: the host with the most, then the worker
   there with the most, ties broken by load. Arguments under UNIDIST_SCHED_LOCALITY_MIN bytes
   draw nothing; a result the root has not seen counts as that much, since it may be large and
   the task that makes it knows where. Load is tasks sent less tasks done, per task thread; a
   worker with a free thread that ran the last task takes the next (its threads are awake).
   Balance is kept afterwards too: an idle worker takes queued tasks from a busy one (below). */

static int ud__auto(void) { return strcmp(ud__rt.cfg.scheduler, "round_robin") != 0; }

/* The next worker in turn, among those on host (-1: any); -1 when the host has none. */
static int ud__schedule_rank(int host) {
    int k;
    for (k = 0; k < ud__nworkers(); k++) {
        int w = ud__net.workers[ud__root.next_worker];
        ud__root.next_worker = (ud__root.next_worker + 1) % ud__nworkers();
        if (host < 0 || ud_shm_host(w) == host) return w;
    }
    return -1;
}

static int ud__host_has_worker(int host) {
    int k;
    for (k = 0; k < ud__nworkers(); k++)
        if (ud_shm_host(ud__net.workers[k]) == host) return 1;
    return 0;
}

static int64_t ud__wk_recorded(void);

/* Tasks rank r has finished, by the freshest of the monitor's count and what the root saw (on
   its own rank, what its worker part counts, at once). */
static int64_t ud__done_of(int r) {
    int64_t n = ud__root.done_mon[r] > ud__root.done_seen[r] ? ud__root.done_mon[r] : ud__root.done_seen[r];
    if (r == UD__ROOT && ud__root_runs_tasks() && ud__wk_recorded() > n) n = ud__wk_recorded();
    return n;
}

static double ud__load(int r) {
    return (double)(ud__root.assigned[r] - ud__done_of(r)) / (double)ud__net.threads[r];
}

/* Whether worker w is on host (-1: any), has the best score (top) and a free thread. */
static int ud__free_pick(int w, int host, const double *score, double top) {
    return w >= 0 && w < ud__net.size && ud__net.threads[w] > 0 && (host < 0 || ud_shm_host(w) == host) &&
           (!score || score[w] == top) && ud__load(w) * ud__net.threads[w] < ud__net.threads[w];
}

/* The least loaded of the workers on host (-1: any) whose score is best (NULL: all equal):
   the monitor's rank first when it has a free thread (a task done there costs no TASK_DONE
   message, and its loop is awake for its duty), then the last worker when it has one (its
   threads are awake), else in turn from next_worker. */
static int ud__least_loaded(int host, const double *score) {
    int k, best = -1, n = ud__nworkers();
    double top = -1, load = 0;
    for (k = 0; k < n; k++) { /* the best score on the host */
        int w = ud__net.workers[k];
        if ((host < 0 || ud_shm_host(w) == host) && (!score || score[w] > top)) top = score ? score[w] : 0;
    }
    if (ud__free_pick(UD__MONITOR, host, score, top)) return UD__MONITOR;
    if (ud__free_pick(ud__root.last, host, score, top)) return ud__root.last;
    for (k = 0; k < n; k++) {
        int w = ud__net.workers[(ud__root.next_worker + k) % n];
        if ((host >= 0 && ud_shm_host(w) != host) || (score && score[w] != top)) continue;
        if (best < 0 || ud__load(w) < load) {
            best = w;
            load = ud__load(w);
        }
    }
    if (best >= 0) ud__root.next_worker = (ud__root.next_worker + 1) % n;
    return best;
}

/* auto: where the ref arguments' bytes are (see above); -1 when no argument draws. */
static int ud__place_by_data(ud__rent **ents, int nargs) {
    double *rank_bytes = ud__root.score, *host_bytes = ud__root.score + ud__net.size, min;
    int i, h, best = -1, any = 0;
    min = (double)ud__rt.cfg.sched_locality_min;
    memset(ud__root.score, 0, (size_t)(ud__net.size + ud__sh.nhosts) * sizeof *ud__root.score);
    for (i = 0; i < nargs; i++) {
        ud__rent *e = ents[i];
        double bytes;
        int owner;
        if (!e) continue;
        bytes = e->size >= 0 ? (double)e->size : min;
        owner = (int)e->ref.owner;
        if (bytes < min) continue;
        if (ud__is_put(e)) { /* the driver's own: near it only when in its host's store */
            if (!e->obj || !(e->obj->flags & UD__OBJ_SHARED)) continue;
        } else {
            rank_bytes[owner] += bytes;
        }
        host_bytes[ud_shm_host(owner)] += bytes;
        any = 1;
    }
    if (!any) return -1;
    for (h = 0; h < ud__sh.nhosts; h++) /* the host with the most, of those with a worker */
        if ((best < 0 || host_bytes[h] > host_bytes[best]) && ud__host_has_worker(h)) best = h;
    return best < 0 ? -1 : ud__least_loaded(best, rank_bytes);
}

/* The rank a task goes to, by its place and the policy; -1 with the reason set when the
   place holds none. */
static int ud__place_rank(const ud__fn *fn, const ud_opts *o, ud__rent **ents, int nargs) {
    ud__rent *e;
    int r;
    if (!o || o->place == UD_ANYWHERE) {
        if (!ud__auto()) return ud__schedule_rank(-1);
        return (r = ud__place_by_data(ents, nargs)) >= 0 ? r : ud__least_loaded(-1, NULL);
    }
    if (o->place == UD_ON_WORKER) return ud__net.workers[o->index];
    if (o->place == UD_ON_HOST) {
        if ((r = ud__auto() ? ud__least_loaded(o->index, NULL) : ud__schedule_rank(o->index)) < 0)
            ud__fail(UD_ERR_ARG, "remote '%s': host %d has no worker", fn->name, o->index);
        return r;
    }
    if (ud__root_lookup("", o->near, &e) != UD_OK) {
        ud__near_error(fn);
        return -1;
    }
    if (ud__is_worker(e->ref.owner)) return (int)e->ref.owner;
    /* the driver's own object: a worker of its host reads it in place, if there is one */
    return (r = ud__least_loaded(ud_shm_host(UD__ROOT), NULL)) >= 0 ? r : ud__least_loaded(-1, NULL);
}

static void ud__wk_adopt(ud_ref ref, ud__obj *o);

/* Gives worker w what it needs to read the ref arguments: the root's own data is pushed ahead
   of the task (same channel, so it arrives first), or, to the driver's own worker part, handed
   over in place; a task's result w will ask its owner for. */
static ud_status ud__root_route_args(const ud_arg *args, int nargs, ud__rent **ents, int w) {
    ud_status st;
    int i;
    for (i = 0; i < nargs; i++) {
        ud__rent *e = ents[i];
        if (!e || ud__seen_has(e, w) || (e->ref.owner == w && !ud__is_put(e))) continue;
        if (ud__is_put(e) && w == UD__ROOT) ud__wk_adopt(e->ref, e->obj);
        else if (ud__is_put(e) && (st = ud__send_obj(w, e->ref, e->obj, 0)) != UD_OK) return st;
        ud__seen_set(e, w);
    }
    (void)args;
    return UD_OK;
}

/* The map slot of the next task's first result, which is a cache miss in a map of many live
   refs: its number is known, its owner is one of the workers; with a few, load every one. */
static void ud__root_prefetch(void) {
    int k;
    if (ud__nworkers() > 8) return;
    for (k = 0; k < ud__nworkers(); k++) {
        ud_ref r;
        r.owner = ud__net.workers[k];
        r.num = ud__root.next_num * ud__net.size + r.owner;
        ud__map_prefetch(&ud__root.map, r);
    }
}

/* EXECUTE: a = function id, b = the first result's number (the others follow every size-th),
   count = arguments, aux = results, reserved = its nesting depth. Each argument: kind, then
   owner and number (a ref) or an object of one part (an inline value). caller: the driver's
   program (UD__PROGRAM), or the worker whose task submits it (nested: placed on that worker when it may go
   anywhere, where its caller's thread runs it depth first and idle workers steal it, and
   never held for a batch). */
static ud_status ud__root_submit(const ud__fn *fn, const ud_arg *args, int nargs, int nret,
                                 ud_ref *outs, const ud_opts *opts, int caller, int depth) {
    int may_hold = caller == UD__PROGRAM;
    ud__rent *small[16], **ents = nargs <= 16 ? small : (ud__rent **)ud__alloc((size_t)nargs * sizeof *ents);
    ud__rent *made_small[4], **made = NULL;
    ud_status st = UD_OK;
    ud__wbuf w;
    ud__hdr *h;
    int i, worker, nmade = 0;
    int64_t first, sep_before;
    if (!ents) return ud__fail(UD_ERR_NOMEM, "remote: out of memory for the arguments' table");
    if (nret > UD__MAX_RESULTS)
        st = ud__fail(UD_ERR_ARG, "remote '%s': num_returns %d is more than %d", fn->name, nret, UD__MAX_RESULTS);
    for (i = 0; i < nargs && st == UD_OK; i++) {
        ents[i] = NULL;
        if (args[i].kind == UD_ARG_REF && (st = ud__root_lookup("", args[i].ref, &ents[i])) != UD_OK)
            ud__remote_arg_error(fn, i);
    }
    if (st == UD_OK && !ud__map_reserve(&ud__root.map, (size_t)nret))
        st = ud__fail(UD_ERR_NOMEM, "remote: out of memory for the refs' map");
    if (st == UD_OK) {
        made = nret <= 4 ? made_small : (ud__rent **)ud__alloc((size_t)nret * sizeof *made);
        if (!made || !ud__root_rents(made, nret)) st = ud__fail(UD_ERR_NOMEM, "remote: out of memory for the results' entries");
        else nmade = nret;
    }
    if (st != UD_OK) goto done;
    worker = !may_hold && (!opts || opts->place == UD_ANYWHERE) ? caller : ud__place_rank(fn, opts, ents, nargs);
    if (worker < 0) {
        st = UD_ERR_ARG;
        goto done;
    }
    sep_before = ud__net.sep_sent;
    first = ud__root.next_num * ud__net.size + worker; /* then every size-th number */
    if ((st = ud__root_route_args(args, nargs, ents, worker)) != UD_OK) goto done;
    if (!(h = ud__wb_start(&w, UD__OP_EXECUTE))) {
        st = ud__fail(UD_ERR_NOMEM, "remote: out of memory for the task's message");
        goto done;
    }
    h->a = (int64_t)fn->id;
    h->b = first;
    h->count = nargs;
    h->aux = nret;
    h->reserved = depth;
    if (opts && opts->place == UD_ON_WORKER) h->flags |= UD__F_PINNED;
    else if (opts && opts->place != UD_ANYWHERE) h->flags |= UD__F_HOSTBOUND;
    if (!may_hold) h->flags |= UD__F_NESTED; /* only a task's submit must not be held */
    for (i = 0; i < nargs; i++) {
        int64_t kind = args[i].kind == UD_ARG_REF ? UD__WARG_REF : UD__WARG_VAL;
        ud__wb_add(&w, &kind, sizeof kind);
        if (kind == UD__WARG_REF) {
            ud__wb_add(&w, &args[i].ref.owner, sizeof(int64_t));
            ud__wb_add(&w, &args[i].ref.num, sizeof(int64_t));
        } else {
            ud_part p;
            p.data = args[i].data;
            p.size = args[i].size;
            ud__wb_obj(&w, &p, 1, NULL); /* a large value is copied, then sent on its own */
        }
    }
    if (!(may_hold && ud__stage_add(worker, &w)) && (st = ud__wb_send(&w, worker)) != UD_OK) goto done;
    /* Large parts move only while the root is inside MPI (MPICH without single copy): finish
       them here, so that the task can start while the driver does other work. */
    if (ud__net.sep_sent != sep_before) ud__async_drain();
    ud__root.next_num += nret;
    for (i = 0; i < nret; i++) {
        ud__rent *e;
        outs[i].owner = worker;
        outs[i].num = first + (int64_t)i * ud__net.size;
        e = ud__root_enter(made[i], outs[i], NULL);
        e->first = i == 0;
        e->result = 1;
    }
    nmade = 0; /* entered */
    ud__root.submitted++;
    ud__root.assigned[worker]++;
    ud__root.last = worker;
    /* Completed sends are reaped every 64th task, or sooner when many are out: a test that
       finds nothing done yields the core (Open MPI, oversubscribed), as a probe does. */
    if ((ud__root.submitted & 63) == 0 || ud__net.nreqs > 256) ud__async_progress();
    ud__root_prefetch();
done:
    for (i = 0; i < nmade; i++) ud__free(made[i], ud__root.rent_bytes);
    if (made && made != made_small) ud__free(made, (size_t)nret * sizeof *made);
    if (ents != small) ud__free(ents, (size_t)nargs * sizeof *ents);
    return st;
}

/* ---- the worker: its store and loop -------------------------------------------------------------
   Owns the worker's state (ud__wk) and the inbox its task threads report to (ud__in); start
   and stop make them, and ud__mpi_start runs the loop. Every rank but the driver is a worker.
   Its loop thread owns the store, the request store
   (GETs that came before their data) and the task store (tasks waiting for arguments), and it
   alone calls MPI. A task whose data is here goes to the rank's task threads (the pool); a
   finished one comes back through the inbox, and the loop publishes its results, wakes what
   waited on them and reports it. So the loop keeps receiving and serving while tasks run.
   An entry lives until the root's cleanup has come, no local task needs it, and (on its
   owner) every reader the root announced has been served. The loop reads as a list of its
   duties; the monitor's and the store manager's are each one call that does nothing on a rank
   without the duty. */
typedef struct ud__wt ud__wt;
typedef struct ud__call ud__call; /* a task's call to the API (calls from inside a task) */

typedef struct ud__wdep {
    ud__wt *task;
    struct ud__wdep *next;
} ud__wdep;

typedef struct ud__wreq {      /* a GET that came before the data */
    int rank;
    uint32_t flags;           /* the GET's UD__F_WK, which its answer carries */
    struct ud__wreq *next;
} ud__wreq;

typedef struct ud__went {
    ud_ref ref;
    ud__obj *obj;
    int32_t holds;            /* local tasks that read it, and its own pending task */
    int32_t freed;            /* the root's cleanup has come */
    int32_t requested;        /* a GET to its owner is out */
    int32_t adopted;          /* the driver's put, read in place by the driver rank's tasks */
    int64_t expected, served; /* readers on other workers: announced by cleanup, served */
    ud__wdep *waiters;
    ud__wreq *requests;
    struct ud__wt *producer;  /* the task of this rank that makes it, until it has */
} ud__went;

struct ud__wt {
    ud__job job;              /* first: the pool's link, then the inbox's */
    const ud__fn *fn;
    int nargs, nret, npending;
    uint32_t flags;           /* UD__F_PINNED, UD__F_HOSTBOUND, UD__F_NESTED as the root sent it */
    int depth;                /* its nesting depth (EXECUTE's reserved; the driver's tasks: 1) */
    size_t bytes;
    int owner;                /* the worker its results belong to: this one, or its victim */
    int64_t first;            /* the number of its first result */
    ud__went **argent;        /* NULL for an inline value */
    ud__obj **vals;
    ud__went **outent;
    ud__wdep *deps;
    ud__obj *error;           /* set: the task cannot run; its results are this error */
    ud_view *argv;            /* the arguments' views, made by the loop when it is ready */
    ud__obj **res;            /* its results, made by the task thread */
    ud_task ctx;              /* the call, on a task thread */
    struct ud__call *call;    /* set: not a task but a nested get's hold on its objects */
    ud__wt *getters;          /* the nested gets of this task, let go when it ends */
    ud__wt *next_getter;
    uint64_t visit;           /* the last cycle search that saw it */
    ud_ref *made;             /* results of its nested remotes it has not freed (its thread's) */
    int nmade;
    size_t capmade;
};

/* A task's nested call (see ud__root_nested), handed to the loop by its thread, which runs
   other tasks until the loop answers. */
struct ud__call {
    int kind;                 /* UD__NEST_REMOTE ... */
    int64_t id;
    ud__wt *task;             /* the caller */
    const ud__fn *fn;         /* remote */
    const ud_arg *args;
    int nargs, nret;
    const ud_opts *opts;
    ud__obj *obj;             /* put: a copy of the object */
    const ud_ref *refs;       /* get, wait, free */
    int n, num_returns;
    double timeout;
    ud_ref *outs;             /* remote, put: the refs made */
    ud__wt *getter;           /* get: holds its objects until the task ends */
    int *ready, nready;       /* wait */
    int local;                /* get: of refs the task made, asked of their owners alone;
                                 free: of those, sent without waiting (c and refs are the loop's) */
    ud_status status;
    char err[512];            /* as long as ud_last_error's */
    ud__atomic_int answered;
    pthread_cond_t cv;        /* its thread sleeps on it (with ud__in.mu) until answered */
    struct ud__call *next;
};

static struct ud__worker {
    ud__map map;
    ud__pool pool;            /* the task threads */
    int running;              /* tasks given to the task threads and not back yet */
    int64_t *done;            /* TASK_DONE batch: (first number, results) pairs */
    int ndone;
    size_t capdone;
    int64_t recorded;         /* tasks it has finished (its own; the monitor counts the same) */
    ud__batch push;           /* small results for the root, sent at the end of the loop's turn */
    int npush;
    double done_since;        /* when the oldest record of the batch was made */
    int stop;
    int cancelled;            /* with tasks unfinished: their calls are refused (wind-down) */
    /* work stealing: tasks given to thieves, by their first result; a thief's asking */
    ud__map given;
    int stealing, victim, failed;
    double next_steal;
    int *victims, nvictims;   /* the other workers, this host's first */
    uint64_t *refused;        /* thieves this worker sent away empty (a bitset of ranks) */
    int nrefused;
    /* nested calls sent and not yet answered */
    ud__call *calls;
    int64_t next_call;
    ud__job *inl, *inl_tail;  /* ready UD_FN_INLINE tasks, run by the loop itself */
    int64_t inline_ns;        /* the loop's time in them, for task_seconds */
} ud__wk;

/* What task threads hand the loop: finished tasks and nested calls. The loop
   sleeps on wake when idle, so that a finished task is reported at once. */
static struct ud__inbox {
    pthread_mutex_t mu;
    pthread_cond_t wake;
    ud__job *done, *done_tail;
    ud__call *calls;          /* nested calls for the loop to send */
    int sleeping;
    void (*poke)(void);       /* on the driver's rank: ends its loop's nap (ud__rl_poke) */
} ud__in;

static int ud__is_mine(ud_ref r) { return r.owner == ud__net.rank; }

/* What a worker part marks its GETs and WAITs with: on the driver's rank, UD__F_WK, so that
   their answers come to it and not to the root. */
static uint32_t ud__wk_asker(void) { return ud__net.rank == UD__ROOT ? UD__F_WK : 0; }
static int64_t ud__wk_recorded(void) { return ud__wk.recorded; }

/* Which of task t's results ref is (they are numbered every size-th from its first), or -1. A
   number below the first is none of them (and would overflow the difference). */
static int64_t ud__wt_result(const ud__wt *t, ud_ref ref) {
    int64_t k = ref.owner == t->owner && ref.num >= t->first ? (ref.num - t->first) / ud__net.size : -1;
    return k >= 0 && k < t->nret && ref.num == t->first + k * ud__net.size ? k : -1;
}

static ud__went *ud__wk_entry(ud_ref ref) {
    ud__went *e = (ud__went *)ud__map_get(&ud__wk.map, ref);
    int ok;
    if (e) return e;
    UD__PATIENTLY(ok = ud__map_reserve(&ud__wk.map, 1) && (e = (ud__went *)ud__alloc(sizeof *e)) != NULL);
    if (!ok) ud__panic("worker (rank %d): out of memory for its store's entries", ud__net.rank);
    memset(e, 0, sizeof *e);
    e->ref = ref;
    ud__map_put(&ud__wk.map, ref, e);
    return e;
}

static void ud__wk_maybe_delete(ud__went *e) {
    if (!e->freed || e->holds > 0 || !e->obj || e->requests) return;
    if (ud__is_mine(e->ref) && !e->adopted && e->served < e->expected) return;
    ud__map_del(&ud__wk.map, e->ref);
    ud__obj_release(e->obj);
    ud__free(e, sizeof *e);
}

/* On the driver's rank, for its root: the object its tasks made under ref, held once more
   (NULL when it is not made yet, or not here). */
static ud__obj *ud__wk_has(ud_ref ref) {
    ud__went *e = ud__root_runs_tasks() && ref.owner == UD__ROOT ? (ud__went *)ud__map_get(&ud__wk.map, ref) : NULL;
    if (!e || !e->obj || e->adopted) return NULL;
    e->obj->refs++;
    return e->obj;
}

/* On the driver's rank: the root's put o, for its own tasks to read in place. It lives, as a
   push would, until the root's cleanup of it (the root counts this rank among its readers). */
static void ud__wk_adopt(ud_ref ref, ud__obj *o) {
    ud__went *e = ud__wk_entry(ref);
    if (e->obj) return;
    e->adopted = 1;
    o->refs++;
    e->obj = o;
}

/* The loop's sleep: a finished task or a nested call ends it early. */
static void ud__wk_nap(long ns) {
    struct timespec ts;
    double at = ud__now() + 1e-9 * (double)ns;
    pthread_mutex_lock(&ud__in.mu);
    if (!ud__in.done && !ud__in.calls) {
        ud__in.sleeping = 1;
        ud__abstime(at, &ts);
        pthread_cond_timedwait(&ud__in.wake, &ud__in.mu, &ts);
        ud__in.sleeping = 0;
    }
    pthread_mutex_unlock(&ud__in.mu);
}

/* RUNNING, asked by a shutdown that waits: a = tasks its threads run now, b = tasks handed to
   them that wait for a thread; then the running ones' function names as text. */
static void ud__wk_running(int to) {
    char text[1024];
    int n = ud__pool_running_text(&ud__wk.pool, text, sizeof text);
    ud__wbuf w;
    ud__hdr *h = ud__wb_start(&w, UD__OP_RUNNING);
    if (!h) return; /* the driver asks again */
    h->a = n;
    h->b = ud__wk.running > n ? ud__wk.running - n : 0;
    h->flags |= UD__F_REPLY;
    ud__wb_add(&w, text, strlen(text) + 1);
    if (ud__wb_send(&w, to) != UD_OK) ud__log(UD_LOG_WARN, "rank %d: RUNNING: %s", ud__net.rank, ud__errbuf);
}

static int ud__sender_ok(const ud__hdr *h, int from);
static void ud__wk_execute(const ud__hdr *h, int from);
static void ud__wk_batch(const ud__hdr *h, int from);
static void ud__wk_get(const ud__hdr *h, int from);
static void ud__wk_take_results(const ud__hdr *h, int from);
static void ud__wk_put_data(const ud__hdr *h, int from);
static int ud__wk_on_steal(const ud__hdr *h, int from);
static void ud__send_stats(int to);
static void ud__wk_call_answer(const ud__hdr *h);
static void ud__wk_cleanup(const ud__hdr *h);
static int ud__mon_take(const ud__hdr *h, int from);
static void ud__wk_given_done(const ud__hdr *h, int from);
static void ud__wk_wait_answer(const ud__hdr *h);

/* Handles one operation; 0 only for a STEAL that moved no work (not an event: idle ranks
   stay idle), else 1. A worker's own operations first, then the monitor's. */
static int ud__rank_handle(const ud__hdr *h, int from) {
    if (!ud__sender_ok(h, from)) {
        ud__log(UD_LOG_ERROR, "rank %d: dropped %s from rank %d", ud__net.rank, ud__op_name(h->op), from);
        return 1;
    }
    switch (h->op) {
    case UD__OP_EXECUTE: ud__wk_execute(h, from); return 1;
    case UD__OP_BATCH: ud__wk_batch(h, from); return 1;
    case UD__OP_GET: ud__wk_get(h, from); return 1;
    case UD__OP_PUT_DATA: case UD__OP_PUT_SHARED_DATA:
        if (h->flags & UD__F_RESULTS) ud__wk_take_results(h, from);
        else ud__wk_put_data(h, from);
        return 1;
    case UD__OP_STEAL: return ud__wk_on_steal(h, from);
    case UD__OP_STATS: ud__send_stats(from); return 1;
    case UD__OP_RUNNING: ud__wk_running(from); return 1;
    case UD__OP_NESTED: ud__wk_call_answer(h); return 1;
    case UD__OP_CLEANUP:
        ud__wk_cleanup(h);
        ud__mon_take(h, from); /* the monitor's done map forgets them too */
        return 1;
    case UD__OP_CANCEL: ud__wk.stop = 1; return 1;
    default: break;
    }
    if (h->op == UD__OP_TASK_DONE && (h->flags & UD__F_DELEGATED)) {
        ud__wk_given_done(h, from);
        return 1;
    }
    if (h->op == UD__OP_WAIT && (h->flags & UD__F_REPLY)) {
        ud__wk_wait_answer(h);
        return 1;
    }
    if (ud__mon_take(h, from)) return 1;
    ud__log(UD_LOG_ERROR, "rank %d: unexpected %s from rank %d", ud__net.rank, ud__op_name(h->op), from);
    return 1;
}

static int ud__wk_any_job(ud__job *j, void *ctx) {
    (void)j;
    (void)ctx;
    return 1;
}

static void ud__wk_call_refused(ud__call *c);

/* The nested gets still waiting for objects: each caller is refused, and its getter leaves
   the entries' waiters, since the task that ends frees it. */
static void ud__wk_refuse_gets(void) {
    size_t i;
    for (i = 0; ud__wk.map.count && i < ud__wk.map.cap; i++) {
        ud__wdep **d;
        if (!ud__wk.map.slots[i].key.num) continue;
        d = &((ud__went *)ud__wk.map.slots[i].val)->waiters;
        while (*d) {
            ud__wt *g = (*d)->task;
            if (!g->call) {
                d = &(*d)->next;
                continue;
            }
            *d = (*d)->next;
            if (g->npending > 0) ud__wk_call_refused(g->call); /* once: its other deps follow */
            g->npending = 0;
        }
    }
}

static void ud__wk_cancel_task(ud__wt *t);
static int ud__wk_drain(void);
static int ud__wk_run_inline(void);

/* A CANCEL comes once every task has finished, unless the driver gave up on them (its
   shutdown failed) or a peer is broken. Then the tasks not started yet never run (their
   results are an error), the calls of those running would never be answered: each is refused,
   as is every call they make from now on, and nothing more is sent to a peer that may have
   left; the loop waits for the running tasks to
   end, as a shutdown would. */
static void ud__wk_wind_down(void) {
    ud__job *queued[64];
    int n, k;
    if (ud__wk.running <= 0 && !ud__wk.inl) return;
    ud__log(UD_LOG_WARN, "rank %d: cancelled with %d tasks unfinished; those not started are "
            "dropped, and the calls of those running are refused", ud__net.rank, ud__wk.running);
    ud__wk.cancelled = 1;
    while ((n = ud__pool_reclaim(&ud__wk.pool, ud__wk_any_job, NULL, queued, 64, INT_MAX)) > 0)
        for (k = 0; k < n; k++, ud__wk.running--) ud__wk_cancel_task((ud__wt *)queued[k]);
    while (ud__wk.calls) {
        ud__call *c = ud__wk.calls;
        ud__wk.calls = c->next;
        ud__wk_call_refused(c);
    }
    ud__wk_refuse_gets();
    while (ud__wk.running > 0 || ud__wk.inl) {
        int events = ud__wk_drain();
        events += ud__wk_run_inline();
        events += ud__shm_serve(); /* the host's other ranks may say END meanwhile */
        events += ud__async_progress();
        if (events) ud__busy();
        else ud__idle();
    }
}

static void ud__wk_flush_push(void);
static void ud__wk_flush_done(void);
static void ud__mon_turn(void);
static void ud__wk_steal(void);
static void ud__wk_hint(void);
static void ud__wk_drop_push(void);
static void ud__wk_release_all(void);

/* A worker's duties between its receives: the tasks back from its threads and the inline
   ones, results pushed and reported, the monitor's and the store manager's turns (nothing on
   a rank without the duty), stealing. */
static int ud__wk_turn(void) {
    int events = ud__wk_drain() + ud__wk_run_inline();
    ud__wk_flush_push();
    /* batch under load, but tell the monitor at once when no task waits for a thread, or
       within a millisecond, so that a wait never lags behind long tasks */
    if (ud__wk.ndone && (ud__atomic_load(&ud__wk.pool.open) <= 0 || ud__now() - ud__wk.done_since > 1e-3))
        ud__wk_flush_done();
    ud__mon_turn();
    ud__wk_steal();
    ud__wk_hint();
    return events + ud__shm_serve();
}

/* The same on the driver's rank, when it runs tasks: its root's loop and waiting calls give
   its worker part these turns, and take its operations as they come (ud__root_try_recv). */
static int ud__wk_duties(void) {
    if (!ud__root_runs_tasks() || ud__wk.stop) return 0;
    ud__atomic_store(&ud__rl.poked, 0); /* seen: what a task posts from now on pokes again */
    return ud__wk_turn();
}

/* The end of a worker's run: what runs finishes, and what it holds goes. */
static void ud__wk_finish(void) {
    ud__wk_wind_down();
    ud__pool_stop(&ud__wk.pool); /* every task has finished */
    ud__wk_drain();
    ud__wk_run_inline();
    ud__wk_drop_push();
    ud__async_drain();
    ud__shm_quiet();
    ud__wk_release_all();
}

static void ud__rank_loop(void) {
    while (!ud__wk.stop) {
        const ud__hdr *h;
        int from, got, events = 0, k;
        for (k = 0; k < 32 && !ud__wk.stop && (got = ud__try_recv(MPI_ANY_SOURCE, &h, &from)) != 0; k++)
            events += got > 0 ? ud__rank_handle(h, from) : 1;
        /* the turn ends at a CANCEL: what is left, the wind-down does, sending nothing */
        if (ud__wk.stop) break;
        events += ud__wk_turn();
        events += ud__async_progress();
        if (events) ud__busy();
        else ud__idle();
    }
    ud__wk_finish();
}

/* Which rank may send an operation: the root drives, workers only ask for and send data. */
static int ud__sender_ok(const ud__hdr *h, int from) {
    switch (h->op) {
    case UD__OP_GET: case UD__OP_PUT_DATA: case UD__OP_PUT_SHARED_DATA: return ud__owner_ok(from);
    case UD__OP_TASK_DONE: case UD__OP_STEAL: return ud__is_worker(from) && from != ud__net.rank;
    case UD__OP_EXECUTE: return h->flags & UD__F_DELEGATED ? ud__is_worker(from) : from == UD__ROOT;
    case UD__OP_READY_TO_SHUTDOWN: return from == UD__MONITOR;
    case UD__OP_WAIT: return h->flags & UD__F_REPLY ? from == UD__MONITOR : ud__owner_ok(from);
    default: return from == UD__ROOT;
    }
}

/* A task the run was cancelled without: its arguments never all came, or a thief has it. */
static void ud__wk_task_drop(ud__wt *t) {
    int i;
    for (i = 0; i < t->nargs; i++) ud__obj_release(t->vals[i]);
    ud__obj_release(t->error);
    ud__free(t, t->bytes);
}

static void ud__wk_release_all(void) {
    size_t i;
    int *victims;
    uint64_t *refused;
    for (i = 0; i < ud__wk.map.cap; i++) {
        ud__went *e;
        if (!ud__wk.map.slots[i].key.num) continue;
        e = (ud__went *)ud__wk.map.slots[i].val;
        while (e->waiters) { /* each waiting task goes with the last entry it waits on */
            ud__wt *t = e->waiters->task;
            e->waiters = e->waiters->next;
            if (!t->call && --t->npending == 0) ud__wk_task_drop(t);
        }
        ud__obj_release(e->obj);
        while (e->requests) {
            ud__wreq *q = e->requests;
            e->requests = q->next;
            ud__free(q, sizeof *q);
        }
        ud__free(e, sizeof *e);
    }
    ud__map_clear(&ud__wk.map);
    ud__free(ud__wk.done, ud__wk.capdone * sizeof *ud__wk.done);
    for (i = 0; ud__wk.given.count && i < ud__wk.given.cap; i++) { /* after a cancel: still away */
        ud__wt *t = (ud__wt *)ud__wk.given.slots[i].val;
        int k;
        if (!ud__wk.given.slots[i].key.num) continue;
        for (k = 0; k < t->nret; k++) ud__obj_release(t->res[k]);
        ud__wk_task_drop(t);
    }
    ud__map_clear(&ud__wk.given);
    victims = ud__wk.victims, refused = ud__wk.refused; /* ud__wk_stop frees these */
    memset(&ud__wk, 0, sizeof ud__wk);
    ud__wk.victims = victims, ud__wk.refused = refused;
}

static int ud__mon_start(void);
static int ud__wk_victims(void);
static void ud__wk_job(ud__job *j);

/* A worker's task threads and the inbox they report to. */
static ud_status ud__wk_start(int threads) {
    memset(&ud__wk, 0, sizeof ud__wk);
    memset(&ud__in, 0, sizeof ud__in);
    pthread_mutex_init(&ud__in.mu, NULL);
    ud__cond_init(&ud__in.wake); /* the loop's naps end by the clock */
    if (ud__net.rank == UD__ROOT) ud__in.poke = ud__rl_poke; /* the root's loop naps elsewhere */
    if (ud__net.rank == UD__MONITOR && !ud__mon_start())
        return ud__fail(UD_ERR_NOMEM, "init: out of memory for the monitor");
    if (!ud__wk_victims()) return ud__fail(UD_ERR_NOMEM, "init: out of memory for the worker");
    return ud__pool_start(&ud__wk.pool, threads, (int)ud__rt.cfg.spin_us, 1, ud__wk_job);
}

static void ud__mon_stop(void);

static void ud__wk_stop(void) {
    ud__mon_stop();
    ud__free(ud__wk.victims, (size_t)ud__net.size * sizeof(int));
    ud__free(ud__wk.refused, (size_t)((ud__net.size + 63) / 64) * sizeof(uint64_t));
    ud__wk.victims = NULL;
    ud__wk.refused = NULL;
    ud__bo.nap = NULL;
    ud__bo.unstarted = NULL;
    ud__in.poke = NULL;
    pthread_cond_destroy(&ud__in.wake);
    pthread_mutex_destroy(&ud__in.mu);
}

/* ---- the worker: execute ------------------------------------------------------------------------
   Owns a task's way through the worker: its arguments found or fetched, a task thread runs it
   (or the loop, UD_FN_INLINE), its results stored, pushed to the root when small, and reported
   to the monitor. Writes ud__wk's store, its counts of tasks and its records of tasks done; the
   loop's handlers (EXECUTE, BATCH, data that arrives) and the loop's turn call it.
   Parked tasks are pushed at the head; reversed, they wake first come, first served. */
static ud__wdep *ud__deps_fifo(ud__wdep *d) {
    ud__wdep *out = NULL;
    while (d) {
        ud__wdep *next = d->next;
        d->next = out;
        out = d;
        d = next;
    }
    return out;
}

/* The loop runs t at the end of its turn: a UD_FN_INLINE task, or one that only completes. */
static void ud__wk_queue_inline(ud__wt *t) {
    t->job.next = NULL;
    if (ud__wk.inl_tail) ud__wk.inl_tail->next = &t->job;
    else ud__wk.inl = &t->job;
    ud__wk.inl_tail = &t->job;
}

/* Cancelled before it started: its results are an error, and it never runs. */
static void ud__wk_cancel_task(ud__wt *t) {
    if (!t->error && !(t->error = ud__obj_error("the run was cancelled before this task started")))
        t->error = &ud__oom_obj;
    ud__wk_queue_inline(t);
}

static ud__wt *ud__wk_task_alloc(int nargs, int nret) {
    size_t bytes = UD__ALIGN(sizeof(ud__wt)) +
                   (size_t)nargs * (sizeof(ud_view) + sizeof(ud__went *) + sizeof(ud__obj *) +
                                    sizeof(ud__wdep)) +
                   (size_t)nret * (sizeof(ud__went *) + sizeof(ud__obj *));
    ud__wt *t = NULL;
    UD__PATIENTLY((t = (ud__wt *)ud__alloc(bytes)) != NULL);
    if (!t) ud__panic("worker (rank %d): out of memory for a task's table", ud__net.rank);
    memset(t, 0, bytes);
    t->bytes = bytes;
    t->nargs = nargs;
    t->nret = nret;
    t->argv = (ud_view *)((char *)t + UD__ALIGN(sizeof(ud__wt)));
    t->argent = (ud__went **)(t->argv + nargs);
    t->vals = (ud__obj **)(t->argent + nargs);
    t->deps = (ud__wdep *)(t->vals + nargs);
    t->outent = (ud__went **)(t->deps + nargs);
    t->res = (ud__obj **)(t->outent + nret);
    return t;
}

/* GET of one ref from its owner; UD__F_NOREPLY: only say it was read elsewhere. */
static void ud__wk_ask(ud_ref ref, uint32_t flags) {
    ud__wbuf w;
    ud__hdr *h = ud__start_or_end(&w, UD__OP_GET, "worker");
    h->flags |= flags | ud__wk_asker();
    h->a = ref.owner;
    h->count = 1;
    ud__wb_add(&w, &ref.num, sizeof ref.num);
    ud__or_end(ud__wb_send(&w, (int)ref.owner), "worker");
}

/* A task this worker cannot run (a malformed message, an unknown function) still produces its
   results, as errors that say why, so that no reader waits forever. */
static void ud__wk_bad_task(ud__wt *t, int from, const char *why) {
    char msg[700];
    snprintf(msg, sizeof msg, "rank %d could not run a task from rank %d: %s", ud__net.rank, from, why);
    ud__log(UD_LOG_ERROR, "%s", msg);
    if (!t->error && !(t->error = ud__obj_error(msg))) t->error = &ud__oom_obj;
}

static void ud__wk_need(ud__wt *t, int i, ud_ref ref, uint32_t flags);
static void ud__wk_ready(ud__wt *t);

static void ud__wk_execute(const ud__hdr *h, int from) {
    ud__wt *t;
    int given = (h->flags & UD__F_DELEGATED) != 0; /* a thief's: results go back to from */
    /* each argument takes 8 bytes or more of the payload; results are bounded */
    if ((uint64_t)h->count * 8 > h->length - sizeof *h || h->aux > UD__MAX_RESULTS || h->b <= 0 ||
        h->b > INT64_MAX - (int64_t)h->aux * ud__net.size || /* its result numbers would overflow */
        (given && (!ud__is_worker(from) || from == ud__net.rank || h->c != from))) {
        ud__log(UD_LOG_ERROR, "worker: dropped an EXECUTE with %d arguments and %d results from rank %d",
                h->count, h->aux, from);
        return;
    }
    t = ud__wk_task_alloc(h->count, h->aux);
    ud__rd r = ud__payload(h);
    int i;
    t->fn = ud__find_fn((ud_func)h->a);
    t->flags = h->flags & (UD__F_PINNED | UD__F_HOSTBOUND | UD__F_NESTED);
    t->depth = h->reserved > 0 ? h->reserved : 1;
    t->owner = given ? from : ud__net.rank;
    ud__st.tasks_stolen += given;
    for (i = 0; i < h->count; i++) {
        const int64_t *kind = (const int64_t *)ud__rd_take(&r, sizeof(int64_t));
        if (kind && *kind == UD__WARG_REF) {
            const int64_t *ref = (const int64_t *)ud__rd_take(&r, 2 * sizeof(int64_t));
            ud_ref a;
            if (!ref) break;
            a.owner = ref[0];
            a.num = ref[1];
            if (!ud__owner_ok(a.owner) || a.num <= 0 || (given && a.owner != from)) {
                r.bad = 1;
                break;
            }
            ud__wk_need(t, i, a, given ? UD__F_GIVEN : 0); /* a stolen task's: its victim's own */
        } else if (kind && (*kind == UD__WARG_VAL || (given && *kind >= UD__WARG_OBJ))) {
            if (!(t->vals[i] = ud__rd_arg_obj(&r, *kind, from, h->flags))) {
                r.bad = 1;
                break;
            }
        } else {
            r.bad = 1;
            break;
        }
    }
    t->first = h->b;
    for (i = 0; i < t->nret && !given; i++) { /* a thief keeps no entry: they go back */
        ud_ref o;
        o.owner = ud__net.rank;
        o.num = h->b + (int64_t)i * ud__net.size;
        t->outent[i] = ud__wk_entry(o);
        t->outent[i]->holds++; /* until this task has produced it */
        t->outent[i]->producer = t;
    }
    if (r.bad) ud__wk_bad_task(t, from, "malformed EXECUTE message");
    else if (!t->fn) {
        char why[80];
        snprintf(why, sizeof why, "no function with id %016llx is registered", (unsigned long long)h->a);
        ud__wk_bad_task(t, from, why);
    }
    if (t->npending == 0) ud__wk_ready(t);
}

/* BATCH: count EXECUTE messages from the driver, each whole (header, length a multiple of 8)
   and checked as a message of its own would be. */
static void ud__wk_batch(const ud__hdr *h, int from) {
    const char *p = (const char *)(h + 1), *end = (const char *)h + h->length;
    int i;
    for (i = 0; i < h->count; i++) {
        const ud__hdr *e = (const ud__hdr *)p;
        if (!ud__hdr_ok(e, (size_t)(end - p)) || e->op != UD__OP_EXECUTE ||
            (e->flags & UD__F_DELEGATED) || (e->length & 7) != 0) {
            ud__log(UD_LOG_ERROR, "worker: dropped a malformed BATCH from rank %d at task %d of %d",
                    from, i, h->count);
            return;
        }
        if (UD__DEBUGGING()) ud__debug_op("received (batched)", e, from);
        ud__wk_execute(e, from);
        p += e->length;
    }
}

static void ud__wk_arrived(ud__went *e, ud__obj *o);

/* On the driver's rank, what its root holds already: a put (its own, adopted) or a copy the
   root got (0 when it has none). */
static ud__obj *ud__wk_root_copy(ud__went *e) {
    ud__rent *r = ud__net.rank == UD__ROOT ? (ud__rent *)ud__map_get(&ud__root.map, e->ref) : NULL;
    if (!r || !r->obj) return NULL;
    if (ud__is_put(r)) {
        ud__wk_adopt(e->ref, r->obj);
        return NULL;
    }
    if (ud__is_mine(e->ref)) return NULL; /* its own task makes it */
    r->obj->refs++;
    return r->obj;
}

/* Argument i of t is ref: here, or asked for. flags (UD__F_GIVEN for a stolen task) go with
   the GET, so that its owner knows whether to count this rank among its readers. */
static void ud__wk_need(ud__wt *t, int i, ud_ref ref, uint32_t flags) {
    ud__went *e = ud__wk_entry(ref);
    e->holds++;
    t->argent[i] = e;
    /* Another rank of this host may have it in the shared store, or the driver's root may
       hold it: read it there. The owner still counts this rank among the readers it serves
       (the root pushes its own data, or hands it to its rank's tasks). */
    if (!e->obj && !e->requested && (!ud__is_mine(ref) || ud__net.rank == UD__ROOT)) {
        ud__obj *o = ud__wk_root_copy(e);
        if (!o && !e->obj && !ud__is_mine(ref)) o = ud__shm_find(ref);
        if (o) {
            ud__wk_arrived(e, o);
            ud__wk_ask(ref, UD__F_NOREPLY | flags);
        }
    }
    if (e->obj) return;
    t->deps[i].task = t;
    t->deps[i].next = e->waiters;
    e->waiters = &t->deps[i];
    t->npending++;
    if (!ud__is_mine(ref) && !e->requested) { /* ask the owner directly */
        ud__wk_ask(ref, flags);
        e->requested = 1;
    }
}

static void ud__wk_serve(ud__went *e, int rank, uint32_t flags);

/* The data of e is here: wake the tasks parked on it and answer the GETs that waited. */
static void ud__wk_arrived(ud__went *e, ud__obj *o) {
    ud__wdep *d;
    if (e->obj) { /* a second copy (a push after a fetch): keep the first */
        ud__obj_release(o);
        return;
    }
    e->obj = o;
    e->requested = 0;
    for (d = ud__deps_fifo(e->waiters); d; d = d->next) /* in the order they were submitted */
        if (--d->task->npending == 0) ud__wk_ready(d->task);
    e->waiters = NULL;
    while (e->requests) {
        ud__wreq *r = e->requests;
        e->requests = r->next;
        ud__wk_serve(e, r->rank, r->flags);
        ud__free(r, sizeof *r);
    }
}

static void ud__wk_call_answered(ud__call *c);
static ud__obj *ud__wk_result_alloc(ud_task *task, int i, const size_t *sizes, int nparts);

/* Every argument is here: views of them, and the task goes to a task thread (a nested get's
   hold: its caller is answered). */
static void ud__wk_ready(ud__wt *t) {
    int i;
    if (t->call) {
        ud__wk_call_answered(t->call);
        return;
    }
    for (i = 0; i < t->nargs && !t->error; i++)
        ud__obj_view(t->argent[i] ? t->argent[i]->obj : t->vals[i], &t->argv[i]);
    ud__task_begin(&t->ctx, t->fn, t->argv, t->nargs, t->res, t->nret, ud__wk_result_alloc, t);
    t->ctx.depth = t->depth;
    if (ud__wk.cancelled) {
        ud__wk_cancel_task(t);
        return;
    }
    if (ud__task_inline(&t->ctx)) { /* run at the end of the loop's turn */
        ud__wk_queue_inline(t);
        return;
    }
    ud__wk.running++;
    ud__pool_push(&ud__wk.pool, &t->job, (t->flags & UD__F_NESTED) ? UD__POOL_NESTED : UD__POOL_ANY);
}

/* On a task thread: the call, then the task goes back to the loop. */
static void ud__wk_job(ud__job *j) {
    ud__wt *t = (ud__wt *)j;
    if (!t->error) ud__task_call(&t->ctx);
    j->next = NULL;
    pthread_mutex_lock(&ud__in.mu);
    if (ud__in.done_tail) ud__in.done_tail->next = j;
    else ud__in.done = j;
    ud__in.done_tail = j;
    if (ud__in.sleeping) pthread_cond_signal(&ud__in.wake);
    pthread_mutex_unlock(&ud__in.mu);
    if (ud__in.poke) ud__in.poke();
}

/* A task's result: a large one goes straight to the shared store, under its ref, in room
   the task's thread reserves itself (no MPI call, no wait for the loop). */
static ud__obj *ud__wk_result_alloc(ud_task *task, int i, const size_t *sizes, int nparts) {
    ud__wt *t = (ud__wt *)task->be;
    ud__obj *o = NULL;
    if (ud__shm_wants(sizes, nparts)) {
        ud_ref key;
        key.owner = t->owner;
        key.num = t->first + (int64_t)i * ud__net.size;
        o = ud__shm_reserve(key, sizes, nparts);
    }
    return o ? o : ud__obj_alloc(sizes, nparts);
}

static void ud__wk_send_call(ud__call *c);
static void ud__wk_complete(ud__wt *t);

/* Sends the task threads' nested calls and completes the tasks they finished, in the order
   they finished. Returns how many. */
static int ud__wk_drain(void) {
    ud__job *done;
    ud__call *calls;
    int n = 0;
    pthread_mutex_lock(&ud__in.mu);
    done = ud__in.done;
    calls = ud__in.calls;
    ud__in.done = ud__in.done_tail = NULL;
    ud__in.calls = NULL;
    pthread_mutex_unlock(&ud__in.mu);
    while (calls) {
        ud__call *c = calls;
        calls = c->next;
        ud__wk_send_call(c);
        n++;
    }
    while (done) {
        ud__job *j = done;
        done = j->next;
        ud__wk.running--;
        ud__st.tasks_run++;
        ud__wk_complete((ud__wt *)j);
        n++;
    }
    return n;
}

/* The ready UD_FN_INLINE tasks, on the loop's thread, in the order they became ready (one
   that completes may make another ready: it runs in the same turn). Not from inside the
   handling of a message, where a completion could free what the handler walks. */
static int ud__wk_run_inline(void) {
    int n = 0;
    while (ud__wk.inl) {
        ud__wt *t = (ud__wt *)ud__wk.inl;
        if (!(ud__wk.inl = t->job.next)) ud__wk.inl_tail = NULL;
        if (!t->error) {
            int64_t t0 = ud__now_ns();
            ud__task_call(&t->ctx);
            ud__wk.inline_ns += ud__now_ns() - t0;
        }
        ud__st.tasks_run++;
        ud__wk_complete(t);
        n++;
    }
    return n;
}

static int64_t ud__largest_code(ud__obj **res, int nret);
static void ud__wk_give_back(ud__wt *t);
static void ud__wk_push(ud__wt *t, ud__went *e, ud__obj *o);
static void ud__wk_record_done(int64_t first, int nret, int64_t code);

/* On the loop: a task has run. Its results become the store's, and it lets go of its
   arguments; then it is reported. */
static void ud__wk_complete(ud__wt *t) {
    int64_t code;
    int i;
    if (t->error) {
        for (i = 0; i < t->nret; i++) {
            t->res[i] = t->error;
            t->error->refs++;
        }
    } else {
        ud__task_settle(&t->ctx);
    }
    for (i = 0; i < t->nret; i++) ud__shm_publish(t->res[i]); /* a large one was written in the store */
    code = ud__largest_code(t->res, t->nret);
    if (t->owner != ud__net.rank) ud__wk_give_back(t); /* run for a victim: the results are its */
    for (i = 0; i < t->nret && t->owner == ud__net.rank; i++) {
        ud__went *e = t->outent[i];
        e->producer = NULL;
        ud__wk_push(t, e, t->res[i]);
        ud__wk_arrived(e, t->res[i]);
        e->holds--;
        ud__wk_maybe_delete(e);
    }
    for (i = 0; i < t->nargs; i++) {
        if (t->argent[i]) {
            t->argent[i]->holds--;
            ud__wk_maybe_delete(t->argent[i]);
        }
        ud__obj_release(t->vals[i]);
    }
    ud__obj_release(t->error);
    if (t->owner == ud__net.rank) ud__wk_record_done(t->first, t->nret, code);
    ud__free(t->made, t->capmade * sizeof *t->made);
    while (t->getters) { /* the objects its nested gets read */
        ud__wt *g = t->getters;
        t->getters = g->next_getter;
        for (i = 0; i < g->nargs; i++) {
            g->argent[i]->holds--;
            ud__wk_maybe_delete(g->argent[i]);
        }
        ud__free(g, g->bytes);
    }
    ud__free(t, t->bytes);
}

/* Small results go to the root as they are made (UNIDIST_MPI_PUSH_MAX), so that the driver's
   get finds them there and waits for no round trip; several finished together go as one
   message, with the count of tasks done, which keeps the root's view of this worker's load
   current. Not one the root has asked for already: the answer to its GET carries that; not
   a nested task's, which the task that made it reads; and never a part that would travel on
   its own. */
static void ud__wk_push(ud__wt *t, ud__went *e, ud__obj *o) {
    uint64_t most = ud__rt.cfg.mpi_push_max;
    ud__wreq *q;
    if (ud__rt.cfg.mpi_inline_max < most) most = ud__rt.cfg.mpi_inline_max;
    if (ud__rt.cfg.mpi_message_max < most) most = ud__rt.cfg.mpi_message_max;
    if (!most || e->obj || (t->flags & UD__F_NESTED) || (o->flags & UD__OBJ_SHARED) || o->total > most ||
        ud__wk.cancelled)
        return;
    for (q = e->requests; q; q = q->next) /* the root asked already (not the worker part) */
        if (q->rank == UD__ROOT && !(q->flags & UD__F_WK)) return;
    if (ud__wk.npush && ud__wk.push.w.inl + o->total > ud__rt.cfg.mpi_message_max) ud__wk_flush_push();
    if (!ud__wk.npush) {
        ud__batch_start(&ud__wk.push, ud__net.rank, UD__ROOT);
        ud__wk.push.flags = UD__F_PUSHED;
    }
    ud__batch_add(&ud__wk.push, e->ref.num, o);
    ud__wk.npush++;
}

static void ud__wk_flush_push(void) {
    ud_status st;
    if (!ud__wk.npush) return;
    if (ud__wk.push.w.p && !ud__wk.push.w.oom) ((ud__hdr *)ud__wk.push.w.p)->c = ud__wk.recorded;
    ud__wk.npush = 0;
    /* a push that finds no memory is only lost: the driver's get asks for the result */
    if ((st = ud__batch_send(&ud__wk.push)) != UD_ERR_NOMEM) ud__or_end(st, "worker");
}

/* At the end: the root has stopped reading. */
static void ud__wk_drop_push(void) {
    if (!ud__wk.npush) return;
    ud__wb_discard(&ud__wk.push.w);
    ud__wb_discard(&ud__wk.push.sh);
    ud__wk.npush = 0;
}

/* The size code of a task's largest result, taken before its results go to the store. */
static int64_t ud__largest_code(ud__obj **res, int nret) {
    uint64_t big = 0;
    int i;
    for (i = 0; i < nret; i++)
        if (res[i]->total > big) big = res[i]->total;
    return ud__size_code(big);
}

static void ud__wk_record_done(int64_t first, int nret, int64_t code) {
    int64_t *p = (int64_t *)ud__grow_patient(ud__wk.done, &ud__wk.capdone,
                                             (size_t)ud__wk.ndone + UD__DONE_REC, sizeof *p, 512);
    if (!p) ud__panic("worker (rank %d): out of memory for its record of tasks done", ud__net.rank);
    ud__wk.done = p;
    if (!ud__wk.ndone) ud__wk.done_since = ud__now();
    ud__wk.recorded++;
    ud__wk.done[ud__wk.ndone++] = first;
    ud__wk.done[ud__wk.ndone++] = nret;
    ud__wk.done[ud__wk.ndone++] = code;
}

static void ud__mon_record(const int64_t *rec, int count, int from);

/* TASK_DONE to the monitor: count = tasks, then a record each (UD__DONE_REC); the results are
   numbered every size-th from the first. The monitor's own rank records them at once. */
static void ud__wk_flush_done(void) {
    ud__wbuf w;
    ud__hdr *h;
    if (!ud__wk.ndone) return;
    if (ud__net.rank == UD__MONITOR) {
        ud__mon_record(ud__wk.done, ud__wk.ndone / UD__DONE_REC, ud__net.rank);
        ud__wk.ndone = 0;
        return;
    }
    h = ud__start_or_end(&w, UD__OP_TASK_DONE, "worker");
    h->count = ud__wk.ndone / UD__DONE_REC;
    ud__wb_add(&w, ud__wk.done, (size_t)ud__wk.ndone * sizeof(int64_t));
    ud__or_end(ud__wb_send(&w, UD__MONITOR), "worker");
    ud__wk.ndone = 0;
}

/* ---- the worker: GET and CLEANUP ----------------------------------------------------------------
   Owns the answers to other ranks' GETs (served now, or when the data is made) and the root's
   cleanup of entries. Writes the entries' served and freed counts and the request lists; the
   loop's handlers call it, and execute when data arrives for a waiting GET. */
/* Whether a GET from rank with flags reads as one of the readers the root announced: a worker
   part's (UD__F_WK on the driver's rank), not the root's own reads nor a thief's (GIVEN). */
static int ud__wk_counted_reader(int rank, uint32_t flags) {
    return (rank != UD__ROOT || (flags & UD__F_WK)) && !(flags & UD__F_GIVEN);
}

/* An answer to a GET that waited for its data: flags as the GET had them. */
static void ud__wk_serve(ud__went *e, int rank, uint32_t flags) {
    if (ud__wk.cancelled) return; /* its reader may have left: a send could wait for good */
    ud__st.gets_served++;
    ud__or_end(ud__send_obj(rank, e->ref, e->obj, flags & UD__F_WK), "worker");
    if (ud__wk_counted_reader(rank, flags)) e->served++;
}

/* Answers what is here in one PUT_DATA; what is still being made waits on its entry. */
static void ud__wk_get(const ud__hdr *h, int from) {
    ud__rd r = ud__payload(h);
    const int64_t *nums = (const int64_t *)ud__rd_take(&r, (size_t)h->count * sizeof(int64_t));
    ud__batch b;
    int i;
    if (!nums || h->a != ud__net.rank) {
        ud__log(UD_LOG_ERROR, "worker: dropped a malformed GET from rank %d", from);
        return;
    }
    if (h->flags & UD__F_NOREPLY) { /* the reader found it in its host's shared store */
        for (i = 0; i < h->count; i++) {
            ud_ref ref;
            ud__went *e;
            ref.owner = ud__net.rank;
            ref.num = nums[i];
            if (ref.num <= 0 || !(e = (ud__went *)ud__map_get(&ud__wk.map, ref))) continue;
            e->served += !(h->flags & UD__F_GIVEN);
            ud__wk_maybe_delete(e);
        }
        return;
    }
    ud__batch_start(&b, ud__net.rank, from);
    b.flags = h->flags & UD__F_WK;
    for (i = 0; i < h->count; i++) {
        ud_ref ref;
        ud__went *e;
        ref.owner = ud__net.rank;
        ref.num = nums[i];
        if (ref.num <= 0) continue; /* 0 is the map's empty key; no ref has it */
        e = ud__wk_entry(ref); /* a GET may come before the EXECUTE that makes the data */
        if (e->obj) {
            ud__st.gets_served++;
            ud__batch_add(&b, ref.num, e->obj);
            if (ud__wk_counted_reader(from, h->flags)) e->served++;
            ud__wk_maybe_delete(e);
        } else {
            ud__wreq *q = NULL;
            UD__PATIENTLY((q = (ud__wreq *)ud__alloc(sizeof *q)) != NULL);
            if (!q) ud__panic("worker (rank %d): out of memory for a request to serve", ud__net.rank);
            q->rank = from;
            q->flags = h->flags & (UD__F_WK | UD__F_GIVEN);
            q->next = e->requests;
            e->requests = q;
        }
    }
    ud__or_end(ud__batch_send(&b), "worker");
}

/* PUT_DATA, PUT_SHARED_DATA: objects this worker asked for, or the root pushed ahead of a task. */
static void ud__wk_put_data(const ud__hdr *h, int from) {
    ud__rd r = ud__payload(h);
    ud_ref ref;
    ud__obj *o;
    int i;
    for (i = 0; i < h->count && !r.bad && ud__rd_next(&r, h, from, &ref, &o); i++) {
        if (ref.num <= 0) { /* 0 is the map's empty key: such an entry would be lost */
            ud__log(UD_LOG_ERROR, "worker: dropped data for number %lld from rank %d",
                    (long long)ref.num, from);
            ud__obj_release(o);
            continue;
        }
        ud__wk_arrived(ud__wk_entry(ref), o);
    }
}

static void ud__wk_cleanup(const ud__hdr *h) {
    ud__rd r = ud__payload(h);
    const ud__wref *refs = (const ud__wref *)ud__rd_take(&r, (size_t)h->count * sizeof(ud__wref));
    int i;
    if (!refs) {
        ud__log(UD_LOG_ERROR, "dropped a malformed CLEANUP");
        return;
    }
    for (i = 0; i < h->count; i++) {
        ud_ref ref;
        ud__went *e;
        ref.owner = refs[i].owner;
        ref.num = refs[i].num;
        if (!(e = (ud__went *)ud__map_get(&ud__wk.map, ref))) continue;
        ud__st.cleanups++;
        e->freed = 1;
        e->expected = refs[i].n & ~UD__WREF_PUT;
        ud__wk_maybe_delete(e);
    }
}

/* ---- the worker: work stealing ------------------------------------------------------------------
   Owns the worker's asking (stealing, victim, next_steal), its refusals (refused) and the tasks
   it gave away (ud__wk.given); the loop's turn and its STEAL handler call it. A worker whose task threads are idle and who has nothing queued asks another for work
   (STEAL: aux 0, count = tasks wanted), the workers of its own host first, in turn; after a
   round of refusals it waits, from 1 ms doubling to a second, before the next round. A worker
   that refused remembers the thief, and tells it (STEAL: aux 2) once it has more queued than
   its own idle threads can take: so idle workers stay quiet, and still hear of work at once.
   The victim gives up to half of its queued tasks (less what its own idle threads will take)
   that have not started and whose arguments move at most once: values, objects it owns, or
   objects in a store the thief shares. Each goes as an EXECUTE marked UD__F_DELEGATED: values
   whole (UD__WARG_OBJ), its own objects as refs the thief fetches once and keeps (its GET
   marked UD__F_GIVEN, which the owner does not count among the readers the root announced),
   objects in the shared store by their entry (UD__WARG_SHARED); then the answer (STEAL:
   aux 1, count = tasks given). The thief runs them and sends the results
   back (PUT_DATA marked UD__F_RESULTS, b = the first result), then a TASK_DONE marked
   UD__F_DELEGATED; the victim completes the task as its own, so a ref's owner never changes
   and cleanup, GETs and the monitor's counts stay as they were. */
static int ud__wk_same_host(int rank) { return ud_shm_host(rank) == ud_shm_host(ud__net.rank); }

/* May t go to thief? On the loop, under the pool's lock: t is queued, unstarted. */
static int ud__wk_stealable(ud__job *j, void *ctx) {
    ud__wt *t = (ud__wt *)j;
    int thief = *(const int *)ctx, i;
    if (t->error || t->owner != ud__net.rank || (t->flags & UD__F_PINNED) ||
        ((t->flags & UD__F_HOSTBOUND) && !ud__wk_same_host(thief)))
        return 0;
    for (i = 0; i < t->nargs; i++) {
        const ud__obj *o = t->argent[i] ? t->argent[i]->obj : t->vals[i];
        if (o->status != UD_OK) return 0; /* it would fail at once here anyway */
        if ((o->flags & UD__OBJ_SHARED) && ud__wk_same_host(thief)) continue;
        if (t->argent[i] ? t->argent[i]->ref.owner != ud__net.rank
                         : o->total > (size_t)ud__rt.cfg.mpi_inline_max)
            return 0; /* it came from elsewhere: it would move twice */
    }
    return 1;
}

/* A stolen task to its thief: the EXECUTE, with every argument whole. */
static void ud__wk_send_given(ud__wt *t, int thief) {
    ud__wbuf w;
    ud__hdr *h = ud__start_or_end(&w, UD__OP_EXECUTE, "worker");
    int i;
    h->flags |= UD__F_DELEGATED | (t->flags & UD__F_NESTED);
    h->a = (int64_t)t->fn->id;
    h->b = t->first;
    h->c = ud__net.rank;
    h->reserved = t->depth; /* a stolen task keeps its depth */
    h->count = t->nargs;
    h->aux = t->nret;
    for (i = 0; i < t->nargs; i++) {
        ud__obj *o = t->argent[i] ? t->argent[i]->obj : t->vals[i];
        int64_t rec[2];
        if ((o->flags & UD__OBJ_SHARED) && ud__wk_same_host(thief)) {
            rec[0] = UD__WARG_SHARED;
            ud__wb_add(&w, rec, sizeof rec[0]);
            rec[0] = o->slot;
            rec[1] = ud__shm_load(&ud__shm_entry(o->slot)[UD__SE_NUM]);
            ud__wb_add(&w, rec, sizeof rec);
            ud__shm_pin_for_peer(o);
        } else if (t->argent[i]) { /* this worker's own: the thief fetches it once, and keeps it */
            rec[0] = UD__WARG_REF;
            ud__wb_add(&w, rec, sizeof rec[0]);
            ud__wb_add(&w, &t->argent[i]->ref, sizeof t->argent[i]->ref);
        } else {
            rec[0] = UD__WARG_OBJ;
            rec[1] = o->nparts;
            ud__wb_add(&w, rec, sizeof rec);
            ud__wb_obj(&w, o->parts, o->nparts, o);
        }
    }
    ud__or_end(ud__wb_send(&w, thief), "worker");
}

static void ud__send_steal(int dst, int answer, int count) {
    ud__wbuf w;
    ud__hdr *h = ud__start_or_end(&w, UD__OP_STEAL, "worker");
    h->aux = answer;
    h->count = count;
    ud__or_end(ud__wb_send(&w, dst), "worker");
}

/* Queued tasks that this worker's own idle threads will not take. */
static int ud__wk_surplus(void) {
    long queued = ud__atomic_load(&ud__wk.pool.open);
    long busy = ud__wk.running - queued;
    long idle = ud__wk.pool.n - (busy > 0 ? busy : 0);
    return queued > idle ? (int)(queued - idle) : 0;
}

/* A STEAL asking for tasks: up to half of what waits here, to the thief, then the answer. */
static void ud__wk_give(int thief, int want) {
    ud__job *jobs[UD__STEAL_MAX];
    int n = 0, k, surplus = ud__wk_surplus(), most = (surplus + 1) / 2;
    if (want > most) want = most;
    if (want > UD__STEAL_MAX) want = UD__STEAL_MAX;
    if (want > 0 && ud__auto())
        n = ud__pool_reclaim(&ud__wk.pool, ud__wk_stealable, &thief, jobs, want, UD__STEAL_SCAN * want);
    for (k = 0; k < n; k++) {
        ud__wt *t = (ud__wt *)jobs[k];
        ud_ref key;
        int ok;
        key.owner = ud__net.rank;
        key.num = t->first;
        UD__PATIENTLY(ok = ud__map_reserve(&ud__wk.given, 1));
        if (!ok) ud__panic("worker (rank %d): out of memory for the table of tasks it gave", ud__net.rank);
        ud__map_put(&ud__wk.given, key, t);
        ud__wk.running--;
        ud__st.tasks_given++;
        ud__wk_send_given(t, thief);
    }
    ud__send_steal(thief, 1, n);
    if (!n && !(ud__wk.refused[thief / 64] >> (thief % 64) & 1)) {
        ud__wk.refused[thief / 64] |= (uint64_t)1 << (thief % 64);
        ud__wk.nrefused++;
    }
}

/* A worker with tasks to spare tells the thieves it refused (once each) to ask again. */
static void ud__wk_hint(void) {
    int r;
    if (!ud__wk.nrefused || !ud__wk_surplus() || ud__wk.stop) return;
    for (r = 0; r < ud__net.size; r++)
        if (ud__wk.refused[r / 64] >> (r % 64) & 1) {
            ud__wk.refused[r / 64] &= ~((uint64_t)1 << (r % 64));
            ud__send_steal(r, 2, 0);
        }
    ud__wk.nrefused = 0;
}

static ud__wt *ud__wk_given_task(int64_t first, int from, const char *what) {
    ud_ref key;
    ud__wt *t;
    key.owner = ud__net.rank;
    key.num = first;
    if (first > 0 && (t = (ud__wt *)ud__map_get(&ud__wk.given, key)) != NULL) return t;
    ud__log(UD_LOG_ERROR, "worker: %s from rank %d for a task it was not given (%lld)", what, from,
            (long long)first);
    return NULL;
}

/* PUT_DATA marked UD__F_RESULTS: results of a task a thief ran for this worker. */
static void ud__wk_take_results(const ud__hdr *h, int from) {
    ud__wt *t = ud__wk_given_task(h->b, from, "results");
    ud__rd r = ud__payload(h);
    ud_ref ref;
    ud__obj *o;
    int i;
    for (i = 0; i < h->count && !r.bad && ud__rd_next(&r, h, from, &ref, &o); i++) {
        int64_t k = t ? ud__wt_result(t, ref) : -1; /* (a given task's owner is this worker) */
        if (k < 0 || t->res[k]) {
            ud__obj_release(o);
            continue;
        }
        t->res[k] = o;
    }
}

/* TASK_DONE marked UD__F_DELEGATED: every result has come; the task is done here. */
static void ud__wk_given_done(const ud__hdr *h, int from) {
    ud__rd r = ud__payload(h);
    const int64_t *rec = (const int64_t *)ud__rd_take(&r, 2 * sizeof(int64_t));
    ud__wt *t = rec ? ud__wk_given_task(rec[0], from, "TASK_DONE") : NULL;
    ud_ref key;
    if (!t) return;
    key.owner = ud__net.rank;
    key.num = t->first;
    ud__map_del(&ud__wk.given, key);
    ud__wk_complete(t); /* the thief settled it: a result that did not come is empty */
}

/* On the thief: the results go to the task's owner, then the word that it is done. */
static void ud__wk_give_back(ud__wt *t) {
    ud__batch b;
    int64_t rec[2];
    int i;
    if (ud__wk.cancelled) { /* the victim may have left its loop */
        for (i = 0; i < t->nret; i++) ud__obj_release(t->res[i]);
        return;
    }
    ud__batch_start(&b, t->owner, t->owner);
    b.flags = UD__F_RESULTS;
    b.first = t->first;
    for (i = 0; i < t->nret; i++) ud__batch_add(&b, t->first + (int64_t)i * ud__net.size, t->res[i]);
    ud__or_end(ud__batch_send(&b), "worker");
    for (i = 0; i < t->nret; i++) ud__obj_release(t->res[i]);
    rec[0] = t->first;
    rec[1] = t->nret;
    {
        ud__wbuf w;
        ud__hdr *h = ud__start_or_end(&w, UD__OP_TASK_DONE, "worker");
        h->flags |= UD__F_DELEGATED;
        h->count = 1;
        ud__wb_add(&w, rec, sizeof rec);
        ud__or_end(ud__wb_send(&w, t->owner), "worker");
    }
}

/* The other workers in the order a thief asks them: its own host's first. */
static int ud__wk_victims(void) {
    int i, pass, n = 0, words = (ud__net.size + 63) / 64;
    if (!(ud__wk.victims = (int *)ud__alloc((size_t)ud__net.size * sizeof(int)))) return 0;
    if (!(ud__wk.refused = (uint64_t *)ud__alloc((size_t)words * sizeof(uint64_t)))) return 0;
    memset(ud__wk.refused, 0, (size_t)words * sizeof(uint64_t));
    for (pass = 0; pass < 2; pass++)
        for (i = 0; i < ud__nworkers(); i++) {
            int w = ud__net.workers[i];
            if (w != ud__net.rank && ud__wk_same_host(w) == !pass) ud__wk.victims[n++] = w;
        }
    ud__wk.nvictims = n;
    return 1;
}

/* With idle task threads and nothing queued: ask the next worker for tasks. */
static void ud__wk_steal(void) {
    int idle = ud__wk.pool.n - ud__wk.running;
    if (ud__wk.stealing || idle <= 0 || !ud__wk.nvictims || !ud__auto() || ud__wk.stop ||
        ud__atomic_load(&ud__wk.pool.open) > 0 || ud__now() < ud__wk.next_steal)
        return;
    ud__send_steal(ud__wk.victims[ud__wk.victim % ud__wk.nvictims], 0, idle);
    ud__wk.stealing = 1;
}

/* STEAL from another worker: a request (aux 0), the answer to this worker's (aux 1), or a
   worker that refused it saying it has work now (aux 2). Returns 1 when work moved (an
   event), 0 for a refusal, which must not keep idle ranks polling. */
static int ud__wk_on_steal(const ud__hdr *h, int from) {
    int k;
    if (h->aux == 0) {
        ud__wk_give(from, (int)h->count);
        return (int)(~ud__wk.refused[from / 64] >> (from % 64) & 1);
    }
    if (h->aux == 2) { /* ask it next, now */
        for (k = 0; k < ud__wk.nvictims; k++)
            if (ud__wk.victims[k] == from) ud__wk.victim = k;
        ud__wk.failed = 0;
        ud__wk.next_steal = 0;
        return 1;
    }
    ud__wk.stealing = 0;
    if (h->count > 0) { /* ask the same one again when idle */
        ud__wk.failed = 0;
        ud__wk.next_steal = 0;
        return 1;
    }
    ud__wk.victim++;
    if (++ud__wk.failed % ud__wk.nvictims == 0) { /* a round of refusals: wait */
        int rounds = ud__wk.failed / ud__wk.nvictims - 1;
        ud__wk.next_steal = ud__now() + 1e-3 * (double)(1 << (rounds < 10 ? rounds : 10));
    }
    return 0;
}

/* ---- calls from inside a task -------------------------------------------------------------------
   A task's put, remote, get, wait and free under MPI, told in the order a call travels: the
   call itself (ud__call), on the task's thread (ud__nest_*: the in-task backend table calls
   these), which hands it to its rank's loop, which alone calls MPI; the loop's side
   (ud__wk_*call*: NESTED to the root, then the answer back to the thread); and the root's
   side (ud__root_nested*), which does what needs its store: it numbers and places a nested
   task and keeps a nested put as the driver's own; for a get it checks the refs and makes
   the caller a reader of each (pushing its own data ahead, as for a task's argument), so that
   cleanup waits for it; for a wait it checks them; a free it checks now and does at the
   driver's next call, since the driver may be inside a get or wait of the same refs. The
   root does this whenever the driver is inside a call, as it does all its work. The waiting
   thread runs other tasks until the answer comes, so a task that waits never holds its
   thread idle. A get's objects come like a task's arguments (from this rank's store, or
   fetched once from their owners) and stay held until the calling task ends, so its views
   stay valid that long; a wait goes to the monitor, which answers it in the order the tasks
   finished, as the driver's. Writes the call records, the task's list of refs it made and
   the worker's list of calls out (ud__wk.calls). */

/* The refs a task made with nested remotes and has not freed: it may get and free these
   without asking the root whether they are live (a worker owns them, and the task holds them). */
static void ud__nest_made(ud__wt *t, const ud_ref *refs, int n) {
    ud_ref *p = (ud_ref *)ud__grow(t->made, &t->capmade, (size_t)t->nmade + (size_t)n, sizeof *p, 8);
    int i;
    if (!p) return; /* then its gets and frees ask the root */
    t->made = p;
    for (i = 0; i < n; i++) t->made[t->nmade++] = refs[i];
}

/* Whether every ref is one t made (and, take: forget them, as they are being freed). */
static int ud__nest_all_made(ud__wt *t, const ud_ref *refs, int n, int take) {
    int i, k, found = 0;
    for (i = 0; i < n; i++) {
        for (k = t->nmade - 1; k >= 0; k--)
            if (t->made[k].owner == refs[i].owner && t->made[k].num == refs[i].num) break;
        if (k < 0) return 0;
    }
    for (i = 0; take && i < n; i++)
        for (k = t->nmade - 1; k >= 0; k--)
            if (t->made[k].owner == refs[i].owner && t->made[k].num == refs[i].num) {
                t->made[k] = t->made[--t->nmade];
                found++;
                break;
            }
    return !take || found == n; /* a ref given twice is freed twice: the root says so */
}

/* On the task's thread: the call goes to the loop. */
static void ud__nest_post(ud__call *c) {
    c->task = (ud__wt *)ud__cur_task->be;
    c->status = UD_OK;
    c->err[0] = '\0';
    ud__atomic_store(&c->answered, 0);
    pthread_mutex_lock(&ud__in.mu);
    c->next = ud__in.calls;
    ud__in.calls = c;
    if (ud__in.sleeping) pthread_cond_signal(&ud__in.wake);
    pthread_mutex_unlock(&ud__in.mu);
    if (ud__in.poke) ud__in.poke();
}

/* On the task's thread: the call goes to the loop, and the thread waits for the answer,
   running nothing else on its stack. A get or wait, which waits for other tasks, hands the
   thread's slot to another thread meanwhile (ud__pool_wait_begin), so a task that waits
   buries no other under it and holds no queue up; a remote, put or free waits only for the
   root's answer, which no task of this rank holds up, and keeps its slot. */
static ud_status ud__nest(ud__call *c) {
    int hand_over = c->kind == UD__NEST_GET || c->kind == UD__NEST_WAIT;
    ud_status st = UD_OK;
    if (hand_over && (st = ud__pool_may_wait(&ud__wk.pool)) != UD_OK) return st; /* before it is out */
    pthread_cond_init(&c->cv, NULL);
    ud__nest_post(c);
    if (!ud__atomic_load(&c->answered)) {
        /* the call is out: its answer comes, and is waited for; with no thread to take the
           slot over, the slot waits with it (said once a wait) */
        if (hand_over && (st = ud__pool_wait_begin(&ud__wk.pool, 1)) != UD_OK)
            ud__log(UD_LOG_WARN, "rank %d: %s", ud__net.rank, ud__errbuf);
        pthread_mutex_lock(&ud__in.mu);
        while (!ud__atomic_load(&c->answered)) pthread_cond_wait(&c->cv, &ud__in.mu);
        pthread_mutex_unlock(&ud__in.mu);
        if (hand_over && st == UD_OK) ud__pool_wait_end(&ud__wk.pool);
    }
    pthread_mutex_lock(&ud__in.mu); /* the loop signals under it: it is done with c->cv */
    pthread_mutex_unlock(&ud__in.mu);
    pthread_cond_destroy(&c->cv);
    return c->status == UD_OK ? UD_OK : ud__fail(c->status, "%s", c->err);
}

static ud_status ud__nest_remote(const ud__fn *fn, const ud_arg *args, int nargs, int nret,
                                 ud_ref *outs, const ud_opts *opts) {
    ud__call c;
    ud_status st;
    memset(&c, 0, sizeof c);
    c.kind = UD__NEST_REMOTE;
    c.fn = fn;
    c.args = args;
    c.nargs = nargs;
    c.nret = nret;
    c.opts = opts;
    c.outs = outs;
    if (nret > UD__MAX_RESULTS)
        return ud__fail(UD_ERR_ARG, "remote '%s': num_returns %d is more than %d", fn->name, nret,
                        UD__MAX_RESULTS);
    if ((st = ud__nest(&c)) == UD_OK) ud__nest_made(c.task, outs, nret);
    return st;
}

static ud_status ud__nest_put(const ud_part *parts, int nparts, ud_ref *out) {
    ud__call c;
    ud_status st;
    memset(&c, 0, sizeof c);
    c.kind = UD__NEST_PUT;
    c.outs = out;
    /* a copy, which the loop sends and lets go of: the caller's buffers may change at once */
    if (!(c.obj = ud__obj_copy(parts, nparts))) return ud__fail(UD_ERR_NOMEM, "put: out of memory");
    if ((st = ud__nest(&c)) == UD_OK) ud__nest_made(c.task, out, 1);
    return st;
}

/* A get or wait of one of the calling task's own results would wait for ever: UD_ERR_ARG. (A
   longer cycle, through other tasks, goes unseen here: the shutdown warning names the tasks
   that wait.) */
static ud_status ud__nest_own_result(const char *op, const ud_ref *refs, int n) {
    ud__wt *t = (ud__wt *)ud__cur_task->be;
    int i;
    for (i = 0; i < n; i++)
        if (ud__wt_result(t, refs[i]) >= 0) return ud__cycle_error(op, refs[i], NULL, t->fn->name);
    return UD_OK;
}

typedef struct ud__awaited {
    const ud_ref *refs;
    int n;
} ud__awaited;

/* Whether queued job j makes one of the refs awaited (ctx). Under its queue's lock. */
static int ud__wk_makes(ud__job *j, void *ctx) {
    const ud__wt *t = (const ud__wt *)j;
    const ud__awaited *a = (const ud__awaited *)ctx;
    int i;
    if (t->error || t->owner != ud__net.rank) return 0;
    for (i = 0; i < a->n; i++)
        if (ud__wt_result(t, a->refs[i]) >= 0) return 1;
    return 0;
}

/* On the task's thread, before an untimed get or wait of refs it made: the tasks that make
   them and wait in this rank's queues, not started, run here, one after the other, while the
   stack has room. The caller would only wait for them, and running them depth first keeps
   the tasks that wait few; the loop completes each as if a task thread had run it. */
static void ud__nest_run_awaited(const ud_ref *refs, int n) {
    ud__awaited a;
    ud__job *j;
    a.refs = refs;
    a.n = n;
    while (ud__pool_stack_room(&ud__wk.pool) &&
           ud__pool_reclaim(&ud__wk.pool, ud__wk_makes, &a, &j, 1, 256) == 1)
        ud__wk_job(j);
}

static ud_status ud__nest_get(const ud_ref *refs, int n, ud_view *out) {
    ud__call c;
    ud_status st, first = UD_OK;
    int i;
    if ((st = ud__nest_own_result("get", refs, n)) != UD_OK) return st;
    memset(&c, 0, sizeof c);
    c.kind = UD__NEST_GET;
    c.refs = refs;
    c.n = n;
    /* of refs it made on workers (not its puts, which the root keeps): asked of their owners */
    c.local = ud__nest_all_made((ud__wt *)ud__cur_task->be, refs, n, 0);
    for (i = 0; c.local && i < n; i++) c.local = refs[i].owner != UD__ROOT;
    if (c.local) ud__nest_run_awaited(refs, n);
    if ((st = ud__nest(&c)) != UD_OK) return st;
    for (i = 0; i < n; i++) first = ud__get_view(c.getter->argent[i]->obj, refs[i], &out[i], first);
    return first;
}

static ud_status ud__nest_wait(const ud_ref *refs, int n, int num_returns, double timeout,
                               int *ready, int *nready) {
    ud__call c;
    ud_status st;
    *nready = 0;
    if ((st = ud__nest_own_result("wait", refs, n)) != UD_OK) return st;
    if (timeout < 0) ud__nest_run_awaited(refs, n);
    memset(&c, 0, sizeof c);
    c.kind = UD__NEST_WAIT;
    c.refs = refs;
    c.n = n;
    c.num_returns = num_returns;
    c.timeout = timeout;
    c.ready = ready;
    st = ud__nest(&c);
    *nready = c.nready;
    return st;
}

/* A task may free only the refs it made (as on the threads backend): any other is its
   caller's, which may still use it. Such a free needs no answer: the loop sends it on, and
   the task goes on. */
static ud_status ud__nest_free(const ud_ref *refs, int n) {
    ud__wt *t = (ud__wt *)ud__cur_task->be;
    ud__call c, *async;
    ud_ref *copy;
    int i;
    for (i = 0; i < n; i++)
        if (!ud__nest_all_made(t, &refs[i], 1, 0)) {
            char text[48];
            ud__ref_text(refs[i], text, sizeof text);
            return ud__fail(UD_ERR_ARG, "free: ref %s was not made by the calling task '%s': a task "
                            "may free only the refs it made", text, t->fn->name);
        }
    if ((async = (ud__call *)ud__alloc(sizeof *async)) != NULL) {
        if (!(copy = (ud_ref *)ud__alloc((size_t)n * sizeof *copy))) {
            ud__free(async, sizeof *async);
        } else {
            ud__nest_all_made(t, refs, n, 1);
            memcpy(copy, refs, (size_t)n * sizeof *copy);
            memset(async, 0, sizeof *async);
            async->kind = UD__NEST_FREE;
            async->refs = copy;
            async->n = n;
            async->local = 1;
            ud__nest_post(async);
            return UD_OK;
        }
    }
    memset(&c, 0, sizeof c);
    c.kind = UD__NEST_FREE;
    c.refs = refs;
    c.n = n;
    if (ud__nest(&c) != UD_OK) return c.status;
    ud__nest_all_made(t, refs, n, 1);
    return UD_OK;
}

/* On the loop: c is answered; its thread (spinning or asleep) takes it up. */
static void ud__wk_call_answered(ud__call *c) {
    pthread_mutex_lock(&ud__in.mu);
    ud__atomic_store(&c->answered, 1);
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&ud__in.mu);
}

static void ud__wk_call_failed(ud__call *c, ud_status st, const char *msg) {
    c->status = st;
    snprintf(c->err, sizeof c->err, "%.511s", msg);
    ud__wk_call_answered(c);
}

/* A call of a task still running when the run was cancelled: no answer would come. */
static void ud__wk_call_refused(ud__call *c) {
    if (c->kind == UD__NEST_FREE && c->local) { /* its thread did not wait */
        ud__free((void *)c->refs, (size_t)c->n * sizeof *c->refs);
        ud__free(c, sizeof *c);
        return;
    }
    if (c->kind == UD__NEST_PUT) ud__obj_release(c->obj);
    ud__wk_call_failed(c, UD_ERR_STATE, "the run was cancelled: this call gets no answer");
}

static void ud__wk_add_refs(ud__wbuf *w, const ud_ref *refs, int n) {
    int i;
    for (i = 0; i < n; i++) {
        ud__wb_add(w, &refs[i].owner, sizeof(int64_t));
        ud__wb_add(w, &refs[i].num, sizeof(int64_t));
    }
}

static void ud__wk_nested_get(ud__call *c);

/* On the loop: NESTED to the root, and c waits for its answer on ud__wk.calls. */
static void ud__wk_send_call(ud__call *c) {
    ud__wbuf w;
    ud__hdr *h;
    ud_status st;
    int i;
    if (ud__wk.cancelled) {
        ud__wk_call_refused(c);
        return;
    }
    h = ud__wb_start(&w, UD__OP_NESTED);
    if (!h && c->kind == UD__NEST_FREE && c->local) ud__panic("worker: out of memory for a task's free");
    if (!h) {
        if (c->kind == UD__NEST_PUT) ud__obj_release(c->obj);
        ud__wk_call_failed(c, UD_ERR_NOMEM, "out of memory for a task's call");
        return;
    }
    c->id = ++ud__wk.next_call;
    h->aux = c->kind;
    h->b = c->id;
    if (c->kind == UD__NEST_GET && c->local) { /* no root to ask */
        ud__free(w.p, w.cap);
        ud__wk_nested_get(c);
        return;
    }
    if (c->kind == UD__NEST_FREE && c->local) h->flags |= UD__F_NOREPLY;
    if (c->kind == UD__NEST_REMOTE) {
        h->a = (int64_t)c->fn->id;
        h->count = c->nargs;
        h->status = c->nret;
        /* its place, and the depth of the task it makes (the caller's and one) */
        h->reserved = (c->opts ? (int32_t)c->opts->place : (int32_t)UD_ANYWHERE) | (c->task->depth + 1) << 4;
        h->c = c->opts ? c->opts->index : 0;
        for (i = 0; i < c->nargs; i++) {
            int64_t kind = c->args[i].kind == UD_ARG_REF ? UD__WARG_REF : UD__WARG_VAL;
            ud__wb_add(&w, &kind, sizeof kind);
            if (kind == UD__WARG_REF) {
                ud__wk_add_refs(&w, &c->args[i].ref, 1);
            } else {
                ud_part p;
                p.data = c->args[i].data;
                p.size = c->args[i].size;
                ud__wb_obj(&w, &p, 1, NULL); /* a large value is copied, then sent on its own */
            }
        }
        if (c->opts && c->opts->place == UD_NEAR) ud__wk_add_refs(&w, &c->opts->near, 1);
    } else if (c->kind == UD__NEST_PUT) {
        h->count = c->obj->nparts;
        ud__wb_obj(&w, c->obj->parts, c->obj->nparts, c->obj); /* sent from the copy */
    } else {
        h->count = c->n;
        ud__wk_add_refs(&w, c->refs, c->n);
    }
    st = ud__wb_send(&w, UD__ROOT);
    if (c->kind == UD__NEST_PUT) { /* the loop's now (its large parts are pinned by the send) */
        ud__obj_release(c->obj);
        c->obj = NULL;
    }
    if (st != UD_OK && !(c->kind == UD__NEST_FREE && c->local)) {
        ud__wk_call_failed(c, UD_ERR_MPI, ud__errbuf);
        return;
    }
    if (c->kind == UD__NEST_FREE && c->local) { /* its thread did not wait */
        ud__free((void *)c->refs, (size_t)c->n * sizeof *c->refs);
        ud__free(c, sizeof *c);
        return;
    }
    c->next = ud__wk.calls;
    ud__wk.calls = c;
    ud__bo.hot_until = ud__now() + UD_MPI_CALL_HOT; /* its answer comes within a round trip */
}

/* The call with this id (of this kind, unless 0), taken off the list; NULL when none. */
static ud__call *ud__wk_take_call(int64_t id, int kind) {
    ud__call **p;
    for (p = &ud__wk.calls; *p; p = &(*p)->next)
        if ((*p)->id == id && (!kind || (*p)->kind == kind)) {
            ud__call *c = *p;
            *p = c->next;
            return c;
        }
    return NULL;
}

/* The task of this rank that makes ref, while it has not. */
static ud__wt *ud__wk_producer(ud_ref ref) {
    ud__went *e = (ud__went *)ud__map_get(&ud__wk.map, ref);
    return e && !e->obj ? e->producer : NULL;
}

/* Whether task t waits on an entry made by a task of this rank: its k-th such producer (NULL:
   no more). Its pending arguments first, then the pending objects of its nested gets. */
static ud__wt *ud__wk_waits_on(ud__wt *t, int k) {
    ud__wt *g;
    int i;
    for (i = 0; i < t->nargs; i++)
        if (t->argent[i] && !t->argent[i]->obj && t->argent[i]->producer && k-- == 0) return t->argent[i]->producer;
    for (g = t->getters; g; g = g->next_getter)
        for (i = 0; i < g->nargs; i++)
            if (!g->argent[i]->obj && g->argent[i]->producer && k-- == 0) return g->argent[i]->producer;
    return NULL;
}

/* Whether the caller of c would wait for ever: a task of this rank that makes one of its
   refs waits, itself or through tasks it waits for, on the caller. UD_ERR_ARG names the
   cycle (a cycle through another rank goes unseen: the shutdown warning names the tasks that
   wait). On the loop, which owns every task and entry of the rank. */
static int ud__wk_cycle(ud__call *c) {
    static uint64_t stamp;
    ud__wt *seen[UD__CYCLE_MAX], *me = c->task, *p;
    int from[UD__CYCLE_MAX], i, k, head, tail = 0;
    stamp++;
    for (i = 0; i < c->n; i++) {
        if (!(p = ud__wk_producer(c->refs[i])) || p->visit == stamp) continue;
        if (tail == UD__CYCLE_MAX) return 0;
        p->visit = stamp;
        from[tail] = i;
        seen[tail++] = p;
    }
    for (head = 0; head < tail; head++)
        for (k = 0; (p = ud__wk_waits_on(seen[head], k)) != NULL; k++) {
            if (p == me) {
                ud__cycle_error("get", c->refs[from[head]], ud__wk_producer(c->refs[from[head]])->fn->name,
                                me->fn->name);
                ud__wk_call_failed(c, UD_ERR_ARG, ud__errbuf);
                return 1;
            }
            if (p->visit == stamp || tail == UD__CYCLE_MAX) continue;
            p->visit = stamp;
            from[tail] = from[head];
            seen[tail++] = p;
        }
    return 0;
}

/* A nested get the root allowed: its objects come as a task's arguments would, held by a
   task that never runs (ud__wk_ready answers the caller once they are all here). */
static void ud__wk_nested_get(ud__call *c) {
    ud__wt *g;
    int i;
    if (ud__wk_cycle(c)) return;
    /* each ref is asked of its owner: one that names no rank is refused here, whatever the
       root's answer said (the refs are the task's own arguments) */
    for (i = 0; i < c->n; i++)
        if (!ud__owner_ok(c->refs[i].owner) || c->refs[i].num <= 0) {
            char text[48], msg[96];
            ud__ref_text(c->refs[i], text, sizeof text);
            snprintf(msg, sizeof msg, "get: ref %s was never issued", text);
            ud__wk_call_failed(c, UD_ERR_NOREF, msg);
            return;
        }
    g = ud__wk_task_alloc(c->n, 0);
    g->call = c;
    g->owner = ud__net.rank;
    c->getter = g;
    g->next_getter = c->task->getters;
    c->task->getters = g;
    for (i = 0; i < c->n; i++) ud__wk_need(g, i, c->refs[i], 0);
    if (g->npending == 0) ud__wk_call_answered(c);
}

/* A nested wait the root allowed: the driver's objects are done (first, in the order given);
   the monitor answers for the tasks' (WAIT, b = the call's id). */
/* Whether ref i of a nested wait is the driver's put, done from the start: owned by the
   driver's rank and not among the tasks' results the root listed (ascending indices). */
static int ud__wk_is_put(const ud__call *c, int i, const int64_t *results, int nres) {
    int lo = 0, hi = nres;
    if (c->refs[i].owner != UD__ROOT) return 0;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (results[mid] == i) return 0;
        if (results[mid] < i) lo = mid + 1;
        else hi = mid;
    }
    return 1;
}

static void ud__wk_nested_wait(ud__call *c, const int64_t *results, int nres) {
    ud__wbuf w;
    ud__hdr *h;
    int i, nremote = 0;
    c->nready = 0;
    for (i = 0; i < c->n && c->nready < c->num_returns; i++)
        if (ud__wk_is_put(c, i, results, nres)) c->ready[c->nready++] = i;
    if (c->nready >= c->num_returns) {
        ud__wk_call_answered(c);
        return;
    }
    if (!(h = ud__wb_start(&w, UD__OP_WAIT))) {
        ud__wk_call_failed(c, UD_ERR_NOMEM, "wait: out of memory");
        return;
    }
    h->aux = c->num_returns - c->nready;
    h->b = c->id;
    h->c = c->timeout < 0 ? -1 : (int64_t)(c->timeout * 1e6);
    h->flags |= ud__wk_asker();
    for (i = 0; i < c->n; i++) {
        ud__wref r;
        if (ud__wk_is_put(c, i, results, nres)) continue;
        r.owner = c->refs[i].owner;
        r.num = c->refs[i].num;
        r.n = i;
        ud__wb_add(&w, &r, sizeof r);
        nremote++;
    }
    h->count = nremote;
    if (ud__wb_send(&w, UD__MONITOR) != UD_OK) {
        ud__wk_call_failed(c, UD_ERR_MPI, ud__errbuf);
        return;
    }
    c->next = ud__wk.calls; /* now waiting for the monitor */
    ud__wk.calls = c;
}

/* NESTED from the root: status, count = refs made, then them or the error's message. */
static void ud__wk_call_answer(const ud__hdr *h) {
    ud__rd r = ud__payload(h);
    ud__call *c = ud__wk_take_call(h->b, 0);
    const ud_ref *outs;
    if (!c) {
        ud__log(UD_LOG_ERROR, "worker: an answer to no call (%lld)", (long long)h->b);
        return;
    }
    if (h->status != UD_OK) {
        c->status = (ud_status)h->status;
        if (r.p < r.end) snprintf(c->err, sizeof c->err, "%.*s", (int)(r.end - r.p), r.p);
        else snprintf(c->err, sizeof c->err, "the driver: %s", ud_status_str(c->status)); /* no room for more */
        ud__wk_call_answered(c);
        return;
    }
    switch (c->kind) {
    case UD__NEST_REMOTE: case UD__NEST_PUT: {
        int k, ok;
        ok = (outs = (const ud_ref *)ud__rd_take(&r, (size_t)h->count * sizeof *outs)) != NULL &&
             h->count == (c->kind == UD__NEST_PUT ? 1 : c->nret);
        /* the task reads and frees what it made by asking the owner directly: each ref must
           name a rank and a number a ref can have */
        for (k = 0; ok && k < h->count; k++) ok = ud__owner_ok(outs[k].owner) && outs[k].num > 0;
        if (!ok) {
            ud__wk_call_failed(c, UD_ERR_PROTO, "a malformed answer from the root");
            return;
        }
        memcpy(c->outs, outs, (size_t)h->count * sizeof *outs);
        ud__wk_call_answered(c);
        return;
    }
    case UD__NEST_GET: ud__wk_nested_get(c); return;
    case UD__NEST_WAIT: {
        const int64_t *results = (const int64_t *)ud__rd_take(&r, (size_t)h->count * sizeof *results);
        if (h->count && !results) ud__wk_call_failed(c, UD_ERR_PROTO, "a malformed answer from the root");
        else ud__wk_nested_wait(c, results, h->count);
        return;
    }
    default: ud__wk_call_answered(c); return;
    }
}

/* WAIT from the monitor, for a nested wait: the indices done, in the order they finished. */
static void ud__wk_wait_answer(const ud__hdr *h) {
    ud__rd r = ud__payload(h);
    /* only a wait's: another call answered so would go on as done, its answer unmade */
    ud__call *c = ud__wk_take_call(h->b, UD__NEST_WAIT);
    const int32_t *idx = (const int32_t *)ud__rd_take(&r, (size_t)h->count * 2 * sizeof *idx);
    int k;
    if (!c || !idx || h->count > c->num_returns - c->nready) {
        if (c) ud__wk_call_failed(c, UD_ERR_PROTO, "wait: a malformed answer from the monitor");
        else ud__log(UD_LOG_ERROR, "worker: a WAIT answer to no call (%lld)", (long long)h->b);
        return;
    }
    for (k = 0; k < h->count; k++)
        if (idx[k] >= 0 && idx[k] < c->n) c->ready[c->nready++] = idx[k];
    if (c->nready < c->num_returns) {
        char msg[160];
        snprintf(msg, sizeof msg, "wait: %d of %d refs done after %.3f s, %d asked for", c->nready,
                 c->n, c->timeout, c->num_returns);
        ud__wk_call_failed(c, UD_ERR_TIMEOUT, msg);
        return;
    }
    ud__wk_call_answered(c);
}

/* The refs of a nested get, wait or free: each live, else the first that is not. */
static ud_status ud__root_nested_refs(const char *op, const int64_t *p, int n, int reader,
                                      int later) {
    ud_status st = UD_OK;
    int i;
    for (i = 0; i < n && st == UD_OK; i++) {
        ud__rent *e;
        ud_arg a;
        a.kind = UD_ARG_REF;
        a.ref.owner = p[2 * i];
        a.ref.num = p[2 * i + 1];
        if ((st = ud__root_lookup(op, a.ref, &e)) != UD_OK) break;
        if (reader >= 0) st = ud__root_route_args(&a, 1, &e, reader);
        if (later && !ud__root_later(a.ref)) return ud__fail(UD_ERR_NOMEM, "free: out of memory");
    }
    return st;
}

/* A nested remote: count = arguments, status = results, reserved = placement (its low 4 bits)
   and the new task's depth (the rest), c = its
   index, the arguments as in EXECUTE, then the ref of UD_NEAR. */
static ud_status ud__root_nested_remote(const ud__hdr *h, ud__rd *r, int from, ud_ref *outs) {
    const ud__fn *fn = ud__find_fn((ud_func)h->a);
    ud_arg small[16], *args = h->count <= 16 ? small : (ud_arg *)ud__alloc((size_t)h->count * sizeof *args);
    ud__obj *osmall[16], **vals = h->count <= 16 ? osmall : (ud__obj **)ud__alloc((size_t)h->count * sizeof *vals);
    ud_status st = UD_OK;
    ud_opts o;
    int i, n = 0;
    if (!fn) st = ud__fail(UD_ERR_NOFUNC, "remote: no function with id %016llx", (unsigned long long)h->a);
    else if (!args || !vals) st = ud__fail(UD_ERR_NOMEM, "remote: out of memory");
    for (i = 0; i < h->count && st == UD_OK; i++, n++) {
        const int64_t *kind = (const int64_t *)ud__rd_take(r, sizeof(int64_t)), *ref;
        vals[i] = NULL;
        if (kind && *kind == UD__WARG_REF && (ref = (const int64_t *)ud__rd_take(r, 2 * sizeof *ref))) {
            args[i].kind = UD_ARG_REF;
            args[i].ref.owner = ref[0];
            args[i].ref.num = ref[1];
        } else if (kind && *kind == UD__WARG_VAL && (vals[i] = ud__rd_arg_obj(r, *kind, from, h->flags))) {
            if (vals[i]->status != UD_OK) st = ud__fail(UD_ERR_PROTO, "remote: an argument from rank %d: %s",
                                                        from, (const char *)vals[i]->parts[0].data);
            args[i] = ud_arg_val(vals[i]->parts[0].data, vals[i]->parts[0].size);
        } else {
            st = ud__fail(UD_ERR_PROTO, "remote: a malformed argument %d from rank %d", i, from);
        }
    }
    o.place = (ud_place)(h->reserved & 15);
    o.index = (int)h->c;
    o.near.owner = -1;
    o.near.num = 0;
    if (st == UD_OK && o.place == UD_NEAR) {
        const int64_t *ref = (const int64_t *)ud__rd_take(r, 2 * sizeof *ref);
        if (ref) o.near.owner = ref[0], o.near.num = ref[1];
    }
    /* the place as the caller's ud_remote_opts checks it: its worker indexes the workers */
    if (st == UD_OK) st = ud__check_opts(fn, &o);
    if (st == UD_OK) st = ud__root_submit(fn, args, h->count, h->status, outs, &o, from, h->reserved >> 4);
    if (st == UD_OK && ud__root.stopping) /* the monitor waits for this one too */
        st = ud__send_op(UD__MONITOR, UD__OP_SHUTDOWN, 0, ud__root.submitted, 0, 0);
    for (i = 0; i < n; i++) ud__obj_release(vals[i]);
    if (args != small) ud__free(args, (size_t)h->count * sizeof *args);
    if (vals != osmall) ud__free(vals, (size_t)h->count * sizeof *vals);
    return st;
}

/* A nested put: the object, as in PUT_DATA; the root keeps it as its own put. */
static ud_status ud__root_nested_put(const ud__hdr *h, ud__rd *r, int from, ud_ref *out) {
    ud_status st;
    ud__obj *o = ud__rd_obj(r, h->count, from, h->flags, NULL, &st), *shared;
    if (!o) return st;
    out->owner = UD__ROOT;
    out->num = ud__root.next_num * ud__net.size + UD__ROOT;
    if ((shared = ud__shm_put_parts(*out, o->parts, o->nparts)) != NULL) { /* large: in the store */
        ud__obj_release(o);
        o = shared;
    }
    if (!ud__root_new(*out, o)) {
        ud__obj_release(o);
        return ud__fail(UD_ERR_NOMEM, "put: out of memory");
    }
    ud__root.next_num++;
    return UD_OK;
}

/* A nested wait's answer: the indices of the refs that are tasks' results owned by the
   driver's rank (the others it owns are puts, done from the start); returns how many. */
static int ud__root_wait_results(ud__wbuf *w, const int64_t *p, int n) {
    int i, k = 0;
    for (i = 0; i < n; i++) {
        ud_ref ref;
        ud__rent *e;
        int64_t idx = i;
        ref.owner = p[2 * i];
        ref.num = p[2 * i + 1];
        if (ref.owner != UD__ROOT || !(e = (ud__rent *)ud__map_get(&ud__root.map, ref)) || ud__is_put(e)) continue;
        ud__wb_add(w, &idx, sizeof idx);
        k++;
    }
    return k;
}

static void ud__root_nested(const ud__hdr *h, int from) {
    ud__rd r = ud__payload(h);
    ud_ref small[8], *outs = small;
    const int64_t *refs = NULL;
    ud_status st = UD_OK;
    ud__wbuf w;
    ud__hdr *a;
    int nout = 0;
    if (h->aux == UD__NEST_GET || h->aux == UD__NEST_WAIT || h->aux == UD__NEST_FREE) {
        if (h->count < 0 || !(refs = (const int64_t *)ud__rd_take(&r, (size_t)h->count * 2 * sizeof *refs)))
            st = ud__fail(UD_ERR_PROTO, "a malformed NESTED from rank %d", from);
    } else if (h->aux == UD__NEST_REMOTE && (h->status < 0 || h->status > UD__MAX_RESULTS || h->count < 0 ||
                                              (uint64_t)h->count * 8 > h->length - sizeof *h)) {
        st = ud__fail(UD_ERR_PROTO, "a malformed NESTED remote from rank %d", from);
    }
    if (st == UD_OK && h->aux == UD__NEST_REMOTE && h->status > 8 &&
        !(outs = (ud_ref *)ud__alloc((size_t)h->status * sizeof *outs)))
        st = ud__fail(UD_ERR_NOMEM, "a task's remote: out of memory for its refs");
    /* The answer's room comes before the call: a call made but not answered would leave the
       task waiting for ever (and a remote's results with no one to hold their refs). */
    memset(&w, 0, sizeof w);
    if (!(h->flags & UD__F_NOREPLY) &&
        (!ud__wb_start(&w, UD__OP_NESTED) ||
         !ud__wb_room(&w, (h->aux == UD__NEST_REMOTE && h->status > 0 ? (size_t)h->status
                           : h->aux == UD__NEST_WAIT ? (size_t)h->count + 1 : 1) * sizeof(ud_ref) +
                              sizeof ud__errbuf))) {
        ud__free(w.p, w.cap);
        memset(&w, 0, sizeof w);
        if (st == UD_OK) st = ud__fail(UD_ERR_NOMEM, "a task's call: out of memory for its answer");
    }
    if (st == UD_OK) switch (h->aux) {
    case UD__NEST_REMOTE:
        if ((st = ud__root_nested_remote(h, &r, from, outs)) == UD_OK) nout = h->status;
        break;
    case UD__NEST_PUT: if ((st = ud__root_nested_put(h, &r, from, outs)) == UD_OK) nout = 1; break;
    case UD__NEST_GET: st = ud__root_nested_refs("get", refs, h->count, from, 0); break;
    case UD__NEST_WAIT: st = ud__root_nested_refs("wait", refs, h->count, -1, 0); break;
    case UD__NEST_FREE: st = ud__root_nested_refs("free", refs, h->count, -1, 1); break;
    default: st = ud__fail(UD_ERR_PROTO, "NESTED of unknown kind %d from rank %d", h->aux, from);
    }
    if (h->flags & UD__F_NOREPLY) { /* a task freeing what it made: nothing to answer */
        if (st != UD_OK) ud__log(UD_LOG_WARN, "root: a task's free: %s", ud__errbuf);
        if (outs != small) ud__free(outs, (size_t)h->status * sizeof *outs); /* any other kind's */
        return;
    }
    if (w.p) {
        a = (ud__hdr *)w.p;
        a->aux = h->aux;
        a->b = h->b;
        a->status = st;
        a->flags |= UD__F_REPLY;
        if (st == UD_OK && h->aux == UD__NEST_WAIT) nout = ud__root_wait_results(&w, refs, h->count);
        else if (st == UD_OK) ud__wb_add(&w, outs, (size_t)nout * sizeof *outs);
        else ud__wb_add(&w, ud__errbuf, strlen(ud__errbuf) + 1);
        ((ud__hdr *)w.p)->count = nout;
        st = ud__wb_send(&w, from);
    } else { /* no room for an answer with a payload: the status alone, from the stack */
        ud__hdr mine;
        ud__hdr_init(&mine, UD__OP_NESTED);
        mine.flags |= UD__F_REPLY;
        mine.aux = h->aux;
        mine.b = h->b;
        mine.status = st;
        st = ud__send_hdr(from, &mine);
    }
    if (st != UD_OK) ud__log(UD_LOG_ERROR, "root: answering a task's call: %s", ud__errbuf);
    if (outs != small) ud__free(outs, (size_t)h->status * sizeof *outs);
    ud__bo.hot_until = ud__now() + UD_MPI_CALL_HOT; /* its task's next call comes soon */
}

/* ---- the monitor --------------------------------------------------------------------------------
   A duty of rank 1 (UD__MONITOR), carried by its loop: owns ud__mon, counts finished tasks,
   answers waits in the order tasks finished (a failed task is done too) and tells the root
   when every submitted task has finished, so shutdown loses nothing. The loop hands it what
   comes for it (ud__mon_take) and gives it a turn (ud__mon_turn); both do nothing on a rank
   without the duty. The worker of its own rank hands it records of tasks done directly. */
/* The root's CLEANUP and a worker's TASK_DONE come from different ranks, in either order: a
   ref cleaned before the monitor heard it was done leaves a tombstone, which its TASK_DONE
   then removes, so the map holds only live refs. */
#define UD__TOMBSTONE ((void *)UINTPTR_MAX)

typedef struct ud__mwait {
    int rank, need, n;
    uint32_t flags;           /* the asker's UD__F_WK, sent back */
    int64_t id;               /* the asker's, sent back: a worker may have several out */
    size_t bytes;             /* of refs */
    double deadline;          /* < 0: none */
    ud__wref *refs;
    struct ud__mwait *next;
} ud__mwait;

static struct ud__monitor {
    ud__map done;             /* ref -> completion order (as a pointer-sized number) */
    uint64_t seq;
    int64_t ntasks, target;
    int shutdown_asked;
    ud__mwait *waits;
    int dirty;                /* tasks finished since the waits were last checked */
    double next_deadline;     /* the earliest deadline of a pending wait (0: none) */
    int stop;
    int64_t *done_by;         /* tasks finished, by the rank the root sent them to */
    int on;                   /* this rank carries the duty */
} ud__mon;

/* Answers w if enough of its refs are done or its time is up; returns 1 when answered. */
static int ud__mon_try_answer(ud__mwait *w, int force_timeout) {
    size_t bytes = (size_t)w->n * sizeof(ud__done);
    ud__done *d = NULL;
    int i, count = 0, k;
    ud__wbuf b;
    ud__hdr *h;
    UD__PATIENTLY((d = (ud__done *)ud__alloc(bytes ? bytes : 1)) != NULL);
    if (!d) ud__panic("monitor (rank %d): out of memory for a wait's answer", ud__net.rank);
    for (i = 0; i < w->n; i++) {
        ud_ref r;
        void *v;
        r.owner = w->refs[i].owner;
        r.num = w->refs[i].num;
        if ((v = ud__map_get(&ud__mon.done, r)) != NULL && v != UD__TOMBSTONE) {
            d[count].seq = (uint64_t)(uintptr_t)v;
            d[count++].idx = (int)w->refs[i].n;
        }
    }
    if (count < w->need && !force_timeout && (w->deadline < 0 || ud__now() < w->deadline)) {
        ud__free(d, bytes ? bytes : 1);
        return 0;
    }
    qsort(d, (size_t)count, sizeof *d, ud__done_cmp);
    k = count < w->need ? count : w->need;
    h = ud__start_or_end(&b, UD__OP_WAIT, "monitor");
    h->count = k;
    h->status = k < w->need ? UD_ERR_TIMEOUT : UD_OK;
    h->flags |= UD__F_REPLY | w->flags;
    h->b = w->id;
    {   /* the indices, then the size codes of the tasks' results: two packed arrays */
        int32_t *idx = (int32_t *)ud__wb_grow(&b, (size_t)k * 2 * sizeof *idx);
        for (i = 0; idx && i < k; i++) {
            idx[i] = d[i].idx;
            idx[k + i] = (int32_t)(d[i].seq & 0xFF);
        }
    }
    ud__or_end(ud__wb_send(&b, w->rank), "monitor");
    ud__free(d, bytes ? bytes : 1);
    return 1;
}

/* Checks the pending waits, only when a task has finished or a deadline has passed. */
static void ud__mon_check_waits(void) {
    ud__mwait **p = &ud__mon.waits;
    if (!ud__mon.dirty && (ud__mon.next_deadline <= 0 || ud__now() < ud__mon.next_deadline)) return;
    ud__mon.dirty = 0;
    ud__mon.next_deadline = 0;
    while (*p) {
        ud__mwait *w = *p;
        if (ud__mon_try_answer(w, 0)) {
            *p = w->next;
            ud__free(w->refs, w->bytes);
            ud__free(w, sizeof *w);
        } else {
            if (w->deadline >= 0 && (ud__mon.next_deadline <= 0 || w->deadline < ud__mon.next_deadline))
                ud__mon.next_deadline = w->deadline;
            p = &w->next;
        }
    }
}

static void ud__mon_check_shutdown(void) {
    if (!ud__mon.shutdown_asked || ud__mon.ntasks < ud__mon.target) return;
    ud__or_end(ud__send_op(UD__ROOT, UD__OP_READY_TO_SHUTDOWN, 0, ud__mon.ntasks, 0, 0), "monitor");
    ud__mon.shutdown_asked = 0;
}

/* The done map's value: the completion order, and the size code of the task's largest result
   in the low byte. */
#define UD__MON_VAL(seq, code) ((void *)(uintptr_t)(((uint64_t)(seq) << 8) | (uint64_t)(code)))

static void ud__mon_reserve(void) {
    int ok;
    UD__PATIENTLY(ok = ud__map_reserve(&ud__mon.done, 1));
    if (!ok) ud__panic("monitor (rank %d): out of memory for its table of tasks done", ud__net.rank);
}

/* count records of TASK_DONE (UD__DONE_REC words each: first number, results, size code) of
   tasks that finished on rank from. */
static void ud__mon_record(const int64_t *rec, int count, int from) {
    int i, k;
    for (i = 0; i < count; i++, rec += UD__DONE_REC) {
        if (rec[1] < 0 || rec[1] > UD__MAX_RESULTS || (rec[1] > 0 && rec[0] <= 0) || rec[2] < 0 ||
            rec[2] > 64 || rec[0] > INT64_MAX - rec[1] * ud__net.size) { /* its numbers overflow */
            ud__log(UD_LOG_ERROR, "monitor: dropped a bad TASK_DONE record from rank %d", from);
            continue;
        }
        for (k = 0; k < rec[1]; k++) {
            ud_ref ref;
            void *v;
            ref.owner = from;
            ref.num = rec[0] + (int64_t)k * ud__net.size;
            if ((v = ud__map_get(&ud__mon.done, ref)) == UD__TOMBSTONE) ud__map_del(&ud__mon.done, ref);
            if (v) continue;
            ud__mon_reserve();
            ud__map_put(&ud__mon.done, ref, UD__MON_VAL(++ud__mon.seq, rec[2]));
        }
        ud__mon.ntasks++;
        ud__mon.done_by[from]++;
    }
    ud__mon.dirty = 1;
}

static void ud__mon_task_done(const ud__hdr *h, int from) {
    ud__rd r = ud__payload(h);
    const int64_t *rec = (const int64_t *)ud__rd_take(&r, (size_t)h->count * UD__DONE_REC * sizeof(int64_t));
    if (!rec || !ud__is_worker(from)) {
        ud__log(UD_LOG_ERROR, "monitor: dropped a malformed TASK_DONE from rank %d", from);
        return;
    }
    ud__mon_record(rec, h->count, from);
}

static void ud__mon_wait(const ud__hdr *h, int from) {
    ud__rd r = ud__payload(h);
    const ud__wref *refs = (const ud__wref *)ud__rd_take(&r, (size_t)h->count * sizeof(ud__wref));
    ud__mwait *w = NULL;
    ud__wref *copy = NULL;
    size_t bytes = (size_t)(refs ? h->count : 0) * sizeof(ud__wref) + 1;
    UD__PATIENTLY((w || (w = (ud__mwait *)ud__alloc(sizeof *w)) != NULL) &&
                  (copy = (ud__wref *)ud__alloc(bytes)) != NULL);
    if (!copy) ud__panic("monitor (rank %d): out of memory for a wait", ud__net.rank);
    w->refs = copy;
    w->bytes = bytes;
    w->rank = from;
    w->flags = h->flags & UD__F_WK;
    w->id = h->b;
    w->need = h->aux;
    w->n = refs ? h->count : 0;
    w->deadline = h->c < 0 ? -1.0 : ud__now() + (double)h->c * 1e-6;
    if (w->n) memcpy(w->refs, refs, (size_t)w->n * sizeof *w->refs);
    if (!refs) { /* answered at once with nothing ready */
        ud__log(UD_LOG_ERROR, "monitor: malformed WAIT from rank %d", from);
        w->need = 0;
    }
    w->next = ud__mon.waits;
    ud__mon.waits = w;
    ud__mon.dirty = 1; /* answer it at once if it can be */
}

static void ud__mon_cleanup(const ud__hdr *h) {
    ud__rd r = ud__payload(h);
    const ud__wref *refs = (const ud__wref *)ud__rd_take(&r, (size_t)h->count * sizeof(ud__wref));
    int i;
    for (i = 0; refs && i < h->count; i++) {
        ud_ref ref;
        ref.owner = refs[i].owner;
        ref.num = refs[i].num;
        if (!ud__is_worker(ref.owner) || ref.num <= 0 || (refs[i].n & UD__WREF_PUT)) continue;
        if (!ud__map_del(&ud__mon.done, ref)) { /* its TASK_DONE is still on the way */
            ud__mon_reserve();
            ud__map_put(&ud__mon.done, ref, UD__TOMBSTONE);
        }
    }
}

/* GET_TASK_COUNT's answer: a = all tasks finished, count = ranks, then the tasks each rank
   was sent that it has finished (the scheduler's load). */
static void ud__mon_counts(int to) {
    ud__wbuf w;
    ud__hdr *h = ud__start_or_end(&w, UD__OP_GET_TASK_COUNT, "monitor");
    h->a = ud__mon.ntasks;
    h->count = ud__net.size;
    ud__wb_add(&w, ud__mon.done_by, (size_t)ud__net.size * sizeof *ud__mon.done_by);
    ud__or_end(ud__wb_send(&w, to), "monitor");
}

/* Only on the monitor's rank: its state. 0 when memory is short. */
static int ud__mon_start(void) {
    size_t bytes = (size_t)ud__net.size * sizeof *ud__mon.done_by;
    memset(&ud__mon, 0, sizeof ud__mon);
    if (!(ud__mon.done_by = (int64_t *)ud__alloc(bytes))) return 0;
    memset(ud__mon.done_by, 0, bytes);
    ud__mon.on = 1;
    return 1;
}

/* What the loop hands the monitor: 1 when it was the monitor's to take (a CLEANUP, which the
   worker takes as well, says 1 too). Nothing on a rank without the duty. */
static int ud__mon_take(const ud__hdr *h, int from) {
    if (!ud__mon.on) return 0;
    switch (h->op) {
    case UD__OP_TASK_DONE: ud__mon_task_done(h, from); return 1;
    case UD__OP_WAIT: ud__mon_wait(h, from); return 1;
    case UD__OP_GET_TASK_COUNT: ud__mon_counts(from); return 1;
    case UD__OP_CLEANUP: ud__mon_cleanup(h); return 1;
    case UD__OP_SHUTDOWN: /* again with a larger count when a task submitted more */
        ud__mon.target = h->a;
        ud__mon.shutdown_asked = 1;
        ud__mon_check_shutdown();
        return 1;
    default: return 0;
    }
}

/* The monitor's turn in its rank's loop: waits with new completions or a passed deadline are
   answered, and shutdown told when every task is done. Nothing on a rank without the duty. */
static void ud__mon_turn(void) {
    if (!ud__mon.on) return;
    if (ud__mon.waits) ud__mon_check_waits();
    ud__mon_check_shutdown();
}

static void ud__mon_stop(void) {
    while (ud__mon.waits) { /* only after a protocol failure */
        ud__mwait *w = ud__mon.waits;
        ud__mon.waits = w->next;
        ud__free(w->refs, w->bytes);
        ud__free(w, sizeof *w);
    }
    ud__map_clear(&ud__mon.done);
    ud__free(ud__mon.done_by, (size_t)ud__net.size * sizeof *ud__mon.done_by);
    memset(&ud__mon, 0, sizeof ud__mon);
}

/* ---- stats and trace ----------------------------------------------------------------------------
   Owns the gathering of every rank's counts (STATS) and of the trace: each rank's clock is put
   on the driver's (at init the driver ping-pongs a few times with every rank and keeps, for
   each, the offset of the round trip that took least time: the one least disturbed), and at
   shutdown every rank's events are gathered to the driver. Writes ud__clock_offset; the
   driver's stats call, a worker's STATS handler and start and stop call it. */
static double *ud__clock_offset; /* the driver's: each rank's clock minus its own */

/* This rank's record, for ud_stats_get. */
static void ud__my_stats(ud_stats *s) {
    *s = ud__st;
    s->rank = ud__net.rank;
    s->host = ud_shm_host(ud__net.rank);
    s->threads = ud__net.threads[ud__net.rank];
    if (ud__net.rank != UD__ROOT || ud__root_runs_tasks()) {
        if (ud__wk.pool.q) ud__pool_stats(&ud__wk.pool, s);
        s->task_seconds += 1e-9 * (double)ud__wk.inline_ns;
    }
    ud__obs_stats(s);
    s->queued = ud__wk.pool.q ? ud__atomic_load(&ud__wk.pool.open) : 0;
}

/* STATS: the root asks (no payload); a worker answers with its ud_stats. */
static void ud__send_stats(int to) {
    ud__wbuf w;
    ud_stats s;
    ud__start_or_end(&w, UD__OP_STATS, "worker");
    ud__my_stats(&s);
    ud__wb_add(&w, &s, sizeof s);
    ud__or_end(ud__wb_send(&w, to), "worker");
}

/* One record a rank, the driver's first; every worker answers one STATS. */
static ud_status ud__mpi_stats(ud_stats *out, int cap, int *n) {
    ud_status st = UD_OK;
    int r, left = 0;
    ud__stage_flush_all();
    ud__root_service();
    *n = cap < ud__net.size ? cap : ud__net.size;
    if (cap > 0) ud__my_stats(&out[0]);
    for (r = 1; r < *n && st == UD_OK; r++, left++) st = ud__send_op(r, UD__OP_STATS, 0, 0, 0, 0);
    while (left > 0 && st == UD_OK) {
        const ud__hdr *h;
        int from;
        ud__rd rd;
        const ud_stats *s;
        if ((st = ud__root_recv(UD__OP_STATS, &h, &from)) != UD_OK) break;
        rd = ud__payload(h);
        if ((s = (const ud_stats *)ud__rd_take(&rd, sizeof *s)) == NULL || from >= *n)
            st = ud__fail(UD_ERR_PROTO, "stats_get: a malformed answer from rank %d", from);
        else out[from] = *s;
        left--;
    }
    return st;
}

/* Collective (when tracing). */
static ud_status ud__clock_sync(void) {
    int r, k;
    double t;
    if (!ud__tracing()) return UD_OK;
    if (ud__net.rank != UD__ROOT) {
        for (k = 0; k < UD__CLOCK_ROUNDS; k++) {
            if (MPI_Recv(&t, 1, MPI_DOUBLE, UD__ROOT, UD__TAG_CLOCK, ud__comm, MPI_STATUS_IGNORE) != MPI_SUCCESS)
                return ud__fail(UD_ERR_MPI, "init: clock sync");
            t = ud__now();
            if (MPI_Send(&t, 1, MPI_DOUBLE, UD__ROOT, UD__TAG_CLOCK, ud__comm) != MPI_SUCCESS)
                return ud__fail(UD_ERR_MPI, "init: clock sync");
        }
        return UD_OK;
    }
    if (!(ud__clock_offset = (double *)ud__alloc((size_t)ud__net.size * sizeof(double))))
        return ud__fail(UD_ERR_NOMEM, "init: out of memory for the trace's clocks");
    ud__clock_offset[0] = 0;
    for (r = 1; r < ud__net.size; r++) {
        double best = 1e30;
        for (k = 0; k < UD__CLOCK_ROUNDS; k++) {
            double t0 = ud__now(), t1, theirs = 0;
            if (MPI_Send(&t0, 1, MPI_DOUBLE, r, UD__TAG_CLOCK, ud__comm) != MPI_SUCCESS ||
                MPI_Recv(&theirs, 1, MPI_DOUBLE, r, UD__TAG_CLOCK, ud__comm, MPI_STATUS_IGNORE) != MPI_SUCCESS)
                return ud__fail(UD_ERR_MPI, "init: clock sync with rank %d", r);
            t1 = ud__now();
            if (t1 - t0 < best) {
                best = t1 - t0;
                ud__clock_offset[r] = theirs - (t0 + t1) / 2;
            }
        }
    }
    return UD_OK;
}

/* Whether every rank may go on: the root's verdict, to all (collective). */
static int ud__root_says(int ok) {
    return MPI_Bcast(&ok, 1, MPI_INT, UD__ROOT, ud__comm) == MPI_SUCCESS && ok;
}

/* The root's events moved onto its clock and written, the run spanning every rank's (a rank
   may enter init before the driver, and leave after it). */
static ud_status ud__trace_write_all(ud__event *all, int m) {
    int k;
    for (k = 0; k < m; k++) {
        ud__event *e = &all[k];
        double off = e->rank >= 0 && e->rank < ud__net.size ? ud__clock_offset[e->rank] : 0;
        e->t0 -= off;
        e->t1 -= off;
        if (e->tid == -1 && e->t0 < ud__tr.start) ud__tr.start = e->t0;
        if (e->tid == -1 && e->t1 > ud__tr.end) ud__tr.end = e->t1;
    }
    return ud__trace_write(all, m, ud__net.size);
}

/* Collective at shutdown (when tracing): every rank's events to the driver, which writes them
   on its clock. A rank's run (start, end) travels as an event of its own, its last. The
   counts are bytes in an int: a rank sends at most its share of INT_MAX bytes (its last
   events dropped, its run kept, and said), and the root's failures to allocate are told to
   every rank, so that all skip the same collectives. */
static ud_status ud__trace_gather(void) {
    int n = 0, k, send, total = 0, *counts = NULL, *displs = NULL;
    int share = (int)(INT_MAX / sizeof(ud__event)) / ud__net.size;
    ud__event *mine, *all = NULL;
    ud_status st = UD_OK;
    if (!ud__tracing()) return UD_OK;
    mine = ud__trace_take_with_run(&n);
    if (share < 1) share = 1;
    if ((send = n < share ? n : share) < n) {
        mine[send - 1] = mine[n - 1];
        ud__log(UD_LOG_WARN, "UNIDIST_TRACE: %d of this rank's %d events dropped (the gather's limit)", n - send, n);
    }
    if (ud__net.rank == UD__ROOT) {
        counts = (int *)ud__alloc((size_t)ud__net.size * sizeof(int));
        displs = (int *)ud__alloc((size_t)ud__net.size * sizeof(int));
    }
    k = send * (int)sizeof(ud__event);
    if (ud__root_says(ud__net.rank != UD__ROOT || (counts && displs)) &&
        MPI_Gather(&k, 1, MPI_INT, counts, 1, MPI_INT, UD__ROOT, ud__comm) == MPI_SUCCESS) {
        for (k = 0; ud__net.rank == UD__ROOT && k < ud__net.size; k++) {
            displs[k] = total;
            total += counts[k];
        }
        if (ud__net.rank == UD__ROOT) all = (ud__event *)ud__alloc((size_t)(total ? total : 1));
        if (ud__root_says(ud__net.rank != UD__ROOT || all) &&
            MPI_Gatherv(mine, send * (int)sizeof(ud__event), MPI_BYTE, all, counts, displs, MPI_BYTE,
                        UD__ROOT, ud__comm) == MPI_SUCCESS && all)
            st = ud__trace_write_all(all, total / (int)sizeof(ud__event));
        else if (ud__net.rank == UD__ROOT)
            st = ud__fail(UD_ERR_NOMEM, "UNIDIST_TRACE: no memory or MPI failed to gather %d bytes of events", total);
    }
    ud__free(all, (size_t)(total ? total : 1));
    ud__free(counts, (size_t)ud__net.size * sizeof(int));
    ud__free(displs, (size_t)ud__net.size * sizeof(int));
    ud__free(mine, (size_t)(n ? n : 1) * sizeof *mine);
    ud__free(ud__clock_offset, (size_t)ud__net.size * sizeof(double));
    ud__clock_offset = NULL;
    return st;
}

/* Info at init, on the driver: ranks, hosts, and what each rank does. */
static void ud__log_topology(void) {
    ud__logline l = {"ranks", "; ", "", 0};
    int r;
    if (ud__rt.cfg.log_level < UD_LOG_INFO) return;
    ud__log(UD_LOG_INFO, "mpi backend: %d ranks, %d workers, %d host%s; rank 0 drives, rank %d monitors",
            ud__net.size, ud__nworkers(), ud__sh.nhosts, ud__sh.nhosts == 1 ? "" : "s", UD__MONITOR);
    for (r = 0; r < ud__net.size; r++) {
        char item[64];
        snprintf(item, sizeof item, "r%d: host %d, %d thread%s", r, ud_shm_host(r), ud__net.threads[r],
                 ud__net.threads[r] == 1 ? "" : "s");
        ud__logline_add(&l, item);
    }
    ud__logline_flush(&l);
}

/* ---- start and stop -----------------------------------------------------------------------------
   Owns MPI's own start and end (when the runtime began it), the communicator, the check that
   every rank agrees (thread level, functions, configuration), who does what, and the backend
   tables: the driver's, and the one for calls inside a task, each rank taking its own once at
   start. ud_init and ud_shutdown call in through the core's backend slot. */
static int ud__mpi_launched(void) { /* set by mpiexec of Open MPI, MPICH (Hydra), PMIx, Slurm */
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMI_RANK", "PMIX_RANK",
                                 "MPI_LOCALNRANKS", "PMI_FD"};
    size_t i;
    for (i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

/* MPI that the runtime started ends when the process does, not at ud_shutdown: the runtime
   may start again in a later phase (MPI cannot), and the host code may use MPI in between. A
   host that finalizes MPI itself first is left alone. */
static void ud__mpi_finalize_if_ours(void) {
    int done = 0;
    MPI_Finalized(&done);
    if (ud__net.owns_mpi && !done) MPI_Finalize();
    ud__net.owns_mpi = 0;
}

static ud_status ud__mpi_ensure_init(void) {
    int init = 0, provided = 0, rc;
    MPI_Initialized(&init);
    if (init) return UD_OK;
    {
        int done = 0;
        MPI_Finalized(&done);
        if (done) return ud__fail(UD_ERR_STATE, "init: MPI was already finalized");
    }
    if ((rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided)) != MPI_SUCCESS)
        return ud__mpi_fail(rc, "MPI_Init_thread");
    ud__net.owns_mpi = 1; /* the level it gives is checked on every rank at start */
    atexit(ud__mpi_finalize_if_ours);
    atexit(ud__exit_guard); /* runs first: a task's exit() must not finalize MPI */
    return UD_OK;
}

static MPI_Comm ud__mpi_base(void) {
    return ud__rt.cfg.mpi_comm ? *(const MPI_Comm *)ud__rt.cfg.mpi_comm : MPI_COMM_WORLD;
}

/* auto: the MPI backend when the launch has 2 or more ranks (the driver and a worker); the
   threads backend without mpiexec or on one rank. */
static int ud__mpi_available(void) {
    int init = 0, size = 0, rc;
    MPI_Initialized(&init);
    if (!init && !ud__mpi_launched()) return 0;
    if (ud__mpi_ensure_init() != UD_OK) return -1;
    if ((rc = MPI_Comm_size(ud__mpi_base(), &size)) != MPI_SUCCESS) { /* not "no MPI": say so */
        ud__mpi_fail(rc, "init: the communicator ud_config.mpi_comm names (MPI_Comm_size)");
        return -1;
    }
    return size >= 2;
}

/* Every rank must have registered the same functions and resolved the same configuration
   (but the log level, which may differ to debug one rank). */
#define UD__CFG_COUNT(kind, field, env, def, doc) +1
enum { UD__NCFG = 0 UD_CONFIG_TABLE(UD__CFG_COUNT) };
#undef UD__CFG_COUNT

typedef struct ud__print {
    uint64_t fns;
    int64_t nfns;
    uint64_t cfg[UD__NCFG];
} ud__print;

static UD__UNUSED uint64_t ud__hash_STR(const char *s) { return XXH3_64bits(s, strlen(s)); }
static UD__UNUSED uint64_t ud__hash_INT(int64_t v) { return (uint64_t)v; }
static UD__UNUSED uint64_t ud__hash_SIZE(uint64_t v) { return v; }
static UD__UNUSED uint64_t ud__hash_BOOL(int v) { return (uint64_t)v; }

/* Settings a rank may hold on its own: the log level, its task threads (the scheduler learns
   each rank's count at init), and what only the driver acts on (the progress line, the stats
   table). The trace is agreed: its clock sync and gather are collective. */
static int ud__cfg_rank_own(const char *env) {
    return !strcmp(env, "UNIDIST_LOG_LEVEL") || !strcmp(env, "UNIDIST_PROGRESS") ||
           !strcmp(env, "UNIDIST_STATS") || !strcmp(env, "UNIDIST_CPUS");
}

static void ud__fingerprint(ud__print *p) {
    int k = 0, i;
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    for (i = 0; i < ud__nfns; i++) { /* a flag changes where a worker runs the task */
        XXH3_64bits_update(&st, &ud__fns[i].id, sizeof ud__fns[i].id);
        XXH3_64bits_update(&st, &ud__fns[i].flags, sizeof ud__fns[i].flags);
    }
    p->fns = XXH3_64bits_digest(&st);
    p->nfns = ud__nfns;
#define UD__CFG_HASH(kind, field, env, def, doc)                                            \
    p->cfg[k++] = ud__cfg_rank_own(env) ? 0 : ud__hash_##kind(ud__rt.cfg.field);
    UD_CONFIG_TABLE(UD__CFG_HASH)
#undef UD__CFG_HASH
}

static const char *ud__cfg_env(int k) {
    static const char *names[] = {
#define UD__CFG_NAME(kind, field, env, def, doc) env,
        UD_CONFIG_TABLE(UD__CFG_NAME)
#undef UD__CFG_NAME
    };
    return names[k];
}

/* Whether the NUL-separated list [p, end) holds name. */
static int ud__names_hold(const char *p, const char *end, const char *name) {
    for (; p < end; p += strlen(p) + 1)
        if (!strcmp(p, name)) return 1;
    return 0;
}

/* When every rank registered the same names: the first function whose flags differ between
   this rank and another, named on every rank (collective; the functions are sorted the same
   way everywhere, so the ranks swap their flags in that order). Without memory for that, or
   with no difference found here, the message names no function. */
static ud_status ud__name_flags_fn(void) {
    size_t n = (size_t)ud__nfns * (size_t)ud__net.size, at = 0;
    unsigned *all = (unsigned *)ud__alloc(n * sizeof *all + 1);
    int i = ud__nfns, r = 0;
    if (ud__all_have(ud__comm, all)) {
        for (i = 0; i < ud__nfns; i++) /* this rank's row, in place */
            all[(size_t)ud__net.rank * (size_t)ud__nfns + (size_t)i] = ud__fns[i].flags;
        MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, all, ud__nfns, MPI_UNSIGNED, ud__comm);
        for (i = 0; i < ud__nfns; i++) {
            for (r = 0; r < ud__net.size; r++) {
                at = (size_t)r * (size_t)ud__nfns + (size_t)i;
                if (all[at] != ud__fns[i].flags) break;
            }
            if (r < ud__net.size) break;
        }
        if (i < ud__nfns)
            ud__fail(UD_ERR_CONFIG, "init: task function '%s' has flags 0x%x on rank %d and 0x%x on "
                     "rank %d (ud_register_flags): give it the same flags on every rank",
                     ud__fns[i].name, ud__fns[i].flags, ud__net.rank, all[at], r);
    }
    ud__free(all, n * sizeof *all + 1);
    if (i < ud__nfns) return UD_ERR_CONFIG;
    return ud__fail(UD_ERR_CONFIG, "init: the ranks registered the same task functions with "
                    "different flags (ud_register_flags): give each the same flags on every rank");
}

/* Names the first function some rank lacks, by name on every rank: the ranks swap the names
   they registered (collective). When none lacks one, their flags differ: that one is named. */
static ud_status ud__name_missing_fn(void) {
    int *lens = (int *)ud__alloc((size_t)ud__net.size * 2 * sizeof(int)), *displs, mine = 0, i, r;
    int found = 0;
    size_t total = 0;
    char *names = NULL, *p;
    ud_status st = UD_ERR_CONFIG;
    for (i = 0; i < ud__nfns; i++) mine += (int)strlen(ud__fns[i].name) + 1;
    if (ud__all_have(ud__comm, lens)) {
        MPI_Allgather(&mine, 1, MPI_INT, lens, 1, MPI_INT, ud__comm);
        for (r = 0; r < ud__net.size; r++) total += (size_t)lens[r];
        names = total < INT_MAX ? (char *)ud__alloc(total + 1) : NULL;
    }
    if (!ud__all_have(ud__comm, names)) { /* NULL everywhere when lens was missing anywhere */
        ud__free(names, total + 1);
        ud__free(lens, (size_t)ud__net.size * 2 * sizeof(int));
        return ud__fail(UD_ERR_NOMEM, "init: out of memory for the task functions' check");
    }
    displs = lens + ud__net.size;
    for (r = 0, total = 0; r < ud__net.size; r++) { displs[r] = (int)total; total += (size_t)lens[r]; }
    for (i = 0, p = names + displs[ud__net.rank]; i < ud__nfns; i++) p += sprintf(p, "%s", ud__fns[i].name) + 1;
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, names, lens, displs, MPI_CHAR, ud__comm);
    for (r = 0; r < ud__net.size && !found; r++) {
        const char *theirs = names + displs[r], *end = theirs + lens[r];
        for (i = 0; i < ud__nfns && !found; i++) /* one of mine that rank r lacks? */
            if ((found = !ud__names_hold(theirs, end, ud__fns[i].name)))
                ud__fail(st, "init: task function '%s' is registered on rank %d but not on rank %d",
                         ud__fns[i].name, ud__net.rank, r);
        for (p = names + displs[r]; p < end && !found; p += strlen(p) + 1)
            if ((found = !ud__find_fn(ud_func_id(p)))) /* one of rank r's that I lack? */
                ud__fail(st, "init: task function '%s' is registered on rank %d but not on rank %d",
                         p, r, ud__net.rank);
    }
    ud__free(names, total + 1);
    ud__free(lens, (size_t)ud__net.size * 2 * sizeof(int));
    return found ? st : ud__name_flags_fn(); /* found on every rank or on none */
}

static ud_status ud__check_agreement(void) {
    ud__print mine, *all = (ud__print *)ud__alloc((size_t)ud__net.size * sizeof *all);
    int r, k, rc;
    ud_status st = UD_OK;
    if (!ud__all_have(ud__comm, all)) {
        ud__free(all, (size_t)ud__net.size * sizeof *all);
        return ud__fail(UD_ERR_NOMEM, "init: out of memory for the configurations' check (on this rank or another)");
    }
    ud__fingerprint(&mine);
    rc = MPI_Allgather(&mine, (int)sizeof mine, MPI_BYTE, all, (int)sizeof mine, MPI_BYTE, ud__comm);
    if (rc != MPI_SUCCESS) st = ud__mpi_fail(rc, "init: MPI_Allgather");
    for (r = 0; r < ud__net.size && st == UD_OK; r++)
        for (k = 0; k < UD__NCFG; k++)
            if (all[r].cfg[k] != all[0].cfg[k]) {
                st = ud__fail(UD_ERR_CONFIG, "init: %s differs between rank 0 and rank %d",
                              ud__cfg_env(k), r);
                break;
            }
    for (r = 0; r < ud__net.size && st == UD_OK; r++)
        if (all[r].fns != all[0].fns || all[r].nfns != all[0].nfns) st = ud__name_missing_fn();
    ud__free(all, (size_t)ud__net.size * sizeof *all);
    return st;
}

/* Who does what: rank 0 drives and every other rank runs tasks, on the task threads it
   starts, as does rank 0 when it has task threads (the last worker); rank 1 carries the root
   monitor's duty too, and the lowest rank but the driver of each host its shared store's
   (unidist_shm.h). Collective: every rank learns how many task threads each has. */
static ud_status ud__mpi_roles(int threads) {
    int r, rc;
    ud__net.workers = (int *)ud__alloc((size_t)ud__net.size * 3 * sizeof(int));
    if (!ud__all_have(ud__comm, ud__net.workers)) {
        ud__free(ud__net.workers, (size_t)ud__net.size * 3 * sizeof(int));
        ud__net.workers = NULL;
        return ud__fail(UD_ERR_NOMEM, "init: out of memory for the ranks' table (on this rank or another)");
    }
    ud__net.threads = ud__net.workers + ud__net.size;
    ud__net.pending_to = ud__net.threads + ud__net.size;
    memset(ud__net.pending_to, 0, (size_t)ud__net.size * sizeof(int));
    ud__net.nworkers = 0;
    for (r = UD__ROOT + 1; r < ud__net.size; r++) ud__net.workers[ud__net.nworkers++] = r;
    rc = MPI_Allgather(&threads, 1, MPI_INT, ud__net.threads, 1, MPI_INT, ud__comm);
    if (rc != MPI_SUCCESS) return ud__mpi_fail(rc, "init: MPI_Allgather");
    if (ud__net.threads[UD__ROOT] > 0) ud__net.workers[ud__net.nworkers++] = UD__ROOT; /* the last */
    return UD_OK;
}

/* Task threads for this rank: UNIDIST_CPUS, or the cores of its affinity mask shared out
   among the ranks of its machine whose masks meet it (bound ranks keep their cores, unbound
   ones split them); -1 when a rank of the machine is out of memory. Collective over machine. */
static int ud__task_threads(MPI_Comm machine, int *cores, int *share) {
    uint64_t mine[UD__CPU_WORDS], *all;
    int n = 1, r, k, sharers = 0;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    *cores = ud__cpu_mask(mine);
    MPI_Comm_size(machine, &n);
    *share = online > n ? (int)(online / n) : 1; /* the host's cores over its ranks */
    all = (uint64_t *)ud__alloc((size_t)n * sizeof mine);
    if (!ud__all_have(machine, all)) {
        ud__free(all, (size_t)n * sizeof mine);
        return -1;
    }
    MPI_Allgather(mine, UD__CPU_WORDS, MPI_UINT64_T, all, UD__CPU_WORDS, MPI_UINT64_T, machine);
    for (r = 0; r < n; r++) {
        int meets = 0;
        for (k = 0; k < UD__CPU_WORDS; k++) meets |= (all[r * UD__CPU_WORDS + k] & mine[k]) != 0;
        sharers += meets;
    }
    ud__free(all, (size_t)n * sizeof mine);
    if (ud__rt.cfg.cpus > 0) return (int)ud__rt.cfg.cpus;
    return sharers > 0 && *cores / sharers > 1 ? *cores / sharers : 1;
}

#if defined(OMPI_MAJOR_VERSION)
#define UD__UNBIND "mpiexec --bind-to none, or --map-by slot:PE=%d"
#elif defined(MPICH_VERSION)
#define UD__UNBIND "mpiexec -bind-to none, or -bind-to core:%d"
#else
#define UD__UNBIND "your launcher's option to bind each rank to %d cores, or to none"
#endif

/* A rank bound to fewer cores than its share of its host (the launcher's binding: Open MPI
   binds each rank to one core at 2 ranks) runs its task threads on those alone, as does
   UNIDIST_CPUS above them: the lowest such rank says so, and how to launch instead, once a
   job, whatever the phases. Collective over comm. */
static void ud__warn_cpus(int cores, int share) {
    static int said; /* (on every rank once one did: an earlier phase said it for the job) */
    int want = ud__rt.cfg.cpus > 0 ? (int)ud__rt.cfg.cpus : share, before = said;
    int over = ud__net.rank != UD__ROOT && want > cores ? ud__net.rank : INT_MAX;
    MPI_Allreduce(MPI_IN_PLACE, &over, 1, MPI_INT, MPI_MIN, ud__comm);
    MPI_Allreduce(MPI_IN_PLACE, &before, 1, MPI_INT, MPI_MAX, ud__comm);
    if (over == INT_MAX || before) return;
    said = 1;
    if (over != ud__net.rank) return;
    if (ud__rt.cfg.cpus > 0)
        ud__log(UD_LOG_WARN, "UNIDIST_CPUS=%lld is more than the %d core%s rank %d may use: its "
                "task threads will share them (launch with " UD__UNBIND ")", (long long)ud__rt.cfg.cpus,
                cores, cores == 1 ? "" : "s", ud__net.rank, want);
    else
        ud__log(UD_LOG_WARN, "rank %d is bound to %d core%s, fewer than its share of its host (%d): its "
                "task threads have %s alone (launch with " UD__UNBIND ")", ud__net.rank, cores,
                cores == 1 ? "" : "s", share, cores == 1 ? "it" : "them", share);
}

static const char *ud__thread_level_name(int level) {
    return level == MPI_THREAD_SINGLE ? "MPI_THREAD_SINGLE" : level == MPI_THREAD_FUNNELED ? "MPI_THREAD_FUNNELED"
         : level == MPI_THREAD_SERIALIZED ? "MPI_THREAD_SERIALIZED" : level == MPI_THREAD_MULTIPLE ? "MPI_THREAD_MULTIPLE"
         : "an unknown level";
}

/* Worker ranks run tasks on threads while one thread calls MPI: every rank needs
   MPI_THREAD_FUNNELED at least. Collective: all ranks fail together, naming the lowest. */
static ud_status ud__check_thread_level(void) {
    struct { int level, rank; } mine, low;
    MPI_Query_thread(&mine.level);
    mine.rank = ud__net.rank;
    if (MPI_Allreduce(&mine, &low, 1, MPI_2INT, MPI_MINLOC, ud__comm) != MPI_SUCCESS)
        return ud__fail(UD_ERR_MPI, "init: MPI_Allreduce of the thread levels failed");
    if (low.level >= MPI_THREAD_FUNNELED) return UD_OK;
    return ud__fail(UD_ERR_CONFIG, "init: the MPI backend needs MPI_THREAD_FUNNELED on every rank "
                    "(worker ranks run tasks on threads while one thread calls MPI), but MPI gives "
                    "%s on rank %d: initialize MPI with MPI_Init_thread(..., MPI_THREAD_FUNNELED or "
                    "higher, ...)", ud__thread_level_name(low.level), low.rank);
}

/* Operations still on their way once every rank has stopped (a STEAL that crossed the end
   of the run, say): taken off the wire, so that the communicator goes away empty. */
static void ud__drain_stray(void) {
    const ud__hdr *h;
    int from, got;
    while ((got = ud__try_recv(MPI_ANY_SOURCE, &h, &from)) != 0)
        if (got > 0) UD__DEBUG("dropped a late %s from rank %d", ud__op_name(h->op), from);
}

static void ud__mpi_teardown(void) {
    if (ud__comm != MPI_COMM_NULL) {
        ud__shm_close(); /* collective over the host: every rank gets here */
        MPI_Barrier(ud__comm); /* nobody leaves while a peer may still talk to it */
        ud__drain_stray();
        /* the driver's sends to its own worker part, received just now: completed */
        while (ud__net.nreqs && ud__async_test(ud__net.nreqs)) {}
        MPI_Comm_free(&ud__comm);
    }
    ud__comm = MPI_COMM_NULL;
    ud__free(ud__net.rbuf, ud__net.rcap);
    ud__free(ud__net.reqs, (size_t)ud__net.capreqs * sizeof *ud__net.reqs);
    ud__free(ud__net.recs, (size_t)ud__net.capreqs * sizeof *ud__net.recs);
    ud__free(ud__net.idx, (size_t)ud__net.capreqs * sizeof *ud__net.idx);
    ud__free(ud__net.sts, (size_t)ud__net.capreqs * sizeof *ud__net.sts);
    ud__free(ud__net.workers, (size_t)ud__net.size * 3 * sizeof(int));
    ud__net.workers = ud__net.threads = ud__net.pending_to = NULL;
    ud__net.nworkers = 0;
    ud__net.sts = NULL;
    ud__net.rbuf = NULL;
    ud__net.reqs = NULL;
    ud__net.recs = NULL;
    ud__net.idx = NULL;
    ud__net.rcap = 0;
    ud__net.nreqs = ud__net.capreqs = 0;
    ud__abort_hook = NULL;
}

/* Every rank learns whether every rank's step went well; a rank that failed keeps its own
   message, the others name it. Collective. */
static ud_status ud__all_ok(ud_status st, const char *what) {
    struct { int rank, status; } mine, bad;
    mine.rank = st == UD_OK ? INT_MAX : ud__net.rank;
    mine.status = (int)st;
    MPI_Allreduce(&mine, &bad, 1, MPI_2INT, MPI_MINLOC, ud__comm);
    if (bad.rank == INT_MAX || st != UD_OK) return st;
    return ud__fail((ud_status)bad.status, "init: rank %d could not %s (%s)", bad.rank, what,
                    ud_status_str((ud_status)bad.status));
}

/* The root's store and the scheduler's view: 5 counts a rank (tasks sent, done as the monitor
   and the root saw it, answers due late, RUNNING unanswered), 2 scores a rank, a score a host. */
static ud_status ud__root_start(void) {
    size_t n = (size_t)ud__net.size;
    memset(&ud__root, 0, sizeof ud__root);
    ud__root.next_num = ud__run_first();
    ud__root.last = -1;
    ud__root.rent_bytes = sizeof(ud__rent) + (size_t)((ud__net.size + 63) / 64) * sizeof(uint64_t);
    ud__root.assigned = (int64_t *)ud__alloc(5 * n * sizeof(int64_t));
    ud__root.score = (double *)ud__alloc((n + (size_t)ud__sh.nhosts + 1) * sizeof(double));
    ud__root.stage = (ud__stage *)ud__alloc(n * sizeof *ud__root.stage);
    if (!ud__root.assigned || !ud__root.score || !ud__root.stage) {
        ud__free(ud__root.assigned, 5 * n * sizeof(int64_t));
        ud__free(ud__root.score, (n + (size_t)ud__sh.nhosts + 1) * sizeof(double));
        ud__free(ud__root.stage, n * sizeof *ud__root.stage);
        memset(&ud__root, 0, sizeof ud__root);
        return ud__fail(UD_ERR_NOMEM, "init: out of memory for the scheduler");
    }
    memset(ud__root.stage, 0, n * sizeof *ud__root.stage);
    memset(ud__root.assigned, 0, 5 * n * sizeof(int64_t));
    ud__root.done_mon = ud__root.assigned + n;
    ud__root.done_seen = ud__root.done_mon + n;
    ud__root.late = ud__root.done_seen + n;
    ud__root.running_due = ud__root.late + n;
    ud__net.before_send = ud__stage_flush_to;
    ud__net.sends_done = ud__stage_flush_ready;
    return UD_OK;
}

static void ud__root_stop(void) {
    size_t i, n = (size_t)ud__net.size;
    for (i = 0; i < ud__root.map.cap; i++)
        if (ud__root.map.slots[i].key.num) {
            ud__rent *e = (ud__rent *)ud__root.map.slots[i].val;
            ud__obj_release(e->obj);
            ud__free(e, ud__root.rent_bytes);
        }
    ud__map_clear(&ud__root.map);
    ud__free(ud__root.garbage, ud__root.capgarbage * sizeof *ud__root.garbage);
    ud__free(ud__root.later, ud__root.caplater * sizeof *ud__root.later);
    ud__free(ud__root.assigned, 5 * n * sizeof(int64_t));
    ud__free(ud__root.score, (n + (size_t)ud__sh.nhosts + 1) * sizeof(double));
    for (i = 0; ud__root.stage && i < n; i++) ud__free(ud__root.stage[i].p, ud__root.stage[i].cap);
    ud__free(ud__root.stage, n * sizeof *ud__root.stage);
    ud__net.before_send = NULL;
    ud__net.sends_done = NULL;
    memset(&ud__root, 0, sizeof ud__root);
}

/* Init's collective steps: every rank takes part in each, and they fail together. */
static ud_status ud__mpi_setup(int *threads) {
    ud_status st;
    MPI_Comm machine;
    int rc, cores = 1, share = 1;
    if ((st = ud__check_thread_level()) != UD_OK) return st;
    if (ud__net.size < 2)
        return ud__fail(UD_ERR_CONFIG, "init: the MPI backend needs 2 or more ranks (the driver "
                        "and a worker); this communicator has %d", ud__net.size);
    if ((rc = MPI_Comm_split_type(ud__comm, MPI_COMM_TYPE_SHARED, ud__net.rank, MPI_INFO_NULL,
                                  &machine)) != MPI_SUCCESS)
        return ud__mpi_fail(rc, "init: MPI_Comm_split_type");
    /* the ranks of this machine: the backoff, the task threads and the shared store ask */
    ud__idle_setup(machine);
    rc = ud__task_threads(machine, &cores, &share); /* collective over the machine */
    /* the driver's rank: one core of its share, or of UNIDIST_CPUS, is the program's thread */
    *threads = ud__net.rank == UD__ROOT && rc > 0 ? rc - 1 : rc;
    st = rc < 0 ? ud__fail(UD_ERR_NOMEM, "init: out of memory for the cores' masks") : UD_OK;
    if ((st = ud__all_ok(st, "count its cores")) == UD_OK &&
        (st = ud__all_ok(ud__net.rank == UD__ROOT ? ud__trace_check() : UD_OK, "open the trace file")) == UD_OK &&
        (st = ud__check_agreement()) == UD_OK &&
        (st = ud__mpi_roles(*threads)) == UD_OK &&
        (st = ud__shm_open(ud__comm, machine, ud__net.rank, ud__net.size, ud__net.threads[UD__ROOT] > 0,
                           &ud__rt.cfg)) == UD_OK &&
        (st = ud__all_ok(ud__clock_sync(), "sync clocks")) == UD_OK)
        ud__warn_cpus(cores, share);
    MPI_Comm_free(&machine);
    return st;
}

static const ud__backend *ud__mpi_in_task(void);

static ud_status ud__mpi_start(ud_role *role) {
    ud_status st;
    int rc, threads = 0;
    if ((st = ud__mpi_ensure_init()) != UD_OK) return st;
    if ((rc = MPI_Comm_dup(ud__mpi_base(), &ud__comm)) != MPI_SUCCESS) {
        return ud__mpi_fail(rc, "init: MPI_Comm_dup");
    }
    MPI_Comm_set_errhandler(ud__comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(ud__comm, &ud__net.rank);
    MPI_Comm_size(ud__comm, &ud__net.size);
    ud__rt.rank = ud__net.rank;
    ud__abort_hook = ud__mpi_abort;
    memset(&ud__st, 0, sizeof ud__st);
    if ((st = ud__mpi_setup(&threads)) == UD_OK) {
        if (!ud__async_room() || !ud__rbuf_fit(UD__RBUF_MIN, 0))
            st = ud__fail(UD_ERR_NOMEM, "init: out of memory for the tables of sends and receives");
        else if (ud__net.rank == UD__ROOT && (st = ud__root_start()) == UD_OK && (st = ud__rl_start()) == UD_OK &&
                 threads > 0 && (st = ud__wk_start(threads)) == UD_OK)
            ud__root_wk = 1; /* its loop carries a worker's duties too */
        else if (ud__net.rank != UD__ROOT)
            st = ud__wk_start(threads);
        st = ud__all_ok(st, "start");
    }
    if (ud__net.rank == UD__ROOT && ud__atomic_load(&ud__rl.running)) ud__rl_go(st == UD_OK);
    if (st != UD_OK) {
        ud__free(ud__clock_offset, ud__clock_offset ? (size_t)ud__net.size * sizeof(double) : 0);
        ud__clock_offset = NULL;
        ud__root_wk = 0;
        if (ud__net.rank == UD__ROOT && ud__root.assigned) ud__root_stop();
        if (ud__wk.pool.q) ud__pool_stop(&ud__wk.pool);
        if (ud__net.rank != UD__ROOT || ud__in.poke) ud__wk_stop();
        ud__mpi_teardown();
        return st;
    }
    if (ud__net.rank == UD__ROOT) {
        *role = UD_ROLE_DRIVER;
        if (ud__root_wk) ud__atomic_store(&ud__rt.nested, 1); /* its tasks may call the API */
        ud__log_topology();
        return UD_OK;
    }
    *role = ud__net.rank == UD__MONITOR ? UD_ROLE_MONITOR : UD_ROLE_WORKER;
    ud__rt.be = ud__mpi_in_task(); /* chosen once: this rank's calls are its tasks' */
    ud__bo.nap = ud__wk_nap;
    ud__bo.unstarted = &ud__wk.pool.open;
    ud__atomic_store(&ud__rt.nested, 1); /* its tasks may call the API now */
    ud__in_runtime = 1;
    ud__rank_loop();
    ud__in_runtime = 0;
    ud__atomic_store(&ud__rt.nested, 0);
    ud__wk_stop();
    (void)ud__trace_gather(); /* the driver writes the trace, and says how it went */
    ud__mpi_teardown();
    return UD_OK;
}

/* Shutdown has waited this long for tasks: say so, and ask every worker what it still runs
   (each answer is logged as it comes, by ud__root_running). */
static void ud__root_ask_running(double waited) {
    int k;
    ud__log(UD_LOG_WARN, "shutdown has waited %.0f s for tasks to finish (%lld submitted); asking "
            "the workers which still run", waited, (long long)ud__root.submitted);
    for (k = 0; k < ud__nworkers(); k++) {
        int w = ud__net.workers[k];
        if (ud__root.running_due[w]) { /* its loop has not come back to answer the last time */
            ud__log(UD_LOG_WARN, "shutdown waits for rank %d: its loop has not answered for %.0f s: "
                    "a UD_FN_INLINE task that does not return holds it", w, waited - (double)ud__root.running_due[w]);
            continue;
        }
        if (ud__send_op(w, UD__OP_RUNNING, 0, 0, 0, 0) != UD_OK)
            ud__log(UD_LOG_WARN, "shutdown: asking rank %d: %s", w, ud__errbuf);
        else
            ud__root.running_due[w] = waited >= 1 ? (int64_t)waited : 1;
    }
}

static ud_status ud__mpi_stop(void) {
    ud_status st = UD_OK;
    int r;
    /* every submitted task finishes before anyone leaves its loop; a task may submit more
       meanwhile, which raises the count the monitor waits for (ud__root_nested_remote) */
    ud__root.stopping = 1;
    ud__stage_flush_all();
    if ((st = ud__send_op(UD__MONITOR, UD__OP_SHUTDOWN, 0, ud__root.submitted, 0, 0)) == UD_OK) {
        const ud__hdr *h;
        int from;
        double every = (double)ud__rt.cfg.shutdown_warn, since = ud__now();
        double next = every > 0 ? since + every : 0;
        for (;;) { /* not silently: now and then, which tasks it waits for, and where */
            st = ud__root_recv_until(UD__OP_READY_TO_SHUTDOWN, &h, &from, next);
            if (st == UD_ERR_TIMEOUT) {
                ud__root_ask_running(ud__now() - since);
                next += every;
                continue;
            }
            if (st != UD_OK || h->a == ud__root.submitted) break;
        }
    }
    for (r = UD__ROOT + 1; r < ud__net.size; r++)
        if (ud__send_op(r, UD__OP_CANCEL, 0, 0, 0, 0) != UD_OK && st == UD_OK) st = UD_ERR_MPI;
    if (ud__root_runs_tasks()) { /* its own worker part, as a CANCEL would end it */
        ud__root_wk = 0;
        ud__wk.stop = 1;
        ud__wk_finish(); /* (its tasks may call meanwhile, as a worker's do in its wind-down) */
        ud__wk_stop();
        ud__atomic_store(&ud__rt.nested, 0);
    }
    ud__async_drain();
    ud__shm_quiet();
    ud__root_stop();
    {
        ud_status tr = ud__trace_gather();
        if (st == UD_OK) st = tr; /* the run went well, but its trace could not be written */
    }
    ud__mpi_teardown();
    return st;
}

static int ud__mpi_num_workers(void) { return ud__nworkers(); }
static int ud__mpi_rank(void) { return ud__net.rank; }
static int ud__mpi_worker_host(int w) { return ud_shm_host(ud__net.workers[w]); }
static int ud__mpi_worker_threads(int w) { return ud__net.threads[ud__net.workers[w]]; }
static int ud__mpi_worker_rank(int w) { return ud__net.workers[w]; }
static int ud__mpi_worker_id(void) { return ud__net.rank == UD__ROOT ? ud__nworkers() - 1 : ud__net.rank - 1; }

/* Host 0 is the driver's, which has workers only when a second rank shares it. */
static int ud__mpi_num_hosts(void) { return ud__sh.nhosts; }

/* The driver's calls: what the core finds in its slot, and rank 0 keeps. */
static const ud__backend ud__mpi_backend = {
    "mpi", ud__mpi_available, ud__mpi_start, ud__drv_stop, ud__drv_put, ud__drv_get,
    ud__drv_wait, ud__drv_remote, ud__drv_free, ud__mpi_num_workers, ud__mpi_rank,
    ud__mpi_num_hosts, ud__mpi_worker_host, ud__mpi_worker_threads, ud__mpi_worker_id, ud__drv_stats,
    ud__mpi_worker_rank,
};

/* Calls inside a task on a worker: the driver's table, but for a task's put, get, wait, remote
   and free, which go to its rank's loop (ud__nest_*). Every other rank takes it once, at start,
   before any task runs. */
static const ud__backend *ud__mpi_in_task(void) {
    static ud__backend be;
    be = ud__mpi_backend;
    be.put = ud__nest_put;
    be.get = ud__nest_get;
    be.wait = ud__nest_wait;
    be.remote = ud__nest_remote;
    be.free = ud__nest_free;
    return &be;
}

/* The core finds the backend through this slot, filled before main runs. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((constructor)) static void ud__mpi_register(void) { ud__mpi_backend_slot = &ud__mpi_backend; }
#else
#error "unidist_mpi.h: needs a compiler with __attribute__((constructor)) (gcc, clang, icx, nvc)"
#endif

#endif /* UD_MPI_IMPLEMENTATION */
