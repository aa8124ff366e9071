/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * R23: weighted holds.  Each test names the clause it checks; the
 * head-of-line cases (a large head that holds back small ones and leaves
 * by deadline, cancellation or close: the Go #37852 kind of bug) run on
 * both policies.
 */
#include "harness.h"

#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define TEN_S 10000000000ULL

static char objs[16];

/* ---- Helpers ------------------------------------------------------------ */

/* A waiter for n tokens with variant v, queued as the waiting-th. */
static void queue_tokens(struct harness_waiter *w, caplimit_t *lim,
                         enum harness_variant v, const void *obj, size_t n,
                         int hold, size_t waiting)
{
    harness_waiter_init(w, lim, v, obj, hold);
    w->n = n;
    harness_waiter_queue(w, waiting);
}

/* The statistics entry of a borrower: an object, or (obj NULL) thread t. */
struct entry {
    int found;
    struct caplimit_borrower b;
};

static struct entry entry_of(caplimit_t *lim, const void *obj, pthread_t t)
{
    struct caplimit_statistics st;
    struct entry e;
    size_t i;

    memset(&e, 0, sizeof e);
    ck_assert_int_eq(caplimit_statistics(lim, &st), 0);
    for (i = 0; i < st.nborrowers; i++) {
        const struct caplimit_borrower *b = &st.borrowers[i];
        if (obj != NULL ? b->kind == CAPLIMIT_BORROWER_OBJECT && b->object == obj
                        : b->kind == CAPLIMIT_BORROWER_THREAD
                              && pthread_equal(b->thread, t)) {
            e.found = 1;
            e.b = *b;
        }
    }
    caplimit_statistics_destroy(&st);
    return e;
}

static size_t tokens_of(caplimit_t *lim, const void *obj)
{
    struct entry e = entry_of(lim, obj, pthread_self());
    return e.found ? e.b.tokens : 0;
}

static size_t level_of(caplimit_t *lim, const void *obj)
{
    struct entry e = entry_of(lim, obj, pthread_self());
    return e.found ? e.b.level : 0;
}

static size_t tokens_waiting(caplimit_t *lim)
{
    struct caplimit_statistics st;
    size_t n;

    ck_assert_int_eq(caplimit_statistics(lim, &st), 0);
    n = st.tokens_waiting;
    caplimit_statistics_destroy(&st);
    return n;
}

static const char *policy_name(enum caplimit_policy p)
{
    return p == CAPLIMIT_POLICY_FIFO ? "fifo" : "throughput";
}

/* ---- Arguments ---------------------------------------------------------- */

START_TEST(test_R23_n_zero_or_infinite_is_einval)
{
    caplimit_t *lim = harness_make(4);
    struct harness_state before;
    struct timespec t = harness_deadline_ms(1000);
    static const size_t bad[] = { 0, CAPLIMIT_INFINITE };
    size_t i;

    harness_snap(lim, &before);
    for (i = 0; i < 2; i++) {
        const void *b[2] = { NULL, &objs[0] };
        int k;
        for (k = 0; k < 2; k++) {
            /* EINVAL even though every token is free */
            ck_assert_int_eq(caplimit_acquire_tokens(lim, b[k], bad[i]), EINVAL);
            ck_assert_int_eq(caplimit_acquire_tokens_nowait(lim, b[k], bad[i]), EINVAL);
            ck_assert_int_eq(caplimit_acquire_tokens_until(lim, b[k], bad[i],
                                                           CLOCK_MONOTONIC, &t), EINVAL);
            ck_assert_int_eq(caplimit_acquire_tokens_until(lim, b[k], bad[i],
                                                           CLOCK_REALTIME, &t), EINVAL);
        }
    }
    ck_assert_int_eq(caplimit_acquire_tokens(NULL, NULL, 1), EINVAL);
    ck_assert_int_eq(caplimit_acquire_tokens_nowait(NULL, &objs[0], 1), EINVAL);
    ck_assert_int_eq(caplimit_acquire_tokens_until(NULL, NULL, 1, CLOCK_MONOTONIC, &t), EINVAL);
    harness_assert_unchanged(lim, &before);
    harness_snap_free(&before);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R23_until_checks_deadline_arguments)
{
    caplimit_t *lim = harness_make(4);
    struct harness_state before;
    struct timespec t = harness_deadline_ms(1000), bad1 = { 0, -1 },
                    bad2 = { 0, 1000000000L };

    harness_snap(lim, &before);
    ck_assert_int_eq(caplimit_acquire_tokens_until(lim, NULL, 2, CLOCK_MONOTONIC, NULL), EINVAL);
    ck_assert_int_eq(caplimit_acquire_tokens_until(lim, &objs[0], 2, CLOCK_MONOTONIC, &bad1),
                     EINVAL);
    ck_assert_int_eq(caplimit_acquire_tokens_until(lim, NULL, 2, CLOCK_REALTIME, &bad2), EINVAL);
    ck_assert_int_eq(caplimit_acquire_tokens_until(lim, NULL, 2, CLOCK_PROCESS_CPUTIME_ID, &t),
                     EINVAL);
    ck_assert_int_eq(caplimit_acquire_tokens_until(lim, &objs[0], 2, (clockid_t)4242, &t),
                     EINVAL);
    harness_assert_unchanged(lim, &before);
    harness_snap_free(&before);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- Borrowers: NULL is the calling thread ------------------------------ */

START_TEST(test_R23_null_borrower_is_the_thread)
{
    caplimit_t *lim = harness_make(10);
    struct timespec t = harness_deadline_ms(1000);
    struct entry e;
    int variant;

    for (variant = 0; variant < 3; variant++) {
        int rc = variant == 0 ? caplimit_acquire_tokens(lim, NULL, 3)
               : variant == 1 ? caplimit_acquire_tokens_nowait(lim, NULL, 3)
                              : caplimit_acquire_tokens_until(lim, NULL, 3,
                                                              CLOCK_REALTIME, &t);
        ck_assert_int_eq(rc, 0);
        ck_assert_int_eq(caplimit_holds(lim), 1);
        ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 3);
        e = entry_of(lim, NULL, pthread_self());
        ck_assert(e.found);
        ck_assert_int_eq(e.b.kind, CAPLIMIT_BORROWER_THREAD);
        ck_assert_uint_eq(e.b.tokens, 3);
        ck_assert_uint_eq(e.b.level, 1);
        /* the thread's hold is the thread's: no object releases it */
        ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), EPERM);
        ck_assert_int_eq(caplimit_release_tokens(lim, &objs[0], 1), EPERM);
        /* caplimit_release gives back the whole hold */
        ck_assert_int_eq(caplimit_release(lim), 0);
        ck_assert_int_eq(caplimit_holds(lim), 0);
        ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    }
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R23_object_borrower)
{
    caplimit_t *lim = harness_make(10);
    struct timespec t = harness_deadline_ms(1000);
    struct entry e;
    int variant;

    for (variant = 0; variant < 3; variant++) {
        int rc = variant == 0 ? caplimit_acquire_tokens(lim, &objs[1], 4)
               : variant == 1 ? caplimit_acquire_tokens_nowait(lim, &objs[1], 4)
                              : caplimit_acquire_tokens_until(lim, &objs[1], 4,
                                                              CLOCK_MONOTONIC, &t);
        ck_assert_int_eq(rc, 0);
        ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &objs[1]), 1);
        ck_assert_int_eq(caplimit_holds(lim), 0);
        e = entry_of(lim, &objs[1], 0);
        ck_assert(e.found);
        ck_assert_int_eq(e.b.kind, CAPLIMIT_BORROWER_OBJECT);
        ck_assert_uint_eq(e.b.tokens, 4);
        ck_assert_int_eq(e.b.tid, 0);
        ck_assert_int_eq(e.b.pid, getpid());
        ck_assert_int_eq(caplimit_release(lim), EPERM);
        ck_assert_int_eq(caplimit_release_tokens(lim, NULL, 1), EPERM);
        ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[1]), 0);
        ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    }
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* caplimit_acquire(lim) is caplimit_acquire_tokens(lim, NULL, 1). */
START_TEST(test_R23_one_token_functions_are_holds_of_one)
{
    caplimit_t *lim = harness_make(3);

    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_uint_eq(tokens_of(lim, NULL), 1);
    ck_assert_int_eq(caplimit_acquire_tokens_nowait(lim, NULL, 1), EDEADLK);
    ck_assert_int_eq(caplimit_release_tokens(lim, NULL, 1), 0);
    ck_assert_int_eq(caplimit_holds(lim), 0);
    ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[0], 1), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &objs[0]), EDEADLK);
    ck_assert_uint_eq(tokens_of(lim, &objs[0]), 1);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- R4 with n ---------------------------------------------------------- */

START_TEST(test_R23_R4_granted_at_once_only_if_all_n_fit)
{
    caplimit_t *lim = harness_make(5);
    struct timespec past = { 0, 0 };
    struct caplimit_counters c;

    ck_assert_int_eq(caplimit_acquire_tokens_nowait(lim, &objs[0], 3), 0);
    ck_assert_uint_eq(caplimit_available_tokens(lim), 2);
    /* borrowed + n > total: refused, although some tokens are free */
    ck_assert_int_eq(caplimit_acquire_tokens_nowait(lim, &objs[1], 3), EWOULDBLOCK);
    ck_assert_int_eq(caplimit_acquire_tokens_nowait(lim, NULL, 3), EWOULDBLOCK);
    ck_assert_int_eq(caplimit_acquire_tokens_until(lim, &objs[1], 3, CLOCK_MONOTONIC, &past),
                     ETIMEDOUT);
    /* borrowed + n == total: granted, even with a past deadline (R6) */
    ck_assert_int_eq(caplimit_acquire_tokens_until(lim, &objs[1], 2, CLOCK_REALTIME, &past), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 5);
    ck_assert_uint_eq(caplimit_available_tokens(lim), 0);
    ck_assert_int_eq(caplimit_acquire_tokens_nowait(lim, &objs[2], 1), EWOULDBLOCK);
    ck_assert_int_eq(caplimit_counters(lim, &c), 0);
    ck_assert_uint_eq(c.granted_at_once, 2);
    ck_assert_uint_eq(c.would_block, 3);
    ck_assert_uint_eq(c.timed_out, 1);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[1]), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* Nobody jumps the queue: a newcomer whose n fits is refused while a
 * waiter (whose request fits the total) is queued. */
