/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * "None of them sets errno": every public function, on its success paths
 * and its error paths, leaves errno as the caller had it, even when the C
 * library underneath sets it (malloc may set errno on success, and does
 * on failure).  White-box: the fault-injection hook of lib/alloc.c stands
 * in for malloc, setting errno as the C library may.
 */
#include "harness.h"
#include "../lib/internal.h"

#include <string.h>

#define SENTINEL 4242

/* Every allocation sets errno, as a C library may; fail_at-th one fails. */
static int alloc_calls, fail_at;

static int noisy_alloc(void)
{
    if (++alloc_calls == fail_at) {
        errno = ENOMEM;
        return 1;
    }
    errno = EINTR;
    return 0;
}

static void noisy(int fail_nth)
{
    alloc_calls = 0;
    fail_at = fail_nth;
    cl_alloc_should_fail = noisy_alloc;
}

/* call must give want, errno untouched. */
#define EXPECT(call, want)                                                     \
    do {                                                                       \
        long rc_;                                                              \
        errno = SENTINEL;                                                      \
        rc_ = (long)(call);                                                    \
        ck_assert_msg(errno == SENTINEL, "%s set errno to %d", #call, errno);  \
        ck_assert_int_eq(rc_, (long)(want));                                   \
    } while (0)

static char objs[64];

START_TEST(test_errno_create_destroy_close)
{
    caplimit_t *lim;
    int n;

    noisy(0);
    EXPECT(caplimit_create(NULL, 1), EINVAL);
    EXPECT(caplimit_create(&lim, 1), 0);
    EXPECT(caplimit_destroy(lim), 0);
    for (n = 1; n < 100; n++) {
        int rc;
        noisy(n);
        errno = SENTINEL;
        rc = caplimit_create(&lim, 2);
        ck_assert_msg(errno == SENTINEL, "create, allocation %d failing: errno %d", n, errno);
        if (rc == 0)
            break;
        ck_assert_int_eq(rc, ENOMEM);
    }
    ck_assert_int_gt(n, 1);
    noisy(0);
    EXPECT(caplimit_acquire(lim), 0);
    EXPECT(caplimit_destroy(lim), EBUSY);
    EXPECT(caplimit_destroy(NULL), EINVAL);
    EXPECT(caplimit_is_closed(lim), 0);
    EXPECT(caplimit_close(lim), 0);
    EXPECT(caplimit_close(NULL), EINVAL);
    EXPECT(caplimit_is_closed(lim), 1);
    EXPECT(caplimit_is_closed(NULL), 0);
    EXPECT(caplimit_acquire_on_behalf_of(lim, &objs[0]), ECANCELED);
    EXPECT(caplimit_release(lim), 0);
    EXPECT(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_errno_acquire_and_release)
{
    caplimit_t *lim;
    struct timespec past = { 0, 0 }, bad = { 0, -1 };
    int i;

    noisy(0);
    EXPECT(caplimit_create(&lim, 1), 0);
    EXPECT(caplimit_acquire(NULL), EINVAL);
    EXPECT(caplimit_release(lim), EPERM);
    EXPECT(caplimit_release_on_behalf_of(lim, &objs[0]), EPERM);
    EXPECT(caplimit_release_on_behalf_of(lim, NULL), EINVAL);
    EXPECT(caplimit_acquire(lim), 0);
    EXPECT(caplimit_acquire(lim), EDEADLK);
    EXPECT(caplimit_acquire_nowait(lim), EDEADLK);
    EXPECT(caplimit_acquire_on_behalf_of_nowait(lim, &objs[0]), EWOULDBLOCK);
    EXPECT(caplimit_acquire_until(lim, CLOCK_MONOTONIC, &bad), EINVAL);
    EXPECT(caplimit_acquire_on_behalf_of_until(lim, &objs[0], CLOCK_MONOTONIC, &past),
           ETIMEDOUT);
    {
        struct timespec soon = harness_deadline_on(CLOCK_REALTIME, 20);
        EXPECT(caplimit_acquire_on_behalf_of_until(lim, &objs[0], CLOCK_REALTIME, &soon),
               ETIMEDOUT);
        soon = harness_deadline_ms(20);
        EXPECT(caplimit_acquire_on_behalf_of_until(lim, &objs[0], CLOCK_MONOTONIC, &soon),
               ETIMEDOUT);
    }
    EXPECT(caplimit_holds(lim), 1);
    EXPECT(caplimit_holds(NULL), 0);
    EXPECT(caplimit_holds_on_behalf_of(lim, &objs[0]), 0);
    EXPECT(caplimit_release(lim), 0);
    /* the borrower set grows, with allocations that set errno */
    EXPECT(caplimit_set_total_tokens(lim, CAPLIMIT_INFINITE), 0);
    for (i = 0; i < 64; i++)
        EXPECT(caplimit_acquire_on_behalf_of(lim, &objs[i]), 0);
    ck_assert_int_gt(alloc_calls, 0);
    EXPECT(caplimit_release(lim), EPERM);
    for (i = 0; i < 64; i++)
        EXPECT(caplimit_release_on_behalf_of(lim, &objs[i]), 0);
    EXPECT(caplimit_destroy(lim), 0);
}
END_TEST

/* ENOMEM from growing the borrower set. */
START_TEST(test_errno_acquire_ENOMEM)
{
    caplimit_t *lim;
    int i, n, failed = 0;

    noisy(0);
    EXPECT(caplimit_create(&lim, CAPLIMIT_INFINITE), 0);
    for (i = 0; i < 64; i++) {
        for (n = 1;; n++) {
            int rc;
            noisy(n);
            errno = SENTINEL;
            rc = caplimit_acquire_on_behalf_of_nowait(lim, &objs[i]);
            ck_assert_msg(errno == SENTINEL, "acquire %d, allocation %d failing: errno %d",
                          i, n, errno);
            if (rc == 0)
                break;
            ck_assert_int_eq(rc, ENOMEM);
            failed++;
        }
    }
    ck_assert_int_gt(failed, 0);
    noisy(0);
    for (i = 0; i < 64; i++)
        EXPECT(caplimit_release_on_behalf_of(lim, &objs[i]), 0);
    EXPECT(caplimit_destroy(lim), 0);
}
END_TEST

static void *grant_me(void *arg)
{
    caplimit_t *lim = arg;
    int rc;

    errno = SENTINEL;
    rc = caplimit_acquire(lim);
    WORKER_CHECK(errno == SENTINEL);
    WORKER_CHECK(rc == 0);
    WORKER_CHECK(caplimit_release(lim) == 0);
    WORKER_CHECK(errno == SENTINEL);
    return NULL;
}

START_TEST(test_errno_wait_and_inspect)
{
    caplimit_t *lim;
    struct caplimit_statistics st;
    struct caplimit_counters c;
    char buf[128];
    pthread_t t;
    int n;

    noisy(0);
    EXPECT(caplimit_create(&lim, 1), 0);
    EXPECT(caplimit_acquire_on_behalf_of(lim, &objs[0]), 0);
    harness_spawn(&t, grant_me, lim);
    POLL_UNTIL(caplimit_threads_waiting(lim) == 1);
    EXPECT(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    harness_join(t);
    harness_assert_no_worker_failures();

    EXPECT(caplimit_acquire(lim), 0);
    EXPECT(caplimit_statistics(lim, &st), 0);
    errno = SENTINEL;
    caplimit_statistics_destroy(&st);
    ck_assert_int_eq(errno, SENTINEL);
    for (n = 1; n < 10; n++) {
        int rc;
        noisy(n);
        errno = SENTINEL;
        rc = caplimit_statistics(lim, &st);
        ck_assert_msg(errno == SENTINEL, "statistics, allocation %d failing: errno %d", n,
                      errno);
        if (rc == 0) {
            caplimit_statistics_destroy(&st);
            break;
        }
        ck_assert_int_eq(rc, ENOMEM);
    }
    ck_assert_int_gt(n, 1);
    noisy(0);
    EXPECT(caplimit_statistics(NULL, &st), EINVAL);
    EXPECT(caplimit_counters(lim, &c), 0);
    EXPECT(caplimit_counters(lim, NULL), EINVAL);
    EXPECT(caplimit_format(lim, buf, sizeof buf) > 0, 1);
    EXPECT(caplimit_format(lim, NULL, 0) > 0, 1);
    EXPECT(caplimit_total_tokens(lim), 1);
    EXPECT(caplimit_borrowed_tokens(lim), 1);
    EXPECT(caplimit_available_tokens(lim), 0);
    EXPECT(caplimit_threads_waiting(lim), 0);
    EXPECT(caplimit_set_total_tokens(lim, 2), 0);
    EXPECT(caplimit_set_total_tokens(NULL, 2), EINVAL);
    EXPECT(caplimit_set_policy(lim, CAPLIMIT_POLICY_THROUGHPUT, 0), 0);
    EXPECT(caplimit_set_policy(lim, (enum caplimit_policy)99, 0), EINVAL);
    EXPECT(caplimit_set_reentrant(lim, 1), 0);
    EXPECT(caplimit_acquire(lim), 0);            /* level 2 */
    EXPECT(caplimit_acquire(lim), 0);            /* level 3 */
    EXPECT(caplimit_set_reentrant(lim, 0), EBUSY);
    EXPECT(caplimit_release(lim), 0);
    EXPECT(caplimit_release(lim), 0);
    EXPECT(caplimit_release(lim), 0);
    EXPECT(caplimit_set_reentrant(lim, 0), 0);
    EXPECT(caplimit_set_reentrant(NULL, 1), EINVAL);
    EXPECT(caplimit_destroy(lim), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("errno");
    TCase *tc = harness_tcase_create("errno");

    tcase_add_test(tc, test_errno_create_destroy_close);
    tcase_add_test(tc, test_errno_acquire_and_release);
    tcase_add_test(tc, test_errno_acquire_ENOMEM);
    tcase_add_test(tc, test_errno_wait_and_inspect);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
