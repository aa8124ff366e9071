/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * The core rules on their own: R1..R5, R8..R12, R14, and the production
 * scenarios (the over-grant after a release, the quota changed under load).
 */
#include "harness.h"

#include <stdatomic.h>
#include <stdlib.h>

static char objs[16];

/* ---- R1 Tokens ---------------------------------------------------------- */

START_TEST(test_R1_zero_total_is_paused)
{
    caplimit_t *lim;
    struct harness_waiter w;

    lim = harness_make(0);
    ck_assert_uint_eq(caplimit_total_tokens(lim), 0);
    ck_assert_uint_eq(caplimit_available_tokens(lim), 0);
    ck_assert_int_eq(caplimit_acquire_nowait(lim), EWOULDBLOCK);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &objs[0]), EWOULDBLOCK);

    harness_waiter_init(&w, lim, HARNESS_PLAIN, NULL, HARNESS_HOLD);
    harness_waiter_queue(&w, 1);
    harness_assert_counts(lim, 0, 1);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 1), 0);
    ck_assert_int_eq(harness_waiter_wait_rc(&w), 0);
    harness_assert_counts(lim, 1, 0);
    harness_waiter_finish(&w);
    harness_assert_counts(lim, 0, 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R1_infinite_never_waits)
{
    caplimit_t *lim;
    size_t i;

    lim = harness_make(CAPLIMIT_INFINITE);
    ck_assert_uint_eq(caplimit_total_tokens(lim), CAPLIMIT_INFINITE);
    ck_assert_uint_eq(caplimit_available_tokens(lim), CAPLIMIT_INFINITE);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    for (i = 0; i < sizeof objs; i++)
        ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &objs[i]), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 1 + sizeof objs);
    ck_assert_uint_eq(caplimit_available_tokens(lim), CAPLIMIT_INFINITE);
    ck_assert_uint_eq(caplimit_threads_waiting(lim), 0);
    for (i = 0; i < sizeof objs; i++)
        ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[i]), 0);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R1_borrower_holds_at_most_one)
{
    caplimit_t *lim;
    struct timespec t = harness_deadline_ms(1000);

    lim = harness_make(5);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_int_eq(caplimit_acquire_nowait(lim), EDEADLK);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_until(lim, &objs[0], CLOCK_MONOTONIC, &t),
                     EDEADLK);
    harness_assert_counts(lim, 2, 0);
    ck_assert_uint_eq(caplimit_available_tokens(lim), 3);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_release(lim), EPERM);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- R2 Borrowers ------------------------------------------------------- */

