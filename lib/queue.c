/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * The lock and queue protocol.  Everything here runs under lim->lock.
 *
 *   acquire:  R3/R21 re-entry -> R18 closed -> R4 take now -> nowait refuses
 *             -> queue at the tail and sleep on our own condition variable.
 *   release:  R9 -> the token goes back -> dispatch.
 *   dispatch: while tokens are free and threads wait, either grant the head
 *             (R5: it becomes a holder before it is signalled, so nobody can
 *             take its token in between), or under R17 with a young head,
 *             leave the token free and wake enough waiters to race for it.
 *
 * A waiter's state says who moved it last:
 *
 *     WAITING --dispatch (R17)--> WOKEN --finds no token--> WAITING
 *        |                          |
 *        +--dispatch (R5)-----------+--takes a token--> GRANTED
 *        +--caplimit_close----------+-----------------> CLOSED
 *        +--deadline / cancel: the waiter removes itself (then dispatch)
 *
 * Only the waiter's own thread destroys its record, and only after it has
 * seen GRANTED or CLOSED under the lock, or removed itself: so a record is
 * never signalled after it is gone.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>

/* ---- The FIFO queue ---------------------------------------------------- */

static void queue_push(caplimit_t *lim, struct cl_waiter *w)
{
    w->next = NULL;
    w->prev = lim->tail;
    if (lim->tail != NULL)
        lim->tail->next = w;
    else
        lim->head = w;
    lim->tail = w;
    if (++lim->nwaiting > lim->counters.max_threads_waiting)
        lim->counters.max_threads_waiting = lim->nwaiting;
}

static void queue_unlink(caplimit_t *lim, struct cl_waiter *w)
{
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        lim->head = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    else
        lim->tail = w->prev;
    lim->nwaiting--;
    if (w->state == CL_WOKEN)
        lim->nwoken--;
}

/* ---- Time -------------------------------------------------------------- */

static unsigned long long ns_since(const struct timespec *t0)
{
    struct timespec now;
    long long ns;

    clock_gettime(CLOCK_MONOTONIC, &now);
    ns = (long long)(now.tv_sec - t0->tv_sec) * 1000000000LL
       + (now.tv_nsec - t0->tv_nsec);
    return ns > 0 ? (unsigned long long)ns : 0;
}

/* R17: the head of the queue may still be bypassed. */
static int head_is_young(const caplimit_t *lim)
{
    return ns_since(&lim->head->since) < lim->bypass_ns;
}

int cl_check_deadline(clockid_t clock, const struct timespec *abstime)
{
    if (abstime == NULL || abstime->tv_nsec < 0 || abstime->tv_nsec >= 1000000000L)
        return EINVAL;
    if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC)
        return EINVAL;
    return 0;
}

/* ---- Dispatch: R5 and R17 ---------------------------------------------- */

/* w leaves the queue as a holder; the caller signals it if it sleeps. */
static void make_holder(caplimit_t *lim, struct cl_waiter *w)
{
    struct cl_borrowers *b = &lim->borrowers;

    queue_unlink(lim, w);
    cl_borrowers_promote(b, cl_borrowers_find(b, w->key));
    b->entries[b->nheld - 1].grant = w->grant = ++lim->grants;
    lim->borrowed++;
    w->state = CL_GRANTED;
}

/* The holder at pos gives back one level, or with all every level; the
 * token goes back at level 0 (R9, R21, R22). */
static void give_back(caplimit_t *lim, size_t pos, int all)
{
    struct cl_entry *e = &lim->borrowers.entries[pos];

    if (e->level > 1 && !all) {
        e->level--;
        lim->extra_levels--;
        return;
    }
    lim->extra_levels -= e->level - 1;
    if (e->key.kind == CAPLIMIT_BORROWER_THREAD)
        cl_thread_note_released(lim);
    cl_borrowers_remove(&lim->borrowers, pos);
    lim->borrowed--;
    cl_dispatch(lim);
}

/* The signal goes out once the lock is dropped (cl_unlock), or at once
 * when the batch is full. */
static void wake_later(caplimit_t *lim, struct cl_waiter *w)
{
    if (lim->nwakes == CL_WAKE_BATCH) {
        pthread_cond_signal(w->wake.cond);
        return;
    }
    __atomic_fetch_add(w->wake.pending, 1, __ATOMIC_RELAXED);
    lim->wakes[lim->nwakes++] = w->wake;
}

static void send_wakes(const struct cl_wake *wakes, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        pthread_cond_signal(wakes[i].cond);
        __atomic_fetch_sub(wakes[i].pending, 1, __ATOMIC_RELEASE);
    }
}

void cl_unlock(caplimit_t *lim)
{
    struct cl_wake wakes[CL_WAKE_BATCH];
    size_t n = lim->nwakes;

    if (CL_LIKELY(n == 0)) {
        pthread_mutex_unlock(&lim->lock);
        return;
    }
    memcpy(wakes, lim->wakes, n * sizeof wakes[0]);
    lim->nwakes = 0;
    pthread_mutex_unlock(&lim->lock);
    send_wakes(wakes, n);
}

