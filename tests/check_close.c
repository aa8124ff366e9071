/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * R18: caplimit_close, and the shutdown it makes safe (R12).
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

static void wakes_every_variant(enum caplimit_policy policy)
{
    caplimit_t *lim = harness_make(1);
    struct harness_waiter w[4];
    struct caplimit_counters c;
    struct timespec t0;
    int held, i;

    ck_assert_int_eq(caplimit_set_policy(lim, policy, 0), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &held), 0);
    for (i = 0; i < 4; i++) {
        harness_waiter_start(&w[i], lim, harness_waiting_variants[i], &w[i], 600000, HARNESS_RELEASE_AT_ONCE);
        POLL_UNTIL(caplimit_threads_waiting(lim) == (size_t)i + 1);
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(caplimit_close(lim), 0);
    ck_assert_uint_eq(caplimit_threads_waiting(lim), 0);
    for (i = 0; i < 4; i++)
        ck_assert_int_eq(harness_waiter_join(&w[i]), ECANCELED);
    /* promptly: not at the ten-minute deadlines */
    ck_assert_int_lt(harness_ms_since(&t0), 5000);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 1);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &held), 1);
    for (i = 0; i < 4; i++)
        ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &w[i]), 0);
    ck_assert_int_eq(caplimit_counters(lim, &c), 0);
    ck_assert_uint_eq(c.closed_out, 4);
    ck_assert_uint_eq(c.granted_after_wait + c.timed_out + c.cancelled, 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &held), 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}

START_TEST(test_R18_close_wakes_every_variant)
{
    wakes_every_variant(CAPLIMIT_POLICY_FIFO);
}
END_TEST

START_TEST(test_R18_close_wakes_every_variant_throughput)
{
    wakes_every_variant(CAPLIMIT_POLICY_THROUGHPUT);
}
END_TEST

/* Under R17 a woken waiter that has not yet taken its free token is still
 * queued: close sends it away with ECANCELED too, and destroy waits for it
 * to leave (R12). */
