/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * internal.h: the limiter's private structures.  Read this first, then
 * queue.c top to bottom.
 *
 *   queue.c      the lock and queue protocol: FIFO of waiter records,
 *                hand-off (R5) of weighted holds (R23), bounded barging
 *                (R17), the wait with deadlines (R6) and cancellation (R7),
 *                drain (R29), and what a dead process gives back (R26).
 *   borrowers.c  the borrower set (who holds or waits), slots under a hash
 *                index, O(1) per operation.
 *   store.c      where the state lives: the heap for a private limiter,
 *                growing on demand (R15).
 *   shared.c     ... or a fixed segment of shared memory (R24..R28): the
 *                robust process-shared lock, process slots, futex wakes,
 *                repair of a segment left by a dead process.
 *   lane.c       the fast lane: while nobody waits, a thread takes and gives
 *                back one token with one atomic instruction, without the
 *                lock; the lock's holder folds those holds into the
 *                borrower set before it looks at anything.
 *   thread.c     the per-thread record that gives tokens back at exit (R22).
 *   clock.c      the timed wait on either clock (R6), with or without
 *                pthread_cond_clockwait.
 *   alloc.c      the one place that allocates (fault injection hooks).
 * The public functions, each in a small file of its own, only check their
 * arguments, take the lock and call into those.
 *
 * One protocol over two stores: queue.c and borrowers.c see only a struct
 * cl_state (counts, list heads as slot numbers, no pointers) and slot
 * tables reached through the handle, so the same code runs whether the
 * state is in this process's heap or in a segment every process maps at its
 * own address.  Every slot number read from the state goes through
 * cl_waiter_at or cl_entry_at, which check it (R27).
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
/* For a frame that a thread's cancellation unwinds through (R7): ASan
 * leaves the redzones of a frame so unwound poisoned, then reports its
 * own next use of that stack as an overflow. */
#if defined(__has_attribute)
#if __has_attribute(no_sanitize_address)
#define CL_UNWOUND_BY_CANCEL __attribute__((no_sanitize_address))
#endif
#endif
#ifndef CL_UNWOUND_BY_CANCEL
#define CL_UNWOUND_BY_CANCEL
#endif

/* A slot's status word, stored so that the compiler keeps it after the
 * stores that fill the slot and before those that empty it: a process
 * killed between two stores leaves each slot whole or free (R26). */
#define CL_PUBLISH(lvalue, value)                                              \
    do {                                                                       \
        __atomic_signal_fence(__ATOMIC_SEQ_CST);                               \
        (lvalue) = (value);                                                    \
        __atomic_signal_fence(__ATOMIC_SEQ_CST);                               \
    } while (0)

/* No slot: the end of a list, an empty index slot, "not in the set". */
#define CL_NIL UINT32_MAX

/* ---- Borrower identity (R2, R25) --------------------------------------- */

struct cl_key {
    uintptr_t id;                    /* pthread_t or object address */
    uint32_t kind;                   /* enum caplimit_borrower_kind */
    uint32_t proc;                   /* R25: process slot + 1; 0 in a private limiter */
};

static inline struct cl_key cl_thread_key(pthread_t t)
{
    struct cl_key k = { (uintptr_t)t, CAPLIMIT_BORROWER_THREAD, 0 };
    return k;
}

static inline struct cl_key cl_object_key(const void *p)
{
    struct cl_key k = { (uintptr_t)p, CAPLIMIT_BORROWER_OBJECT, 0 };
    return k;
}

/* R23: a NULL borrower names the calling thread. */
static inline struct cl_key cl_borrower_key(const void *borrower)
{
    return borrower == NULL ? cl_thread_key(pthread_self()) : cl_object_key(borrower);
}

/* ---- Slots ------------------------------------------------------------- *
 *
 * Both tables are arrays of fixed-size slots, numbered from 0, that never
 * move while in use (a private table may grow by realloc, under the lock,
 * so hold slot numbers, not pointers, across anything that may reserve).
 * A slot says what it is in one word, written last when it is filled and
 * first when it is emptied, so a process that dies between two stores
 * leaves each slot either whole or free; every list through the slots and
 * every count is rebuilt from them by cl_rebuild (R26).
 */

