/* unidist.h - v0.1.0 - task-parallel runtime: core and threads backend - Apache-2.0 (see end)

   USAGE
     In exactly one C or C++ file:
         #define UNIDIST_IMPLEMENTATION
         #include "unidist.h"        (or "unidist_mpi.h" for the MPI backend)
     Everywhere else just #include "unidist.h". Build with -std=gnu11 (or -std=c11 and
     -D_POSIX_C_SOURCE=200809L) and -pthread; xxHash 0.8 or later (its header only) must be on
     the include path. The threads backend needs this file alone; the MPI backend needs
     unidist.h, unidist_mpi.h and unidist_shm.h side by side, built with mpicc, and every rank
     initialized with at least MPI_THREAD_FUNNELED. The single amalgamated header holds all
     three: define UD_ENABLE_MPI before including it for the MPI backend. The file that holds
     the implementation may be C++ (11 or later); unidist.hpp has optional C++ helpers.

     A driver puts immutable objects, submits tasks that run on workers, waits for and gets
     their results. Every object is addressed by a ud_ref (owner, number):

         static int square(ud_task *t) {
             ud_view a; ud_task_arg(t, 0, &a);
             int x = *(const int *)a.data;
             int *y = ud_task_result(t, 0, sizeof *y);
             if (!y) return -1;
             *y = x * x;
             return 0;
         }
         ...
         ud_register("square", square, NULL, &fsquare);   (every process, before init)
         ud_init(NULL, &role);
         ud_put(&five, sizeof five, &r);
         ud_arg a = ud_arg_ref(r);
         ud_remote(fsquare, &a, 1, 1, &out);
         ud_get(out, &v);                                 (*(const int *)v.data == 25)
         ud_free(r); ud_free(out);
         ud_shutdown();

   COMPILE-TIME OPTIONS (define before the implementation)
     UD_STATIC                  every function static, to embed the library twice
     UD_MALLOC/UD_REALLOC/UD_FREE  the allocator (all three or none)
     UD_DEBUG=0                 compile debug log lines out (by default they are in, behind
                                one branch on UNIDIST_LOG_LEVEL)
     and one default per configuration variable: UD_BACKEND, UD_CPUS, UD_LOG_LEVEL, ...
     (the table UD_CONFIG_TABLE below lists them).

   ENVIRONMENT
     Every variable of UD_CONFIG_TABLE (UNIDIST_BACKEND, UNIDIST_CPUS, UNIDIST_LOG_LEVEL, ...)
     overrides both its compile-time default and the ud_config given to ud_init. Sizes accept
     K, M and G. A value that does not parse is an error naming the variable.

   THREAD SAFETY
     The threads backend's API may be called from any thread of the driver. Task functions
     run on task threads (the threads backend's workers, or an MPI worker rank's pool); they
     use only the ud_task_* calls on their context. The MPI backend's API is called from the
     driver's thread (one thread at a time).

   ERRORS
     Every call that can fail returns a ud_status: UD_OK (0) or a negative code.
     ud_status_str() names it; ud_last_error() holds the detail of the calling thread's last
     failure ("get: ref 0:17 was freed"). Like errno, it is meaningful only right after a call
     that did not return UD_OK: a call that succeeds leaves it as it was. Bad arguments return
     UD_ERR_ARG in every build. A failed task is a value: get of its results returns
     UD_ERR_TASK with its message.

   ALIGNMENT
     A buffer ud_task_result or ud_task_result_parts hands out is 16-byte aligned (64 in the
     MPI backend's shared store); every part a view shows (ud_get, ud_task_arg) is at least
     8-byte aligned, on every backend and wherever the object came from.

   CONTENTS (the declarations, then the implementation's sections: the building blocks a task
   uses, then the API that submits it and the backend that runs it on the pool; each
   implementation section opens with what it owns, the state it writes and who calls it)
     status codes                    ud_status and its values
     configuration                   ud_config, the UD_CONFIG_TABLE of settings, their defaults
     objects, refs, tasks            ud_ref, ud_part, ud_view, ud_arg, ud_opts, ud_task_fn
     the API                         init, put, remote, get, wait, free, shutdown, registry
     what the runtime did            ud_stats and the calls that read it
     inside a task                   the ud_task_* calls of a running task
     errors                          the last error text and the status names
     runtime state shared by the modules   the resolved configuration and the backend in use
     logging                         the log hook, levels and packed info lines
     memory                          the allocator hooks, growing tables, the clock
     configuration: resolving it     a ud_config and the environment made into the settings
     function registry               the registered task functions
     the object store's map          DataID -> pointer, for every backend's store
     the block cache                 freed large blocks kept for the next objects
     objects                         an object's allocation, copy, views and release
     the task context                a running task's context and its ud_task_* calls
     trace                           per-thread events, written as Chrome trace events
     progress                        the progress line
     the task pool                   task threads, their queues and their sleep
     cores                           the CPUs this process may use
     the public API                  argument checks, then the backend in use
     the threads backend             one process: the store under a lock, the pool (seed 002)
*/
#ifndef UNIDIST_H
#define UNIDIST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#if defined(UD_STATIC) && defined(__GNUC__)
#define UD_API static __attribute__((unused)) /* a program need not call every function */
#elif defined(UD_STATIC)
#define UD_API static
#else
#define UD_API extern
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define UD_VERSION_MAJOR 0
#define UD_VERSION_MINOR 1
#define UD_VERSION_PATCH 0
#define UD_VERSION_STRING "0.1.0"

/* ---- status codes ---------------------------------------------------------------------------- */
#define UD_STATUS_TABLE(X)                                                      \
    X(UD_OK,           0, "ok")                                                 \
    X(UD_ERR_ARG,     -1, "bad argument")                                       \
    X(UD_ERR_STATE,   -2, "not allowed in the runtime's current state")         \
    X(UD_ERR_FREED,   -3, "ref was freed")                                      \
    X(UD_ERR_NOREF,   -4, "ref was never issued")                               \
    X(UD_ERR_NOFUNC,  -5, "unknown task function")                              \
    X(UD_ERR_TASK,    -6, "task failed")                                        \
    X(UD_ERR_TIMEOUT, -7, "timed out")                                          \
    X(UD_ERR_NOMEM,   -8, "out of memory")                                      \
    X(UD_ERR_CONFIG,  -9, "bad configuration")                                  \
    X(UD_ERR_MPI,    -10, "MPI error")                                          \
    X(UD_ERR_DUP,    -11, "duplicate name")                                     \
    X(UD_ERR_SIZE,   -12, "buffer too small")                                   \
    X(UD_ERR_PROTO,  -13, "protocol error")                                     \
    X(UD_ERR_INTERNAL, -14, "internal error")

typedef enum ud_status {
#define UD__STATUS_ENUM(name, value, text) name = value,
    UD_STATUS_TABLE(UD__STATUS_ENUM)
#undef UD__STATUS_ENUM
    UD_STATUS_LAST_ = -15
} ud_status;

UD_API const char *ud_status_str(ud_status s);   /* "UD_ERR_FREED: ref was freed" */
UD_API const char *ud_last_error(void);          /* detail of this thread's last failure
                                                    (a later success leaves it as it was) */
UD_API const char *ud_version(void);             /* UD_VERSION_STRING */

/* ---- configuration ------------------------------------------------------------------------------
   One row a tunable: kind, field, environment variable, compile-time default, doc.
   Precedence: compile-time default < field of the ud_config given to init, when set
   < environment variable. In a ud_config filled by ud_config_init every field is UD_UNSET
   and any other value, 0 too, is set; in a zeroed ud_config (the older way, still read so)
   a field of 0, NULL or "" is unset, so 0 cannot be asked for there. */
#define UD_CONFIG_TABLE(X)                                                                  \
    X(STR,  backend,   "UNIDIST_BACKEND",   UD_BACKEND,   "backend: auto, threads or mpi")  \
    X(INT,  cpus,      "UNIDIST_CPUS",      UD_CPUS,      "task threads: the threads backend's workers, or each MPI worker rank's, one less on the driver's rank (0: the cores of the process's affinity, shared out among the ranks of its machine)") \
    X(INT,  log_level, "UNIDIST_LOG_LEVEL", UD_LOG_LEVEL, "log threshold: 0 off, 1 error, 2 warn, 3 info, 4 debug") \
    X(STR,  scheduler, "UNIDIST_SCHEDULER", UD_SCHEDULER, "where tasks run: auto (near their data, idle workers take queued tasks from busy ones) or round_robin (the next worker in turn, nothing moves after)") \
    X(SIZE, sched_locality_min, "UNIDIST_SCHED_LOCALITY_MIN", UD_SCHED_LOCALITY_MIN, "auto scheduler: an argument of fewer bytes than this does not draw its task to where it lives") \
    X(INT,  spin_us,   "UNIDIST_SPIN_US",   UD_SPIN_US,   "microseconds an idle task thread keeps looking for work, yielding its core, before it sleeps") \
    X(SIZE, task_stack, "UNIDIST_TASK_STACK", UD_TASK_STACK, "bytes of stack a task thread reserves: a task waiting in a nested get runs the tasks it waits for on it while they have not started, within three quarters of it (0, or less than the system allows: the system's default)") \
    X(INT,  task_waits, "UNIDIST_TASK_WAITS", UD_TASK_WAITS, "tasks of a process that may wait in a nested get or wait at once, each holding a thread while another runs its queue; one more fails its call, saying so (1..1000000)") \
    X(INT,  task_depth, "UNIDIST_TASK_DEPTH", UD_TASK_DEPTH, "nesting depth a task may submit at: a task at this depth (the driver's tasks are at 1) fails its remote, naming the depth (1..1000000)") \
    X(INT,  mpi_backoff, "UNIDIST_MPI_BACKOFF", UD_MPI_BACKOFF, "MPI: longest sleep in microseconds of an idle process between polls") \
    X(INT,  mpi_yield, "UNIDIST_MPI_YIELD", UD_MPI_YIELD, "MPI: a waiting process yields its core once every this many polls (0: every other poll if its machine has more ranks than cores and MPI does not yield by itself, else never)") \
    X(INT,  mpi_gc_threshold, "UNIDIST_MPI_GC_THRESHOLD", UD_MPI_GC_THRESHOLD, "MPI: freed refs the root batches before it sends a cleanup") \
    X(INT,  mpi_batch, "UNIDIST_MPI_BATCH", UD_MPI_BATCH, "MPI: tasks the driver sends a worker in one message at most, while its earlier sends to that worker are still in flight (1: one a message)") \
    X(INT,  mpi_gc_delay_ms, "UNIDIST_MPI_GC_DELAY_MS", UD_MPI_GC_DELAY_MS, "MPI: longest time in milliseconds a freed ref waits for its batch, checked at the driver's calls (0: only the count)") \
    X(SIZE, mpi_inline_max, "UNIDIST_MPI_INLINE_MAX", UD_MPI_INLINE_MAX, "MPI: parts up to this size travel inside the operation's message") \
    X(SIZE, mpi_push_max, "UNIDIST_MPI_PUSH_MAX", UD_MPI_PUSH_MAX, "MPI: a task's result of at most this many bytes goes to the driver with its completion, so that a get of it needs no round trip (0: every get asks the worker)") \
    X(SIZE, mpi_chunk_size, "UNIDIST_MPI_CHUNK_SIZE", UD_MPI_CHUNK_SIZE, "MPI: larger parts are sent as messages of at most this size") \
    X(SIZE, mpi_message_max, "UNIDIST_MPI_MESSAGE_MAX", UD_MPI_MESSAGE_MAX, "MPI: inline bytes one operation message carries at most; further parts go on their own") \
    X(BOOL, checksum, "UNIDIST_CHECKSUM", UD_CHECKSUM, "MPI: send an XXH3 checksum with every part and verify it on receipt") \
    X(BOOL, mpi_shared_object_store, "UNIDIST_MPI_SHARED_OBJECT_STORE", UD_MPI_SHARED_OBJECT_STORE, "MPI: keep large objects in one shared-memory store per host, read there without a copy (0: off)") \
    X(SIZE, mpi_shared_object_store_threshold, "UNIDIST_MPI_SHARED_OBJECT_STORE_THRESHOLD", UD_MPI_SHARED_OBJECT_STORE_THRESHOLD, "MPI: objects of more bytes than this go to the shared store") \
    X(SIZE, mpi_shared_object_store_memory, "UNIDIST_MPI_SHARED_OBJECT_STORE_MEMORY", UD_MPI_SHARED_OBJECT_STORE_MEMORY, "MPI: bytes of each host's shared store (0: 95% of the free /dev/shm)") \
    X(SIZE, mpi_shared_service_memory, "UNIDIST_MPI_SHARED_SERVICE_MEMORY", UD_MPI_SHARED_SERVICE_MEMORY, "MPI: bytes of each host's service buffer, 88 an entry (0: sized from the store and the threshold)") \
    X(INT,  mpi_hosts, "UNIDIST_MPI_HOSTS", UD_MPI_HOSTS, "MPI, for testing: split each host into this many virtual hosts, which share no memory (0: real hosts)") \
    X(INT,  shutdown_warn, "UNIDIST_SHUTDOWN_WARN", UD_SHUTDOWN_WARN, "seconds ud_shutdown waits for tasks still running before it logs which, and where; again every as many seconds (0: never)") \
    X(SIZE, mpi_gc_bytes, "UNIDIST_MPI_GC_BYTES", UD_MPI_GC_BYTES, "MPI: freed bytes (of objects the driver knows the size of) at which the root sends its cleanup batch at once, so that large objects' room is reused while warm (0: count and time only)") \
    X(SIZE, block_cache, "UNIDIST_BLOCK_CACHE", UD_BLOCK_CACHE, "bytes of freed large objects (1 MiB and up) a process keeps for the next ones of about their size: their pages are already mapped, which makes a copy into them several times faster than into fresh memory (0: off)") \
    X(INT,  block_cache_ms, "UNIDIST_BLOCK_CACHE_MS", UD_BLOCK_CACHE_MS, "milliseconds a freed large object stays kept unused before it goes back to the system (checked when objects are made or freed, and by idle task threads)") \
    X(BOOL, stats, "UNIDIST_STATS", UD_STATS, "print a table of what each process did (ud_stats_print) to the driver's stderr at shutdown") \
    X(STR,  trace, "UNIDIST_TRACE", UD_TRACE, "write a Chrome trace (JSON, for Perfetto or chrome://tracing) of every rank's tasks, large transfers and the driver's waits to this file at shutdown (empty: off)") \
    X(INT,  progress, "UNIDIST_PROGRESS", UD_PROGRESS, "a line on the driver's stderr, refreshed 4 times a second while tasks are outstanding: tasks done of submitted, rate, bytes the driver moved (1: when stderr is a terminal, 2: always, 0: off)")

#ifndef UD_BACKEND
#define UD_BACKEND "auto"
#endif
#ifndef UD_CPUS
#define UD_CPUS 0
#endif
#ifndef UD_LOG_LEVEL
#define UD_LOG_LEVEL 2
#endif
#ifndef UD_SCHEDULER
#define UD_SCHEDULER "auto"
#endif
#ifndef UD_SCHED_LOCALITY_MIN
#define UD_SCHED_LOCALITY_MIN 65536
#endif
#ifndef UD_SHUTDOWN_WARN
#define UD_SHUTDOWN_WARN 10
#endif
#ifndef UD_TASK_WAITS
#define UD_TASK_WAITS 4096
#endif
#ifndef UD_TASK_DEPTH
#define UD_TASK_DEPTH 100000
#endif
#ifndef UD_SPIN_US
#define UD_SPIN_US 100
#endif
#ifndef UD_TASK_STACK
#define UD_TASK_STACK ((size_t)64 << 20) /* address space only: pages are used as touched */
#endif
#ifndef UD_MPI_BACKOFF
#define UD_MPI_BACKOFF 1000
#endif
#ifndef UD_MPI_YIELD
#define UD_MPI_YIELD 0
#endif
#ifndef UD_MPI_BATCH
#define UD_MPI_BATCH 64
#endif
#ifndef UD_MPI_GC_DELAY_MS
#define UD_MPI_GC_DELAY_MS 10 /* a few large objects must not wait for a thousand frees */
#endif
#ifndef UD_MPI_GC_THRESHOLD
#define UD_MPI_GC_THRESHOLD 1000
#endif
#ifndef UD_BLOCK_CACHE
#define UD_BLOCK_CACHE 1073741824 /* 1 GiB */
#endif
#ifndef UD_BLOCK_CACHE_MS
#define UD_BLOCK_CACHE_MS 5000
#endif
#ifndef UD_MPI_GC_BYTES
#define UD_MPI_GC_BYTES 16777216 /* 16 MiB */
#endif
#ifndef UD_MPI_PUSH_MAX
#define UD_MPI_PUSH_MAX 1024
#endif
#ifndef UD_MPI_INLINE_MAX
#define UD_MPI_INLINE_MAX 32768
#endif
#ifndef UD_MPI_CHUNK_SIZE
#define UD_MPI_CHUNK_SIZE 1073741824
#endif
#ifndef UD_MPI_MESSAGE_MAX
#define UD_MPI_MESSAGE_MAX 67108864
#endif
#ifndef UD_CHECKSUM
#define UD_CHECKSUM 0
#endif
#ifndef UD_MPI_SHARED_OBJECT_STORE
#define UD_MPI_SHARED_OBJECT_STORE 1
#endif
#ifndef UD_MPI_SHARED_OBJECT_STORE_THRESHOLD
#define UD_MPI_SHARED_OBJECT_STORE_THRESHOLD 100000
#endif
#ifndef UD_MPI_SHARED_OBJECT_STORE_MEMORY
#define UD_MPI_SHARED_OBJECT_STORE_MEMORY 0
#endif
#ifndef UD_MPI_SHARED_SERVICE_MEMORY
#define UD_MPI_SHARED_SERVICE_MEMORY 0
#endif
#ifndef UD_MPI_HOSTS
#define UD_MPI_HOSTS 0
#endif
#ifndef UD_STATS
#define UD_STATS 0
#endif
#ifndef UD_TRACE
#define UD_TRACE ""
#endif
#ifndef UD_PROGRESS
#define UD_PROGRESS 0
#endif

/* The core's compile-time thresholds that are not rows of the table (no variable sets them):
   define one before the include to change it. The MPI module's are in its "tuning knobs". */
#ifndef UD__CACHE_MIN                 /* the block cache: smallest block it keeps */
#define UD__CACHE_MIN ((size_t)1 << 20)
#endif
#ifndef UD__TRACE_CHUNK               /* trace: records a chunk holds (640 KiB, mapped at once) */
#define UD__TRACE_CHUNK 16384
#endif

#define UD__CTYPE_STR  const char *
#define UD__CTYPE_INT  int64_t
#define UD__CTYPE_SIZE uint64_t
#define UD__CTYPE_BOOL int
#define UD__UNSET_STR NULL
#define UD__UNSET_INT UD_UNSET
#define UD__UNSET_SIZE UD_UNSET
#define UD__UNSET_BOOL UD_UNSET

typedef enum ud_log_level {
    UD_LOG_OFF = 0, UD_LOG_ERROR = 1, UD_LOG_WARN = 2, UD_LOG_INFO = 3, UD_LOG_DEBUG = 4
} ud_log_level;

typedef void *(*ud_alloc_fn)(size_t size, void *user);
typedef void *(*ud_realloc_fn)(void *ptr, size_t old_size, size_t new_size, void *user);
typedef void (*ud_free_fn)(void *ptr, size_t size, void *user);
typedef void (*ud_log_fn)(int level, int rank, const char *message, void *user);

typedef struct ud_config {
#define UD__CONFIG_FIELD(kind, field, env, def, doc) UD__CTYPE_##kind field;
    UD_CONFIG_TABLE(UD__CONFIG_FIELD)
#undef UD__CONFIG_FIELD
    ud_alloc_fn alloc;        /* allocator hooks: all three or none */
    ud_realloc_fn realloc;
    ud_free_fn free;
    void *alloc_user;
    ud_log_fn log;            /* NULL: "[ud r3] WARN: ..." to stderr */
    void *log_user;
    const void *mpi_comm;     /* MPI backend: address of the MPI_Comm to run on (NULL: world) */
    int zero_is_set;          /* 1 (ud_config_init): a field of 0 is the value 0 */
} ud_config;

/* A field left to the compile-time default (and the environment): -1 in every numeric field
   (UINT64_MAX in a size), NULL in a string. */
#define UD_UNSET (-1)

/* Every field UD_UNSET (hooks NULL) and zero_is_set 1: set only what you mean, 0 included. */
UD_API void ud_config_init(ud_config *c);

/* Fills *out with the resolved configuration (defaults, then the fields of *in that are set,
   which may be NULL, then the environment). UD_ERR_CONFIG names a variable that does not parse. */
UD_API ud_status ud_config_resolve(const ud_config *in, ud_config *out);
/* Writes the resolved configuration of the running runtime (or the defaults) as
   "UNIDIST_CPUS = 2" lines. */
UD_API void ud_config_print(FILE *f);

/* ---- objects, refs, tasks -------------------------------------------------------------------- */
typedef struct ud_ref {       /* a DataID: the rank that owns the object and its number */
    int64_t owner;
    int64_t num;
} ud_ref;

typedef struct ud_part {      /* one buffer of an object */
    const void *data;
    size_t size;
} ud_part;

typedef struct ud_view {      /* read-only view of an object, valid until its ref is freed */
    const void *data;         /* the first part (the whole object when it has one part); */
    size_t size;              /*   for a failed task, its message */
    int nparts;
    const ud_part *parts;
    ud_status status;         /* UD_OK, or UD_ERR_TASK for a failed task's result */
} ud_view;

typedef enum ud_arg_kind { UD_ARG_REF = 1, UD_ARG_VAL = 2 } ud_arg_kind;

typedef struct ud_arg {       /* a task argument: a ref, or an inline value copied at submit */
    int kind;
    ud_ref ref;
    const void *data;
    size_t size;
} ud_arg;

static inline ud_arg ud_arg_ref(ud_ref r) {
    ud_arg a; a.kind = UD_ARG_REF; a.ref = r; a.data = NULL; a.size = 0; return a;
}
static inline ud_arg ud_arg_val(const void *data, size_t size) {
    ud_arg a; a.kind = UD_ARG_VAL; a.ref.owner = -1; a.ref.num = 0; a.data = data; a.size = size;
    return a;
}

typedef uint64_t ud_func;     /* XXH3-64 of the registered name: the same on every process */
typedef struct ud_task ud_task;
/* A task returns 0 on success; anything else (or ud_task_fail) fails it. */
typedef int (*ud_task_fn)(ud_task *t);

typedef enum ud_role { UD_ROLE_DRIVER = 0, UD_ROLE_WORKER = 1, UD_ROLE_MONITOR = 2 } ud_role;

