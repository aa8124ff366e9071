/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * Shared helpers for the Check suites.
 *
 * Rules of the house: concurrency tests never sleep to synchronise; they
 * poll an observable condition (caplimit_threads_waiting, ...) under a
 * deadline with POLL_UNTIL.  Worker threads never call Check's asserts:
 * they record failures with WORKER_CHECK, and the test thread asserts
 * worker_failures() == 0 after joining them.
 */
#ifndef CAPLIMIT_TESTS_HARNESS_H
#define CAPLIMIT_TESTS_HARNESS_H

#include <caplimit.h>
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

/* How long a poll may take before the test fails: generous, since the
 * machines are shared and noisy; a correct run takes microseconds. */
#define HARNESS_POLL_MS 10000

/* Waits until expr is true, checking often; fails the test on timeout. */
#define POLL_UNTIL(expr)                                                       \
    do {                                                                       \
        struct timespec poll_deadline_ = harness_deadline_ms(HARNESS_POLL_MS); \
        while (!(expr)) {                                                      \
            ck_assert_msg(!harness_past(&poll_deadline_),                      \
                          "timed out waiting for: %s", #expr);                 \
            harness_yield();                                                   \
        }                                                                      \
    } while (0)

/* For worker threads: note a failure instead of asserting. */
#define WORKER_CHECK(expr)                                                     \
    do {                                                                       \
        if (!(expr))                                                           \
            harness_record_failure(__FILE__, __LINE__, #expr);                 \
    } while (0)

void harness_record_failure(const char *file, int line, const char *what);
int worker_failures(void);
/* Call after joining workers: fails the test with the first failure. */
void harness_assert_no_worker_failures(void);

/* An absolute time ms milliseconds from now, on CLOCK_MONOTONIC or on clk. */
struct timespec harness_deadline_ms(long ms);
struct timespec harness_deadline_on(clockid_t clk, long ms);
int harness_past(const struct timespec *monotonic_deadline);
void harness_yield(void);

/* Starts a thread or fails the test. */
void harness_spawn(pthread_t *t, void *(*fn)(void *), void *arg);
void harness_join(pthread_t t);

/* Runs a suite in fork mode with the given per-test timeout (seconds). */
int harness_run(Suite *s);

#endif
