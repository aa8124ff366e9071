/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * The lock and queue protocol.  Everything here runs under lim->lock,
 * taken by cl_lock and dropped by cl_unlock only.
 *
 *   acquire:  R3/R21 re-entry -> R18 closed -> R23 overflow -> R4 take now
 *             -> nowait refuses -> queue at the tail and sleep on our own
 *             condition variable.
 *   release:  R9 -> the tokens go back -> dispatch.
 *   dispatch: while the head's request fits, either grant it (R5: it
 *             becomes a holder before it is signalled, so nobody can take
 *             its tokens in between), or under R17 with a young head leave
 *             the tokens free and wake enough waiters to race for them.
 *
 * The head, for R4, R5 and R17, is the first waiter whose request is no
 * larger than the total: an oversize request (R23) keeps its place but is
 * passed over until a rise makes it fit.  Waiter states and their moves
 * are drawn in internal.h; wait_set_state is the only writer.
 *
 * Only the waiter's own thread destroys its record, and only after it has
 * seen a terminal state under the lock: so a record is never written after
 * it is gone, and the waker copies a wake off the record before unlocking.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>

/* ---- Tokens ------------------------------------------------------------ */

/* Tokens a new hold may take now: total - borrowed, or 0 after a fall.
 * With an infinite total a hold may not make borrowed reach it (R23). */
static size_t room(const caplimit_t *lim)
{
    if (lim->borrowed >= lim->total)
        return 0;
    if (lim->total == CAPLIMIT_INFINITE)
        return lim->total - lim->borrowed - 1;
    return lim->total - lim->borrowed;
}

static int oversize(const caplimit_t *lim, const struct cl_waiter *w)
{
    return w->n > lim->total;
}

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
    lim->tokens_waiting += w->n;
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
    lim->tokens_waiting -= w->n;
    lim->nwaiting--;
}

/* The one writer of w->state: keeps tokens_woken in step, and takes a
 * record that reaches a terminal state out of the queue. */
static void wait_set_state(caplimit_t *lim, struct cl_waiter *w,
                           enum cl_wait_state to)
{
    if (w->state == CL_WOKEN)
        lim->tokens_woken -= w->n;
    if (to == CL_WOKEN)
        lim->tokens_woken += w->n;
    if ((w->state == CL_WAITING || w->state == CL_WOKEN)
        && (to == CL_GRANTED || to == CL_CLOSED || to == CL_LEAVING))
        queue_unlink(lim, w);
    w->state = to;
}

/* The first waiter whose request can ever fit, or NULL (R23). */
static struct cl_waiter *fitting_head(const caplimit_t *lim)
{
    struct cl_waiter *w = lim->head;

    while (w != NULL && oversize(lim, w))
        w = w->next;
    return w;
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

/* R17: the head may still be bypassed. */
static int is_young(const caplimit_t *lim, const struct cl_waiter *head)
{
    return ns_since(&head->since) < lim->bypass_ns;
}

static int barging(const caplimit_t *lim, const struct cl_waiter *head)
{
    return lim->policy == CAPLIMIT_POLICY_THROUGHPUT && is_young(lim, head);
}

int cl_check_deadline(clockid_t clock, const struct timespec *abstime)
{
    if (abstime == NULL || abstime->tv_nsec < 0 || abstime->tv_nsec >= 1000000000L)
        return EINVAL;
    if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC)
        return EINVAL;
    return 0;
}

/* ---- Wakes: chosen under the lock, sent after it ----------------------- */

static void send_wakes(const struct cl_wake *wakes, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        pthread_cond_signal(wakes[i].cond);
        /* RELEASE: the signal is sent before the sleeper's thread may see
         * 0 and destroy the condition variable (thread.c, ACQUIRE) */
        __atomic_fetch_sub(wakes[i].pending, 1, __ATOMIC_RELEASE);
    }
}

/* The signal for w goes out with cl_unlock, or at once (under the lock)
 * when the batch is full. */
static void wake_later(caplimit_t *lim, struct cl_waiter *w)
{
    if (lim->nwakes == CL_WAKE_BATCH) {
        pthread_cond_signal(w->wake.cond);
        return;
    }
    /* RELAXED: published to the sleeper's exit by the RELEASE in send_wakes,
     * and to its next wait by the lock */
    __atomic_fetch_add(w->wake.pending, 1, __ATOMIC_RELAXED);
    lim->wakes[lim->nwakes++] = w->wake;
}

