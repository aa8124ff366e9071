/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * R17: the throughput policy (bounded barging).
 *
 * Where a test must know that a woken waiter has not yet taken its token,
 * it stalls that waiter's thread in a signal handler (harness_stall): the
 * waiter is then queued, asleep or woken, and cannot retake the lock.  Or
 * (white-box) it holds the waiter right after its wake through the
 * library's test seam, cl_after_wake (test_R17_newcomer_behind_old_woken_head).
 */
#include "harness.h"
#include "../lib/internal.h"

#include <limits.h>
#include <stdlib.h>

#define TEN_S 10000000000ULL

/* With lim's one token held and a waiter queued and stalled (so it cannot
 * take the token first), whether a newcomer gets the token the release
 * frees: 1 under THROUGHPUT with a young head (R17), 0 under FIFO (R5
 * hands it to the waiter, EWOULDBLOCK for the newcomer). */
static int newcomer_barges(caplimit_t *lim)
{
    struct harness_waiter w;
    int newcomer, rc;

    ck_assert_int_eq(caplimit_acquire(lim), 0);
    harness_waiter_init(&w, lim, HARNESS_PLAIN, NULL, HARNESS_HOLD);
    harness_waiter_queue(&w, 1);
    harness_stall(w.thread);
    ck_assert_int_eq(caplimit_release(lim), 0);
    rc = caplimit_acquire_on_behalf_of_nowait(lim, &newcomer);
    ck_assert_msg(rc == 0 || rc == EWOULDBLOCK, "rc %d", rc);
    /* the waiter cannot have run: queued, or granted while stalled */
    ck_assert_uint_eq(caplimit_threads_waiting(lim), rc == 0 ? 1 : 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 1);
    harness_unstall();
    if (rc == 0)
        ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &newcomer), 0);
    POLL_UNTIL(harness_waiter_rc(&w) == 0);
    ck_assert_int_eq(harness_waiter_finish(&w), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    return rc == 0;
}

START_TEST(test_R17_set_policy_einval)
{
    caplimit_t *lim = harness_make(1);

    ck_assert_int_eq(caplimit_set_policy(NULL, CAPLIMIT_POLICY_FIFO, 0), EINVAL);
    ck_assert_int_eq(caplimit_set_policy(lim, (enum caplimit_policy)2, 0), EINVAL);
    ck_assert_int_eq(caplimit_set_policy(lim, (enum caplimit_policy)-1, 0), EINVAL);
    ck_assert_int_eq(caplimit_set_policy(lim, (enum caplimit_policy)INT_MAX, 5), EINVAL);
    ck_assert_int_eq(caplimit_set_policy(lim, CAPLIMIT_POLICY_THROUGHPUT, 0), 0);
    ck_assert_int_eq(caplimit_set_policy(lim, CAPLIMIT_POLICY_THROUGHPUT, 1), 0);
    ck_assert_int_eq(caplimit_set_policy(lim, CAPLIMIT_POLICY_THROUGHPUT, ~0ULL), 0);
    ck_assert_int_eq(caplimit_set_policy(lim, CAPLIMIT_POLICY_FIFO, 0), 0);
    /* a refused policy changed nothing: still FIFO, no barging */
    ck_assert_int_eq(caplimit_set_policy(lim, (enum caplimit_policy)7, 0), EINVAL);
    ck_assert_int_eq(newcomer_barges(lim), 0);
    /* nor under THROUGHPUT: the policy and its bypass (not 5 ns) stay */
    ck_assert_int_eq(caplimit_set_policy(lim, CAPLIMIT_POLICY_THROUGHPUT, TEN_S), 0);
    ck_assert_int_eq(caplimit_set_policy(lim, (enum caplimit_policy)7, 5), EINVAL);
    ck_assert_int_eq(newcomer_barges(lim), 1);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* The race R17 allows: the newcomer or the woken waiter gets the token,
 * never both, and the waiter always gets it in the end. */
START_TEST(test_R17_young_head_may_be_bypassed)
{
    caplimit_t *lim = harness_make(1);
    int newcomer, round, wins = 0;

    ck_assert_int_eq(caplimit_set_policy(lim, CAPLIMIT_POLICY_THROUGHPUT, TEN_S), 0);
    for (round = 0; round < 50; round++) {
        struct harness_waiter w;
        int rc;

        ck_assert_int_eq(caplimit_acquire(lim), 0);
        harness_waiter_init(&w, lim, HARNESS_PLAIN, NULL, HARNESS_HOLD);
        harness_waiter_queue(&w, 1);
        ck_assert_int_eq(caplimit_release(lim), 0);
        rc = caplimit_acquire_on_behalf_of_nowait(lim, &newcomer);
        ck_assert_msg(rc == 0 || rc == EWOULDBLOCK, "rc %d", rc);
        ck_assert_uint_eq(caplimit_total_tokens(lim), 1);
        ck_assert_uint_le(caplimit_borrowed_tokens(lim), 1);
        if (rc == 0) {
            wins++;
            ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &newcomer), 1);
            /* the woken waiter found no token: it keeps its place */
            ck_assert_uint_eq(caplimit_threads_waiting(lim), 1);
            ck_assert_int_eq(harness_waiter_rc(&w), HARNESS_RC_PENDING);
            ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &newcomer), 0);
        }
        POLL_UNTIL(harness_waiter_rc(&w) == 0);
        ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 1);
        ck_assert_uint_eq(caplimit_threads_waiting(lim), 0);
        ck_assert_int_eq(harness_waiter_finish(&w), 0);
        ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    }
    (void)wins;                       /* how often barging won: timing */
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* The same, deterministic: the woken head cannot run, so the token stays
 * free (it is not handed to the head) and a newcomer takes it. */
