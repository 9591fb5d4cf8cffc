/*
 * worker.c -- the thread of an ISCard and the waitables (worker.h).
 *
 * Locking: one process-wide mutex guards every job's state and reference
 * count and every worker's queue.  It is held for a few instructions at a
 * time, never across a PC/SC call or a write to a descriptor, so workers do
 * not hold each other up; a process-wide lock also lets a waitable outlive
 * the worker that ran its job.
 *
 * A job has two owners: the waitable (until it is collected) and the worker
 * (until the job has run or been dropped).  The last one frees it, and its
 * descriptor with it.  The descriptor (an eventfd on Linux, a pipe
 * elsewhere, an event object on Windows) becomes readable once the job is
 * done and stays so: a poller that wakes up always finds ready() true.
 */
/* dladdr (pin_module) and pthreads under -std=c99 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
/* NOLINTNEXTLINE(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp): feature-test macro */
#define _GNU_SOURCE 1
#elif defined(__APPLE__) && !defined(_DARWIN_C_SOURCE)
/* NOLINTNEXTLINE(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp): feature-test macro */
#define _DARWIN_C_SOURCE 1
#elif !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
/* NOLINTNEXTLINE(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp): feature-test macro */
#define _POSIX_C_SOURCE 200809L
#endif
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
#else
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif
#endif

#include "worker.h"

enum { JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_DROPPED };

struct IscJob {
  IscRun run;
  const void *owner;
  IscJob *next;
  int refs;  /* owners left: waitable, worker */
  int state; /* JOB_* */
  int cancellable;
#ifdef _WIN32
  HANDLE ev;
#else
  int rfd, wfd; /* the same eventfd twice on Linux */
#endif
  /* the payload, aligned for anything it holds */
  union {
    double d;    /* cppcheck-suppress unusedStructMember */
    void *p;     /* cppcheck-suppress unusedStructMember */
    long long l; /* cppcheck-suppress unusedStructMember */
  } payload[1];
};

struct IscWorker {
  IscJob *head, *tail; /* queued, oldest first */
  IscJob *running;
  int started, closing;
  IscRun last;
  void *last_payload;
#ifdef _WIN32
  CONDITION_VARIABLE cond;
#else
  pthread_cond_t cond;
#endif
};

/* ------------------------------------------------------------------ */
/* the lock                                                            */

/* Threads not yet ended, and the condition their end signals (at_close). */
static int g_threads;

/* Counts the forks this process came out of (worker.h). */
int isc_fork_generation;

#ifdef _WIN32
static SRWLOCK g_lock = SRWLOCK_INIT;
static CONDITION_VARIABLE g_ended = CONDITION_VARIABLE_INIT;
static void lock(void) {
  AcquireSRWLockExclusive(&g_lock);
}
static void unlock(void) {
  ReleaseSRWLockExclusive(&g_lock);
}
static void signal_ended(void) {
  WakeAllConditionVariable(&g_ended);
}
static void wait_ended(int ms) {
  (void)SleepConditionVariableSRW(&g_ended, &g_lock, (DWORD)ms, 0);
}
static void wait_cond(IscWorker *w) {
  (void)SleepConditionVariableSRW(&w->cond, &g_lock, INFINITE, 0);
}
static void signal_cond(IscWorker *w) {
  WakeConditionVariable(&w->cond);
}
#else
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_ended = PTHREAD_COND_INITIALIZER;
static void lock(void) {
  (void)pthread_mutex_lock(&g_lock);
}
static void unlock(void) {
  (void)pthread_mutex_unlock(&g_lock);
}
static void signal_ended(void) {
  (void)pthread_cond_broadcast(&g_ended);
}
static void wait_ended(int ms) {
  struct timespec ts;
  (void)clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  (void)pthread_cond_timedwait(&g_ended, &g_lock, &ts);
}
static void wait_cond(IscWorker *w) {
  (void)pthread_cond_wait(&w->cond, &g_lock);
}
static void signal_cond(IscWorker *w) {
  (void)pthread_cond_signal(&w->cond);
}
#endif

/* ------------------------------------------------------------------ */
/* jobs                                                                */

static void job_free(IscJob *j) {
#ifdef _WIN32
  (void)CloseHandle(j->ev);
#else
  if (j->wfd != j->rfd) (void)close(j->wfd);
  (void)close(j->rfd);
#endif
  free(j);
}