START_TEST(test_R23_R4_nobody_jumps_a_queued_request)
{
    caplimit_t *lim = harness_make(4);
    struct harness_waiter w;
    struct timespec past = { 0, 0 };

    ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[0], 2), 0);
    queue_tokens(&w, lim, HARNESS_OBJ, &objs[1], 3, 1, 1);
    ck_assert_uint_eq(caplimit_available_tokens(lim), 2);
    ck_assert_int_eq(caplimit_acquire_tokens_nowait(lim, &objs[2], 1), EWOULDBLOCK);
    ck_assert_int_eq(caplimit_acquire_tokens_nowait(lim, NULL, 2), EWOULDBLOCK);
    ck_assert_int_eq(caplimit_acquire_nowait(lim), EWOULDBLOCK);
    ck_assert_int_eq(caplimit_acquire_tokens_until(lim, NULL, 1, CLOCK_MONOTONIC, &past),
                     ETIMEDOUT);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 2);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_int_eq(harness_waiter_wait_rc(&w), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 3);
    ck_assert_uint_eq(tokens_of(lim, &objs[1]), 3);
    ck_assert_int_eq(harness_waiter_finish(&w), 0);
    harness_assert_counts(lim, 0, 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- Head of line ------------------------------------------------------- */

/* Four holders of one token; a head for 3, then two for 1.  Releases one
 * at a time: nothing is granted until the head's 3 fit, then the head,
 * then the small ones. */
static void head_of_line_case(enum caplimit_policy policy)
{
    caplimit_t *lim = harness_make(4);
    struct harness_waiter big, s1, s2;
    int i, newcomer;

    ck_assert_int_eq(caplimit_set_policy(lim, policy, TEN_S), 0);
    for (i = 0; i < 4; i++)
        ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[i], 1), 0);
    queue_tokens(&big, lim, HARNESS_UNTIL, NULL, 3, 1, 1);
    queue_tokens(&s1, lim, HARNESS_OBJ, &objs[8], 1, 1, 2);
    queue_tokens(&s2, lim, HARNESS_OBJ_UNTIL, &objs[9], 1, 1, 3);
    ck_assert_uint_eq(tokens_waiting(lim), 5);
    for (i = 0; i < 2; i++) {
        ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[i]), 0);
        /* the free tokens stay free: the head's 3 do not fit yet, and the
         * small ones behind it wait */
        ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 4 - (size_t)i - 1);
        ck_assert_uint_eq(caplimit_threads_waiting(lim), 3);
        ck_assert_int_eq(harness_waiter_rc(&big), HARNESS_RC_PENDING);
        ck_assert_int_eq(harness_waiter_rc(&s1), HARNESS_RC_PENDING);
        ck_assert_int_eq(harness_waiter_rc(&s2), HARNESS_RC_PENDING);
    }
    if (policy == CAPLIMIT_POLICY_FIFO)
        ck_assert_int_eq(caplimit_acquire_tokens_nowait(lim, &newcomer, 1), EWOULDBLOCK);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[2]), 0);
    ck_assert_int_eq(harness_waiter_wait_rc(&big), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 4);
    ck_assert_int_eq(harness_waiter_rc(&s1), HARNESS_RC_PENDING);
    ck_assert_int_eq(harness_waiter_rc(&s2), HARNESS_RC_PENDING);
    ck_assert_uint_eq(tokens_waiting(lim), 2);
    harness_waiter_go(&big);
    ck_assert_int_eq(harness_waiter_wait_rc(&s1), 0);
    ck_assert_int_eq(harness_waiter_wait_rc(&s2), 0);
    /* (s1 and s2 are granted together: their seq tells only scheduling) */
    ck_assert_uint_lt(big.seq, s1.seq);
    ck_assert_uint_lt(big.seq, s2.seq);
    ck_assert_int_eq(harness_waiter_join(&big), 0);
    ck_assert_int_eq(harness_waiter_finish(&s1), 0);
    ck_assert_int_eq(harness_waiter_finish(&s2), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[3]), 0);
    harness_assert_counts(lim, 0, 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}

/* R5 grants from the head while requests fit and stops at the first that
 * does not: a small request behind it waits, though it would fit. */
START_TEST(test_R23_R5_hand_off_stops_at_the_first_that_does_not_fit)
{
    caplimit_t *lim = harness_make(4);
    struct harness_waiter a, b, c;

    ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[0], 2), 0);
    ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[1], 2), 0);
    queue_tokens(&a, lim, HARNESS_OBJ, &objs[8], 1, 1, 1);
    queue_tokens(&b, lim, HARNESS_OBJ, &objs[9], 3, 1, 2);
    queue_tokens(&c, lim, HARNESS_OBJ, &objs[10], 1, 1, 3);
    /* 2 free: a's 1 fits, b's 3 do not, and c stays behind b */
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_int_eq(harness_waiter_wait_rc(&a), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 3);
    ck_assert_uint_eq(caplimit_threads_waiting(lim), 2);
    ck_assert_uint_eq(tokens_waiting(lim), 4);
    ck_assert_int_eq(harness_waiter_rc(&b), HARNESS_RC_PENDING);
    ck_assert_int_eq(harness_waiter_rc(&c), HARNESS_RC_PENDING);
    /* a's token back: 2 free, still not b's 3, and c stays behind b */
    ck_assert_int_eq(harness_waiter_finish(&a), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 2);
    ck_assert_uint_eq(caplimit_threads_waiting(lim), 2);
    ck_assert_int_eq(harness_waiter_rc(&c), HARNESS_RC_PENDING);
    /* 4 free: b's 3, then c's 1, in one hand-off */
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[1]), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 4);
    ck_assert_uint_eq(caplimit_threads_waiting(lim), 0);
    ck_assert_int_eq(harness_waiter_wait_rc(&b), 0);
    ck_assert_int_eq(harness_waiter_wait_rc(&c), 0);
    ck_assert_int_eq(harness_waiter_finish(&b), 0);
    ck_assert_int_eq(harness_waiter_finish(&c), 0);
    harness_assert_counts(lim, 0, 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R23_head_holds_back_smaller_fifo)
{
    head_of_line_case(CAPLIMIT_POLICY_FIFO);
}
END_TEST

START_TEST(test_R23_head_holds_back_smaller_throughput)
{
    head_of_line_case(CAPLIMIT_POLICY_THROUGHPUT);
}
END_TEST

/* Never starved: small borrowers take and give back one token as fast as
 * they can, the releases one at a time; a request for the whole total is
 * still granted within its deadline. */
struct churn {
    caplimit_t *lim;
    int stop;
    int id;
    unsigned long rounds;
};

static void *churn_main(void *arg)
{
    struct churn *c = arg;
    struct timespec t;
    int rc;

    while (!LOAD(&c->stop)) {
        t = harness_deadline_ms(100);
        rc = c->id % 2 ? caplimit_acquire_tokens_until(c->lim, c, 1, CLOCK_MONOTONIC, &t)
                       : caplimit_acquire_tokens_nowait(c->lim, NULL, 1);
        WORKER_CHECK(rc == 0 || rc == ETIMEDOUT || rc == EWOULDBLOCK);
        if (rc == 0) {
            harness_yield();
            WORKER_CHECK(caplimit_release_tokens(c->lim, c->id % 2 ? (void *)c : NULL, 1) == 0);
            c->rounds++;
        } else {
            harness_yield();
        }
    }
    return NULL;
}

static void never_starved_case(enum caplimit_policy policy)
{
    enum { N = 4 };
    caplimit_t *lim = harness_make(4);
    struct churn c[N];
    pthread_t t[N];
    int i, round, rounds = harness_scale(20);

    ck_assert_int_eq(caplimit_set_policy(lim, policy, 0), 0);
    for (i = 0; i < N; i++) {
        c[i].lim = lim;
        c[i].stop = 0;
        c[i].id = i;
        c[i].rounds = 0;
        harness_spawn(&t[i], churn_main, &c[i]);
    }
    for (round = 0; round < rounds; round++) {
        struct timespec d = harness_deadline_ms(20000);
        int rc = round % 2 ? caplimit_acquire_tokens_until(lim, &objs[0], 4, CLOCK_MONOTONIC, &d)
                           : caplimit_acquire_tokens(lim, NULL, 4);
        ck_assert_msg(rc == 0, "round %d (%s): %d", round, policy_name(policy), rc);
        ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 4);
        ck_assert_int_eq(round % 2 ? caplimit_release_on_behalf_of(lim, &objs[0])
                                   : caplimit_release(lim), 0);
    }
    for (i = 0; i < N; i++)
        STORE(&c[i].stop, 1);
    for (i = 0; i < N; i++)
        harness_join(t[i]);
    harness_assert_no_worker_failures();
    harness_assert_counts(lim, 0, 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}

START_TEST(test_R23_large_head_never_starved_fifo)
{
    never_starved_case(CAPLIMIT_POLICY_FIFO);
}
END_TEST

