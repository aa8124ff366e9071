/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * The lock and queue protocol, for private and shared limiters alike.
 * Everything here runs under the limiter's lock, taken by cl_lock and
 * dropped by cl_unlock only (or by a wait, which takes it back).
 *
 *   acquire:  R3/R21 re-entry -> R18 closed -> R23 overflow -> R4 take now
 *             -> nowait refuses -> queue at the tail and sleep until the
 *             record's state is terminal.
 *   release:  R9 -> the tokens go back -> dispatch.
 *   dispatch: while the head's request fits, either grant it (R5: it
 *             becomes a holder before it is woken, so nobody can take its
 *             tokens in between), or under R17 with a young head leave the
 *             tokens free and wake enough waiters to race for them.
 *
 * The head, for R4, R5 and R17, is the first waiter whose request is no
 * larger than the total: an oversize request (R23) keeps its place but is
 * passed over until a rise makes it fit.  Waiter states and their moves
 * are drawn in internal.h; wait_set_state is their only writer.
 *
 * Only the waiter's own thread frees its record, and only after it has
 * seen a terminal state under the lock; the waker copies the wake off the
 * record before it unlocks.  So a record is never written after it is
 * freed.  Every walk along a list is bounded by the table's size, so a
 * scribbled segment cannot make one spin (R27).
 */
#include "borrowers.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#define W(i) cl_waiter_at(lim, (i))
#define E(i) cl_entry_at(lim, (i))

/* ---- Tokens ------------------------------------------------------------ */

/* Tokens a new hold may take now: total - borrowed, or 0 after a fall.
 * With an infinite total a hold may not make borrowed reach it (R23). */
static size_t room(const caplimit_t *lim)
{
    const struct cl_state *s = lim->st;

    if (s->borrowed >= s->total)
        return 0;
    if (s->total == CAPLIMIT_INFINITE)
        return s->total - s->borrowed - 1;
    return s->total - s->borrowed;
}

static int oversize(const caplimit_t *lim, const struct cl_waiter *w)
{
    return w->n > lim->st->total;
}

/* ---- The FIFO queue ---------------------------------------------------- */

static void queue_push(caplimit_t *lim, uint32_t i)
{
    struct cl_state *s = lim->st;
    struct cl_waiter *w = W(i);

    w->next = CL_NIL;
    w->prev = s->tail;
    if (s->tail != CL_NIL)
        W(s->tail)->next = i;
    else
        s->head = i;
    s->tail = i;
    s->tokens_waiting += w->n;
    if (++s->nwaiting > s->counters.max_threads_waiting)
        s->counters.max_threads_waiting = s->nwaiting;
}

static void queue_unlink(caplimit_t *lim, uint32_t i)
{
    struct cl_state *s = lim->st;
    struct cl_waiter *w = W(i);

    if (w->prev != CL_NIL)
        W(w->prev)->next = w->next;
    else
        s->head = w->next;
    if (w->next != CL_NIL)
        W(w->next)->prev = w->prev;
    else
        s->tail = w->prev;
    s->tokens_waiting -= w->n;
    s->nwaiting--;
}

static int in_queue(uint32_t state)
{
    return state == CL_WAITING || state == CL_WOKEN;
}

/* The one writer of a waiter's state: keeps tokens_woken in step, and
 * takes a record that reaches a terminal state out of the queue. */
static void wait_set_state(caplimit_t *lim, uint32_t i, enum cl_wait_state to)
{
    struct cl_waiter *w = W(i);

    if (w->state == CL_WOKEN)
        lim->st->tokens_woken -= w->n;
    if (to == CL_WOKEN)
        lim->st->tokens_woken += w->n;
    if (in_queue(w->state) && !in_queue(to))
        queue_unlink(lim, i);
    CL_PUBLISH(w->state, to);
}

/* The first waiter whose request can ever fit, or CL_NIL (R23). */
static uint32_t fitting_head_after(caplimit_t *lim, uint32_t i)
{
    uint32_t n;

    for (n = 0; i != CL_NIL && n < lim->wcap; n++, i = W(i)->next)
        if (!oversize(lim, W(i)))
            return i;
    return CL_NIL;
}

static inline uint32_t fitting_head(caplimit_t *lim)
{
    uint32_t i = lim->st->head;

    return CL_LIKELY(i == CL_NIL) ? CL_NIL : fitting_head_after(lim, i);
}

/* ---- Waiter slots ------------------------------------------------------ */

/* Room was reserved (cl_store_reserve). */
static uint32_t waiter_alloc(caplimit_t *lim)
{
    uint32_t i = lim->st->free_waiter;

    lim->st->free_waiter = W(i)->next;
    return i;
}

