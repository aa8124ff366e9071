/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * internal.h: the limiter's private structures.  Read this first:
 *   borrowers.c  the borrower set (who holds or waits), a hash index over a
 *                dense array, O(1) per operation.
 *   queue.c      the lock and queue protocol: FIFO of waiter records,
 *                hand-off (R5), bounded barging (R17), the wait itself with
 *                deadlines (R6) and cancellation (R7).
 *   thread.c     the per-thread record that gives tokens back at exit (R22).
 *   alloc.c      the one place that allocates (fault injection hooks).
 * The public functions, each in a small file of its own, only check their
 * arguments, take the lock and call into those.
 */
#ifndef CAPLIMIT_INTERNAL_H
#define CAPLIMIT_INTERNAL_H

/* First: feature macros (_GNU_SOURCE) and HAVE_PTHREAD_COND_CLOCKWAIT. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#define CAPLIMIT_BUILDING 1
#include "caplimit.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define CL_HIDDEN __attribute__((visibility("hidden")))
#define CL_LIKELY(x) __builtin_expect(!!(x), 1)
#define CL_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- Borrower identity (R2) -------------------------------------------- */

struct cl_key {
    uintptr_t id;                    /* pthread_t or object address */
    unsigned kind;                   /* enum caplimit_borrower_kind */
};

static inline struct cl_key cl_thread_key(pthread_t t)
{
    struct cl_key k = { (uintptr_t)t, CAPLIMIT_BORROWER_THREAD };
    return k;
}

static inline struct cl_key cl_object_key(const void *p)
{
    struct cl_key k = { (uintptr_t)p, CAPLIMIT_BORROWER_OBJECT };
    return k;
}

/* R23: a NULL borrower names the calling thread. */
static inline struct cl_key cl_borrower_key(const void *borrower)
{
    return borrower == NULL ? cl_thread_key(pthread_self()) : cl_object_key(borrower);
}

/* ---- The borrower set: holders and queued borrowers -------------------- */

struct cl_entry {
    struct cl_key key;
    size_t level;                    /* 0 while queued; >= 1 while holding */
    size_t tokens;                   /* R23: the hold's tokens; 0 while queued */
    unsigned long long grant;        /* which hand-off made it a holder (R7) */
    pid_t tid;                       /* THREAD: its kernel thread id (R25) */
};

/* entries[0 .. nheld) hold a token, entries[nheld .. n) are queued; index is
 * an open-addressing table (linear probing, no tombstones) of positions in
 * entries, so a snapshot walks holders only (R14). */
struct cl_borrowers {
    struct cl_entry *entries;
    uint32_t *index;                 /* CL_EMPTY or a position in entries */
    size_t n, nheld, cap;            /* cap: entries' room */
    size_t mask;                     /* index has mask + 1 slots */
    size_t hint;                     /* the slot the last find stopped at */
};

/* "Not in the set", as cl_borrowers_find answers.  (The index marks its
 * empty slots with a sentinel of its own, private to borrowers.c.) */
#define CL_NONE ((size_t)-1)

CL_HIDDEN void cl_borrowers_init(struct cl_borrowers *b);
CL_HIDDEN void cl_borrowers_free(struct cl_borrowers *b);
CL_HIDDEN int cl_borrowers_grow(struct cl_borrowers *b);
/* Makes room for one more entry; ENOMEM leaves the set as it was. */
static inline int cl_borrowers_reserve(struct cl_borrowers *b)
{
    /* room in entries, and the index stays at most half full */
    if (CL_LIKELY(b->n < b->cap && 2 * (b->n + 1) <= b->mask + 1))
        return 0;
    return cl_borrowers_grow(b);
}
/* Position of key in entries, or CL_NONE; remembers where it looked. */
CL_HIDDEN size_t cl_borrowers_find(struct cl_borrowers *b, struct cl_key key);
/* Inserts a holder at level 1, or a queued entry (level 0), every other
 * field 0; room must be reserved.  Both answer the entry's position. */
