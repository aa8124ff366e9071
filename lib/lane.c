/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * The fast lane: a private limiter's uncontended acquire and release by a
 * thread, one token each, with one atomic instruction and no lock.
 *
 * The lane is open only while the borrower set is empty and nobody waits
 * or drains; then the word holds OPEN and the tokens free to the lane (at
 * most the set's free room, so folding them in never allocates: R15).
 * Each thread that takes the lane owns one slot in every limiter: HELD
 * while it holds a lane token, and a count of its lane acquires (R19).
 *
 *   lane acquire:  slot = HELD, acquires + 1;  CAS word: tokens - 1
 *                  (if the CAS finds the lane shut: slot back as it was)
 *   lane release:  CAS word: tokens + 1;  slot = not HELD
 *
 * Anything else takes the lock, and cl_lock first shuts the lane
 * (cl_lane_fold): it clears OPEN with one atomic instruction, after which
 * no lane CAS succeeds, so the lane's holders are fixed: budget - tokens of
 * them.  Their slots say HELD, and only slots between a thread's two steps
 * say HELD besides (an acquire about to find the lane shut, a release
 * about to clear its slot); those last two instructions, so the fold reads
 * the slots until exactly that many say HELD (spinning, then yielding,
 * then sleeping: under real-time priorities a preempted owner of lower
 * priority runs only when the folder sleeps).  Each such slot becomes a
 * holder of the borrower set and its HELD is cleared, by the lock's holder:
 * the owner writes its slot only after a CAS succeeds, which cannot happen
 * while the lane is shut, and the lane opens again only once the set is
 * empty, so only after the owner has given that hold back through the lock.
 * cl_unlock opens the lane again when the set is empty and the last locked
 * acquire was a thread's for one token (cl_lane_open, cl_lane_want).
 *
 * The other rules come with the lock: R3 (a lane holder's slot says HELD,
 * and a holder in the set keeps the lane shut), R4 and R18 (a waiter or a
 * close keeps it shut), R5 (the lane's tokens are free ones), R22 (the
 * thread's record notes lane holds as well).  model/lane.pml checks the
 * lane against the lock.
 */
#include "internal.h"
#include "borrowers.h"
#include "thread.h"

#include <errno.h>
#include <sched.h>
#include <time.h>

#define LANE_OPEN ((uint64_t)1)      /* in the word */
#define LANE_HELD ((uint64_t)1)      /* in a slot */
#define LANE_ONE ((uint64_t)2)       /* a token in the word, an acquire in a slot */
#define LANE_MAX_BUDGET ((size_t)1 << 62)

/* Who owns each lane slot: written by a thread when it joins, before its
 * first lane CAS, read by a fold only for a slot that says HELD. */
struct lane_owner {
    pthread_t self;
    pid_t tid;
};

static struct lane_owner owners[CL_LANES];
static uint64_t lanes_taken;         /* bit i: slot i has an owner */
static unsigned lanes_high;          /* slots ever taken: a fold reads below it */

static int lane_has_token(uint64_t word)
{
    return (word & LANE_OPEN) != 0 && word >= LANE_OPEN + LANE_ONE;
}

int cl_lane_acquire(caplimit_t *lim)
{
    struct cl_thread *t = &cl_self;
    uint64_t *slot, v, w;

    if (CL_UNLIKELY(t->lane == 0 || t->n == t->cap))
        return -1;                   /* no slot, or the record must grow */
    slot = &lim->lane.slot[t->lane - 1];
    v = __atomic_load_n(slot, __ATOMIC_RELAXED);
    w = __atomic_load_n(&lim->lane.word, __ATOMIC_RELAXED);
    if (CL_UNLIKELY((v & LANE_HELD) || !lane_has_token(w)))
        return -1;                   /* R3, or the lane is shut or empty */
    __atomic_store_n(slot, v + LANE_ONE + LANE_HELD, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(&lim->lane.word, &w, w - LANE_ONE, 1,
                                        __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
        if (!lane_has_token(w)) {
            __atomic_store_n(slot, v, __ATOMIC_RELAXED);
            return -1;
        }
    }
    cl_record_held(t, lim);          /* R22 */
    return 0;
}

int cl_lane_release(caplimit_t *lim)
{
    struct cl_thread *t = &cl_self;
    uint64_t *slot, v, w;

    if (CL_UNLIKELY(t->lane == 0))
        return -1;
    slot = &lim->lane.slot[t->lane - 1];
    v = __atomic_load_n(slot, __ATOMIC_RELAXED);
    if (!(v & LANE_HELD))
        return -1;                   /* not a lane hold: the set knows */
    w = __atomic_load_n(&lim->lane.word, __ATOMIC_RELAXED);
    do {
        if (!(w & LANE_OPEN))
            return -1;               /* shut: the hold is being folded */
    } while (!__atomic_compare_exchange_n(&lim->lane.word, &w, w + LANE_ONE, 1,
                                          __ATOMIC_RELEASE, __ATOMIC_RELAXED));
    __atomic_store_n(slot, v - LANE_HELD, __ATOMIC_RELAXED);
    cl_record_released(t, lim);
    return 0;
}

/* The slots below n, read until exactly `holds` say HELD (see above: the
 * others are one instruction from clearing). */
static void read_slots(const struct cl_lane *l, unsigned n, size_t holds, uint64_t *got)
{
    unsigned i, spins = 0;
    size_t held;

    for (;;) {
        for (i = 0, held = 0; i < n; i++) {
            got[i] = __atomic_load_n(&l->slot[i], __ATOMIC_ACQUIRE);
            held += got[i] & LANE_HELD;
        }
        if (held == holds)
            return;
        if (++spins <= 64)
            continue;
        if (spins <= 128) {
            sched_yield();           /* an owner was preempted between its steps */
        } else {
            /* under real-time priorities a yield never lets a lower-priority
             * owner run: sleep, and be no cancellation point (R7) */
            struct timespec pause = { 0, 20000 };
            int state, saved = errno;
            pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
            nanosleep(&pause, NULL);
            pthread_setcancelstate(state, NULL);
            errno = saved;
        }
    }
}

/* Lane slot i's hold becomes a holder of the set, as take_now makes one
 * (queue.c); its acquire is counted with the others. */
static void fold_hold(caplimit_t *lim, unsigned i)
{
    struct cl_key key = cl_thread_key(owners[i].self);
    uint32_t e = cl_borrowers_add(lim, key, CL_ENTRY_HELD);
    struct cl_entry *x = cl_entry_at(lim, e);

    x->tokens = 1;
    x->tid = owners[i].tid;
    lim->st->borrowed++;
}

void cl_lane_fold(caplimit_t *lim)
{
    struct cl_lane *l = &lim->lane;
    uint64_t got[CL_LANES];
    unsigned long long acquires = 0;
    uint64_t w = __atomic_fetch_and(&l->word, ~LANE_OPEN, __ATOMIC_ACQ_REL);
    /* after the fetch_and: a slot joined before a CAS we now see */
    unsigned i, n = __atomic_load_n(&lanes_high, __ATOMIC_ACQUIRE);

    read_slots(l, n, l->budget - (size_t)(w >> 1), got);
    for (i = 0; i < n; i++) {
        acquires += (got[i] >> 1) - l->seen[i];
        l->seen[i] = got[i] >> 1;
        if (got[i] & LANE_HELD) {
            fold_hold(lim, i);
            __atomic_store_n(&l->slot[i], got[i] - LANE_HELD, __ATOMIC_RELAXED);
        }
    }
    lim->st->counters.granted_at_once += acquires;
}


void cl_lane_open(caplimit_t *lim)
{
    const struct cl_state *s = lim->st;
    /* every lane hold must fit in the set unallocated (R15): a free entry
     * each, and an index kept at most half full */
    size_t half = ((size_t)lim->imask + 1) / 2;
    size_t room = lim->ecap < half ? lim->ecap : half;
    size_t budget;

#ifdef CL_NO_LANE
    return;                          /* configure --disable-lane */
#endif
    if (!lim->lane.wanted || lim->shared != NULL || s->nentries != 0 || s->closed
        || s->in_wait != 0 || s->ndrainers != 0 || s->total == 0 || lim->corrupt
        || (__atomic_load_n(&lim->lane.word, __ATOMIC_RELAXED) & LANE_OPEN))
        return;
    budget = s->total < room ? s->total : room;
    if (budget > LANE_MAX_BUDGET)
        budget = LANE_MAX_BUDGET;
    lim->lane.budget = budget;
    __atomic_store_n(&lim->lane.word, ((uint64_t)budget << 1) | LANE_OPEN, __ATOMIC_RELEASE);
}

unsigned cl_lane_join(pthread_t self, pid_t tid)
{
    uint64_t taken = __atomic_load_n(&lanes_taken, __ATOMIC_RELAXED);
    unsigned i, high;

#ifdef CL_NO_LANE
    return 0;                        /* configure --disable-lane */
#endif
    do {
        if (taken == UINT64_MAX)
            return 0;                /* every slot taken: this thread takes the lock */
        i = (unsigned)__builtin_ctzll(~taken);
    } while (!__atomic_compare_exchange_n(&lanes_taken, &taken, taken | ((uint64_t)1 << i),
                                          1, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED));
    owners[i].self = self;
    owners[i].tid = tid;
    high = __atomic_load_n(&lanes_high, __ATOMIC_RELAXED);
    while (high < i + 1
           && !__atomic_compare_exchange_n(&lanes_high, &high, i + 1, 1,
                                           __ATOMIC_RELEASE, __ATOMIC_RELAXED))
        ;
    return i + 1;
}

void cl_lane_leave(unsigned lane)
{
    if (lane != 0)
        __atomic_fetch_and(&lanes_taken, ~((uint64_t)1 << (lane - 1)), __ATOMIC_RELEASE);
}

void cl_lane_owner_forked(unsigned lane, pid_t tid)
{
    owners[lane - 1].tid = tid;
}