/* Drops one reference; the caller holds the lock.  Returns the job when it
 * is to be freed (after the lock is let go). */
static IscJob *unref_locked(IscJob *j) {
  return --j->refs == 0 ? j : NULL;
}

static void unref(IscJob *j) {
  IscJob *dead;
  lock();
  dead = unref_locked(j);
  unlock();
  if (dead != NULL) job_free(dead);
}

/* Makes the job's descriptor readable (once: the job is done). */
static void signal_done(IscJob *j) {
#ifdef _WIN32
  (void)SetEvent(j->ev);
#elif defined(__linux__)
  unsigned long long one = 1;
  while (write(j->wfd, &one, sizeof one) < 0 && errno == EINTR) {
  }
#else
  char one = 1;
  while (write(j->wfd, &one, 1) < 0 && errno == EINTR) {
  }
#endif
}

static int job_open_signal(IscJob *j) {
#ifdef _WIN32
  j->ev = CreateEventA(NULL, TRUE, FALSE, NULL);
  return j->ev != NULL;
#elif defined(__linux__)
  j->rfd = j->wfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  return j->rfd >= 0;
#else
  int fds[2];
  if (pipe(fds) != 0) return 0;
  (void)fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  (void)fcntl(fds[1], F_SETFD, FD_CLOEXEC);
  (void)fcntl(fds[0], F_SETFL, O_NONBLOCK);
  j->rfd = fds[0];
  j->wfd = fds[1];
  return 1;
#endif
}

typedef struct Waitable {
  IscJob *job;
} Waitable;

void *isc_job_new(lua_State *L, size_t size, IscRun run, const void *owner) {
  Waitable *wt = (Waitable *)lua_newuserdatauv(L, sizeof *wt, 0);
  IscJob *j;
  wt->job = NULL;
  luaL_getmetatable(L, ISC_WAITABLE_MT);
  lua_setmetatable(L, -2);
  j = (IscJob *)calloc(1, offsetof(IscJob, payload) + (size ? size : 1));
  if (j == NULL) {
    (void)luaL_error(L, "not enough memory");
    return NULL; /* (luaL_error does not return) */
  }
  if (!job_open_signal(j)) {
    free(j);
    (void)luaL_error(
        L, "iscard: no descriptor for a waitable (too many open files?)");
    return NULL;
  }
  j->run = run;
  j->owner = owner;
  j->refs = 1;
  j->state = JOB_QUEUED;
  wt->job = j;
  return j->payload;
}

static Waitable *to_waitable(lua_State *L, int idx) {
  return (Waitable *)luaL_checkudata(L, idx, ISC_WAITABLE_MT);
}

static int job_finished(IscJob *j) {
  int s;
  lock();
  s = j->state;
  unlock();
  return s == JOB_DONE || s == JOB_DROPPED;
}

/* Waits (blocking) until j is done: only when a waiter returned early. */
static void wait_done(IscJob *j) {
  while (!job_finished(j)) {
#ifdef _WIN32
    (void)WaitForSingleObject(j->ev, INFINITE);
#else
    struct pollfd p;
    p.fd = j->rfd;
    p.events = POLLIN;
    p.revents = 0;
    (void)poll(&p, 1, -1);
#endif
  }
}

void *isc_job_result(lua_State *L, int idx, const void *owner, int *dropped) {
  Waitable *wt = to_waitable(L, idx);
  IscJob *j = wt->job;
  if (j == NULL || j->owner != owner) {
    (void)luaL_error(L, "iscard: a waitable collected twice or by another "
                        "object");
    return NULL; /* (luaL_error does not return) */
  }
  wait_done(j);
  lock();
  *dropped = j->state == JOB_DROPPED;
  unlock();
  return j->payload;
}

void isc_job_set_cancellable(lua_State *L, int idx) {
  to_waitable(L, idx)->job->cancellable = 1; /* before submit: no race */
}

/* waitable:pollfd() -> a descriptor readable once the call is done (nil on
 * Windows, which polls only sockets: use ready() there). */
static int w_pollfd(lua_State *L) {
  Waitable *wt = to_waitable(L, 1);
#ifdef _WIN32
  (void)wt;
  lua_pushnil(L);
#else
  if (wt->job == NULL) return 0;
  lua_pushinteger(L, (lua_Integer)wt->job->rfd);
#endif
  return 1;
}

static int w_events(lua_State *L) {
  (void)to_waitable(L, 1);
  lua_pushliteral(L, "r");
  return 1;
}

