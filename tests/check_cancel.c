/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * R7: the waiting acquires are cancellation points; no token is lost and
 * no record stays behind, whenever the cancellation lands.
 */
#include "harness.h"

#include <stdatomic.h>
#include <string.h>

static char objs[8];

/* Nothing of the cancelled borrower stays: the limiter works as new. */
static void assert_clean(caplimit_t *lim, size_t borrowed)
{
    struct caplimit_counters c;

    harness_assert_counts(lim, borrowed, 0);
    ck_assert_int_eq(caplimit_counters(lim, &c), 0);
    ck_assert_uint_eq(c.abandoned, 0);       /* R22 had nothing to rescue */
}

START_TEST(test_R7_cancel_while_queued)
{
    caplimit_t *lim;
    struct harness_waiter w;
    int i;

    lim = harness_make(1);
    for (i = 0; i < 4; i++) {
        ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[0]), 0);
        harness_waiter_init(&w, lim, harness_waiting_variants[i], &objs[1], HARNESS_HOLD);
        w.clock = i % 2 ? CLOCK_REALTIME : CLOCK_MONOTONIC;
        harness_waiter_queue(&w, 1);
        ck_assert_int_eq(pthread_cancel(w.thread), 0);
        harness_join_cancelled(w.thread);
        ck_assert_int_eq(harness_waiter_rc(&w), HARNESS_RC_PENDING);
        assert_clean(lim, 1);
        ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &objs[1]), 0);
        /* the borrower's record is gone: it may come back */
        ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &objs[1]), EWOULDBLOCK);
        ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
        assert_clean(lim, 0);
        ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &objs[1]), 0);
        ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[1]), 0);
    }
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R7_cancel_in_the_middle_keeps_fifo)
{
    caplimit_t *lim;
    struct harness_waiter w[3];
    int i;

    lim = harness_make(1);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[0]), 0);
    for (i = 0; i < 3; i++) {
        harness_waiter_init(&w[i], lim, i == 1 ? HARNESS_PLAIN : HARNESS_OBJ, &objs[1 + i], HARNESS_HOLD);
        harness_waiter_queue(&w[i], (size_t)i + 1);
    }
    ck_assert_int_eq(pthread_cancel(w[1].thread), 0);
    harness_join_cancelled(w[1].thread);
    harness_assert_counts(lim, 1, 2);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_int_eq(harness_waiter_wait_rc(&w[0]), 0);
    ck_assert_int_eq(harness_waiter_rc(&w[2]), HARNESS_RC_PENDING);
    harness_waiter_finish(&w[0]);
    ck_assert_int_eq(harness_waiter_wait_rc(&w[2]), 0);
    harness_waiter_finish(&w[2]);
    assert_clean(lim, 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- A cancellation pending on entry ------------------------------------ */

struct r7_entry {
    caplimit_t *lim;
    enum harness_variant op;
    const void *obj;
    atomic_int ready, cancelled, returned, reached;
    int rc;
};

/* Disables cancellation, lets the test thread cancel it, enables it
 * again (not a cancellation point): the cancellation is then pending. */
static void r7_make_pending(struct r7_entry *a)
{
    int old;

    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    atomic_store(&a->ready, 1);
    while (!atomic_load(&a->cancelled))
        harness_yield();
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
}

static void *r7_entry_main(void *arg)
{
    struct r7_entry *a = arg;
    struct timespec t = harness_deadline_ms(600000);

    r7_make_pending(a);
    a->rc = harness_acquire_at(a->lim, a->op, a->obj, CLOCK_MONOTONIC, &t);
    atomic_store(&a->returned, 1);
    if (a->rc == 0)
        harness_release_variant(a->lim, a->op, a->obj);
    return NULL;
}

static void r7_cancel_pending(struct r7_entry *a, pthread_t *t, void *(*fn)(void *))
{
    harness_spawn(t, fn, a);
    POLL_UNTIL(atomic_load(&a->ready));
    ck_assert_int_eq(pthread_cancel(*t), 0);
    atomic_store(&a->cancelled, 1);
}

START_TEST(test_R7_pending_cancellation_acts_before_anything_is_taken)
{
    caplimit_t *lim;
    int i, total;

    for (total = 0; total <= 1; total++) {
        lim = harness_make((size_t)total);
        for (i = 0; i < 4; i++) {
            struct r7_entry a;
            struct caplimit_counters c;
            pthread_t t;

            memset(&a, 0, sizeof a);
            a.lim = lim;
            a.op = harness_waiting_variants[i];
            a.obj = &objs[2];
            r7_cancel_pending(&a, &t, r7_entry_main);
            harness_join_cancelled(t);
            ck_assert_int_eq(atomic_load(&a.returned), 0);
            harness_assert_counts(lim, 0, 0);
            ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &objs[2]), 0);
            ck_assert_int_eq(caplimit_counters(lim, &c), 0);
            /* nothing was granted and given back behind our back */
            ck_assert_uint_eq(c.granted_at_once, 0);
            ck_assert_uint_eq(c.granted_after_wait, 0);
            ck_assert_uint_eq(c.abandoned, 0);
        }
        ck_assert_int_eq(caplimit_destroy(lim), 0);
    }
}
END_TEST

