/* unidist_shm.h - v0.1.0 - the shared object store of unidist for C - Apache-2.0 (see LICENSE)

   USAGE
     Nothing to include: unidist_mpi.h includes it, and with UNIDIST_IMPLEMENTATION its
     implementation comes along. The MPI backend keeps every object of more than
     UNIDIST_MPI_SHARED_OBJECT_STORE_THRESHOLD bytes in a store that the ranks of a host share:
     a task writes a large result straight into it, and the driver or a task on the same host
     reads it in place (the view ud_get returns points into the store). The calls below only
     look at the store, for tests and tools.

   HOW IT WORKS (seed 004)
     Each host has two MPI-3 shared windows on the host's communicator: the data, and the
     service buffer of 4 integers an entry (owner, number, first byte, references), each with
     a descriptor of the part sizes so that a view touches no page of the data. The host's
     manager, its lowest rank but the driver (a worker: the duty runs on its loop thread),
     allocates both and sees every rank of the host out at shutdown. The free ranges and the
     entries' places live in the service buffer under a lock there: any thread of any rank of
     the host reserves room for what it writes, and the rank that lets go of an entry last
     frees it, with no message. A driver alone on its host has no store. A writer reserves, writes, then publishes the
     entry with one reference, its own; every rank of the host that reads it pins it (+1) and
     unpins it (-1) when its ref goes. A rank on another host gets the bytes once through MPI
     and keeps them in its own host's store, where the other ranks of that host find them.
     A full store is no error: the object stays in the rank's own memory.

   COMPILE-TIME OPTIONS / ENVIRONMENT (rows of UD_CONFIG_TABLE in unidist.h)
     UNIDIST_MPI_SHARED_OBJECT_STORE            1; 0 turns the store off (a ud_config field
                                                cannot: 0 there means "not set")
     UNIDIST_MPI_SHARED_OBJECT_STORE_THRESHOLD  100000: larger objects go to the store
     UNIDIST_MPI_SHARED_OBJECT_STORE_MEMORY     0: 95% of the free /dev/shm, shared out among
                                                the virtual hosts of a machine
     UNIDIST_MPI_SHARED_SERVICE_MEMORY          0: two entries (88 bytes each) for every
                                                threshold-sized object the store can hold
                                                (1M entries at most)
     UNIDIST_MPI_HOSTS                          for tests: split each host into this many
                                                virtual hosts, which share no memory
     Asking for more than /dev/shm has free is an error at init that names the host.

   THREAD SAFETY
     Reserving room and letting go of entries: any thread (a task thread gets room for its
     result itself). The rest: a rank's loop thread, as the MPI backend calls it.

   CONTENTS (the implementation's sections, in order)
     the store's layout and state   the windows' format, and this rank's view of its host's store
     using the store                reserve, publish, pin, find and read entries: any rank
     the allocator                  free ranges and entries under one lock: any thread of the host
     the manager                    the END of each rank of the host, on one rank of each host
     opening and closing            the store's size, windows, manager and virtual hosts
*/
#ifndef UNIDIST_SHM_H
#define UNIDIST_SHM_H

#include "unidist.h"
/* C++: MPI's C bindings only (the old C++ ones are deprecated and fail -Wextra -Werror) */
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ud_shm_stats {
    int enabled;              /* this rank's host has a store */
    int host, hosts;          /* this rank's host (0: the driver's), and how many there are */
    int manager;              /* the rank that manages this host's store */
    uint64_t capacity;        /* bytes of the data window */
    uint64_t used;            /* bytes reserved now */
    int64_t entries;          /* entries reserved or published now */
    int64_t slots;            /* entries the service buffer can hold */
} ud_shm_stats;

/* The store of this rank's host as its manager last wrote it; enabled is 0 without one. */
UD_API ud_status ud_shm_stats_get(ud_shm_stats *out);
/* 1 when p points into this host's store: a view read in place, without a copy. */
UD_API int ud_shm_contains(const void *p);
/* The host of a rank (0: the driver's), or -1 when there is no such rank. */
UD_API int ud_shm_host(int rank);
/* How many ranks of this host reference ref's object in the store now (0: it is not there). */
UD_API int64_t ud_shm_refs(ud_ref ref);

#ifdef __cplusplus
}
#endif
#endif /* UNIDIST_SHM_H */

/* ============================================================================================
   IMPLEMENTATION
   ============================================================================================ */
#if defined(UNIDIST_IMPLEMENTATION) && !defined(UD_SHM_IMPLEMENTATION)
#define UD_SHM_IMPLEMENTATION
#endif

#if defined(UD_SHM_IMPLEMENTATION) && !defined(UD__SHM_IMPL_DONE)
#define UD__SHM_IMPL_DONE

#ifndef UD__IMPL_DONE
#error "unidist_shm.h: the store's implementation needs the core's in the same file: define UNIDIST_IMPLEMENTATION"
#endif

#include <errno.h>
#include <sys/mman.h>
#include <sys/statvfs.h>

/* ---- the store's layout and state ----------------------------------------------------------------
   Owns the format of the two windows (entries, descriptors, objects) and this rank's view of
   its host's store (ud__sh), which opening and closing set up and tear down; the functions
   below only read it, but for the manager's free list and the counts. */
#define UD__SHM_TAG 0x7566
#define UD__SHM_ALIGN 64          /* a cache line: parts of different objects never share one */
#define UD__SHM_PROBES 64         /* an entry sits at most this far from its home slot */
#define UD__SHM_MAGIC 0x7564736dLL
#define UD__SHM_MAX_SLOTS (1LL << 20)
#define UD__OBJ_PUBLISHED 4u      /* a wrapper whose entry readers may pin */

/* A service entry: the seed's 4 integers. Only the manager writes owner, number and first;
   number is the key (a DataID's number names its owner too): 0 empty, -1 freed. References
   change with atomic operations from every rank of the host; 0 is final (nobody may pin). */
enum { UD__SE_OWNER, UD__SE_NUM, UD__SE_FIRST, UD__SE_REFS, UD__SE_INTS };
/* The store's one message: END, a rank of the host shutting down (1 and 2 were requests for
   room and releases, which every rank now makes in the service buffer itself: a manager drops
   them as it drops anything but END). */
