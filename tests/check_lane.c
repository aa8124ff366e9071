/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * The fast lane (lib/lane.c): a thread's one token taken and given back
 * without the lock while nobody waits.  Every rule must hold across it:
 * R3, R9 (EDEADLK, EPERM), R4 (a waiter shuts it), R8, R10 and R20 (lane
 * holds seen by snapshots), R12 (destroy sees them), R16 (stress with
 * folding), R18 (close shuts it), R19 (its acquires counted), R22 (thread
 * exit gives back a lane hold).  White-box: lane_is_open() reads the
 * lane's word, to show that the call under test did go through the lane.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1                /* CPU_SET, pthread_setaffinity_np */
#endif
#include "harness.h"
#include "../lib/internal.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int lane_is_open(caplimit_t *lim)
{
    return (int)(__atomic_load_n(&lim->lane.word, __ATOMIC_RELAXED) & 1);
}

static size_t lane_tokens(caplimit_t *lim)
{
    return (size_t)(__atomic_load_n(&lim->lane.word, __ATOMIC_RELAXED) >> 1);
}

/* The lane opens for a thread once it has registered (its first acquire
 * takes the lock) and while nobody holds. */
static void warm_up(caplimit_t *lim)
{
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert(lane_is_open(lim));
}

START_TEST(test_R19_lane_acquires_are_counted)
{
    caplimit_t *lim = harness_make(2);
    struct timespec far = harness_deadline_ms(60000);
    struct caplimit_counters c;
    int i;

    warm_up(lim);
    for (i = 0; i < 1000; i++) {
        ck_assert_int_eq(caplimit_acquire_nowait(lim), 0);
        ck_assert_int_eq(caplimit_release(lim), 0);
        ck_assert_int_eq(caplimit_acquire(lim), 0);
        ck_assert_int_eq(caplimit_release(lim), 0);
        ck_assert_int_eq(caplimit_acquire_until(lim, CLOCK_MONOTONIC, &far), 0);
        ck_assert_int_eq(caplimit_release_tokens(lim, NULL, 1), 0);
        ck_assert_int_eq(caplimit_acquire_tokens(lim, NULL, 1), 0);
        ck_assert_int_eq(caplimit_release(lim), 0);
    }
    ck_assert(lane_is_open(lim));
    ck_assert_uint_eq(lane_tokens(lim), 2);
    c = harness_counters(lim);
    ck_assert_uint_eq(c.granted_at_once, 1 + 4000);
    ck_assert_uint_eq(c.would_block, 0);
    /* counted once: a second fold adds only what came since */
    for (i = 0; i < 10; i++) {
        ck_assert_int_eq(caplimit_acquire_nowait(lim), 0);
        ck_assert_int_eq(caplimit_release(lim), 0);
    }
    c = harness_counters(lim);
    ck_assert_uint_eq(c.granted_at_once, 1 + 4000 + 10);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R3_R9_R20_lane_hold)
{
    caplimit_t *lim = harness_make(3);

    warm_up(lim);
    ck_assert_int_eq(caplimit_release(lim), EPERM);
    ck_assert_int_eq(caplimit_release_tokens(lim, NULL, 1), EPERM);
    ck_assert_int_eq(caplimit_acquire_nowait(lim), 0);
    ck_assert(lane_is_open(lim));
    ck_assert_uint_eq(lane_tokens(lim), 2);
    ck_assert_int_eq(caplimit_acquire_nowait(lim), EDEADLK);
    ck_assert_int_eq(caplimit_acquire(lim), EDEADLK);
    /* R20 folds the hold into the set; R3 still holds after */
    ck_assert_int_eq(caplimit_holds(lim), 1);
    ck_assert(!lane_is_open(lim));
    ck_assert_int_eq(caplimit_acquire_nowait(lim), EDEADLK);
    ck_assert_uint_eq(caplimit_available_tokens(lim), 2);
    /* R23: more than the lane's one token is not a release of it */
    ck_assert_int_eq(caplimit_release_tokens(lim, NULL, 2), EINVAL);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert(lane_is_open(lim));
    ck_assert_int_eq(caplimit_release(lim), EPERM);
    ck_assert_int_eq(caplimit_holds(lim), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R21_reentry_over_a_lane_hold)
{
    caplimit_t *lim = harness_make(1);
    struct caplimit_counters c;

    warm_up(lim);
    ck_assert_int_eq(caplimit_set_reentrant(lim, 1), 0);
    ck_assert(lane_is_open(lim));
    ck_assert_int_eq(caplimit_acquire(lim), 0);          /* the lane */
    ck_assert_int_eq(caplimit_acquire_nowait(lim), 0);   /* level 2, locked */
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_holds(lim), 1);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_holds(lim), 0);
    ck_assert_uint_eq(caplimit_available_tokens(lim), 1);
    c = harness_counters(lim);
    ck_assert_uint_eq(c.granted_at_once, 3);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- Lane holders in other threads ------------------------------------ */

