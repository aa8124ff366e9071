/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * R15: ENOMEM at every allocation site leaves the limiter exactly as it
 * was, and a retry succeeds.  White-box: linked with the library's objects
 * to reach the fault-injection hook of lib/alloc.c.
 */
#include "harness.h"
#include "../lib/internal.h"

#include <string.h>

static int alloc_calls, fail_at;

/* Fails the fail_at-th allocation from now on, only that one. */
static int fail_nth(void)
{
    return ++alloc_calls == fail_at;
}

static void fail_allocation(int n)
{
    alloc_calls = 0;
    fail_at = n;
    cl_alloc_should_fail = fail_nth;
}

static void allocate_freely(void)
{
    cl_alloc_should_fail = NULL;
}

#define NOBJ 80
static char objs[NOBJ], more[64];

/* ---- caplimit_create ---------------------------------------------------- */

START_TEST(test_R15_create_ENOMEM_at_each_allocation)
{
    caplimit_t *lim, *sentinel = (caplimit_t *)&objs[0];
    int n, failures = 0;

    for (n = 1;; n++) {
        int rc;
        lim = sentinel;
        fail_allocation(n);
        rc = caplimit_create(&lim, 3);
        allocate_freely();
        if (rc == 0)
            break;
        ck_assert_int_eq(rc, ENOMEM);
        ck_assert_ptr_eq(lim, sentinel);     /* *out untouched */
        failures++;
        ck_assert_int_lt(n, 100);
    }
    ck_assert_int_ge(failures, 1);
    ck_assert_uint_eq(caplimit_total_tokens(lim), 3);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- Borrower-set growth ------------------------------------------------ */

/* Tries op for borrower k with each allocation failing in turn; every
 * failure must leave lim unchanged.  Returns how many failed. */
static int acquire_under_faults(caplimit_t *lim, enum harness_variant op, const void *obj,
                                int expect_rc)
{
    struct timespec t = harness_deadline_ms(1);
    int n, failures = 0;

    for (n = 1;; n++) {
        struct harness_state before;
        int rc;

        harness_snap(lim, &before);
        fail_allocation(n);
        rc = harness_acquire_at(lim, op, obj, CLOCK_MONOTONIC, &t);
        allocate_freely();
        if (rc != ENOMEM) {
            harness_snap_free(&before);
            ck_assert_int_eq(rc, expect_rc);
            return failures;
        }
        failures++;
        harness_assert_unchanged(lim, &before);
        harness_snap_free(&before);
        if (harness_variant_is_obj(op))
            ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, obj), 0);
        else
            ck_assert_int_eq(caplimit_holds(lim), 0);
        ck_assert_int_lt(n, 100);
    }
}