START_TEST(test_R23_large_head_never_starved_throughput)
{
    never_starved_case(CAPLIMIT_POLICY_THROUGHPUT);
}
END_TEST

/* ---- Oversize requests -------------------------------------------------- */

/* An oversize request keeps its place and is passed over; a rise makes it
 * fit, and it is granted in its turn (holding back those behind it). */
START_TEST(test_R23_oversize_passed_over_then_fits_on_rise)
{
    caplimit_t *lim = harness_make(2);
    struct harness_waiter a, b, c;

    ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[0], 2), 0);
    queue_tokens(&a, lim, HARNESS_OBJ, &objs[1], 5, 1, 1);
    queue_tokens(&b, lim, HARNESS_UNTIL, NULL, 2, 1, 2);
    queue_tokens(&c, lim, HARNESS_OBJ_UNTIL, &objs[3], 1, 1, 3);
    ck_assert_uint_eq(tokens_waiting(lim), 8);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    /* a is passed over, b fits and is granted, c does not fit now */
    ck_assert_int_eq(harness_waiter_wait_rc(&b), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 2);
    ck_assert_uint_eq(caplimit_threads_waiting(lim), 2);
    ck_assert_int_eq(harness_waiter_rc(&a), HARNESS_RC_PENDING);
    ck_assert_int_eq(harness_waiter_rc(&c), HARNESS_RC_PENDING);
    ck_assert_uint_eq(tokens_waiting(lim), 6);
    /* a rise to 5: a fits the total and is the head again, ahead of c,
     * though c's 1 would fit the 3 free tokens */
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 5), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 2);
    ck_assert_int_eq(harness_waiter_rc(&a), HARNESS_RC_PENDING);
    ck_assert_int_eq(harness_waiter_rc(&c), HARNESS_RC_PENDING);
    ck_assert_int_eq(caplimit_acquire_tokens_nowait(lim, &objs[4], 1), EWOULDBLOCK);
    harness_waiter_go(&b);
    ck_assert_int_eq(harness_waiter_wait_rc(&a), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 5);
    ck_assert_uint_eq(tokens_of(lim, &objs[1]), 5);
    ck_assert_int_eq(harness_waiter_rc(&c), HARNESS_RC_PENDING);
    harness_waiter_go(&a);
    ck_assert_int_eq(harness_waiter_wait_rc(&c), 0);
    ck_assert_int_eq(harness_waiter_join(&a), 0);
    ck_assert_int_eq(harness_waiter_join(&b), 0);
    ck_assert_int_eq(harness_waiter_finish(&c), 0);
    ck_assert_uint_lt(b.seq, a.seq);
    ck_assert_uint_lt(a.seq, c.seq);
    harness_assert_counts(lim, 0, 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* A queue of oversize requests only counts as empty for R4. */
static void only_oversize_case(enum caplimit_policy policy)
{
    caplimit_t *lim = harness_make(2);
    struct harness_waiter a, b;
    struct timespec t = harness_deadline_ms(1000), past = { 0, 0 };
    struct caplimit_counters c;

    ck_assert_int_eq(caplimit_set_policy(lim, policy, 1), 0);   /* an old head */
    queue_tokens(&a, lim, HARNESS_OBJ, &objs[0], 3, 0, 1);
    queue_tokens(&b, lim, HARNESS_PLAIN, NULL, 7, 0, 2);
    ck_assert_int_eq(caplimit_acquire_tokens_nowait(lim, &objs[1], 1), 0);
    ck_assert_int_eq(caplimit_acquire_nowait(lim), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 2);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[1]), 0);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_acquire_tokens_until(lim, &objs[1], 2, CLOCK_MONOTONIC, &past), 0);
    ck_assert_int_eq(caplimit_release_tokens(lim, &objs[1], 2), 0);
    ck_assert_int_eq(caplimit_acquire_tokens(lim, NULL, 2), 0);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_acquire_tokens_until(lim, &objs[2], 1, CLOCK_REALTIME, &t), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[2]), 0);
    ck_assert_uint_eq(caplimit_threads_waiting(lim), 2);
    ck_assert_int_eq(harness_waiter_rc(&a), HARNESS_RC_PENDING);
    ck_assert_int_eq(caplimit_counters(lim, &c), 0);
    ck_assert_uint_eq(c.granted_at_once, 5);
    ck_assert_uint_eq(c.would_block, 0);
    /* oversize requests still get their turn */
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 7), 0);
    ck_assert_int_eq(harness_waiter_join(&a), 0);
    ck_assert_int_eq(harness_waiter_join(&b), 0);
    ck_assert_uint_lt(a.seq, b.seq);
    harness_assert_counts(lim, 0, 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}

START_TEST(test_R23_only_oversize_queue_counts_as_empty_fifo)
{
    only_oversize_case(CAPLIMIT_POLICY_FIFO);
}
END_TEST

START_TEST(test_R23_only_oversize_queue_counts_as_empty_throughput)
{
    only_oversize_case(CAPLIMIT_POLICY_THROUGHPUT);
}
END_TEST

/* A fall of the total runs R5: the head becomes oversize, and the request
 * behind it, which it held back, now fits. */
