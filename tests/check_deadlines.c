/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * R6 deadlines on both clocks, and R13: signals do not end a wait.
 */
#include "harness.h"

#include <signal.h>
#include <stdatomic.h>
#include <string.h>

static char objs[8];
static const clockid_t clocks[2] = { CLOCK_REALTIME, CLOCK_MONOTONIC };

static int ts_ge(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec > b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec >= b->tv_nsec);
}

/* ---- R6 ----------------------------------------------------------------- */

START_TEST(test_R6_past_deadline_succeeds_when_a_token_is_free)
{
    caplimit_t *lim;
    struct timespec epoch = { 0, 0 };
    int c;

    lim = harness_make(2);
    for (c = 0; c < 2; c++) {
        struct timespec past = harness_deadline_on(clocks[c], -1000);
        ck_assert_int_eq(caplimit_acquire_until(lim, clocks[c], &past), 0);
        ck_assert_int_eq(caplimit_acquire_on_behalf_of_until(lim, &objs[0], clocks[c], &epoch),
                         0);
        harness_assert_counts(lim, 2, 0);
        ck_assert_int_eq(caplimit_release(lim), 0);
        ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    }
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R6_past_deadline_times_out_when_busy)
{
    caplimit_t *lim;
    struct timespec epoch = { 0, 0 };
    int c;

    lim = harness_make(1);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[0]), 0);
    for (c = 0; c < 2; c++) {
        struct timespec past = harness_deadline_on(clocks[c], -1000);
        ck_assert_int_eq(caplimit_acquire_until(lim, clocks[c], &past), ETIMEDOUT);
        ck_assert_int_eq(caplimit_acquire_on_behalf_of_until(lim, &objs[1], clocks[c], &epoch),
                         ETIMEDOUT);
        harness_assert_counts(lim, 1, 0);
        ck_assert_int_eq(caplimit_holds(lim), 0);
    }
    /* a timed-out borrower left nothing behind: it may queue again */
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &objs[1]), EWOULDBLOCK);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &objs[1]), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[1]), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R6_timeout_not_before_deadline_on_each_clock)
{
    caplimit_t *lim;
    int c;

    lim = harness_make(0);
    for (c = 0; c < 2; c++) {
        struct timespec dl = harness_deadline_on(clocks[c], 30), now;
        ck_assert_int_eq(caplimit_acquire_until(lim, clocks[c], &dl), ETIMEDOUT);
        clock_gettime(clocks[c], &now);
        ck_assert(ts_ge(&now, &dl));
        dl = harness_deadline_on(clocks[c], 30);
        ck_assert_int_eq(caplimit_acquire_on_behalf_of_until(lim, &objs[0], clocks[c], &dl),
                         ETIMEDOUT);
        clock_gettime(clocks[c], &now);
        ck_assert(ts_ge(&now, &dl));
        harness_assert_counts(lim, 0, 0);
    }
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R6_granted_before_deadline_returns_zero)
{
    caplimit_t *lim;
    struct harness_waiter w;
    int c;

    lim = harness_make(1);
    for (c = 0; c < 2; c++) {
        ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[0]), 0);
        harness_waiter_init(&w, lim, c ? HARNESS_UNTIL : HARNESS_OBJ_UNTIL, &objs[1], HARNESS_HOLD);
        w.clock = clocks[c];
        harness_waiter_queue(&w, 1);
        ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
        ck_assert_int_eq(harness_waiter_wait_rc(&w), 0);
        harness_waiter_finish(&w);
        harness_assert_counts(lim, 0, 0);
    }
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* Granted while it could not run, woken only after its deadline: the
 * grant wins (harness_stall keeps it in a signal handler meanwhile). */
START_TEST(test_R6_granted_waiter_returns_zero_though_deadline_passed)
{
    caplimit_t *lim;
    struct harness_waiter w;
    int c;

    lim = harness_make(1);
    for (c = 0; c < 2; c++) {
        ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[0]), 0);
        harness_waiter_init(&w, lim, c ? HARNESS_OBJ_UNTIL : HARNESS_UNTIL, &objs[1], HARNESS_HOLD);
        w.clock = clocks[c];
        w.abstime = harness_deadline_on(clocks[c], 1000);
        harness_waiter_queue(&w, 1);
        harness_stall(w.thread);
        /* stalled while still queued: it cannot time out by itself now */
        harness_assert_counts(lim, 1, 1);
        ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
        harness_assert_counts(lim, 1, 0);
        for (;;) {
            struct timespec now;
            clock_gettime(clocks[c], &now);
            if (ts_ge(&now, &w.abstime))
                break;
            harness_yield();
        }
        harness_unstall();
        ck_assert_int_eq(harness_waiter_wait_rc(&w), 0);
        harness_waiter_finish(&w);
        harness_assert_counts(lim, 0, 0);
    }
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* Holder H; A queued with a short deadline, B behind it for ever.  A's
 * timing out leaves B at the head: the next release goes to B. */