/* ---- the API --------------------------------------------------------------------------------- */
/* Registers a task function under a name, on every process, before ud_init. *id may be NULL. */
UD_API ud_status ud_register(const char *name, ud_task_fn fn, void *user, ud_func *id);
/* The same, with UD_FN_* flags (0: as ud_register). */
UD_API ud_status ud_register_flags(const char *name, ud_task_fn fn, void *user, unsigned flags,
                                   ud_func *id);
/* UD_FN_INLINE: a tiny function (microseconds) that calls nothing of the runtime but the
   ud_task_* accessors. An MPI worker may run it on the thread that talks to MPI, as soon as
   its arguments are there, instead of handing it to a task thread: a round trip then costs
   no thread hand-off and no wake-up. Its calls of ud_put, ud_remote, ud_get, ud_wait or
   ud_free fail with UD_ERR_STATE, on every backend, and a large result of it is kept in the
   worker's own memory, not the shared store. */
#define UD_FN_INLINE 1u
UD_API ud_func ud_func_id(const char *name);

/* Starts the runtime. *role tells the caller what it was: the driver returns at once and runs
   the program; under MPI, workers and monitors return only after shutdown. cfg may be NULL. */
UD_API ud_status ud_init(const ud_config *cfg, ud_role *role);
UD_API int ud_is_initialized(void);
/* Finishes the tasks already submitted, stops every worker and frees every object. */
UD_API ud_status ud_shutdown(void);

UD_API ud_status ud_put(const void *data, size_t size, ud_ref *out);
UD_API ud_status ud_put_parts(const ud_part *parts, int nparts, ud_ref *out);

/* Blocks until the object is ready. A failed task's result gives UD_ERR_TASK, every time. */
UD_API ud_status ud_get(ud_ref ref, ud_view *out);
/* Views in the order of refs; returns the first failure, with every view filled. */
UD_API ud_status ud_get_many(const ud_ref *refs, int n, ud_view *out);
/* Copies the object's parts, one after another, into dst; *size gets the object's size
   (UD_ERR_SIZE, with *size set, when cap is smaller). */
UD_API ud_status ud_get_copy(ud_ref ref, void *dst, size_t cap, size_t *size);

/* Waits until num_returns of the n refs are done (a failed task counts as done) or timeout
   seconds have passed (< 0: no limit). ready[0..*nready) gets indices into refs, the first
   completed first, at most num_returns of them. UD_ERR_TIMEOUT when fewer were done. */
UD_API ud_status ud_wait(const ud_ref *refs, int n, int num_returns, double timeout,
                         int *ready, int *nready);

/* Submits fn(args) to a worker; outs (num_returns of them) get refs to its results. */
UD_API ud_status ud_remote(ud_func fn, const ud_arg *args, int nargs, int num_returns,
                           ud_ref *outs);

/* Where a task may run: anywhere (the scheduler's choice, as with ud_remote), on one worker,
   on the workers of one host, or where an object lives. A zeroed ud_opts means anywhere. */
typedef enum ud_place { UD_ANYWHERE = 0, UD_ON_WORKER = 1, UD_ON_HOST = 2, UD_NEAR = 3 } ud_place;

typedef struct ud_opts {
    ud_place place;
    int index;                /* UD_ON_WORKER: 0..ud_num_workers()-1; UD_ON_HOST: 0..ud_num_hosts()-1 */
    ud_ref near;              /* UD_NEAR: the task runs where this ref's object lives */
} ud_opts;

static inline ud_opts ud_on_worker(int w) {
    ud_opts o; o.place = UD_ON_WORKER; o.index = w; o.near.owner = -1; o.near.num = 0; return o;
}
static inline ud_opts ud_on_host(int h) {
    ud_opts o; o.place = UD_ON_HOST; o.index = h; o.near.owner = -1; o.near.num = 0; return o;
}
static inline ud_opts ud_near(ud_ref r) {
    ud_opts o; o.place = UD_NEAR; o.index = -1; o.near = r; return o;
}

/* ud_remote with a place (opts may be NULL: anywhere). A worker or host that does not exist,
   or a ref that is not live, is UD_ERR_ARG. */
UD_API ud_status ud_remote_opts(const ud_opts *opts, ud_func fn, const ud_arg *args, int nargs,
                                int num_returns, ud_ref *outs);

/* Drops the caller's ref; the object goes when no pending task needs it. */
UD_API ud_status ud_free(ud_ref ref);
UD_API ud_status ud_free_many(const ud_ref *refs, int n);

UD_API int ud_num_workers(void);          /* 0 before init; MPI: worker w is rank w + 1 */
UD_API int ud_num_hosts(void);            /* 1 on threads; MPI: host 0 is the driver's */
UD_API int ud_worker_host(int w);         /* the host of worker w, -1 when there is none */
UD_API int ud_worker_threads(int w);      /* task threads of worker w (1 on threads), or 0 */
UD_API int ud_worker_rank(int w);         /* its process: MPI: (w + 1) % ranks, the driver's rank the
                                             last worker when it runs tasks; threads: 0; else -1 */
UD_API int ud_worker_id(void);            /* in a task: the worker running it; else -1 */
UD_API const char *ud_backend_name(void); /* "threads", "mpi", or "none" before init */
UD_API int ud_rank(void);                 /* this process's rank (0 on threads) */

/* ---- what the runtime did -----------------------------------------------------------------------
   One record a process: under MPI one a rank (the driver's first), on threads one for the
   process. Counts since init. */
typedef struct ud_stats {
    int rank, host;           /* host -1: not known (threads) */
    int threads;              /* task threads (0: the driver) */
    int64_t tasks_run;        /* tasks its task threads ran, its own and stolen ones */
    int64_t tasks_stolen;     /* tasks it took from other workers and ran */
    int64_t tasks_given;      /* tasks other workers took from it */
    int64_t msgs_sent, msgs_recv;
    int64_t bytes_sent, bytes_recv;                   /* every byte of its MPI messages */
    int64_t bytes_sent_other_hosts, bytes_recv_other_hosts;
    double task_seconds;      /* its task threads' time in tasks (a nested task counts once),
                                 and its MPI loop's in UD_FN_INLINE ones */
    double idle_seconds;      /* its task threads' time outside tasks since init */
    int64_t inline_bytes_sent, inline_bytes_recv;     /* objects' parts inside operations */
    int64_t separate_bytes_sent, separate_bytes_recv; /* large parts, in messages of their own */
    int64_t shared_bytes_written, shared_bytes_read;  /* through its host's shared store */
    int64_t gets_served;      /* objects it sent in answer to GETs */
    int64_t cleanups;         /* refs the root's cleanups told it to drop */
    int64_t store_bytes, store_peak;                  /* its local objects' memory, now and most */
    int64_t queued;           /* tasks handed to it that wait for a thread, now */
} ud_stats;

/* Driver only: fills out[0..*n) with a record for each process (at most cap). Under MPI the
   workers are asked, one message each. */
UD_API ud_status ud_stats_get(ud_stats *out, int cap, int *n);
/* Driver only: one line a process to f (stderr when NULL): what ud_stats_get returns. */
UD_API void ud_stats_print(FILE *f);

/* ---- inside a task --------------------------------------------------------------------------- */
UD_API int ud_task_nargs(const ud_task *t);
UD_API int ud_task_nreturns(const ud_task *t);
UD_API void *ud_task_user(const ud_task *t);          /* the pointer given to ud_register */
/* A view of argument i: the object a ref argument names, or the inline value. */
UD_API ud_status ud_task_arg(const ud_task *t, int i, ud_view *out);
/* Allocates result i as one buffer of size bytes and returns it to be written (NULL when out
   of memory or i is out of range). A result never allocated is an empty object. */
UD_API void *ud_task_result(ud_task *t, int i, size_t size);
/* Allocates result i as nparts buffers that stay separate; ptrs[k] gets part k. */
UD_API ud_status ud_task_result_parts(ud_task *t, int i, const size_t *sizes, int nparts,
                                      void **ptrs);
/* Fails the task with a message; returns -1 so that "return ud_task_fail(t, ...)" reads. */
UD_API int ud_task_fail(ud_task *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#ifdef __cplusplus
}
#endif
#endif /* UNIDIST_H */

/* ============================================================================================
   IMPLEMENTATION
   ============================================================================================ */
#if defined(UNIDIST_IMPLEMENTATION) && !defined(UD_IMPLEMENTATION)
#define UD_IMPLEMENTATION
#endif

#if defined(UD_IMPLEMENTATION) && !defined(UD__IMPL_DONE)
#define UD__IMPL_DONE

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h> /* the progress thread ignores SIGPIPE */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/mman.h> /* madvise */
#endif
#ifdef __cplusplus
#include <exception> /* a task's exception fails the task (ud__task_invoke) */
#if defined(__GLIBC__) && defined(__GNUC__)
#include <cxxabi.h> /* abi::__forced_unwind: a thread cancelled in a task must unwind */
#endif
#endif

#ifndef XXH_INLINE_ALL
#define XXH_INLINE_ALL
#endif
#include <xxhash.h>

/* -std=c11 hides POSIX from glibc's headers; -pthread does not bring it back, yet makes
   CLOCK_MONOTONIC appear, so that is no test. glibc defines _POSIX_C_SOURCE when POSIX is on. */
#if !defined(CLOCK_MONOTONIC) || \
    (defined(__GLIBC__) && (!defined(_POSIX_C_SOURCE) || _POSIX_C_SOURCE < 200809L))
#error "unidist.h: the implementation needs POSIX.1-2008 (clocks, pthread_condattr_setclock): compile with -std=gnu11, or define _POSIX_C_SOURCE=200809L before every #include (-D_POSIX_C_SOURCE=200809L)"
#endif

/* XXH3, which names task functions, came with xxHash 0.8.0. */
#if !defined(XXH_VERSION_NUMBER) || XXH_VERSION_NUMBER < 800
#error "unidist.h: needs xxHash 0.8.0 or later (XXH3): install libxxhash-dev 0.8 or put a newer xxhash.h on the include path"
#endif

#if defined(UD_MALLOC) || defined(UD_REALLOC) || defined(UD_FREE)
#if !defined(UD_MALLOC) || !defined(UD_REALLOC) || !defined(UD_FREE)
#error "unidist.h: define all of UD_MALLOC, UD_REALLOC and UD_FREE, or none of them"
#endif
#else
#define UD_MALLOC(sz) malloc(sz)
#define UD_REALLOC(p, sz) realloc(p, sz)
#define UD_FREE(p) free(p)
#endif

#if defined(__GNUC__)
#define UD__UNUSED __attribute__((unused))
#define UD__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define UD__UNUSED
#define UD__PRINTF(a, b)
#endif

/* Atomics over the GCC/clang builtins, which C and C++ share (<stdatomic.h> is not C++, and
   <atomic> is not C). Each atomic is a struct, so that a plain read or write of one does not
   compile: every access goes through these macros. Sequentially consistent unless _relaxed. */
#if defined(__cplusplus)
#define UD__THREAD_LOCAL thread_local
#else
#define UD__THREAD_LOCAL _Thread_local
#endif
typedef struct { int v; } ud__atomic_int;
typedef struct { unsigned v; } ud__atomic_uint;
typedef struct { long v; } ud__atomic_long;
typedef struct { long long v; } ud__atomic_llong;
typedef struct { size_t v; } ud__atomic_size;
#define ud__atomic_load(a) __atomic_load_n(&(a)->v, __ATOMIC_SEQ_CST)
#define ud__atomic_load_relaxed(a) __atomic_load_n(&(a)->v, __ATOMIC_RELAXED)
#define ud__atomic_store(a, x) __atomic_store_n(&(a)->v, (x), __ATOMIC_SEQ_CST)
#define ud__atomic_exchange(a, x) __atomic_exchange_n(&(a)->v, (x), __ATOMIC_SEQ_CST)
#define ud__atomic_exchange_relaxed(a, x) __atomic_exchange_n(&(a)->v, (x), __ATOMIC_RELAXED)
#define ud__atomic_add(a, x) __atomic_fetch_add(&(a)->v, (x), __ATOMIC_SEQ_CST)
#define ud__atomic_sub(a, x) __atomic_fetch_sub(&(a)->v, (x), __ATOMIC_SEQ_CST)
#define ud__atomic_store_relaxed(a, x) __atomic_store_n(&(a)->v, (x), __ATOMIC_RELAXED)
#define ud__atomic_add_relaxed(a, x) __atomic_fetch_add(&(a)->v, (x), __ATOMIC_RELAXED)
#define ud__atomic_raise_relaxed(a, expp, x) /* *expp = current when it fails */                \
    __atomic_compare_exchange_n(&(a)->v, (expp), (x), 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)

/* Internal symbols shared between modules: static with UD_STATIC, else extern with a ud_ name. */
#ifdef UD_STATIC
#define UD__DEF static
#else
#define UD__DEF
#endif

#define UD_ASSERT(c)                                                                         \
    do {                                                                                     \
        if (!(c)) ud__panic("assertion failed: %s (%s:%d)", #c, __FILE__, __LINE__);         \
    } while (0)

/* ---- errors -------------------------------------------------------------------------------------
   Owns the calling thread's last error text (ud__errbuf) and the status names: every module
   fails through ud__fail, which writes it. */
static UD__THREAD_LOCAL char ud__errbuf[512];

UD_API const char *ud_status_str(ud_status s) {
    switch (s) {
#define UD__STATUS_CASE(name, value, text) case name: return #name ": " text;
        UD_STATUS_TABLE(UD__STATUS_CASE)
#undef UD__STATUS_CASE
    default: return "UD_ERR_UNKNOWN: not a ud_status";
    }
}

UD_API const char *ud_last_error(void) { return ud__errbuf; }
UD_API const char *ud_version(void) { return UD_VERSION_STRING; }

static ud_status ud__vfail(ud_status st, const char *fmt, va_list ap) {
    vsnprintf(ud__errbuf, sizeof ud__errbuf, fmt, ap);
    return st;
}

/* Records the detail of a failure for ud_last_error() and returns its status. */
static UD__PRINTF(2, 3) ud_status ud__fail(ud_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ud__vfail(st, fmt, ap);
    va_end(ap);
    return st;
}

/* ---- runtime state shared by the modules --------------------------------------------------------
   Owns ud__rt (the resolved configuration, the backend in use, the phase) and the MPI
   backend's slot; init and shutdown write them, every module reads them. */
typedef struct ud__fn {
    ud_func id;
    ud_task_fn fn;
    void *user;
    char *name;
    unsigned flags;           /* UD_FN_* */
} ud__fn;

typedef struct ud__obj ud__obj;

/* What a backend provides; the public API validates arguments, then calls these. */
typedef struct ud__backend {
    const char *name;
    int (*available)(void); /* may this backend run in this launch? (auto selection) */
    ud_status (*start)(ud_role *role);
    ud_status (*stop)(void);
    ud_status (*put)(const ud_part *parts, int nparts, ud_ref *out);
    ud_status (*get)(const ud_ref *refs, int n, ud_view *out);
    ud_status (*wait)(const ud_ref *refs, int n, int num_returns, double timeout, int *ready,
                      int *nready);
    ud_status (*remote)(const ud__fn *fn, const ud_arg *args, int nargs, int nret, ud_ref *outs,
                        const ud_opts *opts);
    ud_status (*free)(const ud_ref *refs, int n);
    int (*num_workers)(void);
    int (*rank)(void);
    int (*num_hosts)(void);
    int (*worker_host)(int w);
    int (*worker_threads)(int w);
    int (*worker_id)(void);
    ud_status (*stats)(ud_stats *out, int cap, int *n);
    int (*worker_rank)(int w);
} ud__backend;

enum { UD__NEVER = 0, UD__RUNNING = 1, UD__STOPPED = 2 };

typedef struct ud__runtime {
    ud__atomic_int state;
    ud_config cfg;           /* resolved */
    const ud__backend *be;
    int rank;                /* for log lines */
    int64_t phase;           /* inits so far: each run of the runtime numbers its refs apart */
    ud__atomic_int nested;    /* this process is an MPI worker whose tasks may call the API */
} ud__runtime;

static UD__THREAD_LOCAL ud_task *ud__cur_task; /* the task this thread runs, if any */

static ud__runtime ud__rt;
/* The MPI module fills this slot (the core never calls up into it by name). */
UD__DEF const ud__backend *ud__mpi_backend_slot;

/* ---- logging ------------------------------------------------------------------------------------
   Owns the log's hook and level checks, and lines of items packed to a width; no state but
   what the configuration holds. Every module logs through ud__log. */
static const char *ud__level_name(int level) {
    static const char *names[] = {"OFF", "ERROR", "WARN", "INFO", "DEBUG"};
    return (level >= 0 && level <= 4) ? names[level] : "?";
}

static void ud__default_log(int level, int rank, const char *msg, void *user) {
    (void)user;
    fprintf(stderr, "[ud r%d] %s: %s\n", rank, ud__level_name(level), msg);
}

static UD__PRINTF(2, 3) void ud__log(int level, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    if (level > ud__rt.cfg.log_level) return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (ud__rt.cfg.log) ud__rt.cfg.log(level, ud__rt.rank, buf, ud__rt.cfg.log_user);
    else ud__default_log(level, ud__rt.rank, buf, NULL);
}

/* Debug lines are compiled in and cost one predictable branch while the level is lower;
   UD_DEBUG defined as 0 compiles them out (UNIDIST_LOG_LEVEL=4 then says so at init). */
#if !(defined(UD_DEBUG) && (0 - UD_DEBUG - 1) == -1) /* UD_DEBUG 0, not an empty define */
#define UD__DEBUG_ON 1
#define UD__DEBUG(...)                                                                       \
    do {                                                                                     \
        if (ud__rt.cfg.log_level >= UD_LOG_DEBUG) ud__log(UD_LOG_DEBUG, __VA_ARGS__);       \
    } while (0)
#else
#define UD__DEBUG_ON 0
#define UD__DEBUG(...) ((void)0)
#endif
#define UD__DEBUGGING() (UD__DEBUG_ON && ud__rt.cfg.log_level >= UD_LOG_DEBUG)

/* Fatal paths end here: the MPI module replaces the abort with MPI_Abort. */
UD__DEF void (*ud__abort_hook)(void);

static UD__UNUSED UD__PRINTF(1, 2) void ud__panic(const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ud__default_log(UD_LOG_ERROR, ud__rt.rank, buf, NULL);
    if (ud__abort_hook) ud__abort_hook();
    abort();
}

/* Info lines of items packed up to a line's width: "what: a sep b sep c". */
typedef struct ud__logline {
    const char *what, *sep;
    char text[400];
    size_t len;
} ud__logline;

static void ud__logline_flush(ud__logline *l) {
    if (l->len) ud__log(UD_LOG_INFO, "%s: %s", l->what, l->text);
    l->len = 0;
}

static void ud__logline_add(ud__logline *l, const char *item) {
    if (l->len && l->len + strlen(l->sep) + strlen(item) >= sizeof l->text) ud__logline_flush(l);
    l->len += (size_t)snprintf(l->text + l->len, sizeof l->text - l->len, "%s%s", l->len ? l->sep : "", item);
    if (l->len >= sizeof l->text) l->len = sizeof l->text - 1;
}

/* ---- memory -------------------------------------------------------------------------------------
   Owns the runtime's allocator (the hooks of ud_config, or UD_MALLOC), the growth of tables
   and the clock; no state. Every module allocates through here. */
static void *ud__alloc(size_t size) {
    if (ud__rt.cfg.alloc) return ud__rt.cfg.alloc(size, ud__rt.cfg.alloc_user);
    return UD_MALLOC(size);
}

static void *ud__realloc(void *p, size_t old_size, size_t new_size) {
    if (ud__rt.cfg.realloc) return ud__rt.cfg.realloc(p, old_size, new_size, ud__rt.cfg.alloc_user);
    (void)old_size;
    return UD_REALLOC(p, new_size);
}

static void ud__free(void *p, size_t size) {
    if (!p) return;
    if (ud__rt.cfg.free) ud__rt.cfg.free(p, size, ud__rt.cfg.alloc_user);
    else UD_FREE(p);
    (void)size;
}

/* Room for need (> 0) elements of elem bytes in the array p of *cap elements, which doubles
   from first: the array (p itself when it had room), or NULL with p and *cap as they were. */
static void *ud__grow(void *p, size_t *cap, size_t need, size_t elem, size_t first) {
    size_t n = *cap ? *cap : first;
    void *q;
    if (need <= *cap) return p;
    while (n < need) n *= 2;
    if (!(q = ud__realloc(p, *cap * elem, n * elem))) return NULL;
    *cap = n;
    return q;
}

static double ud__now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- configuration: resolving it ----------------------------------------------------------------
   Owns turning a ud_config and the environment into the configuration in force (each
   UD_CONFIG_TABLE row checked, its error naming the variable), and printing it; ud_init and
   ud_config_resolve call it. */
static ud_status ud__bad_value(const char *env, const char *src, const char *s, const char *want) {
    return ud__fail(UD_ERR_CONFIG, "%s: '%s' (from %s) is not %s", env, s, src, want);
}

static UD__UNUSED ud_status ud__parse_STR(const char *env, const char *src, const char *s,
                                          const char **out) {
    (void)env; (void)src;
    *out = s;
    return UD_OK;
}

static UD__UNUSED ud_status ud__parse_INT(const char *env, const char *src, const char *s,
                                          int64_t *out) {
    char *end;
    long long v;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < 0) return ud__bad_value(env, src, s, "a whole number >= 0");
    *out = (int64_t)v;
    return UD_OK;
}

/* Sizes take an optional K, M or G (powers of 1024), with or without a trailing B. */
static UD__UNUSED ud_status ud__parse_SIZE(const char *env, const char *src, const char *s,
                                           uint64_t *out) {
    char *end;
    unsigned long long v;
    uint64_t mul = 1;
    errno = 0;
    if (!*s || *s == '-') return ud__bad_value(env, src, s, "a size (like 100000, 64K, 2G)");
    v = strtoull(s, &end, 10);
    if (end == s || errno) return ud__bad_value(env, src, s, "a size (like 100000, 64K, 2G)");
    switch (*end) {
    case 'k': case 'K': mul = 1ull << 10; end++; break;
    case 'm': case 'M': mul = 1ull << 20; end++; break;
    case 'g': case 'G': mul = 1ull << 30; end++; break;
    default: break;
    }
    if (*end == 'b' || *end == 'B') end++;
    if (*end || (v && mul > UINT64_MAX / v))
        return ud__bad_value(env, src, s, "a size (like 100000, 64K, 2G)");
    *out = (uint64_t)v * mul;
    return UD_OK;
}

static UD__UNUSED ud_status ud__parse_BOOL(const char *env, const char *src, const char *s,
                                           int *out) {
    static const char *yes[] = {"1", "true", "yes", "on"}, *no[] = {"0", "false", "no", "off"};
    size_t i;
    for (i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i])) { *out = 1; return UD_OK; }
        if (!strcasecmp(s, no[i])) { *out = 0; return UD_OK; }
    }
    return ud__bad_value(env, src, s, "a boolean (1/0, true/false, yes/no, on/off)");
}