/* Sends, under the lock, the wakes a waiter chose itself before it sleeps:
 * its wait drops the lock without passing through cl_unlock. */
static void send_wakes_now(caplimit_t *lim)
{
    send_wakes(lim->wakes, lim->nwakes);
    lim->nwakes = 0;
}

/* ---- Dispatch: R5, R17, R23 -------------------------------------------- */

/* w leaves the queue as the holder of its n tokens; the caller signals it
 * if it sleeps. */
static void make_holder(caplimit_t *lim, struct cl_waiter *w)
{
    struct cl_borrowers *b = &lim->borrowers;
    size_t pos = cl_borrowers_promote(b, cl_borrowers_find(b, w->key));
    struct cl_entry *e = &b->entries[pos];

    e->tokens = w->n;
    e->tid = w->tid;
    e->grant = w->grant = ++lim->grants;
    lim->borrowed += w->n;
    wait_set_state(lim, w, CL_GRANTED);
}

/* R5 with R23: grant from the head while requests fit, passing over the
 * oversize ones; the first that does not fit holds back those behind it. */
static void hand_off(caplimit_t *lim)
{
    struct cl_waiter *w = lim->head, *next;

    for (; w != NULL; w = next) {
        next = w->next;
        if (oversize(lim, w))
            continue;
        if (w->n > room(lim))
            break;
        make_holder(lim, w);
        wake_later(lim, w);
    }
}

/* R17 with a young head: the free tokens stay free, and enough waiters are
 * woken, from the head on, to take them. */
static void wake_for_free(caplimit_t *lim, struct cl_waiter *w)
{
    size_t free = room(lim);

    for (; w != NULL && lim->tokens_woken < free; w = w->next) {
        if (oversize(lim, w) || w->state == CL_WOKEN)
            continue;
        if (w->n > free)
            break;
        wait_set_state(lim, w, CL_WOKEN);
        wake_later(lim, w);
    }
}

void cl_dispatch(caplimit_t *lim)
{
    struct cl_waiter *head = fitting_head(lim);

    if (head == NULL || head->n > room(lim))
        return;
    if (barging(lim, head))
        wake_for_free(lim, head);
    else
        hand_off(lim);
}

/* R4, relaxed by R17 while the head is young (R23: n must fit). */
static int can_take_now(const caplimit_t *lim, size_t n)
{
    const struct cl_waiter *head;

    if (n > room(lim))
        return 0;
    head = fitting_head(lim);
    return head == NULL || barging(lim, head);
}

/* R18: every queued waiter leaves with CL_CLOSED; cl_unlock wakes them. */
void cl_close_queue(caplimit_t *lim)
{
    struct cl_waiter *w;

    lim->closed = 1;
    while ((w = lim->head) != NULL) {
        cl_borrowers_remove(&lim->borrowers, cl_borrowers_find(&lim->borrowers, w->key));
        wait_set_state(lim, w, CL_CLOSED);
        wake_later(lim, w);
    }
}

/* ---- The lock ---------------------------------------------------------- */

static int is_idle(const caplimit_t *lim)
{
    return lim->borrowed == 0 && lim->nwaiting == 0 && lim->in_wait == 0;
}

int cl_busy(const caplimit_t *lim)
{
    return !is_idle(lim) || lim->ndrainers != 0;
}

/* R29: every drainer leaves its list, told the limiter is idle. */
static void wake_drainers(caplimit_t *lim)
{
    struct cl_waiter *w;

    while ((w = lim->drainers) != NULL) {
        lim->drainers = w->next;
        w->state = CL_DRAINED;
        wake_later(lim, w);
    }
}

void cl_lock(const caplimit_t *clim)
{
    caplimit_t *lim = (caplimit_t *)clim;   /* settling is not a change of state */

    pthread_mutex_lock(&lim->lock);
    /* R17 against R1/R5: a head that grew old while the tokens it was woken
     * for stayed free must be granted them before anyone reads or takes */
    if (CL_UNLIKELY(lim->policy == CAPLIMIT_POLICY_THROUGHPUT && lim->head != NULL))
        cl_dispatch(lim);
}