struct holder {
    caplimit_t *lim;
    pthread_t self;
    pid_t tid;
    int lane_was_open, ready, go, done;
};

static void *hold_until_told(void *arg)
{
    struct holder *h = arg;

    h->tid = (pid_t)syscall(SYS_gettid);
    /* register first (the lock), so the hold below is the lane's */
    WORKER_CHECK(caplimit_acquire_nowait(h->lim) == 0);
    WORKER_CHECK(caplimit_release(h->lim) == 0);
    STORE(&h->ready, 1);
    while (LOAD(&h->go) == 0)
        harness_yield();
    h->lane_was_open = lane_is_open(h->lim);
    WORKER_CHECK(caplimit_acquire(h->lim) == 0);
    STORE(&h->ready, 2);
    while (LOAD(&h->go) == 1)
        harness_yield();
    WORKER_CHECK(caplimit_holds(h->lim) == 1);
    WORKER_CHECK(caplimit_acquire_nowait(h->lim) == EDEADLK);
    WORKER_CHECK(caplimit_release(h->lim) == 0);
    WORKER_CHECK(caplimit_release(h->lim) == EPERM);
    STORE(&h->done, 1);
    return NULL;
}

#define NHOLDERS 3

static void start_holders(caplimit_t *lim, struct holder *h, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        h[i].lim = lim;
        harness_spawn(&h[i].self, hold_until_told, &h[i]);
    }
    for (i = 0; i < n; i++)
        POLL_UNTIL(LOAD(&h[i].ready) == 1);
    /* one at a time, so that none finds the lane shut by another's
     * first, locked, acquire */
    for (i = 0; i < n; i++) {
        STORE(&h[i].go, 1);
        POLL_UNTIL(LOAD(&h[i].ready) == 2);
    }
}

static void finish_holders(struct holder *h, int n)
{
    int i;

    for (i = 0; i < n; i++)
        STORE(&h[i].go, 2);
    for (i = 0; i < n; i++)
        harness_join(h[i].self);
}

static const struct caplimit_borrower *borrower_of(const struct caplimit_statistics *st,
                                                   pthread_t t)
{
    size_t i;

    for (i = 0; i < st->nborrowers; i++)
        if (st->borrowers[i].kind == CAPLIMIT_BORROWER_THREAD
            && pthread_equal(st->borrowers[i].thread, t))
            return &st->borrowers[i];
    return NULL;
}

