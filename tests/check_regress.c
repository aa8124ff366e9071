/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * Regressions for the review findings (notes/review.md, review2.md):
 *   F1/F2  R7, R21: a waiter cancelled after its grant, while another thread
 *          released (and re-took, or re-entered) the object's token
 *   F6     R17: a newcomer queued behind an old, woken head
 *   batch  R5, R17: one dispatch that signals more than CL_WAKE_BATCH waiters
 *   exit   R22: a thread that waited only for an object exits while its
 *          granter's signal (sent after the unlock) may be on its way
 */
#include "harness.h"

#include <string.h>

#define NBATCH 20                    /* more than CL_WAKE_BATCH (8) */

/* ---- F1, F2: cancel after the grant ------------------------------------ */

/* The cancellation unwinds from the stall's signal handler, which TSan
 * cannot follow: under TSan the racing version below stands in. */
#ifndef UNDER_TSAN
/* T1 is granted while stalled; another thread releases the object's token
 * and takes it again at once; then T1's cancellation is acted upon.  T1
 * must give back only its own grant: the new holder keeps its token. */
START_TEST(test_R7_cancel_after_grant_object_released_and_retaken)
{
    caplimit_t *lim = harness_make(0);
    struct harness_waiter w;
    int obj;

    harness_waiter_start(&w, lim, HARNESS_OBJ, &obj, HARNESS_NO_DEADLINE, HARNESS_HOLD);
    POLL_UNTIL(caplimit_threads_waiting(lim) == 1);
    harness_stall(w.thread);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 1), 0);
    /* R5: granted, not yet returned; R20: the object holds */
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 1);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &obj), 1);
    /* R2: any thread may release an object's token, and take it again */
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &obj), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &obj), 0);
    harness_unstall_cancel(w.thread);
    ck_assert_int_eq(harness_waiter_join(&w), HARNESS_RC_CANCELLED);
    ck_assert_uint_eq(harness_counters(lim).cancelled, 1);
    /* the second grant is untouched by the first one's cancellation */
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 1);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &obj), 1);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &obj), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &obj), EPERM);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* The same with the token released and nobody taking it again: the
 * cancelled waiter finds no entry and gives back nothing (no underflow). */
START_TEST(test_R7_cancel_after_grant_object_released)
{
    caplimit_t *lim = harness_make(0);
    struct harness_waiter w;
    int obj;

    harness_waiter_start(&w, lim, HARNESS_OBJ, &obj, HARNESS_NO_DEADLINE, HARNESS_HOLD);
    POLL_UNTIL(caplimit_threads_waiting(lim) == 1);
    harness_stall(w.thread);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 1), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &obj), 0);
    harness_unstall_cancel(w.thread);
    ck_assert_int_eq(harness_waiter_join(&w), HARNESS_RC_CANCELLED);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    ck_assert_uint_eq(caplimit_available_tokens(lim), 1);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &obj), 0);
    /* the token is usable: nothing was lost or counted twice */
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &obj), 0);
    ck_assert_int_eq(caplimit_acquire_nowait(lim), EWOULDBLOCK);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &obj), 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* F2: with reentrancy on, another thread re-enters the object between the
 * grant and the cancellation.  The cancelled acquire's level goes, the
 * re-entry's stays, and no extra level is left behind (R21's EBUSY). */
START_TEST(test_R21_cancel_after_grant_object_reentered)
{
    caplimit_t *lim = harness_make(0);
    struct harness_waiter w;
    int obj;

    ck_assert_int_eq(caplimit_set_reentrant(lim, 1), 0);
    harness_waiter_start(&w, lim, HARNESS_OBJ, &obj, HARNESS_NO_DEADLINE, HARNESS_HOLD);
    POLL_UNTIL(caplimit_threads_waiting(lim) == 1);
    harness_stall(w.thread);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 1), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &obj), 0);   /* level 2 */
    harness_unstall_cancel(w.thread);
    ck_assert_int_eq(harness_waiter_join(&w), HARNESS_RC_CANCELLED);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 1);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &obj), 1);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &obj), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &obj), EPERM);
    ck_assert_int_eq(caplimit_set_reentrant(lim, 0), 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST
#endif

struct canceller_arg {
    caplimit_t *lim;
    const void *obj;
};

static void *acquire_then_die(void *arg)
{
    struct canceller_arg *a = arg;
    int rc = caplimit_acquire_on_behalf_of(a->lim, a->obj);

    WORKER_CHECK(rc == 0);
    /* granted before the cancellation was seen: die holding the object's
     * token, which is the program's to release (R22) */
    for (;;)
        pthread_testcancel();
    return NULL;
}

/* F1 by racing: the cancellation, the grant, and another thread's release
 * and re-take of the object's token, in whatever order they fall.  After
 * each round the re-taker holds exactly one token. */
START_TEST(test_R7_cancel_racing_grant_and_object_release)
{
    caplimit_t *lim = harness_make(0);
    struct canceller_arg a;
    int obj, round, rc;

    a.lim = lim;
    a.obj = &obj;
    for (round = 0; round < 200; round++) {
        pthread_t t;

        harness_spawn(&t, acquire_then_die, &a);
        POLL_UNTIL(caplimit_threads_waiting(lim) == 1);
        ck_assert_int_eq(pthread_cancel(t), 0);
        ck_assert_int_eq(caplimit_set_total_tokens(lim, 1), 0);
        rc = caplimit_release_on_behalf_of(lim, &obj);
        ck_assert_msg(rc == 0 || rc == EPERM, "round %d: release gave %d", round, rc);
        ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &obj), 0);
        harness_join_cancelled(t);
        ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 1);
        ck_assert_uint_eq(caplimit_threads_waiting(lim), 0);
        ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &obj), 1);
        ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &obj), 0);
        ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
        ck_assert_int_eq(caplimit_set_total_tokens(lim, 0), 0);
    }
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- F6: R17 newcomer behind an old woken head ------------------------- */

