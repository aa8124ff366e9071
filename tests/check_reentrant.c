/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * R21: reentrant limiters.  White-box for EOVERFLOW: reaching a level of
 * SIZE_MAX by acquiring would take centuries, so the test sets it.
 */
#include "harness.h"
#include "../lib/internal.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The level statistics report for a thread (obj NULL) or an object; 0 when
 * it holds nothing.  *ok is 0 when the snapshot fails or disagrees with
 * itself.  No asserts: worker threads use it too. */
static size_t stat_level_ok(const caplimit_t *lim, pthread_t t, const void *obj, int *ok)
{
    struct caplimit_statistics st;
    size_t i, level = 0;

    *ok = caplimit_statistics(lim, &st) == 0;
    if (!*ok)
        return 0;
    *ok = st.nborrowers == st.borrowed_tokens;
    for (i = 0; i < st.nborrowers; i++) {
        const struct caplimit_borrower *b = &st.borrowers[i];
        if (obj == NULL ? b->kind == CAPLIMIT_BORROWER_THREAD && pthread_equal(b->thread, t)
                        : b->kind == CAPLIMIT_BORROWER_OBJECT && b->object == obj)
            level = b->level;
    }
    caplimit_statistics_destroy(&st);
    return level;
}

static size_t stat_level(const caplimit_t *lim, pthread_t t, const void *obj)
{
    int ok;
    size_t level = stat_level_ok(lim, t, obj, &ok);
    WORKER_CHECK(ok);
    return level;
}

static size_t level_of(const caplimit_t *lim, pthread_t t, const void *obj)
{
    int ok;
    size_t level = stat_level_ok(lim, t, obj, &ok);
    ck_assert(ok);
    return level;
}
#define MY_LEVEL(lim) level_of((lim), pthread_self(), NULL)

START_TEST(test_R21_off_by_default)
{
    caplimit_t *lim = harness_make(3);
    struct caplimit_counters c;
    int obj, v;

    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &obj), 0);
    for (v = 0; v < HARNESS_NVARIANTS; v++)
        ck_assert_int_eq(harness_acquire_variant(lim, (enum harness_variant)v, &obj, 100),
                         EDEADLK);
    ck_assert_uint_eq(MY_LEVEL(lim), 1);
    ck_assert_uint_eq(level_of(lim, pthread_self(), &obj), 1);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 2);
    c = harness_counters(lim);
    ck_assert_uint_eq(c.granted_at_once, 2);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_release(lim), EPERM);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &obj), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* Every variant re-enters at once, even when the limiter is full and
 * threads wait; levels count; the token goes back only at level 0. */