static UD__UNUSED int ud__negative_STR(const char *v) { (void)v; return 0; }
static UD__UNUSED int ud__negative_INT(int64_t v) { return v < 0; }
static UD__UNUSED int ud__negative_SIZE(uint64_t v) { (void)v; return 0; }
static UD__UNUSED int ud__negative_BOOL(int v) { return v < 0; }

/* A field of the user's config counts only when it is set: not UD_UNSET, and not 0 unless
   the config came from ud_config_init (z). */
#define UD__IS_SET_STR(v, z) ((v) != NULL && ((z) || (v)[0] != '\0'))
#define UD__IS_SET_INT(v, z) ((v) != (int64_t)UD_UNSET && ((z) || (v) != 0))
#define UD__IS_SET_SIZE(v, z) ((v) != (uint64_t)UD_UNSET && ((z) || (v) != 0))
#define UD__IS_SET_BOOL(v, z) ((v) != UD_UNSET && ((z) || (v) != 0))

UD_API void ud_config_init(ud_config *c) {
    if (!c) return;
    memset(c, 0, sizeof *c);
#define UD__CONFIG_UNSET(kind, field, env, def, doc) c->field = (UD__CTYPE_##kind)UD__UNSET_##kind;
    UD_CONFIG_TABLE(UD__CONFIG_UNSET)
#undef UD__CONFIG_UNSET
    c->zero_is_set = 1;
}

