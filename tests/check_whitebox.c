/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * What only lib/internal.h can see: R17's default bypass window, and the
 * cost of finding a borrower (internal.h promises O(1) per operation).
 */
#include "harness.h"
#include "../lib/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static unsigned long long bypass_ns(caplimit_t *lim)
{
    unsigned long long ns;

    cl_lock(lim);
    ns = lim->st->bypass_ns;
    cl_unlock(lim);
    return ns;
}

/* R17: a bypass_ns of 0 picks the default, 1 ms; any other value stays. */
START_TEST(test_R17_bypass_zero_picks_one_millisecond)
{
    caplimit_t *lim = harness_make(1);

    ck_assert_int_eq(caplimit_set_policy(lim, CAPLIMIT_POLICY_THROUGHPUT, 0), 0);
    ck_assert_uint_eq(bypass_ns(lim), 1000000ULL);
    ck_assert_int_eq(caplimit_set_policy(lim, CAPLIMIT_POLICY_THROUGHPUT, 7), 0);
    ck_assert_uint_eq(bypass_ns(lim), 7);
    ck_assert_int_eq(caplimit_set_policy(lim, CAPLIMIT_POLICY_FIFO, 0), 0);
    ck_assert_uint_eq(bypass_ns(lim), 1000000ULL);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

static struct cl_key key_of(size_t i)
{
    return cl_object_key((const void *)(uintptr_t)(16 * (i + 1)));
}

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* The cheapest of a few rounds of finds, in ns per find, among n holders. */
static double find_cost(size_t n)
{
    caplimit_t *lim = harness_make(CAPLIMIT_INFINITE);
    double best = 1e30;
    size_t i;
    int round;

    for (i = 0; i < n; i++)
        ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, (const void *)key_of(i).id), 0);
    cl_lock(lim);
    for (round = 0; round < 5; round++) {
        long long t0 = now_ns();
        size_t found = 0;
        for (i = 0; i < 20000; i++)
            found += cl_entry_of(lim, key_of((i * 7919) % n)) != NULL;
        ck_assert_uint_eq(found, 20000);
        if ((now_ns() - t0) / 20000.0 < best)
            best = (now_ns() - t0) / 20000.0;
    }
    cl_unlock(lim);
    for (i = 0; i < n; i++)
        ck_assert_int_eq(caplimit_release_on_behalf_of(lim, (const void *)key_of(i).id), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
    return best;
}

/* Finding one among 100 000 borrowers costs about what it does among 10
 * (cache misses aside): a scan would cost thousands of times more. */
START_TEST(test_borrower_lookup_does_not_grow_with_the_set)
{
    double small = find_cost(10), big = find_cost(100000);

    fprintf(stderr, "lookup: %.1f ns among 10, %.1f ns among 100000\n", small, big);
    ck_assert_msg(big < 50 * small + 2000, "%.1f ns among 100000 vs %.1f among 10", big,
                  small);
}
END_TEST

/* R18, R26: a process that dies inside caplimit_close, after it marked
 * the limiter closed and before it took the waiters out of the queue,
 * leaves no waiter queued in a closed limiter: the repair closes them out
 * (ECANCELED), as the close would have. */
struct close_waiter {
    caplimit_t *lim;
    int rc;
};

static void *wait_for_b(void *arg)
{
    struct close_waiter *c = arg;
    struct timespec t = harness_deadline_ms(3000);
    static char b;

    c->rc = caplimit_acquire_on_behalf_of_until(c->lim, &b, CLOCK_MONOTONIC, &t);
    return NULL;
}

START_TEST(test_R18_R26_close_cut_short_by_a_death_closes_out_the_waiters)
{
    static char a;
    struct close_waiter c = { NULL, -1 };
    char name[64];
    pthread_t t;
    pid_t pid;
    int status;

    snprintf(name, sizeof name, "/caplimit-wb-close-%ld", (long)getpid());
    (void)caplimit_unlink(name);
    ck_assert_int_eq(caplimit_open(&c.lim, name, O_CREAT | O_EXCL, 0600, 1), 0);
    ck_assert_int_eq(caplimit_unlink(name), 0);   /* nothing left behind */
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(c.lim, &a), 0);
    ck_assert_int_eq(pthread_create(&t, NULL, wait_for_b, &c), 0);
    POLL_UNTIL(caplimit_threads_waiting(c.lim) == 1);
    pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        /* cl_close_queue's first store, then death with the lock held */
        pthread_mutex_lock(c.lim->lock);
        c.lim->st->closed = 1;
        _exit(0);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_int_eq(c.rc, ECANCELED);
    ck_assert_int_eq(caplimit_is_closed(c.lim), 1);
    ck_assert_uint_eq(caplimit_threads_waiting(c.lim), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(c.lim, &a), 0);
    ck_assert_int_eq(caplimit_destroy(c.lim), 0);
}
END_TEST

/* R27: a call with a deadline does not wait for ever for the lock of a
 * shared limiter, which another process may hold for ever (stopped, or a
 * lock word scribbled on): it gives up a second past its deadline; once
 * that process dies the limiter works on (R26). */