START_TEST(test_R21_any_variant_reenters_when_full)
{
    caplimit_t *lim = harness_make(2);
    struct harness_waiter w;
    struct caplimit_counters c;
    struct timespec past = { 0, 0 };
    int obj, v, i;

    ck_assert_int_eq(caplimit_set_reentrant(lim, 1), 0);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &obj), 0);
    harness_waiter_init(&w, lim, HARNESS_PLAIN, NULL, HARNESS_HOLD);
    harness_waiter_queue(&w, 1);

    for (v = 0; v < HARNESS_NVARIANTS; v++)
        ck_assert_int_eq(harness_acquire_variant(lim, (enum harness_variant)v, &obj, 100), 0);
    /* a past deadline is no obstacle either */
    ck_assert_int_eq(caplimit_acquire_until(lim, CLOCK_REALTIME, &past), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_until(lim, &obj, CLOCK_MONOTONIC, &past), 0);
    ck_assert_uint_eq(MY_LEVEL(lim), 5);
    ck_assert_uint_eq(level_of(lim, pthread_self(), &obj), 5);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 2);
    ck_assert_uint_eq(caplimit_threads_waiting(lim), 1);
    c = harness_counters(lim);
    ck_assert_uint_eq(c.granted_at_once, 2 + 8);
    ck_assert_uint_eq(c.granted_after_wait, 0);

    for (i = 0; i < 4; i++)
        ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_uint_eq(MY_LEVEL(lim), 1);
    ck_assert_int_eq(caplimit_holds(lim), 1);
    ck_assert_uint_eq(caplimit_threads_waiting(lim), 1);
    ck_assert_int_eq(harness_waiter_rc(&w), HARNESS_RC_PENDING);
    for (i = 0; i < 4; i++)
        ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &obj), 0);
    ck_assert_uint_eq(level_of(lim, pthread_self(), &obj), 1);
    ck_assert_uint_eq(caplimit_threads_waiting(lim), 1);

    /* the object's last release hands its token to the waiter */
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &obj), 0);
    ck_assert_uint_eq(caplimit_threads_waiting(lim), 0);
    ck_assert_uint_eq(level_of(lim, w.thread, NULL), 1);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 2);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_release(lim), EPERM);
    ck_assert_int_eq(harness_waiter_finish(&w), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* The token goes to the head of the queue; the others keep their places. */
START_TEST(test_R21_token_goes_to_head_in_order)
{
    enum { N = 4 };
    caplimit_t *lim = harness_make(1);
    struct harness_waiter w[N];
    int i;

    ck_assert_int_eq(caplimit_set_reentrant(lim, 1), 0);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    for (i = 0; i < N; i++) {
        harness_waiter_start(&w[i], lim, (enum harness_variant)(i % 2 ? HARNESS_OBJ : HARNESS_PLAIN),
                             &w[i], HARNESS_NO_DEADLINE, HARNESS_HOLD);
        POLL_UNTIL(caplimit_threads_waiting(lim) == (size_t)i + 1);
    }
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_uint_eq(caplimit_threads_waiting(lim), N);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_uint_eq(caplimit_threads_waiting(lim), N - 1);
    ck_assert_uint_eq(level_of(lim, w[0].thread, NULL), 1);
    for (i = 0; i < N; i++) {
        POLL_UNTIL(harness_waiter_rc(&w[i]) == 0);
        if (i + 1 < N)
            ck_assert_int_eq(harness_waiter_rc(&w[i + 1]), HARNESS_RC_PENDING);
        ck_assert_uint_eq(caplimit_threads_waiting(lim), (size_t)(N - 1 - i));
        ck_assert_int_eq(harness_waiter_finish(&w[i]), 0);
    }
    for (i = 1; i < N; i++)
        ck_assert_uint_lt(w[i - 1].seq, w[i].seq);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* R3 still applies to a queued borrower. */
START_TEST(test_R21_queued_borrower_edeadlk)
{
    caplimit_t *lim = harness_make(1);
    struct harness_waiter w;
    struct timespec soon = harness_deadline_ms(1000);
    int obj, other;

    ck_assert_int_eq(caplimit_set_reentrant(lim, 1), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &other), 0);
    harness_waiter_init(&w, lim, HARNESS_OBJ, &obj, HARNESS_RELEASE_AT_ONCE);
    harness_waiter_queue(&w, 1);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &obj), EDEADLK);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &obj), EDEADLK);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_until(lim, &obj, CLOCK_MONOTONIC, &soon),
                     EDEADLK);
    ck_assert_uint_eq(caplimit_threads_waiting(lim), 1);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &obj), EPERM);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &other), 0);
    ck_assert_int_eq(harness_waiter_join(&w), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* Sets a borrower's level directly, keeping extra_levels consistent. */
static void set_level(caplimit_t *lim, struct cl_key key, size_t level)
{
    struct cl_entry *e;

    cl_lock(lim);
    e = cl_entry_of(lim, key);
    ck_assert_ptr_nonnull(e);
    lim->st->extra_levels -= e->level - 1;
    e->level = level;
    lim->st->extra_levels += level - 1;
    cl_unlock(lim);
}

START_TEST(test_R21_eoverflow_at_size_max)
{
    caplimit_t *lim = harness_make(2);
    struct caplimit_counters before, after;
    int obj, v;

    ck_assert_int_eq(caplimit_set_reentrant(lim, 1), 0);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &obj), 0);
    set_level(lim, cl_thread_key(pthread_self()), SIZE_MAX - 1);
    set_level(lim, cl_object_key(&obj), SIZE_MAX - 1);
    /* one more is fine; the one after overflows */
    ck_assert_int_eq(caplimit_acquire_nowait(lim), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &obj), 0);
    ck_assert_uint_eq(MY_LEVEL(lim), SIZE_MAX);
    before = harness_counters(lim);
    for (v = 0; v < HARNESS_NVARIANTS; v++)
        ck_assert_int_eq(harness_acquire_variant(lim, (enum harness_variant)v, &obj, 100),
                         EOVERFLOW);
    after = harness_counters(lim);
    ck_assert_int_eq(memcmp(&before, &after, sizeof before), 0);
    ck_assert_uint_eq(MY_LEVEL(lim), SIZE_MAX);
    ck_assert_uint_eq(level_of(lim, pthread_self(), &obj), SIZE_MAX);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 2);
    /* turning it off is refused at such a level */
    ck_assert_int_eq(caplimit_set_reentrant(lim, 0), EBUSY);
    /* releases count down from there */
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_uint_eq(MY_LEVEL(lim), SIZE_MAX - 1);
    set_level(lim, cl_thread_key(pthread_self()), 2);
    set_level(lim, cl_object_key(&obj), 1);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_holds(lim), 1);
    ck_assert_int_eq(caplimit_set_reentrant(lim, 0), 0);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &obj), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R21_turn_off_above_level_one_ebusy)
{
    caplimit_t *lim = harness_make(2);
    int obj;

    ck_assert_int_eq(caplimit_set_reentrant(NULL, 1), EINVAL);
    ck_assert_int_eq(caplimit_set_reentrant(lim, 1), 0);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    /* level 1 everywhere: off is fine, and on again */
    ck_assert_int_eq(caplimit_set_reentrant(lim, 0), 0);
    ck_assert_int_eq(caplimit_acquire(lim), EDEADLK);
    ck_assert_int_eq(caplimit_set_reentrant(lim, 1), 0);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_int_eq(caplimit_set_reentrant(lim, 0), EBUSY);
    /* still on */
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_uint_eq(MY_LEVEL(lim), 3);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_release(lim), 0);
    /* an object above level 1 blocks it too */
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &obj), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &obj), 0);
    ck_assert_int_eq(caplimit_set_reentrant(lim, 0), EBUSY);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &obj), 0);
    ck_assert_int_eq(caplimit_set_reentrant(lim, 0), 0);
    ck_assert_int_eq(caplimit_acquire(lim), EDEADLK);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &obj), EDEADLK);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &obj), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R21_any_nonzero_turns_on)
{
    static const int ons[] = { 2, -1, INT_MAX, INT_MIN, 256 };
    size_t i;

    for (i = 0; i < sizeof ons / sizeof ons[0]; i++) {
        caplimit_t *lim = harness_make(1);
        ck_assert_int_eq(caplimit_set_reentrant(lim, ons[i]), 0);
        ck_assert_int_eq(caplimit_acquire(lim), 0);
        ck_assert_int_eq(caplimit_acquire(lim), 0);
        ck_assert_uint_eq(MY_LEVEL(lim), 2);
        ck_assert_int_eq(caplimit_release(lim), 0);
        ck_assert_int_eq(caplimit_release(lim), 0);
        ck_assert_int_eq(caplimit_destroy(lim), 0);
    }
}
END_TEST

