/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * R19: the counters, field by field, against a scripted sequence.
 * White-box: fault injection (cl_alloc_should_fail) for ENOMEM, and a
 * level set at SIZE_MAX for EOVERFLOW.
 */
#include "harness.h"
#include "../lib/internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The expected counters, compared field by field. */
static void expect(const caplimit_t *lim, const struct caplimit_counters *want, int line)
{
    struct caplimit_counters c;

    ck_assert_int_eq(caplimit_counters(lim, &c), 0);
#define FIELD(f)                                                               \
    ck_assert_msg(c.f == want->f, "line %d: " #f " is %llu, want %llu", line,  \
                  (unsigned long long)c.f, (unsigned long long)want->f)
    FIELD(granted_at_once);
    FIELD(granted_after_wait);
    FIELD(would_block);
    FIELD(timed_out);
    FIELD(cancelled);
    FIELD(closed_out);
    FIELD(abandoned);
    FIELD(max_threads_waiting);
#undef FIELD
}
#define EXPECT(lim, want) expect((lim), (want), __LINE__)

START_TEST(test_R19_einval)
{
    caplimit_t *lim = harness_make(1);
    struct caplimit_counters c;

    ck_assert_int_eq(caplimit_counters(NULL, &c), EINVAL);
    ck_assert_int_eq(caplimit_counters(lim, NULL), EINVAL);
    /* all zero at create */
    memset(&c, 0xff, sizeof c);
    ck_assert_int_eq(caplimit_counters(lim, &c), 0);
    ck_assert_uint_eq(c.granted_at_once + c.granted_after_wait + c.would_block + c.timed_out
                      + c.cancelled + c.closed_out + c.abandoned + c.wait_ns_total
                      + c.wait_ns_max + c.max_threads_waiting, 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

static void *exit_holding(void *arg)
{
    WORKER_CHECK(caplimit_acquire_nowait(arg) == 0);
    return NULL;
}

START_TEST(test_R19_scripted_sequence)
{
    caplimit_t *lim = harness_make(1);
    struct caplimit_counters want, c;
    struct harness_waiter w1, w2, w3, w4;
    struct timespec past = { 0, 0 };
    unsigned long long total_after_one;
    pthread_t t;
    int obj;

    memset(&want, 0, sizeof want);
    EXPECT(lim, &want);

    ck_assert_int_eq(caplimit_acquire_nowait(lim), 0);
    want.granted_at_once = 1;
    EXPECT(lim, &want);

    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &obj), EWOULDBLOCK);
    want.would_block = 1;
    EXPECT(lim, &want);

    /* a past deadline on a full limiter times out; so does a short one */
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_until(lim, &obj, CLOCK_REALTIME, &past),
                     ETIMEDOUT);
    want.timed_out = 1;
    want.max_threads_waiting = 1;    /* it queued, then left at once */
    EXPECT(lim, &want);
    harness_waiter_start(&w1, lim, HARNESS_UNTIL, NULL, 20, HARNESS_RELEASE_AT_ONCE);
    ck_assert_int_eq(harness_waiter_join(&w1), ETIMEDOUT);
    want.timed_out = 2;
    EXPECT(lim, &want);
    c = harness_counters(lim);
    ck_assert_uint_eq(c.wait_ns_total, 0);   /* timed-out waits do not count */
    ck_assert_uint_eq(c.wait_ns_max, 0);

    /* three queued: the largest queue seen */
    harness_waiter_init(&w1, lim, HARNESS_PLAIN, NULL, HARNESS_RELEASE_AT_ONCE);
    harness_waiter_queue(&w1, 1);
    harness_waiter_start(&w2, lim, HARNESS_OBJ_UNTIL, &w2, 600000, HARNESS_RELEASE_AT_ONCE);
    POLL_UNTIL(caplimit_threads_waiting(lim) == 2);
    harness_waiter_init(&w3, lim, HARNESS_PLAIN, NULL, HARNESS_RELEASE_AT_ONCE);
    harness_waiter_queue(&w3, 3);
    want.max_threads_waiting = 3;
    EXPECT(lim, &want);

    /* one cancelled while queued */
    ck_assert_int_eq(pthread_cancel(w3.thread), 0);
    ck_assert_int_eq(harness_waiter_join(&w3), HARNESS_RC_CANCELLED);
    want.cancelled = 1;
    EXPECT(lim, &want);

    /* hand-off to w1, which releases to w2, which releases */
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(harness_waiter_join(&w1), 0);
    ck_assert_int_eq(harness_waiter_join(&w2), 0);
    want.granted_after_wait = 2;
    EXPECT(lim, &want);
    c = harness_counters(lim);
    ck_assert_uint_gt(c.wait_ns_total, 0);
    ck_assert_uint_gt(c.wait_ns_max, 0);
    ck_assert_uint_le(c.wait_ns_max, c.wait_ns_total);
    total_after_one = c.wait_ns_total;

    /* a thread that ends holding its token: abandoned */
    harness_spawn(&t, exit_holding, lim);
    harness_join(t);
    want.granted_at_once = 2;
    want.abandoned = 1;
    EXPECT(lim, &want);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);

    /* a queued waiter closed out, and a later acquire refused */
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 0), 0);
    harness_waiter_init(&w4, lim, HARNESS_OBJ, &w4, HARNESS_RELEASE_AT_ONCE);
    harness_waiter_queue(&w4, 1);
    ck_assert_int_eq(caplimit_close(lim), 0);
    ck_assert_int_eq(harness_waiter_join(&w4), ECANCELED);
    ck_assert_int_eq(caplimit_acquire_nowait(lim), ECANCELED);
    want.closed_out = 2;
    EXPECT(lim, &want);
    c = harness_counters(lim);
    ck_assert_uint_eq(c.wait_ns_total, total_after_one);

    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* wait_ns_total sums the waits, wait_ns_max is the longest. */