START_TEST(test_R18_close_woken_waiter_and_destroy_waits)
{
    caplimit_t *lim = harness_make(1);
    struct harness_waiter w;

    ck_assert_int_eq(caplimit_set_policy(lim, CAPLIMIT_POLICY_THROUGHPUT, 10000000000ULL), 0);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    harness_waiter_init(&w, lim, HARNESS_PLAIN, NULL, HARNESS_RELEASE_AT_ONCE);
    harness_waiter_queue(&w, 1);
    harness_stall(w.thread);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    ck_assert_int_eq(caplimit_close(lim), 0);
    ck_assert_uint_eq(caplimit_threads_waiting(lim), 0);
    /* the woken thread has not left the limiter's functions yet */
    ck_assert_int_eq(caplimit_destroy(lim), EBUSY);
    ck_assert_int_eq(caplimit_destroy(lim), EBUSY);
    harness_unstall();
    ck_assert_int_eq(harness_waiter_join(&w), ECANCELED);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R18_destroy_busy_until_woken_thread_left)
{
    caplimit_t *lim = harness_make(0);
    struct harness_waiter w;

    harness_waiter_start(&w, lim, HARNESS_OBJ_UNTIL, &w, 600000, HARNESS_RELEASE_AT_ONCE);
    POLL_UNTIL(caplimit_threads_waiting(lim) == 1);
    harness_stall(w.thread);
    ck_assert_int_eq(caplimit_close(lim), 0);
    ck_assert_int_eq(caplimit_destroy(lim), EBUSY);
    harness_unstall();
    ck_assert_int_eq(harness_waiter_join(&w), ECANCELED);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R18_later_acquires_fail_ecanceled)
{
    caplimit_t *lim = harness_make(5);
    struct caplimit_counters c;
    struct timespec past = { 0, 0 };
    int obj, v;

    ck_assert_int_eq(caplimit_close(lim), 0);
    for (v = 0; v < HARNESS_NVARIANTS; v++)
        ck_assert_int_eq(harness_acquire_variant(lim, (enum harness_variant)v, &obj, 1000),
                         ECANCELED);
    /* a past deadline: ECANCELED, not ETIMEDOUT */
    ck_assert_int_eq(caplimit_acquire_until(lim, CLOCK_REALTIME, &past), ECANCELED);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_until(lim, &obj, CLOCK_MONOTONIC, &past),
                     ECANCELED);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    ck_assert_uint_eq(caplimit_available_tokens(lim), 5);
    ck_assert_int_eq(caplimit_holds(lim), 0);
    ck_assert_int_eq(caplimit_counters(lim, &c), 0);
    ck_assert_uint_eq(c.closed_out, HARNESS_NVARIANTS + 2);
    ck_assert_uint_eq(c.granted_at_once + c.would_block + c.timed_out, 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

static void *check_order_thread(void *arg)
{
    caplimit_t *lim = arg;
    struct timespec t = harness_deadline_ms(1000);

    WORKER_CHECK(caplimit_acquire_until(lim, CLOCK_MONOTONIC, &t) == ECANCELED);
    WORKER_CHECK(caplimit_acquire_nowait(lim) == ECANCELED);
    return NULL;
}

/* EINVAL first, then EDEADLK (R3), then ECANCELED; only the last counts. */
START_TEST(test_R18_check_order)
{
    caplimit_t *lim = harness_make(3);
    struct caplimit_counters c;
    struct timespec bad_ns = { 0, 1000000000L }, ok = harness_deadline_ms(1000);
    int obj, other;
    pthread_t t;

    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &obj), 0);
    ck_assert_int_eq(caplimit_close(lim), 0);

    ck_assert_int_eq(caplimit_acquire(NULL), EINVAL);
    ck_assert_int_eq(caplimit_acquire_nowait(NULL), EINVAL);
    ck_assert_int_eq(caplimit_acquire_until(lim, CLOCK_MONOTONIC, NULL), EINVAL);
    ck_assert_int_eq(caplimit_acquire_until(lim, CLOCK_MONOTONIC, &bad_ns), EINVAL);
    ck_assert_int_eq(caplimit_acquire_until(lim, CLOCK_PROCESS_CPUTIME_ID, &ok), EINVAL);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, NULL), EINVAL);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, NULL), EINVAL);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_until(lim, NULL, CLOCK_MONOTONIC, &ok),
                     EINVAL);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_until(lim, &other, CLOCK_REALTIME, &bad_ns),
                     EINVAL);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_until(lim, &other, CLOCK_MONOTONIC, NULL),
                     EINVAL);

    /* the holders: R3 before R18 */
    ck_assert_int_eq(caplimit_acquire(lim), EDEADLK);
    ck_assert_int_eq(caplimit_acquire_nowait(lim), EDEADLK);
    ck_assert_int_eq(caplimit_acquire_until(lim, CLOCK_MONOTONIC, &ok), EDEADLK);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &obj), EDEADLK);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &obj), EDEADLK);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_until(lim, &obj, CLOCK_REALTIME, &ok),
                     EDEADLK);

    ck_assert_int_eq(caplimit_counters(lim, &c), 0);
    ck_assert_uint_eq(c.closed_out, 0);
    ck_assert_uint_eq(c.granted_at_once, 2);

    /* everyone else: ECANCELED, although a token is free */
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &other), ECANCELED);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &other), ECANCELED);
    harness_spawn(&t, check_order_thread, lim);
    harness_join(t);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_counters(lim, &c), 0);
    ck_assert_uint_eq(c.closed_out, 4);
    ck_assert_uint_eq(c.granted_at_once, 2);
    ck_assert_uint_eq(c.would_block + c.timed_out + c.granted_after_wait, 0);

    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &obj), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* A queued borrower asked again before the close: EDEADLK; after the close
 * it is no longer queued, and gets ECANCELED. */
START_TEST(test_R18_queued_borrower_then_closed)
{
    caplimit_t *lim = harness_make(0);
    struct harness_waiter w;
    int obj;

    harness_waiter_init(&w, lim, HARNESS_OBJ, &obj, HARNESS_RELEASE_AT_ONCE);
    harness_waiter_queue(&w, 1);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &obj), EDEADLK);
    ck_assert_int_eq(caplimit_close(lim), 0);
    ck_assert_int_eq(harness_waiter_join(&w), ECANCELED);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &obj), ECANCELED);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

