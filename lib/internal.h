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

/* ---- The borrower set: holders and queued borrowers -------------------- */

struct cl_entry {
    struct cl_key key;
    size_t level;                    /* 0 while queued; >= 1 while holding */
    unsigned long long grant;        /* which hand-off made it a holder (R7) */
};

/* entries[0 .. nheld) hold a token, entries[nheld .. n) are queued; index is
 * an open-addressing table (linear probing, no tombstones) of positions in
 * entries, so a snapshot walks holders only (R14).  Each slot keeps its
 * key's hash beside the position, so probing reads entries only on a match. */
struct cl_slot {
    uint32_t pos;                    /* CL_EMPTY or a position in entries */
    uint32_t hash;                   /* the key's hash (its low 32 bits) */
};

struct cl_borrowers {
    struct cl_entry *entries;
    struct cl_slot *index;
    size_t n, nheld, cap;            /* cap: entries' room */
    size_t mask;                     /* index has mask + 1 slots */
    size_t hint;                     /* the slot the last find stopped at */
};

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
/* Inserts a holder at level 1, or a queued entry; room must be reserved. */
CL_HIDDEN void cl_borrowers_add_holder(struct cl_borrowers *b, struct cl_key key);
CL_HIDDEN void cl_borrowers_add_queued(struct cl_borrowers *b, struct cl_key key);
/* A queued entry becomes a holder at level 1. */
CL_HIDDEN void cl_borrowers_promote(struct cl_borrowers *b, size_t pos);
CL_HIDDEN void cl_borrowers_remove(struct cl_borrowers *b, size_t pos);

/* ---- Waiter records: one per blocked thread, on its stack -------------- */

enum cl_wait_state {
    CL_WAITING,                      /* queued, asleep or about to be */
    CL_WOKEN,                        /* queued, told a token may be free (R17) */
    CL_GRANTED,                      /* left the queue as a holder (R5) */
    CL_CLOSED                        /* left the queue by caplimit_close (R18) */
};

/* Where a waiter sleeps: its thread's own condition variable (thread.c),
 * which lives as long as the thread, so it may be signalled after the
 * lock is dropped; pending counts such signals still on their way. */
struct cl_wake {
    pthread_cond_t *cond;
    unsigned *pending;               /* atomic */
};

struct cl_waiter {
    struct cl_waiter *next, *prev;
    struct cl_wake wake;             /* only this waiter sleeps on it */
    struct cl_key key;
    enum cl_wait_state state;
    struct timespec since;           /* CLOCK_MONOTONIC, when it queued */
    unsigned long long grant;        /* set with CL_GRANTED */
};

/* ---- The limiter ------------------------------------------------------- */

#define CL_WAKE_BATCH 8

struct caplimit {
    pthread_mutex_t lock;            /* guards everything below */
    size_t total;
    size_t borrowed;                 /* == borrowers.nheld */
    size_t extra_levels;             /* sum of (level - 1) over holders (R21) */
    struct cl_waiter *head, *tail;   /* the FIFO queue */
    size_t nwaiting;                 /* records in the queue */
    size_t nwoken;                   /* queued records in state CL_WOKEN */
    size_t inside;                   /* threads in a wait, queued or not (R12) */
    struct cl_borrowers borrowers;
    unsigned char closed;            /* R18 */
    unsigned char reentrant;         /* R21 */
    unsigned char policy;            /* enum caplimit_policy */
    unsigned long long bypass_ns;    /* R17 */
    unsigned long long grants;       /* hand-offs so far: names each one */
    struct caplimit_counters counters;
    /* signals to send once the lock is dropped (see cl_unlock) */
    size_t nwakes;
    struct cl_wake wakes[CL_WAKE_BATCH];
};

#define CL_DEFAULT_BYPASS_NS 1000000ULL

/* const-correct getters still take the lock */
static inline pthread_mutex_t *cl_lock_of(const caplimit_t *lim)
{
    return (pthread_mutex_t *)&lim->lock;
}

/* ---- The protocol (queue.c) -------------------------------------------- */

/* The whole acquire, for every variant: wait is 0 for nowait; abstime NULL
 * waits for ever.  Arguments are already checked. */
CL_HIDDEN int cl_acquire(caplimit_t *lim, struct cl_key key, int wait,
                         clockid_t clock, const struct timespec *abstime);
/* The whole release (R9); all 1 gives back every level (R22). */
CL_HIDDEN int cl_release(caplimit_t *lim, struct cl_key key, int all);
/* Under the lock: grants or wakes waiters while tokens are free (R5, R17). */
CL_HIDDEN void cl_dispatch(caplimit_t *lim);
/* Under the lock: R18, every waiter leaves the queue with ECANCELED. */
CL_HIDDEN void cl_close_queue(caplimit_t *lim);
CL_HIDDEN int cl_check_deadline(clockid_t clock, const struct timespec *abstime);
/* Unlocks, then signals the waiters that dispatch chose, so a woken waiter
 * does not find its waker still holding the lock. */
CL_HIDDEN void cl_unlock(caplimit_t *lim);

/* ---- Per-thread record (thread.c, R22) --------------------------------- */

/* Room to note one more limiter held by the calling thread; ENOMEM. */
CL_HIDDEN int cl_thread_reserve(void);
/* The calling thread's condition variable, ready to wait on; ENOMEM. */
CL_HIDDEN int cl_thread_wake(struct cl_wake *out);
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