START_TEST(test_R23_fall_runs_R5)
{
    caplimit_t *lim = harness_make(5);
    struct harness_waiter a, b;

    ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[0], 1), 0);
    queue_tokens(&a, lim, HARNESS_OBJ, &objs[1], 5, 1, 1);
    queue_tokens(&b, lim, HARNESS_UNTIL, NULL, 2, 1, 2);
    ck_assert_int_eq(harness_waiter_rc(&b), HARNESS_RC_PENDING);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 1);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 3), 0);
    ck_assert_int_eq(harness_waiter_wait_rc(&b), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 3);
    ck_assert_int_eq(harness_waiter_rc(&a), HARNESS_RC_PENDING);
    ck_assert_uint_eq(caplimit_threads_waiting(lim), 1);
    /* back to 5: a fits the total again, not yet the free tokens */
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 5), 0);
    ck_assert_int_eq(harness_waiter_rc(&a), HARNESS_RC_PENDING);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_int_eq(harness_waiter_rc(&a), HARNESS_RC_PENDING);
    harness_waiter_go(&b);
    ck_assert_int_eq(harness_waiter_wait_rc(&a), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 5);
    ck_assert_int_eq(harness_waiter_finish(&a), 0);
    ck_assert_int_eq(harness_waiter_join(&b), 0);
    harness_assert_counts(lim, 0, 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- A large head that leaves: R5 must run (Go #37852) ------------------ */

/* total 3, all held; a head for 3, then b and c for 1 each; then one
 * token is freed (so that under R17 b and c queued, not barged in).  The
 * head leaves; b must then be granted the free token at once, c waits
 * for the next release. */
struct leave_case {
    caplimit_t *lim;
    struct harness_waiter big, b, c;
};

static void leave_setup(struct leave_case *k, enum caplimit_policy policy,
                        unsigned long long bypass, enum harness_variant big_v,
                        long big_until_ms)
{
    k->lim = harness_make(3);
    ck_assert_int_eq(caplimit_set_policy(k->lim, policy, bypass), 0);
    ck_assert_int_eq(caplimit_acquire_tokens(k->lim, &objs[0], 2), 0);
    ck_assert_int_eq(caplimit_acquire_tokens(k->lim, &objs[6], 1), 0);
    harness_waiter_init(&k->big, k->lim, big_v, &objs[1], 1);
    k->big.n = 3;
    if (big_until_ms > 0)
        k->big.abstime = harness_deadline_on(k->big.clock, big_until_ms);
    harness_waiter_queue(&k->big, 1);
    queue_tokens(&k->b, k->lim, HARNESS_OBJ, &objs[2], 1, 1, 2);
    queue_tokens(&k->c, k->lim, HARNESS_UNTIL, NULL, 1, 1, 3);
    ck_assert_int_eq(caplimit_release_on_behalf_of(k->lim, &objs[6]), 0);
    /* the head holds the small ones back beside a free token */
    ck_assert_uint_eq(caplimit_available_tokens(k->lim), 1);
    ck_assert_uint_eq(caplimit_threads_waiting(k->lim), 3);
    ck_assert_int_eq(harness_waiter_rc(&k->b), HARNESS_RC_PENDING);
    ck_assert_int_eq(harness_waiter_rc(&k->c), HARNESS_RC_PENDING);
}

static void leave_check_rest(struct leave_case *k)
{
    ck_assert_int_eq(harness_waiter_wait_rc(&k->b), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(k->lim), 3);
    ck_assert_uint_eq(caplimit_threads_waiting(k->lim), 1);
    ck_assert_uint_eq(tokens_waiting(k->lim), 1);
    ck_assert_int_eq(harness_waiter_rc(&k->c), HARNESS_RC_PENDING);
    ck_assert_int_eq(caplimit_release_on_behalf_of(k->lim, &objs[0]), 0);
    ck_assert_int_eq(harness_waiter_wait_rc(&k->c), 0);
    ck_assert_int_eq(harness_waiter_finish(&k->b), 0);
    ck_assert_int_eq(harness_waiter_finish(&k->c), 0);
    harness_assert_counts(k->lim, 0, 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(k->lim), 0);
}

static void deadline_case(enum caplimit_policy policy, unsigned long long bypass)
{
    static const enum harness_variant vs[2] = { HARNESS_UNTIL, HARNESS_OBJ_UNTIL };
    int i;

    for (i = 0; i < 2; i++) {          /* CLOCK_MONOTONIC, CLOCK_REALTIME */
        struct leave_case k;
        struct caplimit_counters c;

        leave_setup(&k, policy, bypass, vs[i], harness_span_ms(400));
        ck_assert_int_eq(harness_waiter_join(&k.big), ETIMEDOUT);
        c = harness_counters(k.lim);
        ck_assert_uint_eq(c.timed_out, 1);
        leave_check_rest(&k);
    }
}

START_TEST(test_R23_head_leaves_by_deadline_fifo)
{
    deadline_case(CAPLIMIT_POLICY_FIFO, 0);
}
END_TEST

START_TEST(test_R23_head_leaves_by_deadline_throughput)
{
    deadline_case(CAPLIMIT_POLICY_THROUGHPUT, TEN_S);     /* young: woken */
    deadline_case(CAPLIMIT_POLICY_THROUGHPUT, 1);         /* old: handed off */
}
END_TEST

static void cancel_case(enum caplimit_policy policy, unsigned long long bypass)
{
    int i;

    for (i = 0; i < HARNESS_NWAITING; i++) {
        struct leave_case k;
        struct caplimit_counters c;

        leave_setup(&k, policy, bypass, harness_waiting_variants[i], 0);
        /* queued: asleep in the library's condition-variable wait */
        ck_assert_int_eq(pthread_cancel(k.big.thread), 0);
        ck_assert_int_eq(harness_waiter_join(&k.big), HARNESS_RC_CANCELLED);
        c = harness_counters(k.lim);
        ck_assert_uint_eq(c.cancelled, 1);
        ck_assert_uint_eq(c.abandoned, 0);
        leave_check_rest(&k);
    }
}

START_TEST(test_R23_head_leaves_by_cancel_fifo)
{
    cancel_case(CAPLIMIT_POLICY_FIFO, 0);
}
END_TEST

START_TEST(test_R23_head_leaves_by_cancel_throughput)
{
    cancel_case(CAPLIMIT_POLICY_THROUGHPUT, TEN_S);
    cancel_case(CAPLIMIT_POLICY_THROUGHPUT, 1);
}
END_TEST

/* By close every queued request leaves (ECANCELED), the large head and
 * the small ones; the holders keep their tokens; nothing is granted. */
static void close_case(enum caplimit_policy policy)
{
    struct leave_case k;
    struct caplimit_counters c;

    leave_setup(&k, policy, TEN_S, HARNESS_OBJ, 0);
    ck_assert_int_eq(caplimit_close(k.lim), 0);
    ck_assert_int_eq(harness_waiter_join(&k.big), ECANCELED);
    ck_assert_int_eq(harness_waiter_join(&k.b), ECANCELED);
    ck_assert_int_eq(harness_waiter_join(&k.c), ECANCELED);
    harness_assert_counts(k.lim, 2, 0);
    ck_assert_uint_eq(tokens_waiting(k.lim), 0);
    ck_assert_int_eq(caplimit_acquire_tokens_nowait(k.lim, &objs[5], 1), ECANCELED);
    c = harness_counters(k.lim);
    ck_assert_uint_eq(c.closed_out, 4);
    ck_assert_int_eq(caplimit_release_on_behalf_of(k.lim, &objs[0]), 0);
    harness_assert_counts(k.lim, 0, 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(k.lim), 0);
}

START_TEST(test_R23_head_leaves_by_close)
{
    close_case(CAPLIMIT_POLICY_FIFO);
    close_case(CAPLIMIT_POLICY_THROUGHPUT);
}
END_TEST

/* An oversize request that leaves runs R5 like any other. */
START_TEST(test_R23_oversize_leaves_by_deadline)
{
    caplimit_t *lim = harness_make(2);
    struct harness_waiter a, b;

    ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[0], 1), 0);
    harness_waiter_init(&a, lim, HARNESS_OBJ_UNTIL, &objs[1], 0);
    a.n = 9;
    a.abstime = harness_deadline_on(a.clock, harness_span_ms(300));
    harness_waiter_queue(&a, 1);
    queue_tokens(&b, lim, HARNESS_OBJ, &objs[2], 2, 0, 2);
    ck_assert_uint_eq(tokens_waiting(lim), 11);
    ck_assert_int_eq(harness_waiter_join(&a), ETIMEDOUT);
    ck_assert_uint_eq(tokens_waiting(lim), 2);
    ck_assert_int_eq(harness_waiter_rc(&b), HARNESS_RC_PENDING);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_int_eq(harness_waiter_join(&b), 0);
    harness_assert_counts(lim, 0, 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- Infinite total ----------------------------------------------------- */

START_TEST(test_R23_infinite_total_eoverflow)
{
    caplimit_t *lim = harness_make(CAPLIMIT_INFINITE);
    struct harness_state before;
    struct timespec t = harness_deadline_ms(1000);

    ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[0], 5), 0);
    harness_snap(lim, &before);
    /* borrowed would reach CAPLIMIT_INFINITE, or wrap: at once, every variant */
    ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[1], CAPLIMIT_INFINITE - 5), EOVERFLOW);
    ck_assert_int_eq(caplimit_acquire_tokens_nowait(lim, NULL, CAPLIMIT_INFINITE - 5),
                     EOVERFLOW);
    ck_assert_int_eq(caplimit_acquire_tokens_until(lim, NULL, CAPLIMIT_INFINITE - 1,
                                                   CLOCK_MONOTONIC, &t), EOVERFLOW);
    ck_assert_int_eq(caplimit_acquire_tokens(lim, NULL, CAPLIMIT_INFINITE - 2), EOVERFLOW);
    /* EOVERFLOW counts nowhere (R19) and changes nothing */
    harness_assert_unchanged(lim, &before);
    harness_snap_free(&before);
    /* borrowed + n == CAPLIMIT_INFINITE - 1 still fits */
    ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[1], CAPLIMIT_INFINITE - 6), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), CAPLIMIT_INFINITE - 1);
    ck_assert_uint_eq(caplimit_available_tokens(lim), CAPLIMIT_INFINITE);
    ck_assert_int_eq(caplimit_acquire_nowait(lim), EOVERFLOW);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[2]), EOVERFLOW);
    ck_assert_int_eq(caplimit_acquire_until(lim, CLOCK_REALTIME, &t), EOVERFLOW);
    ck_assert_uint_eq(harness_counters(lim).granted_at_once, 2);
    ck_assert_int_eq(caplimit_release_tokens(lim, &objs[1], CAPLIMIT_INFINITE - 7), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 6);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[1]), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    harness_assert_counts(lim, 0, 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- R3 and R21 --------------------------------------------------------- */

START_TEST(test_R23_R3_holder_acquiring_again_edeadlk)
{
    caplimit_t *lim = harness_make(10);
    struct harness_state before;
    struct timespec t = harness_deadline_ms(1000);

    ck_assert_int_eq(caplimit_acquire_tokens(lim, NULL, 3), 0);
    ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[0], 2), 0);
    harness_snap(lim, &before);
    /* to grow a hold: release it, acquire anew */
    ck_assert_int_eq(caplimit_acquire_tokens(lim, NULL, 1), EDEADLK);
    ck_assert_int_eq(caplimit_acquire_tokens_nowait(lim, NULL, 5), EDEADLK);
    ck_assert_int_eq(caplimit_acquire_tokens_until(lim, NULL, 2, CLOCK_MONOTONIC, &t), EDEADLK);
    ck_assert_int_eq(caplimit_acquire(lim), EDEADLK);
    ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[0], 1), EDEADLK);
    ck_assert_int_eq(caplimit_acquire_tokens_nowait(lim, &objs[0], 20), EDEADLK);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_until(lim, &objs[0], CLOCK_REALTIME, &t),
                     EDEADLK);
    harness_assert_unchanged(lim, &before);
    harness_snap_free(&before);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* A queued borrower gets EDEADLK, even while the tokens it asks again
 * for are free (its own request is oversize). */
START_TEST(test_R23_R3_waiter_acquiring_again_edeadlk)
{
    caplimit_t *lim = harness_make(2);
    struct harness_state before;
    struct harness_waiter w;

    queue_tokens(&w, lim, HARNESS_OBJ, &objs[0], 5, 0, 1);
    harness_snap(lim, &before);
    ck_assert_uint_eq(caplimit_available_tokens(lim), 2);
    ck_assert_int_eq(caplimit_acquire_tokens_nowait(lim, &objs[0], 1), EDEADLK);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &objs[0]), EDEADLK);
    ck_assert_int_eq(caplimit_set_reentrant(lim, 1), 0);
    ck_assert_int_eq(caplimit_acquire_tokens_nowait(lim, &objs[0], 1), EDEADLK);
    harness_assert_unchanged(lim, &before);
    harness_snap_free(&before);
    ck_assert_int_eq(caplimit_release_tokens(lim, &objs[0], 1), EPERM);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 5), 0);
    ck_assert_int_eq(harness_waiter_join(&w), 0);
    harness_assert_counts(lim, 0, 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R23_R21_reentry_takes_no_tokens)
{
    caplimit_t *lim = harness_make(4);
    struct timespec t = harness_deadline_ms(1000);
    struct caplimit_counters c;

    ck_assert_int_eq(caplimit_set_reentrant(lim, 1), 0);
    ck_assert_int_eq(caplimit_acquire_tokens(lim, NULL, 3), 0);
    /* whatever n, even more than the total or the free tokens */
    ck_assert_int_eq(caplimit_acquire_tokens(lim, NULL, 100), 0);
    ck_assert_int_eq(caplimit_acquire_tokens_nowait(lim, NULL, 2), 0);
    ck_assert_int_eq(caplimit_acquire_tokens_until(lim, NULL, 4, CLOCK_MONOTONIC, &t), 0);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_uint_eq(level_of(lim, NULL), 5);
    ck_assert_uint_eq(tokens_of(lim, NULL), 3);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 3);
    c = harness_counters(lim);
    ck_assert_uint_eq(c.granted_at_once, 5);
    /* the same for an object */
    ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[0], 1), 0);
    ck_assert_int_eq(caplimit_acquire_tokens_nowait(lim, &objs[0], 8), 0);
    ck_assert_uint_eq(level_of(lim, &objs[0]), 2);
    ck_assert_uint_eq(tokens_of(lim, &objs[0]), 1);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 4);
    /* each release lowers the level; the hold goes back at level 0 */
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 4);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 3);
    while (level_of(lim, NULL) > 1) {
        ck_assert_int_eq(caplimit_release(lim), 0);
        ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 3);
    }
    ck_assert_int_eq(caplimit_release(lim), 0);
    harness_assert_counts(lim, 0, 0);
    ck_assert_int_eq(caplimit_release(lim), EPERM);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- Releasing ---------------------------------------------------------- */