static void *release_later(void *arg)
{
    struct harness_waiter *w = arg;
    /* reuses the waiter shape: holds until go, then releases */
    WORKER_CHECK(caplimit_acquire(w->lim) == 0);
    STORE(&w->rc, 0);
    while (!LOAD(&w->go))
        harness_yield();
    WORKER_CHECK(caplimit_holds(w->lim) == 1);
    WORKER_CHECK(caplimit_release(w->lim) == 0);
    WORKER_CHECK(caplimit_release(w->lim) == EPERM);
    return NULL;
}

START_TEST(test_R18_borrowers_keep_tokens)
{
    caplimit_t *lim = harness_make(3);
    struct harness_waiter other;
    struct caplimit_statistics st;
    int obj;

    harness_waiter_init(&other, lim, HARNESS_PLAIN, NULL, HARNESS_HOLD);
    harness_spawn(&other.thread, release_later, &other);
    POLL_UNTIL(harness_waiter_rc(&other) == 0);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &obj), 0);
    ck_assert_int_eq(caplimit_close(lim), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 3);
    ck_assert_int_eq(caplimit_holds(lim), 1);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &obj), 1);
    ck_assert_int_eq(caplimit_statistics(lim, &st), 0);
    ck_assert_uint_eq(st.nborrowers, 3);
    caplimit_statistics_destroy(&st);
    ck_assert_int_eq(caplimit_destroy(lim), EBUSY);

    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_release(lim), EPERM);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &obj), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &obj), EPERM);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 1);
    ck_assert_int_eq(caplimit_destroy(lim), EBUSY);
    harness_waiter_go(&other);
    harness_join(other.thread);
    harness_assert_no_worker_failures();
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R18_close_twice_and_is_closed)
{
    caplimit_t *lim = harness_make(1);

    ck_assert_int_eq(caplimit_is_closed(NULL), 0);
    ck_assert_int_eq(caplimit_close(NULL), EINVAL);
    ck_assert_int_eq(caplimit_is_closed(lim), 0);
    ck_assert_int_eq(caplimit_close(lim), 0);
    ck_assert_int_eq(caplimit_is_closed(lim), 1);
    ck_assert_int_eq(caplimit_close(lim), 0);
    ck_assert_int_eq(caplimit_is_closed(lim), 1);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R18_totals_statistics_counters_keep_working)
{
    caplimit_t *lim = harness_make(2);
    struct caplimit_statistics st;
    struct caplimit_counters c;
    char buf[128];
    int obj;

    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &obj), 0);
    ck_assert_int_eq(caplimit_close(lim), 0);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 7), 0);
    ck_assert_uint_eq(caplimit_total_tokens(lim), 7);
    ck_assert_uint_eq(caplimit_available_tokens(lim), 6);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 1);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 0), 0);
    ck_assert_uint_eq(caplimit_available_tokens(lim), 0);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, CAPLIMIT_INFINITE), 0);
    ck_assert_uint_eq(caplimit_available_tokens(lim), CAPLIMIT_INFINITE);
    /* a rise grants nothing: nobody can be queued any more */
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 1);
    ck_assert_int_eq(caplimit_acquire_nowait(lim), ECANCELED);
    ck_assert_int_eq(caplimit_set_policy(lim, CAPLIMIT_POLICY_THROUGHPUT, 0), 0);
    ck_assert_int_eq(caplimit_set_reentrant(lim, 1), 0);

    ck_assert_int_eq(caplimit_statistics(lim, &st), 0);
    ck_assert_uint_eq(st.borrowed_tokens, 1);
    ck_assert_uint_eq(st.total_tokens, CAPLIMIT_INFINITE);
    ck_assert_uint_eq(st.threads_waiting, 0);
    ck_assert_uint_eq(st.nborrowers, 1);
    ck_assert_ptr_eq(st.borrowers[0].object, &obj);
    caplimit_statistics_destroy(&st);

    ck_assert_int_eq(caplimit_counters(lim, &c), 0);
    ck_assert_uint_eq(c.granted_at_once, 1);
    ck_assert_uint_eq(c.closed_out, 1);
    ck_assert_int_gt(caplimit_format(lim, buf, sizeof buf), 0);
    ck_assert_ptr_ne(strstr(buf, "1/inf with 0 waiting"), NULL);

    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &obj), 0);
    ck_assert_int_eq(caplimit_counters(lim, &c), 0);
    ck_assert_uint_eq(c.abandoned, 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R18_with_block_does_not_run)
{
    caplimit_t *lim = harness_make(1);
    int rc = -1, ran = 0;

    ck_assert_int_eq(caplimit_close(lim), 0);
    CAPLIMIT_WITH(lim, rc) {
        ran = 1;
    }
    ck_assert_int_eq(rc, ECANCELED);
    ck_assert_int_eq(ran, 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* A holder's block keeps running after a close from another thread, and
 * gives its token back on leaving. */
static void *with_holder(void *arg)
{
    struct harness_waiter *w = arg;
    int rc;

    CAPLIMIT_WITH(w->lim, rc) {
        STORE(&w->rc, 0);
        while (!LOAD(&w->go))
            harness_yield();
        WORKER_CHECK(caplimit_is_closed(w->lim) == 1);
    }
    WORKER_CHECK(rc == 0);
    WORKER_CHECK(caplimit_holds(w->lim) == 0);
    return NULL;
}

START_TEST(test_R18_with_block_holder_survives_close)
{
    caplimit_t *lim = harness_make(1);
    struct harness_waiter w;

    harness_waiter_init(&w, lim, HARNESS_PLAIN, NULL, HARNESS_HOLD);
    harness_spawn(&w.thread, with_holder, &w);
    POLL_UNTIL(harness_waiter_rc(&w) == 0);
    ck_assert_int_eq(caplimit_close(lim), 0);
    harness_waiter_go(&w);
    harness_join(w.thread);
    harness_assert_no_worker_failures();
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- Close racing with everything -------------------------------------- */

struct race {
    caplimit_t *lim;
    int closed_seen;
    unsigned long ok, would_block, timed_out, canceled;
    pthread_mutex_t tally;
};

struct racer {
    struct race *r;
    int id;
    pthread_t thread;
};

static void *racer_main(void *arg)
{
    struct racer *me = arg;
    struct race *r = me->r;
    unsigned long ok = 0, wb = 0, to = 0, cx = 0;
    int i;

    for (i = 0;; i++) {
        enum harness_variant v = (enum harness_variant)((me->id + i) % HARNESS_NVARIANTS);
        int rc = harness_acquire_variant(r->lim, v, me, 2);

        if (rc == 0) {
            ok++;
            WORKER_CHECK(harness_release_variant(r->lim, v, me) == 0);
        } else if (rc == EWOULDBLOCK) {
            wb++;
            harness_yield();
        } else if (rc == ETIMEDOUT) {
            to++;
        } else {
            WORKER_CHECK(rc == ECANCELED);
            cx++;
            /* a few more after the close: all refused */
            if (cx == 3)
                break;
        }
    }
    pthread_mutex_lock(&r->tally);
    r->ok += ok;
    r->would_block += wb;
    r->timed_out += to;
    r->canceled += cx;
    pthread_mutex_unlock(&r->tally);
    return NULL;
}

START_TEST(test_R18_close_races_under_load)
{
    enum { N = 6 };
    int round;

    for (round = 0; round < 8; round++) {
        struct race r;
        struct racer th[N];
        struct caplimit_counters c;
        size_t total = 2;
        int i, k;

        memset(&r, 0, sizeof r);
        pthread_mutex_init(&r.tally, NULL);
        r.lim = harness_make(total);
        if (round % 2)
            ck_assert_int_eq(caplimit_set_policy(r.lim, CAPLIMIT_POLICY_THROUGHPUT, 0), 0);
        for (i = 0; i < N; i++) {
            th[i].r = &r;
            th[i].id = i;
            harness_spawn(&th[i].thread, racer_main, &th[i]);
        }
        /* churn the total, then close in the middle of it */
        for (k = 0; k < 200 + 50 * round; k++) {
            ck_assert_int_eq(caplimit_set_total_tokens(r.lim, (size_t)(k % 4)), 0);
            harness_yield();
        }
        ck_assert_int_eq(caplimit_close(r.lim), 0);
        for (k = 0; k < 20; k++)
            ck_assert_int_eq(caplimit_set_total_tokens(r.lim, (size_t)(k % 3)), 0);
        for (i = 0; i < N; i++)
            harness_join(th[i].thread);
        harness_assert_no_worker_failures();

        ck_assert_uint_eq(caplimit_borrowed_tokens(r.lim), 0);
        ck_assert_uint_eq(caplimit_threads_waiting(r.lim), 0);
        ck_assert_int_eq(caplimit_counters(r.lim, &c), 0);
        ck_assert_uint_eq(c.granted_at_once + c.granted_after_wait, r.ok);
        ck_assert_uint_eq(c.would_block, r.would_block);
        ck_assert_uint_eq(c.timed_out, r.timed_out);
        ck_assert_uint_eq(c.closed_out, r.canceled);
        ck_assert_uint_eq(r.canceled, 3 * N);
        ck_assert_uint_eq(c.cancelled + c.abandoned, 0);
        ck_assert_int_eq(caplimit_destroy(r.lim), 0);
        pthread_mutex_destroy(&r.tally);
    }
}
END_TEST

/* Close, then destroy in a retry loop while the woken threads are still on
 * their way out: nothing may touch the limiter after destroy returns 0.
 * Meant to run under ASan and TSan builds. */
START_TEST(test_R18_close_then_destroy_retry_loop)
{
    enum { N = 8 };
    int round;

    for (round = 0; round < 30; round++) {
        caplimit_t *lim = harness_make(round % 3 == 0 ? 0 : 1);
        struct harness_waiter w[N];
        struct timespec deadline;
        int i, rc, held = round % 3 != 0;

        if (round % 2)
            ck_assert_int_eq(caplimit_set_policy(lim, CAPLIMIT_POLICY_THROUGHPUT, 0), 0);
        if (held)
            ck_assert_int_eq(caplimit_acquire(lim), 0);
        for (i = 0; i < N; i++)
            harness_waiter_start(&w[i], lim, harness_waiting_variants[i % 4], &w[i], 600000, HARNESS_RELEASE_AT_ONCE);
        POLL_UNTIL(caplimit_threads_waiting(lim) == N);
        if (held)
            ck_assert_int_eq(caplimit_release(lim), 0);
        ck_assert_int_eq(caplimit_close(lim), 0);
        deadline = harness_deadline_ms(HARNESS_POLL_MS);
        while ((rc = caplimit_destroy(lim)) == EBUSY) {
            ck_assert_msg(!harness_past(&deadline), "destroy stayed EBUSY");
            harness_yield();
        }
        ck_assert_int_eq(rc, 0);
        /* lim is gone; the threads may still be returning */
        for (i = 0; i < N; i++) {
            rc = harness_waiter_join(&w[i]);
            /* the first may have got the released token before the close */
            ck_assert_msg(rc == ECANCELED || (held && rc == 0), "rc %d", rc);
        }
        harness_assert_no_worker_failures();
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("R18 close");
    TCase *tc = harness_tcase_create("close");

    tcase_add_test(tc, test_R18_close_wakes_every_variant);
    tcase_add_test(tc, test_R18_close_wakes_every_variant_throughput);
    tcase_add_test(tc, test_R18_close_woken_waiter_and_destroy_waits);
    tcase_add_test(tc, test_R18_destroy_busy_until_woken_thread_left);
    tcase_add_test(tc, test_R18_later_acquires_fail_ecanceled);
    tcase_add_test(tc, test_R18_check_order);
    tcase_add_test(tc, test_R18_queued_borrower_then_closed);
    tcase_add_test(tc, test_R18_borrowers_keep_tokens);
    tcase_add_test(tc, test_R18_close_twice_and_is_closed);
    tcase_add_test(tc, test_R18_totals_statistics_counters_keep_working);
    tcase_add_test(tc, test_R18_with_block_does_not_run);
    tcase_add_test(tc, test_R18_with_block_holder_survives_close);
    tcase_add_test(tc, test_R18_close_races_under_load);
    tcase_add_test(tc, test_R18_close_then_destroy_retry_loop);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
