/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 */
#include "harness.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t failures_lock = PTHREAD_MUTEX_INITIALIZER;
static int failures;
static char first_failure[512];

void harness_record_failure(const char *file, int line, const char *what)
{
    pthread_mutex_lock(&failures_lock);
    if (failures++ == 0)
        snprintf(first_failure, sizeof first_failure, "%s:%d: %s", file, line, what);
    pthread_mutex_unlock(&failures_lock);
}

int worker_failures(void)
{
    int n;
    pthread_mutex_lock(&failures_lock);
    n = failures;
    pthread_mutex_unlock(&failures_lock);
    return n;
}

void harness_assert_no_worker_failures(void)
{
    int n = worker_failures();
    ck_assert_msg(n == 0, "%d worker failure(s); first: %s", n, first_failure);
}

struct timespec harness_deadline_on(clockid_t clk, long ms)
{
    struct timespec t;
    clock_gettime(clk, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

struct timespec harness_deadline_ms(long ms)
{
    return harness_deadline_on(CLOCK_MONOTONIC, ms);
}

int harness_past(const struct timespec *d)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > d->tv_sec || (now.tv_sec == d->tv_sec && now.tv_nsec >= d->tv_nsec);
}

void harness_yield(void)
{
    sched_yield();
}

void harness_spawn(pthread_t *t, void *(*fn)(void *), void *arg)
{
    int rc = pthread_create(t, NULL, fn, arg);
    ck_assert_msg(rc == 0, "pthread_create: %s", strerror(rc));
}

void harness_join(pthread_t t)
{
    int rc = pthread_join(t, NULL);
    ck_assert_msg(rc == 0, "pthread_join: %s", strerror(rc));
}

int harness_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    int failed;

    /* fork mode, so a deadlock or crash fails one test, not the run;
     * CK_FORK in the environment may still override for debugging */
    if (getenv("CK_FORK") == NULL)
        srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