START_TEST(test_R23_release_gives_back_the_whole_hold)
{
    caplimit_t *lim = harness_make(8);
    struct harness_waiter w;

    ck_assert_int_eq(caplimit_acquire_tokens(lim, NULL, 5), 0);
    ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[0], 3), 0);
    queue_tokens(&w, lim, HARNESS_OBJ, &objs[1], 8, 0, 1);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 3);
    ck_assert_int_eq(harness_waiter_rc(&w), HARNESS_RC_PENDING);
    /* R5 on the release of the whole hold */
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_int_eq(harness_waiter_join(&w), 0);
    harness_assert_counts(lim, 0, 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R23_release_tokens_partial_keeps_the_hold)
{
    caplimit_t *lim = harness_make(6);
    struct harness_waiter w;

    ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[0], 6), 0);
    queue_tokens(&w, lim, HARNESS_UNTIL, NULL, 2, 1, 1);
    ck_assert_int_eq(caplimit_release_tokens(lim, &objs[0], 1), 0);
    ck_assert_uint_eq(tokens_of(lim, &objs[0]), 5);
    ck_assert_uint_eq(level_of(lim, &objs[0]), 1);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 5);
    ck_assert_int_eq(harness_waiter_rc(&w), HARNESS_RC_PENDING);
    /* every token given back runs R5: the waiter's 2 now fit */
    ck_assert_int_eq(caplimit_release_tokens(lim, &objs[0], 1), 0);
    ck_assert_int_eq(harness_waiter_wait_rc(&w), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 6);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &objs[0]), 1);
    ck_assert_uint_eq(tokens_of(lim, &objs[0]), 4);
    /* n == held: the plain release */
    ck_assert_int_eq(caplimit_release_tokens(lim, &objs[0], 4), 0);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 2);
    ck_assert_int_eq(caplimit_release_tokens(lim, &objs[0], 1), EPERM);
    ck_assert_int_eq(harness_waiter_finish(&w), 0);
    /* the thread borrower: NULL */
    ck_assert_int_eq(caplimit_acquire_tokens(lim, NULL, 3), 0);
    ck_assert_int_eq(caplimit_release_tokens(lim, NULL, 2), 0);
    ck_assert_uint_eq(tokens_of(lim, NULL), 1);
    ck_assert_int_eq(caplimit_release_tokens(lim, NULL, 1), 0);
    ck_assert_int_eq(caplimit_holds(lim), 0);
    harness_assert_counts(lim, 0, 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* Under R21 a partial release keeps the level; n == held is the plain
 * release, which lowers it. */
START_TEST(test_R23_release_tokens_partial_keeps_the_level)
{
    caplimit_t *lim = harness_make(6);

    ck_assert_int_eq(caplimit_set_reentrant(lim, 1), 0);
    ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[0], 5), 0);
    ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[0], 5), 0);
    ck_assert_uint_eq(level_of(lim, &objs[0]), 2);
    ck_assert_int_eq(caplimit_release_tokens(lim, &objs[0], 3), 0);
    ck_assert_uint_eq(level_of(lim, &objs[0]), 2);
    ck_assert_uint_eq(tokens_of(lim, &objs[0]), 2);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 2);
    ck_assert_int_eq(caplimit_release_tokens(lim, &objs[0], 2), 0);
    ck_assert_uint_eq(level_of(lim, &objs[0]), 1);
    ck_assert_uint_eq(tokens_of(lim, &objs[0]), 2);
    ck_assert_int_eq(caplimit_release_tokens(lim, &objs[0], 2), 0);
    harness_assert_counts(lim, 0, 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* n 0 -> EINVAL; a borrower that holds nothing -> EPERM whatever n; then
 * n > held -> EINVAL.  Each changes nothing. */
START_TEST(test_R23_release_tokens_error_order)
{
    caplimit_t *lim = harness_make(4);
    struct harness_state before;
    struct harness_waiter w;

    ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[0], 3), 0);
    queue_tokens(&w, lim, HARNESS_OBJ, &objs[1], 4, 0, 1);
    harness_snap(lim, &before);
    ck_assert_int_eq(caplimit_release_tokens(NULL, &objs[0], 1), EINVAL);
    ck_assert_int_eq(caplimit_release_tokens(lim, &objs[0], 0), EINVAL);
    ck_assert_int_eq(caplimit_release_tokens(lim, &objs[2], 0), EINVAL);
    ck_assert_int_eq(caplimit_release_tokens(lim, NULL, 0), EINVAL);
    ck_assert_int_eq(caplimit_release_tokens(lim, &objs[2], 1), EPERM);
    ck_assert_int_eq(caplimit_release_tokens(lim, &objs[2], 99), EPERM);
    ck_assert_int_eq(caplimit_release_tokens(lim, &objs[2], CAPLIMIT_INFINITE), EPERM);
    ck_assert_int_eq(caplimit_release_tokens(lim, NULL, 5), EPERM);
    /* a queued borrower holds nothing */
    ck_assert_int_eq(caplimit_release_tokens(lim, &objs[1], 1), EPERM);
    ck_assert_int_eq(caplimit_release_tokens(lim, &objs[1], 10), EPERM);
    ck_assert_int_eq(caplimit_release_tokens(lim, &objs[0], 4), EINVAL);
    ck_assert_int_eq(caplimit_release_tokens(lim, &objs[0], CAPLIMIT_INFINITE), EINVAL);
    harness_assert_unchanged(lim, &before);
    harness_snap_free(&before);
    ck_assert_int_eq(caplimit_release_tokens(lim, &objs[0], 3), 0);
    ck_assert_int_eq(harness_waiter_join(&w), 0);
    harness_assert_counts(lim, 0, 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* A thread's hold is released by that thread only (R2). */
struct other_release {
    caplimit_t *lim;
    int rc_release, rc_tokens;
};

static void *release_from_other(void *arg)
{
    struct other_release *o = arg;

    o->rc_release = caplimit_release(o->lim);
    o->rc_tokens = caplimit_release_tokens(o->lim, NULL, 1);
    return NULL;
}

START_TEST(test_R23_thread_hold_released_by_its_thread_only)
{
    caplimit_t *lim = harness_make(4);
    struct other_release o = { lim, -1, -1 };
    pthread_t t;

    ck_assert_int_eq(caplimit_acquire_tokens(lim, NULL, 3), 0);
    harness_spawn(&t, release_from_other, &o);
    harness_join(t);
    ck_assert_int_eq(o.rc_release, EPERM);
    ck_assert_int_eq(o.rc_tokens, EPERM);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 3);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- R22 ---------------------------------------------------------------- */

struct exiter {
    caplimit_t *lim;
    size_t n, give_back;             /* release_tokens(give_back) first */
    int levels;                      /* extra levels under R21 */
    int how;                         /* 0 return, 1 pthread_exit, 2 cancelled */
    int ready;
};

static void *exiter_main(void *arg)
{
    struct exiter *e = arg;
    int i;

    WORKER_CHECK(caplimit_acquire_tokens(e->lim, NULL, e->n) == 0);
    for (i = 0; i < e->levels; i++)
        WORKER_CHECK(caplimit_acquire_tokens(e->lim, NULL, 7) == 0);
    if (e->give_back != 0)
        WORKER_CHECK(caplimit_release_tokens(e->lim, NULL, e->give_back) == 0);
    if (e->how == 1)
        pthread_exit(NULL);
    if (e->how == 2) {
        STORE(&e->ready, 1);
        for (;;)
            pthread_testcancel();
    }
    return NULL;
}

START_TEST(test_R23_R22_thread_exit_gives_back_the_whole_hold)
{
    caplimit_t *lim = harness_make(8);
    struct harness_waiter w;
    int how;
    unsigned long long abandoned = 0;

    ck_assert_int_eq(caplimit_set_reentrant(lim, 1), 0);
    for (how = 0; how < 3; how++) {
        struct exiter e = { lim, 6, 0, 0, how, 0 };
        pthread_t t;

        e.give_back = how == 1 ? 2 : 0;    /* 4 left */
        e.levels = how == 2 ? 2 : 0;
        harness_spawn(&t, exiter_main, &e);
        if (how == 2) {
            POLL_UNTIL(LOAD(&e.ready));
            ck_assert_int_eq(pthread_cancel(t), 0);
            harness_join_cancelled(t);
        } else {
            harness_join(t);
        }
        abandoned += how == 1 ? 4 : 6;
        ck_assert_uint_eq(harness_counters(lim).abandoned, abandoned);
        harness_assert_counts(lim, 0, 0);
    }
    /* a waiter behind the dying thread's hold is handed its tokens (R5) */
    {
        struct exiter e = { lim, 5, 0, 0, 2, 0 };
        pthread_t t;

        harness_spawn(&t, exiter_main, &e);
        POLL_UNTIL(LOAD(&e.ready));
        queue_tokens(&w, lim, HARNESS_OBJ, &objs[0], 8, 0, 1);
        ck_assert_int_eq(pthread_cancel(t), 0);
        harness_join_cancelled(t);
        ck_assert_int_eq(harness_waiter_join(&w), 0);
        ck_assert_uint_eq(harness_counters(lim).abandoned, abandoned + 5);
    }
    harness_assert_counts(lim, 0, 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- Statistics and counters -------------------------------------------- */

static int all_zero(const unsigned long long *r, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (r[i] != 0)
            return 0;
    return 1;
}

START_TEST(test_R23_statistics_tokens_pid_tid)
{
    caplimit_t *lim = harness_make(10);
    struct harness_waiter h, q1, q2;
    struct caplimit_statistics st;
    size_t i, sum = 0;
    int seen_thread = 0, seen_me = 0, seen_obj = 0;

    ck_assert_int_eq(caplimit_acquire_tokens(lim, NULL, 2), 0);
    ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[0], 3), 0);
    harness_waiter_init(&h, lim, HARNESS_PLAIN, NULL, 1);
    h.n = 4;
    harness_waiter_run(&h);
    POLL_UNTIL(harness_waiter_rc(&h) == 0);
    queue_tokens(&q1, lim, HARNESS_OBJ, &objs[1], 2, 0, 1);
    queue_tokens(&q2, lim, HARNESS_UNTIL, NULL, 30, 0, 2);   /* oversize */

    ck_assert_int_eq(caplimit_statistics(lim, &st), 0);
    ck_assert_uint_eq(st.borrowed_tokens, 9);
    ck_assert_uint_eq(st.total_tokens, 10);
    ck_assert_uint_eq(st.threads_waiting, 2);
    ck_assert_uint_eq(st.nborrowers, 3);               /* holders, not tokens */
    ck_assert_uint_eq(st.tokens_waiting, 32);
    ck_assert(all_zero(st.reserved, sizeof st.reserved / sizeof st.reserved[0]));
    for (i = 0; i < st.nborrowers; i++) {
        const struct caplimit_borrower *b = &st.borrowers[i];
        sum += b->tokens;
        ck_assert_int_eq(b->pid, getpid());
        ck_assert_uint_eq(b->level, 1);
        ck_assert(all_zero(b->reserved, sizeof b->reserved / sizeof b->reserved[0]));
        if (b->kind == CAPLIMIT_BORROWER_OBJECT) {
            seen_obj++;
            ck_assert_ptr_eq(b->object, &objs[0]);
            ck_assert_uint_eq(b->tokens, 3);
            ck_assert_int_eq(b->tid, 0);
            ck_assert(b->thread == 0);
        } else if (pthread_equal(b->thread, pthread_self())) {
            seen_me++;
            ck_assert_uint_eq(b->tokens, 2);
            ck_assert_int_eq(b->tid, (pid_t)syscall(SYS_gettid));
            ck_assert_ptr_null(b->object);
        } else {
            seen_thread++;
            ck_assert(pthread_equal(b->thread, h.thread));
            ck_assert_uint_eq(b->tokens, 4);
            ck_assert_int_eq(b->tid, LOAD(&h.tid));
            ck_assert_ptr_null(b->object);
        }
    }
    ck_assert_uint_eq(sum, st.borrowed_tokens);
    ck_assert_int_eq(seen_obj + seen_me + seen_thread, 3);
    caplimit_statistics_destroy(&st);

    harness_waiter_go(&h);
    ck_assert_int_eq(harness_waiter_join(&h), 0);
    ck_assert_int_eq(harness_waiter_join(&q1), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[1]), EPERM);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 40), 0);
    ck_assert_int_eq(harness_waiter_join(&q2), 0);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    harness_assert_counts(lim, 0, 0);
    ck_assert_uint_eq(tokens_waiting(lim), 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* A holder granted after a wait (R5) reports its own thread's tid. */
static void check_own_entry(struct harness_waiter *w)
{
    struct caplimit_statistics st;
    size_t i;
    int found = 0;

    WORKER_CHECK(caplimit_statistics(w->lim, &st) == 0);
    for (i = 0; i < st.nborrowers; i++) {
        if (st.borrowers[i].kind == CAPLIMIT_BORROWER_THREAD
            && pthread_equal(st.borrowers[i].thread, pthread_self())) {
            found = 1;
            WORKER_CHECK(st.borrowers[i].tid == (pid_t)syscall(SYS_gettid));
            WORKER_CHECK(st.borrowers[i].pid == getpid());
            WORKER_CHECK(st.borrowers[i].tokens == w->n);
        }
    }
    WORKER_CHECK(found);
    caplimit_statistics_destroy(&st);
}

START_TEST(test_R23_statistics_tid_of_a_granted_waiter)
{
    caplimit_t *lim = harness_make(3);
    struct harness_waiter w;

    ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[0], 2), 0);
    harness_waiter_init(&w, lim, HARNESS_UNTIL, NULL, 0);
    w.n = 3;
    w.on_grant = check_own_entry;
    harness_waiter_queue(&w, 1);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_int_eq(harness_waiter_join(&w), 0);
    harness_assert_no_worker_failures();
    harness_assert_counts(lim, 0, 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R23_R19_counters_for_weighted)
{
    caplimit_t *lim = harness_make(4);
    struct harness_waiter w;
    struct timespec past = { 0, 0 };
    struct caplimit_counters c;

    ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[0], 3), 0);            /* at once */
    ck_assert_int_eq(caplimit_acquire_tokens_nowait(lim, &objs[1], 2), EWOULDBLOCK);
    ck_assert_int_eq(caplimit_acquire_tokens_until(lim, &objs[1], 2, CLOCK_MONOTONIC, &past),
                     ETIMEDOUT);
    /* counted nowhere: EINVAL, EDEADLK */
    ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[1], 0), EINVAL);
    ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[0], 1), EDEADLK);
    queue_tokens(&w, lim, HARNESS_OBJ, &objs[2], 4, 0, 1);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_int_eq(harness_waiter_join(&w), 0);                            /* after wait */
    c = harness_counters(lim);
    ck_assert_uint_eq(c.granted_at_once, 1);
    ck_assert_uint_eq(c.would_block, 1);
    ck_assert_uint_eq(c.timed_out, 1);
    ck_assert_uint_eq(c.granted_after_wait, 1);
    ck_assert_uint_eq(c.cancelled + c.closed_out + c.abandoned, 0);
    ck_assert_uint_eq(c.max_threads_waiting, 1);
    ck_assert_int_eq(caplimit_close(lim), 0);
    ck_assert_int_eq(caplimit_acquire_tokens(lim, NULL, 2), ECANCELED);
    c = harness_counters(lim);
    ck_assert_uint_eq(c.closed_out, 1);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- R17 with weights --------------------------------------------------- */