static void *r7_not_points_main(void *arg)
{
    struct r7_entry *a = arg;
    struct caplimit_statistics st;
    struct caplimit_counters c;
    char buf[64];

    r7_make_pending(a);
    WORKER_CHECK(caplimit_acquire_nowait(a->lim) == 0);
    WORKER_CHECK(caplimit_acquire_nowait(a->lim) == EDEADLK);
    WORKER_CHECK(caplimit_acquire_on_behalf_of_nowait(a->lim, a->obj) == 0);
    WORKER_CHECK(caplimit_acquire_on_behalf_of_nowait(a->lim, &objs[3]) == EWOULDBLOCK);
    WORKER_CHECK(caplimit_holds(a->lim) == 1);
    WORKER_CHECK(caplimit_borrowed_tokens(a->lim) == 2);
    WORKER_CHECK(caplimit_available_tokens(a->lim) == 0);
    WORKER_CHECK(caplimit_threads_waiting(a->lim) == 0);
    WORKER_CHECK(caplimit_statistics(a->lim, &st) == 0);
    caplimit_statistics_destroy(&st);
    WORKER_CHECK(caplimit_counters(a->lim, &c) == 0);
    WORKER_CHECK(caplimit_format(a->lim, buf, sizeof buf) > 0);
    WORKER_CHECK(caplimit_set_total_tokens(a->lim, 3) == 0);
    WORKER_CHECK(caplimit_release_on_behalf_of(a->lim, a->obj) == 0);
    WORKER_CHECK(caplimit_release(a->lim) == 0);
    WORKER_CHECK(caplimit_release(a->lim) == EPERM);
    atomic_store(&a->reached, 1);
    pthread_testcancel();
    atomic_store(&a->returned, 1);
    return NULL;
}

START_TEST(test_R7_nowait_and_the_others_are_not_cancellation_points)
{
    caplimit_t *lim;
    struct r7_entry a;
    pthread_t t;

    lim = harness_make(2);
    memset(&a, 0, sizeof a);
    a.lim = lim;
    a.obj = &objs[2];
    r7_cancel_pending(&a, &t, r7_not_points_main);
    harness_join_cancelled(t);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(atomic_load(&a.reached), 1);
    ck_assert_int_eq(atomic_load(&a.returned), 0);
    assert_clean(lim, 0);
    ck_assert_uint_eq(caplimit_total_tokens(lim), 3);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- Cancelled in the instant a token is handed to it ------------------- */

#define R7_RACE_ROUNDS 400

static void r7_race(enum harness_variant op, int with_second)
{
    caplimit_t *lim;
    int i, cancelled = 0;

    lim = harness_make(1);
    for (i = 0; i < R7_RACE_ROUNDS; i++) {
        struct harness_waiter w, second;
        int rc;

        ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[0]), 0);
        harness_waiter_init(&w, lim, op, &objs[1], HARNESS_RELEASE_AT_ONCE);
        w.clock = CLOCK_MONOTONIC;
        harness_waiter_queue(&w, 1);
        if (with_second) {
            harness_waiter_init(&second, lim, HARNESS_OBJ, &objs[2], HARNESS_HOLD);
            harness_waiter_queue(&second, 2);
        }
        ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
        ck_assert_int_eq(pthread_cancel(w.thread), 0);
        rc = harness_waiter_join(&w);
        if (rc == HARNESS_RC_CANCELLED) {
            cancelled++;
        } else {
            ck_assert_int_eq(rc, 0);
            ck_assert_int_eq(LOAD(&w.done), 1);
        }
        ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &objs[1]), 0);
        if (with_second) {
            /* the token went on to the next in line */
            ck_assert_int_eq(harness_waiter_wait_rc(&second), 0);
            assert_clean(lim, 1);
            harness_waiter_finish(&second);
        }
        assert_clean(lim, 0);
        ck_assert_int_eq(caplimit_acquire_nowait(lim), 0);
        ck_assert_int_eq(caplimit_release(lim), 0);
    }
    harness_assert_no_worker_failures();
    {
        /* every cancellation here came after the grant: counted once (R19) */
        struct caplimit_counters c;
        ck_assert_int_eq(caplimit_counters(lim, &c), 0);
        ck_assert_uint_eq(c.cancelled, (unsigned long long)cancelled);
        ck_assert_uint_eq(c.granted_after_wait,
                          (unsigned long long)((1 + with_second) * R7_RACE_ROUNDS - cancelled));
    }
    ck_assert_int_eq(caplimit_destroy(lim), 0);
    /* both outcomes are legal; the count is only informative */
    fprintf(stderr, "R7 race op %d second %d: %d/%d cancelled\n", (int)op, with_second,
            cancelled, R7_RACE_ROUNDS);
}