START_TEST(test_R15_borrower_set_growth_ENOMEM)
{
    caplimit_t *lim;
    int k, j, grew = 0;

    ck_assert_int_eq(caplimit_create(&lim, CAPLIMIT_INFINITE), 0);
    for (k = 0; k < NOBJ; k++) {
        int f = acquire_under_faults(lim, k % 2 ? HARNESS_OBJ : HARNESS_OBJ_NOWAIT, &objs[k], 0);
        if (f > 0)
            grew++;
        /* all earlier borrowers are still found */
        for (j = 0; j <= k; j++)
            ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &objs[j]), 1);
        ck_assert_uint_eq(caplimit_borrowed_tokens(lim), (size_t)k + 1);
    }
    /* 8, 16, 32, 64: the set grew at least that often */
    ck_assert_int_ge(grew, 4);
    /* a thread borrower at a growth point too */
    for (k = 0; caplimit_borrowed_tokens(lim) < 128; k++)
        ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &more[k]), 0);
    ck_assert_int_ge(acquire_under_faults(lim, HARNESS_PLAIN, NULL, 0), 1);
    ck_assert_int_eq(caplimit_holds(lim), 1);
    ck_assert_int_eq(caplimit_release(lim), 0);
    for (j = 0; j < NOBJ; j++)
        ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[j]), 0);
    for (j = 0; j < k; j++)
        ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &more[j]), 0);
    harness_assert_counts(lim, 0, 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* A waiting acquire grows the set before it queues: ENOMEM, not queued. */
START_TEST(test_R15_growth_before_queueing_ENOMEM)
{
    caplimit_t *lim;
    struct harness_waiter w;
    int k;

    ck_assert_int_eq(caplimit_create(&lim, 8), 0);
    for (k = 0; k < 8; k++)
        ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[k]), 0);
    /* the ninth borrower, full limiter: each variant would queue */
    ck_assert_int_ge(acquire_under_faults(lim, HARNESS_OBJ_UNTIL, &objs[8], ETIMEDOUT), 1);
    harness_assert_counts(lim, 8, 0);
    ck_assert_int_eq(acquire_under_faults(lim, HARNESS_UNTIL, NULL, ETIMEDOUT), 0);
    ck_assert_int_eq(acquire_under_faults(lim, HARNESS_OBJ_NOWAIT, &objs[8], EWOULDBLOCK), 0);

    /* and one really queues once memory is there */
    harness_waiter_init(&w, lim, HARNESS_OBJ, &objs[8], HARNESS_HOLD);
    harness_waiter_queue(&w, 1);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_int_eq(harness_waiter_wait_rc(&w), 0);
    harness_waiter_finish(&w);
    for (k = 1; k < 8; k++)
        ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[k]), 0);
    harness_assert_counts(lim, 0, 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- The per-thread record (R22's bookkeeping) -------------------------- */

#define NLIM 12

START_TEST(test_R15_per_thread_record_ENOMEM)
{
    caplimit_t *lim[NLIM];
    int i, grew = 0;

    for (i = 0; i < NLIM; i++)
        ck_assert_int_eq(caplimit_create(&lim[i], 1), 0);
    /* four limiters fill the record's inline room */
    for (i = 0; i < 4; i++)
        ck_assert_int_eq(acquire_under_faults(lim[i], HARNESS_PLAIN, NULL, 0), 0);
    /* a fifth, full: the record grows before the acquire queues */
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim[4], &objs[0]), 0);
    ck_assert_int_ge(acquire_under_faults(lim[4], HARNESS_UNTIL, NULL, ETIMEDOUT), 1);
    harness_assert_counts(lim[4], 1, 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim[4], &objs[0]), 0);
    /* the rest, free: the record grows again past 8 */
    for (i = 4; i < NLIM; i++) {
        if (acquire_under_faults(lim[i], i % 2 ? HARNESS_UNTIL : HARNESS_PLAIN, NULL, 0) > 0)
            grew++;
        ck_assert_int_eq(caplimit_holds(lim[i]), 1);
    }
    ck_assert_int_ge(grew, 1);
    for (i = 0; i < NLIM; i++) {
        ck_assert_int_eq(caplimit_holds(lim[i]), 1);
        ck_assert_int_eq(caplimit_release(lim[i]), 0);
    }
    for (i = 0; i < NLIM; i++) {
        harness_assert_counts(lim[i], 0, 0);
        ck_assert_int_eq(caplimit_destroy(lim[i]), 0);
    }
}
END_TEST

/* A worker whose record grows, then ends holding tokens: R22 still gives
 * every one back (the failed attempts left no stale entry). */
static caplimit_t *r15_lims[NLIM];

static void *r15_exit_holding(void *arg)
{
    int i;
    (void)arg;
    for (i = 0; i < NLIM; i++) {
        int rc;
        fail_allocation(1);
        rc = caplimit_acquire(r15_lims[i]);
        allocate_freely();
        WORKER_CHECK(rc == 0 || rc == ENOMEM);
        if (rc == ENOMEM)
            WORKER_CHECK(caplimit_acquire(r15_lims[i]) == 0);
    }
    return NULL;
}

START_TEST(test_R15_record_growth_then_thread_exit)
{
    pthread_t t;
    int i;

    for (i = 0; i < NLIM; i++)
        ck_assert_int_eq(caplimit_create(&r15_lims[i], 1), 0);
    harness_spawn(&t, r15_exit_holding, NULL);
    harness_join(t);
    harness_assert_no_worker_failures();
    for (i = 0; i < NLIM; i++) {
        harness_assert_counts(r15_lims[i], 0, 0);
        ck_assert_int_eq(caplimit_destroy(r15_lims[i]), 0);
    }
}
END_TEST