void cl_unlock(const caplimit_t *clim)
{
    caplimit_t *lim = (caplimit_t *)clim;
    struct cl_wake wakes[CL_WAKE_BATCH];
    size_t n;

    if (CL_UNLIKELY(lim->drainers != NULL) && is_idle(lim))
        wake_drainers(lim);
    n = lim->nwakes;
    if (CL_LIKELY(n == 0)) {
        pthread_mutex_unlock(&lim->lock);
        return;
    }
    /* Copy the wakes off first: once unlocked, lim may be destroyed by a
     * thread we are about to wake (glibc's rule for sem_post), and the
     * waiters' records are theirs to drop.  The condition variables live
     * as long as their threads (the handshake in internal.h). */
    memcpy(wakes, lim->wakes, n * sizeof wakes[0]);
    lim->nwakes = 0;
    pthread_mutex_unlock(&lim->lock);
    send_wakes(wakes, n);
}

/* ---- Waiting ----------------------------------------------------------- */

/* A queued waiter gives up its place: deadline or cancellation.  Its
 * leaving may let the next ones in (R5, R6, R7, R23). */
static void leave_queue(caplimit_t *lim, struct cl_waiter *w)
{
    cl_borrowers_remove(&lim->borrowers, cl_borrowers_find(&lim->borrowers, w->key));
    wait_set_state(lim, w, CL_LEAVING);
    cl_dispatch(lim);
}

/* A woken waiter (R17) takes its tokens if it may, else keeps its place. */
static void try_take(caplimit_t *lim, struct cl_waiter *w)
{
    struct cl_waiter *head;

    wait_set_state(lim, w, CL_WAITING);
    if (w->n > room(lim))
        return;
    head = fitting_head(lim);
    if (w == head || barging(lim, head))
        make_holder(lim, w);
    else
        hand_off(lim);               /* the head is old: it goes first */
}

/* The holder at pos gives back its whole hold (R9, R21, R22, R23). */
static void give_back_hold(caplimit_t *lim, size_t pos)
{
    struct cl_entry *e = &lim->borrowers.entries[pos];

    lim->extra_levels -= e->level - 1;
    lim->borrowed -= e->tokens;
    if (e->key.kind == CAPLIMIT_BORROWER_THREAD)
        cl_thread_note_released(lim);
    cl_borrowers_remove(&lim->borrowers, pos);
    cl_dispatch(lim);
}

/* The holder at pos gives back one level, or at level 1 its hold (R21). */
static void give_back_level(caplimit_t *lim, size_t pos)
{
    struct cl_entry *e = &lim->borrowers.entries[pos];

    if (e->level > 1) {
        e->level--;
        lim->extra_levels--;
        return;
    }
    give_back_hold(lim, pos);
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
        /* An object's hold may have been released (R2), even taken again,
         * by another thread meanwhile: give back only our grant. */
        size_t pos = cl_borrowers_find(&lim->borrowers, w->key);
        if (pos != CL_NONE && lim->borrowers.entries[pos].grant == w->grant)
            give_back_level(lim, pos);
        break;
    }
    default:
        break;
    }
    lim->counters.cancelled++;
    lim->in_wait--;
    cl_unlock(lim);
}

#ifndef HAVE_PTHREAD_COND_CLOCKWAIT
/* Without pthread_cond_clockwait, wait on CLOCK_REALTIME for the same span:
 * the deadline is re-read on each wake, so a clock step is caught late at
 * worst. */
static struct timespec on_realtime(clockid_t clock, const struct timespec *abstime)
{
    struct timespec now, rt;
    long long ns;

    if (clock == CLOCK_REALTIME)
        return *abstime;
    clock_gettime(clock, &now);
    clock_gettime(CLOCK_REALTIME, &rt);
    ns = (long long)(abstime->tv_sec - now.tv_sec) * 1000000000LL
       + (abstime->tv_nsec - now.tv_nsec) + rt.tv_nsec;
    rt.tv_sec += ns / 1000000000LL;
    rt.tv_nsec = ns % 1000000000LL;
    if (rt.tv_nsec < 0) {
        rt.tv_sec--;
        rt.tv_nsec += 1000000000L;
    }
    return rt;
}
#endif