enum cl_entry_status {
    CL_ENTRY_FREE = 0,
    CL_ENTRY_QUEUED = 1,             /* the borrower of a queued waiter (R3) */
    CL_ENTRY_HELD = 2                /* a holder */
};

struct cl_entry {
    struct cl_key key;
    uint32_t status;                 /* enum cl_entry_status */
    uint32_t next, prev;             /* the holders' list, or the free list */
    size_t level;                    /* 0 while queued; >= 1 while holding */
    size_t tokens;                   /* R23: the hold's tokens; 0 while queued */
    unsigned long long grant;        /* which hand-off made it a holder (R7) */
    pid_t tid;                       /* THREAD: its kernel thread id (R25) */
};

/* A waiter's state; only wait_set_state (queue.c) writes it:
 *
 *     WAITING --dispatch, R17--> WOKEN --finds no room--> WAITING
 *        |                         |
 *        +--dispatch, R5-----------+--takes its tokens--> GRANTED
 *        +--caplimit_close---------+--------------------> CLOSED
 *        +--deadline, cancel-------+--------------------> LEAVING
 *
 * GRANTED, CLOSED and LEAVING are terminal and out of the queue.  A
 * drainer (R29) is on a list of its own: DRAINING, then DRAINED.  A free
 * slot is FREE. */
enum cl_wait_state {
    CL_FREE = 0,
    CL_WAITING,                      /* queued, asleep or about to be */
    CL_WOKEN,                        /* queued, told its tokens may be free (R17) */
    CL_GRANTED,                      /* left the queue as a holder (R5) */
    CL_CLOSED,                       /* left the queue by caplimit_close (R18) */
    CL_LEAVING,                      /* left the queue by its deadline or a cancel */
    CL_DRAINING,                     /* R29: waits for the limiter to be idle */
    CL_DRAINED                       /* R29: told the limiter is idle */
};

/* Where a private limiter's waiter sleeps: its thread's own condition
 * variable (thread.c).
 *
 * The pending-signal handshake, and its teardown rule: a waker that chose
 * this record under the lock adds 1 to *pending (under the lock), drops the
 * lock, signals cond, then subtracts 1 (RELEASE).  So the condition
 * variable must outlive every signal chosen for it: the thread destroys it
 * only at its exit, after *pending reads 0 (ACQUIRE, thread.c).  The
 * waiter's slot is never touched after the lock is dropped: the waker
 * copies the wake off first (cl_unlock).  A shared limiter's waiter sleeps
 * on the futex word of its slot instead (shared.c); pending is then the
 * process's count of wakes in flight into the segment, which must stay
 * mapped until they are sent, by the same rule. */
struct cl_wake {
    pthread_cond_t *cond;            /* private */
    unsigned *pending;               /* private, atomic */
    uint32_t *futex;                 /* shared: the slot's word */
};

struct cl_waiter {
    uint32_t next, prev;             /* the queue, the drainers, or the free list */
    uint32_t state;                  /* enum cl_wait_state */
    uint32_t entry;                  /* its borrower's slot */
    uint32_t proc;                   /* its process slot + 1; 0 when private */
    uint32_t futex;                  /* shared: where it sleeps */
    struct cl_key key;
    size_t n;                        /* R23: the tokens it asks for */
    pid_t tid;                       /* its thread's kernel id */
    unsigned long long ticket;       /* its place: FIFO order, rebuilt from it */
    unsigned long long grant;        /* set with CL_GRANTED */
    struct timespec since;           /* CLOCK_MONOTONIC, when it queued */
    struct cl_wake wake;             /* private: only this waiter sleeps on it */
};

/* ---- The state: counts and list heads, no pointers --------------------- */