START_TEST(test_R17_young_head_bypassed_while_head_stalled)
{
    caplimit_t *lim = harness_make(1);
    struct harness_waiter w;
    struct caplimit_counters c;
    int newcomer;

    ck_assert_int_eq(caplimit_set_policy(lim, CAPLIMIT_POLICY_THROUGHPUT, TEN_S), 0);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    harness_waiter_init(&w, lim, HARNESS_PLAIN, NULL, HARNESS_HOLD);
    harness_waiter_queue(&w, 1);
    harness_stall(w.thread);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    ck_assert_uint_eq(caplimit_available_tokens(lim), 1);
    ck_assert_uint_eq(caplimit_threads_waiting(lim), 1);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &newcomer), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 1);
    harness_unstall();
    /* the waiter wakes, finds no token, and stays queued */
    ck_assert_uint_eq(caplimit_threads_waiting(lim), 1);
    ck_assert_int_eq(harness_waiter_rc(&w), HARNESS_RC_PENDING);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &newcomer), 0);
    POLL_UNTIL(harness_waiter_rc(&w) == 0);
    ck_assert_int_eq(harness_waiter_finish(&w), 0);
    ck_assert_int_eq(caplimit_counters(lim, &c), 0);
    ck_assert_uint_eq(c.granted_at_once, 2);
    ck_assert_uint_eq(c.granted_after_wait, 1);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* A woken waiter that loses the race keeps its place ahead of the others. */
START_TEST(test_R17_woken_waiter_keeps_its_place)
{
    caplimit_t *lim = harness_make(1);
    struct harness_waiter w1, w2;
    int newcomer;

    ck_assert_int_eq(caplimit_set_policy(lim, CAPLIMIT_POLICY_THROUGHPUT, TEN_S), 0);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    harness_waiter_init(&w1, lim, HARNESS_PLAIN, NULL, HARNESS_RELEASE_AT_ONCE);
    harness_waiter_queue(&w1, 1);
    harness_waiter_init(&w2, lim, HARNESS_OBJ, &w2, HARNESS_RELEASE_AT_ONCE);
    harness_waiter_queue(&w2, 2);
    harness_stall(w1.thread);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &newcomer), 0);
    harness_unstall();
    ck_assert_uint_eq(caplimit_threads_waiting(lim), 2);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &newcomer), 0);
    ck_assert_int_eq(harness_waiter_join(&w1), 0);
    ck_assert_int_eq(harness_waiter_join(&w2), 0);
    ck_assert_uint_lt(w1.seq, w2.seq);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* bypass_ns = 1: the head is always old, so a release hands the token to it
 * at once (R5) even if it cannot run, and newcomers are refused. */
