/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * R20: caplimit_holds and caplimit_holds_on_behalf_of.  White-box only to
 * check that they never allocate (cl_alloc_should_fail).
 */
#include "harness.h"
#include "../lib/internal.h"

#include <stdint.h>
#include <string.h>

START_TEST(test_R20_null_answers_zero)
{
    caplimit_t *lim = harness_make(1);
    int obj;

    ck_assert_int_eq(caplimit_holds(NULL), 0);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(NULL, &obj), 0);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, NULL), 0);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(NULL, NULL), 0);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, NULL), 0);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R20_thread_holds_one_then_zero)
{
    caplimit_t *lim = harness_make(2);

    ck_assert_int_eq(caplimit_holds(lim), 0);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_int_eq(caplimit_holds(lim), 1);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_holds(lim), 0);
    ck_assert_int_eq(caplimit_acquire_nowait(lim), 0);
    ck_assert_int_eq(caplimit_holds(lim), 1);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_holds(lim), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R20_object_holds_one_then_zero)
{
    caplimit_t *lim = harness_make(2);
    int a, b;

    ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &a), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &a), 0);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &a), 1);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &b), 0);
    ck_assert_int_eq(caplimit_holds(lim), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &a), 0);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &a), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* R2: a thread borrower is never an object borrower with the same bits. */
START_TEST(test_R20_thread_and_object_are_distinct)
{
    caplimit_t *lim = harness_make(2);
    const void *same_bits = (const void *)(uintptr_t)pthread_self();

    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, same_bits), 0);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, same_bits), 0);
    ck_assert_int_eq(caplimit_holds(lim), 0);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, same_bits), 1);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, same_bits), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

struct peek {
    caplimit_t *lim;
    const void *obj;
    int holds, holds_obj;
};

static void *peek_main(void *arg)
{
    struct peek *p = arg;
    p->holds = caplimit_holds(p->lim);
    p->holds_obj = caplimit_holds_on_behalf_of(p->lim, p->obj);
    return NULL;
}

/* Another thread does not hold the caller's token; an object is seen from
 * every thread. */
START_TEST(test_R20_per_thread_answer)
{
    caplimit_t *lim = harness_make(2);
    struct peek p;
    pthread_t t;
    int obj;

    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &obj), 0);
    p.lim = lim;
    p.obj = &obj;
    p.holds = p.holds_obj = -1;
    harness_spawn(&t, peek_main, &p);
    harness_join(t);
    ck_assert_int_eq(p.holds, 0);
    ck_assert_int_eq(p.holds_obj, 1);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &obj), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* A queued borrower does not hold; once granted it does. */
START_TEST(test_R20_queued_borrower_does_not_hold)
{
    caplimit_t *lim = harness_make(1);
    struct harness_waiter w;
    int obj;

    ck_assert_int_eq(caplimit_acquire(lim), 0);
    harness_waiter_init(&w, lim, HARNESS_OBJ, &obj, HARNESS_HOLD);
    harness_waiter_queue(&w, 1);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &obj), 0);
    ck_assert_int_eq(caplimit_release(lim), 0);
    POLL_UNTIL(harness_waiter_rc(&w) == 0);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &obj), 1);
    ck_assert_int_eq(caplimit_holds(lim), 0);
    ck_assert_int_eq(harness_waiter_finish(&w), 0);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &obj), 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* Refused acquires leave nothing held. */
START_TEST(test_R20_refused_acquires_hold_nothing)
{
    caplimit_t *lim = harness_make(1);
    struct timespec soon = harness_deadline_ms(10);
    int obj, other;

    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &other), 0);
    ck_assert_int_eq(caplimit_acquire_nowait(lim), EWOULDBLOCK);
    ck_assert_int_eq(caplimit_holds(lim), 0);
    ck_assert_int_eq(caplimit_acquire_until(lim, CLOCK_MONOTONIC, &soon), ETIMEDOUT);
    ck_assert_int_eq(caplimit_holds(lim), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &obj), EWOULDBLOCK);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &obj), 0);
    ck_assert_int_eq(caplimit_close(lim), 0);
    ck_assert_int_eq(caplimit_acquire_nowait(lim), ECANCELED);
    ck_assert_int_eq(caplimit_holds(lim), 0);
    /* a holder still holds after the close */
    ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &other), 1);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &other), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R20_per_limiter)
{
    caplimit_t *a = harness_make(1), *b = harness_make(1);
    int obj;

    ck_assert_int_eq(caplimit_acquire(a), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(b, &obj), 0);
    ck_assert_int_eq(caplimit_holds(a), 1);
    ck_assert_int_eq(caplimit_holds(b), 0);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(a, &obj), 0);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(b, &obj), 1);
    ck_assert_int_eq(caplimit_release(a), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(b, &obj), 0);
    ck_assert_int_eq(caplimit_destroy(a), 0);
    ck_assert_int_eq(caplimit_destroy(b), 0);
}
END_TEST

/* Under R21 a holder at any level holds, until the last release. */
START_TEST(test_R20_levels_hold_until_last_release)
{
    caplimit_t *lim = harness_make(1);
    int obj;

    ck_assert_int_eq(caplimit_set_reentrant(lim, 1), 0);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_holds(lim), 1);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_holds(lim), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &obj), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &obj), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &obj), 0);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &obj), 1);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &obj), 0);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &obj), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* Inside a CAPLIMIT_WITH block the thread holds; after it, not. */
START_TEST(test_R20_with_block)
{
    caplimit_t *lim = harness_make(1);
    int rc, inside = -1;

    CAPLIMIT_WITH(lim, rc) {
        inside = caplimit_holds(lim);
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(inside, 1);
    ck_assert_int_eq(caplimit_holds(lim), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

static int allocations;

static int count_and_fail(void)
{
    allocations++;
    return 1;
}

START_TEST(test_R20_no_allocation)
{
    caplimit_t *lim = harness_make(2);
    int obj, other;

    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &obj), 0);
    cl_alloc_should_fail = count_and_fail;
    ck_assert_int_eq(caplimit_holds(lim), 1);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &obj), 1);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &other), 0);
    cl_alloc_should_fail = NULL;
    ck_assert_int_eq(allocations, 0);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &obj), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("R20 holds");
    TCase *tc = harness_tcase_create("holds");

    tcase_add_test(tc, test_R20_null_answers_zero);
    tcase_add_test(tc, test_R20_thread_holds_one_then_zero);
    tcase_add_test(tc, test_R20_object_holds_one_then_zero);
    tcase_add_test(tc, test_R20_thread_and_object_are_distinct);
    tcase_add_test(tc, test_R20_per_thread_answer);
    tcase_add_test(tc, test_R20_queued_borrower_does_not_hold);
    tcase_add_test(tc, test_R20_refused_acquires_hold_nothing);
    tcase_add_test(tc, test_R20_per_limiter);
    tcase_add_test(tc, test_R20_levels_hold_until_last_release);
    tcase_add_test(tc, test_R20_with_block);
    tcase_add_test(tc, test_R20_no_allocation);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