/* ---- Statistics snapshot ------------------------------------------------ */

START_TEST(test_R15_statistics_ENOMEM)
{
    caplimit_t *lim;
    struct caplimit_statistics st;
    struct harness_state before;
    int n, failures = 0;

    ck_assert_int_eq(caplimit_create(&lim, 4), 0);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[0]), 0);
    harness_snap(lim, &before);
    for (n = 1;; n++) {
        int rc;
        memset(&st, 0, sizeof st);
        fail_allocation(n);
        rc = caplimit_statistics(lim, &st);
        allocate_freely();
        if (rc == 0)
            break;
        ck_assert_int_eq(rc, ENOMEM);
        failures++;
        harness_assert_unchanged(lim, &before);
        ck_assert_int_lt(n, 100);
    }
    ck_assert_int_ge(failures, 1);
    ck_assert_uint_eq(st.nborrowers, 2);
    ck_assert_uint_eq(st.borrowed_tokens, 2);
    caplimit_statistics_destroy(&st);
    harness_assert_unchanged(lim, &before);
    harness_snap_free(&before);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- Nothing else allocates --------------------------------------------- */

static int fail_always(void)
{
    return 1;
}

/* With every allocation failing, release, hand-off, total changes,
 * timeouts, cancellation and close still work (R15: nothing else allocates). */
START_TEST(test_R15_release_handoff_timeout_close_never_allocate)
{
    caplimit_t *lim;
    struct harness_waiter w[5];
    struct timespec past = { 0, 0 };
    int i;

    ck_assert_int_eq(caplimit_create(&lim, 1), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[0]), 0);
    for (i = 0; i < 5; i++) {
        harness_waiter_init(&w[i], lim, i == 3 ? HARNESS_OBJ_UNTIL : HARNESS_OBJ,
                            &objs[1 + i], 1);
        if (i == 3) {
            w[i].clock = CLOCK_MONOTONIC;
            w[i].abstime = harness_deadline_ms(harness_span_ms(500));
        }
        harness_waiter_queue(&w[i], (size_t)i + 1);
    }
    cl_alloc_should_fail = fail_always;
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_until(lim, &objs[0], CLOCK_MONOTONIC, &past),
                     EDEADLK);
    /* a queued waiter times out and leaves the queue */
    ck_assert_int_eq(harness_waiter_wait_rc(&w[3]), ETIMEDOUT);
    harness_assert_counts(lim, 1, 4);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);     /* hand-off */
    ck_assert_int_eq(harness_waiter_wait_rc(&w[0]), 0);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 2), 0);                 /* rise */
    ck_assert_int_eq(harness_waiter_wait_rc(&w[1]), 0);
    ck_assert_int_eq(pthread_cancel(w[2].thread), 0);                       /* cancel */
    harness_join(w[2].thread);
    harness_assert_counts(lim, 2, 1);
    /* close with a waiter still queued: it leaves with ECANCELED */
    ck_assert_int_eq(caplimit_close(lim), 0);
    ck_assert_int_eq(harness_waiter_wait_rc(&w[4]), ECANCELED);
    harness_waiter_finish(&w[0]);
    harness_waiter_finish(&w[1]);
    harness_waiter_join(&w[3]);
    harness_waiter_join(&w[4]);
    allocate_freely();
    harness_assert_no_worker_failures();
    harness_assert_counts(lim, 0, 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("enomem");
    TCase *tc = harness_tcase_create("enomem");

    tcase_add_test(tc, test_R15_create_ENOMEM_at_each_allocation);
    tcase_add_test(tc, test_R15_borrower_set_growth_ENOMEM);
    tcase_add_test(tc, test_R15_growth_before_queueing_ENOMEM);
    tcase_add_test(tc, test_R15_per_thread_record_ENOMEM);
    tcase_add_test(tc, test_R15_record_growth_then_thread_exit);
    tcase_add_test(tc, test_R15_statistics_ENOMEM);
    harness_add_cancel_test(tc, test_R15_release_handoff_timeout_close_never_allocate);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
