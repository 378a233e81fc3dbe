/* The stub MPI of tests/fuzz/mpi.h: one rank of a pretend world, fed by the fuzz target.
   - Every communicator is the world: the same rank and size (one host holds every rank).
   - Collectives hand back this rank's own contribution as every rank's (so every rank
     agrees), but an Allgather of one int (the task threads of each rank): 0 for the driver,
     1 for the others.
   - Sends complete at once and go nowhere.
   - Receives and probes take queued messages in the order they were queued. When nothing of
     the tag is queued, fzs_on_empty may queue something; a large part (fzs_tag_data) that is
     still missing is made up, as its sender would have sent it, without writing a byte (a
     receive of a part into a real buffer keeps what the buffer held). Past FZS_MADE_UP_MAX
     bytes in one run the peer is taken to be gone: the receive fails, as MPI's would.
     A message longer than its receive fails it too (MPI_ERR_TRUNCATE). Either sets
     fzs_failed: the runtime may end the job on it (the stream cannot be kept whole). */
#include "mpi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FZS_MADE_UP_MAX ((uint64_t)256 << 10)

typedef struct fzs_msg {
    int src, tag;
    size_t len;
    unsigned char *data;
} fzs_msg;

static struct {
    int rank, size, init, next_comm;
    fzs_msg *q;
    size_t n, cap, head;
    size_t win_bytes[2];
    int nwin, live[2];
} fzs;

/* The windows' memory stays from run to run: fresh pages each run would cost more than all
   the rest of a run. */
static void *fzs_win[2];
static size_t fzs_win_cap[2];

void (*fzs_on_empty)(int tag, int src, int blocking);
void (*fzs_on_abort)(void);
void (*fzs_on_bcast)(void *buf, int count, MPI_Datatype type);
void (*fzs_on_taken)(int tag, const void *data, size_t len);
size_t fzs_window_bytes[2];
int fzs_tag_data = -1;
int fzs_failed;
uint64_t fzs_made_up;
uint64_t fzs_sent;

static size_t fzs_type_size(MPI_Datatype t) {
    switch (t) {
    case MPI_INT: return sizeof(int);
    case MPI_UNSIGNED: return sizeof(unsigned);
    case MPI_INT64_T: case MPI_UINT64_T: return 8;
    case MPI_2INT: return 2 * sizeof(int);
    case MPI_DOUBLE: return sizeof(double);
    default: return 1;
    }
}

void fzs_clear(void) {
    size_t i;
    for (i = fzs.head; i < fzs.n; i++) free(fzs.q[i].data);
    free(fzs.q);
    fzs.q = NULL;
    fzs.n = fzs.cap = fzs.head = 0;
    fzs_failed = 0;
    fzs_made_up = 0;
}

void fzs_reset(int rank, int size) {
    fzs_clear();
    memset(&fzs, 0, sizeof fzs);
    fzs.rank = rank;
    fzs.size = size;
    fzs.init = 1;
    fzs.next_comm = 2;
}

void fzs_push(int src, int tag, const void *data, size_t len) {
    fzs_msg *m;
    if (fzs.n == fzs.cap) {
        size_t cap = fzs.cap ? 2 * fzs.cap : 64;
        fzs_msg *q = (fzs_msg *)realloc(fzs.q, cap * sizeof *q);
        if (!q) abort();
        fzs.q = q;
        fzs.cap = cap;
    }
    m = &fzs.q[fzs.n++];
    m->src = src;
    m->tag = tag;
    m->len = len;
    m->data = (unsigned char *)malloc(len ? len : 1);
    if (!m->data) abort();
    if (len) memcpy(m->data, data, len);
}

static fzs_msg *fzs_first_hold(void) {
    size_t i;
    for (i = fzs.head; i < fzs.n; i++)
        if (fzs.q[i].data && fzs.q[i].tag == FZS_HOLD) return &fzs.q[i];
    return NULL;
}

void fzs_push_first(int src, int tag, const void *data, size_t len) {
    fzs_msg m;
    fzs_push(src, tag, data, len);
    m = fzs.q[fzs.n - 1];
    memmove(fzs.q + fzs.head + 1, fzs.q + fzs.head, (fzs.n - 1 - fzs.head) * sizeof m);
    fzs.q[fzs.head] = m;
}

int fzs_held(void) { return fzs_first_hold() != NULL; }