CL_HIDDEN size_t cl_borrowers_add_holder(struct cl_borrowers *b, struct cl_key key);
CL_HIDDEN size_t cl_borrowers_add_queued(struct cl_borrowers *b, struct cl_key key);
/* A queued entry becomes a holder at level 1; answers its new position. */
CL_HIDDEN size_t cl_borrowers_promote(struct cl_borrowers *b, size_t pos);
CL_HIDDEN void cl_borrowers_remove(struct cl_borrowers *b, size_t pos);

/* ---- Waiter records: one per blocked thread, on its stack -------------- */

/* A waiter's state; only wait_set_state (queue.c) writes it:
 *
 *     WAITING --dispatch, R17--> WOKEN --finds no room--> WAITING
 *        |                         |
 *        +--dispatch, R5-----------+--takes its tokens--> GRANTED
 *        +--caplimit_close---------+--------------------> CLOSED
 *        +--deadline, cancel-------+--------------------> LEAVING
 *
 * GRANTED, CLOSED and LEAVING are terminal and out of the queue.  A
 * drainer (R29) is a record of its own list: DRAINING, then DRAINED. */
enum cl_wait_state {
    CL_WAITING,                      /* queued, asleep or about to be */
    CL_WOKEN,                        /* queued, told its tokens may be free (R17) */
    CL_GRANTED,                      /* left the queue as a holder (R5) */
    CL_CLOSED,                       /* left the queue by caplimit_close (R18) */
    CL_LEAVING,                      /* left the queue by its deadline or a cancel */
    CL_DRAINING,                     /* R29: waits for the limiter to be idle */
    CL_DRAINED                       /* R29: told the limiter is idle */
};

/* Where a waiter sleeps: its thread's own condition variable (thread.c).
 *
 * The pending-signal handshake, and its teardown rule: a waker that chose
 * this record under the lock adds 1 to *pending (under the lock), drops the
 * lock, signals cond, then subtracts 1 (RELEASE).  So the condition
 * variable must outlive every signal chosen for it: the thread destroys it
 * only at its exit, after *pending reads 0 (ACQUIRE, thread.c).  The
 * record itself (on the waiter's stack) is never touched after the lock is
 * dropped: the waker copies the wake off first (cl_unlock). */
struct cl_wake {
    pthread_cond_t *cond;
    unsigned *pending;               /* atomic */
};

struct cl_waiter {
    struct cl_waiter *next, *prev;
    struct cl_wake wake;             /* only this waiter sleeps on it */
    struct cl_key key;
    size_t n;                        /* R23: the tokens it asks for */
    pid_t tid;                       /* THREAD: its kernel thread id */
    enum cl_wait_state state;
    struct timespec since;           /* CLOCK_MONOTONIC, when it queued */
    unsigned long long grant;        /* set with CL_GRANTED */
};

/* ---- The limiter ------------------------------------------------------- */

/* Wakes chosen under the lock wait in lim->wakes for cl_unlock to send
 * after the unlock.  The batch size only bounds that array: a wake that
 * finds it full is sent at once, under the lock, which is as correct (the
 * waiter cannot act on it before it has the lock) and only slower. */
#define CL_WAKE_BATCH 8