START_TEST(test_R2_thread_and_object_never_collide)
{
    caplimit_t *lim;
    pthread_t self = pthread_self();
    const void *alias = (const void *)self;
    struct caplimit_statistics st;
    size_t i, nthread = 0, nobject = 0;

    lim = harness_make(2);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    /* same bits, other kind: not a re-entry */
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, alias), 0);
    harness_assert_counts(lim, 2, 0);
    ck_assert_int_eq(caplimit_statistics(lim, &st), 0);
    ck_assert_uint_eq(st.nborrowers, 2);
    for (i = 0; i < st.nborrowers; i++) {
        if (st.borrowers[i].kind == CAPLIMIT_BORROWER_THREAD) {
            nthread++;
            ck_assert(pthread_equal(st.borrowers[i].thread, self));
        } else {
            nobject++;
            ck_assert_int_eq(st.borrowers[i].kind, CAPLIMIT_BORROWER_OBJECT);
            ck_assert_ptr_eq(st.borrowers[i].object, alias);
        }
    }
    ck_assert_uint_eq(nthread, 1);
    ck_assert_uint_eq(nobject, 1);
    caplimit_statistics_destroy(&st);

    /* each release frees its own kind only */
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, alias), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, alias), EPERM);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 1);
    ck_assert_int_eq(caplimit_holds(lim), 1);
    ck_assert_int_eq(caplimit_release(lim), 0);

    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, alias), 0);
    ck_assert_int_eq(caplimit_release(lim), EPERM);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, alias), 1);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, alias), 0);
    harness_assert_counts(lim, 0, 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

struct r2_arg {
    caplimit_t *lim;
    const void *obj;
    int rc;
};

static void *r2_release_object(void *arg)
{
    struct r2_arg *a = arg;
    a->rc = caplimit_release_on_behalf_of(a->lim, a->obj);
    return NULL;
}

static void *r2_release_thread(void *arg)
{
    struct r2_arg *a = arg;
    a->rc = caplimit_release(a->lim);
    return NULL;
}

START_TEST(test_R2_object_token_released_from_another_thread)
{
    caplimit_t *lim;
    struct r2_arg a;
    pthread_t t;

    lim = harness_make(1);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[1]), 0);
    a.lim = lim;
    a.obj = &objs[1];
    a.rc = -1;
    harness_spawn(&t, r2_release_object, &a);
    harness_join(t);
    ck_assert_int_eq(a.rc, 0);
    harness_assert_counts(lim, 0, 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R2_thread_token_released_only_by_its_thread)
{
    caplimit_t *lim;
    struct r2_arg a;
    struct harness_state before;
    pthread_t t;

    lim = harness_make(1);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    harness_snap(lim, &before);
    a.lim = lim;
    a.obj = NULL;
    a.rc = -1;
    harness_spawn(&t, r2_release_thread, &a);
    harness_join(t);
    ck_assert_int_eq(a.rc, EPERM);
    harness_assert_unchanged(lim, &before);
    harness_snap_free(&before);
    ck_assert_int_eq(caplimit_holds(lim), 1);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- R3 No re-entry ----------------------------------------------------- */

static void r3_all_refused(caplimit_t *lim, int thread, const void *obj)
{
    struct timespec t = harness_deadline_ms(60000);
    struct timespec rt = harness_deadline_on(CLOCK_REALTIME, 60000);
    struct harness_state before;

    harness_snap(lim, &before);
    if (thread) {
        ck_assert_int_eq(caplimit_acquire(lim), EDEADLK);
        ck_assert_int_eq(caplimit_acquire_nowait(lim), EDEADLK);
        ck_assert_int_eq(caplimit_acquire_until(lim, CLOCK_MONOTONIC, &t), EDEADLK);
        ck_assert_int_eq(caplimit_acquire_until(lim, CLOCK_REALTIME, &rt), EDEADLK);
    } else {
        ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, obj), EDEADLK);
        ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, obj), EDEADLK);
        ck_assert_int_eq(caplimit_acquire_on_behalf_of_until(lim, obj, CLOCK_MONOTONIC, &t),
                         EDEADLK);
        ck_assert_int_eq(caplimit_acquire_on_behalf_of_until(lim, obj, CLOCK_REALTIME, &rt),
                         EDEADLK);
    }
    harness_assert_unchanged(lim, &before);
    harness_snap_free(&before);
}

START_TEST(test_R3_holder_gets_EDEADLK_with_or_without_free_token)
{
    caplimit_t *lim;

    lim = harness_make(3);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[0]), 0);
    r3_all_refused(lim, 1, NULL);            /* a token is free */
    r3_all_refused(lim, 0, &objs[0]);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[1]), 0);
    r3_all_refused(lim, 1, NULL);            /* none is free */
    r3_all_refused(lim, 0, &objs[0]);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 0), 0);
    r3_all_refused(lim, 1, NULL);            /* over-subscribed */
    harness_assert_counts(lim, 3, 0);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[1]), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R3_queued_object_gets_EDEADLK_from_any_thread)
{
    caplimit_t *lim;
    struct harness_waiter w;

    lim = harness_make(1);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    harness_waiter_init(&w, lim, HARNESS_OBJ, &objs[2], HARNESS_HOLD);
    harness_waiter_queue(&w, 1);
    /* this thread asks for the same object that waits in the queue */
    r3_all_refused(lim, 0, &objs[2]);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &objs[2]), 0);
    /* it is still first in line */
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(harness_waiter_wait_rc(&w), 0);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &objs[2]), 1);
    harness_waiter_finish(&w);
    harness_assert_counts(lim, 0, 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* A token free while the object still waits: under R17 with a young head
 * a release leaves the token free and wakes the head, which harness_stall
 * keeps from taking it.  R3 still refuses the queued object. */
START_TEST(test_R3_queued_object_gets_EDEADLK_while_a_token_is_free)
{
    caplimit_t *lim;
    struct harness_waiter w;

    lim = harness_make(1);
    ck_assert_int_eq(caplimit_set_policy(lim, CAPLIMIT_POLICY_THROUGHPUT, 60000000000ULL), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[0]), 0);
    harness_waiter_init(&w, lim, HARNESS_OBJ, &objs[2], HARNESS_HOLD);
    harness_waiter_queue(&w, 1);
    harness_stall(w.thread);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_uint_eq(caplimit_available_tokens(lim), 1);
    ck_assert_uint_eq(caplimit_threads_waiting(lim), 1);
    r3_all_refused(lim, 0, &objs[2]);
    ck_assert_uint_eq(caplimit_available_tokens(lim), 1);
    harness_unstall();
    ck_assert_int_eq(harness_waiter_wait_rc(&w), 0);
    harness_waiter_finish(&w);
    harness_assert_counts(lim, 0, 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R2_queued_thread_and_its_object_alias_differ)
{
    caplimit_t *lim;
    struct harness_waiter w;

    /* a queued thread borrower leaves its object alias free */
    lim = harness_make(1);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[0]), 0);
    harness_waiter_init(&w, lim, HARNESS_PLAIN, NULL, HARNESS_HOLD);
    harness_waiter_queue(&w, 1);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, (const void *)w.thread),
                     EWOULDBLOCK);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_int_eq(harness_waiter_wait_rc(&w), 0);
    harness_waiter_finish(&w);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- R4 Grant or queue -------------------------------------------------- */