START_TEST(test_R19_wait_ns)
{
    caplimit_t *lim = harness_make(1);
    struct harness_waiter w;
    struct caplimit_counters c1, c2;
    struct timespec until;

    ck_assert_int_eq(caplimit_acquire(lim), 0);
    harness_waiter_init(&w, lim, HARNESS_PLAIN, NULL, HARNESS_RELEASE_AT_ONCE);
    harness_waiter_queue(&w, 1);
    /* let the wait last at least 20 ms, measured on the clock */
    until = harness_deadline_ms(20);
    POLL_UNTIL(harness_past(&until));
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(harness_waiter_join(&w), 0);
    c1 = harness_counters(lim);
    ck_assert_uint_eq(c1.granted_after_wait, 1);
    ck_assert_uint_ge(c1.wait_ns_total, 20000000ULL);
    ck_assert_uint_eq(c1.wait_ns_max, c1.wait_ns_total);

    /* a second, shorter-or-longer wait: the total adds, the max is the max */
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    harness_waiter_init(&w, lim, HARNESS_OBJ, &w, HARNESS_RELEASE_AT_ONCE);
    harness_waiter_queue(&w, 1);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(harness_waiter_join(&w), 0);
    c2 = harness_counters(lim);
    ck_assert_uint_eq(c2.granted_after_wait, 2);
    ck_assert_uint_gt(c2.wait_ns_total, c1.wait_ns_total);
    ck_assert_uint_ge(c2.wait_ns_max, c1.wait_ns_max);
    ck_assert_uint_eq(c2.wait_ns_max,
                      c1.wait_ns_max > c2.wait_ns_total - c1.wait_ns_total
                          ? c1.wait_ns_max : c2.wait_ns_total - c1.wait_ns_total);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

static int fail_all(void)
{
    return 1;
}

/* EINVAL, EDEADLK, ENOMEM and EOVERFLOW count nowhere. */
START_TEST(test_R19_errors_count_nowhere)
{
    caplimit_t *lim = harness_make(100);
    struct caplimit_counters want;
    struct timespec bad = { 0, -1 }, ok = harness_deadline_ms(1000);
    struct harness_waiter q;
    char objs[16];
    int i, v;
    struct cl_entry *e;

    /* fill the borrower set's first room (8) so the next one must grow */
    for (i = 0; i < 8; i++)
        ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &objs[i]), 0);
    memset(&want, 0, sizeof want);
    want.granted_at_once = 8;
    EXPECT(lim, &want);

    /* EINVAL */
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, NULL), EINVAL);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, NULL), EINVAL);
    ck_assert_int_eq(caplimit_acquire_until(lim, CLOCK_MONOTONIC, &bad), EINVAL);
    ck_assert_int_eq(caplimit_acquire_until(lim, (clockid_t)12345, &ok), EINVAL);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_until(lim, &objs[9], CLOCK_REALTIME, NULL),
                     EINVAL);
    EXPECT(lim, &want);

    /* EDEADLK: a holder, every variant */
    for (v = 0; v < HARNESS_NVARIANTS; v++) {
        if (harness_variant_is_obj((enum harness_variant)v))
            ck_assert_int_eq(harness_acquire_variant(lim, (enum harness_variant)v, &objs[0], 100),
                             EDEADLK);
    }
    EXPECT(lim, &want);

    /* ENOMEM: the borrower set cannot grow */
    cl_alloc_should_fail = fail_all;
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &objs[9]), ENOMEM);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[9]), ENOMEM);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_until(lim, &objs[9], CLOCK_MONOTONIC, &ok),
                     ENOMEM);
    cl_alloc_should_fail = NULL;
    EXPECT(lim, &want);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 8);

    /* EDEADLK: a queued borrower */
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 8), 0);
    harness_waiter_init(&q, lim, HARNESS_OBJ, &objs[10], HARNESS_RELEASE_AT_ONCE);
    harness_waiter_queue(&q, 1);
    want.max_threads_waiting = 1;
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &objs[10]), EDEADLK);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_until(lim, &objs[10], CLOCK_MONOTONIC, &ok),
                     EDEADLK);
    EXPECT(lim, &want);

    /* EOVERFLOW: a re-entry at level SIZE_MAX */
    ck_assert_int_eq(caplimit_set_reentrant(lim, 1), 0);
    cl_lock(lim);
    e = cl_entry_of(lim, cl_object_key(&objs[1]));
    ck_assert_ptr_nonnull(e);
    e->level = SIZE_MAX;
    lim->st->extra_levels += SIZE_MAX - 1;
    cl_unlock(lim);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &objs[1]), EOVERFLOW);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[1]), EOVERFLOW);
    EXPECT(lim, &want);
    cl_lock(lim);
    e->level = 1;
    lim->st->extra_levels -= SIZE_MAX - 1;
    cl_unlock(lim);

    for (i = 0; i < 8; i++)
        ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[i]), 0);
    ck_assert_int_eq(harness_waiter_join(&q), 0);
    want.granted_after_wait = 1;
    EXPECT(lim, &want);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* A waiter granted, then cancelled before it returned, counts as
 * cancelled only: the token it was handed goes back to the next.  The
 * cancellation unwinds from a signal handler, which TSan cannot follow:
 * under TSan only the racing version below runs. */