START_TEST(test_R27_R6_a_held_lock_does_not_outlast_a_deadline)
{
    caplimit_t *lim;
    char name[64];
    struct timespec t0, until;
    int go[2], status;
    char c;
    pid_t pid;

    snprintf(name, sizeof name, "/caplimit-wb-held-%ld", (long)getpid());
    (void)caplimit_unlink(name);
    ck_assert_int_eq(caplimit_open(&lim, name, O_CREAT | O_EXCL, 0600, 1), 0);
    ck_assert_int_eq(caplimit_unlink(name), 0);   /* nothing left behind */
    ck_assert_int_eq(pipe(go), 0);
    pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        pthread_mutex_lock(lim->lock);
        (void)!write(go[1], "x", 1);
        for (;;)
            pause();
    }
    ck_assert_int_eq(read(go[0], &c, 1), 1);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    until = harness_deadline_ms(100);
    ck_assert_int_eq(caplimit_acquire_until(lim, CLOCK_MONOTONIC, &until), ETIMEDOUT);
    ck_assert_int_ge(harness_ms_since(&t0), 95);
    until = harness_deadline_on(CLOCK_REALTIME, 50);
    ck_assert_int_eq(caplimit_drain(lim, CLOCK_REALTIME, &until), ETIMEDOUT);
    kill(pid, SIGKILL);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    until = harness_deadline_ms(harness_span_ms(1000));
    ck_assert_int_eq(caplimit_acquire_until(lim, CLOCK_MONOTONIC, &until), 0);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
    close(go[0]);
    close(go[1]);
}
END_TEST

/* R27: a byte of the segment scribbled on never reaches the caller as
 * a value outside the function's range: is_closed answers 0 or 1, and
 * get_policy a policy (the one the protocol acts on: only THROUGHPUT
 * barges, R17). */
START_TEST(test_R27_scribbled_flags_answer_values_in_range)
{
    caplimit_t *lim = NULL;
    enum caplimit_policy p = CAPLIMIT_POLICY_THROUGHPUT;
    char name[64];

    snprintf(name, sizeof name, "/caplimit-wb-flags-%ld", (long)getpid());
    (void)caplimit_unlink(name);
    ck_assert_int_eq(caplimit_open(&lim, name, O_CREAT | O_EXCL, 0600, 1), 0);
    ck_assert_int_eq(caplimit_unlink(name), 0);
    lim->st->closed = 0xff;
    lim->st->policy = 0x7f;
    ck_assert_int_eq(caplimit_is_closed(lim), 1);
    ck_assert_int_eq(caplimit_get_policy(lim, &p, NULL), 0);
    ck_assert_int_eq(p, CAPLIMIT_POLICY_FIFO);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* R6: a waiter granted its token returns 0 even when its deadline has also
 * passed.  The test holds the lock across the waiter's deadline, so that
 * its timed wait most likely ends by the clock and then waits for the
 * lock; under the lock a rise of the total grants it.  When the wait has
 * ended by the clock it must still see the grant (if the machine was too
 * slow for that, the grant's signal ends the wait and the test checks
 * less, never wrongly). */
START_TEST(test_R6_grant_beats_a_deadline_that_passed_with_it)
{
    caplimit_t *lim = harness_make(1);
    struct harness_waiter w;
    struct caplimit_counters c;
    struct timespec t0;
    int holder;

    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &holder), 0);
    harness_waiter_init(&w, lim, HARNESS_OBJ_UNTIL, &w, HARNESS_HOLD);
    w.clock = CLOCK_MONOTONIC;
    w.abstime = harness_deadline_ms(harness_span_ms(100));
    harness_waiter_queue(&w, 1);
    cl_lock(lim);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!harness_past(&w.abstime) || harness_ms_since(&t0) < harness_span_ms(200))
        harness_yield();             /* the deadline passes with the lock held */
    cl_set_total(lim, 2);            /* R8: grants the waiter (R5) */
    cl_unlock(lim);
    ck_assert_int_eq(harness_waiter_wait_rc(&w), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 2);
    c = harness_counters(lim);
    ck_assert_uint_eq(c.granted_after_wait, 1);
    ck_assert_uint_eq(c.timed_out, 0);
    ck_assert_int_eq(harness_waiter_finish(&w), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &holder), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("whitebox");
    TCase *tc = harness_tcase_create("whitebox");

    tcase_add_test(tc, test_R17_bypass_zero_picks_one_millisecond);
    tcase_add_test(tc, test_R6_grant_beats_a_deadline_that_passed_with_it);
    tcase_add_test(tc, test_borrower_lookup_does_not_grow_with_the_set);
    /* shared limiters: futex wakes and robust mutexes, which helgrind and
     * DRD cannot follow (tests/valgrind/run.sh sets HARNESS_NO_SHARED) */
    if (getenv("HARNESS_NO_SHARED") == NULL) {
        tcase_add_test(tc, test_R18_R26_close_cut_short_by_a_death_closes_out_the_waiters);
        tcase_add_test(tc, test_R27_scribbled_flags_answer_values_in_range);
#ifndef UNDER_TSAN                  /* its builds wait for the lock unbounded */
        tcase_add_test(tc, test_R27_R6_a_held_lock_does_not_outlast_a_deadline);
#endif
    }
    suite_add_tcase(s, tc);
    return harness_run(s);
}
