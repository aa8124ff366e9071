/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * R6 against the clocks themselves: deadlines far away, and steps of
 * CLOCK_REALTIME.  This program defines clock_gettime: the library's calls
 * (it is a shared object) come here, so a test can make CLOCK_REALTIME read
 * other than the kernel's, which is how a step of that clock looks to
 * code that read it before the step.  The kernel's clocks, which time the
 * waits themselves, are left alone.
 *
 * Meant for both builds: with pthread_cond_clockwait, and without it
 * (configure ac_cv_func_pthread_cond_clockwait=no; musl).
 */
#include "config.h"
#include "harness.h"

#include <limits.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Seconds added to the kernel's CLOCK_REALTIME as this program reads it. */
static long realtime_offset;

int clock_gettime(clockid_t clk, struct timespec *ts)
{
    if (syscall(SYS_clock_gettime, clk, ts) != 0)
        return -1;
    if (clk == CLOCK_REALTIME)
        ts->tv_sec += LOAD(&realtime_offset);
    return 0;
}

static void step_realtime(long seconds)
{
    __atomic_fetch_add(&realtime_offset, seconds, __ATOMIC_SEQ_CST);
}

static int ts_ge(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec > b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec >= b->tv_nsec);
}

/* Polls until w has queued as the only waiter, or returned early. */
static void queue_or_return(struct harness_waiter *w)
{
    harness_waiter_run(w);
    POLL_UNTIL(caplimit_threads_waiting(w->lim) == 1
               || harness_waiter_rc(w) != HARNESS_RC_PENDING);
}

/* Stays pending for ms of CLOCK_MONOTONIC: what a wait that ends early
 * would not do.  (Not synchronisation: the absence of an event.) */
static void assert_pending_for(struct harness_waiter *w, long ms)
{
    struct timespec t0;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (harness_ms_since(&t0) < ms) {
        ck_assert_int_eq(harness_waiter_rc(w), HARNESS_RC_PENDING);
        harness_yield();
    }
}

/* The lock-free waiter is granted as soon as the holder releases. */
static void release_and_grant(caplimit_t *lim, struct harness_waiter *w)
{
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(harness_waiter_wait_rc(w), 0);
    harness_waiter_finish(w);
    harness_assert_no_worker_failures();
    harness_assert_counts(lim, 0, 0);
}

/* A CLOCK_MONOTONIC deadline owes nothing to CLOCK_REALTIME: the
 * realtime clock reads an hour behind the kernel's (it stepped by +1 h
 * just after the library read it), and the wait still lasts its span. */
START_TEST(test_R6_monotonic_deadline_ignores_a_realtime_step)
{
    caplimit_t *lim = harness_make(1);
    struct harness_waiter w;
    struct timespec now;

    ck_assert_int_eq(caplimit_acquire(lim), 0);
    step_realtime(-3600);
    harness_waiter_init(&w, lim, HARNESS_UNTIL, NULL, HARNESS_HOLD);
    w.clock = CLOCK_MONOTONIC;
    w.abstime = harness_deadline_ms(harness_span_ms(500));
    queue_or_return(&w);
    ck_assert_int_eq(harness_waiter_wait_rc(&w), ETIMEDOUT);
    clock_gettime(CLOCK_MONOTONIC, &now);
    ck_assert(ts_ge(&now, &w.abstime));
    harness_waiter_join(&w);
    harness_assert_no_worker_failures();
    harness_assert_counts(lim, 1, 0);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* "Deadlines on CLOCK_REALTIME follow steps of that clock": a step back
 * puts the deadline further off, a step forward past it ends the wait. */
START_TEST(test_R6_realtime_deadline_follows_steps)
{
#ifdef HAVE_PTHREAD_COND_CLOCKWAIT
    /* the kernel times the wait on its own CLOCK_REALTIME, which this
     * program cannot step */
    return;
#else
    caplimit_t *lim = harness_make(1);
    struct harness_waiter w;
    struct timespec now, t0;

    ck_assert_int_eq(caplimit_acquire(lim), 0);
    harness_waiter_init(&w, lim, HARNESS_UNTIL, NULL, HARNESS_HOLD);
    w.clock = CLOCK_REALTIME;
    w.abstime = harness_deadline_on(CLOCK_REALTIME, 300);
    queue_or_return(&w);
    step_realtime(-3600);
    assert_pending_for(&w, harness_span_ms(1500));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    step_realtime(2 * 3600);
    ck_assert_int_eq(harness_waiter_wait_rc(&w), ETIMEDOUT);
    /* noticed at the next wake-up: within a second or so */
    ck_assert_int_lt(harness_ms_since(&t0), harness_span_ms(3000));
    clock_gettime(CLOCK_REALTIME, &now);
    ck_assert(ts_ge(&now, &w.abstime));
    harness_waiter_join(&w);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
#endif
}
END_TEST

/* A deadline so far away that its distance in nanoseconds overflows a
 * 64-bit integer (292 years), up to {LONG_MAX, 999999999}: the wait
 * lasts until the grant. */
START_TEST(test_R6_far_deadlines_wait_for_the_grant)
{
    static const clockid_t clocks[2] = { CLOCK_MONOTONIC, CLOCK_REALTIME };
    caplimit_t *lim = harness_make(1);
    int c, far;

    for (c = 0; c < 2; c++) {
        for (far = 0; far < 3; far++) {
            struct harness_waiter w;

            ck_assert_int_eq(caplimit_acquire(lim), 0);
            harness_waiter_init(&w, lim, HARNESS_UNTIL, NULL, HARNESS_RELEASE_AT_ONCE);
            w.clock = clocks[c];
            clock_gettime(clocks[c], &w.abstime);
            if (far == 0) {
                w.abstime.tv_sec += 300L * 366 * 24 * 3600;
            } else if (far == 1) {
                w.abstime.tv_sec = LONG_MAX / 2;
            } else {
                w.abstime.tv_sec = LONG_MAX;
                w.abstime.tv_nsec = 999999999L;
            }
            queue_or_return(&w);
            ck_assert_msg(harness_waiter_rc(&w) == HARNESS_RC_PENDING,
                          "clock %d, deadline %d: returned %d at once", c, far,
                          harness_waiter_rc(&w));
            assert_pending_for(&w, 100);
            release_and_grant(lim, &w);
        }
    }
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("clock");
    TCase *tc = harness_tcase_create("clock");

    tcase_add_test(tc, test_R6_monotonic_deadline_ignores_a_realtime_step);
    tcase_add_test(tc, test_R6_realtime_deadline_follows_steps);
    tcase_add_test(tc, test_R6_far_deadlines_wait_for_the_grant);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