/* THROUGHPUT, total 0 -> 2 with one young waiter: the release leaves both
 * tokens free and wakes the head, which is stalled until it is old.  A
 * newcomer must not sleep beside the free token: queueing behind the old
 * head hands off to both (review F6: it slept until its deadline).  (No
 * thread is started while the head is stalled: TSan's pthread_create
 * waits for the stalled thread.) */
START_TEST(test_R17_newcomer_behind_old_woken_head)
{
    caplimit_t *lim = harness_make(0);
    struct harness_waiter w;
    struct timespec t0, deadline;
    int newcomer;

    ck_assert_int_eq(caplimit_set_policy(lim, CAPLIMIT_POLICY_THROUGHPUT, 50000000ULL), 0);
    harness_waiter_start(&w, lim, HARNESS_PLAIN, NULL, HARNESS_NO_DEADLINE, HARNESS_HOLD);
    POLL_UNTIL(caplimit_threads_waiting(lim) == 1);
    clock_gettime(CLOCK_MONOTONIC, &t0);  /* the head's age starts by now */
    harness_stall(w.thread);
    /* young head: both tokens stay free, the head is woken (R17); on a
     * slow machine the head may already be old and is handed one (R5) */
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 2), 0);
    ck_assert_uint_le(caplimit_borrowed_tokens(lim), 1);
    POLL_UNTIL(harness_ms_since(&t0) > 100);
    deadline = harness_deadline_on(CLOCK_MONOTONIC, 5000);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_until(lim, &newcomer, CLOCK_MONOTONIC,
                                                         &deadline), 0);
    /* the stalled head was handed its token too: nobody is queued */
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 2);
    ck_assert_uint_eq(caplimit_threads_waiting(lim), 0);
    harness_unstall();
    POLL_UNTIL(harness_waiter_rc(&w) == 0);
    ck_assert_int_eq(harness_waiter_finish(&w), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &newcomer), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- More grants in one dispatch than the batch of deferred signals ---- */

static void batch_round(caplimit_t *lim)
{
    struct harness_waiter w[NBATCH];
    int objs[NBATCH];
    int i;

    for (i = 0; i < NBATCH; i++) {
        if (i % 2)
            harness_waiter_start(&w[i], lim, HARNESS_OBJ_UNTIL, &objs[i], 60000, HARNESS_HOLD);
        else
            harness_waiter_start(&w[i], lim, HARNESS_PLAIN, NULL, HARNESS_NO_DEADLINE, HARNESS_HOLD);
        POLL_UNTIL(caplimit_threads_waiting(lim) == (size_t)i + 1);
    }
    /* one dispatch: 8 signals after the unlock, 12 under the lock */
    ck_assert_int_eq(caplimit_set_total_tokens(lim, NBATCH), 0);
    for (i = 0; i < NBATCH; i++)
        POLL_UNTIL(harness_waiter_rc(&w[i]) == 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), NBATCH);
    ck_assert_uint_eq(caplimit_threads_waiting(lim), 0);
    for (i = 0; i < NBATCH; i++) {
        ck_assert_int_eq(harness_waiter_finish(&w[i]), 0);
    }
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
}