enum { UD__SHM_RESERVE = 1, UD__SHM_RELEASE = 2, UD__SHM_END = 3 };

typedef struct ud__shm_head { /* the start of the service buffer */
    int64_t magic, nslots, capacity, used, entries;
    int64_t lock;             /* the allocator's: 1 while a rank of the host holds it */
    int64_t nfree;            /* free ranges, after the slots' lengths */
    int64_t reserved;
} ud__shm_head;

typedef struct ud__shm_objhead { /* an object in the data window: this, part sizes, parts */
    int32_t status, nparts;
    uint64_t total;
} ud__shm_objhead;

/* Beside the entries, one of these a slot: what a reader needs to build its view without
   touching the object's pages (the first touch of a page costs this rank a fault), for
   objects of up to 3 parts; more parts are read from the object's head. */
#define UD__SHM_DESC_PARTS 3
typedef struct ud__shm_desc {
    int32_t status, nparts;
    uint64_t sizes[UD__SHM_DESC_PARTS];
} ud__shm_desc;

typedef struct ud__shm_range {
    uint64_t off, len;
} ud__shm_range;

/* A slot's share of the service buffer: its entry, its descriptor, the length of its range,
   and room for one free range (there are never more free ranges than entries, plus one). */
#define UD__SHM_SLOT_BYTES (UD__SE_INTS * sizeof(int64_t) + sizeof(ud__shm_desc) + sizeof(uint64_t) + sizeof(ud__shm_range))

static uint64_t ud__shm_svc_bytes(int64_t nslots) {
    return sizeof(ud__shm_head) + (uint64_t)nslots * UD__SHM_SLOT_BYTES + sizeof(ud__shm_range);
}

typedef struct ud__shm_msg { /* END: the op alone */
    int64_t op, a, b, c;
} ud__shm_msg;

static struct ud__shm {
    int on;                   /* this rank's host has a store */
    int quiet;                /* shutting down: entries let go of are no longer freed */
    int opened, nwins;        /* ud__shm_open ran; windows allocated (data, then service) */
    int separate;             /* the data window's model is MPI_WIN_SEPARATE (never seen yet) */
    MPI_Comm host;
    MPI_Win dwin, swin;
    char *data;
    ud__shm_head *head;
    int64_t *svc;             /* nslots entries of UD__SE_INTS */
    ud__shm_desc *desc;       /* nslots, after the entries */
    uint64_t capacity, threshold;
    int64_t nslots;
    int rank, manager, manager_local, is_manager;
    int *host_of;             /* every rank's host */
    int *manager_of;          /* every host's manager (-1: none, the driver is alone there) */
    int nranks, nhosts;
    uint64_t *slot_len;       /* bytes of each entry's range (in the service buffer) */
    ud__shm_range *free;      /* free ranges by offset, never adjacent (in the service buffer) */
    int ends;                 /* manager: ranks of the host that said they are done */
    uint64_t *populated;      /* chunks of the data window this process has mapped (a bitset) */
    size_t npopulated;        /* words of it; 0: none, every range is populated again */
} ud__sh;

static int64_t *ud__shm_entry(int64_t slot) { return ud__sh.svc + slot * UD__SE_INTS; }

