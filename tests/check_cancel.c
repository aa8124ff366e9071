/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * R7: the waiting acquires are cancellation points; no token is lost and
 * no record stays behind, whenever the cancellation lands.
 */
#include "core_util.h"

static char objs[8];
static const enum cu_op waiting_ops[4] = { CU_ACQUIRE, CU_UNTIL, CU_OBJ, CU_OBJ_UNTIL };

static void join_cancelled(pthread_t t)
{
    void *ret = NULL;
    ck_assert_int_eq(pthread_join(t, &ret), 0);
    ck_assert_ptr_eq(ret, PTHREAD_CANCELED);
}

/* Nothing of the cancelled borrower stays: the limiter works as new. */
static void assert_clean(caplimit_t *lim, size_t borrowed)
{
    struct caplimit_counters c;

    cu_assert_counts(lim, borrowed, 0);
    ck_assert_int_eq(caplimit_counters(lim, &c), 0);
    ck_assert_uint_eq(c.abandoned, 0);       /* R22 had nothing to rescue */
}

START_TEST(test_R7_cancel_while_queued)
{
    caplimit_t *lim;
    struct cu_worker w;
    int i;

    ck_assert_int_eq(caplimit_create(&lim, 1), 0);
    for (i = 0; i < 4; i++) {
        ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[0]), 0);
        cu_init(&w, lim, waiting_ops[i], &objs[1], 1);
        w.clock = i % 2 ? CLOCK_REALTIME : CLOCK_MONOTONIC;
        cu_queue(&w, 1);
        ck_assert_int_eq(pthread_cancel(w.thread), 0);
        join_cancelled(w.thread);
        ck_assert_int_eq(cu_rc(&w), CU_PENDING);
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
    struct cu_worker w[3];
    int i;

    ck_assert_int_eq(caplimit_create(&lim, 1), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[0]), 0);
    for (i = 0; i < 3; i++) {
        cu_init(&w[i], lim, i == 1 ? CU_ACQUIRE : CU_OBJ, &objs[1 + i], 1);
        cu_queue(&w[i], (size_t)i + 1);
    }
    ck_assert_int_eq(pthread_cancel(w[1].thread), 0);
    join_cancelled(w[1].thread);
    cu_assert_counts(lim, 1, 2);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_int_eq(cu_wait_rc(&w[0]), 0);
    ck_assert_int_eq(cu_rc(&w[2]), CU_PENDING);
    cu_finish(&w[0]);
    ck_assert_int_eq(cu_wait_rc(&w[2]), 0);
    cu_finish(&w[2]);
    assert_clean(lim, 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- A cancellation pending on entry ------------------------------------ */

struct r7_entry {
    caplimit_t *lim;
    enum cu_op op;
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
    a->rc = cu_acquire(a->lim, a->op, a->obj, CLOCK_MONOTONIC, &t);
    atomic_store(&a->returned, 1);
    if (a->rc == 0)
        cu_release(a->lim, a->op, a->obj);
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
        ck_assert_int_eq(caplimit_create(&lim, (size_t)total), 0);
        for (i = 0; i < 4; i++) {
            struct r7_entry a;
            struct caplimit_counters c;
            pthread_t t;

            memset(&a, 0, sizeof a);
            a.lim = lim;
            a.op = waiting_ops[i];
            a.obj = &objs[2];
            r7_cancel_pending(&a, &t, r7_entry_main);
            join_cancelled(t);
            ck_assert_int_eq(atomic_load(&a.returned), 0);
            cu_assert_counts(lim, 0, 0);
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

    ck_assert_int_eq(caplimit_create(&lim, 2), 0);
    memset(&a, 0, sizeof a);
    a.lim = lim;
    a.obj = &objs[2];
    r7_cancel_pending(&a, &t, r7_not_points_main);
    join_cancelled(t);
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

static void r7_race(enum cu_op op, int with_second)
{
    caplimit_t *lim;
    int i, cancelled = 0;

    ck_assert_int_eq(caplimit_create(&lim, 1), 0);
    for (i = 0; i < R7_RACE_ROUNDS; i++) {
        struct cu_worker w, second;
        void *ret = NULL;

        ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[0]), 0);
        cu_init(&w, lim, op, &objs[1], 0);
        cu_queue(&w, 1);
        if (with_second) {
            cu_init(&second, lim, CU_OBJ, &objs[2], 1);
            cu_queue(&second, 2);
        }
        ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
        ck_assert_int_eq(pthread_cancel(w.thread), 0);
        ck_assert_int_eq(pthread_join(w.thread, &ret), 0);
        if (ret == PTHREAD_CANCELED) {
            cancelled++;
        } else {
            ck_assert_int_eq(cu_rc(&w), 0);
            ck_assert_int_eq(atomic_load(&w.done), 1);
        }
        ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &objs[1]), 0);
        if (with_second) {
            /* the token went on to the next in line */
            ck_assert_int_eq(cu_wait_rc(&second), 0);
            assert_clean(lim, 1);
            cu_finish(&second);
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
    r7_race(CU_OBJ, 0);
    r7_race(CU_OBJ_UNTIL, 1);
}
END_TEST

START_TEST(test_R7_cancel_at_hand_off_loses_no_token_thread)
{
    r7_race(CU_ACQUIRE, 0);
    r7_race(CU_UNTIL, 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cancel");
    TCase *tc = tcase_create("cancel");

    tcase_add_test(tc, test_R7_cancel_while_queued);
    tcase_add_test(tc, test_R7_cancel_in_the_middle_keeps_fifo);
    tcase_add_test(tc, test_R7_pending_cancellation_acts_before_anything_is_taken);
    tcase_add_test(tc, test_R7_nowait_and_the_others_are_not_cancellation_points);
    tcase_add_test(tc, test_R7_cancel_at_hand_off_loses_no_token_object);
    tcase_add_test(tc, test_R7_cancel_at_hand_off_loses_no_token_thread);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