START_TEST(test_R10_R12_lane_holds_in_a_snapshot)
{
    caplimit_t *lim = harness_make(5);
    struct holder h[NHOLDERS] = { { 0 } };
    struct caplimit_statistics st;
    struct caplimit_counters c;
    int i;

    start_holders(lim, h, NHOLDERS);
    for (i = 0; i < NHOLDERS; i++)
        ck_assert(h[i].lane_was_open);
    ck_assert(lane_is_open(lim));
    ck_assert_uint_eq(lane_tokens(lim), 5 - NHOLDERS);
    ck_assert_int_eq(caplimit_statistics(lim, &st), 0);
    ck_assert(!lane_is_open(lim));
    ck_assert_uint_eq(st.borrowed_tokens, NHOLDERS);
    ck_assert_uint_eq(st.nborrowers, NHOLDERS);
    for (i = 0; i < NHOLDERS; i++) {
        const struct caplimit_borrower *b = borrower_of(&st, h[i].self);
        ck_assert_ptr_nonnull(b);
        ck_assert_uint_eq(b->tokens, 1);
        ck_assert_uint_eq(b->level, 1);
        ck_assert_int_eq(b->pid, getpid());
        ck_assert_int_eq(b->tid, h[i].tid);
    }
    caplimit_statistics_destroy(&st);
    ck_assert_uint_eq(caplimit_available_tokens(lim), 5 - NHOLDERS);
    ck_assert_int_eq(caplimit_destroy(lim), EBUSY);
    finish_holders(h, NHOLDERS);
    harness_assert_no_worker_failures();
    ck_assert(lane_is_open(lim));
    c = harness_counters(lim);
    ck_assert_uint_eq(c.granted_at_once, 2 * NHOLDERS);
    ck_assert_uint_eq(caplimit_available_tokens(lim), 5);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R8_fall_below_lane_holds)
{
    caplimit_t *lim = harness_make(3);
    struct holder h[3] = { { 0 } };

    start_holders(lim, h, 3);
    ck_assert(lane_is_open(lim));
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 1), 0);
    ck_assert_uint_eq(caplimit_available_tokens(lim), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 3);
    ck_assert_int_eq(caplimit_acquire_nowait(lim), EWOULDBLOCK);
    finish_holders(h, 3);
    harness_assert_no_worker_failures();
    ck_assert_uint_eq(caplimit_available_tokens(lim), 1);
    ck_assert_int_eq(caplimit_acquire_nowait(lim), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &lim), EWOULDBLOCK);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- R4, R18: a waiter or a close shuts the lane ---------------------- */

struct waiter {
    caplimit_t *lim;
    int rc, go;
};

static void *acquire_then_release(void *arg)
{
    struct waiter *w = arg;
    int rc = caplimit_acquire(w->lim);

    STORE(&w->rc, rc);
    while (LOAD(&w->go) == 0)
        harness_yield();
    if (rc == 0)
        WORKER_CHECK(caplimit_release(w->lim) == 0);
    return NULL;
}

START_TEST(test_R4_R5_a_waiter_shuts_the_lane)
{
    caplimit_t *lim = harness_make(1);
    struct waiter w = { lim, -1, 0 };
    pthread_t t;

    warm_up(lim);
    ck_assert_int_eq(caplimit_acquire(lim), 0);          /* the lane */
    harness_spawn(&t, acquire_then_release, &w);
    POLL_UNTIL(caplimit_threads_waiting(lim) == 1);
    ck_assert(!lane_is_open(lim));
    ck_assert_int_eq(caplimit_release(lim), 0);          /* hands off (R5) */
    ck_assert_int_eq(caplimit_acquire_nowait(lim), EWOULDBLOCK);
    POLL_UNTIL(LOAD(&w.rc) == 0);
    ck_assert(!lane_is_open(lim));
    STORE(&w.go, 1);
    harness_join(t);
    harness_assert_no_worker_failures();
    ck_assert(lane_is_open(lim));
    ck_assert_int_eq(caplimit_acquire_nowait(lim), 0);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R18_close_shuts_the_lane)
{
    caplimit_t *lim = harness_make(2);
    struct timespec far = harness_deadline_ms(60000);
    struct caplimit_counters c;

    warm_up(lim);
    ck_assert_int_eq(caplimit_acquire(lim), 0);          /* the lane */
    ck_assert_int_eq(caplimit_close(lim), 0);
    ck_assert(!lane_is_open(lim));
    ck_assert_int_eq(caplimit_release(lim), 0);          /* borrowers keep theirs */
    ck_assert(!lane_is_open(lim));
    ck_assert_int_eq(caplimit_acquire_nowait(lim), ECANCELED);
    ck_assert_int_eq(caplimit_acquire(lim), ECANCELED);
    ck_assert_int_eq(caplimit_acquire_until(lim, CLOCK_MONOTONIC, &far), ECANCELED);
    c = harness_counters(lim);
    ck_assert_uint_eq(c.granted_at_once, 2);
    ck_assert_uint_eq(c.closed_out, 3);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R1_paused_limiter_has_no_lane)
{
    caplimit_t *lim = harness_make(1);

    warm_up(lim);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 0), 0);
    ck_assert(!lane_is_open(lim));
    ck_assert_int_eq(caplimit_acquire_nowait(lim), EWOULDBLOCK);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 1), 0);
    ck_assert_int_eq(caplimit_acquire_nowait(lim), 0);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert(lane_is_open(lim));
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* Object borrowers never use the lane; their pairs leave it shut until a
 * thread asks for a token again. */