/* One sleep on w's condition variable; the lock is dropped meanwhile. */
static int sleep_once(caplimit_t *lim, struct cl_waiter *w, clockid_t clock,
                      const struct timespec *abstime)
{
    if (lim->nwakes != 0)
        send_wakes_now(lim);
    if (abstime == NULL)
        return pthread_cond_wait(w->wake.cond, &lim->lock);
#if defined(HAVE_PTHREAD_COND_CLOCKWAIT)
    return pthread_cond_clockwait(w->wake.cond, &lim->lock, clock, abstime);
#else
    {
        struct timespec rt = on_realtime(clock, abstime);
        return pthread_cond_timedwait(w->wake.cond, &lim->lock, &rt);
    }
#endif
}

static void count_wait_end(caplimit_t *lim, const struct cl_waiter *w, int rc)
{
    if (rc == 0) {
        unsigned long long ns = ns_since(&w->since);
        lim->counters.granted_after_wait++;
        lim->counters.wait_ns_total += ns;
        if (ns > lim->counters.wait_ns_max)
            lim->counters.wait_ns_max = ns;
        if (w->key.kind == CAPLIMIT_BORROWER_THREAD)
            cl_thread_note_held(lim);
    } else if (rc == ECANCELED) {
        lim->counters.closed_out++;
    } else {
        lim->counters.timed_out++;
    }
}

/* Queues the caller for n tokens (room in the borrower set is reserved)
 * and waits until it is granted, closed out, timed out or cancelled.
 * Unlocks. */
static int wait_in_queue(caplimit_t *lim, struct cl_key key, size_t n,
                         clockid_t clock, const struct timespec *abstime)
{
    struct cl_waiter w;
    struct cl_wait_ctx ctx = { lim, &w };
    int rc;

    if ((rc = cl_thread_sleeper(&w.wake)) != 0) {
        cl_unlock(lim);
        return rc;
    }
    w.key = key;
    w.n = n;
    w.tid = key.kind == CAPLIMIT_BORROWER_THREAD ? cl_thread_tid() : 0;
    w.state = CL_WAITING;
    clock_gettime(CLOCK_MONOTONIC, &w.since);
    cl_borrowers_add_queued(&lim->borrowers, key);
    queue_push(lim, &w);
    lim->in_wait++;
    /* R17: behind an old head that was woken but has not run yet, free
     * tokens may wait for nobody: hand them off now, maybe to us. */
    cl_dispatch(lim);

    pthread_cleanup_push(on_cancel, &ctx);
    for (;;) {
        /* R7: the wait may return for our grant with a cancellation
         * already pending (glibc then does not act on it): act now, so a
         * thread cancelled before it returned gives the tokens back */
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
        if (sleep_once(lim, &w, clock, abstime) == ETIMEDOUT
            && (w.state == CL_WAITING || w.state == CL_WOKEN)) {
            leave_queue(lim, &w);
            rc = ETIMEDOUT;
            break;
        }
    }
    pthread_cleanup_pop(0);

    lim->in_wait--;
    count_wait_end(lim, &w, rc);
    cl_unlock(lim);
    return rc;
}

/* ---- Drain (R29) ------------------------------------------------------- */

static void unlink_drainer(caplimit_t *lim, struct cl_waiter *w)
{
    struct cl_waiter **p;

    for (p = &lim->drainers; *p != NULL; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            break;
        }
    }
}

static void on_drain_cancel(void *arg)
{
    struct cl_wait_ctx *c = arg;

    if (c->w->state == CL_DRAINING)
        unlink_drainer(c->lim, c->w);
    c->lim->ndrainers--;
    cl_unlock(c->lim);
}