static void hand_off(caplimit_t *lim)
{
    while (lim->head != NULL && lim->borrowed < lim->total) {
        struct cl_waiter *w = lim->head;
        make_holder(lim, w);
        wake_later(lim, w);
    }
}

/* R17 with a young head: the free tokens stay free, and as many waiters as
 * there are free tokens are woken, from the head, to come and take them. */
static void wake_for_free(caplimit_t *lim)
{
    size_t free = lim->total - lim->borrowed;
    struct cl_waiter *w;

    for (w = lim->head; w != NULL && lim->nwoken < free; w = w->next) {
        if (w->state == CL_WAITING) {
            w->state = CL_WOKEN;
            lim->nwoken++;
            wake_later(lim, w);
        }
    }
}

void cl_dispatch(caplimit_t *lim)
{
    if (lim->head == NULL || lim->borrowed >= lim->total)
        return;
    if (lim->policy == CAPLIMIT_POLICY_THROUGHPUT && head_is_young(lim))
        wake_for_free(lim);
    else
        hand_off(lim);
}

/* R4, relaxed by R17 while the head is young. */
static int can_take_now(const caplimit_t *lim)
{
    if (lim->borrowed >= lim->total)
        return 0;
    if (lim->head == NULL)
        return 1;
    return lim->policy == CAPLIMIT_POLICY_THROUGHPUT && head_is_young(lim);
}

/* R18: every queued waiter leaves with CL_CLOSED; the caller unlocks with
 * cl_unlock, which wakes them. */
void cl_close_queue(caplimit_t *lim)
{
    struct cl_waiter *w;

    lim->closed = 1;
    while ((w = lim->head) != NULL) {
        queue_unlink(lim, w);
        cl_borrowers_remove(&lim->borrowers, cl_borrowers_find(&lim->borrowers, w->key));
        w->state = CL_CLOSED;
        wake_later(lim, w);
    }
}

/* ---- Waiting ----------------------------------------------------------- */

/* A queued waiter gives up its place: deadline or cancellation.  Its
 * leaving may let the next ones in (R5, R6, R7). */
static void leave_queue(caplimit_t *lim, struct cl_waiter *w)
{
    queue_unlink(lim, w);
    cl_borrowers_remove(&lim->borrowers, cl_borrowers_find(&lim->borrowers, w->key));
    cl_dispatch(lim);
}

/* A woken waiter (R17) takes a free token if it may, else keeps its place. */
static void try_take(caplimit_t *lim, struct cl_waiter *w)
{
    w->state = CL_WAITING;
    lim->nwoken--;
    if (lim->borrowed >= lim->total)
        return;
    if (w == lim->head || (lim->policy == CAPLIMIT_POLICY_THROUGHPUT && head_is_young(lim)))
        make_holder(lim, w);
    else
        hand_off(lim);               /* the head is old: it goes first */
}

struct cl_wait_ctx {
    caplimit_t *lim;
    struct cl_waiter *w;
};

/* R7: the thread was cancelled in its wait; the lock is held again. */
static void on_cancel(void *arg)
{
    struct cl_wait_ctx *c = arg;
    caplimit_t *lim = c->lim;
    struct cl_waiter *w = c->w;

    switch (w->state) {
    case CL_WAITING:
    case CL_WOKEN:
        leave_queue(lim, w);
        break;
    case CL_GRANTED: {                /* granted, not yet returned: give back */
        /* An object's token may have been released (R2), even taken
         * again, by another thread meanwhile: give back only our grant. */
        size_t pos = cl_borrowers_find(&lim->borrowers, w->key);
        if (pos != CL_NONE && lim->borrowers.entries[pos].grant == w->grant)
            give_back(lim, pos, 0);
        break;
    }
    case CL_CLOSED:
        break;
    }
    lim->counters.cancelled++;
    lim->inside--;
    cl_unlock(lim);
}

/* Signals chosen by a dispatch that this waiter ran itself (on queueing,
 * or in try_take) cannot wait for cl_unlock: the wait drops the lock. */
static void wake_now(caplimit_t *lim)
{
    send_wakes(lim->wakes, lim->nwakes);
    lim->nwakes = 0;
}

static int sleep_once(struct cl_waiter *w, caplimit_t *lim, clockid_t clock,
                      const struct timespec *abstime)
{
    if (lim->nwakes != 0)
        wake_now(lim);
    if (abstime == NULL)
        return pthread_cond_wait(w->wake.cond, &lim->lock);
    return cl_cond_timedwait(w->wake.cond, &lim->lock, clock, abstime);
}

/* Queues the caller (room in the borrower set is reserved) and waits until
 * it is granted, closed out, timed out or cancelled.  Unlocks. */