START_TEST(test_R21_reentry_on_closed_ecanceled)
{
    caplimit_t *lim = harness_make(2);
    struct caplimit_counters c;
    int obj, v;

    ck_assert_int_eq(caplimit_set_reentrant(lim, 1), 0);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &obj), 0);
    ck_assert_int_eq(caplimit_close(lim), 0);
    for (v = 0; v < HARNESS_NVARIANTS; v++)
        ck_assert_int_eq(harness_acquire_variant(lim, (enum harness_variant)v, &obj, 100),
                         ECANCELED);
    ck_assert_uint_eq(MY_LEVEL(lim), 2);
    ck_assert_uint_eq(level_of(lim, pthread_self(), &obj), 1);
    c = harness_counters(lim);
    ck_assert_uint_eq(c.closed_out, HARNESS_NVARIANTS);
    ck_assert_uint_eq(c.granted_at_once, 3);
    /* off again (level 2 remains): EBUSY; at level 1, off, then EDEADLK
     * comes before ECANCELED */
    ck_assert_int_eq(caplimit_set_reentrant(lim, 0), EBUSY);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_set_reentrant(lim, 0), 0);
    ck_assert_int_eq(caplimit_acquire_nowait(lim), EDEADLK);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &obj), EDEADLK);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &obj), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