START_TEST(test_R4_nowait_does_not_jump_the_queue)
{
    caplimit_t *lim;
    struct harness_waiter b;
    struct timespec past = { 0, 0 };

    lim = harness_make(1);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[0]), 0);   /* A */
    harness_waiter_init(&b, lim, HARNESS_PLAIN, NULL, HARNESS_HOLD);
    harness_waiter_queue(&b, 1);                                                    /* B */
    ck_assert_int_eq(caplimit_acquire_nowait(lim), EWOULDBLOCK);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    /* B holds from the moment of the release, running or not */
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 1);
    ck_assert_uint_eq(caplimit_threads_waiting(lim), 0);
    ck_assert_int_eq(caplimit_acquire_nowait(lim), EWOULDBLOCK);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &objs[1]), EWOULDBLOCK);
    ck_assert_int_eq(caplimit_acquire_until(lim, CLOCK_MONOTONIC, &past), ETIMEDOUT);
    ck_assert_int_eq(harness_waiter_wait_rc(&b), 0);
    harness_waiter_finish(&b);
    harness_assert_counts(lim, 0, 0);
    ck_assert_int_eq(caplimit_acquire_nowait(lim), 0);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R4_queue_behind_waiter_even_with_total_raised_later)
{
    caplimit_t *lim;
    struct harness_waiter a, b;

    /* two waiters; one more token goes to the head, not to a newcomer */
    lim = harness_make(1);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[0]), 0);
    harness_waiter_init(&a, lim, HARNESS_OBJ, &objs[1], HARNESS_HOLD);
    harness_waiter_queue(&a, 1);
    harness_waiter_init(&b, lim, HARNESS_OBJ, &objs[2], HARNESS_HOLD);
    harness_waiter_queue(&b, 2);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 2), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &objs[3]), EWOULDBLOCK);
    ck_assert_int_eq(harness_waiter_wait_rc(&a), 0);
    harness_assert_counts(lim, 2, 1);
    ck_assert_int_eq(harness_waiter_rc(&b), HARNESS_RC_PENDING);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_int_eq(harness_waiter_wait_rc(&b), 0);
    harness_waiter_finish(&a);
    harness_waiter_finish(&b);
    harness_assert_counts(lim, 0, 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* The AnyIO over-grant: a release that hands its token to a waiter, and a
 * nowait acquire right behind it that must not get a token as well. */
START_TEST(test_R4_R5_scenario_release_then_nowait_never_overgrants)
{
    caplimit_t *lim;
    int i;

    lim = harness_make(1);
    for (i = 0; i < harness_scale(200); i++) {
        struct harness_waiter w;
        int rc;

        ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[0]), 0);
        harness_waiter_init(&w, lim, i % 2 ? HARNESS_PLAIN : HARNESS_OBJ_UNTIL, &objs[1], HARNESS_RELEASE_AT_ONCE);
        w.clock = CLOCK_MONOTONIC;
        harness_waiter_queue(&w, 1);
        ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
        rc = caplimit_acquire_on_behalf_of_nowait(lim, &objs[2]);
        /* the waiter may already have run and released: then it is fair */
        if (rc == 0) {
            ck_assert_int_ne(harness_waiter_rc(&w), HARNESS_RC_PENDING);
            ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[2]), 0);
        } else {
            ck_assert_int_eq(rc, EWOULDBLOCK);
        }
        ck_assert_uint_le(caplimit_borrowed_tokens(lim), 1);
        harness_join(w.thread);
        ck_assert_int_eq(harness_waiter_rc(&w), 0);
        harness_assert_counts(lim, 0, 0);
    }
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- R5 Hand-off -------------------------------------------------------- */

