/* A stub MPI for the fuzz targets: one rank of a pretend world with no real peers. Found
   before the system's <mpi.h> through -I tests/fuzz. Sends complete at once and go nowhere;
   receives take the messages a target queued (fzs_push), from the sources it names. What no
   peer sent is made up as an honest peer would have sent it (see mpi_stub.c). Only what the
   unidist headers use is here. */
#ifndef FZ_STUB_MPI_H
#define FZ_STUB_MPI_H

#include <stddef.h>
#include <stdint.h>

typedef int MPI_Comm;
typedef int MPI_Datatype;
typedef int MPI_Op;
typedef int MPI_Request;
typedef int MPI_Win;
typedef int MPI_Info;
typedef int MPI_Errhandler;
typedef ptrdiff_t MPI_Aint;
typedef struct MPI_Status {
    int MPI_SOURCE, MPI_TAG, MPI_ERROR;
    int count; /* bytes */
} MPI_Status;

#define MPI_SUCCESS 0
#define MPI_ERR_TRUNCATE 14
#define MPI_ERR_OTHER 15
#define MPI_UNDEFINED (-32766)
#define MPI_ANY_SOURCE (-1)
#define MPI_MAX_ERROR_STRING 256
#define MPI_COMM_NULL 0
#define MPI_COMM_WORLD 1
#define MPI_REQUEST_NULL 0
#define MPI_INFO_NULL 0
#define MPI_ERRORS_RETURN 1
#define MPI_MODE_NOCHECK 1024
#define MPI_COMM_TYPE_SHARED 1
#define MPI_WIN_MODEL 1
#define MPI_WIN_UNIFIED 2
#define MPI_WIN_SEPARATE 3
#define MPI_STATUS_IGNORE ((MPI_Status *)0)
#define MPI_STATUSES_IGNORE ((MPI_Status *)0)
#define MPI_IN_PLACE ((void *)1)
#define MPI_THREAD_SINGLE 0
#define MPI_THREAD_FUNNELED 1
#define MPI_THREAD_SERIALIZED 2
#define MPI_THREAD_MULTIPLE 3
#define MPI_DATATYPE_NULL 0
#define MPI_BYTE 1
#define MPI_CHAR 2
#define MPI_INT 3
#define MPI_INT64_T 4
#define MPI_UINT64_T 5
#define MPI_2INT 6
#define MPI_DOUBLE 7
#define MPI_UNSIGNED 8
#define MPI_MIN 1
#define MPI_MINLOC 2
#define MPI_MAX 3