struct caplimit {
    pthread_mutex_t lock;            /* guards everything below */
    size_t total;
    size_t borrowed;                 /* tokens held: the sum of the holds (R23) */
    size_t extra_levels;             /* sum of (level - 1) over holders (R21) */
    struct cl_waiter *head, *tail;   /* the FIFO queue */
    size_t nwaiting;                 /* records in the queue */
    size_t tokens_waiting;           /* R23: the sum of their requests */
    size_t tokens_woken;             /* R17: requests of the WOKEN ones */
    size_t in_wait;                  /* threads inside a wait, queued or not (R12) */
    struct cl_waiter *drainers;      /* R29: a list through next */
    size_t ndrainers;
    struct cl_borrowers borrowers;
    unsigned char closed;            /* R18 */
    unsigned char reentrant;         /* R21 */
    unsigned char policy;            /* enum caplimit_policy */
    unsigned long long bypass_ns;    /* R17 */
    unsigned long long grants;       /* hand-offs so far: names each one */
    struct caplimit_counters counters;
    size_t nwakes;                   /* wakes to send once unlocked */
    struct cl_wake wakes[CL_WAKE_BATCH];
};

#define CL_DEFAULT_BYPASS_NS 1000000ULL

/* ---- The protocol (queue.c) -------------------------------------------- */

/* The one way into the lock, and the one way out of it.  cl_lock takes the
 * lock and first settles what time alone may have changed (R17: a head
 * that has grown old beside free tokens is granted them); cl_unlock sends
 * the wakes chosen under the lock once it is dropped. */
CL_HIDDEN void cl_lock(const caplimit_t *lim);
CL_HIDDEN void cl_unlock(const caplimit_t *lim);

enum cl_may_wait { CL_NOWAIT = 0, CL_MAY_WAIT = 1 };

/* The whole acquire of n tokens, for every variant; abstime NULL waits for
 * ever.  Arguments are already checked. */
CL_HIDDEN int cl_acquire(caplimit_t *lim, struct cl_key key, size_t n,
                         enum cl_may_wait may_wait, clockid_t clock,
                         const struct timespec *abstime);

enum cl_give_back {
    CL_GIVE_LEVEL,                   /* caplimit_release: one level, or the hold */
    CL_GIVE_TOKENS,                  /* caplimit_release_tokens: n of the hold */
    CL_GIVE_ALL                      /* R22 thread exit: the hold, every level */
};
/* The whole release (R9, R21, R22, R23). */
CL_HIDDEN int cl_release(caplimit_t *lim, struct cl_key key, enum cl_give_back how,
                         size_t n);
/* Under the lock: grants or wakes waiters while tokens are free (R5, R17). */
CL_HIDDEN void cl_dispatch(caplimit_t *lim);
/* Under the lock: R18, every waiter leaves the queue with ECANCELED. */
CL_HIDDEN void cl_close_queue(caplimit_t *lim);
/* R29: waits until the limiter is idle; unlocks. */
CL_HIDDEN int cl_drain(caplimit_t *lim, clockid_t clock, const struct timespec *abstime);
/* R12: in use by anyone (a holder, a waiter, a drainer). */
CL_HIDDEN int cl_busy(const caplimit_t *lim);
CL_HIDDEN int cl_check_deadline(clockid_t clock, const struct timespec *abstime);

/* ---- Per-thread record (thread.c, R22) --------------------------------- */

/* Room to note one more limiter held by the calling thread; ENOMEM. */
CL_HIDDEN int cl_thread_reserve(void);
/* Where the calling thread sleeps: its condition variable, ready; ENOMEM. */
CL_HIDDEN int cl_thread_sleeper(struct cl_wake *out);
/* The calling thread's kernel thread id (R25), cached. */
CL_HIDDEN pid_t cl_thread_tid(void);
CL_HIDDEN void cl_thread_note_held(caplimit_t *lim);
CL_HIDDEN void cl_thread_note_released(caplimit_t *lim);

/* ---- Allocation (alloc.c): every allocation goes through here ---------- */

CL_HIDDEN void *cl_malloc(size_t size);
CL_HIDDEN void *cl_realloc(void *p, size_t size);
CL_HIDDEN void cl_free(void *p);

/* Fault injection for tests: when set, called before every allocation; a
 * non-zero answer makes that allocation fail. */
extern CL_HIDDEN int (*cl_alloc_should_fail)(void);

#endif /* CAPLIMIT_INTERNAL_H */