#define R5_N 10
static atomic_int r5_slot, r5_next;
static atomic_int r5_order[R5_N];
static atomic_int r5_overdraw;

/* Notes the grant order; r5_next counts completed notes. */
static void r5_on_grant(struct harness_waiter *w)
{
    atomic_store(&r5_order[atomic_fetch_add(&r5_slot, 1)], w->id);
    atomic_fetch_add(&r5_next, 1);
    if (caplimit_borrowed_tokens(w->lim) > caplimit_total_tokens(w->lim))
        atomic_fetch_add(&r5_overdraw, 1);
}

START_TEST(test_R5_fifo_through_ten_queued_threads)
{
    caplimit_t *lim;
    struct harness_waiter w[R5_N];
    int i;

    lim = harness_make(1);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    for (i = 0; i < R5_N; i++) {
        /* mix thread and object borrowers: one queue for both */
        harness_waiter_init(&w[i], lim,
                            i % 3 == 2 ? HARNESS_OBJ : (i % 3 ? HARNESS_UNTIL : HARNESS_PLAIN),
                            &objs[i], HARNESS_HOLD);
        w[i].id = i;
        w[i].on_grant = r5_on_grant;
        harness_waiter_queue(&w[i], (size_t)i + 1);
    }
    ck_assert_int_eq(caplimit_release(lim), 0);
    for (i = 0; i < R5_N; i++) {
        POLL_UNTIL(atomic_load(&r5_next) == i + 1);
        ck_assert_int_eq(atomic_load(&r5_order[i]), i);
        harness_assert_counts(lim, 1, (size_t)(R5_N - 1 - i));
        harness_waiter_finish(&w[i]);
    }
    harness_assert_counts(lim, 0, 0);
    ck_assert_int_eq(atomic_load(&r5_overdraw), 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R5_release_of_many_grants_in_order_up_to_total)
{
    caplimit_t *lim;
    struct harness_waiter w[6];
    int i;

    lim = harness_make(3);
    for (i = 0; i < 3; i++)
        ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[i]), 0);
    for (i = 0; i < 6; i++) {
        harness_waiter_init(&w[i], lim, HARNESS_OBJ, &objs[8 + i], HARNESS_HOLD);
        harness_waiter_queue(&w[i], (size_t)i + 1);
    }
    for (i = 0; i < 3; i++) {
        ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[i]), 0);
        ck_assert_int_eq(harness_waiter_wait_rc(&w[i]), 0);
        ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &objs[8 + i]), 1);
        ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &objs[8 + i + 1]), 0);
        harness_assert_counts(lim, 3, (size_t)(5 - i));
    }
    for (i = 0; i < 6; i++) {
        harness_waiter_finish(&w[i]);
        if (i + 3 < 6)
            ck_assert_int_eq(harness_waiter_wait_rc(&w[i + 3]), 0);
        ck_assert_uint_le(caplimit_borrowed_tokens(lim), 3);
    }
    harness_assert_counts(lim, 0, 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- R8 Changing the total ---------------------------------------------- */

START_TEST(test_R8_lower_then_raise_never_overgrants)
{
    caplimit_t *lim;
    struct harness_waiter w[3];
    int i;

    lim = harness_make(3);
    for (i = 0; i < 3; i++)
        ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[i]), 0);
    for (i = 0; i < 3; i++) {
        harness_waiter_init(&w[i], lim, HARNESS_OBJ, &objs[8 + i], HARNESS_HOLD);
        harness_waiter_queue(&w[i], (size_t)i + 1);
    }
    /* a fall takes nothing back */
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 1), 0);
    harness_assert_counts(lim, 3, 3);
    ck_assert_uint_eq(caplimit_available_tokens(lim), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    harness_assert_counts(lim, 2, 3);                 /* still over: no grant */
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &objs[0]), EWOULDBLOCK);
    /* back up to 3: one free token, one grant */
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 3), 0);
    harness_assert_counts(lim, 3, 2);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 3), 0);
    harness_assert_counts(lim, 3, 2);
    ck_assert_int_eq(harness_waiter_wait_rc(&w[0]), 0);
    ck_assert_int_eq(harness_waiter_rc(&w[1]), HARNESS_RC_PENDING);
    /* lower and raise again around the same value: nothing extra */
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 2), 0);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 3), 0);
    harness_assert_counts(lim, 3, 2);
    ck_assert_uint_eq(caplimit_available_tokens(lim), 0);
    /* a rise of two grants the two remaining waiters, in order */
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 5), 0);
    harness_assert_counts(lim, 5, 0);
    ck_assert_int_eq(harness_waiter_wait_rc(&w[1]), 0);
    ck_assert_int_eq(harness_waiter_wait_rc(&w[2]), 0);
    for (i = 0; i < 3; i++)
        harness_waiter_finish(&w[i]);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[1]), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[2]), 0);
    harness_assert_counts(lim, 0, 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R8_rise_empties_queue_then_newcomer_gets_in)
{
    caplimit_t *lim;
    struct harness_waiter w[4];
    int i;

    lim = harness_make(0);
    for (i = 0; i < 4; i++) {
        harness_waiter_init(&w[i], lim, i % 2 ? HARNESS_UNTIL : HARNESS_OBJ, &objs[i], HARNESS_HOLD);
        harness_waiter_queue(&w[i], (size_t)i + 1);
    }
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 2), 0);
    harness_assert_counts(lim, 2, 2);
    ck_assert_int_eq(harness_waiter_wait_rc(&w[0]), 0);
    ck_assert_int_eq(harness_waiter_wait_rc(&w[1]), 0);
    ck_assert_int_eq(caplimit_acquire_nowait(lim), EWOULDBLOCK);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 5), 0);
    harness_assert_counts(lim, 4, 0);
    ck_assert_int_eq(caplimit_acquire_nowait(lim), 0);
    harness_assert_counts(lim, 5, 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &objs[9]), EWOULDBLOCK);
    ck_assert_int_eq(caplimit_release(lim), 0);
    for (i = 0; i < 4; i++) {
        ck_assert_int_eq(harness_waiter_wait_rc(&w[i]), 0);
        harness_waiter_finish(&w[i]);
    }
    harness_assert_counts(lim, 0, 0);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, CAPLIMIT_INFINITE), 0);
    ck_assert_uint_eq(caplimit_available_tokens(lim), CAPLIMIT_INFINITE);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* A quota raised half-way through a run, as a controller does: the
 * waiters all get in, and capacity holds at every step. */