struct cl_state {
    size_t total;
    size_t borrowed;                 /* tokens held: the sum of the holds (R23) */
    size_t extra_levels;             /* sum of (level - 1) over holders (R21) */
    uint32_t head, tail;             /* the FIFO queue of waiters */
    uint32_t drainers;               /* R29: drainers, through next */
    uint32_t free_waiter;            /* free waiter slots, through next */
    uint32_t holders;                /* holder entries, through next/prev */
    uint32_t free_entry;             /* free entries, through next */
    size_t nwaiting;                 /* records in the queue */
    size_t tokens_waiting;           /* R23: the sum of their requests */
    size_t tokens_woken;             /* R17: requests of the WOKEN ones */
    size_t in_wait;                  /* threads inside a wait, queued or not (R12) */
    size_t ndrainers;
    size_t nentries;                 /* entries in use, held or queued */
    size_t nheld;                    /* entries held */
    unsigned char closed;            /* R18 */
    unsigned char reentrant;         /* R21 */
    unsigned char policy;            /* enum caplimit_policy */
    unsigned long long bypass_ns;    /* R17 */
    unsigned long long grants;       /* hand-offs so far: names each one */
    unsigned long long tickets;      /* waiters queued so far */
    struct caplimit_counters counters;
};

#define CL_DEFAULT_BYPASS_NS 1000000ULL

/* ---- The handle -------------------------------------------------------- */

/* One slot of the index: an entry's number and its key's hash, so a probe
 * reads the entry only when the hashes agree. */
struct cl_islot {
    uint32_t entry;                  /* CL_NIL: empty */
    uint32_t hash;
};

/* Wakes chosen under the lock wait in lim->wakes for cl_unlock to send
 * after the unlock.  The batch size only bounds that array: a wake that
 * finds it full is sent at once, under the lock, which is as correct (the
 * waiter cannot act on it before it has the lock) and only slower. */
#define CL_WAKE_BATCH 8

struct cl_shared;                    /* shared.c */

/* The fast lane (lane.c).  Threads that take the lane (at most CL_LANES at
 * a time) each own one slot of every limiter's lane. */
#define CL_LANES 64

struct cl_lane {
    unsigned char apart[64];         /* the word off the cache line of *st's tail */
    uint64_t word;                   /* OPEN (bit 0) | tokens free to the lane << 1 */
    uint64_t slot[CL_LANES];         /* HELD (bit 0) | acquires so far << 1; its thread's */
    size_t budget;                   /* under the lock: tokens the lane opened with */
    int wanted;                      /* under the lock: the last locked acquire
                                      * was a thread's for one token */
    uint64_t seen[CL_LANES];         /* under the lock: acquires already counted */
};

struct caplimit {
    struct cl_state *st;             /* the heap's own, or the segment's */
    pthread_mutex_t *lock;           /* guards *st and the tables */
    struct cl_entry *entries;        /* ecap slots */
    struct cl_islot *index;          /* imask + 1 slots */
    struct cl_waiter *waiters;       /* wcap slots */
    uint32_t ecap, wcap, imask;      /* trusted copies: never read from *st */
    uint32_t proc;                   /* this process's slot + 1 (R25), or 0 */
    uint32_t hint;                   /* index slot where the last find stopped */
    int corrupt;                     /* R27: the segment failed a check */
    size_t waits_here;               /* threads waiting or draining in this handle */
    struct cl_shared *shared;        /* NULL for a private limiter */
    size_t nwakes;                   /* wakes to send once unlocked */
    struct cl_wake wakes[CL_WAKE_BATCH];
    pthread_mutex_t own_lock;        /* a private limiter's lock and state */
    struct cl_state own;
    struct cl_lane lane;             /* private only: a shared one stays shut */
};

/* R27: a slot number from the state, checked.  A bad one marks the handle
 * corrupt and answers a scratch slot of the handle's own, so the protocol
 * runs on to the end of the call, which then fails with EPROTO. */
CL_HIDDEN struct cl_waiter *cl_bad_waiter(caplimit_t *lim);
CL_HIDDEN struct cl_entry *cl_bad_entry(caplimit_t *lim);

static inline struct cl_waiter *cl_waiter_at(caplimit_t *lim, uint32_t i)
{
    return CL_LIKELY(i < lim->wcap) ? &lim->waiters[i] : cl_bad_waiter(lim);
}

