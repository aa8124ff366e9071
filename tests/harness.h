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

/* Shared flags between the test thread and workers. */
#define LOAD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)

/* A new limiter, or the test fails. */
caplimit_t *harness_make(size_t total);
/* Milliseconds on CLOCK_MONOTONIC since t0. */
long harness_ms_since(const struct timespec *t0);

/* Starts a thread or fails the test. */
void harness_spawn(pthread_t *t, void *(*fn)(void *), void *arg);
void harness_join(pthread_t t);

/* Runs a suite in fork mode with the given per-test timeout (seconds). */
int harness_run(Suite *s);

/* ---- Helpers added for the R17..R22 suites (tests/more.mk) ------------- */

/* The six acquire variants; the *_UNTIL ones get a deadline until_ms from
 * the call (HARNESS_UNTIL on CLOCK_MONOTONIC, HARNESS_OBJ_UNTIL on
 * CLOCK_REALTIME, so both clocks are exercised). */
enum harness_variant {
    HARNESS_PLAIN,
    HARNESS_NOWAIT,
    HARNESS_UNTIL,
    HARNESS_OBJ,
    HARNESS_OBJ_NOWAIT,
    HARNESS_OBJ_UNTIL
};
#define HARNESS_NVARIANTS 6

int harness_variant_is_obj(enum harness_variant v);
int harness_acquire_variant(caplimit_t *lim, enum harness_variant v,
                            const void *obj, long until_ms);
int harness_release_variant(caplimit_t *lim, enum harness_variant v, const void *obj);

#define HARNESS_RC_PENDING (-1)
#define HARNESS_RC_CANCELLED (-2)

/* A thread that makes one acquire; when granted it releases at once, or
 * (hold) once harness_waiter_go is called.  Fields are read through the
 * functions below. */
struct harness_waiter {
    caplimit_t *lim;
    enum harness_variant v;
    const void *obj;
    long until_ms;
    int hold;
    pthread_t thread;
    int rc;                          /* HARNESS_RC_PENDING until it returns */
    int go;
    int released;                    /* rc of the release, once done */
    unsigned long seq;               /* harness_grant_seq() at the grant */
};

void harness_waiter_start(struct harness_waiter *w, caplimit_t *lim,
                          enum harness_variant v, const void *obj, long until_ms,
                          int hold);
int harness_waiter_rc(struct harness_waiter *w);
void harness_waiter_go(struct harness_waiter *w);
/* Joins; returns the acquire's rc, or HARNESS_RC_CANCELLED. */
int harness_waiter_join(struct harness_waiter *w);
/* A process-wide counter that granted waiters take a number from. */
unsigned long harness_grant_seq(void);

/* Stalls thread t, which must be asleep in a limiter's wait (it is queued
 * and the caller has since taken the limiter's lock, e.g. by polling
 * caplimit_threads_waiting): a SIGUSR1 handler spins until
 * harness_unstall, so t cannot retake the lock meanwhile.  One stalled
 * thread at a time.  harness_unstall_cancel cancels t so that the
 * cancellation is acted upon inside its wait (glibc: as the handler
 * returns, an unwind from a signal handler that TSan cannot follow). */
void harness_stall(pthread_t t);
void harness_unstall(void);
void harness_unstall_cancel(pthread_t t);

#endif