START_TEST(test_R23_R17_newcomer_takes_n_while_head_young)
{
    caplimit_t *lim = harness_make(4);
    struct harness_waiter w;

    ck_assert_int_eq(caplimit_set_policy(lim, CAPLIMIT_POLICY_THROUGHPUT, TEN_S), 0);
    ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[0], 1), 0);
    queue_tokens(&w, lim, HARNESS_OBJ, &objs[1], 4, 1, 1);
    /* young head: a newcomer whose n are all free takes them */
    ck_assert_int_eq(caplimit_acquire_tokens_nowait(lim, &objs[2], 2), 0);
    /* not all n free: refused */
    ck_assert_int_eq(caplimit_acquire_tokens_nowait(lim, &objs[3], 2), EWOULDBLOCK);
    ck_assert_int_eq(caplimit_acquire_tokens_nowait(lim, NULL, 1), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 4);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[2]), 0);
    /* an old head: newcomers queue, the freed tokens wait for the head */
    ck_assert_int_eq(caplimit_set_policy(lim, CAPLIMIT_POLICY_THROUGHPUT, 1), 0);
    ck_assert_uint_eq(caplimit_available_tokens(lim), 3);
    ck_assert_int_eq(caplimit_acquire_tokens_nowait(lim, &objs[2], 1), EWOULDBLOCK);
    ck_assert_int_eq(harness_waiter_rc(&w), HARNESS_RC_PENDING);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_int_eq(harness_waiter_wait_rc(&w), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 4);
    ck_assert_int_eq(harness_waiter_finish(&w), 0);
    harness_assert_counts(lim, 0, 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* The head's age is that of the oldest waiter R5 would grant: an old
 * oversize request passed over does not make the head old. */
START_TEST(test_R23_R17_oversize_age_does_not_count)
{
    long bypass_ms = harness_span_ms(300);   /* 2x stays under POLL_UNTIL's 10 s */
    caplimit_t *lim = harness_make(4);
    struct harness_waiter o, f;
    struct timespec t0, tf;
    int rc;

    ck_assert_int_eq(caplimit_set_policy(lim, CAPLIMIT_POLICY_THROUGHPUT,
                                         (unsigned long long)bypass_ms * 1000000ULL), 0);
    ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[0], 3), 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    queue_tokens(&o, lim, HARNESS_OBJ, &objs[1], 10, 0, 1);
    POLL_UNTIL(harness_ms_since(&t0) > 2 * bypass_ms);
    /* the oversize one is old now; f, which fits, queues young */
    clock_gettime(CLOCK_MONOTONIC, &tf);
    queue_tokens(&f, lim, HARNESS_OBJ, &objs[2], 2, 0, 2);
    rc = caplimit_acquire_tokens_nowait(lim, &objs[3], 1);
    /* f still young at the acquire (not so on a machine that stalled us
     * for bypass_ms): the newcomer takes the free token */
    if (harness_ms_since(&tf) < bypass_ms)
        ck_assert_int_eq(rc, 0);
    if (rc == 0)
        ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[3]), 0);
    /* once f is old too, a newcomer is refused */
    POLL_UNTIL(harness_ms_since(&tf) > 2 * bypass_ms);
    ck_assert_int_eq(caplimit_acquire_tokens_nowait(lim, &objs[3], 1), EWOULDBLOCK);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_int_eq(harness_waiter_join(&f), 0);
    ck_assert_int_eq(harness_waiter_rc(&o), HARNESS_RC_PENDING);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 10), 0);
    ck_assert_int_eq(harness_waiter_join(&o), 0);
    harness_assert_counts(lim, 0, 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* R17 with R23 and a fall: the young head is woken for 3 free tokens (it
 * is held off in a signal handler, so it cannot take them yet); then the
 * total falls below its 3, and the request for 1 behind it now fits the
 * free token (R23: a fall runs R5, and R17: when tokens are free, enough
 * waiters are woken to take them).  The test watches without taking the
 * limiter's lock, since any call would settle the queue itself. */
START_TEST(test_R23_R17_fall_under_a_woken_head_wakes_the_next)
{
    caplimit_t *lim = harness_make(4);
    struct harness_waiter h, j;

    ck_assert_int_eq(caplimit_set_policy(lim, CAPLIMIT_POLICY_THROUGHPUT, TEN_S), 0);
    ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[0], 4), 0);
    queue_tokens(&h, lim, HARNESS_PLAIN, NULL, 3, 0, 1);
    queue_tokens(&j, lim, HARNESS_OBJ, &objs[1], 1, 1, 2);
    harness_stall(h.thread);
    ck_assert_int_eq(caplimit_release_tokens(lim, &objs[0], 3), 0);   /* wakes h */
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 2), 0);         /* h oversize */
    /* j fits the one free token: it must be granted, h still held off */
    POLL_UNTIL(harness_waiter_rc(&j) == 0);
    harness_unstall();
    harness_waiter_go(&j);
    POLL_UNTIL(LOAD(&j.done));
    ck_assert_int_eq(harness_waiter_rc(&h), HARNESS_RC_PENDING);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 4), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_int_eq(harness_waiter_join(&h), 0);
    ck_assert_int_eq(harness_waiter_join(&j), 0);
    harness_assert_counts(lim, 0, 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* The same once the held-off head has run: it finds its request oversize
 * and goes back to sleep; the one behind must not be left asleep beside
 * the free token. */
START_TEST(test_R23_R17_woken_head_turned_oversize_passes_on)
{
    caplimit_t *lim = harness_make(4);
    struct harness_waiter h, j;

    ck_assert_int_eq(caplimit_set_policy(lim, CAPLIMIT_POLICY_THROUGHPUT, TEN_S), 0);
    ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[0], 4), 0);
    queue_tokens(&h, lim, HARNESS_PLAIN, NULL, 3, 0, 1);
    queue_tokens(&j, lim, HARNESS_OBJ, &objs[1], 1, 1, 2);
    harness_stall(h.thread);
    ck_assert_int_eq(caplimit_release_tokens(lim, &objs[0], 3), 0);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 2), 0);
    harness_unstall();
    /* h runs, finds 3 > 2, sleeps again: then j must get the token */
    POLL_UNTIL(harness_thread_sleeping(LOAD(&h.tid)) || harness_waiter_rc(&j) == 0);
    POLL_UNTIL(harness_waiter_rc(&j) == 0);
    ck_assert_int_eq(harness_waiter_rc(&h), HARNESS_RC_PENDING);
    harness_waiter_go(&j);
    ck_assert_int_eq(harness_waiter_join(&j), 0);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 4), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    ck_assert_int_eq(harness_waiter_join(&h), 0);
    harness_assert_counts(lim, 0, 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- CAPLIMIT_WITH_TOKENS ----------------------------------------------- */

static int with_tokens_return(caplimit_t *lim, const void *b)
{
    int rc;

    CAPLIMIT_WITH_TOKENS(lim, b, 3, rc) {
        ck_assert_int_eq(caplimit_release_tokens(lim, b, 1), 0);
        return 42;
    }
    return rc;
}

START_TEST(test_R23_with_tokens_gives_back_what_remains)
{
    caplimit_t *lim = harness_make(4);
    const void *bs[2] = { NULL, &objs[0] };
    int k, rc, ran;

    for (k = 0; k < 2; k++) {
        const void *b = bs[k];

        ran = 0;
        CAPLIMIT_WITH_TOKENS(lim, b, 3, rc) {
            ran = 1;
            ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 3);
            ck_assert_uint_eq(tokens_of(lim, b), 3);
        }
        ck_assert_int_eq(rc, 0);
        ck_assert(ran);
        harness_assert_counts(lim, 0, 0);

        /* a partial release inside: the rest goes back */
        CAPLIMIT_WITH_TOKENS(lim, b, 4, rc) {
            ck_assert_int_eq(caplimit_release_tokens(lim, b, 3), 0);
            ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 1);
        }
        harness_assert_counts(lim, 0, 0);

        /* the block released it all: nothing more is given back */
        CAPLIMIT_WITH_TOKENS(lim, b, 2, rc) {
            ck_assert_int_eq(caplimit_release_tokens(lim, b, 2), 0);
            /* someone else takes every token meanwhile */
            ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[5], 4), 0);
        }
        ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 4);
        ck_assert_uint_eq(tokens_of(lim, &objs[5]), 4);
        ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[5]), 0);

        /* left by return, break */
        ck_assert_int_eq(with_tokens_return(lim, b), 42);
        harness_assert_counts(lim, 0, 0);
        ran = 0;
        CAPLIMIT_WITH_TOKENS(lim, b, 2, rc) {
            ran++;
            break;
        }
        ck_assert_int_eq(ran, 1);
        harness_assert_counts(lim, 0, 0);
        CAPLIMIT_WITH_TOKENS(lim, b, 2, rc) {
            ran++;
            goto out;
        }
    out:
        ck_assert_int_eq(ran, 2);
        harness_assert_counts(lim, 0, 0);
    }
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R23_with_tokens_errors_skip_the_block)
{
    caplimit_t *lim = harness_make(4);
    int rc, ran = 0;

    CAPLIMIT_WITH_TOKENS(lim, NULL, 0, rc) {
        ran = 1;
    }
    ck_assert_int_eq(rc, EINVAL);
    ck_assert_int_eq(caplimit_acquire_tokens(lim, &objs[0], 1), 0);
    CAPLIMIT_WITH_TOKENS(lim, &objs[0], 2, rc) {
        ran = 1;
    }
    ck_assert_int_eq(rc, EDEADLK);
    ck_assert_uint_eq(tokens_of(lim, &objs[0]), 1);
    ck_assert_int_eq(caplimit_close(lim), 0);
    CAPLIMIT_WITH_TOKENS(lim, NULL, 1, rc) {
        ran = 1;
    }
    ck_assert_int_eq(rc, ECANCELED);
    ck_assert(!ran);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    harness_assert_counts(lim, 0, 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R23_with_tokens_nests_under_R21)
{
    caplimit_t *lim = harness_make(4);
    const void *bs[2] = { NULL, &objs[0] };
    int k, rc1, rc2;

    ck_assert_int_eq(caplimit_set_reentrant(lim, 1), 0);
    for (k = 0; k < 2; k++) {
        const void *b = bs[k];

        CAPLIMIT_WITH_TOKENS(lim, b, 3, rc1) {
            CAPLIMIT_WITH_TOKENS(lim, b, 9, rc2) {
                ck_assert_uint_eq(level_of(lim, b), 2);
                ck_assert_uint_eq(tokens_of(lim, b), 3);
                ck_assert_int_eq(caplimit_release_tokens(lim, b, 1), 0);
            }
            ck_assert_int_eq(rc2, 0);
            ck_assert_uint_eq(level_of(lim, b), 1);
            ck_assert_uint_eq(tokens_of(lim, b), 2);
            ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 2);
        }
        ck_assert_int_eq(rc1, 0);
        harness_assert_counts(lim, 0, 0);
    }
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- Under load --------------------------------------------------------- */

/* An independent count of the tokens in use, and the bound R5 and R8
 * allow: inuse rises after a grant returns and falls before the release,
 * so it never exceeds borrowed; bound is the total, once the test has
 * seen borrowed come down under a lowered one (R8: a fall takes nothing
 * back, grants wait for borrowed + n <= total). */
struct wload {
    caplimit_t *lim;
    pthread_mutex_t m;
    size_t inuse, bound, max_inuse;
    int rounds;
    int done;                        /* workers finished */
};

struct wworker {
    struct wload *ld;
    int id;
    unsigned seed;
    unsigned long calls, granted;
    pthread_t thread;
};

static unsigned rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 16) & 0x7fff;
}