struct nest {
    caplimit_t *lim;
    size_t levels[3];
    size_t after_break;
    int rcs[3];
};

static void *nest_main(void *arg)
{
    struct nest *n = arg;
    caplimit_t *lim = n->lim;
    int rc1 = -1, rc2 = -1, rc3 = -1;

    CAPLIMIT_WITH(lim, rc1) {
        n->levels[0] = stat_level(lim, pthread_self(), NULL);
        CAPLIMIT_WITH(lim, rc2) {
            n->levels[1] = stat_level(lim, pthread_self(), NULL);
            CAPLIMIT_WITH(lim, rc3) {
                n->levels[2] = stat_level(lim, pthread_self(), NULL);
                break;
            }
            n->after_break = stat_level(lim, pthread_self(), NULL);
        }
        WORKER_CHECK(stat_level(lim, pthread_self(), NULL) == 1);
    }
    n->rcs[0] = rc1;
    n->rcs[1] = rc2;
    n->rcs[2] = rc3;
    WORKER_CHECK(caplimit_holds(lim) == 0);
    return NULL;
}

START_TEST(test_R21_with_nests_three_deep)
{
    caplimit_t *lim = harness_make(1);
    struct harness_waiter w;
    struct nest n;
    pthread_t t;

    ck_assert_int_eq(caplimit_set_reentrant(lim, 1), 0);
    memset(&n, 0, sizeof n);
    n.lim = lim;
    harness_spawn(&t, nest_main, &n);
    harness_join(t);
    ck_assert_int_eq(n.rcs[0], 0);
    ck_assert_int_eq(n.rcs[1], 0);
    ck_assert_int_eq(n.rcs[2], 0);
    ck_assert_uint_eq(n.levels[0], 1);
    ck_assert_uint_eq(n.levels[1], 2);
    ck_assert_uint_eq(n.levels[2], 3);
    ck_assert_uint_eq(n.after_break, 2);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);

    /* the same while another thread waits: it gets the token only at the end */
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    harness_waiter_init(&w, lim, HARNESS_OBJ, &w, HARNESS_RELEASE_AT_ONCE);
    harness_waiter_queue(&w, 1);
    memset(&n, 0, sizeof n);
    n.lim = lim;
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(harness_waiter_join(&w), 0);
    harness_spawn(&t, nest_main, &n);
    harness_join(t);
    ck_assert_uint_eq(n.levels[2], 3);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* A queued waiter cancelled while the holder is at level 2: nothing lost,
 * the next waiter gets the token at the holder's level 0. */