START_TEST(test_R6_timed_out_waiter_leaving_lets_the_next_in)
{
    caplimit_t *lim;
    struct harness_waiter a, b;
    int c;

    lim = harness_make(1);
    for (c = 0; c < 2; c++) {
        ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[0]), 0);
        harness_waiter_init(&a, lim, HARNESS_OBJ_UNTIL, &objs[1], HARNESS_HOLD);
        a.clock = clocks[c];
        a.abstime = harness_deadline_on(clocks[c], harness_span_ms(200));
        harness_waiter_queue(&a, 1);
        harness_waiter_init(&b, lim, HARNESS_OBJ, &objs[2], HARNESS_HOLD);
        b.clock = clocks[c];
        harness_waiter_run(&b);
        /* B normally queues behind A before A times out; either way, once
         * A has gone only B may be left in the queue */
        POLL_UNTIL(caplimit_threads_waiting(lim) == 2
                   || harness_waiter_rc(&a) != HARNESS_RC_PENDING);
        ck_assert_int_eq(harness_waiter_wait_rc(&a), ETIMEDOUT);
        POLL_UNTIL(caplimit_threads_waiting(lim) == 1);
        harness_assert_counts(lim, 1, 1);
        ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &objs[1]), 0);
        harness_join(a.thread);
        ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
        ck_assert_int_eq(harness_waiter_wait_rc(&b), 0);
        ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &objs[2]), 1);
        harness_waiter_finish(&b);
        harness_assert_counts(lim, 0, 0);
    }
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* Two waiters time out in the middle of a queue: the order of the rest
 * holds. */
