/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * R29: caplimit_drain waits until the limiter is idle (no token borrowed,
 * nobody queued, nobody woken by close still inside), as caplimit_destroy
 * needs it; with caplimit_close it makes shutdown one call each.
 *
 * A drainer runs in a thread of its own; the tests poll until the kernel
 * shows it asleep before checking that it has not returned.
 */
#include "harness.h"

#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static char objs[8];

struct drainer {
    caplimit_t *lim;
    clockid_t clock;
    int timed;                       /* 0: abstime NULL */
    struct timespec abstime;
    int pend_cancel;                 /* start with a cancellation pending */
    int ready, go;                   /* handshake for pend_cancel */
    int tid;
    int rc;                          /* HARNESS_RC_PENDING until it returns */
    pthread_t thread;
};

static void *drainer_main(void *arg)
{
    struct drainer *d = arg;
    int rc, old;

    STORE(&d->tid, (int)syscall(SYS_gettid));
    if (d->pend_cancel) {
        pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
        STORE(&d->ready, 1);
        while (!LOAD(&d->go))
            harness_yield();
        pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
    }
    rc = caplimit_drain(d->lim, d->clock, d->timed ? &d->abstime : NULL);
    STORE(&d->rc, rc);
    return NULL;
}

static void drainer_start(struct drainer *d, caplimit_t *lim, clockid_t clock, long until_ms)
{
    memset(d, 0, sizeof *d);
    d->lim = lim;
    d->clock = clock;
    d->timed = until_ms >= 0;
    if (d->timed)
        d->abstime = harness_deadline_on(clock, until_ms);
    d->rc = HARNESS_RC_PENDING;
    harness_spawn(&d->thread, drainer_main, d);
}

/* Started, and asleep: inside the drain's wait (or about to be woken). */
static void drainer_poll_asleep(struct drainer *d)
{
    POLL_UNTIL(LOAD(&d->tid) != 0);
    POLL_UNTIL(harness_thread_sleeping(LOAD(&d->tid)) || LOAD(&d->rc) != HARNESS_RC_PENDING);
    ck_assert_int_eq(LOAD(&d->rc), HARNESS_RC_PENDING);
}

static int drainer_join(struct drainer *d)
{
    void *ret = NULL;

    ck_assert_int_eq(pthread_join(d->thread, &ret), 0);
    return ret == PTHREAD_CANCELED ? HARNESS_RC_CANCELLED : LOAD(&d->rc);
}

static int counters_equal(const struct caplimit_counters *a, const struct caplimit_counters *b)
{
    return memcmp(a, b, sizeof *a) == 0;
}

/* ---- An idle limiter ---------------------------------------------------- */