START_TEST(test_R17_old_head_never_bypassed)
{
    caplimit_t *lim = harness_make(1);
    int newcomer, round;

    ck_assert_int_eq(caplimit_set_policy(lim, CAPLIMIT_POLICY_THROUGHPUT, 1), 0);
    for (round = 0; round < 20; round++) {
        struct harness_waiter w;

        ck_assert_int_eq(caplimit_acquire(lim), 0);
        harness_waiter_start(&w, lim, round % 2 ? HARNESS_PLAIN : HARNESS_OBJ_UNTIL,
                             &w, 60000, HARNESS_HOLD);
        POLL_UNTIL(caplimit_threads_waiting(lim) == 1);
        if (round % 4 == 0)
            harness_stall(w.thread);
        ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &newcomer), EWOULDBLOCK);
        ck_assert_int_eq(caplimit_release(lim), 0);
        ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 1);
        ck_assert_uint_eq(caplimit_threads_waiting(lim), 0);
        ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &newcomer), EWOULDBLOCK);
        ck_assert_int_eq(caplimit_holds(lim), 0);
        if (round % 4 == 0)
            harness_unstall();
        POLL_UNTIL(harness_waiter_rc(&w) == 0);
        ck_assert_int_eq(harness_waiter_finish(&w), 0);
    }
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* A token left free for a young head; once the head has aged past
 * bypass_ns, a nowait newcomer is refused although the token is free, and
 * a newcomer that queues gets the token handed to the head first.  (No thread is started while the head
 * is stalled: TSan's pthread_create waits for the stalled thread.) */
START_TEST(test_R17_head_ages_past_bypass)
{
    caplimit_t *lim = harness_make(1);
    struct harness_waiter w;
    struct timespec t0, soon;
    int newcomer;

    ck_assert_int_eq(caplimit_set_policy(lim, CAPLIMIT_POLICY_THROUGHPUT, 50000000ULL), 0);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    harness_waiter_init(&w, lim, HARNESS_PLAIN, NULL, HARNESS_HOLD);
    harness_waiter_queue(&w, 1);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    harness_stall(w.thread);
    ck_assert_int_eq(caplimit_release(lim), 0);
    POLL_UNTIL(harness_ms_since(&t0) > 100);
    /* 0: the release left the token free; 1: the head was already old at
     * the release (a slow machine) and was handed the token */
    ck_assert_uint_le(caplimit_borrowed_tokens(lim), 1);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &newcomer), EWOULDBLOCK);
    soon = harness_deadline_on(CLOCK_MONOTONIC, 30);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_until(lim, &newcomer, CLOCK_MONOTONIC, &soon),
                     ETIMEDOUT);
    /* R17/R5: once a newcomer queued behind the old head, the free token
     * was handed off to the head (the head holds it though it is stalled),
     * so nobody sleeps beside a free token and the newcomer timed out */
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 1);
    ck_assert_uint_eq(caplimit_threads_waiting(lim), 0);
    harness_unstall();
    POLL_UNTIL(harness_waiter_rc(&w) == 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 1);
    ck_assert_int_eq(harness_waiter_finish(&w), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- Under load -------------------------------------------------------- */

struct load {
    caplimit_t *lim;
    size_t cap;                      /* the largest total the test sets */
    int quota;
    int inside;
    int max_inside;
    int stop;
    int done;
    long until_ms;
};

struct loader {
    struct load *ld;
    int id;
    int completed;
    pthread_t thread;
};

static int take(struct loader *me, enum harness_variant v)
{
    int rc;

    for (;;) {
        rc = harness_acquire_variant(me->ld->lim, v, me, me->ld->until_ms);
        if (rc != EWOULDBLOCK)
            return rc;
        harness_yield();
    }
}

static void *loader_main(void *arg)
{
    struct loader *me = arg;
    struct load *ld = me->ld;
    int i;

    for (i = 0; i < ld->quota; i++) {
        enum harness_variant v = (enum harness_variant)((me->id + i) % HARNESS_NVARIANTS);
        int rc = take(me, v), n;

        WORKER_CHECK(rc == 0);
        if (rc != 0)
            break;
        n = __atomic_add_fetch(&ld->inside, 1, __ATOMIC_SEQ_CST);
        WORKER_CHECK((size_t)n <= ld->cap);
        if (n > LOAD(&ld->max_inside))
            STORE(&ld->max_inside, n);
        WORKER_CHECK(caplimit_borrowed_tokens(ld->lim) <= ld->cap);
        __atomic_sub_fetch(&ld->inside, 1, __ATOMIC_SEQ_CST);
        WORKER_CHECK(harness_release_variant(ld->lim, v, me) == 0);
        me->completed++;
    }
    __atomic_add_fetch(&ld->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void run_load(struct load *ld, struct loader *th, int n, int switch_policy)
{
    int i, flip = 0;

    for (i = 0; i < n; i++) {
        th[i].ld = ld;
        th[i].id = i;
        th[i].completed = 0;
        harness_spawn(&th[i].thread, loader_main, &th[i]);
    }
    while (LOAD(&ld->done) < n) {
        if (switch_policy) {
            static const unsigned long long bypass[] = { 1, 1000, 0, TEN_S };
            flip++;
            ck_assert_int_eq(caplimit_set_policy(ld->lim,
                                                 flip % 5 == 4 ? CAPLIMIT_POLICY_FIFO
                                                               : CAPLIMIT_POLICY_THROUGHPUT,
                                                 bypass[flip % 4]), 0);
        }
        ck_assert_uint_le(caplimit_borrowed_tokens(ld->lim), ld->cap);
        harness_yield();
    }
    for (i = 0; i < n; i++)
        harness_join(th[i].thread);
    harness_assert_no_worker_failures();
    for (i = 0; i < n; i++)
        ck_assert_int_eq(th[i].completed, ld->quota);
}

START_TEST(test_R17_capacity_never_exceeded_under_load)
{
    struct load ld = { 0 };
    struct loader th[8];
    struct caplimit_counters c;

    ld.lim = harness_make(3);
    ld.cap = 3;
    ld.quota = 400;
    ld.until_ms = 30000;
    ck_assert_int_eq(caplimit_set_policy(ld.lim, CAPLIMIT_POLICY_THROUGHPUT, 0), 0);
    run_load(&ld, th, 8, 0);
    ck_assert_int_le(ld.max_inside, 3);
    ck_assert_uint_eq(caplimit_borrowed_tokens(ld.lim), 0);
    ck_assert_uint_eq(caplimit_threads_waiting(ld.lim), 0);
    ck_assert_int_eq(caplimit_counters(ld.lim, &c), 0);
    ck_assert_uint_eq(c.granted_at_once + c.granted_after_wait, 8 * 400);
    ck_assert_uint_eq(c.timed_out + c.cancelled + c.closed_out, 0);
    ck_assert_int_eq(caplimit_destroy(ld.lim), 0);
}
END_TEST

/* Policy and bypass switched all the time under load: still no over-grant,
 * nothing lost. */
START_TEST(test_R17_switching_under_load)
{
    struct load ld = { 0 };
    struct loader th[6];

    ld.lim = harness_make(2);
    ld.cap = 2;
    ld.quota = 300;
    ld.until_ms = 30000;
    run_load(&ld, th, 6, 1);
    ck_assert_int_le(ld.max_inside, 2);
    ck_assert_uint_eq(caplimit_borrowed_tokens(ld.lim), 0);
    ck_assert_uint_eq(caplimit_threads_waiting(ld.lim), 0);
    ck_assert_int_eq(caplimit_destroy(ld.lim), 0);
}
END_TEST

/* Every thread completes its quota, and no wait (timed or not) lasts
 * longer than STARVE_MS: far above what a bounded bypass needs (five
 * others' short holds and 50 us of barging), far below Check's timeout. */
#define STARVE_MS 1000
START_TEST(test_R17_no_waiter_starves)
{
    struct load ld = { 0 };
    struct loader th[6];
    struct caplimit_counters c;

    ld.lim = harness_make(1);
    ld.cap = 1;
    ld.quota = 300;
    ld.until_ms = harness_span_ms(STARVE_MS);
    ck_assert_int_eq(caplimit_set_policy(ld.lim, CAPLIMIT_POLICY_THROUGHPUT, 50000), 0);
    run_load(&ld, th, 6, 0);
    ck_assert_int_eq(caplimit_counters(ld.lim, &c), 0);
    ck_assert_uint_eq(c.timed_out, 0);
    ck_assert_uint_eq(c.granted_at_once + c.granted_after_wait, 6 * 300);
    ck_assert_msg(c.wait_ns_max <= (unsigned long long)ld.until_ms * 1000000ULL,
                  "a wait took %llu ns", c.wait_ns_max);
    ck_assert_int_eq(caplimit_destroy(ld.lim), 0);
}
END_TEST

/* ---- A rise of the total ----------------------------------------------- */

static int count_rc(struct harness_waiter *w, int n, int rc)
{
    int i, k = 0;
    for (i = 0; i < n; i++)
        k += harness_waiter_rc(&w[i]) == rc;
    return k;
}

static void rise_case(enum caplimit_policy policy)
{
    enum { M = 6 };
    caplimit_t *lim = harness_make(0);
    struct harness_waiter w[M];
    int i;

    ck_assert_int_eq(caplimit_set_policy(lim, policy, TEN_S), 0);
    for (i = 0; i < M; i++)
        harness_waiter_start(&w[i], lim, (enum harness_variant)(i % 2 ? HARNESS_OBJ : HARNESS_UNTIL),
                             &w[i], 60000, HARNESS_HOLD);
    POLL_UNTIL(caplimit_threads_waiting(lim) == M);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 3), 0);
    /* nobody may sleep beside a free token: exactly three are granted */
    POLL_UNTIL(caplimit_borrowed_tokens(lim) == 3 && caplimit_threads_waiting(lim) == M - 3);
    POLL_UNTIL(count_rc(w, M, 0) == 3);
    ck_assert_uint_eq(caplimit_available_tokens(lim), 0);
    /* a second rise, by two */
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 5), 0);
    POLL_UNTIL(caplimit_borrowed_tokens(lim) == 5 && caplimit_threads_waiting(lim) == 1);
    POLL_UNTIL(count_rc(w, M, 0) == 5);
    ck_assert_int_eq(count_rc(w, M, HARNESS_RC_PENDING), 1);
    for (i = 0; i < M; i++)
        harness_waiter_go(&w[i]);
    for (i = 0; i < M; i++)
        ck_assert_int_eq(harness_waiter_join(&w[i]), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}