static inline struct cl_entry *cl_entry_at(caplimit_t *lim, uint32_t i)
{
    return CL_LIKELY(i < lim->ecap) ? &lim->entries[i] : cl_bad_entry(lim);
}

/* ---- The borrower set (borrowers.h, borrowers.c) ----------------------- *
 *
 * borrowers.h, inline:
 *   cl_borrowers_find(lim, key)      key's entry, or CL_NIL
 *   cl_borrowers_add(lim, key, st)   a holder at level 1, or a queued
 *                                    borrower; room must be reserved
 *   cl_borrowers_promote(lim, e)     a queued borrower becomes a holder
 *   cl_borrowers_remove(lim, e)
 */

/* The index's hash of a key, for the store's rebuild of the index. */
CL_HIDDEN size_t cl_hash_key(struct cl_key k);
/* Rebuilds the index, the holders' and the free list, and the counts of
 * entries, from the slots' status words (R26, R27). */
CL_HIDDEN void cl_borrowers_rebuild(caplimit_t *lim);
/* Makes every entry slot free and the index empty. */
CL_HIDDEN void cl_borrowers_clear(caplimit_t *lim);

/* ---- The store (store.c, shared.c) ------------------------------------- */

/* Room for one more borrower, and with waiter for one more waiter (or,
 * with CL_RESERVE_WAITER, for a waiter only: a drainer): ENOMEM (private,
 * R15) or ENOSPC (shared, R28) leaves everything as it was. */
#define CL_RESERVE_WAITER 2
CL_HIDDEN int cl_store_reserve(caplimit_t *lim, int waiter);
CL_HIDDEN void cl_store_free(caplimit_t *lim);
CL_HIDDEN int cl_store_init(caplimit_t *lim);

/* shared.c: the parts of the protocol that differ in shared memory. */
CL_HIDDEN int cl_shared_lock(caplimit_t *lim);
/* ETIMEDOUT when the lock is not had by a second past abstime (R27). */
CL_HIDDEN int cl_shared_lock_until(caplimit_t *lim, clockid_t clock,
                                   const struct timespec *abstime);
CL_HIDDEN void cl_shared_unlock(caplimit_t *lim);
/* Sleeps on w's futex with the lock dropped, at most until abstime or the
 * next look for dead processes; *locked follows the lock for a cancel. */
CL_HIDDEN int cl_shared_sleep(caplimit_t *lim, uint32_t w, clockid_t clock,
                              const struct timespec *abstime, int *locked);
CL_HIDDEN void cl_shared_wake(const struct cl_wake *wake);
/* The count of this process's wakes in flight into the segment, which
 * its last handle waits for before it unmaps (the handshake above). */
CL_HIDDEN unsigned *cl_shared_inflight(caplimit_t *lim);
/* R26: gives back what dead processes held (queue.c does the giving). */
CL_HIDDEN void cl_shared_reclaim(caplimit_t *lim);
CL_HIDDEN pid_t cl_shared_pid_of(const caplimit_t *lim, uint32_t proc);
CL_HIDDEN int cl_shared_destroy(caplimit_t *lim);

/* ---- The protocol (queue.c) -------------------------------------------- */

/* The one way into the lock, and the one way out of it.  cl_lock takes the
 * lock (a shared one: repairs what a dead owner left, R26) and first
 * settles what time alone may have changed (R17: a head that has grown old
 * beside free tokens is granted them); cl_unlock sends the wakes chosen
 * under the lock once it is dropped, and answers EPROTO when the call
 * found the segment scribbled on (R27), else 0. */
CL_HIDDEN void cl_lock(const caplimit_t *lim);
CL_HIDDEN int cl_unlock(const caplimit_t *lim);
/* cl_lock for a call with a deadline: ETIMEDOUT, unlocked, when a shared
 * limiter's lock is not had by a second past abstime (R27: a scribbled
 * lock word); a lock had late still lets the call count (R19). */