START_TEST(test_R2_object_pairs_leave_the_lane_shut)
{
    caplimit_t *lim = harness_make(4);
    int obj;

    warm_up(lim);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &obj), 0);
    ck_assert(!lane_is_open(lim));
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &obj), 0);
    ck_assert(!lane_is_open(lim));
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &obj), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &obj), 0);
    ck_assert(!lane_is_open(lim));
    ck_assert_int_eq(caplimit_acquire_nowait(lim), 0);   /* locked: wants it */
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert(lane_is_open(lim));
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- R22: thread exit ------------------------------------------------- */

static void *take_in_lane_and_exit(void *arg)
{
    struct holder *h = arg;

    WORKER_CHECK(caplimit_acquire(h->lim) == 0);         /* locked: registers */
    WORKER_CHECK(caplimit_release(h->lim) == 0);
    h->lane_was_open = lane_is_open(h->lim);
    WORKER_CHECK(caplimit_acquire(h->lim) == 0);
    h->ready = lane_is_open(h->lim) && lane_tokens(h->lim) == 0;
    return NULL;
}

static void *holds_nothing(void *arg)
{
    struct holder *h = arg;

    WORKER_CHECK(caplimit_holds(h->lim) == 0);
    WORKER_CHECK(caplimit_release(h->lim) == EPERM);
    WORKER_CHECK(caplimit_acquire_nowait(h->lim) == 0);
    WORKER_CHECK(caplimit_release(h->lim) == 0);
    return NULL;
}