int cl_drain(caplimit_t *lim, clockid_t clock, const struct timespec *abstime)
{
    struct cl_waiter w;
    struct cl_wait_ctx ctx = { lim, &w };
    int rc;

    if (is_idle(lim)) {
        cl_unlock(lim);
        return 0;
    }
    if ((rc = cl_thread_sleeper(&w.wake)) != 0) {
        cl_unlock(lim);
        return rc;
    }
    w.state = CL_DRAINING;
    w.next = lim->drainers;
    lim->drainers = &w;
    lim->ndrainers++;

    pthread_cleanup_push(on_drain_cancel, &ctx);
    while (w.state == CL_DRAINING) {
        pthread_testcancel();
        if (sleep_once(lim, &w, clock, abstime) == ETIMEDOUT
            && w.state == CL_DRAINING) {
            unlink_drainer(lim, &w);
            w.state = CL_LEAVING;
        }
    }
    pthread_cleanup_pop(0);

    lim->ndrainers--;
    cl_unlock(lim);
    return w.state == CL_DRAINED ? 0 : ETIMEDOUT;
}

/* ---- Acquire and release ----------------------------------------------- */

/* R21: a holder enters again (taking no tokens, R23), or R3 refuses it. */
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

static void take_now(caplimit_t *lim, struct cl_key key, size_t n)
{
    size_t pos = cl_borrowers_add_holder(&lim->borrowers, key);
    struct cl_entry *e = &lim->borrowers.entries[pos];

    e->tokens = n;
    lim->borrowed += n;
    lim->counters.granted_at_once++;
    if (key.kind == CAPLIMIT_BORROWER_THREAD) {
        e->tid = cl_thread_tid();
        cl_thread_note_held(lim);
    }
}

/* R23: with an infinite total, borrowed may never reach it. */
static int would_overflow(const caplimit_t *lim, size_t n)
{
    return lim->total == CAPLIMIT_INFINITE && n >= CAPLIMIT_INFINITE - lim->borrowed;
}

int cl_acquire(caplimit_t *lim, struct cl_key key, size_t n,
               enum cl_may_wait may_wait, clockid_t clock,
               const struct timespec *abstime)
{
    size_t pos;
    int rc;

    cl_lock(lim);
    pos = cl_borrowers_find(&lim->borrowers, key);
    if (CL_UNLIKELY(pos != CL_NONE)) {
        rc = reenter(lim, &lim->borrowers.entries[pos]);
    } else if (CL_UNLIKELY(lim->closed)) {
        lim->counters.closed_out++;
        rc = ECANCELED;
    } else if (CL_UNLIKELY(would_overflow(lim, n))) {
        rc = EOVERFLOW;
    } else if (CL_LIKELY(can_take_now(lim, n))) {
        if (CL_LIKELY((rc = reserve(lim, key)) == 0))
            take_now(lim, key, n);
    } else if (may_wait == CL_NOWAIT) {
        lim->counters.would_block++;
        rc = EWOULDBLOCK;
    } else if ((rc = reserve(lim, key)) == 0) {
        return wait_in_queue(lim, key, n, clock, abstime);
    }
    cl_unlock(lim);
    return rc;
}

/* R23: the holder at pos gives back n of its tokens and keeps its hold. */
static void give_back_tokens(caplimit_t *lim, size_t pos, size_t n)
{
    lim->borrowers.entries[pos].tokens -= n;
    lim->borrowed -= n;
    cl_dispatch(lim);
}

static int release_at(caplimit_t *lim, size_t pos, enum cl_give_back how, size_t n)
{
    struct cl_entry *e = &lim->borrowers.entries[pos];

    switch (how) {
    case CL_GIVE_TOKENS:
        if (n > e->tokens)
            return EINVAL;
        if (n < e->tokens) {
            give_back_tokens(lim, pos, n);
            return 0;
        }
        /* n == held: the plain release */
        /* fall through */
    case CL_GIVE_LEVEL:
        give_back_level(lim, pos);
        return 0;
    case CL_GIVE_ALL:
        lim->counters.abandoned += e->tokens;
        break;
    }
    give_back_hold(lim, pos);
    return 0;
}

int cl_release(caplimit_t *lim, struct cl_key key, enum cl_give_back how, size_t n)
{
    size_t pos;
    int rc;

    cl_lock(lim);
    pos = cl_borrowers_find(&lim->borrowers, key);
    if (pos == CL_NONE || lim->borrowers.entries[pos].level == 0)
        rc = EPERM;
    else
        rc = release_at(lim, pos, how, n);
    cl_unlock(lim);
    return rc;
}