/* R5: a rise from 0 to 20 with 20 waiters queued grants all of them. */
START_TEST(test_R5_rise_grants_more_than_a_batch)
{
    caplimit_t *lim = harness_make(0);

    batch_round(lim);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* R17: the same with a young head: the rise wakes all 20 to take a token. */
START_TEST(test_R17_rise_wakes_more_than_a_batch)
{
    caplimit_t *lim = harness_make(0);

    ck_assert_int_eq(caplimit_set_policy(lim, CAPLIMIT_POLICY_THROUGHPUT, 60000000000ULL), 0);
    batch_round(lim);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- R22: an object waiter exits while its signal may be in flight ----- */

#define EXIT_ROUNDS 300

static const long deadlines_us[4] = { 0, 300, 1000, 10000000 };

struct exit_arg {
    caplimit_t *lim;
    long until_us;
    int rc;
    int done;
};

/* Registered only by its wait (object borrower, never a thread holder);
 * detached, so its stack and TLS go as soon as it ends.  Each round has
 * its own exit_arg: the handshake is atomics only, which helgrind does not
 * see as ordering, so a reused record would look like a race to it. */
static void *object_waiter(void *arg)
{
    struct exit_arg *a = arg;
    struct timespec t;
    int obj, rc;

    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += a->until_us / 1000000;
    t.tv_nsec += a->until_us % 1000000 * 1000;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    rc = caplimit_acquire_on_behalf_of_until(a->lim, &obj, CLOCK_MONOTONIC, &t);
    if (rc == 0)
        WORKER_CHECK(caplimit_release_on_behalf_of(a->lim, &obj) == 0);
    STORE(&a->rc, rc);
    STORE(&a->done, 1);
    return NULL;
}

static void spin_us(long us)
{
    struct timespec t0, now;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    do
        clock_gettime(CLOCK_MONOTONIC, &now);
    while ((now.tv_sec - t0.tv_sec) * 1000000L + (now.tv_nsec - t0.tv_nsec) / 1000 < us);
}

/* Each round a detached thread waits with a deadline of 0, 0.3 or 1 ms
 * (or 10 s, so that some rounds surely end in a grant), and the test thread
 * grants it (by a release, or by raising the total) at about that time:
 * the waiter may wake by its deadline, see GRANTED and exit before the
 * granter's signal, sent after the unlock, has gone out.
 * Its exit must wait for that signal (a use after free otherwise: TSan or
 * ASan see it; glibc may hang or crash). */
START_TEST(test_R22_object_waiter_exits_with_signal_in_flight)
{
    static struct exit_arg args[EXIT_ROUNDS];
    caplimit_t *lim = harness_make(1);
    pthread_attr_t attr;
    int round, holder, granted = 0;

    ck_assert_int_eq(pthread_attr_init(&attr), 0);
    ck_assert_int_eq(pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED), 0);
    for (round = 0; round < harness_scale(EXIT_ROUNDS); round++) {
        struct exit_arg *a = &args[round];  /* never reused: see below */
        pthread_t t;
        int by_release = round % 2 == 0;

        if (by_release)
            ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &holder), 0);
        else
            ck_assert_int_eq(caplimit_set_total_tokens(lim, 0), 0);
        a->lim = lim;
        a->until_us = deadlines_us[round / 2 % 4];
        ck_assert_int_eq(pthread_create(&t, &attr, object_waiter, a), 0);
        POLL_UNTIL(caplimit_threads_waiting(lim) == 1 || LOAD(&a->done));
        spin_us(a->until_us < 1000 ? a->until_us : 1000);
        if (by_release)
            ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &holder), 0);
        else
            ck_assert_int_eq(caplimit_set_total_tokens(lim, 1), 0);
        POLL_UNTIL(LOAD(&a->done));
        ck_assert_msg(a->rc == 0 || a->rc == ETIMEDOUT, "round %d: rc %d", round, a->rc);
        granted += a->rc == 0;
        ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
        ck_assert_uint_eq(caplimit_threads_waiting(lim), 0);
    }
    pthread_attr_destroy(&attr);
    /* the waiter's stack is gone when the limiter goes: R12 still holds */
    POLL_UNTIL(caplimit_destroy(lim) == 0);
    harness_assert_no_worker_failures();
    ck_assert_int_gt(granted, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("regressions");
    TCase *tc = harness_tcase_create("regress");

#ifndef UNDER_TSAN
    harness_add_handler_cancel_test(tc, test_R7_cancel_after_grant_object_released_and_retaken);
    harness_add_handler_cancel_test(tc, test_R7_cancel_after_grant_object_released);
    harness_add_handler_cancel_test(tc, test_R21_cancel_after_grant_object_reentered);
#endif
    harness_add_cancel_test(tc, test_R7_cancel_racing_grant_and_object_release);
    tcase_add_test(tc, test_R17_newcomer_behind_old_woken_head);
    tcase_add_test(tc, test_R5_rise_grants_more_than_a_batch);
    tcase_add_test(tc, test_R17_rise_wakes_more_than_a_batch);
    tcase_add_test(tc, test_R22_object_waiter_exits_with_signal_in_flight);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
