/*
 * worker.h -- one thread per ISCard for the calls that may block, and the
 * waitable a coroutine waits on while its call runs there.
 *
 * The thread never touches a Lua state: a call is a job, a block of plain C
 * memory that holds copies of the call's inputs and room for its outputs.
 * The Lua side fills it, queues it, hands the waitable (a userdata holding
 * one reference to the job) to the program's waiter, and reads the outputs
 * once the job is done.  The worker runs its jobs one at a time in the order
 * they came, so the calls on one ISCard never overlap, as pcsc-lite wants
 * for one context; the calls on different ISCards run at the same time.
 */
#ifndef ISCARD_WORKER_H
#define ISCARD_WORKER_H

#include <stddef.h>

#include "compat.h"

typedef struct IscWorker IscWorker;
typedef struct IscJob IscJob;

/* Runs on the worker's thread: the PC/SC call, on the job's payload. */
typedef void (*IscRun)(void *payload);

/* The metatable name of the waitable userdata. */
#define ISC_WAITABLE_MT "iscard.waitable"

/* A new job with `size` bytes of payload (zeroed), and its waitable pushed
 * on L's stack.  `owner` is only compared (isc_job_of), never read.  Raises
 * a memory error when out of memory or descriptors. */
void *isc_job_new(lua_State *L, size_t size, IscRun run, const void *owner);

/* The payload of the waitable at idx if it belongs to owner and is done
 * (waiting for it first when the waiter returned early); raises otherwise.
 * *dropped is set when the job never ran (its ISCard was closed). */
void *isc_job_result(lua_State *L, int idx, const void *owner, int *dropped);

/* A new worker (thread started at the first job); NULL when out of memory. */
IscWorker *isc_worker_new(void);

/* Queues the job of the waitable on top of L's stack; the worker keeps a
 * reference to it until it has run.  Raises when the thread cannot start. */
void isc_worker_submit(lua_State *L, IscWorker *w);

/* Whether the job running on w now (if any) was queued with `cancellable`
 * set (isc_job_set_cancellable): a status wait, which SCardCancel ends. */
int isc_worker_busy_cancellable(IscWorker *w);
void isc_job_set_cancellable(lua_State *L, int idx);

/* Ends the worker without waiting: jobs not started yet are dropped (their
 * waiters wake up), then `last` runs on the thread (NULL: nothing) with the
 * payload copy of `size` bytes, and the thread frees the worker and itself.
 * Never blocks for a call in flight; with no thread, `last` runs here. */
void isc_worker_close(IscWorker *w, IscRun last, const void *payload,
                      size_t size);

/* How many forks this process is away from the first one that loaded us:
 * an object made under another generation belongs to another process and
 * must not use the PC/SC connection it holds (shared with that process). */
extern int isc_fork_generation;

/* Registers the waitable's metatable (call once per Lua state). */
void isc_worker_open(lua_State *L);

#endif