#ifdef __cplusplus
extern "C" {
#endif

int MPI_Init(int *argc, char ***argv);
int MPI_Init_thread(int *argc, char ***argv, int required, int *provided);
int MPI_Initialized(int *flag);
int MPI_Finalized(int *flag);
int MPI_Finalize(void);
int MPI_Query_thread(int *provided);
int MPI_Abort(MPI_Comm comm, int code);
int MPI_Error_string(int code, char *text, int *len);
int MPI_Comm_rank(MPI_Comm comm, int *rank);
int MPI_Comm_size(MPI_Comm comm, int *size);
int MPI_Comm_dup(MPI_Comm comm, MPI_Comm *out);
int MPI_Comm_split(MPI_Comm comm, int color, int key, MPI_Comm *out);
int MPI_Comm_split_type(MPI_Comm comm, int type, int key, MPI_Info info, MPI_Comm *out);
int MPI_Comm_free(MPI_Comm *comm);
int MPI_Comm_set_errhandler(MPI_Comm comm, MPI_Errhandler h);
int MPI_Barrier(MPI_Comm comm);
int MPI_Gather(const void *in, int incount, MPI_Datatype intype, void *out, int outcount,
               MPI_Datatype outtype, int root, MPI_Comm comm);
int MPI_Gatherv(const void *in, int incount, MPI_Datatype intype, void *out, const int *counts,
                const int *displs, MPI_Datatype outtype, int root, MPI_Comm comm);
int MPI_Bcast(void *buf, int count, MPI_Datatype type, int root, MPI_Comm comm);
int MPI_Allreduce(const void *in, void *out, int count, MPI_Datatype type, MPI_Op op, MPI_Comm comm);
int MPI_Allgather(const void *in, int incount, MPI_Datatype intype, void *out, int outcount,
                  MPI_Datatype outtype, MPI_Comm comm);
int MPI_Allgatherv(const void *in, int incount, MPI_Datatype intype, void *out, const int *counts,
                   const int *displs, MPI_Datatype outtype, MPI_Comm comm);
int MPI_Send(const void *buf, int count, MPI_Datatype type, int dst, int tag, MPI_Comm comm);
int MPI_Isend(const void *buf, int count, MPI_Datatype type, int dst, int tag, MPI_Comm comm,
              MPI_Request *req);
int MPI_Recv(void *buf, int count, MPI_Datatype type, int src, int tag, MPI_Comm comm, MPI_Status *st);
int MPI_Irecv(void *buf, int count, MPI_Datatype type, int src, int tag, MPI_Comm comm, MPI_Request *req);
int MPI_Iprobe(int src, int tag, MPI_Comm comm, int *flag, MPI_Status *st);
int MPI_Get_count(const MPI_Status *st, MPI_Datatype type, int *count);
int MPI_Test(MPI_Request *req, int *flag, MPI_Status *st);
int MPI_Testsome(int incount, MPI_Request *reqs, int *outcount, int *indices, MPI_Status *sts);
int MPI_Request_get_status(MPI_Request req, int *flag, MPI_Status *st);
int MPI_Win_allocate_shared(MPI_Aint size, int disp, MPI_Info info, MPI_Comm comm, void *base, MPI_Win *win);
int MPI_Win_shared_query(MPI_Win win, int rank, MPI_Aint *size, int *disp, void *base);
int MPI_Win_free(MPI_Win *win);
int MPI_Win_get_attr(MPI_Win win, int key, void *value, int *flag);
int MPI_Win_lock_all(int assert_, MPI_Win win);
int MPI_Win_unlock_all(MPI_Win win);
int MPI_Win_sync(MPI_Win win);

/* ---- the stub's controls, for the fuzz targets ---------------------------------------------- */
void fzs_reset(int rank, int size);  /* a new world: no messages, no windows */
void fzs_clear(void);                /* no messages: the next input's may come */
void fzs_push(int src, int tag, const void *data, size_t len); /* a message this rank will get */
void fzs_push_first(int src, int tag, const void *data, size_t len); /* ahead of all, holds too */
/* A hold: the messages queued after it stay out of sight until fzs_pass takes it away. */
#define FZS_HOLD (-7)
int fzs_held(void);                  /* a hold is queued */
void fzs_pass(void);                 /* takes the first hold away */
/* Called when a probe (blocking 0) or a receive (1) of tag from src finds nothing queued;
   it may queue messages. */
extern void (*fzs_on_empty)(int tag, int src, int blocking);
/* Called by MPI_Abort (the runtime's fatal path) before the process aborts; may longjmp. */
extern void (*fzs_on_abort)(void);
/* Bcast from another rank: fills buf as that rank would have sent it. */
extern void (*fzs_on_bcast)(void *buf, int count, MPI_Datatype type);
/* Called when a receive takes a queued message, before it is handled. */
extern void (*fzs_on_taken)(int tag, const void *data, size_t len);
extern size_t fzs_window_bytes[2];   /* a shared window's size when the caller asks for none */
extern int fzs_tag_data;             /* the tag of large parts: made up when not queued */
extern int fzs_failed;               /* a receive failed: a peer gone, or a message too long */
extern uint64_t fzs_made_up;         /* bytes of large parts made up this run */
extern uint64_t fzs_sent;            /* messages this rank sent, so far */

#ifdef __cplusplus
}
#endif
#endif