/* The first queued message of tag from src (or anyone) before any hold; NULL when none. */
static fzs_msg *fzs_find(int src, int tag) {
    size_t i;
    for (i = fzs.head; i < fzs.n; i++) {
        fzs_msg *m = &fzs.q[i];
        if (m->data && m->tag == FZS_HOLD) return NULL;
        if (m->data && m->tag == tag && (src == MPI_ANY_SOURCE || m->src == src)) return m;
    }
    return NULL;
}

static fzs_msg *fzs_match(int src, int tag, int blocking) {
    fzs_msg *m = fzs_find(src, tag);
    if (!m && fzs_on_empty) {
        fzs_on_empty(tag, src, blocking);
        m = fzs_find(src, tag);
    }
    return m;
}

static void fzs_take(fzs_msg *m) {
    free(m->data);
    m->data = NULL;
    while (fzs.head < fzs.n && !fzs.q[fzs.head].data) fzs.head++;
}

void fzs_pass(void) {
    fzs_msg *m = fzs_first_hold();
    if (m) fzs_take(m);
}

static int fzs_receive(void *buf, int count, MPI_Datatype type, int src, int tag, MPI_Status *st) {
    size_t want = (size_t)(count > 0 ? count : 0) * fzs_type_size(type);
    fzs_msg *m = fzs_match(src, tag, 1);
    int rc = MPI_SUCCESS;
    if (!m) {
        if (tag != fzs_tag_data || fzs_failed) return MPI_ERR_OTHER;
        if (fzs_made_up + want > FZS_MADE_UP_MAX) {
            fzs_failed = 1;
            return MPI_ERR_OTHER;
        }
        fzs_made_up += want;
        if (st) {
            st->MPI_SOURCE = src;
            st->MPI_TAG = tag;
            st->MPI_ERROR = MPI_SUCCESS;
            st->count = (int)want;
        }
        return MPI_SUCCESS;
    }
    if (m->len > want) rc = MPI_ERR_TRUNCATE; /* MPI takes the message all the same */
    if (rc != MPI_SUCCESS) fzs_failed = 1;
    if (m->len && want) memcpy(buf, m->data, m->len < want ? m->len : want);
    if (fzs_on_taken) fzs_on_taken(m->tag, m->data, m->len);
    if (st) {
        st->MPI_SOURCE = m->src;
        st->MPI_TAG = m->tag;
        st->MPI_ERROR = rc;
        st->count = (int)(m->len < want ? m->len : want);
    }
    fzs_take(m);
    return rc;
}

int MPI_Init(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fzs.init = 1;
    return MPI_SUCCESS;
}

int MPI_Init_thread(int *argc, char ***argv, int required, int *provided) {
    (void)required;
    *provided = MPI_THREAD_SERIALIZED;
    return MPI_Init(argc, argv);
}

int MPI_Initialized(int *flag) {
    *flag = fzs.init;
    return MPI_SUCCESS;
}

int MPI_Finalized(int *flag) {
    *flag = 0;
    return MPI_SUCCESS;
}

int MPI_Finalize(void) { return MPI_SUCCESS; }

int MPI_Query_thread(int *provided) {
    *provided = MPI_THREAD_SERIALIZED;
    return MPI_SUCCESS;
}

int MPI_Abort(MPI_Comm comm, int code) {
    (void)comm;
    if (fzs_on_abort) fzs_on_abort();
    fprintf(stderr, "stub MPI: MPI_Abort(%d)\n", code);
    abort();
}

int MPI_Error_string(int code, char *text, int *len) {
    *len = snprintf(text, MPI_MAX_ERROR_STRING, "stub MPI error %d", code);
    return MPI_SUCCESS;
}

int MPI_Comm_rank(MPI_Comm comm, int *rank) {
    (void)comm;
    *rank = fzs.rank;
    return MPI_SUCCESS;
}

int MPI_Comm_size(MPI_Comm comm, int *size) {
    (void)comm;
    *size = fzs.size;
    return MPI_SUCCESS;
}

int MPI_Comm_dup(MPI_Comm comm, MPI_Comm *out) {
    (void)comm;
    *out = fzs.next_comm++;
    return MPI_SUCCESS;
}

int MPI_Comm_split(MPI_Comm comm, int color, int key, MPI_Comm *out) {
    (void)color;
    (void)key;
    return MPI_Comm_dup(comm, out);
}