START_TEST(test_R8_scenario_quota_raised_under_load)
{
    caplimit_t *lim;
    struct harness_waiter w[8];
    int i;

    lim = harness_make(2);
    for (i = 0; i < 8; i++) {
        harness_waiter_init(&w[i], lim, HARNESS_PLAIN, NULL, HARNESS_HOLD);
        harness_waiter_run(&w[i]);
    }
    POLL_UNTIL(caplimit_threads_waiting(lim) == 6);
    harness_assert_counts(lim, 2, 6);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 5), 0);
    harness_assert_counts(lim, 5, 3);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 8), 0);
    harness_assert_counts(lim, 8, 0);
    for (i = 0; i < 8; i++) {
        ck_assert_int_eq(harness_waiter_wait_rc(&w[i]), 0);
        harness_waiter_finish(&w[i]);
    }
    harness_assert_no_worker_failures();
    harness_assert_counts(lim, 0, 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- R9 Release --------------------------------------------------------- */

START_TEST(test_R9_release_by_non_holder_is_EPERM)
{
    caplimit_t *lim;
    struct harness_waiter w;
    struct harness_state before;

    lim = harness_make(1);
    harness_snap(lim, &before);
    ck_assert_int_eq(caplimit_release(lim), EPERM);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), EPERM);
    harness_assert_unchanged(lim, &before);
    harness_snap_free(&before);

    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[0]), 0);
    harness_waiter_init(&w, lim, HARNESS_OBJ, &objs[1], HARNESS_HOLD);
    harness_waiter_queue(&w, 1);
    harness_snap(lim, &before);
    ck_assert_int_eq(caplimit_release(lim), EPERM);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[2]), EPERM);
    /* a queued borrower holds nothing to give back */
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[1]), EPERM);
    harness_assert_unchanged(lim, &before);
    harness_snap_free(&before);

    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), EPERM);
    ck_assert_int_eq(harness_waiter_wait_rc(&w), 0);
    harness_waiter_finish(&w);
    harness_assert_counts(lim, 0, 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R9_release_of_another_limiter_token_is_EPERM)
{
    caplimit_t *a, *b;

    a = harness_make(1);
    b = harness_make(1);
    ck_assert_int_eq(caplimit_acquire(a), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(a, &objs[0]), EWOULDBLOCK);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(b, &objs[0]), 0);
    ck_assert_int_eq(caplimit_release(b), EPERM);
    ck_assert_int_eq(caplimit_release_on_behalf_of(a, &objs[0]), EPERM);
    harness_assert_counts(a, 1, 0);
    harness_assert_counts(b, 1, 0);
    ck_assert_int_eq(caplimit_release(a), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(b, &objs[0]), 0);
    ck_assert_int_eq(caplimit_destroy(a), 0);
    ck_assert_int_eq(caplimit_destroy(b), 0);
}
END_TEST