START_TEST(test_R21_cancel_queued_waiter)
{
    caplimit_t *lim = harness_make(1);
    struct harness_waiter a, b;
    struct caplimit_counters c;

    ck_assert_int_eq(caplimit_set_reentrant(lim, 1), 0);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    harness_waiter_init(&a, lim, HARNESS_PLAIN, NULL, HARNESS_RELEASE_AT_ONCE);
    harness_waiter_queue(&a, 1);
    harness_waiter_start(&b, lim, HARNESS_UNTIL, NULL, 600000, HARNESS_HOLD);
    POLL_UNTIL(caplimit_threads_waiting(lim) == 2);
    ck_assert_int_eq(pthread_cancel(a.thread), 0);
    ck_assert_int_eq(harness_waiter_join(&a), HARNESS_RC_CANCELLED);
    ck_assert_uint_eq(caplimit_threads_waiting(lim), 1);
    /* the holder may still re-enter */
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_uint_eq(MY_LEVEL(lim), 3);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(harness_waiter_rc(&b), HARNESS_RC_PENDING);
    ck_assert_int_eq(caplimit_release(lim), 0);
    POLL_UNTIL(harness_waiter_rc(&b) == 0);
    ck_assert_int_eq(harness_waiter_finish(&b), 0);
    c = harness_counters(lim);
    ck_assert_uint_eq(c.cancelled, 1);
    ck_assert_uint_eq(c.granted_after_wait, 1);
    ck_assert_uint_eq(c.granted_at_once, 3);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    ck_assert_int_eq(caplimit_set_reentrant(lim, 0), 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* A thread at level 2 on one limiter is cancelled while queued on another:
 * both are left clean (R7 on the second, R22 on the first). */
struct two {
    caplimit_t *held, *queued;
    int ready;
};

static void *two_main(void *arg)
{
    struct two *t = arg;

    WORKER_CHECK(caplimit_acquire(t->held) == 0);
    WORKER_CHECK(caplimit_acquire(t->held) == 0);
    __atomic_store_n(&t->ready, 1, __ATOMIC_SEQ_CST);
    caplimit_acquire(t->queued);
    WORKER_CHECK(!"not reached: cancelled while queued");
    return NULL;
}

START_TEST(test_R21_holder_cancelled_while_queued_elsewhere)
{
    caplimit_t *a = harness_make(1), *b = harness_make(0);
    struct two t = { a, b, 0 };
    struct caplimit_counters ca, cb;
    pthread_t th;

    ck_assert_int_eq(caplimit_set_reentrant(a, 1), 0);
    harness_spawn(&th, two_main, &t);
    POLL_UNTIL(caplimit_threads_waiting(b) == 1);
    ck_assert_uint_eq(level_of(a, th, NULL), 2);
    ck_assert_int_eq(caplimit_set_reentrant(a, 0), EBUSY);
    ck_assert_int_eq(pthread_cancel(th), 0);
    harness_join_cancelled(th);
    ck_assert_uint_eq(caplimit_borrowed_tokens(a), 0);
    ck_assert_uint_eq(caplimit_threads_waiting(b), 0);
    ca = harness_counters(a);
    cb = harness_counters(b);
    ck_assert_uint_eq(ca.abandoned, 1);
    ck_assert_uint_eq(cb.cancelled, 1);
    /* no level left behind */
    ck_assert_int_eq(caplimit_set_reentrant(a, 0), 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(a), 0);
    ck_assert_int_eq(caplimit_destroy(b), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("R21 reentrant");
    TCase *tc = harness_tcase_create("reentrant");

    tcase_add_test(tc, test_R21_off_by_default);
    tcase_add_test(tc, test_R21_any_variant_reenters_when_full);
    tcase_add_test(tc, test_R21_token_goes_to_head_in_order);
    tcase_add_test(tc, test_R21_queued_borrower_edeadlk);
    tcase_add_test(tc, test_R21_eoverflow_at_size_max);
    tcase_add_test(tc, test_R21_turn_off_above_level_one_ebusy);
    tcase_add_test(tc, test_R21_any_nonzero_turns_on);
    tcase_add_test(tc, test_R21_reentry_on_closed_ecanceled);
    tcase_add_test(tc, test_R21_with_nests_three_deep);
    harness_add_cancel_test(tc, test_R21_cancel_queued_waiter);
    harness_add_cancel_test(tc, test_R21_holder_cancelled_while_queued_elsewhere);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