static int64_t ud__shm_load(const int64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static void ud__shm_store(int64_t *p, int64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

static int64_t ud__shm_home(int64_t num) {
    return (int64_t)(((uint64_t)num * 0x9E3779B97F4A7C15ull >> 16) % (uint64_t)ud__sh.nslots);
}

static uint64_t ud__shm_up(uint64_t n) { return (n + UD__SHM_ALIGN - 1) & ~(uint64_t)(UD__SHM_ALIGN - 1); }

/* Bytes an object takes in the window: its head and sizes, then each part and a NUL. */
static uint64_t ud__shm_extent(const size_t *sizes, int nparts) {
    uint64_t n = ud__shm_up(sizeof(ud__shm_objhead) + (uint64_t)nparts * sizeof(uint64_t));
    int k;
    for (k = 0; k < nparts; k++) {
        if (n > UINT64_MAX / 2 || sizes[k] > UINT64_MAX / 2 - n) return UINT64_MAX; /* no wrap */
        n += ud__shm_up((uint64_t)sizes[k] + 1);
    }
    return n;
}

UD_API int ud_shm_contains(const void *p) {
    const char *c = (const char *)p;
    return ud__sh.on && c >= ud__sh.data && c < ud__sh.data + ud__sh.capacity;
}

UD_API ud_status ud_shm_stats_get(ud_shm_stats *out) {
    if (!out) return ud__fail(UD_ERR_ARG, "shm_stats_get: out is NULL");
    memset(out, 0, sizeof *out);
    out->manager = -1;
    if (!ud__sh.host_of) return UD_OK;
    out->host = ud__sh.host_of[ud__sh.rank];
    out->hosts = ud__sh.nhosts;
    out->manager = ud__sh.manager;
    if (!ud__sh.on) return UD_OK;
    out->enabled = 1;
    out->capacity = ud__sh.capacity;
    out->used = (uint64_t)ud__shm_load(&ud__sh.head->used);
    out->entries = ud__shm_load(&ud__sh.head->entries);
    out->slots = ud__sh.nslots;
    return UD_OK;
}

UD_API int ud_shm_host(int rank) {
    return ud__sh.host_of && rank >= 0 && rank < ud__sh.nranks ? ud__sh.host_of[rank] : -1;
}

UD_API int64_t ud_shm_refs(ud_ref ref) {
    int64_t p, h;
    if (!ud__sh.on || ref.num <= 0) return 0;
    for (p = 0, h = ud__shm_home(ref.num); p < UD__SHM_PROBES && p < ud__sh.nslots; p++) {
        int64_t *e = ud__shm_entry((h + p) % ud__sh.nslots), num = ud__shm_load(&e[UD__SE_NUM]), r;
        if (num == 0) break;
        if (num == ref.num && (r = ud__shm_load(&e[UD__SE_REFS])) > 0 &&
            ud__shm_load(&e[UD__SE_NUM]) == ref.num) /* not freed and reused in between */
            return r;
    }
    return 0;
}

/* ---- using the store -----------------------------------------------------------------------------
   Owns a rank's side of the store: reserving room (any thread, under the allocator's lock:
   a task thread gets room for its result without a round trip to a loop), publishing,
   pinning, finding and attaching entries, and reading them in place. Writes the service
   entries' reference counts and the descriptors of what it wrote; the MPI backend's root, its
   worker's loop and task threads, and its readers call it. */
static void ud__shm_lock(void);
static void ud__shm_unlock(void);
static void ud__shm_free_entry(int64_t slot, int64_t num);
static int64_t ud__shm_alloc(int64_t num, int64_t owner, int64_t bytes, int64_t *first);

/* An entry nobody references any more is freed, by whoever let go of it last. */
static void ud__shm_report(int64_t slot) {
    if (ud__sh.quiet || !ud__sh.data) return;
    ud__shm_lock();
    ud__shm_free_entry(slot, ud__shm_load(&ud__shm_entry(slot)[UD__SE_NUM]));
    ud__shm_unlock();
}

/* Pins an entry that someone else references: references only rise from above zero. */
static int ud__shm_pin(int64_t *e) {
    int64_t r = ud__shm_load(&e[UD__SE_REFS]);
    while (r > 0)
        if (__atomic_compare_exchange_n(&e[UD__SE_REFS], &r, r + 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return 1;
    return 0;
}

/* The last reference tells the manager, which frees the entry. */
static void ud__shm_unpin(int64_t slot) {
    if (!ud__sh.data) return; /* the store is gone (shutdown): nothing to free */
    if (__atomic_sub_fetch(&ud__shm_entry(slot)[UD__SE_REFS], 1, __ATOMIC_ACQ_REL) == 0)
        ud__shm_report(slot);
}

/* A reference for a rank of this host that the caller hands the object to (it holds one). */
static void ud__shm_pin_for_peer(const ud__obj *o) {
    __atomic_add_fetch(&ud__shm_entry(o->slot)[UD__SE_REFS], 1, __ATOMIC_ACQ_REL);
}

/* The core calls this when a wrapper's last local holder lets go. */
static void ud__shm_release(ud__obj *o) {
    if (o->flags & UD__OBJ_PUBLISHED) ud__shm_unpin(o->slot);
    else ud__shm_report(o->slot); /* reserved, never published: nobody else has seen it */
    ud__free(o, o->bytes);
}

/* A local object whose parts are the window's bytes at first, described by the slot's
   descriptor (and the object's head past 3 parts). NULL: malformed (out of the window, or
   not on a cache line as every object the manager places) or no memory. */
static ud__obj *ud__shm_wrap(int64_t slot, uint64_t first) {
    const ud__shm_desc *d = &ud__sh.desc[slot];
    const uint64_t *sizes = d->sizes;
    uint64_t off;
    ud__obj *o;
    int k, nparts = d->nparts;
    if (first > ud__sh.capacity || (first & (UD__SHM_ALIGN - 1)) != 0 ||
        ud__sh.capacity - first < sizeof(ud__shm_objhead) || nparts < 0 ||
        (uint64_t)nparts > (ud__sh.capacity - first - sizeof(ud__shm_objhead)) / sizeof *sizes)
        return NULL;
    if (nparts > UD__SHM_DESC_PARTS) sizes = (const uint64_t *)(ud__sh.data + first + sizeof(ud__shm_objhead));
    if (!(o = (ud__obj *)ud__alloc(ud__obj_header(nparts)))) return NULL;
    o->status = d->status;
    o->nparts = nparts;
    o->flags = UD__OBJ_SHARED;
    o->refs = 1;
    o->bytes = ud__obj_header(nparts);
    o->total = 0;
    o->slot = slot;
    off = first + ud__shm_up(sizeof(ud__shm_objhead) + (uint64_t)nparts * sizeof *sizes);
    for (k = 0; k < nparts; k++) {
        if (sizes[k] >= ud__sh.capacity || off + sizes[k] >= ud__sh.capacity) {
            ud__free(o, o->bytes);
            return NULL;
        }
        o->parts[k].data = ud__sh.data + off;
        o->parts[k].size = (size_t)sizes[k];
        o->total += (size_t)sizes[k];
        off += ud__shm_up(sizes[k] + 1);
    }
    if (nparts == 0) o->parts[0].data = "";
    return o;
}

/* Faults the range in now, a call a chunk: when /dev/shm cannot back it after all (other
   users filled it), that is a full store here, and not a SIGBUS in the middle of a task. The
   call maps pages 10x faster than first touches do, and the store never gives pages back, so
   a chunk this process mapped once is skipped after (a call over mapped pages still walks them:
   3 ms for 256 MiB, a fifth of copying them). */
#define UD__SHM_CHUNK ((uint64_t)2 << 20)

static int ud__shm_chunk_mapped(uint64_t c) { /* (task threads too: atomically) */
    return c / 64 < ud__sh.npopulated && (__atomic_load_n(&ud__sh.populated[c / 64], __ATOMIC_RELAXED) >> (c % 64) & 1);
}

static void ud__shm_chunk_mark(uint64_t c) {
    if (c / 64 < ud__sh.npopulated) __atomic_or_fetch(&ud__sh.populated[c / 64], (uint64_t)1 << (c % 64), __ATOMIC_RELAXED);
}

/* Chunk by chunk, each whole (clipped to the window), so that it is marked mapped and never
   walked again: objects smaller than a chunk, the common case, then map nothing after the
   first few. */
static int ud__shm_populate(uint64_t off, uint64_t len) {
    uint64_t c, last = (off + len - 1) / UD__SHM_CHUNK;
    for (c = off / UD__SHM_CHUNK; len && c <= last; c++) {
        uint64_t from = c * UD__SHM_CHUNK, to = from + UD__SHM_CHUNK;
        if (ud__shm_chunk_mapped(c)) continue;
        if (to > ud__sh.capacity) to = ud__sh.capacity;
        if (!ud__map_pages((uintptr_t)(ud__sh.data + from) & ~(uintptr_t)4095,
                           ((uintptr_t)(ud__sh.data + to) + 4095) & ~(uintptr_t)4095))
            return 0;
        ud__shm_chunk_mark(c);
    }
    return 1;
}

/* Would an object of these parts go to the store? (it may still find no room there) */
static int ud__shm_wants(const size_t *sizes, int nparts) {
    uint64_t total = 0;
    int k;
    for (k = 0; k < nparts; k++) total += sizes[k]; /* a sum that wraps has need > capacity */
    return ud__sh.on && !ud__sh.quiet && total > ud__sh.threshold &&
           ud__shm_extent(sizes, nparts) <= ud__sh.capacity;
}

/* Room in this host's store for an object of these parts, known as key: a wrapper that the
   caller fills, then publishes (or releases). NULL: not above the threshold, no store, no
   room or no memory; the caller keeps the object in its own memory instead. Any thread. */
static ud__obj *ud__shm_reserve(ud_ref key, const size_t *sizes, int nparts) {
    uint64_t need = ud__shm_extent(sizes, nparts), off;
    ud__shm_objhead *oh;
    ud__obj *o;
    int64_t slot, first = -1;
    int k;
    if (!ud__shm_wants(sizes, nparts)) return NULL;
    ud__shm_lock();
    slot = ud__shm_alloc(key.num, key.owner, (int64_t)need, &first);
    ud__shm_unlock();
    if (slot < 0) return NULL;
    off = (uint64_t)first;
    if (!ud__shm_populate(off, need)) {
        ud__log(UD_LOG_WARN, "shared store: /dev/shm cannot back %llu more bytes; kept in local memory",
                (unsigned long long)need);
        ud__shm_report(slot);
        return NULL;
    }
    oh = (ud__shm_objhead *)(ud__sh.data + off);
    oh->status = ud__sh.desc[slot].status = UD_OK;
    oh->nparts = ud__sh.desc[slot].nparts = nparts;
    oh->total = 0;
    for (k = 0; k < nparts; k++) {
        ((uint64_t *)(oh + 1))[k] = sizes[k];
        if (k < UD__SHM_DESC_PARTS) ud__sh.desc[slot].sizes[k] = sizes[k];
        oh->total += sizes[k];
    }
    if (!(o = ud__shm_wrap(slot, off))) {
        ud__shm_report(slot);
        return NULL;
    }
    for (k = 0; k < nparts; k++) ((char *)o->parts[k].data)[sizes[k]] = '\0';
    return o;
}

/* Makes a filled reservation readable by the host: the bytes first, then the reference. */
static void ud__shm_publish(ud__obj *o) {
    if (!(o->flags & UD__OBJ_SHARED) || (o->flags & UD__OBJ_PUBLISHED)) return;
    MPI_Win_sync(ud__sh.dwin);
    ud__shm_store(&ud__shm_entry(o->slot)[UD__SE_REFS], 1);
    o->flags |= UD__OBJ_PUBLISHED;
    ud__atomic_add_relaxed(&ud__ob.shared_written, (long long)o->total);
}

/* A copy of parts in the store, published under key; NULL: it belongs in local memory. */
static ud__obj *ud__shm_put_parts(ud_ref key, const ud_part *parts, int nparts) {
    size_t small[8] = {0}, *sizes = nparts <= 8 ? small : (size_t *)ud__alloc((size_t)nparts * sizeof *sizes);
    ud__obj *o;
    int k;
    if (!sizes) return NULL;
    for (k = 0; k < nparts; k++) sizes[k] = parts[k].size;
    if ((o = ud__shm_reserve(key, sizes, nparts)) != NULL) {
        for (k = 0; k < nparts; k++)
            if (parts[k].size) memcpy((void *)o->parts[k].data, parts[k].data, parts[k].size);
        ud__shm_publish(o);
    }
    if (sizes != small) ud__free(sizes, (size_t)nparts * sizeof *sizes);
    return o;
}

/* A wrapper for a pinned entry, whose bytes this rank may now read; NULL (unpinned) without
   memory or when the entry is malformed.
   The writer's bytes are ordered before this rank's loads without an MPI_Win_sync here: the
   writer syncs, then stores the entry's first reference with release; the pin (a CAS) or the
   check of a pin given by message (ud__shm_holds) loads it with acquire, and lock-free atomics
   order memory between processes as between threads. The MPI standard speaks of windows only
   through its own calls, so this leans on C11 atomics and on what the MPIs do: for a window
   of the unified model, Open MPI's sync is a full memory barrier and MPICH's a read and write
   barrier, which the acquire already is for the loads that follow. A first get of a result so
   saves a call into the MPI library: about 1 us when its code is cold. */
static ud__obj *ud__shm_open_pinned(int64_t slot) {
    ud__obj *o;
    if (ud__sh.separate) MPI_Win_sync(ud__sh.dwin);
    if (!(o = ud__shm_wrap(slot, (uint64_t)ud__shm_load(&ud__shm_entry(slot)[UD__SE_FIRST])))) {
        ud__shm_unpin(slot);
        return NULL;
    }
    o->flags |= UD__OBJ_PUBLISHED;
    ud__atomic_add_relaxed(&ud__ob.shared_read, (long long)o->total);
    return o;
}

static int ud__shm_holds(int64_t slot, int64_t num);

/* An entry another rank of the host pinned for this one (PUT_SHARED_DATA). NULL: the message
   named no such entry, or no memory (the pin is then given back). */
static ud__obj *ud__shm_attach(int64_t slot, int64_t num) {
    return ud__shm_holds(slot, num) ? ud__shm_open_pinned(slot) : NULL;
}

/* Whether the entry is there and live (when ud__shm_attach failed: then for want of memory). */
static int ud__shm_holds(int64_t slot, int64_t num) {
    int64_t *e;
    if (!ud__sh.on || slot < 0 || slot >= ud__sh.nslots) return 0;
    e = ud__shm_entry(slot);
    return ud__shm_load(&e[UD__SE_NUM]) == num && ud__shm_load(&e[UD__SE_REFS]) > 0;
}

/* The object key names, if some rank of this host published it: pinned for the caller. */
static ud__obj *ud__shm_find(ud_ref key) {
    int64_t p, h, slot;
    if (!ud__sh.on || key.num <= 0 || ud__shm_load(&ud__sh.head->entries) == 0) return NULL;
    for (p = 0, h = ud__shm_home(key.num); p < UD__SHM_PROBES && p < ud__sh.nslots; p++) {
        int64_t *e = ud__shm_entry(slot = (h + p) % ud__sh.nslots), num = ud__shm_load(&e[UD__SE_NUM]);
        if (num == 0) return NULL;
        if (num != key.num || !ud__shm_pin(e)) continue;
        if (ud__shm_load(&e[UD__SE_NUM]) == key.num) return ud__shm_open_pinned(slot);
        ud__shm_unpin(slot); /* freed and reused between the two loads */
    }
    return NULL;
}

/* ---- the allocator ---------------------------------------------------------------------------------
   Owns the free ranges of the data window and the entries' owner, number, first byte and
   length, all in the service buffer under one lock there, so that any thread of any rank of
   the host reserves room and frees entries itself, in a few microseconds, without asking a
   loop: a task thread that needs room for its result never waits for one. The lock is held
   for one first fit over the free ranges, or one merge, at most. */
static void ud__shm_lock(void) {
    unsigned spins = 0;
    while (__atomic_exchange_n(&ud__sh.head->lock, 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(&ud__sh.head->lock, __ATOMIC_RELAXED))
            if (++spins % 64 == 0) sched_yield(); /* its holder may wait for this core */
}

static void ud__shm_unlock(void) { __atomic_store_n(&ud__sh.head->lock, 0, __ATOMIC_RELEASE); }

static int64_t ud__shm_take(uint64_t len) { /* first fit */
    int64_t i, n = ud__sh.head->nfree;
    for (i = 0; i < n; i++) {
        ud__shm_range *r = &ud__sh.free[i];
        uint64_t off = r->off;
        if (r->len < len) continue;
        r->off += len;
        r->len -= len;
        if (!r->len) {
            memmove(r, r + 1, (size_t)(n - i - 1) * sizeof *r);
            ud__sh.head->nfree--;
        }
        return (int64_t)off;
    }
    return -1;
}

/* Returns a range, merged with its free neighbours so that large objects fit again. */
static void ud__shm_give(uint64_t off, uint64_t len) {
    int64_t lo = 0, hi = ud__sh.head->nfree, i, n = hi;
    ud__shm_range *f;
    while (lo < hi) { /* the first free range after off */
        int64_t mid = lo + (hi - lo) / 2;
        if (ud__sh.free[mid].off < off) lo = mid + 1;
        else hi = mid;
    }
    i = lo;
    f = ud__sh.free;
    if (i > 0 && f[i - 1].off + f[i - 1].len == off) {
        f[i - 1].len += len;
        if (i < n && off + len == f[i].off) {
            f[i - 1].len += f[i].len;
            memmove(f + i, f + i + 1, (size_t)(n - i - 1) * sizeof *f);
            ud__sh.head->nfree--;
        }
        return;
    }
    if (i < n && off + len == f[i].off) {
        f[i].off = off;
        f[i].len += len;
        return;
    }
    if (n > ud__sh.nslots) { /* more free ranges than entries + 1: cannot be; leak it */
        ud__log(UD_LOG_ERROR, "shared store: its free list is full; %llu bytes are lost", (unsigned long long)len);
        return;
    }
    memmove(f + i + 1, f + i, (size_t)(n - i) * sizeof *f);
    f[i].off = off;
    f[i].len = len;
    ud__sh.head->nfree++;
}

static int64_t ud__shm_free_slot(int64_t num) {
    int64_t p, h = ud__shm_home(num);
    for (p = 0; p < UD__SHM_PROBES && p < ud__sh.nslots; p++) {
        int64_t slot = (h + p) % ud__sh.nslots, n = ud__shm_entry(slot)[UD__SE_NUM];
        if (n == 0 || n == -1) return slot;
    }
    return -1;
}

/* Room for bytes under key num: the entry's slot and first byte, or -1 when none is free.
   Under the lock. */
static int64_t ud__shm_alloc(int64_t num, int64_t owner, int64_t bytes, int64_t *first) {
    uint64_t len = ud__shm_up((uint64_t)bytes);
    int64_t off, slot, *e;
    if (num <= 0 || bytes <= 0 || len > ud__sh.capacity || (slot = ud__shm_free_slot(num)) < 0 ||
        (off = ud__shm_take(len)) < 0)
        return -1;
    e = ud__shm_entry(slot);
    e[UD__SE_OWNER] = owner;
    e[UD__SE_FIRST] = off;
    ud__shm_store(&e[UD__SE_REFS], 0);
    ud__sh.slot_len[slot] = len;
    ud__shm_store(&ud__sh.head->used, ud__sh.head->used + (int64_t)len);
    ud__shm_store(&ud__sh.head->entries, ud__sh.head->entries + 1);
    ud__shm_store(&e[UD__SE_NUM], num); /* the key last: a lookup then sees a whole entry */
    *first = off;
    return slot;
}

/* An entry whose last reference went: nobody can pin it again, so it is free. Under the lock. */
static void ud__shm_free_entry(int64_t slot, int64_t num) {
    int64_t *e, zero = 0;
    if (slot < 0 || slot >= ud__sh.nslots || (e = ud__shm_entry(slot))[UD__SE_NUM] != num || num <= 0 ||
        !__atomic_compare_exchange_n(&e[UD__SE_REFS], &zero, -1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        ud__log(UD_LOG_ERROR, "shared store: dropped a release of entry %lld (number %lld)",
                (long long)slot, (long long)num);
        return;
    }
    ud__shm_store(&e[UD__SE_NUM], -1);
    ud__shm_give((uint64_t)e[UD__SE_FIRST], ud__sh.slot_len[slot]);
    ud__shm_store(&ud__sh.head->used, ud__sh.head->used - (int64_t)ud__sh.slot_len[slot]);
    ud__shm_store(&ud__sh.head->entries, ud__sh.head->entries - 1);
}

/* ---- the manager -----------------------------------------------------------------------------------
   A duty of the lowest rank but the driver of each host, carried by its loop (ud__shm_serve,
   which does nothing on other ranks): its rank allocated the windows, and it counts the ranks
   of the host that have said END, so that shutdown frees them only once all are out. */
/* The manager's share of a loop: takes the END of a rank of its host that is shutting down
   (the store's only message). Returns how many. */
static int ud__shm_serve(void) {
    int n = 0, flag = 0, count = 0;
    MPI_Status s;
    if (!ud__sh.is_manager) return 0;
    while (n < 64) {
        ud__shm_msg m;
        if (MPI_Iprobe(MPI_ANY_SOURCE, UD__SHM_TAG, ud__sh.host, &flag, &s) != MPI_SUCCESS || !flag) break;
        if (MPI_Recv(&m, 4, MPI_INT64_T, s.MPI_SOURCE, UD__SHM_TAG, ud__sh.host, &s) != MPI_SUCCESS)
            ud__panic("shared store manager: a receive failed");
        n++;
        /* a shorter message leaves the rest of m unwritten: nothing a rank sent to act on */
        if (MPI_Get_count(&s, MPI_INT64_T, &count) != MPI_SUCCESS || count != 4 || m.op != UD__SHM_END) {
            ud__log(UD_LOG_ERROR, "shared store manager: dropped a message that is not END from "
                    "host rank %d", s.MPI_SOURCE);
            continue;
        }
        ud__sh.ends++;
    }
    return n;
}

/* ---- opening and closing ---------------------------------------------------------------------------
   Owns the store's life: its size checked against /dev/shm (naming the host), the windows made
   and freed collectively over the host, the manager chosen, and the virtual hosts of tests.
   The MPI backend's start and stop call it. */
static void ud__shm_size_text(uint64_t n, char *buf, size_t cap) {
    if (n >= (1ull << 50)) snprintf(buf, cap, "%.1f PiB", (double)n / (double)(1ull << 50));
    else if (n >= (1ull << 30)) snprintf(buf, cap, "%.1f GiB", (double)n / (double)(1ull << 30));
    else snprintf(buf, cap, "%.1f MiB", (double)n / (double)(1ull << 20));
}

/* Hosts as the ranks see them: the real ones (machine: the ranks of comm that share this
   rank's memory, in rank order), each split into UNIDIST_MPI_HOSTS virtual ones by local rank,
   numbered in the order of their lowest rank. Fills host_of and manager_of (each host's lowest
   rank but the driver; the driver, alone on its host, when it runs tasks: driver_works);
   returns how many virtual hosts share this rank's machine, or 0 when a rank is out of memory.
   Collective over comm. */
static int ud__shm_topology(MPI_Comm comm, MPI_Comm machine, int vhosts, int driver_works, MPI_Comm *host) {
    int lrank, lsize, lead = ud__sh.rank, v, r, q, ok;
    int *key = (int *)ud__alloc((size_t)ud__sh.nranks * sizeof *key);
    ok = key != NULL;
    MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, comm);
    if (!ok) {
        ud__free(key, (size_t)ud__sh.nranks * sizeof *key);
        return 0;
    }
    MPI_Comm_rank(machine, &lrank);
    MPI_Comm_size(machine, &lsize);
    MPI_Allreduce(MPI_IN_PLACE, &lead, 1, MPI_INT, MPI_MIN, machine);
    if (vhosts < 1) vhosts = 1;
    v = (int)((int64_t)lrank * vhosts / lsize);
    MPI_Comm_split(machine, v, ud__sh.rank, host);
    key[ud__sh.rank] = lead * 4097 + v;
    MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, key, 1, MPI_INT, comm);
    ud__sh.nhosts = 0;
    for (r = 0; r < ud__sh.nranks; r++) {
        for (q = 0; q < r && key[q] != key[r]; q++) {}
        if (q == r) ud__sh.manager_of[ud__sh.nhosts++] = -1; /* the first rank of a new host */
        ud__sh.host_of[r] = q == r ? ud__sh.nhosts - 1 : ud__sh.host_of[q];
        if (r != 0 && ud__sh.manager_of[ud__sh.host_of[r]] < 0) ud__sh.manager_of[ud__sh.host_of[r]] = r;
    }
    if (driver_works && ud__sh.manager_of[ud__sh.host_of[0]] < 0) ud__sh.manager_of[ud__sh.host_of[0]] = 0;
    ud__free(key, (size_t)ud__sh.nranks * sizeof *key);
    return vhosts < lsize ? vhosts : lsize;
}

/* The manager's sizes: those configured, or what /dev/shm has free for each virtual host of
   the machine. 0 (with err set) when the configured store cannot be had. */
static int ud__shm_size(const ud_config *c, int sharing, char *err, size_t cap) {
    struct statvfs v;
    uint64_t avail = 0, svc, want = c->mpi_shared_object_store_memory, unit;
    int have = statvfs("/dev/shm", &v) == 0;
    char a[32], b[32];
    if (have) avail = (uint64_t)v.f_bavail * v.f_frsize / (uint64_t)sharing;
    if (!want) want = avail / 20 * 19;
    unit = c->mpi_shared_object_store_threshold > 4096 ? c->mpi_shared_object_store_threshold : 4096;
    if (c->mpi_shared_service_memory) {
        if (c->mpi_shared_service_memory < ud__shm_svc_bytes(1)) {
            snprintf(err, cap, "UNIDIST_MPI_SHARED_SERVICE_MEMORY: %llu bytes hold no entry (%d bytes "
                     "each, after a head of %d)", (unsigned long long)c->mpi_shared_service_memory,
                     (int)UD__SHM_SLOT_BYTES, (int)sizeof(ud__shm_head));
            return 0;
        }
        if (c->mpi_shared_service_memory > ((uint64_t)1 << 31)) {
            snprintf(err, cap, "UNIDIST_MPI_SHARED_SERVICE_MEMORY: %llu bytes is more than 2G "
                     "(64M entries)", (unsigned long long)c->mpi_shared_service_memory);
            return 0;
        }
        ud__sh.nslots = (int64_t)((c->mpi_shared_service_memory - ud__shm_svc_bytes(0)) / UD__SHM_SLOT_BYTES);
    } else {
        ud__sh.nslots = (int64_t)(2 * (want / unit) + 64);
        if (ud__sh.nslots > UD__SHM_MAX_SLOTS) ud__sh.nslots = UD__SHM_MAX_SLOTS;
    }
    svc = ud__shm_svc_bytes(ud__sh.nslots);
    if (!c->mpi_shared_object_store_memory) {
        want = want > svc ? want - svc : 0;
        if (!have) ud__log(UD_LOG_INFO, "shared store: no /dev/shm to size it by; off on this host");
    } else if (have && (want > avail || svc > avail - want)) {
        ud__shm_size_text(want > UINT64_MAX - svc ? UINT64_MAX : want + svc, a, sizeof a); /* no wrap */
        ud__shm_size_text(avail, b, sizeof b);
        snprintf(err, cap, "UNIDIST_MPI_SHARED_OBJECT_STORE_MEMORY: %s asked for the store on the "
                 "host of rank %d (service buffer included), but /dev/shm has %s free for it",
                 a, ud__sh.rank, b);
        return 0;
    }
    ud__sh.capacity = want & ~(uint64_t)(UD__SHM_ALIGN - 1);
    return 1;
}

/* Every rank learns whether all went well, and if not, the first failure's message (and
   status: memory, or else the configuration). */
static ud_status ud__shm_agree(MPI_Comm comm, int ok, char *err, int cap) {
    int bad = ok ? INT_MAX : ud__sh.rank;
    MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_MIN, comm);
    if (bad == INT_MAX) return UD_OK;
    MPI_Bcast(err, cap, MPI_CHAR, bad, comm);
    err[cap - 1] = '\0';
    return ud__fail(strstr(err, "out of memory") ? UD_ERR_NOMEM : UD_ERR_CONFIG, "init: %s", err);
}

/* The two windows; the manager allocates them, the others map them. Collective over host. */
static int ud__shm_windows(char *err, size_t cap) {
    MPI_Aint dbytes = ud__sh.is_manager ? (MPI_Aint)ud__sh.capacity : 0, qsize;
    MPI_Aint sbytes = ud__sh.is_manager ? (MPI_Aint)ud__shm_svc_bytes(ud__sh.nslots) : 0;
    int du, rc;
    void *base;
    rc = MPI_Win_allocate_shared(dbytes, 1, MPI_INFO_NULL, ud__sh.host, &base, &ud__sh.dwin);
    if (rc == MPI_SUCCESS) {
        ud__sh.nwins = 1;
        rc = MPI_Win_allocate_shared(sbytes, 8, MPI_INFO_NULL, ud__sh.host, &base, &ud__sh.swin);
        if (rc == MPI_SUCCESS) ud__sh.nwins = 2;
    }
    if (rc != MPI_SUCCESS) {
        char text[MPI_MAX_ERROR_STRING], a[32];
        int len = 0;
        MPI_Error_string(rc, text, &len);
        ud__shm_size_text(ud__sh.capacity, a, sizeof a);
        snprintf(err, cap, "shared store: MPI_Win_allocate_shared of %s on the host of rank %d "
                 "failed: %.200s", a, ud__sh.rank, text);
        return 0;
    }
    {   /* Open MPI and MPICH both say unified; a separate model keeps the reader's sync */
        int *model = NULL, flag = 0;
        MPI_Win_get_attr(ud__sh.dwin, MPI_WIN_MODEL, &model, &flag);
        ud__sh.separate = !flag || !model || *model != MPI_WIN_UNIFIED;
    }
    MPI_Win_shared_query(ud__sh.dwin, ud__sh.manager_local, &qsize, &du, &ud__sh.data);
    MPI_Win_shared_query(ud__sh.swin, ud__sh.manager_local, &qsize, &du, &ud__sh.head);
    {   /* MPI promises no alignment; the offset within a page is the same in every rank */
        size_t pad = (UD__SHM_ALIGN - (uintptr_t)ud__sh.data % UD__SHM_ALIGN) % UD__SHM_ALIGN;
        ud__sh.data += pad;
        ud__sh.capacity = ud__sh.capacity > pad ? (ud__sh.capacity - pad) & ~(uint64_t)(UD__SHM_ALIGN - 1) : 0;
    }
    ud__sh.svc = (int64_t *)(ud__sh.head + 1);
    ud__sh.desc = (ud__shm_desc *)(ud__sh.svc + ud__sh.nslots * UD__SE_INTS);
    ud__sh.slot_len = (uint64_t *)(ud__sh.desc + ud__sh.nslots);
    ud__sh.free = (ud__shm_range *)(ud__sh.slot_len + ud__sh.nslots);
    ud__sh.npopulated = (size_t)((ud__sh.capacity / UD__SHM_CHUNK + 63) / 64);
    if (ud__sh.npopulated &&
        (ud__sh.populated = (uint64_t *)ud__alloc(ud__sh.npopulated * sizeof(uint64_t))) != NULL)
        memset(ud__sh.populated, 0, ud__sh.npopulated * sizeof(uint64_t));
    else
        ud__sh.npopulated = 0; /* then every range is populated again: slower, no error */
#if defined(__linux__) && defined(MADV_POPULATE_WRITE)
    /* every lookup lands on another page of the service buffer: map them all now, or each
       first visit pays a page fault (several microseconds in a virtual machine) */
    madvise((void *)((uintptr_t)ud__sh.head & ~(uintptr_t)4095),
            (size_t)ud__shm_svc_bytes(ud__sh.nslots) + 4096,
            MADV_POPULATE_WRITE);
#endif
    /* one passive epoch for the whole run: MPI_Win_sync then orders loads and stores */
    MPI_Win_lock_all(MPI_MODE_NOCHECK, ud__sh.dwin);
    MPI_Win_lock_all(MPI_MODE_NOCHECK, ud__sh.swin);
    if (ud__sh.is_manager) {
        memset(ud__sh.head, 0, (size_t)ud__shm_svc_bytes(ud__sh.nslots));
        ud__sh.head->magic = UD__SHM_MAGIC;
        ud__sh.head->nslots = ud__sh.nslots;
        ud__sh.head->capacity = (int64_t)ud__sh.capacity;
        ud__sh.free[0].off = 0;
        ud__sh.free[0].len = ud__sh.capacity;
        ud__sh.head->nfree = 1;
    }
    MPI_Win_sync(ud__sh.swin);
    MPI_Barrier(ud__sh.host);
    MPI_Win_sync(ud__sh.swin);
    ud__sh.on = 1;
    return 1;
}

/* Every rank of the host tells the manager it is done, and the manager takes each END (those
   its loop took already counted): nothing is left unreceived when the windows and the
   communicator go. */
static void ud__shm_farewell(void) {
    ud__shm_msg m;
    int n, left;
    memset(&m, 0, sizeof m);
    m.op = UD__SHM_END;
    if (!ud__sh.is_manager) {
        if (MPI_Send(&m, 4, MPI_INT64_T, ud__sh.manager_local, UD__SHM_TAG, ud__sh.host) != MPI_SUCCESS)
            ud__panic("shared store: a message to its manager (rank %d) failed", ud__sh.manager);
        return;
    }
    MPI_Comm_size(ud__sh.host, &n);
    for (left = n - 1 - ud__sh.ends; left > 0;) {
        MPI_Status s;
        if (MPI_Recv(&m, 4, MPI_INT64_T, MPI_ANY_SOURCE, UD__SHM_TAG, ud__sh.host, &s) != MPI_SUCCESS)
            break;
        if (m.op == UD__SHM_END) left--;
    }
}

static void ud__shm_close(void) {
    if (!ud__sh.opened) return;
    if (ud__sh.on) {
        ud__sh.quiet = 1;
        ud__shm_farewell();
        MPI_Win_unlock_all(ud__sh.dwin);
        MPI_Win_unlock_all(ud__sh.swin);
    }
    if (ud__sh.nwins > 0) MPI_Win_free(&ud__sh.dwin);
    if (ud__sh.nwins > 1) MPI_Win_free(&ud__sh.swin);
    if (ud__sh.host != MPI_COMM_NULL) MPI_Comm_free(&ud__sh.host);
    ud__free(ud__sh.host_of, (size_t)ud__sh.nranks * 2 * sizeof(int));
    ud__free(ud__sh.populated, ud__sh.npopulated * sizeof(uint64_t));
    memset(&ud__sh, 0, sizeof ud__sh);
}

/* From now on nothing is reported to the manager, which is about to stop. */
static void ud__shm_quiet(void) { ud__sh.quiet = 1; }

static int ud__shm_same_host(int rank) {
    return ud__sh.on && ud__sh.host_of[rank] == ud__sh.host_of[ud__sh.rank];
}

/* Collective over comm. With the store off in the configuration, it does nothing at all. */
static ud_status ud__shm_open(MPI_Comm comm, MPI_Comm machine, int rank, int size, int driver_works,
                              const ud_config *c) {
    char err[400] = "";
    int ok = 1, sharing;
    ud_status st;
    memset(&ud__sh, 0, sizeof ud__sh);
    ud__sh.opened = 1;
    ud__sh.host = MPI_COMM_NULL;
    ud__sh.rank = rank;
    ud__sh.nranks = size;
    ud__shared_release_hook = ud__shm_release;
    ok = (ud__sh.host_of = (int *)ud__alloc((size_t)size * 2 * sizeof(int))) != NULL;
    if ((st = ud__shm_agree(comm, ok, strcpy(err, "out of memory for the hosts' table"),
                            (int)sizeof err)) != UD_OK)
        return st;
    ud__sh.manager_of = ud__sh.host_of + size;
    sharing = ud__shm_topology(comm, machine, (int)c->mpi_hosts, driver_works, &ud__sh.host);
    if (!sharing) {
        ud__shm_close();
        return ud__fail(UD_ERR_NOMEM, "init: out of memory for the hosts' table (on this rank or another)");
    }
    MPI_Comm_set_errhandler(ud__sh.host, MPI_ERRORS_RETURN);
    if (!c->mpi_shared_object_store) return UD_OK; /* the hosts are known; no store on them */
    ud__sh.manager = ud__sh.manager_of[ud__sh.host_of[rank]];
    ud__sh.is_manager = ud__sh.manager == rank;
    ud__sh.threshold = c->mpi_shared_object_store_threshold;
    /* its rank in the host's communicator, which keeps the ranks' order */
    ud__sh.manager_local = ud__sh.manager == 0 || ud__sh.host_of[0] != ud__sh.host_of[rank] ? 0 : 1;
    if (ud__sh.is_manager) ok = ud__shm_size(c, sharing, err, sizeof err);
    if ((st = ud__shm_agree(comm, ok, err, (int)sizeof err)) == UD_OK && ud__sh.manager >= 0) {
        int64_t sz[2];
        sz[0] = (int64_t)ud__sh.capacity;
        sz[1] = ud__sh.nslots;
        MPI_Bcast(sz, 2, MPI_INT64_T, ud__sh.manager_local, ud__sh.host);
        ud__sh.capacity = (uint64_t)sz[0];
        ud__sh.nslots = sz[1];
        ok = ud__sh.capacity == 0 || ud__shm_windows(err, sizeof err);
        st = ud__shm_agree(comm, ok, err, (int)sizeof err);
    } else if (st == UD_OK) {
        st = ud__shm_agree(comm, 1, err, (int)sizeof err); /* the driver alone on its host */
    }
    if (st != UD_OK) ud__shm_close();
    return st;
}

#endif /* UD_SHM_IMPLEMENTATION */