int MPI_Comm_split_type(MPI_Comm comm, int type, int key, MPI_Info info, MPI_Comm *out) {
    (void)type;
    (void)key;
    (void)info;
    return MPI_Comm_dup(comm, out);
}

int MPI_Comm_free(MPI_Comm *comm) {
    *comm = MPI_COMM_NULL;
    return MPI_SUCCESS;
}

int MPI_Comm_set_errhandler(MPI_Comm comm, MPI_Errhandler h) {
    (void)comm;
    (void)h;
    return MPI_SUCCESS;
}

int MPI_Barrier(MPI_Comm comm) {
    (void)comm;
    return MPI_SUCCESS;
}

/* One process: the root's own block is all there is. */
int MPI_Gather(const void *in, int incount, MPI_Datatype intype, void *out, int outcount,
               MPI_Datatype outtype, int root, MPI_Comm comm) {
    (void)outcount;
    (void)outtype;
    (void)comm;
    if (root == fzs.rank && out) memcpy(out, in, (size_t)incount * fzs_type_size(intype));
    return MPI_SUCCESS;
}

int MPI_Gatherv(const void *in, int incount, MPI_Datatype intype, void *out, const int *counts,
                const int *displs, MPI_Datatype outtype, int root, MPI_Comm comm) {
    (void)counts;
    (void)outtype;
    (void)comm;
    if (root == fzs.rank && out && displs)
        memcpy((char *)out + displs[fzs.rank], in, (size_t)incount * fzs_type_size(intype));
    return MPI_SUCCESS;
}

int MPI_Bcast(void *buf, int count, MPI_Datatype type, int root, MPI_Comm comm) {
    (void)comm;
    if (root != fzs.rank && fzs_on_bcast) fzs_on_bcast(buf, count, type);
    return MPI_SUCCESS;
}

int MPI_Allreduce(const void *in, void *out, int count, MPI_Datatype type, MPI_Op op, MPI_Comm comm) {
    (void)op;
    (void)comm;
    if (in != MPI_IN_PLACE) memcpy(out, in, (size_t)count * fzs_type_size(type));
    return MPI_SUCCESS;
}

int MPI_Allgather(const void *in, int incount, MPI_Datatype intype, void *out, int outcount,
                  MPI_Datatype outtype, MPI_Comm comm) {
    size_t block = (size_t)outcount * fzs_type_size(outtype);
    int r;
    (void)incount;
    (void)intype;
    (void)comm;
    if (in != MPI_IN_PLACE) memcpy((char *)out + (size_t)fzs.rank * block, in, block);
    for (r = 0; r < fzs.size; r++) {
        if (r == fzs.rank) continue;
        if (in != MPI_IN_PLACE && outtype == MPI_INT && outcount == 1) ((int *)out)[r] = r == 0 ? 0 : 1;
        else memcpy((char *)out + (size_t)r * block, (char *)out + (size_t)fzs.rank * block, block);
    }
    return MPI_SUCCESS;
}

int MPI_Allgatherv(const void *in, int incount, MPI_Datatype intype, void *out, const int *counts,
                   const int *displs, MPI_Datatype outtype, MPI_Comm comm) {
    (void)in;
    (void)incount;
    (void)intype;
    (void)out;
    (void)counts;
    (void)displs;
    (void)outtype;
    (void)comm;
    return MPI_SUCCESS; /* only reached when the ranks disagree, which they never do here */
}

int MPI_Send(const void *buf, int count, MPI_Datatype type, int dst, int tag, MPI_Comm comm) {
    (void)buf;
    (void)count;
    (void)type;
    (void)dst;
    (void)tag;
    (void)comm;
    fzs_sent++;
    return MPI_SUCCESS;
}

int MPI_Isend(const void *buf, int count, MPI_Datatype type, int dst, int tag, MPI_Comm comm,
              MPI_Request *req) {
    *req = 1;
    return MPI_Send(buf, count, type, dst, tag, comm);
}

int MPI_Recv(void *buf, int count, MPI_Datatype type, int src, int tag, MPI_Comm comm, MPI_Status *st) {
    (void)comm;
    return fzs_receive(buf, count, type, src, tag, st);
}

static MPI_Status fzs_irecv_status; /* of the last MPI_Irecv, for its MPI_Test */