/* ---- R10 Statistics ----------------------------------------------------- */

START_TEST(test_R10_snapshot_is_consistent)
{
    caplimit_t *lim;
    struct harness_waiter holder, waiter;
    struct caplimit_statistics st;
    size_t i;
    int seen_self = 0, seen_worker = 0, seen_obj0 = 0, seen_obj1 = 0;

    lim = harness_make(4);
    ck_assert_int_eq(caplimit_statistics(lim, &st), 0);
    ck_assert_uint_eq(st.nborrowers, 0);
    ck_assert_uint_eq(st.borrowed_tokens, 0);
    ck_assert_uint_eq(st.total_tokens, 4);
    ck_assert_uint_eq(st.threads_waiting, 0);
    caplimit_statistics_destroy(&st);

    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[1]), 0);
    harness_waiter_init(&holder, lim, HARNESS_PLAIN, NULL, HARNESS_HOLD);
    harness_waiter_run(&holder);
    ck_assert_int_eq(harness_waiter_wait_rc(&holder), 0);
    harness_waiter_init(&waiter, lim, HARNESS_OBJ, &objs[2], HARNESS_HOLD);
    harness_waiter_queue(&waiter, 1);

    ck_assert_int_eq(caplimit_statistics(lim, &st), 0);
    ck_assert_uint_eq(st.borrowed_tokens, 4);
    ck_assert_uint_eq(st.nborrowers, st.borrowed_tokens);
    ck_assert_uint_eq(st.total_tokens, 4);
    ck_assert_uint_eq(st.threads_waiting, 1);
    for (i = 0; i < st.nborrowers; i++) {
        const struct caplimit_borrower *b = &st.borrowers[i];
        ck_assert_uint_eq(b->level, 1);
        if (b->kind == CAPLIMIT_BORROWER_THREAD) {
            if (pthread_equal(b->thread, pthread_self()))
                seen_self++;
            else if (pthread_equal(b->thread, holder.thread))
                seen_worker++;
            else
                ck_abort_msg("unknown thread borrower");
        } else {
            ck_assert_int_eq(b->kind, CAPLIMIT_BORROWER_OBJECT);
            if (b->object == &objs[0])
                seen_obj0++;
            else if (b->object == &objs[1])
                seen_obj1++;
            else
                ck_abort_msg("unknown object borrower %p", b->object);
        }
    }
    ck_assert(seen_self == 1 && seen_worker == 1 && seen_obj0 == 1 && seen_obj1 == 1);
    caplimit_statistics_destroy(&st);
    caplimit_statistics_destroy(NULL);

    /* a fall shows in the snapshot, the borrowers stay */
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 1), 0);
    ck_assert_int_eq(caplimit_statistics(lim, &st), 0);
    ck_assert_uint_eq(st.total_tokens, 1);
    ck_assert_uint_eq(st.nborrowers, 4);
    caplimit_statistics_destroy(&st);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 4), 0);

    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_int_eq(harness_waiter_wait_rc(&waiter), 0);
    harness_waiter_finish(&waiter);
    harness_waiter_finish(&holder);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[1]), 0);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* Snapshots taken while borrowers come and go always agree with
 * themselves. */
static atomic_int r10_stop;

static void *r10_churn(void *arg)
{
    caplimit_t *lim = arg;
    while (!atomic_load(&r10_stop)) {
        WORKER_CHECK(caplimit_acquire(lim) == 0);
        WORKER_CHECK(caplimit_release(lim) == 0);
    }
    return NULL;
}