START_TEST(test_R17_rise_wakes_enough_waiters)
{
    rise_case(CAPLIMIT_POLICY_THROUGHPUT);
}
END_TEST

START_TEST(test_R17_rise_wakes_enough_waiters_fifo)
{
    rise_case(CAPLIMIT_POLICY_FIFO);
}
END_TEST

/* ---- Switching policy takes effect at once ----------------------------- */

START_TEST(test_R17_switch_to_fifo_hands_off_at_once)
{
    caplimit_t *lim = harness_make(1);
    struct harness_waiter w;
    int newcomer;

    ck_assert_int_eq(caplimit_set_policy(lim, CAPLIMIT_POLICY_THROUGHPUT, TEN_S), 0);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    harness_waiter_start(&w, lim, HARNESS_UNTIL, NULL, 60000, HARNESS_HOLD);
    POLL_UNTIL(caplimit_threads_waiting(lim) == 1);
    harness_stall(w.thread);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    ck_assert_int_eq(caplimit_set_policy(lim, CAPLIMIT_POLICY_FIFO, 0), 0);
    /* R5 at once: the stalled head holds the token already */
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 1);
    ck_assert_uint_eq(caplimit_threads_waiting(lim), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &newcomer), EWOULDBLOCK);
    harness_unstall();
    POLL_UNTIL(harness_waiter_rc(&w) == 0);
    ck_assert_int_eq(harness_waiter_finish(&w), 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R17_switch_to_throughput_at_once)
{
    caplimit_t *lim = harness_make(1);
    struct harness_waiter w;
    int newcomer;

    /* under FIFO the release hands off */
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    harness_waiter_init(&w, lim, HARNESS_PLAIN, NULL, HARNESS_RELEASE_AT_ONCE);
    harness_waiter_queue(&w, 1);
    harness_stall(w.thread);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 1);
    harness_unstall();
    ck_assert_int_eq(harness_waiter_join(&w), 0);

    /* switched while a waiter is queued: the next release leaves it free */
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    harness_waiter_init(&w, lim, HARNESS_PLAIN, NULL, HARNESS_RELEASE_AT_ONCE);
    harness_waiter_queue(&w, 1);
    harness_stall(w.thread);
    ck_assert_int_eq(caplimit_set_policy(lim, CAPLIMIT_POLICY_THROUGHPUT, TEN_S), 0);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &newcomer), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &newcomer), 0);
    harness_unstall();
    ck_assert_int_eq(harness_waiter_join(&w), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- Deadlines and cancellation under THROUGHPUT ----------------------- */

START_TEST(test_R17_timed_waits_under_throughput)
{
    caplimit_t *lim = harness_make(1);
    struct harness_waiter w[2];
    struct caplimit_counters c;
    struct timespec past = { 0, 0 };
    int i;

    ck_assert_int_eq(caplimit_set_policy(lim, CAPLIMIT_POLICY_THROUGHPUT, TEN_S), 0);
    /* R6: a past deadline still succeeds when a token is free */
    ck_assert_int_eq(caplimit_acquire_until(lim, CLOCK_MONOTONIC, &past), 0);
    /* both clocks time out while the token is held */
    harness_waiter_start(&w[0], lim, HARNESS_UNTIL, NULL, 30, HARNESS_RELEASE_AT_ONCE);
    harness_waiter_start(&w[1], lim, HARNESS_OBJ_UNTIL, &w[1], 30, HARNESS_RELEASE_AT_ONCE);
    for (i = 0; i < 2; i++)
        ck_assert_int_eq(harness_waiter_join(&w[i]), ETIMEDOUT);
    ck_assert_uint_eq(caplimit_threads_waiting(lim), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 1);
    /* a long deadline is granted on release */
    harness_waiter_start(&w[0], lim, HARNESS_OBJ_UNTIL, &w[0], 60000, HARNESS_RELEASE_AT_ONCE);
    POLL_UNTIL(caplimit_threads_waiting(lim) == 1);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(harness_waiter_join(&w[0]), 0);
    ck_assert_int_eq(caplimit_counters(lim, &c), 0);
    ck_assert_uint_eq(c.timed_out, 2);
    ck_assert_uint_eq(c.granted_after_wait, 1);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* A timed-out head leaves; with a free token the next waiter takes it. */
START_TEST(test_R17_head_times_out_next_takes)
{
    caplimit_t *lim = harness_make(1);
    struct harness_waiter a, b;

    ck_assert_int_eq(caplimit_set_policy(lim, CAPLIMIT_POLICY_THROUGHPUT, TEN_S), 0);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    /* long enough for b to queue behind it first, even under valgrind */
    harness_waiter_start(&a, lim, HARNESS_UNTIL, NULL, harness_span_ms(300), HARNESS_RELEASE_AT_ONCE);
    POLL_UNTIL(caplimit_threads_waiting(lim) == 1);
    harness_waiter_init(&b, lim, HARNESS_OBJ, &b, HARNESS_HOLD);
    harness_waiter_queue(&b, 2);
    ck_assert_int_eq(harness_waiter_join(&a), ETIMEDOUT);
    ck_assert_uint_eq(caplimit_threads_waiting(lim), 1);
    ck_assert_int_eq(caplimit_release(lim), 0);
    POLL_UNTIL(harness_waiter_rc(&b) == 0);
    ck_assert_int_eq(harness_waiter_finish(&b), 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

static void *cancel_victim(void *arg)
{
    caplimit_t *lim = arg;
    int rc = caplimit_acquire(lim);

    /* granted before the cancellation landed: the next cancellation point
     * ends the thread holding the token, and R22 gives it back */
    WORKER_CHECK(rc == 0);
    for (;;)
        pthread_testcancel();
    return NULL;
}

START_TEST(test_R17_cancel_under_throughput)
{
    caplimit_t *lim = harness_make(1);
    struct caplimit_counters c;
    pthread_t t;
    int round;

    ck_assert_int_eq(caplimit_set_policy(lim, CAPLIMIT_POLICY_THROUGHPUT, TEN_S), 0);
    /* cancelled while queued */
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    harness_spawn(&t, cancel_victim, lim);
    POLL_UNTIL(caplimit_threads_waiting(lim) == 1);
    ck_assert_int_eq(pthread_cancel(t), 0);
    harness_join_cancelled(t);
    ck_assert_uint_eq(caplimit_threads_waiting(lim), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 1);
    ck_assert_int_eq(caplimit_counters(lim, &c), 0);
    ck_assert_uint_eq(c.cancelled, 1);

    /* cancelled around the release: queued, woken, or holding */
    for (round = 0; round < 100; round++) {
        harness_spawn(&t, cancel_victim, lim);
        POLL_UNTIL(caplimit_threads_waiting(lim) == 1);
        ck_assert_int_eq(caplimit_release(lim), 0);
        ck_assert_int_eq(pthread_cancel(t), 0);
        harness_join_cancelled(t);
        ck_assert_uint_eq(caplimit_threads_waiting(lim), 0);
        ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
        ck_assert_int_eq(caplimit_acquire_nowait(lim), 0);
    }
    ck_assert_int_eq(caplimit_counters(lim, &c), 0);
    /* each victim's acquire counts once: cancelled, or granted then
     * abandoned at exit */
    ck_assert_uint_eq(c.cancelled + c.granted_after_wait, 101);
    ck_assert_uint_eq(c.abandoned, c.granted_after_wait);
    ck_assert_int_eq(caplimit_release(lim), 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- R17: a newcomer behind an old, woken head ----------------------- */

/* Holds a waiter right after its first wake, with the lock dropped
 * (lib/internal.h, cl_after_wake): it has been woken but has not looked at
 * its state yet, as deterministic as harness_stall without a signal. */
static int park_armed, parked, park_go;

static void park_after_wake(caplimit_t *lim)
{
    struct timespec give_up = harness_deadline_ms(HARNESS_POLL_MS);

    if (!__atomic_exchange_n(&park_armed, 0, __ATOMIC_SEQ_CST))
        return;
    cl_unlock(lim);
    STORE(&parked, 1);
    while (!LOAD(&park_go)) {
        if (harness_past(&give_up)) {
            WORKER_CHECK(!"parked past HARNESS_POLL_MS");
            break;
        }
        harness_yield();
    }
    cl_lock(lim);
}

/* THROUGHPUT, total 0 -> 2 with one young waiter: the release leaves both
 * tokens free and wakes the head, which is held after its wake until it
 * is old.  A newcomer must not sleep beside the free token: queueing
 * behind the old head hands off to both (it used to sleep until its
 * deadline). */
START_TEST(test_R17_newcomer_behind_old_woken_head)
{
    caplimit_t *lim = harness_make(0);
    struct harness_waiter w;
    struct timespec t0, deadline;
    int newcomer;

    ck_assert_int_eq(caplimit_set_policy(lim, CAPLIMIT_POLICY_THROUGHPUT, 50000000ULL), 0);
    STORE(&park_armed, 1);
    cl_after_wake = park_after_wake;
    harness_waiter_init(&w, lim, HARNESS_PLAIN, NULL, HARNESS_HOLD);
    harness_waiter_queue(&w, 1);
    clock_gettime(CLOCK_MONOTONIC, &t0);  /* the head's age starts by now */
    /* young head: both tokens stay free, the head is woken (R17); on a
     * slow machine the head may already be old and is handed one (R5) */
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 2), 0);
    POLL_UNTIL(LOAD(&parked));
    ck_assert_uint_le(caplimit_borrowed_tokens(lim), 1);
    POLL_UNTIL(harness_ms_since(&t0) > 100);
    /* the head is old beside its free token: any call that takes the
     * lock first hands it over (cl_lock settles), so a read sees it */
    ck_assert_uint_eq(caplimit_available_tokens(lim), 1);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 1);
    deadline = harness_deadline_on(CLOCK_MONOTONIC, 5000);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_until(lim, &newcomer, CLOCK_MONOTONIC,
                                                         &deadline), 0);
    /* the held head was handed its token too: nobody is queued */
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 2);
    ck_assert_uint_eq(caplimit_threads_waiting(lim), 0);
    STORE(&park_go, 1);
    POLL_UNTIL(harness_waiter_rc(&w) == 0);
    ck_assert_int_eq(harness_waiter_finish(&w), 0);
    cl_after_wake = NULL;
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &newcomer), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- R17: a woken waiter behind an old head ---------------------------- */

/* Holds the head (H) and the waiter behind it (W) after their wakes.  W
 * takes the lock back while H is still young, then keeps it until H is
 * old, so that W looks at its state with an old head that no cl_lock has
 * settled yet. */
static pthread_t two_h, two_w;
static int two_h_parked, two_w_parked, two_h_go, two_w_go;
static struct timespec two_t0;
static long two_bypass_ms;

static void park_with_lock_dropped(caplimit_t *lim, int *is_parked, int *go)
{
    struct timespec give_up = harness_deadline_ms(HARNESS_POLL_MS);

    cl_unlock(lim);
    STORE(is_parked, 1);
    while (!LOAD(go)) {
        if (harness_past(&give_up)) {
            WORKER_CHECK(!"parked past HARNESS_POLL_MS");
            break;
        }
        harness_yield();
    }
    cl_lock(lim);
}

static void hold_two_after_wake(caplimit_t *lim)
{
    if (pthread_equal(pthread_self(), two_h) && !LOAD(&two_h_parked)) {
        park_with_lock_dropped(lim, &two_h_parked, &two_h_go);
    } else if (pthread_equal(pthread_self(), two_w) && !LOAD(&two_w_parked)) {
        park_with_lock_dropped(lim, &two_w_parked, &two_w_go);
        while (harness_ms_since(&two_t0) <= two_bypass_ms + 20)
            harness_yield();         /* with the lock: H grows old */
    }
}

static int holds_thread(caplimit_t *lim, pthread_t t)
{
    struct caplimit_statistics st;
    size_t i;
    int found = 0;

    ck_assert_int_eq(caplimit_statistics(lim, &st), 0);
    for (i = 0; i < st.nborrowers; i++)
        if (st.borrowers[i].kind == CAPLIMIT_BORROWER_THREAD
            && pthread_equal(st.borrowers[i].thread, t))
            found = 1;
    caplimit_statistics_destroy(&st);
    return found;
}

/* THROUGHPUT, total 0 -> 2 with two young waiters: both are woken for the
 * free tokens, a newcomer takes one, and the second waiter looks at its
 * state once the head is old: the token goes to the head (R17: an old
 * head is never bypassed), and the second waiter keeps its place. */
START_TEST(test_R17_woken_waiter_behind_old_head_hands_off)
{
    caplimit_t *lim = harness_make(0);
    struct harness_waiter h, w;
    int newcomer;

    two_bypass_ms = harness_span_ms(300);
    ck_assert_int_eq(caplimit_set_policy(lim, CAPLIMIT_POLICY_THROUGHPUT,
                                         (unsigned long long)two_bypass_ms * 1000000ULL), 0);
    harness_waiter_init(&h, lim, HARNESS_PLAIN, NULL, HARNESS_HOLD);
    harness_waiter_queue(&h, 1);
    clock_gettime(CLOCK_MONOTONIC, &two_t0);   /* H's age starts by now */
    harness_waiter_init(&w, lim, HARNESS_PLAIN, NULL, HARNESS_HOLD);
    harness_waiter_queue(&w, 2);
    two_h = h.thread;
    two_w = w.thread;
    cl_after_wake = hold_two_after_wake;
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 2), 0);
    POLL_UNTIL(LOAD(&two_h_parked) && LOAD(&two_w_parked));
    /* a newcomer beside a young head (R17) */
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &newcomer), 0);
    ck_assert_int_lt(harness_ms_since(&two_t0), two_bypass_ms);
    STORE(&two_w_go, 1);
    POLL_UNTIL(caplimit_borrowed_tokens(lim) == 2);
    ck_assert(holds_thread(lim, h.thread));
    ck_assert(!holds_thread(lim, w.thread));
    ck_assert_uint_eq(caplimit_threads_waiting(lim), 1);
    STORE(&two_h_go, 1);
    POLL_UNTIL(harness_waiter_rc(&h) == 0);
    ck_assert_int_eq(harness_waiter_finish(&h), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &newcomer), 0);
    POLL_UNTIL(harness_waiter_rc(&w) == 0);
    ck_assert_int_eq(harness_waiter_finish(&w), 0);
    cl_after_wake = NULL;
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("R17 policy");
    TCase *tc = harness_tcase_create("policy");

    tcase_add_test(tc, test_R17_set_policy_einval);
    tcase_add_test(tc, test_R17_young_head_may_be_bypassed);
    tcase_add_test(tc, test_R17_young_head_bypassed_while_head_stalled);
    tcase_add_test(tc, test_R17_woken_waiter_keeps_its_place);
    tcase_add_test(tc, test_R17_newcomer_behind_old_woken_head);
    tcase_add_test(tc, test_R17_woken_waiter_behind_old_head_hands_off);
    tcase_add_test(tc, test_R17_old_head_never_bypassed);
    tcase_add_test(tc, test_R17_head_ages_past_bypass);
    tcase_add_test(tc, test_R17_capacity_never_exceeded_under_load);
    tcase_add_test(tc, test_R17_switching_under_load);
    tcase_add_test(tc, test_R17_no_waiter_starves);
    tcase_add_test(tc, test_R17_rise_wakes_enough_waiters);
    tcase_add_test(tc, test_R17_rise_wakes_enough_waiters_fifo);
    tcase_add_test(tc, test_R17_switch_to_fifo_hands_off_at_once);
    tcase_add_test(tc, test_R17_switch_to_throughput_at_once);
    tcase_add_test(tc, test_R17_timed_waits_under_throughput);
    tcase_add_test(tc, test_R17_head_times_out_next_takes);
    harness_add_cancel_test(tc, test_R17_cancel_under_throughput);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