static void inuse_add(struct wload *ld, size_t n)
{
    pthread_mutex_lock(&ld->m);
    ld->inuse += n;
    if (ld->inuse > ld->max_inuse)
        ld->max_inuse = ld->inuse;
    WORKER_CHECK(ld->inuse <= ld->bound);
    pthread_mutex_unlock(&ld->m);
}

static void inuse_sub(struct wload *ld, size_t n)
{
    pthread_mutex_lock(&ld->m);
    ld->inuse -= n;
    pthread_mutex_unlock(&ld->m);
}

/* Holds n tokens for b a moment, then gives them back in one of the ways. */
static void use_and_release(struct wworker *me, const void *b, size_t n, int scoped)
{
    struct wload *ld = me->ld;
    unsigned how = rnd(&me->seed) % 3;

    inuse_add(ld, n);
    harness_yield();
    if (how == 1 && n > 1) {
        size_t part = 1 + rnd(&me->seed) % (n - 1);
        inuse_sub(ld, part);
        WORKER_CHECK(caplimit_release_tokens(ld->lim, b, part) == 0);
        n -= part;
        harness_yield();
    }
    inuse_sub(ld, n);
    if (scoped)
        return;                      /* CAPLIMIT_WITH_TOKENS gives back the rest */
    if (how == 2)
        WORKER_CHECK(caplimit_release_tokens(ld->lim, b, n) == 0);
    else if (b == NULL)
        WORKER_CHECK(caplimit_release(ld->lim) == 0);
    else
        WORKER_CHECK(caplimit_release_on_behalf_of(ld->lim, b) == 0);
}