static int wait_in_queue(caplimit_t *lim, struct cl_key key, clockid_t clock,
                         const struct timespec *abstime)
{
    struct cl_waiter w;
    struct cl_wait_ctx ctx = { lim, &w };
    int rc;

    if ((rc = cl_thread_wake(&w.wake)) != 0) {
        pthread_mutex_unlock(&lim->lock);
        return rc;
    }
    w.key = key;
    w.state = CL_WAITING;
    clock_gettime(CLOCK_MONOTONIC, &w.since);
    cl_borrowers_add_queued(&lim->borrowers, key);
    queue_push(lim, &w);
    lim->inside++;
    /* R17: behind an old head that was woken but has not run yet, free
     * tokens may wait for nobody: hand them off now, maybe to us. */
    cl_dispatch(lim);

    pthread_cleanup_push(on_cancel, &ctx);
    for (;;) {
        /* R7: the wait may return for our grant with a cancellation
         * already pending (glibc then does not act on it): act now, so a
         * thread cancelled before it returned gives the token back */
        pthread_testcancel();
        if (w.state == CL_WOKEN)
            try_take(lim, &w);
        if (w.state == CL_GRANTED) {
            rc = 0;
            break;
        }
        if (w.state == CL_CLOSED) {
            rc = ECANCELED;
            break;
        }
        /* R13: a signal handler may wake us; only the state ends the wait */
        if (sleep_once(&w, lim, clock, abstime) == ETIMEDOUT
            && (w.state == CL_WAITING || w.state == CL_WOKEN)) {
            leave_queue(lim, &w);
            rc = ETIMEDOUT;
            break;
        }
    }
    pthread_cleanup_pop(0);

    lim->inside--;
    if (rc == 0) {
        unsigned long long ns = ns_since(&w.since);
        lim->counters.granted_after_wait++;
        lim->counters.wait_ns_total += ns;
        if (ns > lim->counters.wait_ns_max)
            lim->counters.wait_ns_max = ns;
        if (key.kind == CAPLIMIT_BORROWER_THREAD)
            cl_thread_note_held(lim);
    } else if (rc == ECANCELED) {
        lim->counters.closed_out++;
    } else {
        lim->counters.timed_out++;
    }
    cl_unlock(lim);
    return rc;
}

/* ---- Acquire and release ----------------------------------------------- */

/* R21: a holder enters again, or R3 refuses it. */
static int reenter(caplimit_t *lim, struct cl_entry *e)
{
    if (e->level == 0 || !lim->reentrant)
        return EDEADLK;
    if (lim->closed) {
        lim->counters.closed_out++;
        return ECANCELED;
    }
    if (e->level == (size_t)-1)
        return EOVERFLOW;
    e->level++;
    lim->extra_levels++;
    lim->counters.granted_at_once++;
    return 0;
}

/* Room for one more borrower, and for a thread in its own record. */
static int reserve(caplimit_t *lim, struct cl_key key)
{
    int rc = cl_borrowers_reserve(&lim->borrowers);
    if (rc == 0 && key.kind == CAPLIMIT_BORROWER_THREAD)
        rc = cl_thread_reserve();
    return rc;
}

int cl_acquire(caplimit_t *lim, struct cl_key key, int wait, clockid_t clock,
               const struct timespec *abstime)
{
    size_t pos;
    int rc;

    pthread_mutex_lock(&lim->lock);
    pos = cl_borrowers_find(&lim->borrowers, key);
    if (CL_UNLIKELY(pos != CL_NONE)) {
        rc = reenter(lim, &lim->borrowers.entries[pos]);
    } else if (CL_UNLIKELY(lim->closed)) {
        lim->counters.closed_out++;
        rc = ECANCELED;
    } else if (CL_LIKELY(can_take_now(lim))) {
        rc = reserve(lim, key);
        if (CL_LIKELY(rc == 0)) {
            cl_borrowers_add_holder(&lim->borrowers, key);
            lim->borrowed++;
            lim->counters.granted_at_once++;
            if (key.kind == CAPLIMIT_BORROWER_THREAD)
                cl_thread_note_held(lim);
        }
    } else if (!wait) {
        lim->counters.would_block++;
        rc = EWOULDBLOCK;
    } else if ((rc = reserve(lim, key)) == 0) {
        return wait_in_queue(lim, key, clock, abstime);
    }
    pthread_mutex_unlock(&lim->lock);
    return rc;
}

int cl_release(caplimit_t *lim, struct cl_key key, int at_exit)
{
    struct cl_entry *e;
    size_t pos;

    pthread_mutex_lock(&lim->lock);
    pos = cl_borrowers_find(&lim->borrowers, key);
    if (pos == CL_NONE || (e = &lim->borrowers.entries[pos])->level == 0) {
        pthread_mutex_unlock(&lim->lock);
        return EPERM;
    }
    if (at_exit)
        lim->counters.abandoned++;
    give_back(lim, pos, at_exit);
    cl_unlock(lim);
    return 0;
}