/* Checks that cannot be said by the value's kind alone. */
static ud_status ud__config_check(const ud_config *c) {
#define UD__CONFIG_NONNEG(kind, field, env, def, doc)                                       \
    if (ud__negative_##kind(c->field))                                                       \
        return ud__fail(UD_ERR_CONFIG, "%s (config field %s): must not be negative", env, #field);
    UD_CONFIG_TABLE(UD__CONFIG_NONNEG)
#undef UD__CONFIG_NONNEG
    if (strcmp(c->backend, "auto") && strcmp(c->backend, "threads") && strcmp(c->backend, "mpi"))
        return ud__fail(UD_ERR_CONFIG, "UNIDIST_BACKEND: '%s' is not one of auto, threads, mpi",
                        c->backend);
    if (strcmp(c->scheduler, "auto") && strcmp(c->scheduler, "round_robin"))
        return ud__fail(UD_ERR_CONFIG, "UNIDIST_SCHEDULER: '%s' is not one of auto, round_robin",
                        c->scheduler);
    if (c->cpus > 4096)
        return ud__fail(UD_ERR_CONFIG, "UNIDIST_CPUS: %lld is more than 4096 worker threads",
                        (long long)c->cpus);
    if (c->log_level > UD_LOG_DEBUG)
        return ud__fail(UD_ERR_CONFIG, "UNIDIST_LOG_LEVEL: %lld is not in 0..4",
                        (long long)c->log_level);
    if (c->task_waits < 1 || c->task_waits > 1000000)
        return ud__fail(UD_ERR_CONFIG, "UNIDIST_TASK_WAITS: %lld is not in 1..1000000", (long long)c->task_waits);
    if (c->task_depth < 1 || c->task_depth > 1000000)
        return ud__fail(UD_ERR_CONFIG, "UNIDIST_TASK_DEPTH: %lld is not in 1..1000000", (long long)c->task_depth);
    if (c->spin_us > 1000000)
        return ud__fail(UD_ERR_CONFIG, "UNIDIST_SPIN_US: %lld us is more than one second",
                        (long long)c->spin_us);
    if (c->mpi_backoff > 1000000)
        return ud__fail(UD_ERR_CONFIG, "UNIDIST_MPI_BACKOFF: %lld us is more than one second",
                        (long long)c->mpi_backoff);
    if (c->mpi_batch < 1 || c->mpi_batch > 65536)
        return ud__fail(UD_ERR_CONFIG, "UNIDIST_MPI_BATCH: %lld is not in 1..65536", (long long)c->mpi_batch);
    if (c->mpi_gc_delay_ms < 0)
        return ud__fail(UD_ERR_CONFIG, "UNIDIST_MPI_GC_DELAY_MS: %lld is below 0",
                        (long long)c->mpi_gc_delay_ms);
    if (c->mpi_gc_threshold < 1)
        return ud__fail(UD_ERR_CONFIG, "UNIDIST_MPI_GC_THRESHOLD: must be at least 1");
    if (c->mpi_chunk_size < 1 || c->mpi_chunk_size > INT_MAX)
        return ud__fail(UD_ERR_CONFIG, "UNIDIST_MPI_CHUNK_SIZE: %llu is not in 1..%d (one MPI message)",
                        (unsigned long long)c->mpi_chunk_size, INT_MAX);
    if (c->mpi_message_max > (1u << 30))
        return ud__fail(UD_ERR_CONFIG, "UNIDIST_MPI_MESSAGE_MAX: %llu is more than 1G",
                        (unsigned long long)c->mpi_message_max);
    if (c->mpi_inline_max > (1u << 30))
        return ud__fail(UD_ERR_CONFIG, "UNIDIST_MPI_INLINE_MAX: %llu is more than 1G",
                        (unsigned long long)c->mpi_inline_max);
    if (c->mpi_hosts > 4096)
        return ud__fail(UD_ERR_CONFIG, "UNIDIST_MPI_HOSTS: %lld virtual hosts is more than 4096",
                        (long long)c->mpi_hosts);
    if (!!c->alloc != !!c->realloc || !!c->alloc != !!c->free)
        return ud__fail(UD_ERR_CONFIG, "config: set all of alloc, realloc and free, or none");
    return UD_OK;
}

UD_API ud_status ud_config_resolve(const ud_config *in, ud_config *out) {
    const char *s;
    ud_status st;
    if (!out) return ud__fail(UD_ERR_ARG, "config_resolve: out is NULL");
    if (in) *out = *in;
    else memset(out, 0, sizeof *out);
#define UD__CONFIG_RESOLVE(kind, field, env, def, doc)                                      \
    if (!in || !UD__IS_SET_##kind(in->field, in->zero_is_set)) out->field = def;             \
    if ((s = getenv(env)) != NULL) {                                                         \
        if ((st = ud__parse_##kind(env, "the environment", s, &out->field)) != UD_OK) return st; \
    }
    UD_CONFIG_TABLE(UD__CONFIG_RESOLVE)
#undef UD__CONFIG_RESOLVE
    return ud__config_check(out);
}

static void ud__print_STR(FILE *f, const char *v) { fprintf(f, "%s", v ? v : ""); }
static UD__UNUSED void ud__print_INT(FILE *f, int64_t v) { fprintf(f, "%lld", (long long)v); }
static UD__UNUSED void ud__print_SIZE(FILE *f, uint64_t v) {
    fprintf(f, "%llu", (unsigned long long)v);
}
static UD__UNUSED void ud__print_BOOL(FILE *f, int v) { fprintf(f, "%d", v); }

UD_API void ud_config_print(FILE *f) {
    ud_config c;
    if (!f) return;
    if (ud__atomic_load(&ud__rt.state) == UD__RUNNING) c = ud__rt.cfg;
    else if (ud_config_resolve(NULL, &c) != UD_OK) {
        fprintf(f, "# configuration does not resolve: %s\n", ud_last_error());
        return;
    }
#define UD__CONFIG_PRINT(kind, field, env, def, doc)                                        \
    fprintf(f, "%s = ", env);                                                                \
    ud__print_##kind(f, c.field);                                                            \
    fprintf(f, "\n");
    UD_CONFIG_TABLE(UD__CONFIG_PRINT)
#undef UD__CONFIG_PRINT
}

/* Info at init: the settings in force, a few to a line (lines stay within the log's 512). */
static void ud__log_settings(void) {
    char item[256];
    ud__logline l = {"settings", " ", "", 0};
    const ud_config *c = &ud__rt.cfg;
    if (ud__rt.cfg.log_level < UD_LOG_INFO) return;
#define UD__FMT_STR(v) "%s", (v) ? (v) : ""
#define UD__FMT_INT(v) "%lld", (long long)(v)
#define UD__FMT_SIZE(v) "%llu", (unsigned long long)(v)
#define UD__FMT_BOOL(v) "%d", (v)
#define UD__CONFIG_LOG(kind, field, env, def, doc)                                          \
    {                                                                                        \
        char val[200];                                                                       \
        snprintf(val, sizeof val, UD__FMT_##kind(c->field));                                 \
        snprintf(item, sizeof item, "%s=%s", env, val);                                      \
        ud__logline_add(&l, item);                                                           \
    }
    UD_CONFIG_TABLE(UD__CONFIG_LOG)
#undef UD__CONFIG_LOG
#undef UD__FMT_STR
#undef UD__FMT_INT
#undef UD__FMT_SIZE
#undef UD__FMT_BOOL
    ud__logline_flush(&l);
    if (ud__rt.cfg.log_level >= UD_LOG_DEBUG && !UD__DEBUG_ON)
        ud__log(UD_LOG_INFO, "UNIDIST_LOG_LEVEL=4: this build has no debug lines (UD_DEBUG=0)");
}

/* ---- function registry --------------------------------------------------------------------------
   Owns the registered task functions (ud__fns); ud_register writes it before init, every
   backend reads it.
   Kept sorted by id; registration happens before init, lookups are a binary search. */
static ud__fn *ud__fns;
static int ud__nfns, ud__capfns;

UD_API ud_func ud_func_id(const char *name) {
    return name ? (ud_func)XXH3_64bits(name, strlen(name)) : 0;
}

static const ud__fn *ud__find_fn(ud_func id) {
    int lo = 0, hi = ud__nfns - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (ud__fns[mid].id == id) return &ud__fns[mid];
        if (ud__fns[mid].id < id) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

UD_API ud_status ud_register(const char *name, ud_task_fn fn, void *user, ud_func *id) {
    return ud_register_flags(name, fn, user, 0, id);
}

UD_API ud_status ud_register_flags(const char *name, ud_task_fn fn, void *user, unsigned flags,
                                   ud_func *id) {
    ud_func h;
    const ud__fn *dup;
    int i;
    size_t len;
    if (!name || !*name || !fn) return ud__fail(UD_ERR_ARG, "register: name and fn must be given");
    if (flags & ~UD_FN_INLINE)
        return ud__fail(UD_ERR_ARG, "register '%s': unknown flags 0x%x (known: UD_FN_INLINE)", name,
                        flags & ~UD_FN_INLINE);
    if (ud__atomic_load(&ud__rt.state) == UD__RUNNING || ud__cur_task)
        return ud__fail(UD_ERR_STATE, "register '%s': functions are registered while the "
                        "runtime is not running (before ud_init or after ud_shutdown)", name);
    h = ud_func_id(name);
    if ((dup = ud__find_fn(h)) != NULL) {
        if (!strcmp(dup->name, name))
            return ud__fail(UD_ERR_DUP, "register: '%s' is already registered", name);
        return ud__fail(UD_ERR_DUP, "register: the ids of '%s' and '%s' collide; rename one",
                        name, dup->name);
    }
    if (ud__nfns == ud__capfns) {
        int cap = ud__capfns ? 2 * ud__capfns : 16;
        ud__fn *p = (ud__fn *)UD_REALLOC(ud__fns, (size_t)cap * sizeof *p);
        if (!p) return ud__fail(UD_ERR_NOMEM, "register '%s': out of memory", name);
        ud__fns = p;
        ud__capfns = cap;
    }
    len = strlen(name) + 1;
    for (i = ud__nfns; i > 0 && ud__fns[i - 1].id > h; i--) ud__fns[i] = ud__fns[i - 1];
    ud__fns[i].id = h;
    ud__fns[i].fn = fn;
    ud__fns[i].user = user;
    ud__fns[i].flags = flags;
    if (!(ud__fns[i].name = (char *)UD_MALLOC(len))) {
        for (; i < ud__nfns; i++) ud__fns[i] = ud__fns[i + 1];
        return ud__fail(UD_ERR_NOMEM, "register '%s': out of memory", name);
    }
    memcpy(ud__fns[i].name, name, len);
    ud__nfns++;
    if (id) *id = h;
    return UD_OK;
}

/* ---- the object store's map ---------------------------------------------------------------------
   Owns the DataID -> pointer map that each backend's store keeps (the threads backend's,
   an MPI root's, a worker's, the monitor's); it holds no state of its own.
   Open addressing with linear probing and backward-shift deletion, so that a million live
   objects cost the same per operation as a thousand (no tombstones to wade through). */
typedef struct ud__slot {
    ud_ref key;               /* key.num == 0: empty */
    uint64_t hash;
    void *val;
} ud__slot;

typedef struct ud__map {
    ud__slot *slots;
    size_t cap, count;        /* cap is a power of two */
} ud__map;

static uint64_t ud__hash_ref(ud_ref r) { return XXH3_64bits(&r, sizeof r); }

static int ud__ref_eq(ud_ref a, ud_ref b) { return a.owner == b.owner && a.num == b.num; }

static void *ud__map_get(const ud__map *m, ud_ref k) {
    uint64_t h;
    size_t i, mask;
    if (!m->cap) return NULL;
    h = ud__hash_ref(k);
    mask = m->cap - 1;
    for (i = h & mask;; i = (i + 1) & mask) {
        const ud__slot *s = &m->slots[i];
        if (!s->key.num) return NULL;
        if (s->hash == h && ud__ref_eq(s->key, k)) return s->val;
    }
}

/* Starts loading the home slot of a key that is about to be added: DataIDs are handed out in
   order, so the next one is known, and in a map too large for the caches its slot is a miss. */
static void ud__map_prefetch(const ud__map *m, ud_ref k) {
#if defined(__GNUC__) || defined(__clang__)
    size_t i, mask = m->cap - 1;
    if (!m->cap) return;
    i = ud__hash_ref(k) & mask;
    __builtin_prefetch(&m->slots[i], 1);
    __builtin_prefetch(&m->slots[(i + 1) & mask], 1); /* removal looks at the next */
#else
    (void)m;
    (void)k;
#endif
}

static void ud__map_place(ud__slot *slots, size_t mask, ud_ref k, uint64_t h, void *v) {
    size_t i = h & mask;
    while (slots[i].key.num) i = (i + 1) & mask;
    slots[i].key = k;
    slots[i].hash = h;
    slots[i].val = v;
}

static int ud__map_grow(ud__map *m) {
    size_t ncap = m->cap ? 2 * m->cap : 1024, i;
    ud__slot *ns = (ud__slot *)ud__alloc(ncap * sizeof *ns);
    if (!ns) return 0;
    memset(ns, 0, ncap * sizeof *ns);
    for (i = 0; i < m->cap; i++)
        if (m->slots[i].key.num)
            ud__map_place(ns, ncap - 1, m->slots[i].key, m->slots[i].hash, m->slots[i].val);
    ud__free(m->slots, m->cap * sizeof *m->slots);
    m->slots = ns;
    m->cap = ncap;
    return 1;
}

/* The key must not be present. Returns 0 when out of memory. */
static int ud__map_put(ud__map *m, ud_ref k, void *v) {
    if ((m->count + 1) * 4 > m->cap * 3 && !ud__map_grow(m)) return 0;
    ud__map_place(m->slots, m->cap - 1, k, ud__hash_ref(k), v);
    m->count++;
    return 1;
}

static void *ud__map_del(ud__map *m, ud_ref k) {
    uint64_t h;
    size_t i, j, mask;
    void *v;
    if (!m->cap) return NULL;
    h = ud__hash_ref(k);
    mask = m->cap - 1;
    for (i = h & mask;; i = (i + 1) & mask) {
        if (!m->slots[i].key.num) return NULL;
        if (m->slots[i].hash == h && ud__ref_eq(m->slots[i].key, k)) break;
    }
    v = m->slots[i].val;
    /* Shift back every later slot of the run whose home lies at or before the hole. */
    for (j = i;;) {
        size_t home;
        j = (j + 1) & mask;
        if (!m->slots[j].key.num) break;
        home = m->slots[j].hash & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].key.num = 0;
    m->count--;
    return v;
}

static void ud__map_clear(ud__map *m) {
    ud__free(m->slots, m->cap * sizeof *m->slots);
    m->slots = NULL;
    m->cap = m->count = 0;
}

/* ---- the block cache ----------------------------------------------------------------------------
   Owns the freed large blocks kept for reuse (ud__cache, under its own lock); objects take
   from it and give back to it, shutdown and the pool's idle threads trim it.
   A large allocation gets fresh pages from the system, and a first touch of each page costs
   more than copying into it (10x on some virtual machines): a pipeline that puts, transforms
   and frees large objects would pay it on every object. Freed large objects are kept instead,
   UNIDIST_BLOCK_CACHE bytes at most, for the next objects of about their size, and go back to
   the system after UNIDIST_BLOCK_CACHE_MS unused, or at shutdown. */
#define UD__CACHE_SLOTS 16

static struct ud__cache {
    pthread_mutex_t mu;
    struct { void *p; size_t bytes; double since; } b[UD__CACHE_SLOTS];
    int n;
    ud__atomic_size bytes;    /* read without the lock by idle threads, which trim the old */
} ud__cache = {PTHREAD_MUTEX_INITIALIZER, {{0, 0, 0}}, 0, {0}};

/* Takes the blocks kept since before cutoff out of the cache (under its lock); the caller
   frees them. */
static int ud__cache_take_older(double cutoff, void **out, size_t *sizes) {
    int i, n = 0;
    for (i = 0; i < ud__cache.n;) {
        if (ud__cache.b[i].since >= cutoff) {
            i++;
            continue;
        }
        out[n] = ud__cache.b[i].p;
        sizes[n++] = ud__cache.b[i].bytes;
        ud__atomic_sub(&ud__cache.bytes, ud__cache.b[i].bytes);
        ud__cache.b[i] = ud__cache.b[--ud__cache.n];
    }
    return n;
}

/* Gives the old blocks (or all) back to the system, outside the lock. */
static void ud__cache_trim(int all) {
    void *p[UD__CACHE_SLOTS];
    size_t sizes[UD__CACHE_SLOTS];
    int i, n;
    if (!ud__atomic_load_relaxed(&ud__cache.bytes)) return;
    pthread_mutex_lock(&ud__cache.mu);
    n = ud__cache_take_older(all ? ud__now() + 1.0 /* every block */
                                 : ud__now() - 1e-3 * (double)ud__rt.cfg.block_cache_ms, p, sizes);
    pthread_mutex_unlock(&ud__cache.mu);
    for (i = 0; i < n; i++) ud__free(p[i], sizes[i]);
}

/* A kept block of bytes to a quarter more, the smallest such; NULL: none. */
static void *ud__cache_get(size_t bytes, size_t *got) {
    void *p = NULL;
    int i, best = -1;
    if (bytes < UD__CACHE_MIN || !ud__rt.cfg.block_cache) return NULL;
    ud__cache_trim(0);
    pthread_mutex_lock(&ud__cache.mu);
    for (i = 0; i < ud__cache.n; i++)
        if (ud__cache.b[i].bytes >= bytes && ud__cache.b[i].bytes - bytes <= bytes / 4 &&
            (best < 0 || ud__cache.b[i].bytes < ud__cache.b[best].bytes))
            best = i;
    if (best >= 0) {
        p = ud__cache.b[best].p;
        *got = ud__cache.b[best].bytes;
        ud__atomic_sub(&ud__cache.bytes, *got);
        ud__cache.b[best] = ud__cache.b[--ud__cache.n];
    }
    pthread_mutex_unlock(&ud__cache.mu);
    return p;
}

static void ud__cache_wake_pool(void);

/* Keeps a freed block when it is large and there is room; else frees it. */
static void ud__cache_put(void *p, size_t bytes) {
    int kept = 0, first = 0;
    if (bytes >= UD__CACHE_MIN && bytes <= ud__rt.cfg.block_cache) {
        pthread_mutex_lock(&ud__cache.mu);
        if (ud__cache.n < UD__CACHE_SLOTS && ud__atomic_load(&ud__cache.bytes) + bytes <= ud__rt.cfg.block_cache) {
            first = ud__cache.n == 0;
            ud__cache.b[ud__cache.n].p = p;
            ud__cache.b[ud__cache.n].bytes = bytes;
            ud__cache.b[ud__cache.n++].since = ud__now();
            ud__atomic_add(&ud__cache.bytes, bytes);
            kept = 1;
        }
        pthread_mutex_unlock(&ud__cache.mu);
    }
    if (!kept) ud__free(p, bytes);
    if (first) ud__cache_wake_pool(); /* a thread asleep untimed would never trim it */
    if (bytes >= UD__CACHE_MIN) ud__cache_trim(0);
}

/* Maps the pages of [a, e) (page aligned) in one call, 10x faster than a fault at each first
   touch in a virtual machine. 0: the memory cannot be had; where the call is not known (before
   Linux 5.14), 1: first touches fault the pages in then. */
static int ud__map_pages(uintptr_t a, uintptr_t e) {
#if defined(__linux__) && defined(MADV_POPULATE_WRITE)
    return e <= a || madvise((void *)a, e - a, MADV_POPULATE_WRITE) == 0 || errno == EINVAL;
#else
    (void)a;
    (void)e;
    return 1;
#endif
}

/* A fresh large block's pages, mapped before its bytes are written (best effort). */
static void ud__populate(void *p, size_t bytes) {
    (void)ud__map_pages(((uintptr_t)p + 4095) & ~(uintptr_t)4095, ((uintptr_t)p + bytes) & ~(uintptr_t)4095);
}

/* Room for extra more entries, had now so that putting them later cannot fail. */
static int ud__map_reserve(ud__map *m, size_t extra) {
    while ((m->count + extra) * 4 > m->cap * 3)
        if (!ud__map_grow(m)) return 0;
    return 1;
}

/* ---- objects ------------------------------------------------------------------------------------
   Owns the object (ud__obj): its allocation, copy, views and release, and the counts of the
   store's bytes (ud__ob); both backends and the shared store make and release them.
   One allocation: header, part table, then each part's bytes 16-aligned and followed by a NUL,
   so that text (a failed task's message above all) reads as a C string wherever it arrives.
   A failed task's result is an object too: status UD_ERR_TASK and one part, the message. */
#define UD__OBJ_STATIC 1u
#define UD__OBJ_SHARED 2u    /* its parts lie in the host's shared store; released by a hook */
#define UD__ALIGN(n) (((n) + 15) & ~(size_t)15)

struct ud__obj {
    int32_t status;
    int32_t nparts;
    uint32_t flags;
    int32_t refs;             /* holders; the MPI backend pins objects under async sends */
    size_t bytes;             /* size of the allocation, for the free hook */
    size_t total;             /* sum of the part sizes */
    int64_t slot;             /* UD__OBJ_SHARED: its entry in the store's service buffer */
    ud_part parts[1];         /* nparts of them (at least one slot) */
};

/* Counts several threads add to (relaxed: read only for stats). */
static struct ud__obs {
    ud__atomic_llong store_bytes, store_peak, shared_written, shared_read;
} ud__ob;

static void ud__count_store(int64_t bytes) {
    long long now = ud__atomic_add_relaxed(&ud__ob.store_bytes, bytes) + bytes;
    long long peak = ud__atomic_load_relaxed(&ud__ob.store_peak);
    while (now > peak && !ud__atomic_raise_relaxed(&ud__ob.store_peak, &peak, now)) {}
}

/* Counts since init; the store's peak starts at what it holds. */
static void ud__obs_reset(void) {
    ud__atomic_store(&ud__ob.shared_written, 0);
    ud__atomic_store(&ud__ob.shared_read, 0);
    ud__atomic_store(&ud__ob.store_peak, ud__atomic_load(&ud__ob.store_bytes));
}

static ud__obj ud__empty_obj = {UD_OK, 0, UD__OBJ_STATIC, 1, 0, 0, -1, {{"", 0}}};

/* The shared store fills this: it drops the store's reference and frees the wrapper. */
UD__DEF void (*ud__shared_release_hook)(ud__obj *o);

static size_t ud__obj_header(int nparts) {
    return UD__ALIGN(offsetof(ud__obj, parts) + (size_t)(nparts > 0 ? nparts : 1) * sizeof(ud_part));
}

/* Allocates an object with room for the given part sizes; parts[k].data points at its room. */
static ud__obj *ud__obj_alloc(const size_t *sizes, int nparts) {
    size_t bytes = ud__obj_header(nparts), off;
    ud__obj *o;
    int k;
    for (k = 0; k < nparts; k++) { /* sizes come off the wire too: the sum must not wrap */
        size_t room = SIZE_MAX - bytes;
        if (room < 32 || sizes[k] > room - 32) return NULL;
        bytes += UD__ALIGN(sizes[k] + 1);
    }
    if ((o = (ud__obj *)ud__cache_get(bytes, &off)) != NULL) {
        bytes = off;
    } else {
        if (!(o = (ud__obj *)ud__alloc(bytes))) { /* the kept blocks go back, then again */
            ud__cache_trim(1);
            if (!(o = (ud__obj *)ud__alloc(bytes))) return NULL;
        }
        if (bytes >= UD__CACHE_MIN) ud__populate(o, bytes);
    }
    o->status = UD_OK;
    o->nparts = nparts;
    o->flags = 0;
    o->refs = 1;
    o->bytes = bytes;
    o->total = 0;
    o->slot = -1;
    ud__count_store((int64_t)bytes);
    for (off = ud__obj_header(nparts), k = 0; k < nparts; k++) {
        o->parts[k].data = (char *)o + off;
        o->parts[k].size = sizes[k];
        ((char *)o + off)[sizes[k]] = '\0';
        o->total += sizes[k];
        off += UD__ALIGN(sizes[k] + 1);
    }
    if (nparts == 0) o->parts[0].data = "";
    return o;
}

static ud__obj *ud__obj_copy(const ud_part *parts, int nparts) {
    size_t small[8] = {0}, *sizes = nparts <= 8 ? small : (size_t *)ud__alloc((size_t)nparts * sizeof *sizes);
    ud__obj *o = NULL;
    int k;
    if (!sizes) return NULL;
    for (k = 0; k < nparts; k++) sizes[k] = parts[k].size;
    if ((o = ud__obj_alloc(sizes, nparts)) != NULL)
        for (k = 0; k < nparts; k++)
            if (parts[k].size) memcpy((void *)o->parts[k].data, parts[k].data, parts[k].size);
    if (sizes != small) ud__free(sizes, (size_t)nparts * sizeof *sizes);
    return o;
}

static ud__obj *ud__obj_error(const char *msg) {
    size_t len = strlen(msg);
    ud__obj *o = ud__obj_alloc(&len, 1); /* the NUL after the part ends the text */
    if (!o) return NULL;
    memcpy((void *)o->parts[0].data, msg, len);
    o->status = UD_ERR_TASK;
    return o;
}

/* Drops one holder; the last one frees the object. */
static void ud__obj_release(ud__obj *o) {
    if (!o || (o->flags & UD__OBJ_STATIC) || --o->refs > 0) return;
    if (o->flags & UD__OBJ_SHARED) {
        ud__shared_release_hook(o);
        return;
    }
    ud__count_store(-(int64_t)o->bytes);
    ud__cache_put(o, o->bytes);
}

static void ud__obj_view(const ud__obj *o, ud_view *v) {
    v->nparts = o->nparts;
    v->parts = o->parts;
    v->data = o->parts[0].data;
    v->size = o->nparts ? o->parts[0].size : 0;
    v->status = (ud_status)o->status;
}

static void ud__ref_text(ud_ref r, char *buf, size_t cap) {
    snprintf(buf, cap, "%lld:%lld", (long long)r.owner, (long long)r.num);
}

/* A get's view of ref's object o. The first failed object of a get makes the call's status and
   message: pass the status so far as first, and keep what comes back. */
static ud_status ud__get_view(const ud__obj *o, ud_ref ref, ud_view *out, ud_status first) {
    char text[48];
    ud__obj_view(o, out);
    if (out->status == UD_OK || first != UD_OK) return first;
    ud__ref_text(ref, text, sizeof text);
    return ud__fail(out->status, "get: ref %s failed: %.*s", text, (int)out->size, (const char *)out->data);
}

/* A backend's refs count from here in each run of the runtime (2^36 a run), so that a ref
   kept across ud_shutdown and ud_init is told from this run's. */
static int64_t ud__run_first(void) { return (ud__rt.phase << 36) + 1; }

/* Why a ref that is not live is not: k is its place in the backend's count (well formed:
   the ref's shape could have come from this backend), next the count's next number. */
static ud_status ud__ref_unknown(const char *op, ud_ref r, int well_formed, int64_t k, int64_t next) {
    char text[48];
    ud__ref_text(r, text, sizeof text);
    if (well_formed && (k >> 36) >= 1 && (k >> 36) < ud__rt.phase)
        return ud__fail(UD_ERR_FREED, "%s: ref %s is from an earlier run of the runtime (it "
                        "ended with ud_shutdown)", op, text);
    if (well_formed && k >= ud__run_first() && k < next)
        return ud__fail(UD_ERR_FREED, "%s: ref %s was freed", op, text);
    return ud__fail(UD_ERR_NOREF, "%s: ref %s was never issued", op, text);
}

/* ---- the task context ---------------------------------------------------------------------------
   Owns a running task's context (ud_task) and the ud_task_* calls made on it; the backends
   begin, call and settle it on their task threads.
   Backends fill it and run the function; results are allocated through the backend's hook so
   that a large result can land straight in shared memory. */
struct ud_task {
    const ud__fn *fn;
    int nargs, nret;
    const ud_view *argv;
    ud__obj **res;             /* nret slots, NULL until allocated */
    int failed;
    char *err;                 /* the first failure's message */
    size_t errcap;
    ud__obj *(*alloc)(ud_task *t, int i, const size_t *sizes, int nparts);
    void *be;
    const char *dep_err;       /* a failed argument's message: the task did not run */
    int depth;                 /* 1: submitted by the driver; a task's tasks one deeper */
};

static int ud__task_inline(const ud_task *t) { return t->fn && (t->fn->flags & UD_FN_INLINE); }

UD_API int ud_task_nargs(const ud_task *t) { return t ? t->nargs : -1; }
UD_API int ud_task_nreturns(const ud_task *t) { return t ? t->nret : -1; }
UD_API void *ud_task_user(const ud_task *t) { return t ? t->fn->user : NULL; }

UD_API ud_status ud_task_arg(const ud_task *t, int i, ud_view *out) {
    if (out) memset(out, 0, sizeof *out); /* defined even on failure */
    if (!t || !out) return ud__fail(UD_ERR_ARG, "task_arg: task and out must be given");
    if (i < 0 || i >= t->nargs)
        return ud__fail(UD_ERR_ARG, "task_arg: task '%s' has %d arguments, not an argument %d",
                        t->fn->name, t->nargs, i);
    *out = t->argv[i];
    return UD_OK;
}

UD_API ud_status ud_task_result_parts(ud_task *t, int i, const size_t *sizes, int nparts,
                                      void **ptrs) {
    ud__obj *o;
    int k;
    if (!t || (nparts > 0 && (!sizes || !ptrs)) || nparts < 0)
        return ud__fail(UD_ERR_ARG, "task_result: task, sizes and ptrs must be given");
    if (i < 0 || i >= t->nret)
        return ud__fail(UD_ERR_ARG, "task_result: task '%s' has %d results, not a result %d",
                        t->fn->name, t->nret, i);
    if (t->res[i])
        return ud__fail(UD_ERR_ARG, "task_result: result %d of '%s' is already allocated", i,
                        t->fn->name);
    o = t->alloc ? t->alloc(t, i, sizes, nparts) : ud__obj_alloc(sizes, nparts);
    if (!o)
        return ud__fail(UD_ERR_NOMEM, "task_result: no memory for result %d of '%s'", i,
                        t->fn->name);
    t->res[i] = o;
    for (k = 0; k < nparts; k++) ptrs[k] = (void *)o->parts[k].data;
    return UD_OK;
}

UD_API void *ud_task_result(ud_task *t, int i, size_t size) {
    void *p = NULL;
    return ud_task_result_parts(t, i, &size, 1, &p) == UD_OK ? p : NULL;
}

/* Keeps the first failure's message; a message that cannot be allocated still fails the task. */
UD_API int ud_task_fail(ud_task *t, const char *fmt, ...) {
    char buf[1024];
    size_t len;
    va_list ap;
    if (!t) return -1;
    t->failed = 1;
    if (t->err) return -1;
    if (fmt) {
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
    } else {
        snprintf(buf, sizeof buf, "task '%s' failed", t->fn->name);
    }
    len = strlen(buf) + 1;
    if ((t->err = (char *)ud__alloc(len)) != NULL) {
        memcpy(t->err, buf, len);
        t->errcap = len;
    }
    return -1;
}

/* The result of a task that could not be given memory to run. */
static ud__obj ud__oom_obj = {UD_ERR_TASK, 1, UD__OBJ_STATIC, 1, 0, 34, -1,
                              {{"out of memory for a task's result", 34}}};

/* The message every result of a task carries when it fails or does not run. */
static void ud__fail_results(ud_task *ctx, ud__obj **res, const char *msg) {
    int i;
    for (i = 0; i < ctx->nret; i++) {
        if (res[i]) ud__obj_release(res[i]);
        res[i] = msg ? ud__obj_error(msg) : NULL;
        if (!res[i]) res[i] = &ud__oom_obj;
    }
}

static void ud__task_begin(ud_task *ctx, const ud__fn *fn, const ud_view *argv, int nargs,
                           ud__obj **res, int nret,
                           ud__obj *(*alloc)(ud_task *, int, const size_t *, int), void *be) {
    int i;
    memset(ctx, 0, sizeof *ctx);
    ctx->fn = fn;
    ctx->nargs = nargs;
    ctx->nret = nret;
    ctx->argv = argv;
    ctx->res = res;
    ctx->alloc = alloc;
    ctx->be = be;
    for (i = 0; i < nret; i++) res[i] = NULL;
}

static const ud__fn *ud__pool_running(const ud__fn *fn);
static double ud__task_enter(void);
static void ud__task_leave(const ud__fn *fn, double t0);

/* Calls the task's function. Built as C++, an exception that escapes it fails the task with
   its what() (a worker thread would otherwise end the whole process). */
static int ud__task_invoke(ud_task *ctx) {
#ifdef __cplusplus
    try {
        return ctx->fn->fn(ctx);
    } catch (const std::exception &e) {
        return ud_task_fail(ctx, "%s", e.what());
#if defined(__GLIBC__) && defined(__GNUC__)
    } catch (abi::__forced_unwind &) { /* pthread_exit or cancellation in a task: let it go on */
        throw;
#endif
    } catch (...) {
        return ud_task_fail(ctx, "unknown C++ exception");
    }
#else
    return ctx->fn->fn(ctx);
#endif
}

/* Runs the function on its arguments' views; a failed argument fails the task without
   running it. Any thread may call it: it releases nothing (ud__task_settle does). */
static void ud__task_call(ud_task *ctx) {
    ud_task *outer = ud__cur_task;
    const ud__fn *was;
    double t0;
    int i, rc;
    for (i = 0; i < ctx->nargs; i++)
        if (ctx->argv[i].status != UD_OK) {
            ctx->failed = 1;
            ctx->dep_err = (const char *)ctx->argv[i].data;
            return;
        }
    ud__cur_task = ctx;
    was = ud__pool_running(ctx->fn);
    t0 = ud__task_enter();
    rc = ud__task_invoke(ctx);
    ud__task_leave(ctx->fn, t0);
    ud__pool_running(was); /* a task that helped while it waited resumes */
    ud__cur_task = outer;
    if (rc && !ctx->failed) ud_task_fail(ctx, "task '%s' returned %d", ctx->fn->name, rc);
}

/* One object a result, never NULL: what the task wrote, or its failure's message in each.
   Runs where results may be released (on an MPI worker, its loop thread). */
static void ud__task_settle(ud_task *ctx) {
    int i;
    if (ctx->failed) {
        ud__fail_results(ctx, ctx->res, ctx->dep_err ? ctx->dep_err : ctx->err);
        ud__free(ctx->err, ctx->errcap);
        ctx->err = NULL;
        return;
    }
    for (i = 0; i < ctx->nret; i++)
        if (!ctx->res[i]) ctx->res[i] = &ud__empty_obj;
}

/* exit() called inside a task, or a driver that leaves main (or calls exit) while its MPI
   runtime runs, which would leave the other ranks waiting for it for ever: the job ends here,
   naming the task or the rank, before later exit handlers tear down what the runtime's
   threads still use (MPI above all, which a task thread must not finalize). Registered at
   init, and by the MPI module after its own handler, so that it runs before that one. */
/* A get or wait that would wait for ever, on both backends: ref is a result of the calling
   task itself (maker NULL), or is made by task maker, which waits (itself or through the
   tasks it waits for) for a result of the caller. */
static ud_status ud__cycle_error(const char *op, ud_ref ref, const char *maker, const char *caller) {
    char text[48];
    ud__ref_text(ref, text, sizeof text);
    if (!maker)
        return ud__fail(UD_ERR_ARG, "%s: ref %s is a result of the calling task '%s' itself: it "
                        "would wait for ever", op, text, caller);
    return ud__fail(UD_ERR_ARG, "%s: a cycle: ref %s is made by task '%s', which waits (itself or "
                    "through the tasks it waits for) for a result of the calling task '%s': each "
                    "would wait for ever", op, text, maker, caller);
}

#define UD__CYCLE_MAX 1024 /* tasks a cycle search looks at, at most (both backends) */

/* Set by the MPI module while this thread is inside its loop or waits in MPI: an exit() then
   comes from MPI ending the process (another rank ended the job), not from the program. */
static UD__THREAD_LOCAL int ud__in_runtime;

static void ud__exit_guard(void) {
    static ud__atomic_int done;
    ud_task *t = ud__cur_task;
    /* (a worker rank's main thread is inside the loop while its runtime runs: ud__in_runtime) */
    int mpi_runs = ud__abort_hook && ud__atomic_load(&ud__rt.state) == UD__RUNNING;
    char buf[512];
    if ((!t && !mpi_runs && !ud__in_runtime) || ud__atomic_exchange(&done, 1)) return;
    if (t) { /* a task thread may not call MPI: the launcher ends the job when a rank exits so */
        snprintf(buf, sizeof buf, "task '%s' called exit() on rank %d: the job ends (a task ends by "
                 "returning, or fails with ud_task_fail)", t->fn->name, ud__rt.rank);
        ud__default_log(UD_LOG_ERROR, ud__rt.rank, buf, NULL);
        fflush(stdout);
        _exit(1);
    } else if (ud__in_runtime) { /* MPI itself ends the process (another rank ended the job) */
        ud__default_log(UD_LOG_ERROR, ud__rt.rank, "MPI ended this process while the runtime waited in it", NULL);
        _exit(1);
    } else
        snprintf(buf, sizeof buf, "rank %d left main (or called exit) while the runtime runs: the job "
                 "ends (call ud_shutdown first)", ud__rt.rank);
    ud__default_log(UD_LOG_ERROR, ud__rt.rank, buf, NULL);
    fflush(stdout);
    if (ud__abort_hook) ud__abort_hook();
    _exit(1);
}

/* A task that crashes (SIGSEGV, SIGBUS, SIGFPE, SIGILL, abort) takes its process with it;
   the launcher then ends the job. Before it does, the process says which task crashed, on
   which rank and host: a crash report without them points at the runtime. Only write(2) and
   what needs no lock run in the handler; the handler the program (or a sanitizer) had before
   runs next, else the default, which ends the process by the same signal. */
static const int ud__crash_sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
#define UD__NCRASH ((int)(sizeof ud__crash_sigs / sizeof *ud__crash_sigs))
static struct sigaction ud__crash_old[UD__NCRASH];
static char ud__crash_host[64];
static int ud__crash_set;

static size_t ud__crash_add(char *buf, size_t at, size_t cap, const char *s) {
    while (*s && at + 1 < cap) buf[at++] = *s++;
    return at;
}

static size_t ud__crash_int(char *buf, size_t at, size_t cap, long v) {
    char d[24];
    int n = 0;
    unsigned long u = v < 0 ? 0UL - (unsigned long)v : (unsigned long)v;
    do d[n++] = (char)('0' + u % 10); while ((u /= 10) && n < 23);
    if (v < 0 && at + 1 < cap) buf[at++] = '-';
    while (n > 0 && at + 1 < cap) buf[at++] = d[--n];
    return at;
}

static void ud__crash_handler(int sig, siginfo_t *info, void *ctx) {
    static const char *names[] = {"SIGSEGV", "SIGBUS", "SIGFPE", "SIGILL", "SIGABRT"};
    ud_task *t = ud__cur_task;
    char buf[512];
    size_t n = 0;
    int k;
    for (k = 0; k < UD__NCRASH && ud__crash_sigs[k] != sig; k++) {}
    if (k == UD__NCRASH) return;
    if (t) {
        n = ud__crash_add(buf, n, sizeof buf, "[ud r");
        n = ud__crash_int(buf, n, sizeof buf, ud__rt.rank);
        n = ud__crash_add(buf, n, sizeof buf, "] ERROR: task '");
        n = ud__crash_add(buf, n, sizeof buf, t->fn->name);
        n = ud__crash_add(buf, n, sizeof buf, "' crashed (");
        n = ud__crash_add(buf, n, sizeof buf, names[k]);
        n = ud__crash_add(buf, n, sizeof buf, ") on rank ");
        n = ud__crash_int(buf, n, sizeof buf, ud__rt.rank);
        n = ud__crash_add(buf, n, sizeof buf, ", host ");
        n = ud__crash_add(buf, n, sizeof buf, ud__crash_host);
        n = ud__crash_add(buf, n, sizeof buf, ": the job ends\n");
        if (write(2, buf, n) < 0) {}
    }
    if (ud__crash_old[k].sa_flags & SA_SIGINFO) {
        if (ud__crash_old[k].sa_sigaction) {
            ud__crash_old[k].sa_sigaction(sig, info, ctx);
            return;
        }
    } else if (ud__crash_old[k].sa_handler != SIG_DFL && ud__crash_old[k].sa_handler != SIG_IGN) {
        ud__crash_old[k].sa_handler(sig);
        return;
    }
    signal(sig, SIG_DFL); /* and the fault comes again on return, or the signal is raised */
    if (sig == SIGABRT || (info && info->si_code <= 0)) raise(sig);
}

/* At init: the handlers go in (once a process); at shutdown the old ones come back. */
static void ud__crash_guard(int on) {
    struct sigaction sa;
    int k;
    if (on == ud__crash_set) return;
    if (on) {
        if (gethostname(ud__crash_host, sizeof ud__crash_host - 1) != 0) strcpy(ud__crash_host, "?");
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = ud__crash_handler;
        sa.sa_flags = SA_SIGINFO | SA_NODEFER;
        sigemptyset(&sa.sa_mask);
        for (k = 0; k < UD__NCRASH; k++) sigaction(ud__crash_sigs[k], &sa, &ud__crash_old[k]);
    } else {
        for (k = 0; k < UD__NCRASH; k++) sigaction(ud__crash_sigs[k], &ud__crash_old[k], NULL);
    }
    ud__crash_set = on;
}

/* ---- trace --------------------------------------------------------------------------------------
   Owns the per-thread event buffers and the trace file; the pool and the backends record,
   shutdown writes.
   UNIDIST_TRACE=path: each thread appends fixed-size events to a buffer of its own, without
   locks; at shutdown, once the threads are joined, the buffers of every rank are gathered to
   the driver, moved onto its clock, and written as Chrome trace events. */
enum { UD__EV_TASK = 1, UD__EV_SEND = 2, UD__EV_RECV = 3, UD__EV_WAIT = 4 };
/* events a process takes at most: their bytes must fit an int (MPI counts) */
#define UD__TRACE_MAX ((int)(INT_MAX / sizeof(ud__event)) - 1)

typedef struct ud__event {    /* as gathered: the same layout on every rank */
    double t0, t1;
    int32_t kind, rank, tid, peer;
    int64_t size;
    char name[48];
} ud__event;

typedef struct ud__rec {      /* as recorded: small, so that a run of tiny tasks pays little */
    double t0, t1;
    const char *name;         /* a registered name or a literal: alive until the trace is taken */
    int64_t size;
    int32_t kind, peer;
} ud__rec;

typedef struct ud__tchunk {
    struct ud__tchunk *next;  /* the older chunk */
    int n;
    ud__rec rec[UD__TRACE_CHUNK];
} ud__tchunk;

typedef struct ud__tbuf {     /* one thread's records, newest chunk first */
    struct ud__tbuf *next;
    ud__tchunk *chunks;
    int tid;
} ud__tbuf;

static struct ud__trace {
    ud__atomic_int on;        /* recording: the only thing the off path reads */
    ud__atomic_uint gen;      /* one a run: a thread's buffer of an earlier run is not reused */
    ud__tbuf *bufs;           /* under ud__tr_mu, taken once a thread */
    double start, end;        /* the run, on this process's clock */
} ud__tr;
static pthread_mutex_t ud__tr_mu = PTHREAD_MUTEX_INITIALIZER;

static UD__THREAD_LOCAL ud__tbuf *ud__tb;
static UD__THREAD_LOCAL unsigned ud__tb_gen;

static int ud__tracing(void) { return ud__atomic_load_relaxed(&ud__tr.on); }

static ud__tbuf *ud__trace_buf(int tid) {
    ud__tbuf *b = ud__tb;
    if (b && ud__tb_gen == ud__atomic_load(&ud__tr.gen)) return b;
    if (!(b = (ud__tbuf *)ud__alloc(sizeof *b))) return NULL;
    memset(b, 0, sizeof *b);
    b->tid = tid;
    pthread_mutex_lock(&ud__tr_mu);
    b->next = ud__tr.bufs;
    ud__tr.bufs = b;
    pthread_mutex_unlock(&ud__tr_mu);
    ud__tb = b;
    ud__tb_gen = ud__atomic_load(&ud__tr.gen);
    return b;
}

/* Appends one record to the calling thread's buffer (tid: its thread's number, 0 the main
   one). A full chunk is followed by a new one whose pages are mapped in one call: a first
   touch of each page would cost more than the records written to it. */
static void ud__trace(int kind, double t0, double t1, const char *name, int tid, int peer, int64_t size) {
    ud__tbuf *b = ud__trace_buf(tid);
    ud__tchunk *c;
    ud__rec *r;
    if (!b) return;
    if (!(c = b->chunks) || c->n == UD__TRACE_CHUNK) {
        if (!(c = (ud__tchunk *)ud__alloc(sizeof *c))) return; /* short of memory: events lost, never the run */
        ud__populate(c, sizeof *c);
        c->n = 0;
        c->next = b->chunks;
        b->chunks = c;
    }
    r = &c->rec[c->n++];
    r->t0 = t0;
    r->t1 = t1;
    r->name = name;
    r->size = size;
    r->kind = kind;
    r->peer = peer;
}

static void ud__trace_start(void) {
    ud__tr.start = ud__now();
    ud__atomic_add(&ud__tr.gen, 1u);
    ud__atomic_store(&ud__tr.on, ud__rt.cfg.trace && ud__rt.cfg.trace[0]);
}

/* The gathered form of one record of thread tid. */
static void ud__event_of(ud__event *e, const ud__rec *r, int tid) {
    e->t0 = r->t0;
    e->t1 = r->t1;
    e->kind = r->kind;
    e->rank = ud__rt.rank;
    e->tid = tid;
    e->peer = r->peer;
    e->size = r->size;
    snprintf(e->name, sizeof e->name, "%s", r->name ? r->name : "");
}

/* Stops recording and takes every buffer's records into one array of events (*n of them);
   the threads that wrote them have ended or are this one. */
static ud__event *ud__trace_take(int *n) {
    ud__tbuf *b, *next;
    ud__tchunk *c, *older;
    ud__event *all;
    int total = 0, at = 0, k;
    long long recorded = 0;
    ud__atomic_store(&ud__tr.on, 0);
    ud__tr.end = ud__now();
    for (b = ud__tr.bufs; b; b = b->next) /* an int of events, and of their bytes */
        for (c = b->chunks; c; c = c->next) {
            total += c->n <= UD__TRACE_MAX - total ? c->n : UD__TRACE_MAX - total;
            recorded += c->n;
        }
    if (recorded > total)
        ud__log(UD_LOG_WARN, "UNIDIST_TRACE: %lld of this process's %lld events dropped (a trace "
                "holds %d at most)", recorded - total, recorded, UD__TRACE_MAX);
    all = (ud__event *)ud__alloc((size_t)(total ? total : 1) * sizeof *all);
    for (b = ud__tr.bufs; b; b = next) {
        next = b->next;
        for (c = b->chunks; c; c = older) {
            older = c->next;
            for (k = 0; all && k < c->n && at < total; k++) ud__event_of(&all[at++], &c->rec[k], b->tid);
            ud__free(c, sizeof *c);
        }
        ud__free(b, sizeof *b);
    }
    ud__tr.bufs = NULL;
    ud__atomic_add(&ud__tr.gen, 1u);
    *n = all ? total : 0;
    return all;
}

static void ud__json_name(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        if ((unsigned char)*s >= 0x20) fputc(*s, f);
    }
}

/* Writes the events (times on the driver's clock) as a Chrome trace: a JSON array of complete
   events in microseconds from the run's start, a process a rank and a thread a task thread. */
/* Whether the trace can be written where UNIDIST_TRACE says: asked at init (an empty file is
   left there), so that a wrong path fails the run before it starts, not after it ends. */
static ud_status ud__trace_check(void) {
    FILE *f;
    if (!ud__rt.cfg.trace || !ud__rt.cfg.trace[0]) return UD_OK;
    if (!(f = fopen(ud__rt.cfg.trace, "w")))
        return ud__fail(UD_ERR_CONFIG, "UNIDIST_TRACE: cannot write %s: %s", ud__rt.cfg.trace, strerror(errno));
    fclose(f);
    return UD_OK;
}

static ud_status ud__trace_write(const ud__event *ev, int n, int nranks) {
    static const char *cat[] = {"", "task", "send", "recv", "wait"};
    FILE *f = fopen(ud__rt.cfg.trace, "w");
    int k;
    if (!f) {
        ud__log(UD_LOG_ERROR, "UNIDIST_TRACE: cannot write %s: %s", ud__rt.cfg.trace, strerror(errno));
        return ud__fail(UD_ERR_CONFIG, "UNIDIST_TRACE: cannot write %s: %s", ud__rt.cfg.trace, strerror(errno));
    }
    fprintf(f, "[\n");
    for (k = 0; k < nranks; k++)
        fprintf(f, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":0,\"args\":{\"name\":\"rank %d%s\"}},\n",
                k, k, k == 0 ? " (driver)" : "");
    for (k = 0; k < n; k++) {
        const ud__event *e = &ev[k];
        int kind = e->kind >= 1 && e->kind <= 4 ? e->kind : 0;
        fprintf(f, "{\"name\":\"");
        ud__json_name(f, e->name);
        fprintf(f, "\",\"cat\":\"%s\",\"ph\":\"X\",\"ts\":%.3f,\"dur\":%.3f,\"pid\":%d,\"tid\":%d", cat[kind],
                1e6 * (e->t0 - ud__tr.start), 1e6 * (e->t1 - e->t0), e->rank, e->tid);
        if (kind == UD__EV_SEND || kind == UD__EV_RECV)
            fprintf(f, ",\"args\":{\"bytes\":%lld,\"src\":%d,\"dst\":%d}", (long long)e->size,
                    kind == UD__EV_SEND ? e->rank : e->peer, kind == UD__EV_SEND ? e->peer : e->rank);
        fprintf(f, "},\n");
    }
    /* the run itself, so that a reader sees where it began and ended */
    fprintf(f, "{\"name\":\"run\",\"cat\":\"run\",\"ph\":\"X\",\"ts\":0,\"dur\":%.3f,\"pid\":0,\"tid\":0}\n]\n",
            1e6 * (ud__tr.end - ud__tr.start));
    if (ferror(f) | fclose(f)) { /* both: the file is closed either way */
        ud__log(UD_LOG_ERROR, "UNIDIST_TRACE: writing %s failed: %s", ud__rt.cfg.trace, strerror(errno));
        return ud__fail(UD_ERR_CONFIG, "UNIDIST_TRACE: writing %s failed: %s", ud__rt.cfg.trace, strerror(errno));
    }
    ud__log(UD_LOG_INFO, "trace of %d events written to %s", n, ud__rt.cfg.trace);
    return UD_OK;
}

/* The span a rank recorded in, as an event of its own lane (tid -1). */
static void ud__trace_run_event(ud__event *e, int rank) {
    memset(e, 0, sizeof *e);
    e->t0 = ud__tr.start;
    e->t1 = ud__tr.end;
    e->kind = UD__EV_WAIT;
    e->rank = rank;
    e->tid = -1;
    snprintf(e->name, sizeof e->name, "run of rank %d", rank);
}

/* Takes the events with the rank's run at the end (*n counts it); NULL without memory. */
static ud__event *ud__trace_take_with_run(int *n) {
    ud__event *ev = ud__trace_take(n), *grown;
    grown = (ud__event *)ud__realloc(ev, ev ? (size_t)(*n ? *n : 1) * sizeof *ev : 0, (size_t)(*n + 1) * sizeof *ev);
    if (!grown) {
        ud__free(ev, (size_t)(*n ? *n : 1) * sizeof *ev);
        *n = 0;
        return NULL;
    }
    ud__trace_run_event(&grown[(*n)++], ud__rt.rank);
    return grown;
}

/* A run that did not start: its records go, and nothing more is recorded. */
static void ud__trace_discard(void) {
    int n = 0;
    ud__event *ev = ud__trace_take(&n);
    ud__free(ev, ev ? (size_t)(n ? n : 1) * sizeof *ev : 0);
}

/* Threads backend: the process's events, on its own clock. */
static ud_status ud__trace_finish_local(void) {
    int n = 0;
    ud__event *ev;
    ud_status st;
    if (!ud__tracing()) return UD_OK;
    ev = ud__trace_take_with_run(&n);
    st = ud__trace_write(ev, n, 1);
    ud__free(ev, (size_t)(n ? n : 1) * sizeof *ev);
    return st;
}

/* ---- progress -----------------------------------------------------------------------------------
   Owns the progress line's counts and its printing thread; the backends publish.
   UNIDIST_PROGRESS: the backends publish counts (the threads backend as tasks are submitted
   and run; an MPI root while it serves, which is when anything moves there), and a thread of
   the driver prints them, so that printing never slows a call. */
static struct ud__progress {
    int on;                   /* set before any thread that publishes starts */
    ud__atomic_llong submitted, done, bytes;
    pthread_t thread;
    int started, stop;
    int broken;               /* a write failed (a pipe whose reader left): no more lines */
} ud__pg;
static pthread_mutex_t ud__pg_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ud__pg_cv; /* by the monotonic clock: initialized at each start */
static void ud__abstime(double at, struct timespec *ts);

/* A condition whose timed waits end by CLOCK_MONOTONIC, as ud__abstime's times are. */
static void ud__cond_init(pthread_cond_t *cv) {
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
}

static void ud__progress_publish(int64_t submitted, int64_t done, int64_t bytes) {
    ud__atomic_store_relaxed(&ud__pg.submitted, submitted);
    ud__atomic_store_relaxed(&ud__pg.done, done);
    ud__atomic_store_relaxed(&ud__pg.bytes, bytes);
}

/* One refresh: the line while tasks are outstanding, erased once none are. */
static void ud__progress_show(int *shown, double *t0, int64_t *done0) {
    int64_t sub = ud__atomic_load_relaxed(&ud__pg.submitted), done = ud__atomic_load_relaxed(&ud__pg.done);
    double t = ud__now(), rate = t > *t0 ? (double)(done - *done0) / (t - *t0) : 0;
    int rc = 0;
    if (sub > done) {
        rc = fprintf(stderr, "\r[ud] tasks %lld/%lld done, %.0f/s, %.1f MiB moved\033[K", (long long)done,
                     (long long)sub, rate < 0 ? 0 : rate, (double)ud__atomic_load_relaxed(&ud__pg.bytes) / 1048576.0);
        *shown = 1;
    } else if (*shown) {
        rc = fprintf(stderr, "\r\033[K");
        *shown = 0;
    }
    if (rc < 0 || fflush(stderr) != 0) ud__pg.broken = 1; /* its reader went away: stop */
    *t0 = t;
    *done0 = done;
}

static void *ud__progress_main(void *arg) {
    int shown = 0;
    double t0 = ud__now();
    int64_t done0 = 0;
    struct timespec ts;
    sigset_t pipe;
    (void)arg;
    /* a write to a pipe whose reader left fails here, instead of killing the program */
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, NULL);
    pthread_mutex_lock(&ud__pg_mu);
    ud__pg.broken = 0;
    while (!ud__pg.stop) {
        ud__abstime(ud__now() + 0.25, &ts);
        pthread_cond_timedwait(&ud__pg_cv, &ud__pg_mu, &ts);
        if (!ud__pg.stop && !ud__pg.broken) ud__progress_show(&shown, &t0, &done0);
    }
    pthread_mutex_unlock(&ud__pg_mu);
    if (shown && !ud__pg.broken) fprintf(stderr, "\r\033[K");
    return NULL;
}

/* Before the backend starts: whether anything is published this run. */
static void ud__progress_arm(void) {
    ud__pg.on = ud__rt.cfg.progress >= 2 || (ud__rt.cfg.progress == 1 && isatty(2));
    ud__progress_publish(0, 0, 0);
}

/* On the driver, once the backend runs. */
static void ud__progress_start(void) {
    if (!ud__pg.on) return;
    ud__pg.stop = 0;
    ud__cond_init(&ud__pg_cv);
    ud__pg.started = pthread_create(&ud__pg.thread, NULL, ud__progress_main, NULL) == 0;
    if (!ud__pg.started) pthread_cond_destroy(&ud__pg_cv);
}

static void ud__progress_stop(void) {
    if (!ud__pg.started) return;
    pthread_mutex_lock(&ud__pg_mu);
    ud__pg.stop = 1;
    pthread_cond_signal(&ud__pg_cv);
    pthread_mutex_unlock(&ud__pg_mu);
    pthread_join(ud__pg.thread, NULL);
    pthread_cond_destroy(&ud__pg_cv);
    ud__pg.started = 0;
}

/* ---- the task pool ------------------------------------------------------------------------------
   Owns the task threads, their queues and their sleep (ud__pool); the threads backend and an
   MPI worker push jobs and reclaim queued ones.
   The threads that run tasks: the threads backend's workers, and the task threads of an MPI
   worker rank. The pool has a slot (queues) a thread; a thread serves its slot, and one whose
   slot is empty takes the oldest job of another's, so no thread idles while another has jobs
   queued, and sleeps only when no queue holds a job it may run. A job pinned to a slot waits
   in a list only that slot's thread takes from; a task's nested tasks wait in their slot's
   own list, which that slot takes newest first (depth first). A task that waits in a nested
   call never runs other jobs on its stack: its slot goes to another thread meanwhile
   (ud__pool_wait_begin). A job is a link that a task embeds as its first member. */
typedef struct ud__job {
    struct ud__job *next, *prev;
    int slot;                 /* the queues that hold it, and in which list (UD__JL_*) */
    int list;
} ud__job;

enum { UD__JL_NONE = 0, UD__JL_OPEN, UD__JL_NESTED, UD__JL_PINNED };

typedef struct ud__pool ud__pool;
typedef struct ud__pth ud__pth;

typedef struct ud__jlist {
    ud__job *head, *tail;
} ud__jlist;

typedef struct ud__pq {       /* a slot: the queues one serving thread takes from first */
    pthread_mutex_t mu;
    ud__jlist open, nested, pinned; /* any thread may take from open and nested (the tasks
                                   its tasks submitted); pinned is this slot's alone */
    ud__atomic_int nopen, npinned; /* read without the lock (nopen counts nested too) */
    ud__pool *pool;
    ud__atomic_llong idle_ns; /* its time with nothing to run, ended spells; its thread writes */
    ud__atomic_llong idle_from; /* ns: when the spell under way began (0: busy) */
    char pad[64];             /* keep neighbouring queues off one cache line */
} ud__pq;

struct ud__pth {              /* a task thread: serving a slot, waiting in its task, or spare */
    pthread_t thread;
    ud__pool *pool;
    ud__pq *slot;             /* the slot it serves; NULL once its task waited (or spare) */
    int home;                 /* the slot it served last: its worker id */
    int id;                   /* 1 and up: its thread in the trace */
    struct { const ud__fn *v; } running; /* (atomic) the task it runs now */
    ud__atomic_int waiting;   /* its task waits in a nested get or wait */
    pthread_cond_t cv;        /* a spare's: it is given a slot, or the pool stops */
    ud__pth *next, *next_spare;
};

struct ud__pool {
    ud__pq *q;
    int n;
    ud__atomic_long open;     /* jobs in all open and nested lists, counted before they are pushed */
    ud__atomic_int sleepers;
    ud__atomic_uint next;     /* round robin for pushes from outside the pool */
    pthread_mutex_t mu;       /* the sleepers', and the threads' list, spares and waits */
    pthread_cond_t cv;
    int stop;
    int spin_us;
    int steal;                /* 0: a thread runs only what was queued for it (round robin) */
    size_t stack;             /* each thread's stack bytes, 0 if unknown */
    void (*run)(ud__job *j);
    double started;           /* for the idle time of its threads */
    ud__pth *threads, *spares;
    int nthreads, nwaiting;   /* threads started; tasks waiting now (UNIDIST_TASK_WAITS at most) */
};

static UD__THREAD_LOCAL ud__pq *ud__pool_self; /* the slot the calling thread serves, if any */
static UD__THREAD_LOCAL ud__pth *ud__pool_me;  /* the calling thread's record, if a pool's */

/* Marks the calling thread as running fn's task (NULL: none); returns the previous mark. */
static const ud__fn *ud__pool_running(const ud__fn *fn) {
    if (!ud__pool_me) return NULL;
    return ud__atomic_exchange_relaxed(&ud__pool_me->running, fn);
}

/* A task's run for the trace: its start (0 when not tracing), then its end, on its task
   thread (1 and up) or, an inline task (UD_FN_INLINE), on its worker's loop thread (0). */
static double ud__task_enter(void) { return ud__tracing() ? ud__now() : 0; }

static void ud__task_leave(const ud__fn *fn, double t0) {
    if (t0 != 0) ud__trace(UD__EV_TASK, t0, ud__now(), fn->name, ud__pool_me ? ud__pool_me->id : 0, -1, 0);
}

/* A slot's idle spells, timed only as they begin and end: tasks that follow each other read
   no clock, so that the stats cost an empty task nothing. Its time in tasks is the rest (a
   task waiting in a nested call hands its slot on, and its slot's time goes on counting). */
static int64_t ud__now_ns(void) { return (int64_t)(ud__now() * 1e9); }

static void ud__pool_idle_begin(ud__pq *q) { ud__atomic_store_relaxed(&q->idle_from, ud__now_ns()); }

static void ud__pool_idle_end(ud__pq *q) {
    int64_t from = ud__atomic_load_relaxed(&q->idle_from);
    ud__atomic_add_relaxed(&q->idle_ns, ud__now_ns() - from);
    ud__atomic_store_relaxed(&q->idle_from, 0);
}

/* A pool's share of a ud_stats record: its slots' time in tasks and idle since it began. */
static void ud__pool_stats(ud__pool *p, ud_stats *s) {
    int k;
    int64_t now = ud__now_ns(), idle = 0;
    for (k = 0; k < p->n; k++) {
        int64_t from = ud__atomic_load_relaxed(&p->q[k].idle_from);
        idle += ud__atomic_load_relaxed(&p->q[k].idle_ns) + (from ? now - from : 0);
    }
    s->idle_seconds = 1e-9 * (double)idle;
    s->task_seconds = (double)p->n * (1e-9 * (double)now - p->started) - s->idle_seconds;
    if (s->task_seconds < 0) s->task_seconds = 0;
}

/* Writes "name xN, name (waiting)" for the tasks p's threads run now into buf; returns how
   many run (waiting ones included). Each mark is read once: a thread may start or end a task
   meanwhile. */
static int ud__pool_running_text(ud__pool *p, char *buf, size_t cap) {
    const ud__fn *seen[64];
    int count[64], waits[64], nseen = 0, k, n = 0, len = 0;
    ud__pth *t;
    pthread_mutex_lock(&p->mu);
    for (t = p->threads; t; t = t->next) {
        const ud__fn *f = ud__atomic_load_relaxed(&t->running);
        int w = ud__atomic_load(&t->waiting);
        if (!f) continue;
        n++;
        for (k = 0; k < nseen && (seen[k] != f || waits[k] != w); k++) {}
        if (k == nseen && nseen < 64) {
            seen[nseen] = f;
            waits[nseen] = w;
            count[nseen++] = 0;
        }
        if (k < nseen) count[k]++;
    }
    pthread_mutex_unlock(&p->mu);
    buf[0] = '\0';
    for (k = 0; k < nseen && len < (int)cap; k++)
        len += snprintf(buf + len, cap - (size_t)len, count[k] > 1 ? "%s%s x%d%s" : "%s%s%.0d%s",
                        k ? ", " : "", seen[k]->name, count[k] > 1 ? count[k] : 0,
                        waits[k] ? " (waiting in a nested call)" : "");
    return n;
}
static UD__THREAD_LOCAL char *ud__pool_stack_top; /* where its stack began */

static void ud__jlist_put(ud__jlist *l, ud__job *j) {
    j->next = NULL;
    j->prev = l->tail;
    if (l->tail) l->tail->next = j;
    else l->head = j;
    l->tail = j;
}

static void ud__jlist_unlink(ud__jlist *l, ud__job *j) {
    if (j->prev) j->prev->next = j->next;
    else l->head = j->next;
    if (j->next) j->next->prev = j->prev;
    else l->tail = j->prev;
    j->list = UD__JL_NONE;
}

/* The oldest job (newest: from the tail), or NULL. */
static ud__job *ud__jlist_take(ud__jlist *l, int newest) {
    ud__job *j = newest ? l->tail : l->head;
    if (j) ud__jlist_unlink(l, j);
    return j;
}

#define UD__POOL_ANY (-1)    /* any thread */
#define UD__POOL_NESTED (-2) /* any thread: a task's nested task, which its slot takes newest
                                first (depth first) and other threads oldest first */

/* Queues a job for slot pin (< 0: any thread). A nested job, or an open job from a thread of
   a pool that steals, goes to the pushing thread's slot; any other round robin. A sleeping
   thread is woken. */
static void ud__pool_push(ud__pool *p, ud__job *j, int pin) {
    int own = ud__pool_self && ud__pool_self->pool == p && (p->steal || pin == UD__POOL_NESTED);
    ud__pq *q = pin >= 0 ? &p->q[pin % p->n]
              : own ? ud__pool_self
              : &p->q[ud__atomic_add(&p->next, 1u) % (unsigned)p->n];
    int list = pin >= 0 ? UD__JL_PINNED : pin == UD__POOL_NESTED ? UD__JL_NESTED : UD__JL_OPEN;
    if (pin < 0) ud__atomic_add(&p->open, 1);
    pthread_mutex_lock(&q->mu);
    j->slot = (int)(q - p->q);
    j->list = list;
    ud__jlist_put(list == UD__JL_PINNED ? &q->pinned : list == UD__JL_NESTED ? &q->nested : &q->open, j);
    ud__atomic_add(pin < 0 ? &q->nopen : &q->npinned, 1);
    pthread_mutex_unlock(&q->mu);
    if (ud__atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        if (pin < 0 && p->steal) pthread_cond_signal(&p->cv);
        else pthread_cond_broadcast(&p->cv); /* only that slot's thread may take it */
        pthread_mutex_unlock(&p->mu);
    }
}

/* A job of slot q: pinned, or open (own: its nested ones newest first, then the open ones
   oldest first; another's: the oldest of open, then of nested). */
static ud__job *ud__pq_take(ud__pq *q, int pinned, int own) {
    ud__job *j = NULL;
    if (ud__atomic_load(pinned ? &q->npinned : &q->nopen) == 0) return NULL;
    pthread_mutex_lock(&q->mu);
    if (pinned) j = ud__jlist_take(&q->pinned, 0);
    else if (own) j = (j = ud__jlist_take(&q->nested, 1)) ? j : ud__jlist_take(&q->open, 0);
    else j = (j = ud__jlist_take(&q->open, 0)) ? j : ud__jlist_take(&q->nested, 0);
    if (j) ud__atomic_sub(pinned ? &q->npinned : &q->nopen, 1);
    pthread_mutex_unlock(&q->mu);
    return j;
}

/* A job slot q's thread may run: its pinned ones first, then its own open ones, then (when
   the pool steals) another slot's. */
static ud__job *ud__pool_take(ud__pool *p, ud__pq *q) {
    int k, self = (int)(q - p->q);
    ud__job *j = ud__pq_take(q, 1, 1);
    if (j || ud__atomic_load(&p->open) <= 0) return j;
    for (k = 0; k < (p->steal ? p->n : 1); k++)
        if ((j = ud__pq_take(&p->q[(self + k) % p->n], 0, k == 0)) != NULL) {
            ud__atomic_sub(&p->open, 1);
            return j;
        }
    return NULL;
}

/* Takes j out of its queue if it is still there (not started): 1, and the caller runs it. */
static int ud__pool_claim(ud__pool *p, ud__job *j) {
    int slot = j->slot, list, ok;
    ud__pq *q;
    if (slot < 0 || slot >= p->n) return 0;
    q = &p->q[slot];
    pthread_mutex_lock(&q->mu);
    list = j->list;
    ok = j->slot == slot && (list == UD__JL_OPEN || list == UD__JL_NESTED);
    if (ok) {
        ud__jlist_unlink(list == UD__JL_OPEN ? &q->open : &q->nested, j);
        ud__atomic_sub(&q->nopen, 1);
        ud__atomic_sub(&p->open, 1);
    }
    pthread_mutex_unlock(&q->mu);
    return ok;
}

static int ud__pool_has_work(ud__pool *p, ud__pq *q) {
    long open = p->steal ? ud__atomic_load(&p->open) : (long)ud__atomic_load(&q->nopen);
    return open > 0 || ud__atomic_load(&q->npinned) > 0;
}

/* Takes back up to max open jobs that ok() accepts, oldest first, from any queue (to give
   them to a thief elsewhere), looking at scan jobs at most. Returns how many it put in out. */
static UD__UNUSED int ud__pool_reclaim(ud__pool *p, int (*ok)(ud__job *j, void *ctx), void *ctx,
                                       ud__job **out, int max, int scan) {
    int k, l, n = 0;
    for (k = 0; k < p->n && n < max && scan > 0; k++) {
        ud__pq *q = &p->q[k];
        ud__job *j, *next;
        if (ud__atomic_load(&q->nopen) == 0) continue;
        pthread_mutex_lock(&q->mu);
        for (l = 0; l < 2; l++) {
            ud__jlist *list = l ? &q->nested : &q->open;
            for (j = list->head; j && n < max && scan-- > 0; j = next) {
                next = j->next;
                if (!ok(j, ctx)) continue;
                ud__jlist_unlink(list, j);
                ud__atomic_sub(&q->nopen, 1);
                ud__atomic_sub(&p->open, 1);
                out[n++] = j;
            }
        }
        pthread_mutex_unlock(&q->mu);
    }
    return n;
}

/* A thread that ran out of work looks for more a little before it sleeps: in a burst the next
   job usually comes within microseconds, and waking a sleeper costs far more (a futex wake,
   10 us in a virtual machine). It yields its core as it looks, so that on a core shared with
   the loop thread or other ranks it takes no time from them. */
static int ud__pool_spin(ud__pool *p, ud__pq *q) {
    double until;
    int k = 0;
    if (p->spin_us <= 0) return 0;
    until = ud__now() + 1e-6 * (double)p->spin_us;
    while (!ud__pool_has_work(p, q)) {
        sched_yield();
        if ((++k & 7) == 0 && ud__now() >= until) return 0;
    }
    return 1;
}

static void ud__abstime(double at, struct timespec *ts);

/* An idle pool thread (p->mu held) sleeps until woken; while the block cache keeps memory, at
   most until its blocks are due to go back, which it then gives back: an idle process returns
   what it freed as a busy one does. */
static void ud__pool_sleep(ud__pool *p) {
    struct timespec ts;
    if (!ud__atomic_load_relaxed(&ud__cache.bytes)) {
        pthread_cond_wait(&p->cv, &p->mu);
        return;
    }
    ud__abstime(ud__now() + 1e-3 * (double)ud__rt.cfg.block_cache_ms, &ts);
    pthread_cond_timedwait(&p->cv, &p->mu, &ts);
    /* woken or not: steady wakes (pinned jobs) must not put the trim off for good */
    pthread_mutex_unlock(&p->mu);
    ud__cache_trim(0);
    pthread_mutex_lock(&p->mu);
}

/* Serves slot q until the pool stops (1) or the thread's task waited and handed q on (0). */
static int ud__pool_serve(ud__pool *p, ud__pth *me, ud__pq *q) {
    ud__pool_self = q;
    me->home = (int)(q - p->q);
    for (;;) {
        ud__job *j = ud__pool_take(p, q);
        int stop;
        if (j) {
            if (ud__atomic_load_relaxed(&q->idle_from)) ud__pool_idle_end(q);
            p->run(j);
            if (me->slot != q) return 0; /* its task waited: another thread serves q now */
            continue;
        }
        if (!ud__atomic_load_relaxed(&q->idle_from)) ud__pool_idle_begin(q);
        if (ud__pool_spin(p, q)) continue;
        pthread_mutex_lock(&p->mu);
        ud__atomic_add(&p->sleepers, 1);
        while (!ud__pool_has_work(p, q) && !p->stop) ud__pool_sleep(p);
        ud__atomic_sub(&p->sleepers, 1);
        stop = p->stop && !ud__pool_has_work(p, q);
        pthread_mutex_unlock(&p->mu);
        if (stop) return 1;
    }
}

/* A task thread: it serves the slot it is given; when its task waited it has none, and waits
   as a spare until it is given one again (ud__pool_wait_begin) or the pool stops. */
static void *ud__pool_main(void *arg) {
    ud__pth *me = (ud__pth *)arg;
    ud__pool *p = me->pool;
    char top;
    ud__pool_me = me;
    ud__pool_stack_top = &top;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        ud__pq *q = me->slot;
        if (!q) {
            if (p->stop) break;
            me->next_spare = p->spares;
            p->spares = me;
            while (!me->slot && !p->stop) pthread_cond_wait(&me->cv, &p->mu);
            continue; /* given a slot (taken off the spares), or the pool stops */
        }
        pthread_mutex_unlock(&p->mu);
        if (ud__pool_serve(p, me, q)) return NULL;
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* The worker index of the calling thread (its slot, or the one it served last), or -1. */
static int ud__pool_index(const ud__pool *p) {
    return ud__pool_me && ud__pool_me->pool == p ? ud__pool_me->home : -1;
}

static void ud__abstime(double at, struct timespec *ts) {
    ts->tv_sec = (time_t)at;
    ts->tv_nsec = (long)((at - (double)ts->tv_sec) * 1e9);
    if (ts->tv_nsec >= 1000000000L) { ts->tv_sec++; ts->tv_nsec -= 1000000000L; }
}

/* Starts a thread (p->mu held) that serves slot q; NULL when none can be had. */
static ud__pth *ud__pool_add_thread(ud__pool *p, ud__pq *q) {
    ud__pth *t = (ud__pth *)ud__alloc(sizeof *t);
    pthread_attr_t attr;
    int rc;
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    t->pool = p;
    t->slot = q;
    t->home = q ? (int)(q - p->q) : 0;
    t->id = ++p->nthreads;
    pthread_cond_init(&t->cv, NULL);
    pthread_attr_init(&attr);
    if (p->stack && pthread_attr_setstacksize(&attr, p->stack) != 0) p->stack = 0; /* the default */
    rc = pthread_create(&t->thread, &attr, ud__pool_main, t);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        pthread_cond_destroy(&t->cv);
        ud__free(t, sizeof *t);
        p->nthreads--;
        return NULL;
    }
    t->next = p->threads;
    p->threads = t;
    return t;
}

/* Whether the calling thread's stack has room for another task run on it: a quarter of it,
   and 256 KiB at least (sanitizers make frames several times larger), is kept for the calls a
   task makes. */
static int ud__pool_stack_room(const ud__pool *p) {
    size_t keep = p->stack / 4 > ((size_t)256 << 10) ? p->stack / 4 : (size_t)256 << 10;
    char here;
    return ud__pool_me && (!p->stack || (p->stack > keep && (size_t)(ud__pool_stack_top - &here) < p->stack - keep));
}

/* A pool thread whose task is about to wait (a nested get or wait) hands its slot to a spare
   thread, or to a new one, so that the slot's jobs go on running while the task waits on its
   own stack, burying nothing under it (the managed blocking of TBB and Java's fork/join). At
   most UNIDIST_TASK_WAITS tasks wait at once: past that the wait fails, saying so. Any other
   thread: nothing to do. The task's thread serves no slot after its task ends: it becomes a
   spare. */
static ud_status ud__pool_waits_full(int n) {
    return ud__fail(UD_ERR_STATE, "a task cannot wait: %d tasks wait already on rank %d, each holding "
                    "a thread (UNIDIST_TASK_WAITS=%lld); nest less deep or wide at a time, or raise it",
                    n, ud__rt.rank, (long long)ud__rt.cfg.task_waits);
}

/* Whether another task may begin to wait now (a caller that cannot back out after it began
   its call asks first, then begins with must). */
static UD__UNUSED ud_status ud__pool_may_wait(ud__pool *p) {
    int n;
    if (!ud__pool_me || ud__pool_me->pool != p) return UD_OK;
    pthread_mutex_lock(&p->mu);
    n = p->nwaiting;
    pthread_mutex_unlock(&p->mu);
    return n < (int)ud__rt.cfg.task_waits ? UD_OK : ud__pool_waits_full(n);
}

static ud_status ud__pool_wait_begin(ud__pool *p, int must) {
    ud__pth *me = ud__pool_me;
    ud__pq *q;
    if (!me || me->pool != p) return UD_OK;
    pthread_mutex_lock(&p->mu);
    if (!must && p->nwaiting >= (int)ud__rt.cfg.task_waits) {
        int n = p->nwaiting;
        pthread_mutex_unlock(&p->mu);
        return ud__pool_waits_full(n);
    }
    if ((q = me->slot) != NULL) {
        ud__pth *s = p->spares;
        if (s) {
            p->spares = s->next_spare;
            s->slot = q;
            s->home = (int)(q - p->q);
            pthread_cond_signal(&s->cv);
        } else if (!ud__pool_add_thread(p, q)) {
            pthread_mutex_unlock(&p->mu);
            return ud__fail(UD_ERR_NOMEM, "a task cannot wait: no thread could be started to run "
                            "the others meanwhile (%d threads on rank %d)", p->nthreads, ud__rt.rank);
        }
        me->slot = NULL;
        ud__pool_self = NULL;
    }
    p->nwaiting++;
    ud__atomic_store(&me->waiting, 1);
    pthread_mutex_unlock(&p->mu);
    return UD_OK;
}

static void ud__pool_wait_end(ud__pool *p) {
    ud__pth *me = ud__pool_me;
    if (!me || me->pool != p) return;
    pthread_mutex_lock(&p->mu);
    p->nwaiting--;
    ud__atomic_store(&me->waiting, 0);
    pthread_mutex_unlock(&p->mu);
}

/* Stops the pool once every queue is empty, and joins its threads. */
static void ud__pool_join(ud__pool *p) {
    ud__pth *t;
    int k;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv);
    for (t = p->threads; t; t = t->next) pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&p->mu);
    while ((t = p->threads) != NULL) {
        p->threads = t->next;
        pthread_join(t->thread, NULL);
        pthread_cond_destroy(&t->cv);
        ud__free(t, sizeof *t);
    }
    for (k = 0; k < p->n; k++) pthread_mutex_destroy(&p->q[k].mu);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    ud__free(p->q, (size_t)p->n * sizeof *p->q);
    p->q = NULL;
    p->n = 0;
}

/* The process's pool of task threads (there is at most one): its idle threads trim the block
   cache, and one is woken when the cache starts to keep a block. */
static struct { ud__pool *v; } ud__cache_pool; /* atomic */

static void ud__cache_wake_pool(void) {
    ud__pool *p = ud__atomic_load(&ud__cache_pool);
    if (!p) return;
    pthread_mutex_lock(&p->mu); /* a sleeper reads the cache's bytes under it: none is missed */
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void ud__pool_stop(ud__pool *p) {
    if (ud__atomic_load(&ud__cache_pool) == p) ud__atomic_store(&ud__cache_pool, NULL);
    if (p->q) ud__pool_join(p);
}

/* Starts n threads that run jobs with run(), a slot each; steal: idle threads take others'
   jobs. UD_ERR_NOMEM names what could not be had. */
static ud_status ud__pool_start(ud__pool *p, int n, int spin_us, int steal, void (*run)(ud__job *j)) {
    int k, ok = 1;
    memset(p, 0, sizeof *p);
    if (!(p->q = (ud__pq *)ud__alloc((size_t)n * sizeof *p->q)))
        return ud__fail(UD_ERR_NOMEM, "init: out of memory for %d task threads", n);
    memset(p->q, 0, (size_t)n * sizeof *p->q);
    p->n = n;
    p->spin_us = spin_us;
    p->steal = steal;
    p->run = run;
    p->started = ud__now();
    p->stack = ud__rt.cfg.task_stack;
    pthread_mutex_init(&p->mu, NULL);
    ud__cond_init(&p->cv); /* its sleepers' timed waits go by the monotonic clock */
    for (k = 0; k < n; k++) {
        pthread_mutex_init(&p->q[k].mu, NULL);
        p->q[k].pool = p;
    }
    pthread_mutex_lock(&p->mu);
    for (k = 0; k < n && ok; k++) ok = ud__pool_add_thread(p, &p->q[k]) != NULL;
    pthread_mutex_unlock(&p->mu);
    if (!ok) {
        ud__pool_join(p);
        return ud__fail(UD_ERR_NOMEM, "init: could not start task thread %d of %d", k, n);
    }
    ud__atomic_store(&ud__cache_pool, p);
    return UD_OK;
}

/* ---- cores --------------------------------------------------------------------------------------
   Owns reading the CPUs this process may use; the backends size their pools by it.
   The CPUs this process may run on, as a bit mask (Linux: its affinity, from /proc, so that
   no feature macro is needed); elsewhere every online core. Returns how many. */
#define UD__CPU_WORDS 16      /* 1024 CPUs */

static int ud__popcount(const uint64_t *m, int words) {
    int k, n = 0;
    for (k = 0; k < words; k++) {
        uint64_t x = m[k];
        for (; x; x &= x - 1) n++;
    }
    return n;
}

static int ud__cpu_mask(uint64_t *mask) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[1200];
    int n = 0;
    memset(mask, 0, UD__CPU_WORDS * sizeof *mask);
    while (f && fgets(line, sizeof line, f)) {
        const char *p = line + 13, *end;
        int bit = 0;
        if (strncmp(line, "Cpus_allowed:", 13)) continue;
        for (end = p + strlen(p); end > p && end[-1] != ',' && !isxdigit((unsigned char)end[-1]); end--) {}
        for (; end > p; end--) { /* hex digits, least significant last; commas between groups */
            char c = end[-1];
            int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (c == ',') continue;
            if (v < 0) break;
            if (bit < 64 * UD__CPU_WORDS) mask[bit / 64] |= (uint64_t)v << (bit % 64);
            bit += 4;
        }
        n = ud__popcount(mask, UD__CPU_WORDS);
        break;
    }
    if (f) fclose(f);
    if (n < 1) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        int k;
        n = c > 0 ? (int)c : 1;
        for (k = 0; k < n && k < 64 * UD__CPU_WORDS; k++) mask[k / 64] |= (uint64_t)1 << (k % 64);
    }
    return n;
}

/* ---- the public API -----------------------------------------------------------------------------
   Owns the ud_* entry points: each checks its arguments and the runtime's state, then calls
   the backend in use (ud__rt.be); init and shutdown choose and start it. */
/* (a function: C++ cannot declare a static object ahead of its definition) */
static const ud__backend *ud__threads_backend(void);

static ud_status ud__not_running(const char *op) {
    if (ud__cur_task) /* an MPI worker rank that is shutting down */
        return ud__fail(UD_ERR_STATE, "%s: task '%s' runs while the runtime shuts down", op,
                        ud__cur_task->fn->name);
    if (ud__atomic_load(&ud__rt.state) == UD__NEVER)
        return ud__fail(UD_ERR_STATE, "%s: the runtime is not initialized (call ud_init first)", op);
    return ud__fail(UD_ERR_STATE, "%s: the runtime was shut down", op);
}

/* May a call go to the backend: the runtime runs here (the driver's process, or the threads
   backend's tasks), or the caller is a task on an MPI worker rank, whose calls its rank
   forwards (nested calls). */
static int ud__api_open(void) {
    return ud__atomic_load(&ud__rt.state) == UD__RUNNING || (ud__cur_task && ud__atomic_load(&ud__rt.nested));
}

/* An inline function (UD_FN_INLINE) may be running on a worker's MPI thread, which would
   wait for itself: its calls fail, on every backend alike. */
#define UD__REQUIRE_RUNNING(op)                                                             \
    do {                                                                                    \
        if (ud__cur_task && ud__task_inline(ud__cur_task))                                  \
            return ud__fail(UD_ERR_STATE, "%s: task '%s' is registered UD_FN_INLINE, which "  \
                            "may call only ud_task_* functions", op, ud__cur_task->fn->name); \
        if (!ud__api_open()) return ud__not_running(op);                                    \
    } while (0)

/* Blocking calls would hold a worker hostage (threads) or deadlock the worker loop (MPI). */
#define UD__REQUIRE_NOT_IN_TASK(op)                                                         \
    do {                                                                                    \
        if (ud__cur_task)                                                                   \
            return ud__fail(UD_ERR_STATE, "%s: not allowed inside a task ('%s')", op,       \
                            ud__cur_task->fn->name);                                        \
    } while (0)

#ifdef UD__SINGLE_FILE
#define UD__HOW_TO_BUILD_MPI                                                                 \
    "build it with an MPI compiler (mpicc) and define UD_ENABLE_MPI before including "        \
    "unidist.h in the file that defines UNIDIST_IMPLEMENTATION"
#else
#define UD__HOW_TO_BUILD_MPI                                                                 \
    "build it with an MPI compiler (mpicc) and include unidist_mpi.h, not unidist.h, in the "  \
    "file that defines UNIDIST_IMPLEMENTATION"
#endif

/* The rank and size mpiexec gave this process (Open MPI, MPICH's Hydra, PMIx, Slurm), from
   the environment: a build without MPI cannot ask MPI. 0 when not started by mpiexec. */
static int ud__launch_size(int *rank) {
    static const char *sizes[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_NTASKS"};
    static const char *ranks[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID"};
    size_t i;
    for (i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        const char *n = getenv(sizes[i]), *r = getenv(ranks[i]);
        if (!n) continue;
        *rank = r ? atoi(r) : 0;
        return atoi(n);
    }
    *rank = 0;
    return 0;
}

/* A build without the MPI backend that mpiexec started on several ranks runs a threads
   backend in each: say so once, on rank 0, since nothing else will look wrong. */
static void ud__warn_wrong_build(void) {
    static ud__atomic_int warned;
    int rank, size = ud__launch_size(&rank);
    if (size < 2 || rank != 0 || ud__atomic_exchange(&warned, 1)) return;
    ud__log(UD_LOG_WARN, "mpiexec started %d ranks, but this program was built without the MPI "
            "backend: every rank runs its own threads backend and shares no work; to run one "
            "runtime over the ranks, " UD__HOW_TO_BUILD_MPI, size);
}

static ud_status ud__choose_backend(const ud_config *c, const ud__backend **out) {
    const ud__backend *mpi = ud__mpi_backend_slot;
    if (!mpi && !strcmp(c->backend, "auto")) ud__warn_wrong_build();
    if (!strcmp(c->backend, "threads")) *out = ud__threads_backend();
    else if (!strcmp(c->backend, "mpi")) {
        if (!mpi)
            return ud__fail(UD_ERR_CONFIG, "UNIDIST_BACKEND=mpi: this program was built without "
                            "the MPI backend; " UD__HOW_TO_BUILD_MPI);
        *out = mpi;
    } else {
        int ok = mpi ? mpi->available() : 0; /* < 0: launched in a way no backend can serve */
        if (ok < 0) return UD_ERR_CONFIG;
        *out = ok ? mpi : ud__threads_backend();
    }
    return UD_OK;
}

/* Driver threads may race to start or stop the runtime: one wins, the others see its state. */
static pthread_mutex_t ud__life_mu = PTHREAD_MUTEX_INITIALIZER;

static ud_status ud__init_locked(const ud_config *cfg, ud_role *role);

UD_API ud_status ud_init(const ud_config *cfg, ud_role *role) {
    ud_status st;
    /* an MPI worker rank holds the lock while its runtime runs: a task would wait for ever */
    UD__REQUIRE_NOT_IN_TASK("init");
    pthread_mutex_lock(&ud__life_mu);
    st = ud__init_locked(cfg, role);
    pthread_mutex_unlock(&ud__life_mu);
    return st;
}

static ud_status ud__init_locked(const ud_config *cfg, ud_role *role) {
    ud_config c;
    const ud__backend *be = NULL;
    ud_status st;
    if (!role) return ud__fail(UD_ERR_ARG, "init: role is NULL");
    if (ud__atomic_load(&ud__rt.state) == UD__RUNNING)
        return ud__fail(UD_ERR_STATE, "init: the runtime is already running");
    if ((st = ud_config_resolve(cfg, &c)) != UD_OK) return st;
    ud__cache_trim(1); /* blocks go back through the hooks they came from */
    ud__rt.cfg = c; /* first: choosing the backend may log, by this configuration */
    {
        static int guarded;
        if (!guarded && atexit(ud__exit_guard) == 0) guarded = 1;
    }
    if ((st = ud__choose_backend(&c, &be)) != UD_OK) return st;
    if (be == ud__threads_backend() && (st = ud__trace_check()) != UD_OK) return st; /* MPI: at start */
    ud__rt.be = be;
    ud__rt.rank = 0;
    ud__obs_reset();
    ud__trace_start();
    ud__progress_arm();
    ud__rt.phase++;
    ud__crash_guard(1);
    if ((st = be->start(role)) != UD_OK) {
        ud__crash_guard(0);
        ud__trace_discard();
        ud__pg.on = 0;
        ud__cache_trim(1);
        ud__rt.be = NULL;
        return st;
    }
    /* Under MPI only the driver comes back while the runtime runs; the others return after. */
    ud__atomic_store(&ud__rt.state, *role == UD_ROLE_DRIVER ? UD__RUNNING : UD__STOPPED);
    if (*role == UD_ROLE_DRIVER) ud__log_settings(), ud__progress_start();
    if (*role != UD_ROLE_DRIVER) ud__cache_trim(1), ud__crash_guard(0);
    return UD_OK;
}

UD_API int ud_is_initialized(void) { return ud__atomic_load(&ud__rt.state) == UD__RUNNING; }

UD_API ud_status ud_shutdown(void) {
    ud_status st;
    UD__REQUIRE_NOT_IN_TASK("shutdown");
    pthread_mutex_lock(&ud__life_mu);
    if (ud__atomic_load(&ud__rt.state) != UD__RUNNING) {
        pthread_mutex_unlock(&ud__life_mu);
        return ud__not_running("shutdown");
    }
    if (ud__rt.cfg.stats) { /* as shutdown begins: its table must not share the progress line */
        ud__progress_stop();
        ud_stats_print(stderr);
    }
    ud__atomic_store(&ud__rt.state, UD__STOPPED);
    st = ud__rt.be->stop();
    ud__crash_guard(0);
    ud__progress_stop();
    if (ud__rt.be == ud__threads_backend()) {
        ud_status tr = ud__trace_finish_local();
        if (st == UD_OK) st = tr;
    }
    ud__cache_trim(1);
    pthread_mutex_unlock(&ud__life_mu);
    return st;
}

static ud_status ud__check_parts(const char *op, const ud_part *parts, int nparts) {
    int k;
    if (nparts < 0 || (nparts > 0 && !parts))
        return ud__fail(UD_ERR_ARG, "%s: %d parts at %p", op, nparts, (const void *)parts);
    for (k = 0; k < nparts; k++)
        if (!parts[k].data && parts[k].size)
            return ud__fail(UD_ERR_ARG, "%s: part %d is NULL with size %zu", op, k, parts[k].size);
    return UD_OK;
}

UD_API ud_status ud_put_parts(const ud_part *parts, int nparts, ud_ref *out) {
    ud_status st;
    UD__REQUIRE_RUNNING("put");
    if (!out) return ud__fail(UD_ERR_ARG, "put: out is NULL");
    if ((st = ud__check_parts("put", parts, nparts)) != UD_OK) return st;
    return ud__rt.be->put(parts, nparts, out);
}

UD_API ud_status ud_put(const void *data, size_t size, ud_ref *out) {
    ud_part p;
    p.data = data;
    p.size = size;
    return ud_put_parts(&p, 1, out);
}

UD_API ud_status ud_get_many(const ud_ref *refs, int n, ud_view *out) {
    UD__REQUIRE_RUNNING("get");
    if (n < 0 || (n > 0 && (!refs || !out)))
        return ud__fail(UD_ERR_ARG, "get: refs and out must be given for %d refs", n);
    if (n) UD__DEBUG("get ref %lld:%lld%s", (long long)refs[0].owner, (long long)refs[0].num,
                     n > 1 ? " and more" : "");
    if (n && ud__tracing() && !ud__cur_task) {
        double t0 = ud__now();
        ud_status st = ud__rt.be->get(refs, n, out);
        ud__trace(UD__EV_WAIT, t0, ud__now(), "get", 0, -1, 0);
        return st;
    }
    return n ? ud__rt.be->get(refs, n, out) : UD_OK;
}

UD_API ud_status ud_get(ud_ref ref, ud_view *out) {
    if (!out && ud__api_open())
        return ud__fail(UD_ERR_ARG, "get: out is NULL");
    return ud_get_many(&ref, 1, out);
}

UD_API ud_status ud_get_copy(ud_ref ref, void *dst, size_t cap, size_t *size) {
    ud_view v;
    ud_status st;
    size_t total = 0, off = 0;
    int k;
    if (ud__api_open() && (!size || (!dst && cap)))
        return ud__fail(UD_ERR_ARG, "get_copy: size must be given, and dst when cap > 0");
    if ((st = ud_get_many(&ref, 1, &v)) != UD_OK) return st;
    for (k = 0; k < v.nparts; k++) total += v.parts[k].size;
    *size = total;
    if (total > cap)
        return ud__fail(UD_ERR_SIZE, "get_copy: the object has %zu bytes, the buffer %zu", total, cap);
    for (k = 0; k < v.nparts; k++) {
        if (v.parts[k].size) memcpy((char *)dst + off, v.parts[k].data, v.parts[k].size);
        off += v.parts[k].size;
    }
    return UD_OK;
}

UD_API ud_status ud_wait(const ud_ref *refs, int n, int num_returns, double timeout,
                         int *ready, int *nready) {
    UD__REQUIRE_RUNNING("wait");
    if (!nready || n < 0 || (n > 0 && !refs) || (num_returns > 0 && !ready))
        return ud__fail(UD_ERR_ARG, "wait: refs, ready and nready must be given");
    if (num_returns < 0 || num_returns > n)
        return ud__fail(UD_ERR_ARG, "wait: num_returns %d is not in 0..%d", num_returns, n);
    if (timeout != timeout) return ud__fail(UD_ERR_ARG, "wait: the timeout is not a number");
    if (timeout > 1e9) timeout = -1; /* beyond 30 years (or infinite) is no limit */
    *nready = 0;
    if (num_returns == 0) return UD_OK;
    if (ud__tracing() && !ud__cur_task) {
        double t0 = ud__now();
        ud_status st = ud__rt.be->wait(refs, n, num_returns, timeout, ready, nready);
        ud__trace(UD__EV_WAIT, t0, ud__now(), "wait", 0, -1, 0);
        return st;
    }
    return ud__rt.be->wait(refs, n, num_returns, timeout, ready, nready);
}

/* Names the task and the argument in the lookup's message; built only on failure. */
static void ud__remote_arg_error(const ud__fn *fn, int i) {
    char detail[sizeof ud__errbuf];
    memcpy(detail, ud__errbuf, sizeof detail);
    snprintf(ud__errbuf, sizeof ud__errbuf, "remote '%.100s' argument %d%.380s", fn->name, i, detail);
}

/* A place near a ref that the lookup refused: UD_ERR_ARG, with the lookup's reason. */
static ud_status ud__near_error(const ud__fn *fn) {
    char detail[sizeof ud__errbuf];
    memcpy(detail, ud__errbuf, sizeof detail);
    return ud__fail(UD_ERR_ARG, "remote '%.100s': the place is near a ref that is not live%.380s",
                    fn->name, detail);
}

static ud_status ud__check_args(const ud__fn *fn, const ud_arg *args, int nargs) {
    int i;
    if (nargs < 0 || (nargs > 0 && !args))
        return ud__fail(UD_ERR_ARG, "remote '%s': %d arguments at %p", fn->name, nargs,
                        (const void *)args);
    for (i = 0; i < nargs; i++) {
        if (args[i].kind == UD_ARG_VAL) {
            if (!args[i].data && args[i].size)
                return ud__fail(UD_ERR_ARG, "remote '%s': argument %d is NULL with size %zu",
                                fn->name, i, args[i].size);
        } else if (args[i].kind != UD_ARG_REF) {
            return ud__fail(UD_ERR_ARG, "remote '%s': argument %d has kind %d (use ud_arg_ref or "
                            "ud_arg_val)", fn->name, i, args[i].kind);
        }
    }
    return UD_OK;
}

static ud_status ud__check_index(const ud__fn *f, const char *what, int i, int n) {
    if (i >= 0 && i < n) return UD_OK;
    return ud__fail(UD_ERR_ARG, "remote '%s': no %s %d (%ss are 0..%d)", f->name, what, i, what, n - 1);
}

/* A place that names no worker or host of this run is the caller's mistake. */
static ud_status ud__check_opts(const ud__fn *f, const ud_opts *o) {
    if (!o || o->place == UD_ANYWHERE) return UD_OK;
    switch (o->place) {
    case UD_ON_WORKER: return ud__check_index(f, "worker", o->index, ud__rt.be->num_workers());
    case UD_ON_HOST: return ud__check_index(f, "host", o->index, ud__rt.be->num_hosts());
    case UD_NEAR: return UD_OK; /* the backend looks the ref up */
    default:
        return ud__fail(UD_ERR_ARG, "remote '%s': place %d is not one of UD_ANYWHERE, "
                        "UD_ON_WORKER, UD_ON_HOST, UD_NEAR", f->name, (int)o->place);
    }
}

UD_API ud_status ud_remote(ud_func fn, const ud_arg *args, int nargs, int num_returns,
                           ud_ref *outs) {
    return ud_remote_opts(NULL, fn, args, nargs, num_returns, outs);
}

UD_API ud_status ud_remote_opts(const ud_opts *opts, ud_func fn, const ud_arg *args, int nargs,
                                int num_returns, ud_ref *outs) {
    const ud__fn *f;
    ud_status st;
    UD__REQUIRE_RUNNING("remote");
    if (!(f = ud__find_fn(fn)))
        return ud__fail(UD_ERR_NOFUNC, "remote: no function with id %016llx is registered",
                        (unsigned long long)fn);
    if (num_returns < 0 || (num_returns > 0 && !outs))
        return ud__fail(UD_ERR_ARG, "remote '%s': num_returns %d with outs %p", f->name,
                        num_returns, (void *)outs);
    if ((st = ud__check_args(f, args, nargs)) != UD_OK) return st;
    if ((st = ud__check_opts(f, opts)) != UD_OK) return st;
    if (ud__cur_task && ud__cur_task->depth >= ud__rt.cfg.task_depth)
        return ud__fail(UD_ERR_STATE, "remote '%s': task '%s' runs at nesting depth %d, and "
                        "UNIDIST_TASK_DEPTH=%lld allows no deeper task: recurse less deep, or raise it",
                        f->name, ud__cur_task->fn->name, ud__cur_task->depth,
                        (long long)ud__rt.cfg.task_depth);
    st = ud__rt.be->remote(f, args, nargs, num_returns, outs, opts);
    if (st == UD_OK && num_returns > 0)
        UD__DEBUG("remote %s: %d args, results from ref %lld:%lld", f->name, nargs,
                  (long long)outs[0].owner, (long long)outs[0].num);
    return st;
}

UD_API ud_status ud_free_many(const ud_ref *refs, int n) {
    UD__REQUIRE_RUNNING("free");
    if (n < 0 || (n > 0 && !refs)) return ud__fail(UD_ERR_ARG, "free: %d refs at %p", n, (const void *)refs);
    return n ? ud__rt.be->free(refs, n) : UD_OK;
}

UD_API ud_status ud_free(ud_ref ref) { return ud_free_many(&ref, 1); }

UD_API int ud_num_workers(void) {
    return ud__api_open() ? ud__rt.be->num_workers() : 0;
}

UD_API const char *ud_backend_name(void) {
    return ud__api_open() ? ud__rt.be->name : "none";
}

UD_API int ud_rank(void) { return ud__rt.be ? ud__rt.be->rank() : 0; }

UD_API int ud_num_hosts(void) {
    return ud__api_open() ? ud__rt.be->num_hosts() : 0;
}

UD_API int ud_worker_host(int w) {
    if (!ud__api_open() || w < 0 || w >= ud__rt.be->num_workers()) return -1;
    return ud__rt.be->worker_host(w);
}

/* The process-wide counts of a ud_stats record. */
static void ud__obs_stats(ud_stats *s) {
    s->store_bytes = ud__atomic_load_relaxed(&ud__ob.store_bytes);
    s->store_peak = ud__atomic_load_relaxed(&ud__ob.store_peak);
    s->shared_bytes_written = ud__atomic_load_relaxed(&ud__ob.shared_written);
    s->shared_bytes_read = ud__atomic_load_relaxed(&ud__ob.shared_read);
}

static void ud__mib(char *buf, size_t cap, double bytes) {
    if (bytes < 1024 * 1024) snprintf(buf, cap, "%.0fK", bytes / 1024);
    else snprintf(buf, cap, "%.1fM", bytes / (1024 * 1024));
}

/* One line a process: tasks, busy share, bytes moved each way, GETs served, store. */
static void ud__stats_write(FILE *f, const ud_stats *s, int n) {
    int k;
    fprintf(f, "[ud] rank host thr   tasks  task_s  idle_s    sent    recv  inline   separ  shared  gets clean  store   peak queue\n");
    for (k = 0; k < n; k++) {
        char sent[16], recv[16], inl[16], sep[16], sh[16], st[16], pk[16];
        ud__mib(sent, sizeof sent, (double)s[k].bytes_sent);
        ud__mib(recv, sizeof recv, (double)s[k].bytes_recv);
        ud__mib(inl, sizeof inl, (double)(s[k].inline_bytes_sent + s[k].inline_bytes_recv));
        ud__mib(sep, sizeof sep, (double)(s[k].separate_bytes_sent + s[k].separate_bytes_recv));
        ud__mib(sh, sizeof sh, (double)(s[k].shared_bytes_written + s[k].shared_bytes_read));
        ud__mib(st, sizeof st, (double)s[k].store_bytes);
        ud__mib(pk, sizeof pk, (double)s[k].store_peak);
        fprintf(f, "[ud] %4d %4d %3d %7lld %7.3f %7.3f %7s %7s %7s %7s %7s %5lld %5lld %6s %6s %5lld\n",
                s[k].rank, s[k].host, s[k].threads, (long long)s[k].tasks_run, s[k].task_seconds,
                s[k].idle_seconds, sent, recv, inl, sep, sh, (long long)s[k].gets_served,
                (long long)s[k].cleanups, st, pk, (long long)s[k].queued);
    }
}

/* One line a process: a record for every rank the runtime has (ud_num_workers() + 1). */
UD_API void ud_stats_print(FILE *f) {
    int cap = ud_num_workers() + 1, n = 0;
    ud_stats *s = (ud_stats *)ud__alloc((size_t)cap * sizeof *s);
    if (!f) f = stderr;
    if (!s) fprintf(f, "[ud] stats: out of memory for %d records\n", cap);
    else if (ud_stats_get(s, cap, &n) != UD_OK) fprintf(f, "[ud] stats: %s\n", ud_last_error());
    else ud__stats_write(f, s, n);
    ud__free(s, (size_t)cap * sizeof *s);
}

UD_API ud_status ud_stats_get(ud_stats *out, int cap, int *n) {
    UD__REQUIRE_NOT_IN_TASK("stats_get");
    UD__REQUIRE_RUNNING("stats_get");
    if (!n || cap < 0 || (cap > 0 && !out))
        return ud__fail(UD_ERR_ARG, "stats_get: out and n must be given for %d records", cap);
    return ud__rt.be->stats(out, cap, n);
}

UD_API int ud_worker_threads(int w) {
    if (!ud__api_open() || w < 0 || w >= ud__rt.be->num_workers()) return 0;
    return ud__rt.be->worker_threads(w);
}

UD_API int ud_worker_rank(int w) {
    if (!ud__api_open() || w < 0 || w >= ud__rt.be->num_workers()) return -1;
    return ud__rt.be->worker_rank(w);
}

UD_API int ud_worker_id(void) { return ud__cur_task && ud__rt.be ? ud__rt.be->worker_id() : -1; }

/* ---- the threads backend ------------------------------------------------------------------------
   Owns the threads backend's store (ud__th: refs, entries, waiters, under one lock) and its
   pool; the public API calls it through its backend table.
   Seed 002 in C: a pool of worker threads, each with its own queue, chosen round-robin. The
   store is one map under one lock. A task whose argument refs are not ready is parked on them
   (a dependency node a ref argument) and reaches a queue only when the last one is ready, so
   it never holds a worker while it waits. */
typedef struct ud__tt ud__tt;

typedef struct ud__dep {
    ud__tt *task;
    struct ud__dep *next;
} ud__dep;

typedef struct ud__waitrec { /* one blocked ud_wait: how many of its refs are done */
    int count;
} ud__waitrec;

typedef struct ud__watch {     /* a blocked ud_wait's interest in one pending entry */
    ud__waitrec *rec;
    struct ud__watch *next, **prev;
} ud__watch;

typedef struct ud__entry {
    ud_ref ref;
    ud__obj *obj;             /* NULL while its task is pending */
    uint64_t seq;             /* completion order, for wait */
    int32_t holds;            /* the user's ref + tasks that read or produce it + calls in flight */
    int32_t user;             /* the user's ref is live */
    int32_t getters;          /* driver threads blocked in get on it */
    ud__dep *waiters;         /* tasks parked until obj is set */
    ud__watch *watchers;      /* blocked waits that count it */
    struct ud__entry *next_free;
    struct ud__tt *producer;  /* the task that makes it, while it is pending */
    uint64_t maker;           /* the id of the task that made the ref (0: the driver) */
} ud__entry;

struct ud__tt {
    ud__job job;              /* first: the pool's link */
    ud__tt *next;             /* runnable tasks a finish collects */
    const ud__fn *fn;
    int nargs, nret, npending;
    int pin;                  /* the worker it must run on, or -1 */
    size_t bytes;
    ud_part *vals;            /* inline values, copied into this block */
    ud__entry **argent;       /* NULL for an inline value */
    ud__entry **outent;
    ud__dep *deps;
    int depth;                /* its nesting depth (the driver's tasks: 1) */
    uint64_t id;              /* its refs' maker */
    uint64_t visit;           /* the last cycle search that saw it */
    ud__entry **awaiting;     /* while it waits in a get or wait: the entries, under the lock */
    int nawaiting;
};


#define UD__SLAB 4096
#define UD__GOT_CVS 64 /* the conditions blocked gets wait on, chosen by ref (ud__th_got) */

static struct ud__threads {
    pthread_mutex_t mu;       /* guards everything below but the queues */
    pthread_cond_t done;      /* a blocked wait may be done; the last task ended at shutdown */
    pthread_cond_t got[UD__GOT_CVS]; /* an object a get blocks on became ready (ud__th_got) */
    int stopping;             /* shutdown waits for the last task */
    ud__map map;
    int64_t next_num;
    uint64_t seq;
    int64_t inflight;
    ud__entry *free_entries;
    ud__entry **slabs;
    int nslabs;
    size_t capslabs;
    ud__pool pool;
    ud__atomic_llong tasks_run;
    uint64_t next_id, visits; /* tasks' ids; cycle searches */
} ud__th;

/* Under the lock, until what the caller waits for may be ready or deadline (< 0: none)
   passes. A task that waits here has handed its slot on first (ud__th_await_begin). The
   caller checks again. */
static void ud__th_block(double deadline) {
    if (deadline >= 0) {
        struct timespec ts;
        ud__abstime(deadline, &ts);
        pthread_cond_timedwait(&ud__th.done, &ud__th.mu, &ts);
    } else {
        pthread_cond_wait(&ud__th.done, &ud__th.mu);
    }
}

/* The task the calling thread runs, when it is one of this backend's. */
static ud__tt *ud__th_caller(void) {
    return ud__cur_task && ud__pool_index(&ud__th.pool) >= 0 ? (ud__tt *)ud__cur_task->be : NULL;
}


/* Whether waiting on the pending entries of ents would close a cycle: the task that makes
   one of them waits, through the tasks it waits for (their pending arguments and the gets or
   waits they are in), for the calling task me. Under the lock; UD_ERR_ARG names it. A search
   that would look at more than UD__CYCLE_MAX tasks gives up (and the wait goes on). */
static ud_status ud__th_cycle(const char *op, ud__tt *me, ud__entry **ents, int n) {
    ud__tt *seen[UD__CYCLE_MAX];
    int from[UD__CYCLE_MAX]; /* the index in ents that each task seen was reached from */
    int i, k, head, tail = 0;
    uint64_t stamp = ++ud__th.visits;
    for (i = 0; i < n; i++) {
        ud__tt *p = ents[i]->obj ? NULL : ents[i]->producer;
        if (!p || p->visit == stamp) continue;
        if (p == me) return ud__cycle_error(op, ents[i]->ref, NULL, me->fn->name);
        if (tail == UD__CYCLE_MAX) return UD_OK;
        p->visit = stamp;
        from[tail] = i;
        seen[tail++] = p;
    }
    for (head = 0; head < tail; head++) {
        ud__tt *t = seen[head];
        for (k = 0; k < t->nargs + t->nawaiting; k++) {
            ud__entry *e = k < t->nargs ? t->argent[k] : t->awaiting[k - t->nargs];
            ud__tt *p = e && !e->obj ? e->producer : NULL;
            if (!p || p->visit == stamp) continue;
            if (p == me)
                return ud__cycle_error(op, ents[from[head]]->ref, ents[from[head]]->producer->fn->name, me->fn->name);
            if (tail == UD__CYCLE_MAX) return UD_OK;
            p->visit = stamp;
            from[tail] = from[head];
            seen[tail++] = p;
        }
    }
    return UD_OK;
}

static void ud__th_job(ud__job *j);

/* The tasks that make the pending entries of ents and have not started run here, one after
   the other, while the stack has room: the caller would only wait for them, and running them
   depth first keeps the tasks that wait few. Under the lock, which it lets go of to run each. */
static void ud__th_run_awaited(ud__entry **ents, int n) {
    int i, ran = 1;
    while (ran && ud__pool_stack_room(&ud__th.pool)) {
        ran = 0;
        for (i = 0; i < n && !ran; i++) {
            ud__tt *p = ents[i]->obj ? NULL : ents[i]->producer;
            if (!p || p->npending > 0 || !ud__pool_claim(&ud__th.pool, &p->job)) continue;
            pthread_mutex_unlock(&ud__th.mu);
            ud__th_job(&p->job);
            pthread_mutex_lock(&ud__th.mu);
            ran = 1;
        }
    }
}

/* Before a task (the caller, under the lock) waits for ents in a get or wait: a cycle is an
   error; what it waits for runs here if it has not started (an untimed wait, which no clock
   bounds); then, if some are still pending, its slot goes to another thread while it waits
   (*waits: call ud__th_await_end after). A driver thread: nothing. */
static ud_status ud__th_await_begin(const char *op, ud__entry **ents, int n, int untimed, int *waits) {
    ud__tt *me = ud__th_caller();
    ud_status st;
    int i;
    *waits = 0;
    if (!me) return UD_OK;
    if ((st = ud__th_cycle(op, me, ents, n)) != UD_OK) return st;
    if (untimed) ud__th_run_awaited(ents, n);
    for (i = 0; i < n && ents[i]->obj; i++) {}
    if (i == n) return UD_OK;
    if ((st = ud__pool_wait_begin(&ud__th.pool, 0)) != UD_OK) return st;
    me->awaiting = ents;
    me->nawaiting = n;
    *waits = 1;
    return UD_OK;
}

static void ud__th_await_end(int waits) {
    ud__tt *me = ud__th_caller();
    if (!waits) return;
    me->awaiting = NULL;
    me->nawaiting = 0;
    ud__pool_wait_end(&ud__th.pool);
}

static int ud__th_reserve_entries(int n) {
    int i;
    ud__entry *e = ud__th.free_entries;
    for (i = 0; i < n && e; i++) e = e->next_free;
    while (i < n) {
        ud__entry **ns = (ud__entry **)ud__grow(ud__th.slabs, &ud__th.capslabs,
                                                (size_t)ud__th.nslabs + 1, sizeof *ns, 8);
        ud__entry *slab;
        int k;
        if (!ns) return 0;
        ud__th.slabs = ns;
        if (!(slab = (ud__entry *)ud__alloc(UD__SLAB * sizeof *slab))) return 0;
        ud__th.slabs[ud__th.nslabs++] = slab;
        for (k = 0; k < UD__SLAB; k++) {
            slab[k].next_free = ud__th.free_entries;
            ud__th.free_entries = &slab[k];
        }
        i += UD__SLAB;
    }
    return 1;
}

/* A new entry under the lock; room was reserved, so it cannot fail. */
static ud__entry *ud__th_new_entry(ud__obj *obj, int32_t holds) {
    ud__entry *e = ud__th.free_entries;
    ud__tt *maker;
    ud__th.free_entries = e->next_free;
    e->ref.owner = 0;
    e->ref.num = ud__th.next_num++;
    e->obj = obj;
    e->seq = obj ? ++ud__th.seq : 0;
    e->holds = holds;
    e->user = 1;
    e->getters = 0;
    e->waiters = NULL;
    e->watchers = NULL;
    e->producer = NULL;
    e->maker = (maker = ud__th_caller()) != NULL ? maker->id : 0;
    ud__map_put(&ud__th.map, e->ref, e);
    {   /* a few puts ahead: one put takes less time than a miss */
        ud_ref next = e->ref;
        next.num += 3;
        ud__map_prefetch(&ud__th.map, next);
    }
    return e;
}

static void ud__th_drop(ud__entry *e) {
    if (--e->holds > 0) return;
    ud__map_del(&ud__th.map, e->ref);
    ud__obj_release(e->obj);
    e->obj = NULL;
    e->next_free = ud__th.free_entries;
    ud__th.free_entries = e;
}

/* The live entry of a user's ref, or the reason there is none. Under the lock. */
static ud_status ud__th_lookup(const char *op, ud_ref r, ud__entry **out) {
    ud__entry *e = r.owner == 0 && r.num > 0 ? (ud__entry *)ud__map_get(&ud__th.map, r) : NULL;
    if (e && e->user) {
        *out = e;
        return UD_OK;
    }
    return ud__ref_unknown(op, r, r.owner == 0, r.num, ud__th.next_num);
}

static ud_status ud__th_oom(const char *op) {
    return ud__fail(UD_ERR_NOMEM, "%s: out of memory", op);
}

static ud_status ud__th_put(const ud_part *parts, int nparts, ud_ref *out) {
    ud__obj *o = ud__obj_copy(parts, nparts); /* the copy runs outside the lock */
    if (!o) return ud__th_oom("put");
    pthread_mutex_lock(&ud__th.mu);
    if (!ud__th_reserve_entries(1) || !ud__map_reserve(&ud__th.map, 1)) {
        pthread_mutex_unlock(&ud__th.mu);
        ud__obj_release(o);
        return ud__th_oom("put");
    }
    *out = ud__th_new_entry(o, 1)->ref;
    pthread_mutex_unlock(&ud__th.mu);
    return UD_OK;
}

/* Looks up every ref and holds it for the caller; on failure nothing stays held. */
static ud_status ud__th_hold_all(const char *op, const ud_ref *refs, int n, ud__entry **ents) {
    int i;
    ud_status st;
    for (i = 0; i < n; i++) {
        if ((st = ud__th_lookup(op, refs[i], &ents[i])) != UD_OK) {
            while (i-- > 0) ud__th_drop(ents[i]);
            return st;
        }
        ents[i]->holds++;
    }
    return UD_OK;
}

static void ud__th_drop_all(ud__entry **ents, int n) {
    int i;
    for (i = 0; i < n; i++) ud__th_drop(ents[i]);
}

/* The condition a get of e blocks on: a finish wakes its refs' getters, not every blocked
   caller only for most to sleep again. Refs in use at once have neighbouring numbers, so
   few share one. */
static int ud__th_got(const ud__entry *e) { return (int)((uint64_t)e->ref.num % UD__GOT_CVS); }

static ud_status ud__th_get(const ud_ref *refs, int n, ud_view *out) {
    ud__entry *small[16], **ents = n <= 16 ? small : (ud__entry **)ud__alloc((size_t)n * sizeof *ents);
    ud_status st, first = UD_OK;
    int i, waits;
    if (!ents) return ud__th_oom("get");
    pthread_mutex_lock(&ud__th.mu);
    if ((st = ud__th_hold_all("get", refs, n, ents)) == UD_OK) {
        if ((st = ud__th_await_begin("get", ents, n, 1, &waits)) == UD_OK) {
            for (i = 0; i < n; i++) {
                while (!ents[i]->obj) {
                    ents[i]->getters++;
                    pthread_cond_wait(&ud__th.got[ud__th_got(ents[i])], &ud__th.mu);
                    ents[i]->getters--;
                }
                first = ud__get_view(ents[i]->obj, refs[i], &out[i], first);
            }
            ud__th_await_end(waits);
            st = first;
        }
        ud__th_drop_all(ents, n);
    }
    pthread_mutex_unlock(&ud__th.mu);
    if (ents != small) ud__free(ents, (size_t)n * sizeof *ents);
    return st;
}

typedef struct ud__done {
    uint64_t seq;
    int idx;
} ud__done;

static int ud__done_cmp(const void *a, const void *b) {
    const ud__done *x = (const ud__done *)a, *y = (const ud__done *)b;
    if (x->seq != y->seq) return x->seq < y->seq ? -1 : 1;
    return x->idx - y->idx;
}

/* A blocked wait puts a watch on each pending entry; finishing an entry counts it there, so
   the waiter wakes only when it may be done and never rescans its refs meanwhile. */
static void ud__th_unwatch(ud__watch *w) {
    if (!w->prev) return;
    *w->prev = w->next;
    if (w->next) w->next->prev = w->prev;
    w->prev = NULL;
}

static ud_status ud__th_wait(const ud_ref *refs, int n, int num_returns, double timeout,
                             int *ready, int *nready) {
    size_t bytes = (size_t)n * (sizeof(ud__entry *) + sizeof(ud__done) + sizeof(ud__watch));
    ud__entry **ents = (ud__entry **)ud__alloc(bytes);
    ud__done *done = (ud__done *)(ents + n);
    ud__watch *watch = (ud__watch *)(done + n);
    double deadline = timeout >= 0 ? ud__now() + timeout : 0;
    ud__waitrec rec;
    ud_status st;
    int i, count = 0, waits = 0;
    if (!ents) return ud__th_oom("wait");
    rec.count = 0;
    pthread_mutex_lock(&ud__th.mu);
    if ((st = ud__th_hold_all("wait", refs, n, ents)) == UD_OK) {
        for (i = 0; i < n; i++) {
            watch[i].prev = NULL;
            if (ents[i]->obj) {
                rec.count++;
                continue;
            }
            watch[i].rec = &rec;
            watch[i].next = ents[i]->watchers;
            watch[i].prev = &ents[i]->watchers;
            if (ents[i]->watchers) ents[i]->watchers->prev = &watch[i].next;
            ents[i]->watchers = &watch[i];
        }
        if (rec.count < num_returns)
            st = ud__th_await_begin("wait", ents, n, timeout < 0, &waits);
        while (st == UD_OK && rec.count < num_returns && (timeout < 0 || ud__now() < deadline))
            ud__th_block(timeout >= 0 ? deadline : -1);
        ud__th_await_end(waits);
        for (count = 0, i = 0; i < n; i++) {
            ud__th_unwatch(&watch[i]);
            if (ents[i]->obj) { done[count].seq = ents[i]->seq; done[count++].idx = i; }
        }
        ud__th_drop_all(ents, n);
    }
    pthread_mutex_unlock(&ud__th.mu);
    if (st == UD_OK) {
        qsort(done, (size_t)count, sizeof *done, ud__done_cmp);
        *nready = count < num_returns ? count : num_returns;
        for (i = 0; i < *nready; i++) ready[i] = done[i].idx;
        if (count < num_returns)
            st = ud__fail(UD_ERR_TIMEOUT, "wait: %d of %d refs done after %.3f s, %d asked for",
                          count, n, timeout, num_returns);
    }
    ud__free(ents, bytes);
    return st;
}

static void ud__th_enqueue(ud__tt *t) { ud__pool_push(&ud__th.pool, &t->job, t->pin); }

/* One block: the task, its tables, then the inline values' bytes. */
static ud__tt *ud__th_task_alloc(const ud__fn *fn, const ud_arg *args, int nargs, int nret) {
    size_t bytes = UD__ALIGN(sizeof(ud__tt)) +
                   UD__ALIGN((size_t)nargs * (sizeof(ud_part) + sizeof(ud__entry *) + sizeof(ud__dep))) +
                   UD__ALIGN((size_t)nret * sizeof(ud__entry *)), off;
    ud__tt *t;
    char *base;
    int i;
    for (i = 0; i < nargs; i++)
        if (args[i].kind == UD_ARG_VAL) bytes += UD__ALIGN(args[i].size);
    if (!(t = (ud__tt *)ud__alloc(bytes))) return NULL;
    base = (char *)t;
    off = UD__ALIGN(sizeof(ud__tt));
    t->vals = (ud_part *)(base + off);
    t->argent = (ud__entry **)(t->vals + nargs);
    t->deps = (ud__dep *)(t->argent + nargs);
    off += UD__ALIGN((size_t)nargs * (sizeof(ud_part) + sizeof(ud__entry *) + sizeof(ud__dep)));
    t->outent = (ud__entry **)(base + off);
    off += UD__ALIGN((size_t)nret * sizeof(ud__entry *));
    for (i = 0; i < nargs; i++) {
        t->argent[i] = NULL;
        t->vals[i].data = NULL;
        t->vals[i].size = 0;
        if (args[i].kind != UD_ARG_VAL) continue;
        t->vals[i].data = base + off;
        t->vals[i].size = args[i].size;
        if (args[i].size) memcpy(base + off, args[i].data, args[i].size);
        off += UD__ALIGN(args[i].size);
    }
    t->next = NULL;
    t->fn = fn;
    t->nargs = nargs;
    t->nret = nret;
    t->npending = 0;
    t->bytes = bytes;
    t->depth = 1;
    t->id = 0;
    t->visit = 0;
    t->awaiting = NULL;
    t->nawaiting = 0;
    return t;
}

/* One process: a host is the whole pool, and every object is as near as any other. Only a
   pin to a worker stays with one thread. */
static ud_status ud__th_remote(const ud__fn *fn, const ud_arg *args, int nargs, int nret,
                               ud_ref *outs, const ud_opts *opts) {
    ud__tt *t = ud__th_task_alloc(fn, args, nargs, nret);
    ud_status st = UD_OK;
    int i;
    if (!t) return ud__th_oom("remote");
    t->pin = opts && opts->place == UD_ON_WORKER ? opts->index
           : ud__cur_task ? UD__POOL_NESTED : UD__POOL_ANY;
    t->depth = ud__cur_task ? ud__cur_task->depth + 1 : 1;
    pthread_mutex_lock(&ud__th.mu);
    t->id = ++ud__th.next_id;
    if (opts && opts->place == UD_NEAR) {
        ud__entry *near;
        if (ud__th_lookup("", opts->near, &near) != UD_OK) st = ud__near_error(fn);
    }
    for (i = 0; i < nargs && st == UD_OK; i++)
        if (args[i].kind == UD_ARG_REF && (st = ud__th_lookup("", args[i].ref, &t->argent[i])) != UD_OK)
            ud__remote_arg_error(fn, i);
    if (st == UD_OK && (!ud__th_reserve_entries(nret) || !ud__map_reserve(&ud__th.map, (size_t)nret)))
        st = ud__th_oom("remote");
    if (st != UD_OK) {
        pthread_mutex_unlock(&ud__th.mu);
        ud__free(t, t->bytes);
        return st;
    }
    for (i = 0; i < nargs; i++) {
        ud__entry *e = t->argent[i];
        if (!e) continue;
        e->holds++;
        if (!e->obj) { /* park on it */
            t->deps[i].task = t;
            t->deps[i].next = e->waiters;
            e->waiters = &t->deps[i];
            t->npending++;
        }
    }
    for (i = 0; i < nret; i++) {
        t->outent[i] = ud__th_new_entry(NULL, 2); /* the user's ref and the producing task */
        t->outent[i]->producer = t;
        outs[i] = t->outent[i]->ref;
    }
    ud__th.inflight++;
    i = t->npending;
    pthread_mutex_unlock(&ud__th.mu);
    if (ud__pg.on) ud__atomic_add_relaxed(&ud__pg.submitted, 1);
    if (i == 0) ud__th_enqueue(t);
    return UD_OK;
}

/* Publishes the results, wakes the tasks parked on them and lets go of the arguments. */
static void ud__th_finish(ud__tt *t, ud__obj **res) {
    ud__tt *runnable = NULL;
    uint64_t got = 0; /* the conditions of ud__th.got to wake */
    int i, wake = 0;
    pthread_mutex_lock(&ud__th.mu);
    for (i = 0; i < t->nret; i++) {
        ud__entry *e = t->outent[i];
        ud__dep *d;
        ud__watch *w;
        e->obj = res ? res[i] : &ud__oom_obj; /* NULL: no memory to run it */
        e->producer = NULL;
        e->seq = ++ud__th.seq;
        if (e->getters > 0) got |= (uint64_t)1 << ud__th_got(e);
        for (w = e->watchers; w; w = w->next) { /* a wait may be done now */
            w->rec->count++;
            w->prev = NULL;
            wake = 1;
        }
        e->watchers = NULL;
        for (d = e->waiters; d; d = d->next)
            if (--d->task->npending == 0) {
                d->task->next = runnable;
                runnable = d->task;
            }
        e->waiters = NULL;
        ud__th_drop(e);
    }
    for (i = 0; i < t->nargs; i++)
        if (t->argent[i]) ud__th_drop(t->argent[i]);
    ud__th.inflight--;
    if (wake || (ud__th.stopping && ud__th.inflight == 0)) pthread_cond_broadcast(&ud__th.done);
    pthread_mutex_unlock(&ud__th.mu);
    /* After the unlock, as a getter woken under the lock would only block on it; each was
       waiting before it was let go, so none misses its wake. */
    for (i = 0; got; i++, got >>= 1)
        if (got & 1) pthread_cond_broadcast(&ud__th.got[i]);
    while (runnable) {
        ud__tt *next = runnable->next;
        ud__th_enqueue(runnable);
        runnable = next;
    }
}

static void ud__th_run(ud__tt *t) {
    ud_view small_argv[8] = {{NULL, 0, 0, NULL, UD_OK}};
    ud__obj *small_res[8];
    size_t argv_bytes = (size_t)t->nargs * sizeof(ud_view), res_bytes = (size_t)t->nret * sizeof(ud__obj *);
    ud_view *argv = t->nargs <= 8 ? small_argv : (ud_view *)ud__alloc(argv_bytes);
    ud__obj **res = t->nret <= 8 ? small_res : (ud__obj **)ud__alloc(res_bytes);
    int i;
    if (argv && res) {
        for (i = 0; i < t->nargs; i++) {
            if (t->argent[i]) {
                ud__obj_view(t->argent[i]->obj, &argv[i]);
                continue;
            }
            argv[i].data = t->vals[i].data ? t->vals[i].data : "";
            argv[i].size = t->vals[i].size;
            argv[i].nparts = 1;
            argv[i].parts = &t->vals[i];
            argv[i].status = UD_OK;
        }
        ud_task ctx;
        ud__task_begin(&ctx, t->fn, argv, t->nargs, res, t->nret, NULL, t);
        ctx.depth = t->depth;
        ud__task_call(&ctx);
        ud__task_settle(&ctx);
        ud__th_finish(t, res);
    } else {
        ud__th_finish(t, NULL);
    }
    if (argv && argv != small_argv) ud__free(argv, argv_bytes);
    if (res && res != small_res) ud__free(res, res_bytes);
    ud__free(t, t->bytes);
}

/* A task may free only the refs it made: any other is its caller's, which may still use it. */
static ud_status ud__th_not_made(ud__tt *me, ud__entry *e) {
    char text[48];
    ud__ref_text(e->ref, text, sizeof text);
    return ud__fail(UD_ERR_ARG, "free: ref %s was not made by the calling task '%s' (%s made it): a "
                    "task may free only the refs it made", text, me->fn->name,
                    e->maker ? "another task" : "the driver");
}

static ud_status ud__th_free(const ud_ref *refs, int n) {
    ud__tt *me = ud__th_caller();
    ud_status st, first = UD_OK;
    int i;
    pthread_mutex_lock(&ud__th.mu);
    for (i = 0; i < n; i++) { /* free what can be freed; report the first bad ref */
        ud__entry *e = NULL;
        if ((st = ud__th_lookup("free", refs[i], &e)) == UD_OK && me && e->maker != me->id)
            st = ud__th_not_made(me, e);
        if (st != UD_OK) {
            if (first == UD_OK) first = st;
            continue;
        }
        e->user = 0;
        ud__th_drop(e);
    }
    pthread_mutex_unlock(&ud__th.mu);
    if (first != UD_OK && n > 1) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", ud__errbuf);
        ud__fail(first, "%s", msg);
    }
    return first;
}

static void ud__th_job(ud__job *j) {
    ud__atomic_add(&ud__th.tasks_run, 1);
    ud__th_run((ud__tt *)j);
    if (ud__pg.on) ud__atomic_add_relaxed(&ud__pg.done, 1); /* done once it ran */
}

static int ud__th_available(void) { return 1; }
static int ud__th_num_workers(void) { return ud__th.pool.n; }
static int ud__th_rank(void) { return 0; }
static int ud__th_num_hosts(void) { return 1; }
static int ud__th_worker_host(int w) { (void)w; return 0; }
static int ud__th_worker_threads(int w) { (void)w; return 1; }
static int ud__th_worker_rank(int w) { (void)w; return 0; }
static int ud__th_worker_id(void) { return ud__pool_index(&ud__th.pool); }

static ud_status ud__th_stats(ud_stats *out, int cap, int *n) {
    *n = cap > 0;
    if (!cap) return UD_OK;
    memset(out, 0, sizeof *out);
    out->host = -1;
    out->threads = ud__th.pool.n;
    out->tasks_run = (int64_t)ud__atomic_load(&ud__th.tasks_run);
    ud__pool_stats(&ud__th.pool, out);
    ud__obs_stats(out);
    out->queued = ud__atomic_load(&ud__th.pool.open);
    return UD_OK;
}

static void ud__th_release_all(void) {
    size_t i;
    int k;
    for (i = 0; i < ud__th.map.cap; i++)
        if (ud__th.map.slots[i].key.num)
            ud__obj_release(((ud__entry *)ud__th.map.slots[i].val)->obj);
    ud__map_clear(&ud__th.map);
    for (k = 0; k < ud__th.nslabs; k++) ud__free(ud__th.slabs[k], UD__SLAB * sizeof(ud__entry));
    ud__free(ud__th.slabs, ud__th.capslabs * sizeof *ud__th.slabs);
    ud__th.capslabs = 0;
    ud__th.slabs = NULL;
    ud__th.nslabs = 0;
    ud__th.free_entries = NULL;
}

static ud_status ud__th_start(ud_role *role) {
    uint64_t mask[UD__CPU_WORDS];
    int cores = ud__cpu_mask(mask), n = ud__rt.cfg.cpus > 0 ? (int)ud__rt.cfg.cpus : cores, k;
    ud_status st;
    memset(&ud__th, 0, sizeof ud__th);
    ud__th.next_num = ud__run_first();
    if (n > cores)
        ud__log(UD_LOG_WARN, "UNIDIST_CPUS=%d is more than the %d core%s this process may use: "
                "tasks will share them", n, cores, cores == 1 ? "" : "s");
    if ((st = ud__pool_start(&ud__th.pool, n, (int)ud__rt.cfg.spin_us,
                             strcmp(ud__rt.cfg.scheduler, "round_robin") != 0, ud__th_job)) != UD_OK)
        return st;
    pthread_mutex_init(&ud__th.mu, NULL);
    ud__cond_init(&ud__th.done); /* wait's timeout ignores clock changes */
    for (k = 0; k < UD__GOT_CVS; k++) pthread_cond_init(&ud__th.got[k], NULL);
    *role = UD_ROLE_DRIVER;
    ud__log(UD_LOG_INFO, "threads backend: %d workers", n);
    return UD_OK;
}

/* Tasks already submitted finish first; not silently: every UNIDIST_SHUTDOWN_WARN seconds
   the tasks still running are named. Called with ud__th.mu held. */
static void ud__th_wait_inflight(void) {
    double every = (double)ud__rt.cfg.shutdown_warn, since = ud__now(), next = since + every;
    while (ud__th.inflight > 0) {
        struct timespec until;
        char text[1024];
        long left;
        int n;
        if (every <= 0) {
            pthread_cond_wait(&ud__th.done, &ud__th.mu);
            continue;
        }
        ud__abstime(next, &until);
        if (pthread_cond_timedwait(&ud__th.done, &ud__th.mu, &until) == 0 || ud__now() < next) continue;
        n = ud__pool_running_text(&ud__th.pool, text, sizeof text);
        left = (long)ud__th.inflight;
        pthread_mutex_unlock(&ud__th.mu); /* the log hook may call the runtime */
        ud__log(UD_LOG_WARN, "shutdown has waited %.0f s for %ld task%s: %d running%s%s%s", next - since,
                left, left == 1 ? "" : "s", n, n ? " (" : "", text, n ? ")" : "");
        pthread_mutex_lock(&ud__th.mu);
        next += every;
    }
}

static ud_status ud__th_stop(void) {
    int k;
    pthread_mutex_lock(&ud__th.mu);
    ud__th.stopping = 1;
    ud__th_wait_inflight();
    pthread_mutex_unlock(&ud__th.mu);
    ud__pool_stop(&ud__th.pool);
    ud__th_release_all();
    pthread_cond_destroy(&ud__th.done);
    for (k = 0; k < UD__GOT_CVS; k++) pthread_cond_destroy(&ud__th.got[k]);
    pthread_mutex_destroy(&ud__th.mu);
    return UD_OK;
}

static const ud__backend *ud__threads_backend(void) {
    static const ud__backend be = {
        "threads", ud__th_available, ud__th_start, ud__th_stop, ud__th_put, ud__th_get,
        ud__th_wait, ud__th_remote, ud__th_free, ud__th_num_workers, ud__th_rank,
        ud__th_num_hosts, ud__th_worker_host, ud__th_worker_threads, ud__th_worker_id, ud__th_stats,
        ud__th_worker_rank,
    };
    return &be;
}

#endif /* UD_IMPLEMENTATION */

/*
   LICENSE: Apache License 2.0, see the file LICENSE.
   Copyright 2026 the unidist for C authors.
   The design follows unidist (Apache-2.0, Copyright (C) 2021-2023 Modin authors).
*/