static void *wworker_main(void *arg)
{
    struct wworker *me = arg;
    struct wload *ld = me->ld;
    int i;

    for (i = 0; i < ld->rounds; i++) {
        size_t n = 1 + rnd(&me->seed) % 8;
        const void *b = rnd(&me->seed) % 2 ? (const void *)me : NULL;
        unsigned kind = rnd(&me->seed) % 6;
        struct timespec t;
        int rc;

        me->calls++;
        switch (kind) {
        case 0:
            rc = caplimit_acquire_tokens(ld->lim, b, n);
            break;
        case 1:
            rc = caplimit_acquire_tokens_nowait(ld->lim, b, n);
            break;
        case 2:
            t = harness_deadline_on(CLOCK_MONOTONIC, 1 + rnd(&me->seed) % 20);
            rc = caplimit_acquire_tokens_until(ld->lim, b, n, CLOCK_MONOTONIC, &t);
            break;
        case 3:
            t = harness_deadline_on(CLOCK_REALTIME, 1 + rnd(&me->seed) % 20);
            rc = caplimit_acquire_tokens_until(ld->lim, b, n, CLOCK_REALTIME, &t);
            break;
        case 4:                      /* the one-token functions */
            n = 1;
            rc = b == NULL ? caplimit_acquire(ld->lim)
                           : caplimit_acquire_on_behalf_of_nowait(ld->lim, b);
            break;
        default: {
            int scoped_rc;
            CAPLIMIT_WITH_TOKENS(ld->lim, b, n, scoped_rc) {
                me->granted++;
                use_and_release(me, b, n, 1);
            }
            WORKER_CHECK(scoped_rc == 0);
            continue;
        }
        }
        WORKER_CHECK(rc == 0 || rc == EWOULDBLOCK || rc == ETIMEDOUT);
        if (rc != 0)
            continue;
        me->granted++;
        use_and_release(me, b, n, 0);
    }
    __atomic_add_fetch(&ld->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* Sets the total to v, keeping bound honest (see struct wload). */
static void set_total(struct wload *ld, size_t v)
{
    pthread_mutex_lock(&ld->m);
    if (v > ld->bound)
        ld->bound = v;               /* before any grant the rise allows */
    pthread_mutex_unlock(&ld->m);
    ck_assert_int_eq(caplimit_set_total_tokens(ld->lim, v), 0);
    if (v < ld->bound) {
        POLL_UNTIL(caplimit_borrowed_tokens(ld->lim) <= v);
        pthread_mutex_lock(&ld->m);
        ld->bound = v;
        pthread_mutex_unlock(&ld->m);
    }
}

static void weighted_load(enum caplimit_policy policy, unsigned long long bypass)
{
    enum { N = 8 };
    struct wload ld;
    struct wworker w[N];
    struct caplimit_counters c;
    unsigned seed = 12345;
    unsigned long calls = 0, granted = 0;
    int i;

    memset(&ld, 0, sizeof ld);
    pthread_mutex_init(&ld.m, NULL);
    ld.rounds = harness_scale(400);
    ld.bound = 8;
    ld.lim = harness_make(8);
    ck_assert_int_eq(caplimit_set_policy(ld.lim, policy, bypass), 0);
    for (i = 0; i < N; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].ld = &ld;
        w[i].id = i;
        w[i].seed = 7u * (unsigned)i + 1u;
        harness_spawn(&w[i].thread, wworker_main, &w[i]);
    }
    /* change the total while they run; 0 pauses, below 8 makes some
     * requests oversize; every other change is back to at least 8 */
    while (LOAD(&ld.done) < N) {
        size_t v = (rnd(&seed) % 2) ? 8 + rnd(&seed) % 9 : rnd(&seed) % 8;
        set_total(&ld, v);
        ck_assert_uint_le(caplimit_borrowed_tokens(ld.lim), ld.bound);
        harness_yield();
        set_total(&ld, 8 + rnd(&seed) % 9);
    }
    set_total(&ld, 16);
    for (i = 0; i < N; i++)
        harness_join(w[i].thread);
    harness_assert_no_worker_failures();
    for (i = 0; i < N; i++) {
        calls += w[i].calls;
        granted += w[i].granted;
    }
    ck_assert_uint_eq(calls, (unsigned long)N * (unsigned long)ld.rounds);
    ck_assert_uint_le(ld.max_inuse, 16);
    ck_assert_uint_eq(ld.inuse, 0);
    harness_assert_counts(ld.lim, 0, 0);
    ck_assert_uint_eq(tokens_waiting(ld.lim), 0);
    c = harness_counters(ld.lim);
    ck_assert_uint_eq(c.granted_at_once + c.granted_after_wait, granted);
    ck_assert_uint_eq(c.granted_at_once + c.granted_after_wait + c.would_block + c.timed_out,
                      calls);
    ck_assert_uint_eq(c.cancelled + c.closed_out + c.abandoned, 0);
    ck_assert_int_eq(caplimit_destroy(ld.lim), 0);
    pthread_mutex_destroy(&ld.m);
}

START_TEST(test_R23_load_random_weights_fifo)
{
    weighted_load(CAPLIMIT_POLICY_FIFO, 0);
}
END_TEST

START_TEST(test_R23_load_random_weights_throughput)
{
    weighted_load(CAPLIMIT_POLICY_THROUGHPUT, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("R23 weighted holds");
    TCase *tc = tcase_create("weighted");

    tcase_add_test(tc, test_R23_n_zero_or_infinite_is_einval);
    tcase_add_test(tc, test_R23_until_checks_deadline_arguments);
    tcase_add_test(tc, test_R23_null_borrower_is_the_thread);
    tcase_add_test(tc, test_R23_object_borrower);
    tcase_add_test(tc, test_R23_one_token_functions_are_holds_of_one);
    tcase_add_test(tc, test_R23_R4_granted_at_once_only_if_all_n_fit);
    tcase_add_test(tc, test_R23_R4_nobody_jumps_a_queued_request);
    tcase_add_test(tc, test_R23_R5_hand_off_stops_at_the_first_that_does_not_fit);
    tcase_add_test(tc, test_R23_head_holds_back_smaller_fifo);
    tcase_add_test(tc, test_R23_head_holds_back_smaller_throughput);
    tcase_add_test(tc, test_R23_large_head_never_starved_fifo);
    tcase_add_test(tc, test_R23_large_head_never_starved_throughput);
    tcase_add_test(tc, test_R23_oversize_passed_over_then_fits_on_rise);
    tcase_add_test(tc, test_R23_only_oversize_queue_counts_as_empty_fifo);
    tcase_add_test(tc, test_R23_only_oversize_queue_counts_as_empty_throughput);
    tcase_add_test(tc, test_R23_fall_runs_R5);
    tcase_add_test(tc, test_R23_head_leaves_by_deadline_fifo);
    tcase_add_test(tc, test_R23_head_leaves_by_deadline_throughput);
    harness_add_cancel_test(tc, test_R23_head_leaves_by_cancel_fifo);
    harness_add_cancel_test(tc, test_R23_head_leaves_by_cancel_throughput);
    tcase_add_test(tc, test_R23_head_leaves_by_close);
    tcase_add_test(tc, test_R23_oversize_leaves_by_deadline);
    tcase_add_test(tc, test_R23_infinite_total_eoverflow);
    tcase_add_test(tc, test_R23_R3_holder_acquiring_again_edeadlk);
    tcase_add_test(tc, test_R23_R3_waiter_acquiring_again_edeadlk);
    tcase_add_test(tc, test_R23_R21_reentry_takes_no_tokens);
    tcase_add_test(tc, test_R23_release_gives_back_the_whole_hold);
    tcase_add_test(tc, test_R23_release_tokens_partial_keeps_the_hold);
    tcase_add_test(tc, test_R23_release_tokens_partial_keeps_the_level);
    tcase_add_test(tc, test_R23_release_tokens_error_order);
    tcase_add_test(tc, test_R23_thread_hold_released_by_its_thread_only);
    harness_add_cancel_test(tc, test_R23_R22_thread_exit_gives_back_the_whole_hold);
    tcase_add_test(tc, test_R23_statistics_tokens_pid_tid);
    tcase_add_test(tc, test_R23_statistics_tid_of_a_granted_waiter);
    tcase_add_test(tc, test_R23_R19_counters_for_weighted);
    tcase_add_test(tc, test_R23_R17_newcomer_takes_n_while_head_young);
    tcase_add_test(tc, test_R23_R17_oversize_age_does_not_count);
    tcase_add_test(tc, test_R23_R17_fall_under_a_woken_head_wakes_the_next);
    tcase_add_test(tc, test_R23_R17_woken_head_turned_oversize_passes_on);
    tcase_add_test(tc, test_R23_with_tokens_gives_back_what_remains);
    tcase_add_test(tc, test_R23_with_tokens_errors_skip_the_block);
    tcase_add_test(tc, test_R23_with_tokens_nests_under_R21);
    tcase_add_test(tc, test_R23_load_random_weights_fifo);
    tcase_add_test(tc, test_R23_load_random_weights_throughput);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