#ifndef UNDER_TSAN
START_TEST(test_R19_cancelled_after_grant_counts_cancelled_only)
{
    caplimit_t *lim = harness_make(1);
    struct harness_waiter w, next;
    struct caplimit_counters want;

    ck_assert_int_eq(caplimit_acquire(lim), 0);
    harness_waiter_init(&w, lim, HARNESS_PLAIN, NULL, HARNESS_RELEASE_AT_ONCE);
    harness_waiter_queue(&w, 1);
    harness_waiter_init(&next, lim, HARNESS_OBJ, &next, HARNESS_HOLD);
    harness_waiter_queue(&next, 2);
    harness_stall(w.thread);
    ck_assert_int_eq(caplimit_release(lim), 0);
    /* granted (R5) while it cannot run */
    ck_assert_uint_eq(caplimit_threads_waiting(lim), 1);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 1);
    harness_unstall_cancel(w.thread);
    ck_assert_int_eq(harness_waiter_join(&w), HARNESS_RC_CANCELLED);
    /* its token went on to the next waiter */
    POLL_UNTIL(harness_waiter_rc(&next) == 0);
    memset(&want, 0, sizeof want);
    want.granted_at_once = 1;
    want.granted_after_wait = 1;     /* next's, not the cancelled one's */
    want.cancelled = 1;
    want.max_threads_waiting = 2;
    EXPECT(lim, &want);
    ck_assert_int_eq(harness_waiter_finish(&next), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST
#endif

/* The same by racing the cancellation with the hand-off, many times: each
 * waiter counts once, as cancelled or as granted, never both, and no token
 * is lost. */
START_TEST(test_R19_cancel_racing_grant_counts_once)
{
    enum { ROUNDS = 200 };
    caplimit_t *lim = harness_make(1);
    struct caplimit_counters c;
    unsigned long granted = 0, cancelled = 0;
    int round;

    ck_assert_int_eq(caplimit_acquire(lim), 0);
    for (round = 0; round < ROUNDS; round++) {
        struct harness_waiter w;
        int rc;

        harness_waiter_start(&w, lim, round % 2 ? HARNESS_PLAIN : HARNESS_OBJ_UNTIL, &w,
                             600000, HARNESS_RELEASE_AT_ONCE);
        POLL_UNTIL(caplimit_threads_waiting(lim) == 1);
        ck_assert_int_eq(caplimit_release(lim), 0);
        ck_assert_int_eq(pthread_cancel(w.thread), 0);
        rc = harness_waiter_join(&w);
        ck_assert_msg(rc == 0 || rc == HARNESS_RC_CANCELLED, "rc %d", rc);
        if (rc == 0)
            granted++;
        else
            cancelled++;
        ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
        ck_assert_uint_eq(caplimit_threads_waiting(lim), 0);
        ck_assert_int_eq(caplimit_acquire_nowait(lim), 0);
    }
    c = harness_counters(lim);
    ck_assert_uint_eq(c.granted_after_wait, granted);
    ck_assert_uint_eq(c.cancelled, cancelled);
    ck_assert_uint_eq(c.granted_at_once, ROUNDS + 1);
    ck_assert_uint_eq(c.abandoned, 0);
    ck_assert_int_eq(caplimit_release(lim), 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* Re-entry under R21 counts as granted at once; the EDEADLK before it was
 * turned on counted nowhere. */
START_TEST(test_R19_reentry_counts_at_once)
{
    caplimit_t *lim = harness_make(1);
    struct caplimit_counters want;

    memset(&want, 0, sizeof want);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_int_eq(caplimit_acquire(lim), EDEADLK);
    want.granted_at_once = 1;
    EXPECT(lim, &want);
    ck_assert_int_eq(caplimit_set_reentrant(lim, 1), 0);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_int_eq(caplimit_acquire_nowait(lim), 0);
    want.granted_at_once = 3;
    EXPECT(lim, &want);
    ck_assert_int_eq(caplimit_close(lim), 0);
    ck_assert_int_eq(caplimit_acquire(lim), ECANCELED);
    want.closed_out = 1;
    EXPECT(lim, &want);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_release(lim), EPERM);
    EXPECT(lim, &want);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* Under load, each acquire call adds one to exactly one counter. */
struct tally {
    caplimit_t *lim;
    unsigned long calls, ok, wb, to;
    pthread_mutex_t lock;
};

static void *tally_main(void *arg)
{
    struct tally *t = arg;
    unsigned long calls = 0, ok = 0, wb = 0, to = 0;
    int i, obj;

    for (i = 0; i < harness_scale(300); i++) {
        enum harness_variant v = (enum harness_variant)(i % HARNESS_NVARIANTS);
        int rc = harness_acquire_variant(t->lim, v, &obj, 1);

        calls++;
        if (rc == 0) {
            ok++;
            WORKER_CHECK(harness_release_variant(t->lim, v, &obj) == 0);
        } else if (rc == EWOULDBLOCK) {
            wb++;
        } else {
            WORKER_CHECK(rc == ETIMEDOUT);
            to++;
        }
    }
    pthread_mutex_lock(&t->lock);
    t->calls += calls;
    t->ok += ok;
    t->wb += wb;
    t->to += to;
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

START_TEST(test_R19_one_counter_per_call_under_load)
{
    struct tally t;
    struct caplimit_counters c;
    pthread_t th[6];
    int i;

    memset(&t, 0, sizeof t);
    pthread_mutex_init(&t.lock, NULL);
    t.lim = harness_make(2);
    for (i = 0; i < 6; i++)
        harness_spawn(&th[i], tally_main, &t);
    for (i = 0; i < 6; i++)
        harness_join(th[i]);
    harness_assert_no_worker_failures();
    c = harness_counters(t.lim);
    ck_assert_uint_eq(c.granted_at_once + c.granted_after_wait, t.ok);
    ck_assert_uint_eq(c.would_block, t.wb);
    ck_assert_uint_eq(c.timed_out, t.to);
    ck_assert_uint_eq(c.granted_at_once + c.granted_after_wait + c.would_block + c.timed_out
                      + c.cancelled + c.closed_out, 6 * (unsigned long)harness_scale(300));
    ck_assert_uint_le(c.max_threads_waiting, 6);
    ck_assert_uint_le(c.wait_ns_max, c.wait_ns_total);
    ck_assert_int_eq(caplimit_destroy(t.lim), 0);
    pthread_mutex_destroy(&t.lock);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("R19 counters");
    TCase *tc = harness_tcase_create("counters");

    tcase_add_test(tc, test_R19_einval);
    harness_add_cancel_test(tc, test_R19_scripted_sequence);
    tcase_add_test(tc, test_R19_wait_ns);
    tcase_add_test(tc, test_R19_errors_count_nowhere);
#ifndef UNDER_TSAN
    harness_add_handler_cancel_test(tc, test_R19_cancelled_after_grant_counts_cancelled_only);
#endif
    harness_add_cancel_test(tc, test_R19_cancel_racing_grant_counts_once);
    tcase_add_test(tc, test_R19_reentry_counts_at_once);
    tcase_add_test(tc, test_R19_one_counter_per_call_under_load);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