static void waiter_free(caplimit_t *lim, uint32_t i)
{
    struct cl_waiter *w = W(i);

    CL_PUBLISH(w->state, CL_FREE);
    w->next = lim->st->free_waiter;
    lim->st->free_waiter = i;
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
static int barging(caplimit_t *lim, uint32_t head)
{
    return lim->st->policy == CAPLIMIT_POLICY_THROUGHPUT
        && ns_since(&W(head)->since) < lim->st->bypass_ns;
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

static void send_wake(const struct cl_wake *wake)
{
    if (wake->futex != NULL)
        cl_shared_wake(wake);
    else
        pthread_cond_signal(wake->cond);
    /* RELEASE: the wake is sent before anyone may see 0 and free what it
     * touched: the sleeper's thread its condition variable (thread.c), the
     * last handle of a segment its mapping (shared.c); both ACQUIRE */
    __atomic_fetch_sub(wake->pending, 1, __ATOMIC_RELEASE);
}

static void send_wakes(const struct cl_wake *wakes, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        send_wake(&wakes[i]);
}

/* The wake for waiter i goes out with cl_unlock, or at once (under the
 * lock) when the batch is full. */
static void wake_later(caplimit_t *lim, uint32_t i)
{
    struct cl_waiter *w = W(i);
    struct cl_wake wake;

    if (lim->shared != NULL) {       /* nothing of the segment's is a pointer */
        wake.cond = NULL;
        wake.futex = &w->futex;
        wake.pending = cl_shared_inflight(lim);
    } else {
        wake = w->wake;
    }
    /* RELAXED: published to whoever waits for 0 by the RELEASE in
     * send_wake, and to the sleeper's next wait by the lock */
    __atomic_fetch_add(wake.pending, 1, __ATOMIC_RELAXED);
    if (lim->nwakes == CL_WAKE_BATCH) {
        send_wake(&wake);
        return;
    }
    lim->wakes[lim->nwakes++] = wake;
}

/* Sends, under the lock, the wakes a waiter chose itself before it sleeps:
 * its wait drops the lock without passing through cl_unlock. */
static void send_wakes_now(caplimit_t *lim)
{
    send_wakes(lim->wakes, lim->nwakes);
    lim->nwakes = 0;
}

/* ---- Dispatch: R5, R17, R23 -------------------------------------------- */

/* Waiter i leaves the queue as the holder of its n tokens; the caller
 * wakes it.  The entry is whole before the waiter's state says GRANTED, so
 * a repair finds one or the other (cl_rebuild). */
static void make_holder(caplimit_t *lim, uint32_t i)
{
    struct cl_waiter *w = W(i);
    struct cl_entry *e = E(w->entry);

    w->grant = ++lim->st->grants;
    e->tokens = w->n;
    e->tid = w->tid;
    e->grant = w->grant;
    cl_borrowers_promote(lim, w->entry);
    lim->st->borrowed += w->n;
    wait_set_state(lim, i, CL_GRANTED);
}

/* R5 with R23: grant from the head while requests fit, passing over the
 * oversize ones; the first that does not fit holds back those behind it. */
static void hand_off(caplimit_t *lim)
{
    uint32_t i = lim->st->head, next, n;

    for (n = 0; i != CL_NIL && n < lim->wcap; n++, i = next) {
        struct cl_waiter *w = W(i);
        next = w->next;
        if (oversize(lim, w))
            continue;
        if (w->n > room(lim))
            break;
        make_holder(lim, i);
        wake_later(lim, i);
    }
}

/* R17 with a young head: the free tokens stay free, and enough waiters are
 * woken, from the head on, to take them. */
static void wake_for_free(caplimit_t *lim, uint32_t i)
{
    size_t free = room(lim);
    uint32_t n;

    for (n = 0; i != CL_NIL && n < lim->wcap && lim->st->tokens_woken < free;
         n++, i = W(i)->next) {
        struct cl_waiter *w = W(i);
        if (oversize(lim, w) || w->state == CL_WOKEN)
            continue;
        if (w->n > free)
            break;
        wait_set_state(lim, i, CL_WOKEN);
        wake_later(lim, i);
    }
}

void cl_dispatch(caplimit_t *lim)
{
    uint32_t head = fitting_head(lim);

    if (head == CL_NIL || W(head)->n > room(lim))
        return;
    if (barging(lim, head))
        wake_for_free(lim, head);
    else
        hand_off(lim);
}

/* R8, R23: a new total.  A woken waiter that no longer fits it gives up
 * its claim on the free tokens (R17), then R5 runs in either direction. */
void cl_set_total(caplimit_t *lim, size_t total)
{
    uint32_t i, n;

    lim->st->total = total;
    for (n = 0, i = lim->st->head; lim->st->tokens_woken != 0 && i != CL_NIL
         && n < lim->wcap; n++, i = W(i)->next)
        if (W(i)->state == CL_WOKEN && oversize(lim, W(i)))
            wait_set_state(lim, i, CL_WAITING);
    cl_dispatch(lim);
}

/* R4, relaxed by R17 while the head is young (R23: n must fit). */
static int can_take_now(caplimit_t *lim, size_t n)
{
    uint32_t head;

    if (n > room(lim))
        return 0;
    head = fitting_head(lim);
    return head == CL_NIL || barging(lim, head);
}

/* R18: every queued waiter leaves with CL_CLOSED; cl_unlock wakes them. */
void cl_close_queue(caplimit_t *lim)
{
    uint32_t i, n;

    lim->st->closed = 1;
    for (n = 0; (i = lim->st->head) != CL_NIL && n < lim->wcap; n++) {
        cl_borrowers_remove(lim, W(i)->entry);
        wait_set_state(lim, i, CL_CLOSED);
        wake_later(lim, i);
    }
}

/* ---- The lock ---------------------------------------------------------- */

static int is_idle(const caplimit_t *lim)
{
    const struct cl_state *s = lim->st;

    return s->borrowed == 0 && s->nwaiting == 0 && s->in_wait == 0;
}

/* R29: every drainer leaves its list, told the limiter is idle. */
static void wake_drainers(caplimit_t *lim)
{
    uint32_t i, n;

    for (n = 0; (i = lim->st->drainers) != CL_NIL && n < lim->wcap; n++) {
        lim->st->drainers = W(i)->next;
        W(i)->state = CL_DRAINED;
        wake_later(lim, i);
    }
}

/* R17 against R1/R5: a head that grew old while the tokens it was woken
 * for stayed free must be granted them before anyone reads or takes. */
static void settle(caplimit_t *lim)
{
    if (CL_UNLIKELY(lim->st->policy == CAPLIMIT_POLICY_THROUGHPUT
                    && lim->st->head != CL_NIL))
        cl_dispatch(lim);
}

void cl_lock(const caplimit_t *clim)
{
    caplimit_t *lim = (caplimit_t *)clim;   /* settling is no change of state */

    if (CL_UNLIKELY(lim->shared != NULL)) {
        cl_shared_lock(lim);
    } else {
        pthread_mutex_lock(lim->lock);
        cl_lane_shut(lim);           /* the lane's holds join the set first */
    }
    settle(lim);
}

int cl_lock_until(const caplimit_t *clim, clockid_t clock, const struct timespec *abstime)
{
    caplimit_t *lim = (caplimit_t *)clim;

    if (abstime == NULL || lim->shared == NULL) {
        cl_lock(lim);
        return 0;
    }
    if (cl_shared_lock_until(lim, clock, abstime) != 0)
        return ETIMEDOUT;
    settle(lim);
    return 0;
}

/* Anything for cl_unlock to do besides unlocking. */
static inline int unlock_has_work(const caplimit_t *lim)
{
    return lim->nwakes != 0 || lim->corrupt || lim->shared != NULL
        || lim->st->drainers != CL_NIL;
}

static __attribute__((noinline)) int unlock_with_work(caplimit_t *lim)
{
    struct cl_wake wakes[CL_WAKE_BATCH];
    size_t n;
    int rc = 0;

    if (CL_UNLIKELY(lim->corrupt)) {
        /* R27: this call met a bad slot number: set the segment right
         * again for the calls that follow, and fail this one */
        cl_rebuild(lim);
        lim->corrupt = 0;
        rc = EPROTO;
    }
    if (CL_UNLIKELY(lim->st->drainers != CL_NIL) && is_idle(lim))
        wake_drainers(lim);
    if (lim->st->nentries == 0)
        cl_lane_open(lim);
    n = lim->nwakes;
    if (CL_LIKELY(n == 0)) {
        if (CL_UNLIKELY(lim->shared != NULL))
            cl_shared_unlock(lim);
        else
            pthread_mutex_unlock(lim->lock);
        return rc;
    }
    /* Copy the wakes off first: once unlocked, lim may be destroyed by a
     * thread we are about to wake (glibc's rule for sem_post), and the
     * waiters' records are theirs to free.  What a wake points to outlives
     * it: a thread's condition variable (the handshake in internal.h), or
     * a futex word in a segment this process keeps mapped. */
    memcpy(wakes, lim->wakes, n * sizeof wakes[0]);
    lim->nwakes = 0;
    if (lim->shared != NULL)
        cl_shared_unlock(lim);
    else
        pthread_mutex_unlock(lim->lock);
    send_wakes(wakes, n);
    return rc;
}

int cl_unlock(const caplimit_t *clim)
{
    caplimit_t *lim = (caplimit_t *)clim;

    if (CL_UNLIKELY(unlock_has_work(lim)))
        return unlock_with_work(lim);
    if (lim->st->nentries == 0)
        cl_lane_open(lim);           /* nobody holds or waits: the lane again */
    pthread_mutex_unlock(lim->lock);
    return 0;
}

/* ---- Giving back ------------------------------------------------------- */

/* The holder e gives back its whole hold (R9, R21, R22, R23). */
static void give_back_hold(caplimit_t *lim, uint32_t e)
{
    struct cl_entry *x = E(e);

    lim->st->extra_levels -= x->level - 1;
    lim->st->borrowed -= x->tokens;
    if (x->key.kind == CAPLIMIT_BORROWER_THREAD && x->key.proc == lim->proc)
        cl_thread_note_released(lim);
    cl_borrowers_remove(lim, e);
    cl_dispatch(lim);
}

/* The holder e gives back one level, or at level 1 its hold (R21). */
static void give_back_level(caplimit_t *lim, uint32_t e)
{
    struct cl_entry *x = E(e);

    if (x->level > 1) {
        x->level--;
        lim->st->extra_levels--;
        return;
    }
    give_back_hold(lim, e);
}

/* R23: the holder e gives back n of its tokens and keeps its hold. */
static void give_back_tokens(caplimit_t *lim, uint32_t e, size_t n)
{
    E(e)->tokens -= n;
    lim->st->borrowed -= n;
    cl_dispatch(lim);
}

/* ---- Waiting ----------------------------------------------------------- */

/* A queued waiter gives up its place: deadline or cancellation.  Its
 * leaving may let the next ones in (R5, R6, R7, R23). */
static void leave_queue(caplimit_t *lim, uint32_t i)
{
    cl_borrowers_remove(lim, W(i)->entry);
    wait_set_state(lim, i, CL_LEAVING);
    cl_dispatch(lim);
}

/* A woken waiter (R17) takes its tokens if it may, else keeps its place. */
static void try_take(caplimit_t *lim, uint32_t i)
{
    uint32_t head;

    wait_set_state(lim, i, CL_WAITING);
    if (W(i)->n > room(lim))
        return;
    head = fitting_head(lim);
    if (i == head || barging(lim, head))
        make_holder(lim, i);
    else
        hand_off(lim);               /* the head is old: it goes first */
}

struct cl_wait_ctx {
    caplimit_t *lim;
    uint32_t w;
    int locked;                      /* a shared sleep drops the lock itself */
};

/* R7: the thread was cancelled in its wait. */
static void on_cancel(void *arg)
{
    struct cl_wait_ctx *c = arg;
    caplimit_t *lim = c->lim;
    struct cl_waiter *w;

    if (!c->locked)
        cl_lock(lim);
    w = W(c->w);
    switch (w->state) {
    case CL_WAITING:
    case CL_WOKEN:
        leave_queue(lim, c->w);
        break;
    case CL_GRANTED: {                /* granted, not yet returned: give back */
        /* An object's hold may have been released (R2), even taken again,
         * by another thread meanwhile: give back only our grant. */
        uint32_t e = cl_borrowers_find(lim, w->key);
        if (e != CL_NIL && E(e)->grant == w->grant)
            give_back_level(lim, e);
        break;
    }
    default:
        break;
    }
    lim->st->counters.cancelled++;
    lim->st->in_wait--;
    lim->waits_here--;
    waiter_free(lim, c->w);
    cl_unlock(lim);
}


/* One sleep of waiter c->w; the lock is dropped meanwhile.  A shared
 * limiter's sleep also looks for dead processes now and then (R26). */
static int sleep_once(struct cl_wait_ctx *c, clockid_t clock,
                      const struct timespec *abstime)
{
    caplimit_t *lim = c->lim;
    pthread_cond_t *cond;

    if (lim->nwakes != 0)
        send_wakes_now(lim);
    if (lim->shared != NULL)
        return cl_shared_sleep(lim, c->w, clock, abstime, &c->locked);
    cond = W(c->w)->wake.cond;
    if (abstime == NULL)
        return pthread_cond_wait(cond, lim->lock);
    return cl_cond_timedwait(cond, lim->lock, clock, abstime);
}

static void count_wait_end(caplimit_t *lim, const struct cl_waiter *w, int rc)
{
    struct caplimit_counters *k = &lim->st->counters;

    if (rc == 0) {
        unsigned long long ns = ns_since(&w->since);
        k->granted_after_wait++;
        k->wait_ns_total += ns;
        if (ns > k->wait_ns_max)
            k->wait_ns_max = ns;
        if (w->key.kind == CAPLIMIT_BORROWER_THREAD)
            cl_thread_note_held(lim);
    } else if (rc == ECANCELED) {
        k->closed_out++;
    } else {
        k->timed_out++;
    }
}

/* A new waiter slot for the calling thread, ready to sleep in. */
static int new_waiter(caplimit_t *lim, uint32_t *out)
{
    struct cl_wake wake = { NULL, NULL, NULL };
    struct cl_waiter *w;
    uint32_t i;
    int rc;

    if (lim->shared == NULL && (rc = cl_thread_sleeper(&wake)) != 0)
        return rc;
    i = waiter_alloc(lim);
    w = W(i);
    /* all but the futex word: a wake chosen for the slot's last sleeper
     * may still be adding to it after the lock (shared.c); that add is
     * then a spurious wake, which the state check absorbs */
    memset(w, 0, offsetof(struct cl_waiter, futex));
    memset(&w->futex + 1, 0, sizeof *w - offsetof(struct cl_waiter, futex) - sizeof w->futex);
    w->next = w->prev = w->entry = CL_NIL;
    w->proc = lim->proc;
    w->tid = cl_thread_tid();
    w->wake = wake;
    *out = i;
    return 0;
}

/* Queues the caller for n tokens (room is reserved) and waits until it is
 * granted, closed out, timed out or cancelled.  Unlocks. */
static int wait_in_queue(caplimit_t *lim, struct cl_key key, size_t n,
                         clockid_t clock, const struct timespec *abstime)
{
    struct cl_wait_ctx ctx = { lim, CL_NIL, 1 };
    struct cl_waiter *w;
    int rc;

    if ((rc = new_waiter(lim, &ctx.w)) != 0) {
        cl_unlock(lim);
        return rc;
    }
    w = W(ctx.w);
    w->key = key;
    w->n = n;
    w->ticket = ++lim->st->tickets;
    clock_gettime(CLOCK_MONOTONIC, &w->since);
    w->entry = cl_borrowers_add(lim, key, CL_ENTRY_QUEUED);
    CL_PUBLISH(w->state, CL_WAITING); /* last: the slot is whole from here */
    queue_push(lim, ctx.w);
    lim->st->in_wait++;
    lim->waits_here++;
    /* R17: behind an old head that was woken but has not run yet, free
     * tokens may wait for nobody: hand them off now, maybe to us. */
    cl_dispatch(lim);

    pthread_cleanup_push(on_cancel, &ctx);
    for (;;) {
        /* R7: the wait may return for our grant with a cancellation
         * already pending (glibc then does not act on it): act now, so a
         * thread cancelled before it returned gives the tokens back */
        pthread_testcancel();
        if (W(ctx.w)->state == CL_WOKEN)
            try_take(lim, ctx.w);
        if (W(ctx.w)->state == CL_GRANTED) {
            rc = 0;
            break;
        }
        if (W(ctx.w)->state == CL_CLOSED) {
            rc = ECANCELED;
            break;
        }
        if (!in_queue(W(ctx.w)->state)) {
            rc = EPROTO;             /* R27: nobody else leaves it so */
            break;
        }
        /* R13: a signal handler may wake us; only the state ends the wait */
        if (sleep_once(&ctx, clock, abstime) == ETIMEDOUT
            && in_queue(W(ctx.w)->state)) {
            leave_queue(lim, ctx.w);
            rc = ETIMEDOUT;
            break;
        }
        if (CL_UNLIKELY(cl_after_wake != NULL))
            cl_after_wake(lim);
    }
    pthread_cleanup_pop(0);

    lim->st->in_wait--;
    lim->waits_here--;
    count_wait_end(lim, W(ctx.w), rc);
    waiter_free(lim, ctx.w);
    n = (size_t)cl_unlock(lim);
    return n != 0 ? (int)n : rc;
}

/* ---- Drain (R29) ------------------------------------------------------- */

static void unlink_drainer(caplimit_t *lim, uint32_t i)
{
    uint32_t *p = &lim->st->drainers, n;

    for (n = 0; *p != CL_NIL && n < lim->wcap; n++, p = &W(*p)->next) {
        if (*p == i) {
            *p = W(i)->next;
            break;
        }
    }
}

static void on_drain_cancel(void *arg)
{
    struct cl_wait_ctx *c = arg;

    caplimit_t *lim = c->lim;

    if (!c->locked)
        cl_lock(lim);
    if (W(c->w)->state == CL_DRAINING)
        unlink_drainer(lim, c->w);
    lim->st->ndrainers--;
    lim->waits_here--;
    waiter_free(lim, c->w);
    cl_unlock(lim);
}

int cl_drain(caplimit_t *lim, clockid_t clock, const struct timespec *abstime)
{
    struct cl_wait_ctx ctx = { lim, CL_NIL, 1 };
    int rc;

    if (is_idle(lim))
        return cl_unlock(lim);
    if ((rc = cl_store_reserve(lim, CL_RESERVE_WAITER)) != 0
        || (rc = new_waiter(lim, &ctx.w)) != 0) {
        cl_unlock(lim);
        return rc;
    }
    W(ctx.w)->next = lim->st->drainers;
    W(ctx.w)->state = CL_DRAINING;
    lim->st->drainers = ctx.w;
    lim->st->ndrainers++;
    lim->waits_here++;

    pthread_cleanup_push(on_drain_cancel, &ctx);
    while (W(ctx.w)->state == CL_DRAINING) {
        pthread_testcancel();
        if (sleep_once(&ctx, clock, abstime) == ETIMEDOUT
            && W(ctx.w)->state == CL_DRAINING) {
            unlink_drainer(lim, ctx.w);
            W(ctx.w)->state = CL_LEAVING;
        } else if (W(ctx.w)->state == CL_DRAINING && is_idle(lim)) {
            /* idle by what this sleep found: a shared wait takes back
             * what dead processes held (R26) without a cl_unlock */
            unlink_drainer(lim, ctx.w);
            W(ctx.w)->state = CL_DRAINED;
        }
    }
    pthread_cleanup_pop(0);

    rc = W(ctx.w)->state == CL_DRAINED ? 0 : ETIMEDOUT;
    lim->st->ndrainers--;
    lim->waits_here--;
    waiter_free(lim, ctx.w);
    return cl_unlock(lim) ? EPROTO : rc;
}

/* ---- Acquire and release ----------------------------------------------- */

/* R21: a holder enters again (taking no tokens, R23), or R3 refuses it. */
static int reenter(caplimit_t *lim, struct cl_entry *e)
{
    struct cl_state *s = lim->st;

    if (e->status != CL_ENTRY_HELD || !s->reentrant)
        return EDEADLK;
    if (s->closed) {
        s->counters.closed_out++;
        return ECANCELED;
    }
    if (e->level == (size_t)-1)
        return EOVERFLOW;
    e->level++;
    s->extra_levels++;
    s->counters.granted_at_once++;
    return 0;
}

/* Room for one more borrower (and waiter), and for a thread in its own
 * record; the common case, a private limiter with room, costs no call. */
static int reserve(caplimit_t *lim, struct cl_key key, int waiter)
{
    const struct cl_state *s = lim->st;
    int rc = 0;

    if (CL_UNLIKELY(waiter || lim->shared != NULL || s->free_entry == CL_NIL
                    || 2 * (s->nentries + 1) > (size_t)lim->imask + 1))
        rc = cl_store_reserve(lim, waiter);
    if (rc == 0 && key.kind == CAPLIMIT_BORROWER_THREAD)
        rc = cl_thread_reserve();
    return rc;
}

static void take_now(caplimit_t *lim, struct cl_key key, size_t n)
{
    uint32_t e = cl_borrowers_add(lim, key, CL_ENTRY_HELD);
    struct cl_entry *x = E(e);

    x->tokens = n;
    lim->st->borrowed += n;
    lim->st->counters.granted_at_once++;
    if (key.kind == CAPLIMIT_BORROWER_THREAD) {
        x->tid = cl_thread_tid();
        cl_thread_note_held(lim);
    }
}

/* R23: with an infinite total, borrowed may never reach it. */
static int would_overflow(const caplimit_t *lim, size_t n)
{
    const struct cl_state *s = lim->st;

    return s->total == CAPLIMIT_INFINITE && n >= CAPLIMIT_INFINITE - s->borrowed;
}

/* R26: before a shared acquire waits or refuses, the tokens of processes
 * that have died are taken back. */
static int take_now_after_reclaim(caplimit_t *lim, size_t n)
{
    if (lim->shared == NULL)
        return 0;
    cl_shared_reclaim(lim);
    return can_take_now(lim, n);
}

int cl_acquire(caplimit_t *lim, struct cl_key key, size_t n,
               enum cl_may_wait may_wait, clockid_t clock,
               const struct timespec *abstime)
{
    uint32_t e;
    int rc, rc2;

    if (CL_UNLIKELY(cl_lock_until(lim, clock, abstime) != 0))
        return ETIMEDOUT;
    key.proc = lim->proc;
    cl_lane_want(lim, key.kind == CAPLIMIT_BORROWER_THREAD && n == 1);
    e = cl_borrowers_find(lim, key);
    if (CL_UNLIKELY(e != CL_NIL)) {
        rc = reenter(lim, E(e));
    } else if (CL_UNLIKELY(lim->st->closed)) {
        lim->st->counters.closed_out++;
        rc = ECANCELED;
    } else if (CL_UNLIKELY(would_overflow(lim, n))) {
        rc = EOVERFLOW;
    } else if (CL_LIKELY(can_take_now(lim, n)) || take_now_after_reclaim(lim, n)) {
        if (CL_LIKELY((rc = reserve(lim, key, 0)) == 0))
            take_now(lim, key, n);
    } else if (may_wait == CL_NOWAIT) {
        lim->st->counters.would_block++;
        rc = EWOULDBLOCK;
    } else if ((rc = reserve(lim, key, 1)) == 0) {
        return wait_in_queue(lim, key, n, clock, abstime);
    }
    rc2 = cl_unlock(lim);
    return rc2 != 0 ? rc2 : rc;
}

static int release_at(caplimit_t *lim, uint32_t e, enum cl_give_back how, size_t n)
{
    struct cl_entry *x = E(e);

    switch (how) {
    case CL_GIVE_TOKENS:
        if (n > x->tokens)
            return EINVAL;
        if (n < x->tokens) {
            give_back_tokens(lim, e, n);
            return 0;
        }
        /* n == held: the plain release */
        /* fall through */
    case CL_GIVE_LEVEL:
        give_back_level(lim, e);
        return 0;
    case CL_GIVE_ALL:
        lim->st->counters.abandoned += x->tokens;
        break;
    }
    give_back_hold(lim, e);
    return 0;
}

int cl_release(caplimit_t *lim, struct cl_key key, enum cl_give_back how, size_t n)
{
    uint32_t e;
    int rc, rc2;

    cl_lock(lim);
    key.proc = lim->proc;
    e = cl_borrowers_find(lim, key);
    if (e == CL_NIL || E(e)->status != CL_ENTRY_HELD)
        rc = EPERM;
    else
        rc = release_at(lim, e, how, n);
    rc2 = cl_unlock(lim);
    return rc2 != 0 ? rc2 : rc;
}

struct cl_entry *cl_entry_of(caplimit_t *lim, struct cl_key key)
{
    uint32_t e;

    key.proc = lim->proc;
    e = cl_borrowers_find(lim, key);
    return e == CL_NIL ? NULL : E(e);
}

/* ---- Busy, and what death gives back (R12, R24, R26) -------------------- */

int cl_busy(caplimit_t *lim)
{
    const struct cl_state *s = lim->st;
    uint32_t i;

    if (lim->shared == NULL)
        return !is_idle(lim) || s->ndrainers != 0;
    /* this handle's own count first: a scribbled segment must not let a
     * handle go while a thread still waits in it (R27) */
    if (lim->waits_here != 0)
        return 1;
    for (i = 0; i < lim->ecap; i++)
        if (lim->entries[i].status == CL_ENTRY_HELD && lim->entries[i].key.proc == lim->proc)
            return 1;
    for (i = 0; i < lim->wcap; i++)
        if (lim->waiters[i].state != CL_FREE && lim->waiters[i].proc == lim->proc)
            return 1;
    return 0;
}

size_t cl_reclaim_process(caplimit_t *lim, uint32_t proc)
{
    struct cl_state *s = lim->st;
    size_t tokens = 0;
    uint32_t i;

    for (i = 0; i < lim->wcap; i++) {
        struct cl_waiter *w = &lim->waiters[i];
        if (w->state == CL_FREE || w->proc != proc)
            continue;
        if (in_queue(w->state)) {
            cl_borrowers_remove(lim, w->entry);
            wait_set_state(lim, i, CL_LEAVING);
        } else if (w->state == CL_DRAINING) {
            unlink_drainer(lim, i);
        }
        if (w->state == CL_DRAINING || w->state == CL_DRAINED)
            s->ndrainers--;
        else
            s->in_wait--;
        waiter_free(lim, i);
    }
    for (i = 0; i < lim->ecap; i++) {
        struct cl_entry *e = &lim->entries[i];
        if (e->status != CL_ENTRY_HELD || e->key.proc != proc)
            continue;
        tokens += e->tokens;
        s->extra_levels -= e->level - 1;
        s->borrowed -= e->tokens;
        cl_borrowers_remove(lim, i);
    }
    s->counters.reclaimed += tokens;
    cl_dispatch(lim);
    return tokens;
}

/* ---- Rebuilding from the slots (R26, R27) ------------------------------ */

/* A waiter slot that is whole, or made free; answers its state. */
static uint32_t check_waiter(caplimit_t *lim, uint32_t i)
{
    struct cl_waiter *w = &lim->waiters[i];
    struct cl_entry *e;

    if (w->state > CL_DRAINED)
        w->state = CL_FREE;
    if (!in_queue(w->state))
        return w->state;
    if (w->entry >= lim->ecap || w->n == 0) {
        w->state = CL_FREE;
        return CL_FREE;
    }
    e = &lim->entries[w->entry];
    if (e->status == CL_ENTRY_HELD && e->grant == w->grant && w->grant != 0) {
        w->state = CL_GRANTED;      /* granted, then its lock holder died */
        return CL_GRANTED;
    }
    /* its borrower, queued: made whole if the dead process half emptied it */
    e->key = w->key;
    e->status = CL_ENTRY_QUEUED;
    e->level = 0;
    e->tokens = 0;
    return w->state;
}

/* Queues waiter i in ticket order: a rebuild's insertion, O(queue) each,
 * with no memory of its own (R28: nothing allocates after open). */
static void queue_in_ticket_order(caplimit_t *lim, uint32_t i)
{
    struct cl_state *s = lim->st;
    struct cl_waiter *w = W(i);
    uint32_t at = s->tail, n;

    for (n = 0; at != CL_NIL && n < lim->wcap && W(at)->ticket > w->ticket; n++)
        at = W(at)->prev;
    w->prev = at;
    w->next = at == CL_NIL ? s->head : W(at)->next;
    if (w->next != CL_NIL)
        W(w->next)->prev = i;
    else
        s->tail = i;
    if (at != CL_NIL)
        W(at)->next = i;
    else
        s->head = i;
    s->tokens_waiting += w->n;
    s->nwaiting++;
    if (w->state == CL_WOKEN)
        s->tokens_woken += w->n;
}

void cl_rebuild(caplimit_t *lim)
{
    struct cl_state *s = lim->st;
    uint32_t i;

    s->head = s->tail = s->drainers = s->free_waiter = CL_NIL;
    s->nwaiting = s->tokens_waiting = s->tokens_woken = 0;
    s->in_wait = s->ndrainers = 0;
    /* queued entries whose waiter is gone go free with the rest */
    for (i = 0; i < lim->ecap; i++)
        if (lim->entries[i].status == CL_ENTRY_QUEUED)
            lim->entries[i].tokens = 1;                 /* mark: unclaimed */
    for (i = lim->wcap; i-- > 0;) {
        uint32_t st = check_waiter(lim, i);
        struct cl_waiter *w = &lim->waiters[i];
        if (st == CL_FREE) {
            w->next = s->free_waiter;
            s->free_waiter = i;
        } else if (st == CL_DRAINING || st == CL_DRAINED) {
            s->ndrainers++;
            if (st == CL_DRAINING) {
                w->next = s->drainers;
                s->drainers = i;
            }
        } else {
            s->in_wait++;
            if (in_queue(st))
                lim->entries[w->entry].tokens = 0;     /* claimed */
            else if (st == CL_GRANTED)
                wake_later(lim, i);
        }
    }
    for (i = 0; i < lim->ecap; i++)
        if (lim->entries[i].status == CL_ENTRY_QUEUED && lim->entries[i].tokens != 0)
            lim->entries[i].status = CL_ENTRY_FREE;
    cl_borrowers_rebuild(lim);
    for (i = 0; i < lim->wcap; i++)
        if (in_queue(lim->waiters[i].state))
            queue_in_ticket_order(lim, i);
    s->borrowed = s->extra_levels = 0;
    for (i = 0; i < lim->ecap; i++) {
        const struct cl_entry *e = &lim->entries[i];
        if (e->status != CL_ENTRY_HELD)
            continue;
        s->borrowed += e->tokens;
        s->extra_levels += e->level - 1;
    }
    if (s->policy > CAPLIMIT_POLICY_THROUGHPUT)
        s->policy = CAPLIMIT_POLICY_FIFO;
    if (s->bypass_ns == 0)
        s->bypass_ns = CL_DEFAULT_BYPASS_NS;
    s->closed = s->closed != 0;
    s->reentrant = s->reentrant != 0;
    if (s->closed)
        cl_close_queue(lim);         /* a close cut short: finish it (R18) */
    cl_dispatch(lim);
}