START_TEST(test_R22_exit_gives_back_a_lane_hold)
{
    caplimit_t *lim = harness_make(1);
    struct holder h = { 0 };
    struct caplimit_counters c;
    pthread_t t;
    int i;

    h.lim = lim;
    for (i = 0; i < 3; i++) {
        harness_spawn(&t, take_in_lane_and_exit, &h);
        harness_join(t);
        ck_assert(h.lane_was_open);
        ck_assert(h.ready);                              /* taken in the lane */
        ck_assert_uint_eq(caplimit_available_tokens(lim), 1);
        /* a later thread, perhaps with the same pthread_t and lane slot */
        harness_spawn(&t, holds_nothing, &h);
        harness_join(t);
    }
    harness_assert_no_worker_failures();
    c = harness_counters(lim);
    ck_assert_uint_eq(c.abandoned, 3);
    ck_assert_uint_eq(c.granted_at_once, 3 * 3);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- More threads than lane slots ------------------------------------- */

#define NMANY (CL_LANES + 6)

START_TEST(test_R16_more_threads_than_lane_slots)
{
    caplimit_t *lim = harness_make(NMANY + 1);
    struct holder *h = calloc(NMANY, sizeof *h);
    struct caplimit_statistics st;
    struct caplimit_counters c;
    int i;

    ck_assert_ptr_nonnull(h);
    start_holders(lim, h, NMANY);
    ck_assert_int_eq(caplimit_statistics(lim, &st), 0);
    ck_assert_uint_eq(st.borrowed_tokens, NMANY);
    ck_assert_uint_eq(st.nborrowers, NMANY);
    for (i = 0; i < NMANY; i++)
        ck_assert_ptr_nonnull(borrower_of(&st, h[i].self));
    caplimit_statistics_destroy(&st);
    finish_holders(h, NMANY);
    harness_assert_no_worker_failures();
    c = harness_counters(lim);
    ck_assert_uint_eq(c.granted_at_once, 2 * NMANY);
    ck_assert_uint_eq(caplimit_available_tokens(lim), NMANY + 1);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
    free(h);
}
END_TEST

/* ---- R16: the lane against the lock, at random ------------------------ */

#define NRACERS 4
#define TOTAL 2

struct race {
    caplimit_t *lim;
    int in_use, max_in_use, stop;
    unsigned long long granted, refused;
};

struct racer {
    struct race *r;
    unsigned seed;
    unsigned long long granted, refused;
};

static void note_in(struct race *r)
{
    int now = __atomic_add_fetch(&r->in_use, 1, __ATOMIC_SEQ_CST);
    int max = __atomic_load_n(&r->max_in_use, __ATOMIC_RELAXED);

    while (now > max && !__atomic_compare_exchange_n(&r->max_in_use, &max, now, 1,
                                                     __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

static void *race_lane(void *arg)
{
    struct racer *me = arg;
    struct race *r = me->r;
    int obj, i, n = harness_scale(20000), rc;

    for (i = 0; i < n; i++) {
        unsigned pick = (unsigned)rand_r(&me->seed) % 8;
        int is_obj = pick == 7;

        if (is_obj)
            rc = caplimit_acquire_on_behalf_of_nowait(r->lim, &obj);
        else if (pick < 4)
            rc = caplimit_acquire_nowait(r->lim);
        else
            rc = caplimit_acquire(r->lim);
        if (rc == EWOULDBLOCK) {
            me->refused++;
            continue;
        }
        WORKER_CHECK(rc == 0);
        if (rc != 0)
            continue;
        me->granted++;
        note_in(r);
        if (!is_obj)
            WORKER_CHECK(caplimit_acquire_nowait(r->lim) == EDEADLK);
        __atomic_sub_fetch(&r->in_use, 1, __ATOMIC_SEQ_CST);
        WORKER_CHECK((is_obj ? caplimit_release_on_behalf_of(r->lim, &obj)
                             : caplimit_release(r->lim)) == 0);
    }
    return NULL;
}

/* Snapshots fold the lane at random moments; each must agree with itself. */
static void *race_snapshots(void *arg)
{
    struct race *r = arg;
    struct caplimit_statistics st;
    size_t i, sum;

    while (!LOAD(&r->stop)) {
        WORKER_CHECK(caplimit_statistics(r->lim, &st) == 0);
        for (i = 0, sum = 0; i < st.nborrowers; i++)
            sum += st.borrowers[i].tokens;
        WORKER_CHECK(sum == st.borrowed_tokens);
        WORKER_CHECK(st.borrowed_tokens <= TOTAL);
        caplimit_statistics_destroy(&st);
        WORKER_CHECK(caplimit_available_tokens(r->lim) <= TOTAL);
        harness_yield();
    }
    return NULL;
}

START_TEST(test_R16_lane_against_the_lock)
{
    struct race r = { 0 };
    struct racer me[NRACERS];
    struct caplimit_counters c;
    pthread_t t[NRACERS], snap;
    int i;

    r.lim = harness_make(TOTAL);
    harness_spawn(&snap, race_snapshots, &r);
    for (i = 0; i < NRACERS; i++) {
        me[i].r = &r;
        me[i].seed = 7u * (unsigned)i + 1u;
        me[i].granted = me[i].refused = 0;
        harness_spawn(&t[i], race_lane, &me[i]);
    }
    for (i = 0; i < NRACERS; i++) {
        harness_join(t[i]);
        r.granted += me[i].granted;
        r.refused += me[i].refused;
    }
    STORE(&r.stop, 1);
    harness_join(snap);
    harness_assert_no_worker_failures();
    ck_assert_int_le(r.max_in_use, TOTAL);
    c = harness_counters(r.lim);
    ck_assert_uint_eq(c.granted_at_once + c.granted_after_wait, r.granted);
    ck_assert_uint_eq(c.would_block, r.refused);
    ck_assert_uint_eq(caplimit_available_tokens(r.lim), TOTAL);
    ck_assert_int_eq(caplimit_destroy(r.lim), 0);
}
END_TEST

/* ---- R16: a fold under real-time priorities --------------------------- */

/* A lane user of low SCHED_FIFO priority and a folder of higher priority
 * on one CPU: the folder preempts the user between its two steps and must
 * let it run again (a fold that only yields spins for ever there).  The
 * test thread, on another CPU, watches that folds keep ending. */
struct rt {
    caplimit_t *lim;
    int stop, in_fold, bad;
    unsigned long long folds;
};

static int pin(int cpu, int policy, int prio)
{
    struct sched_param p;
    cpu_set_t set;

    memset(&p, 0, sizeof p);
    p.sched_priority = prio;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0
        && pthread_setschedparam(pthread_self(), policy, &p) == 0;
}

static void *rt_lane_user(void *arg)
{
    struct rt *r = arg;

    if (!pin(0, SCHED_FIFO, 1))
        STORE(&r->bad, 1);
    while (!LOAD(&r->stop))
        if (caplimit_acquire(r->lim) != 0 || caplimit_release(r->lim) != 0)
            STORE(&r->bad, 2);
    return NULL;
}

static void *rt_folder(void *arg)
{
    struct rt *r = arg;
    struct timespec pause = { 0, 20000 };
    struct caplimit_counters c;

    if (!pin(0, SCHED_FIFO, 2))
        STORE(&r->bad, 1);
    while (!LOAD(&r->stop)) {
        /* the workload, not a synchronisation: each wake-up preempts the
         * lane user wherever it is, now and then between its two steps */
        nanosleep(&pause, NULL);
        STORE(&r->in_fold, 1);
        if (caplimit_counters(r->lim, &c) != 0)
            STORE(&r->bad, 2);
        STORE(&r->in_fold, 0);
        __atomic_add_fetch(&r->folds, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

START_TEST(test_R16_fold_lets_a_preempted_lane_user_run)
{
    struct rt r = { 0 };
    struct sched_param normal;
    struct timespec t0;
    pthread_t user, folder;
    unsigned long long last = 0, now;
    long still_since = -1;
    int stuck = 0;

    if (getenv("HARNESS_SLOW") != NULL || sysconf(_SC_NPROCESSORS_ONLN) < 2
        || !pin(1, SCHED_OTHER, 0)) {
        puts("test_R16_fold_lets_a_preempted_lane_user_run: needs 2 CPUs, not under valgrind");
        return;
    }
    r.lim = harness_make(4);
    harness_spawn(&user, rt_lane_user, &r);
    harness_spawn(&folder, rt_folder, &r);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (harness_ms_since(&t0) < 1000 && !stuck && LOAD(&r.bad) == 0) {
        harness_yield();
        now = __atomic_load_n(&r.folds, __ATOMIC_SEQ_CST);
        if (now != last || !LOAD(&r.in_fold))
            still_since = harness_ms_since(&t0);
        else if (still_since >= 0 && harness_ms_since(&t0) - still_since > 200)
            stuck = 1;
        last = now;
    }
    memset(&normal, 0, sizeof normal);
    pthread_setschedparam(folder, SCHED_OTHER, &normal);
    pthread_setschedparam(user, SCHED_OTHER, &normal);
    STORE(&r.stop, 1);
    harness_join(folder);
    harness_join(user);
    if (LOAD(&r.bad) == 1) {
        puts("test_R16_fold_lets_a_preempted_lane_user_run: no SCHED_FIFO here");
    } else {
        ck_assert_int_eq(LOAD(&r.bad), 0);
        ck_assert_msg(!stuck, "a fold spun for 200 ms beside a preempted lane user");
    }
    ck_assert_int_eq(caplimit_destroy(r.lim), 0);
}
END_TEST

int main(void)
{
#ifdef CL_NO_LANE
    puts("check_lane: configure --disable-lane: there is no lane to test");
    return 77;
#else
    Suite *s = suite_create("lane");
    TCase *tc = harness_tcase_create("lane");

    tcase_add_test(tc, test_R19_lane_acquires_are_counted);
    tcase_add_test(tc, test_R3_R9_R20_lane_hold);
    tcase_add_test(tc, test_R21_reentry_over_a_lane_hold);
    tcase_add_test(tc, test_R10_R12_lane_holds_in_a_snapshot);
    tcase_add_test(tc, test_R8_fall_below_lane_holds);
    tcase_add_test(tc, test_R4_R5_a_waiter_shuts_the_lane);
    tcase_add_test(tc, test_R18_close_shuts_the_lane);
    tcase_add_test(tc, test_R1_paused_limiter_has_no_lane);
    tcase_add_test(tc, test_R2_object_pairs_leave_the_lane_shut);
    tcase_add_test(tc, test_R22_exit_gives_back_a_lane_hold);
    tcase_add_test(tc, test_R16_more_threads_than_lane_slots);
    tcase_add_test(tc, test_R16_lane_against_the_lock);
    tcase_add_test(tc, test_R16_fold_lets_a_preempted_lane_user_run);
    suite_add_tcase(s, tc);
    return harness_run(s);
#endif
}