CL_HIDDEN int cl_lock_until(const caplimit_t *lim, clockid_t clock,
                            const struct timespec *abstime);

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
/* Under the lock: R8, R23, a new total and the hand-off it allows. */
CL_HIDDEN void cl_set_total(caplimit_t *lim, size_t total);
/* Under the lock: R18, every waiter leaves the queue with ECANCELED. */
CL_HIDDEN void cl_close_queue(caplimit_t *lim);
/* R29: waits until the limiter is idle; unlocks. */
CL_HIDDEN int cl_drain(caplimit_t *lim, clockid_t clock, const struct timespec *abstime);
/* R12, R24: in use by anyone (a holder, a waiter, a drainer); for a shared
 * limiter, by this process. */
CL_HIDDEN int cl_busy(caplimit_t *lim);
/* R26: everything process slot proc held or waited for is given back;
 * answers the tokens reclaimed. */
CL_HIDDEN size_t cl_reclaim_process(caplimit_t *lim, uint32_t proc);
/* R26, R27: the queue and every count rebuilt from the slots, then R5. */
CL_HIDDEN void cl_rebuild(caplimit_t *lim);
CL_HIDDEN int cl_check_deadline(clockid_t clock, const struct timespec *abstime);

/* White-box tests: key's entry (NULL if none), under the lock. */
CL_HIDDEN struct cl_entry *cl_entry_of(caplimit_t *lim, struct cl_key key);

/* ---- Timed waits (clock.c, R6) ----------------------------------------- */

/* A condition variable that cl_cond_timedwait can wait on. */
CL_HIDDEN int cl_cond_init(pthread_cond_t *c);
/* Waits on c until woken or until abstime on clock; ETIMEDOUT only if clock
 * says abstime has come, else 0 (maybe a spurious wake-up). */
CL_HIDDEN int cl_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, clockid_t clock,
                                const struct timespec *abstime);

/* ---- The fast lane (lane.c) --------------------------------------------- */

/* Without the lock: the calling thread takes one token, or gives back the
 * one it took in the lane; 0, or -1 when the call must take the lock. */
CL_HIDDEN int cl_lane_acquire(caplimit_t *lim);
CL_HIDDEN int cl_lane_release(caplimit_t *lim);
/* Under the lock.  Shuts the lane and makes each of its holds a holder of
 * the borrower set, with its acquires counted (cl_lock does this first). */
CL_HIDDEN void cl_lane_fold(caplimit_t *lim);
static inline void cl_lane_shut(caplimit_t *lim)
{
    if (CL_UNLIKELY(__atomic_load_n(&lim->lane.word, __ATOMIC_RELAXED) & 1))
        cl_lane_fold(lim);
}
/* Under the lock, or before lim is shared: opens the lane when nobody
 * holds, waits or drains (cl_unlock does this last). */
CL_HIDDEN void cl_lane_open(caplimit_t *lim);
/* Under the lock, from each acquire: whether the lane may open again.  An
 * object's acquire keeps it shut, so pairs of object borrowers on an empty
 * set do not open and shut it on every call; a thread's one token opens it. */
static inline void cl_lane_want(caplimit_t *lim, int wanted)
{
    lim->lane.wanted = wanted;
}
/* thread.c: a thread takes a lane slot (0: none free), gives it back at
 * its exit, or after fork tells its slot its new kernel thread id. */
CL_HIDDEN unsigned cl_lane_join(pthread_t self, pid_t tid);
CL_HIDDEN void cl_lane_leave(unsigned lane);
CL_HIDDEN void cl_lane_owner_forked(unsigned lane, pid_t tid);

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

/* ---- Test seams (seam.c) ----------------------------------------------- */

/* For white-box tests: when set, called by a queued waiter each time it
 * has woken from a sleep and taken the lock back, before it looks at its
 * state (not when it leaves by its deadline).  The hook may drop the lock
 * with cl_unlock and take it back with cl_lock, to hold the waiter at that
 * point while the test acts: a hand-off race made deterministic. */
extern CL_HIDDEN void (*cl_after_wake)(caplimit_t *lim);

#endif /* CAPLIMIT_INTERNAL_H */