START_TEST(test_R10_snapshot_consistent_under_churn)
{
    caplimit_t *lim;
    pthread_t t[3];
    int i;

    lim = harness_make(2);
    for (i = 0; i < 3; i++)
        harness_spawn(&t[i], r10_churn, lim);
    for (i = 0; i < harness_scale(3000); i++) {
        struct caplimit_statistics st;
        size_t j;
        ck_assert_int_eq(caplimit_statistics(lim, &st), 0);
        ck_assert_uint_eq(st.nborrowers, st.borrowed_tokens);
        ck_assert_uint_le(st.borrowed_tokens, 2);
        ck_assert_uint_le(st.threads_waiting, 3);
        for (j = 0; j < st.nborrowers; j++) {
            ck_assert_int_eq(st.borrowers[j].kind, CAPLIMIT_BORROWER_THREAD);
            ck_assert_uint_eq(st.borrowers[j].level, 1);
        }
        caplimit_statistics_destroy(&st);
    }
    atomic_store(&r10_stop, 1);
    for (i = 0; i < 3; i++)
        harness_join(t[i]);
    harness_assert_no_worker_failures();
    harness_assert_counts(lim, 0, 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- R11 Available ------------------------------------------------------ */

START_TEST(test_R11_available_tokens)
{
    caplimit_t *lim;

    lim = harness_make(3);
    ck_assert_uint_eq(caplimit_available_tokens(lim), 3);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_uint_eq(caplimit_available_tokens(lim), 1);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 2), 0);
    ck_assert_uint_eq(caplimit_available_tokens(lim), 0);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 1), 0);       /* after a fall */
    ck_assert_uint_eq(caplimit_available_tokens(lim), 0);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 0), 0);
    ck_assert_uint_eq(caplimit_available_tokens(lim), 0);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, CAPLIMIT_INFINITE), 0);
    ck_assert_uint_eq(caplimit_available_tokens(lim), CAPLIMIT_INFINITE);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, CAPLIMIT_INFINITE - 1), 0);
    ck_assert_uint_eq(caplimit_available_tokens(lim), CAPLIMIT_INFINITE - 3);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 10), 0);
    ck_assert_uint_eq(caplimit_available_tokens(lim), 8);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_uint_eq(caplimit_available_tokens(lim), 10);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- R12 Destroy -------------------------------------------------------- */

START_TEST(test_R12_destroy_busy_while_borrowed_or_waiting)
{
    caplimit_t *lim;
    struct harness_waiter w;
    struct harness_state before;

    ck_assert_int_eq(caplimit_destroy(NULL), EINVAL);
    lim = harness_make(1);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    harness_snap(lim, &before);
    ck_assert_int_eq(caplimit_destroy(lim), EBUSY);
    harness_assert_unchanged(lim, &before);
    harness_snap_free(&before);
    ck_assert_int_eq(caplimit_release(lim), 0);

    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_int_eq(caplimit_destroy(lim), EBUSY);
    harness_waiter_init(&w, lim, HARNESS_PLAIN, NULL, HARNESS_HOLD);
    harness_waiter_queue(&w, 1);
    harness_snap(lim, &before);
    ck_assert_int_eq(caplimit_destroy(lim), EBUSY);
    harness_assert_unchanged(lim, &before);
    harness_snap_free(&before);
    /* the waiter keeps its place and is served */
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_int_eq(harness_waiter_wait_rc(&w), 0);
    ck_assert_int_eq(caplimit_destroy(lim), EBUSY);
    harness_waiter_finish(&w);

    /* waiting only: a paused limiter */
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 0), 0);
    harness_waiter_init(&w, lim, HARNESS_OBJ, &objs[1], HARNESS_HOLD);
    harness_waiter_queue(&w, 1);
    harness_assert_counts(lim, 0, 1);
    ck_assert_int_eq(caplimit_destroy(lim), EBUSY);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 1), 0);
    ck_assert_int_eq(harness_waiter_wait_rc(&w), 0);
    harness_waiter_finish(&w);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- R14 Cost (functional: no timing here) ------------------------------ */

#define R14_N 100000