static int w_timeout(lua_State *L) {
  (void)to_waitable(L, 1);
  lua_pushnil(L);
  return 1;
}

static int w_ready(lua_State *L) {
  Waitable *wt = to_waitable(L, 1);
  lua_pushboolean(L, wt->job == NULL || job_finished(wt->job));
  return 1;
}

/* waitable:wait(ms) -> ready: waits at most ms (a signal ends the wait
 * early, so that the interpreter's Ctrl-C hook gets to run). */
static int w_wait(lua_State *L) {
  Waitable *wt = to_waitable(L, 1);
  lua_Number ms = luaL_checknumber(L, 2);
  luaL_argcheck(L, ms >= 0 && ms <= 86400000.0, 2, "0..86400000 ms");
  if (wt->job != NULL && !job_finished(wt->job)) {
#ifdef _WIN32
    (void)WaitForSingleObject(wt->job->ev, (DWORD)ms);
#else
    struct pollfd p;
    p.fd = wt->job->rfd;
    p.events = POLLIN;
    p.revents = 0;
    (void)poll(&p, 1, (int)ms);
#endif
  }
  lua_pushboolean(L, wt->job == NULL || job_finished(wt->job));
  return 1;
}

/* __gc, and after collection: the waitable's reference goes. */
static int w_gc(lua_State *L) {
  Waitable *wt = (Waitable *)luaL_testudata(L, 1, ISC_WAITABLE_MT);
  if (wt != NULL && wt->job != NULL) {
    IscJob *j = wt->job;
    wt->job = NULL;
    unref(j);
  }
  return 0;
}

static int w_tostring(lua_State *L) {
  Waitable *wt = to_waitable(L, 1);
  lua_pushstring(L, wt->job == NULL         ? "iscard.waitable (collected)"
                    : job_finished(wt->job) ? "iscard.waitable (ready)"
                                            : "iscard.waitable (in flight)");
  return 1;
}

/* When the Lua state closes: a short wait for the threads still releasing
 * what closed ISCards held (valgrind and ASan then see it all freed); a
 * call still in flight is not waited for, the process may end under it. */
static int at_close(lua_State *L) {
  int tries;
  (void)L;
  lock();
  for (tries = 0; tries < 10 && g_threads > 0; tries++) wait_ended(10);
  unlock();
  return 0;
}

#ifndef _WIN32
/* A fork copies the lock as it is, maybe held by a thread the child does
 * not have: the parent holds it across fork, and the child starts afresh
 * with no thread and a new generation (what the old objects are told by). */
static void fork_prepare(void) {
  lock();
}
static void fork_parent(void) {
  unlock();
}
static void fork_child(void) {
  (void)pthread_mutex_init(&g_lock, NULL);
  (void)pthread_cond_init(&g_ended, NULL);
  g_threads = 0;
  isc_fork_generation++;
}
#endif

void isc_worker_open(lua_State *L) {
#ifndef _WIN32
  static int registered;
  if (!registered) {
    registered = 1;
    (void)pthread_atfork(fork_prepare, fork_parent, fork_child);
  }
#endif
  static const luaL_Reg wmethods[] = {
      {"pollfd", w_pollfd}, {"events", w_events}, {"timeout", w_timeout},
      {"ready", w_ready},   {"wait", w_wait},     {"release", w_gc},
      {NULL, NULL}};
  if (luaL_newmetatable(L, ISC_WAITABLE_MT)) {
    lua_newtable(L);
    luaL_setfuncs(L, wmethods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, w_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, w_tostring);
    lua_setfield(L, -2, "__tostring");
    /* a userdata whose __gc runs at lua_close (the registry keeps it) */
    lua_newuserdatauv(L, 1, 0);
    lua_newtable(L);
    lua_pushcfunction(L, at_close);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_setfield(L, -2, "at_close");
  }
  lua_pop(L, 1);
}

/* ------------------------------------------------------------------ */
/* workers                                                             */

IscWorker *isc_worker_new(void) {
  IscWorker *w = (IscWorker *)calloc(1, sizeof *w);
  if (w == NULL) return NULL;
#ifdef _WIN32
  InitializeConditionVariable(&w->cond);
#else
  if (pthread_cond_init(&w->cond, NULL) != 0) {
    free(w);
    return NULL;
  }
#endif
  return w;
}