START_TEST(test_R7_cancel_at_hand_off_loses_no_token_object)
{
    r7_race(HARNESS_OBJ, 0);
    r7_race(HARNESS_OBJ_UNTIL, 1);
}
END_TEST

START_TEST(test_R7_cancel_at_hand_off_loses_no_token_thread)
{
    r7_race(HARNESS_PLAIN, 0);
    r7_race(HARNESS_UNTIL, 1);
}
END_TEST

/* R7 with R17: a woken head, for which a token was left free, is cancelled
 * before it takes it; its leaving must let the next waiter take the token
 * (the holder has gone, so nobody else would ever dispatch it). */
START_TEST(test_R7_R17_cancelled_woken_head_lets_the_next_take_the_token)
{
    caplimit_t *lim = harness_make(1);
    struct harness_waiter a, b;
    int obj;

    ck_assert_int_eq(caplimit_set_policy(lim, CAPLIMIT_POLICY_THROUGHPUT, 600000000000ULL), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &obj), 0);
    harness_waiter_init(&a, lim, HARNESS_PLAIN, NULL, HARNESS_HOLD);
    harness_waiter_queue(&a, 1);
    harness_waiter_init(&b, lim, HARNESS_PLAIN, NULL, HARNESS_HOLD);
    harness_waiter_queue(&b, 2);
    harness_stall(a.thread);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &obj), 0);
    /* R17, young head: the token stays free for A, which cannot run */
    harness_assert_counts(lim, 0, 2);
    harness_unstall_cancel(a.thread);
    ck_assert_int_eq(harness_waiter_join(&a), HARNESS_RC_CANCELLED);
    ck_assert_int_eq(harness_waiter_wait_rc(&b), 0);
    ck_assert_int_eq(harness_waiter_finish(&b), 0);
    harness_assert_counts(lim, 0, 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- Cancelled after the grant, while another thread releases ------- *
 *
 * R7, R21: a waiter cancelled after its grant, while another thread
 * released (and re-took, or re-entered) the object's token.
 */

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

    harness_waiter_init(&w, lim, HARNESS_OBJ, &obj, HARNESS_HOLD);
    harness_waiter_queue(&w, 1);
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

    harness_waiter_init(&w, lim, HARNESS_OBJ, &obj, HARNESS_HOLD);
    harness_waiter_queue(&w, 1);
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

/* With reentrancy on, another thread re-enters the object between the
 * grant and the cancellation.  The cancelled acquire's level goes, the
 * re-entry's stays, and no extra level is left behind (R21's EBUSY). */
START_TEST(test_R21_cancel_after_grant_object_reentered)
{
    caplimit_t *lim = harness_make(0);
    struct harness_waiter w;
    int obj;

    ck_assert_int_eq(caplimit_set_reentrant(lim, 1), 0);
    harness_waiter_init(&w, lim, HARNESS_OBJ, &obj, HARNESS_HOLD);
    harness_waiter_queue(&w, 1);
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

/* The first of these by racing: the cancellation, the grant, and another thread's release
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

int main(void)
{
    Suite *s = suite_create("cancel");
    TCase *tc = harness_tcase_create("cancel");

    harness_add_cancel_test(tc, test_R7_cancel_while_queued);
    harness_add_cancel_test(tc, test_R7_cancel_in_the_middle_keeps_fifo);
    tcase_add_test(tc, test_R7_pending_cancellation_acts_before_anything_is_taken);
    tcase_add_test(tc, test_R7_nowait_and_the_others_are_not_cancellation_points);
    harness_add_cancel_test(tc, test_R7_cancel_at_hand_off_loses_no_token_object);
    harness_add_cancel_test(tc, test_R7_cancel_at_hand_off_loses_no_token_thread);
    harness_add_handler_cancel_test(tc, test_R7_R17_cancelled_woken_head_lets_the_next_take_the_token);
#ifndef UNDER_TSAN
    harness_add_handler_cancel_test(tc, test_R7_cancel_after_grant_object_released_and_retaken);
    harness_add_handler_cancel_test(tc, test_R7_cancel_after_grant_object_released);
    harness_add_handler_cancel_test(tc, test_R21_cancel_after_grant_object_reentered);
#endif
    harness_add_cancel_test(tc, test_R7_cancel_racing_grant_and_object_release);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