START_TEST(test_R29_idle_returns_at_once)
{
    caplimit_t *lim = harness_make(2);
    struct timespec past = { 0, 0 }, soon = harness_deadline_ms(1000);
    struct timespec rt_past = { 1, 0 };

    ck_assert_int_eq(caplimit_drain(lim, CLOCK_MONOTONIC, NULL), 0);
    /* even with a deadline already past, on both clocks */
    ck_assert_int_eq(caplimit_drain(lim, CLOCK_MONOTONIC, &past), 0);
    ck_assert_int_eq(caplimit_drain(lim, CLOCK_REALTIME, &rt_past), 0);
    ck_assert_int_eq(caplimit_drain(lim, CLOCK_MONOTONIC, &soon), 0);
    /* idle again after use */
    ck_assert_int_eq(caplimit_acquire_tokens(lim, NULL, 2), 0);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_drain(lim, CLOCK_REALTIME, &past), 0);
    /* a paused or closed limiter with nothing in it is idle too */
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 0), 0);
    ck_assert_int_eq(caplimit_drain(lim, CLOCK_MONOTONIC, &past), 0);
    ck_assert_int_eq(caplimit_close(lim), 0);
    ck_assert_int_eq(caplimit_drain(lim, CLOCK_MONOTONIC, NULL), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R29_arguments_checked_first)
{
    caplimit_t *lim = harness_make(2);
    struct timespec ok = harness_deadline_ms(1000);
    struct timespec neg = { 0, -1 }, big = { 0, 1000000000L }, past = { 0, 0 };
    struct caplimit_counters before = harness_counters(lim), after;

    ck_assert_int_eq(caplimit_drain(NULL, CLOCK_MONOTONIC, NULL), EINVAL);
    ck_assert_int_eq(caplimit_drain(NULL, CLOCK_MONOTONIC, &ok), EINVAL);
    /* even on an idle limiter, which would return 0 at once */
    ck_assert_int_eq(caplimit_drain(lim, CLOCK_MONOTONIC, &neg), EINVAL);
    ck_assert_int_eq(caplimit_drain(lim, CLOCK_REALTIME, &big), EINVAL);
    ck_assert_int_eq(caplimit_drain(lim, CLOCK_PROCESS_CPUTIME_ID, &past), EINVAL);
    ck_assert_int_eq(caplimit_drain(lim, (clockid_t)4242, &ok), EINVAL);
    ck_assert_int_eq(caplimit_drain(lim, (clockid_t)-1, &past), EINVAL);
    /* and on a busy one */
    ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[0], 1), 0);
    ck_assert_int_eq(caplimit_drain(lim, CLOCK_MONOTONIC, &big), EINVAL);
    ck_assert_int_eq(caplimit_drain(lim, CLOCK_THREAD_CPUTIME_ID, &ok), EINVAL);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 1);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    after = harness_counters(lim);
    ck_assert_uint_eq(after.granted_at_once, before.granted_at_once + 1);
    after.granted_at_once--;
    ck_assert(counters_equal(&before, &after));
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* NULL abstime: the clock is not looked at. */
START_TEST(test_R29_null_abstime_ignores_the_clock)
{
    caplimit_t *lim = harness_make(2);
    struct drainer d;

    ck_assert_int_eq(caplimit_drain(lim, (clockid_t)4242, NULL), 0);
    ck_assert_int_eq(caplimit_drain(lim, CLOCK_PROCESS_CPUTIME_ID, NULL), 0);
    ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[0], 2), 0);
    drainer_start(&d, lim, (clockid_t)4242, -1);
    drainer_poll_asleep(&d);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_int_eq(drainer_join(&d), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- Waiting for the limiter to be idle --------------------------------- */

START_TEST(test_R29_waits_for_holders)
{
    caplimit_t *lim = harness_make(4);
    struct drainer d;

    ck_assert_int_eq(caplimit_acquire_tokens(lim, NULL, 2), 0);
    ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[0], 1), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[1]), 0);
    drainer_start(&d, lim, CLOCK_MONOTONIC, -1);
    drainer_poll_asleep(&d);
    /* it takes no token */
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 4);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    drainer_poll_asleep(&d);
    ck_assert_int_eq(caplimit_release_tokens(lim, NULL, 1), 0);      /* partial */
    drainer_poll_asleep(&d);
    ck_assert_int_eq(caplimit_release(lim), 0);
    drainer_poll_asleep(&d);
    ck_assert_int_eq(caplimit_destroy(lim), EBUSY);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[1]), 0);
    ck_assert_int_eq(drainer_join(&d), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R29_waits_for_waiters_to_leave)
{
    caplimit_t *lim = harness_make(2);
    struct harness_waiter w, t;
    struct drainer d;

    /* a waiter that is granted, holds, releases */
    ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[0], 2), 0);
    harness_waiter_init(&w, lim, HARNESS_OBJ_UNTIL, &objs[1], 1);
    w.n = 2;
    harness_waiter_queue(&w, 1);
    drainer_start(&d, lim, CLOCK_REALTIME, 600000);
    drainer_poll_asleep(&d);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_int_eq(harness_waiter_wait_rc(&w), 0);
    drainer_poll_asleep(&d);
    harness_waiter_go(&w);
    ck_assert_int_eq(drainer_join(&d), 0);
    ck_assert_int_eq(harness_waiter_join(&w), 0);

    /* a waiter on a paused limiter that leaves by its deadline */
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 0), 0);
    harness_waiter_init(&t, lim, HARNESS_UNTIL, NULL, 0);
    t.n = 1;
    t.until_ms = harness_span_ms(300);
    harness_waiter_run(&t);
    POLL_UNTIL(caplimit_threads_waiting(lim) == 1 || harness_waiter_rc(&t) != HARNESS_RC_PENDING);
    drainer_start(&d, lim, CLOCK_MONOTONIC, -1);
    ck_assert_int_eq(harness_waiter_join(&t), ETIMEDOUT);
    ck_assert_int_eq(drainer_join(&d), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* Waiters woken by close are still inside until they return: drain waits
 * for them (one is held off in a signal handler inside its wait). */
START_TEST(test_R29_waits_for_close_woken_waiters)
{
    caplimit_t *lim = harness_make(0);
    struct harness_waiter a, b;
    struct drainer d;

    harness_waiter_init(&a, lim, HARNESS_PLAIN, NULL, 0);
    a.n = 2;
    harness_waiter_queue(&a, 1);
    harness_waiter_init(&b, lim, HARNESS_OBJ, &objs[0], 0);
    b.n = 1;
    harness_waiter_queue(&b, 2);
    drainer_start(&d, lim, CLOCK_MONOTONIC, 600000);
    drainer_poll_asleep(&d);
    POLL_UNTIL(caplimit_threads_waiting(lim) == 2);
    harness_stall(a.thread);
    ck_assert_int_eq(caplimit_close(lim), 0);
    ck_assert_int_eq(harness_waiter_join(&b), ECANCELED);
    /* a is out of the queue but still inside the limiter */
    ck_assert_uint_eq(caplimit_threads_waiting(lim), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    drainer_poll_asleep(&d);
    ck_assert_int_eq(caplimit_destroy(lim), EBUSY);
    harness_unstall();
    ck_assert_int_eq(harness_waiter_join(&a), ECANCELED);
    ck_assert_int_eq(drainer_join(&d), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* The last one out may be a waiter ended by pthread_cancel (R7) or a
 * holder whose thread ends (R22): the drainer is woken either way. */
static void *hold_then_wait_for_cancel(void *arg)
{
    caplimit_t *lim = arg;

    WORKER_CHECK(caplimit_acquire_tokens(lim, NULL, 2) == 0);
    for (;;)
        pthread_testcancel();
    return NULL;
}

START_TEST(test_R29_woken_by_a_cancelled_waiter_or_a_thread_exit)
{
    caplimit_t *lim = harness_make(0);
    struct harness_waiter w;
    struct drainer d;
    pthread_t t;

    harness_waiter_init(&w, lim, HARNESS_UNTIL, NULL, 0);
    w.n = 3;
    harness_waiter_queue(&w, 1);
    drainer_start(&d, lim, CLOCK_MONOTONIC, -1);
    drainer_poll_asleep(&d);
    ck_assert_int_eq(pthread_cancel(w.thread), 0);
    ck_assert_int_eq(harness_waiter_join(&w), HARNESS_RC_CANCELLED);
    ck_assert_int_eq(drainer_join(&d), 0);

    ck_assert_int_eq(caplimit_set_total_tokens(lim, 2), 0);
    harness_spawn(&t, hold_then_wait_for_cancel, lim);
    POLL_UNTIL(caplimit_borrowed_tokens(lim) == 2);
    drainer_start(&d, lim, CLOCK_REALTIME, -1);
    drainer_poll_asleep(&d);
    ck_assert_int_eq(pthread_cancel(t), 0);
    harness_join_cancelled(t);
    ck_assert_int_eq(drainer_join(&d), 0);
    ck_assert_uint_eq(harness_counters(lim).abandoned, 2);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R29_times_out_on_both_clocks)
{
    caplimit_t *lim = harness_make(1);
    struct timespec past = { 0, 0 }, t;
    struct caplimit_counters before, after;
    static const clockid_t clocks[2] = { CLOCK_MONOTONIC, CLOCK_REALTIME };
    int i;

    ck_assert_int_eq(caplimit_acquire_tokens(lim, NULL, 1), 0);
    before = harness_counters(lim);
    for (i = 0; i < 2; i++) {
        struct timespec t0;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        t = harness_deadline_on(clocks[i], 30);
        ck_assert_int_eq(caplimit_drain(lim, clocks[i], &t), ETIMEDOUT);
        ck_assert_int_ge(harness_ms_since(&t0), 25);
        ck_assert_int_eq(caplimit_drain(lim, clocks[i], &past), ETIMEDOUT);
    }
    /* R19: a drain is no acquire */
    after = harness_counters(lim);
    ck_assert(counters_equal(&before, &after));
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 1);
    ck_assert_int_eq(caplimit_release(lim), 0);
    /* the timed-out drainers left nothing behind */
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- Cancellation ------------------------------------------------------- */

static void pending_cancel_case(int busy)
{
    caplimit_t *lim = harness_make(1);
    struct drainer d;

    if (busy)
        ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[0], 1), 0);
    memset(&d, 0, sizeof d);
    d.lim = lim;
    d.clock = CLOCK_MONOTONIC;
    d.pend_cancel = 1;
    d.rc = HARNESS_RC_PENDING;
    harness_spawn(&d.thread, drainer_main, &d);
    POLL_UNTIL(LOAD(&d.ready));
    ck_assert_int_eq(pthread_cancel(d.thread), 0);
    STORE(&d.go, 1);
    ck_assert_int_eq(drainer_join(&d), HARNESS_RC_CANCELLED);
    ck_assert_int_eq(LOAD(&d.rc), HARNESS_RC_PENDING);
    if (busy)
        ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}

START_TEST(test_R29_cancel_pending_on_entry)
{
    pending_cancel_case(1);
    pending_cancel_case(0);
}
END_TEST

/* Cancelled while it drains: no trace (destroy succeeds), and the other
 * drainers are still woken. */
START_TEST(test_R29_cancel_while_draining_leaves_no_trace)
{
    caplimit_t *lim = harness_make(3);
    struct drainer d[3];
    int victim, i;

    for (victim = 0; victim < 3; victim++) {
        ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[0], 3), 0);
        for (i = 0; i < 3; i++) {
            drainer_start(&d[i], lim, i == 1 ? CLOCK_REALTIME : CLOCK_MONOTONIC,
                          i == 2 ? -1 : 600000);
            drainer_poll_asleep(&d[i]);
        }
        ck_assert_int_eq(pthread_cancel(d[victim].thread), 0);
        ck_assert_int_eq(drainer_join(&d[victim]), HARNESS_RC_CANCELLED);
        ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
        for (i = 0; i < 3; i++)
            if (i != victim)
                ck_assert_int_eq(drainer_join(&d[i]), 0);
        ck_assert_uint_eq(harness_counters(lim).cancelled, 0);
    }
    /* the only drainer, cancelled, then destroy */
    ck_assert_int_eq(caplimit_acquire_tokens(lim, NULL, 1), 0);
    drainer_start(&d[0], lim, CLOCK_MONOTONIC, -1);
    drainer_poll_asleep(&d[0]);
    ck_assert_int_eq(pthread_cancel(d[0].thread), 0);
    ck_assert_int_eq(drainer_join(&d[0]), HARNESS_RC_CANCELLED);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- Counters ----------------------------------------------------------- */

START_TEST(test_R29_not_counted_as_an_acquire)
{
    caplimit_t *lim = harness_make(1);
    struct caplimit_counters before, after;
    struct timespec past = { 0, 0 };
    struct drainer d;

    ck_assert_int_eq(caplimit_drain(lim, CLOCK_MONOTONIC, NULL), 0);
    ck_assert_int_eq(caplimit_drain(lim, CLOCK_MONOTONIC, &past), 0);
    after = harness_counters(lim);
    ck_assert_uint_eq(after.granted_at_once + after.granted_after_wait + after.would_block
                      + after.timed_out + after.cancelled + after.closed_out, 0);
    ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[0], 1), 0);
    before = harness_counters(lim);
    ck_assert_int_eq(caplimit_drain(lim, CLOCK_MONOTONIC, &past), ETIMEDOUT);
    drainer_start(&d, lim, CLOCK_MONOTONIC, -1);
    drainer_poll_asleep(&d);
    ck_assert_uint_eq(caplimit_threads_waiting(lim), 0);   /* not a waiter */
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_int_eq(drainer_join(&d), 0);
    after = harness_counters(lim);
    ck_assert(counters_equal(&before, &after));
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- Shutdown: close, drain, destroy ------------------------------------ */