static void worker_free(IscWorker *w) {
#ifndef _WIN32
  (void)pthread_cond_destroy(&w->cond);
#endif
  free(w->last_payload);
  free(w);
}

/* The thread: runs the queue, then (closing) the last job, then frees. */
static void worker_loop(IscWorker *w) {
  lock();
  for (;;) {
    IscJob *j, *dead;
    while (w->head == NULL && !w->closing) wait_cond(w);
    if (w->head == NULL) break; /* closing, and nothing left */
    j = w->head;
    w->head = j->next;
    if (w->head == NULL) w->tail = NULL;
    j->next = NULL;
    j->state = JOB_RUNNING;
    w->running = j;
    unlock();
    j->run(j->payload);
    lock();
    w->running = NULL;
    j->state = JOB_DONE;
    unlock();
    signal_done(j);
    lock();
    dead = unref_locked(j);
    if (dead != NULL) {
      unlock();
      job_free(dead);
      lock();
    }
  }
  unlock();
  if (w->last != NULL) w->last(w->last_payload);
  worker_free(w);
  lock();
  g_threads--;
  signal_ended();
  unlock();
}

#ifdef _WIN32
static DWORD WINAPI thread_main(LPVOID arg) {
  worker_loop((IscWorker *)arg);
  return 0;
}
#else
static void *thread_main(void *arg) {
  worker_loop((IscWorker *)arg);
  return NULL;
}
#endif

/* A thread may still run our code when the Lua state that loaded us is
 * closed, which unloads the module: the first thread makes the module stay
 * loaded until the process ends. */
static void pin_module(void) {
  static int pinned;
  if (pinned) return;
  pinned = 1;
#ifdef _WIN32
  {
    HMODULE self;
    (void)GetModuleHandleExA(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS |
                                 GET_MODULE_HANDLE_EX_FLAG_PIN,
                             (LPCSTR)(void *)&pinned, &self);
  }
#else
  {
    Dl_info info;
    if (dladdr((void *)&pinned, &info) != 0 && info.dli_fname != NULL)
      (void)dlopen(info.dli_fname, RTLD_LAZY | RTLD_NODELETE);
  }
#endif
}

static int start_thread(IscWorker *w) {
#ifdef _WIN32
  HANDLE h = CreateThread(NULL, 0, thread_main, w, 0, NULL);
  if (h == NULL) return 0;
  (void)CloseHandle(h);
  return 1;
#else
  pthread_t th;
  pthread_attr_t attr;
  int rc;
  if (pthread_attr_init(&attr) != 0) return 0;
  (void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  rc = pthread_create(&th, &attr, thread_main, w);
  (void)pthread_attr_destroy(&attr);
  return rc == 0;
#endif
}

void isc_worker_submit(lua_State *L, IscWorker *w) {
  IscJob *j = to_waitable(L, -1)->job;
  if (!w->started) {
    pin_module();
    lock();
    g_threads++;
    unlock();
    if (!start_thread(w)) {
      lock();
      g_threads--;
      unlock();
      luaL_error(L, "iscard: cannot start a thread");
    }
    w->started = 1;
  }
  lock();
  j->refs++;
  if (w->tail != NULL)
    w->tail->next = j;
  else
    w->head = j;
  w->tail = j;
  signal_cond(w);
  unlock();
}

int isc_worker_busy_cancellable(IscWorker *w) {
  int r;
  lock();
  r = w->running != NULL && w->running->cancellable;
  unlock();
  return r;
}

void isc_worker_close(IscWorker *w, IscRun last, const void *payload,
                      size_t size) {
  IscJob *dropped;
  if (!w->started) {
    if (last != NULL) last((void *)payload);
    worker_free(w);
    return;
  }
  w->last = last;
  if (last != NULL && size > 0) {
    w->last_payload = malloc(size);
    if (w->last_payload != NULL) {
      memcpy(w->last_payload, payload, size);
    } else {
      w->last = NULL; /* out of memory: the process keeps what it held */
    }
  }
  lock();
  dropped = w->head;
  w->head = w->tail = NULL;
  w->closing = 1;
  signal_cond(w);
  unlock();
  while (dropped != NULL) {
    IscJob *j = dropped, *dead;
    dropped = j->next;
    lock();
    j->state = JOB_DROPPED;
    unlock();
    signal_done(j);
    lock();
    dead = unref_locked(j);
    unlock();
    if (dead != NULL) job_free(dead);
  }
}