int MPI_Irecv(void *buf, int count, MPI_Datatype type, int src, int tag, MPI_Comm comm, MPI_Request *req) {
    (void)comm;
    *req = 1; /* complete at once: the answer is queued, or made up by fzs_on_empty */
    return fzs_receive(buf, count, type, src, tag, &fzs_irecv_status);
}

int MPI_Iprobe(int src, int tag, MPI_Comm comm, int *flag, MPI_Status *st) {
    fzs_msg *m = fzs_match(src, tag, 0);
    (void)comm;
    *flag = m != NULL;
    if (m && st) {
        st->MPI_SOURCE = m->src;
        st->MPI_TAG = m->tag;
        st->MPI_ERROR = MPI_SUCCESS;
        st->count = (int)m->len;
    }
    return MPI_SUCCESS;
}

int MPI_Get_count(const MPI_Status *st, MPI_Datatype type, int *count) {
    size_t k = fzs_type_size(type);
    *count = st->count % (int)k ? MPI_UNDEFINED : st->count / (int)k;
    return MPI_SUCCESS;
}

int MPI_Test(MPI_Request *req, int *flag, MPI_Status *st) {
    if (st) *st = fzs_irecv_status;
    *req = MPI_REQUEST_NULL;
    *flag = 1;
    return MPI_SUCCESS;
}

int MPI_Testsome(int incount, MPI_Request *reqs, int *outcount, int *indices, MPI_Status *sts) {
    int k, n = 0;
    (void)sts;
    for (k = 0; k < incount; k++)
        if (reqs[k] != MPI_REQUEST_NULL) {
            reqs[k] = MPI_REQUEST_NULL;
            indices[n++] = k;
        }
    *outcount = n ? n : MPI_UNDEFINED;
    return MPI_SUCCESS;
}

int MPI_Request_get_status(MPI_Request req, int *flag, MPI_Status *st) {
    (void)req;
    (void)st;
    *flag = 1;
    return MPI_SUCCESS;
}

int MPI_Win_allocate_shared(MPI_Aint size, int disp, MPI_Info info, MPI_Comm comm, void *base, MPI_Win *win) {
    size_t bytes;
    (void)disp;
    (void)info;
    (void)comm;
    if (fzs.nwin >= 2) return MPI_ERR_OTHER;
    bytes = size > 0 ? (size_t)size : fzs_window_bytes[fzs.nwin];
    if (bytes > fzs_win_cap[fzs.nwin]) {
        free(fzs_win[fzs.nwin]);
        if (!(fzs_win[fzs.nwin] = malloc(bytes))) return MPI_ERR_OTHER;
        fzs_win_cap[fzs.nwin] = bytes;
    }
    if (bytes) memset(fzs_win[fzs.nwin], 0, bytes);
    fzs.win_bytes[fzs.nwin] = bytes;
    *(void **)base = fzs_win[fzs.nwin];
    fzs.live[fzs.nwin] = 1;
    *win = ++fzs.nwin;
    return MPI_SUCCESS;
}

int MPI_Win_shared_query(MPI_Win win, int rank, MPI_Aint *size, int *disp, void *base) {
    (void)rank;
    *size = (MPI_Aint)fzs.win_bytes[win - 1];
    *disp = 1;
    *(void **)base = fzs_win[win - 1];
    return MPI_SUCCESS;
}

int MPI_Win_get_attr(MPI_Win win, int key, void *value, int *flag) { /* the model both MPIs give */
    static int unified = MPI_WIN_UNIFIED;
    (void)win;
    *flag = key == MPI_WIN_MODEL;
    if (*flag) *(int **)value = &unified;
    return MPI_SUCCESS;
}

int MPI_Win_free(MPI_Win *win) { /* once both are freed, their places are given again */
    if (*win > 0 && *win <= 2) fzs.live[*win - 1] = 0;
    while (fzs.nwin > 0 && !fzs.live[fzs.nwin - 1]) fzs.nwin--;
    *win = 0;
    return MPI_SUCCESS;
}

int MPI_Win_lock_all(int assert_, MPI_Win win) {
    (void)assert_;
    (void)win;
    return MPI_SUCCESS;
}

int MPI_Win_unlock_all(MPI_Win win) {
    (void)win;
    return MPI_SUCCESS;
}

int MPI_Win_sync(MPI_Win win) {
    (void)win;
    return MPI_SUCCESS;
}