static size_t returned(struct harness_waiter *w, int n)
{
    size_t k = 0;
    int i;

    for (i = 0; i < n; i++)
        k += harness_waiter_rc(&w[i]) != HARNESS_RC_PENDING;
    return k;
}

/* Many threads, each making one acquire (weighted, any variant): some
 * hold, many wait.  close, then drain, then destroy must return 0 at
 * once: no retry loop.  Holders give back concurrently with the drain;
 * nobody touches the limiter after its last call returns. */
START_TEST(test_R29_close_drain_destroy_shutdown)
{
    enum { N = 32 };
    static char bs[N];
    int round, rounds = harness_scale(20);

    for (round = 0; round < rounds; round++) {
        caplimit_t *lim = harness_make(6);
        struct harness_waiter w[N];
        int i, ok = 0, closed = 0;

        for (i = 0; i < N; i++) {
            enum harness_variant v = (enum harness_variant)((i + round) % HARNESS_NVARIANTS);
            harness_waiter_init(&w[i], lim, v, &bs[i], 1);
            w[i].n = 1 + (size_t)((i * 7 + round) % 4);
            harness_waiter_run(&w[i]);
        }
        /* every one has made its call: granted, refused, or queued (no
         * token is released before close, so none moves meanwhile) */
        POLL_UNTIL(returned(w, N) + caplimit_threads_waiting(lim) == N);
        ck_assert_int_eq(caplimit_close(lim), 0);
        for (i = 0; i < N; i++)
            harness_waiter_go(&w[i]);
        ck_assert_int_eq(caplimit_drain(lim, CLOCK_MONOTONIC, NULL), 0);
        ck_assert_int_eq(caplimit_destroy(lim), 0);
        for (i = 0; i < N; i++) {
            int rc = harness_waiter_join(&w[i]);
            ck_assert_msg(rc == 0 || rc == ECANCELED || rc == EWOULDBLOCK, "rc %d", rc);
            ok += rc == 0;
            closed += rc == ECANCELED;
        }
        ck_assert_int_ge(closed, N / 2);
        (void)ok;
    }
    harness_assert_no_worker_failures();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("R29 drain");
    TCase *tc = tcase_create("drain");

    tcase_add_test(tc, test_R29_idle_returns_at_once);
    tcase_add_test(tc, test_R29_arguments_checked_first);
    tcase_add_test(tc, test_R29_null_abstime_ignores_the_clock);
    tcase_add_test(tc, test_R29_waits_for_holders);
    tcase_add_test(tc, test_R29_waits_for_waiters_to_leave);
    tcase_add_test(tc, test_R29_waits_for_close_woken_waiters);
    harness_add_cancel_test(tc, test_R29_woken_by_a_cancelled_waiter_or_a_thread_exit);
    tcase_add_test(tc, test_R29_times_out_on_both_clocks);
    tcase_add_test(tc, test_R29_cancel_pending_on_entry);
    harness_add_cancel_test(tc, test_R29_cancel_while_draining_leaves_no_trace);
    tcase_add_test(tc, test_R29_not_counted_as_an_acquire);
    tcase_add_test(tc, test_R29_close_drain_destroy_shutdown);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