START_TEST(test_R14_hundred_thousand_object_borrowers)
{
    caplimit_t *lim;
    char *many = malloc(R14_N);
    struct caplimit_statistics st;
    struct harness_waiter w;
    size_t i;

    ck_assert_ptr_nonnull(many);
    lim = harness_make(R14_N + 1);
    for (i = 0; i < R14_N; i++)
        ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &many[i]), 0);
    harness_assert_counts(lim, R14_N, 0);
    ck_assert_uint_eq(caplimit_available_tokens(lim), 1);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &many[R14_N / 2]), EDEADLK);

    /* the last token, then a waiter, then hand-off */
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_int_eq(caplimit_acquire_nowait(lim), EDEADLK);
    harness_waiter_init(&w, lim, HARNESS_OBJ, &objs[0], HARNESS_HOLD);
    harness_waiter_queue(&w, 1);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &many[12345]), 0);
    ck_assert_int_eq(harness_waiter_wait_rc(&w), 0);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &many[12345]), 0);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &many[12346]), 1);
    harness_waiter_finish(&w);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &many[12345]), 0);

    ck_assert_int_eq(caplimit_statistics(lim, &st), 0);
    ck_assert_uint_eq(st.nborrowers, R14_N);
    ck_assert_uint_eq(st.borrowed_tokens, R14_N);
    caplimit_statistics_destroy(&st);

    /* give them back in a scattered order: every one is found */
    for (i = 0; i < R14_N; i++) {
        size_t k = (i * 7919) % R14_N;
        ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &many[k]), 0);
    }
    harness_assert_counts(lim, 0, 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
    free(many);
}
END_TEST

/* ---- More grants in one dispatch than the batch of deferred signals ---- */

#define NBATCH 20                    /* more than CL_WAKE_BATCH (8) */

static void batch_round(caplimit_t *lim)
{
    struct harness_waiter w[NBATCH];
    int borrowers[NBATCH];
    int i;

    for (i = 0; i < NBATCH; i++) {
        if (i % 2)
            harness_waiter_start(&w[i], lim, HARNESS_OBJ_UNTIL, &borrowers[i], 60000, HARNESS_HOLD);
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

int main(void)
{
    Suite *s = suite_create("rules");
    TCase *tc = harness_tcase_create("core");

    tcase_add_test(tc, test_R1_zero_total_is_paused);
    tcase_add_test(tc, test_R1_infinite_never_waits);
    tcase_add_test(tc, test_R1_borrower_holds_at_most_one);
    tcase_add_test(tc, test_R2_thread_and_object_never_collide);
    tcase_add_test(tc, test_R2_object_token_released_from_another_thread);
    tcase_add_test(tc, test_R2_thread_token_released_only_by_its_thread);
    tcase_add_test(tc, test_R3_holder_gets_EDEADLK_with_or_without_free_token);
    tcase_add_test(tc, test_R3_queued_object_gets_EDEADLK_from_any_thread);
    tcase_add_test(tc, test_R3_queued_object_gets_EDEADLK_while_a_token_is_free);
    tcase_add_test(tc, test_R2_queued_thread_and_its_object_alias_differ);
    tcase_add_test(tc, test_R4_nowait_does_not_jump_the_queue);
    tcase_add_test(tc, test_R4_queue_behind_waiter_even_with_total_raised_later);
    tcase_add_test(tc, test_R4_R5_scenario_release_then_nowait_never_overgrants);
    tcase_add_test(tc, test_R5_fifo_through_ten_queued_threads);
    tcase_add_test(tc, test_R5_release_of_many_grants_in_order_up_to_total);
    tcase_add_test(tc, test_R5_rise_grants_more_than_a_batch);
    tcase_add_test(tc, test_R17_rise_wakes_more_than_a_batch);
    tcase_add_test(tc, test_R8_lower_then_raise_never_overgrants);
    tcase_add_test(tc, test_R8_rise_empties_queue_then_newcomer_gets_in);
    tcase_add_test(tc, test_R8_scenario_quota_raised_under_load);
    tcase_add_test(tc, test_R9_release_by_non_holder_is_EPERM);
    tcase_add_test(tc, test_R9_release_of_another_limiter_token_is_EPERM);
    tcase_add_test(tc, test_R10_snapshot_is_consistent);
    tcase_add_test(tc, test_R10_snapshot_consistent_under_churn);
    tcase_add_test(tc, test_R11_available_tokens);
    tcase_add_test(tc, test_R12_destroy_busy_while_borrowed_or_waiting);
    tcase_add_test(tc, test_R14_hundred_thousand_object_borrowers);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