START_TEST(test_R6_timeouts_in_the_middle_keep_fifo)
{
    caplimit_t *lim;
    struct harness_waiter w[4];
    int i;

    lim = harness_make(1);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[0]), 0);
    for (i = 0; i < 4; i++) {
        harness_waiter_init(&w[i], lim, HARNESS_OBJ_UNTIL, &objs[1 + i], HARNESS_HOLD);
        w[i].clock = CLOCK_MONOTONIC;
        /* well inside POLL_UNTIL's 10 s even where spans are ten times
         * longer (helgrind), so waiting for the timeouts cannot time out */
        if (i == 1 || i == 2)
            w[i].abstime = harness_deadline_ms(harness_span_ms(500));
        harness_waiter_queue(&w[i], (size_t)i + 1);
    }
    ck_assert_int_eq(harness_waiter_wait_rc(&w[1]), ETIMEDOUT);
    ck_assert_int_eq(harness_waiter_wait_rc(&w[2]), ETIMEDOUT);
    harness_assert_counts(lim, 1, 2);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_int_eq(harness_waiter_wait_rc(&w[0]), 0);
    ck_assert_int_eq(harness_waiter_rc(&w[3]), HARNESS_RC_PENDING);
    harness_waiter_finish(&w[0]);
    ck_assert_int_eq(harness_waiter_wait_rc(&w[3]), 0);
    harness_waiter_finish(&w[3]);
    harness_join(w[1].thread);
    harness_join(w[2].thread);
    harness_assert_counts(lim, 0, 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R6_bad_deadline_is_EINVAL_even_when_free)
{
    caplimit_t *lim;
    struct timespec bad[3], ok = harness_deadline_ms(1000);
    struct harness_state before;
    int i, c;

    bad[0] = ok;
    bad[0].tv_nsec = -1;
    bad[1] = ok;
    bad[1].tv_nsec = 1000000000L;
    bad[2] = ok;
    bad[2].tv_nsec = 2000000000L;
    lim = harness_make(1);
    harness_snap(lim, &before);
    for (c = 0; c < 2; c++) {
        for (i = 0; i < 3; i++) {
            ck_assert_int_eq(caplimit_acquire_until(lim, clocks[c], &bad[i]), EINVAL);
            ck_assert_int_eq(
                caplimit_acquire_on_behalf_of_until(lim, &objs[0], clocks[c], &bad[i]),
                EINVAL);
        }
        ck_assert_int_eq(caplimit_acquire_until(lim, clocks[c], NULL), EINVAL);
        ck_assert_int_eq(caplimit_acquire_on_behalf_of_until(lim, &objs[0], clocks[c], NULL),
                         EINVAL);
    }
    ck_assert_int_eq(caplimit_acquire_until(lim, CLOCK_PROCESS_CPUTIME_ID, &ok), EINVAL);
    ck_assert_int_eq(caplimit_acquire_until(lim, CLOCK_THREAD_CPUTIME_ID, &ok), EINVAL);
    ck_assert_int_eq(caplimit_acquire_until(lim, (clockid_t)12345, &ok), EINVAL);
    ck_assert_int_eq(
        caplimit_acquire_on_behalf_of_until(lim, &objs[0], CLOCK_PROCESS_CPUTIME_ID, &ok),
        EINVAL);
    harness_assert_unchanged(lim, &before);
    harness_snap_free(&before);

    /* EINVAL comes before R3 too */
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_int_eq(caplimit_acquire_until(lim, CLOCK_MONOTONIC, &bad[0]), EINVAL);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- R13 Signals -------------------------------------------------------- */

static atomic_int r13_handled;

static void r13_handler(int sig)
{
    (void)sig;
    atomic_fetch_add(&r13_handled, 1);
}

static void r13_install(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = r13_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;                 /* no SA_RESTART */
    ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
}

static void r13_pester(struct harness_waiter *w, int times)
{
    int i;

    for (i = 0; i < times; i++) {
        int before = atomic_load(&r13_handled);
        ck_assert_int_eq(pthread_kill(w->thread, SIGUSR1), 0);
        POLL_UNTIL(atomic_load(&r13_handled) > before);
        ck_assert_int_eq(harness_waiter_rc(w), HARNESS_RC_PENDING);
    }
}

START_TEST(test_R13_signals_do_not_end_a_wait)
{
    caplimit_t *lim;
    struct harness_waiter w;
    int i;

    r13_install();
    lim = harness_make(1);
    for (i = 0; i < HARNESS_NWAITING; i++) {
        ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[0]), 0);
        harness_waiter_init(&w, lim, harness_waiting_variants[i], &objs[1], HARNESS_HOLD);
        w.clock = clocks[i % 2];
        harness_waiter_queue(&w, 1);
        r13_pester(&w, 20);
        harness_assert_counts(lim, 1, 1);
        ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
        ck_assert_int_eq(harness_waiter_wait_rc(&w), 0);
        harness_waiter_finish(&w);
        harness_assert_counts(lim, 0, 0);
    }
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R13_signals_do_not_cut_a_deadline_short)
{
    caplimit_t *lim;
    struct harness_waiter w;
    struct timespec now;

    r13_install();
    lim = harness_make(0);
    harness_waiter_init(&w, lim, HARNESS_UNTIL, NULL, HARNESS_HOLD);
    w.abstime = harness_deadline_ms(harness_span_ms(300));
    harness_waiter_queue(&w, 1);
    while (harness_waiter_rc(&w) == HARNESS_RC_PENDING) {
        int before = atomic_load(&r13_handled);
        if (pthread_kill(w.thread, SIGUSR1) != 0)
            break;
        while (atomic_load(&r13_handled) == before && harness_waiter_rc(&w) == HARNESS_RC_PENDING)
            harness_yield();
    }
    ck_assert_int_eq(harness_waiter_wait_rc(&w), ETIMEDOUT);
    clock_gettime(CLOCK_MONOTONIC, &now);
    ck_assert(ts_ge(&now, &w.abstime));
    harness_waiter_finish(&w);
    harness_assert_counts(lim, 0, 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("deadlines");
    TCase *tc = harness_tcase_create("deadlines");

    tcase_add_test(tc, test_R6_past_deadline_succeeds_when_a_token_is_free);
    tcase_add_test(tc, test_R6_past_deadline_times_out_when_busy);
    tcase_add_test(tc, test_R6_timeout_not_before_deadline_on_each_clock);
    tcase_add_test(tc, test_R6_granted_before_deadline_returns_zero);
    tcase_add_test(tc, test_R6_granted_waiter_returns_zero_though_deadline_passed);
    tcase_add_test(tc, test_R6_timed_out_waiter_leaving_lets_the_next_in);
    tcase_add_test(tc, test_R6_timeouts_in_the_middle_keep_fifo);
    tcase_add_test(tc, test_R6_bad_deadline_is_EINVAL_even_when_free);
    tcase_add_test(tc, test_R13_signals_do_not_end_a_wait);
    tcase_add_test(tc, test_R13_signals_do_not_cut_a_deadline_short);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
