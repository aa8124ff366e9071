/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * Shared helpers for the Check suites.
 *
 * Rules of the house: concurrency tests never sleep to synchronise; they
 * poll an observable condition (caplimit_threads_waiting, ...) under a
 * deadline with POLL_UNTIL.  Worker threads never call Check's asserts:
 * they record failures with WORKER_CHECK, and the test thread asserts
 * worker_failures() == 0 after joining them; every test case made with
 * harness_tcase_create asserts it once more after each test (a checked
 * fixture), so no recorded failure goes unseen.
 *
 * Cancellation: a test cancels a thread only where that thread waits in
 * pthread_cond_wait (inside the library's waits) or calls
 * pthread_testcancel, never in sem_wait, sleep, pause or another
 * interceptor: ThreadSanitizer loses track of a thread cancelled inside
 * those and then reports false races on every mutex it takes later.
 * (Checked for every pthread_cancel in tests/: the targets are queued in
 * caplimit_acquire*, or spin in pthread_testcancel.)
 */
#ifndef CAPLIMIT_TESTS_HARNESS_H
#define CAPLIMIT_TESTS_HARNESS_H

#include <caplimit.h>
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
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

/* Shared flags between the test thread and workers.  Helgrind does not
 * model atomics: the annotations (no-ops outside valgrind) tell it that a
 * STORE happens before the LOAD that sees it, as the atomics guarantee. */
#if defined(__has_include)
#if __has_include(<valgrind/helgrind.h>)
#include <valgrind/helgrind.h>
#endif
#endif
#ifndef ANNOTATE_HAPPENS_BEFORE
#define ANNOTATE_HAPPENS_BEFORE(obj) ((void)(obj))
#define ANNOTATE_HAPPENS_AFTER(obj) ((void)(obj))
#endif
#define LOAD(p)                                                                \
    __extension__({                                                            \
        __typeof__(*(p)) load_ = __atomic_load_n((p), __ATOMIC_SEQ_CST);       \
        ANNOTATE_HAPPENS_AFTER(p);                                             \
        load_;                                                                 \
    })
#define STORE(p, v)                                                            \
    do {                                                                       \
        ANNOTATE_HAPPENS_BEFORE(p);                                            \
        __atomic_store_n((p), (v), __ATOMIC_SEQ_CST);                          \
    } while (0)

/* A new limiter, or the test fails. */
caplimit_t *harness_make(size_t total);
/* Milliseconds on CLOCK_MONOTONIC since t0. */
long harness_ms_since(const struct timespec *t0);

/* Starts a thread or fails the test. */
void harness_spawn(pthread_t *t, void *(*fn)(void *), void *arg);
void harness_join(pthread_t t);

/* A loop count for load tests: n, or a tenth of it (at least 1) where
 * HARNESS_SLOW is set (tests/valgrind/run.sh: valgrind runs one thread at
 * a time, and helgrind must track every synchronisation). */
int harness_scale(int n);
/* A span in ms that must outlast starting and queueing another thread:
 * ms, or ten times it where HARNESS_SLOW is set. */
long harness_span_ms(long ms);

/* Registers a test that cancels a thread blocked in a condition-variable
 * wait.  Helgrind and DRD cannot follow such a thread (they never see it
 * take the mutex back, then report races on everything it guarded), so
 * under them (tests/valgrind/run.sh sets HARNESS_NO_CANCEL) the test is
 * left out; memcheck and the sanitizers run it. */
#define harness_add_cancel_test(tc, t)                                         \
    do {                                                                       \
        if (getenv("HARNESS_NO_CANCEL") == NULL)                               \
            tcase_add_test(tc, t);                                             \
    } while (0)

/* A test case whose tests end by asserting no worker failed. */
TCase *harness_tcase_create(const char *name);

/* Runs a suite in fork mode (CK_FORK in the environment overrides it);
 * the per-test timeout is Check's, CK_DEFAULT_TIMEOUT (tests/local.mk). */
int harness_run(Suite *s);

/* A limiter's counters, or the test fails. */
struct caplimit_counters harness_counters(const caplimit_t *lim);
/* Joins t and fails the test unless it ended by cancellation. */
void harness_join_cancelled(pthread_t t);

/* ---- Acquire variants -------------------------------------------------- */

enum harness_variant {
    HARNESS_PLAIN,
    HARNESS_NOWAIT,
    HARNESS_UNTIL,
    HARNESS_OBJ,
    HARNESS_OBJ_NOWAIT,
    HARNESS_OBJ_UNTIL
};
#define HARNESS_NVARIANTS 6

/* The variants that may wait. */
#define HARNESS_NWAITING 4
extern const enum harness_variant harness_waiting_variants[HARNESS_NWAITING];

int harness_variant_is_obj(enum harness_variant v);
/* The clock harness_acquire_variant gives a *_UNTIL variant's deadline:
 * CLOCK_MONOTONIC for HARNESS_UNTIL, CLOCK_REALTIME for HARNESS_OBJ_UNTIL,
 * so that both clocks are exercised. */
clockid_t harness_variant_clock(enum harness_variant v);
/* One acquire of variant v for obj (the HARNESS_OBJ* borrower); the
 * *_UNTIL variants wait until abstime on clk. */
int harness_acquire_at(caplimit_t *lim, enum harness_variant v, const void *obj,
                       clockid_t clk, const struct timespec *abstime);
/* The same with a deadline until_ms from the call, on the variant's clock. */
int harness_acquire_variant(caplimit_t *lim, enum harness_variant v,
                            const void *obj, long until_ms);
int harness_release_variant(caplimit_t *lim, enum harness_variant v, const void *obj);
/* R23: the weighted form of variant v, n tokens as one hold: the thread
 * variants pass a NULL borrower to caplimit_acquire_tokens*, the
 * HARNESS_OBJ* ones obj. */
int harness_acquire_tokens_at(caplimit_t *lim, enum harness_variant v, const void *obj,
                              size_t n, clockid_t clk, const struct timespec *abstime);

/* ---- Waiters ----------------------------------------------------------- */

#define HARNESS_RC_PENDING (-1)
#define HARNESS_RC_CANCELLED (-2)

/* A thread that makes one acquire and reports its result.  Granted, it
 * calls on_grant, then releases at once, or (hold) once harness_waiter_go
 * is called.  The fields before thread may be changed between
 * harness_waiter_init and harness_waiter_run; the others are the thread's
 * (read rc and done through harness_waiter_rc and LOAD). */
struct harness_waiter {
    caplimit_t *lim;
    enum harness_variant v;
    const void *obj;                 /* the borrower of the HARNESS_OBJ* variants */
    size_t n;                        /* R23: 0, the one-token API; else n tokens */
    int hold;
    clockid_t clock;                 /* the *_UNTIL variants': the variant's */
    long until_ms;                   /* deadline from the call: ten minutes */
    struct timespec abstime;         /* if set, the deadline instead */
    int id;                          /* the test's own */
    void (*on_grant)(struct harness_waiter *);
    pthread_t thread;
    int rc;                          /* HARNESS_RC_PENDING until it returns */
    int go;
    int done;                        /* the thread has finished its work */
    unsigned long seq;               /* harness_grant_seq() at the grant */
    int tid;                         /* its kernel thread id, once it runs */
};

/* The hold argument of harness_waiter_init and harness_waiter_start. */
enum harness_hold {
    HARNESS_RELEASE_AT_ONCE = 0,     /* granted, release at once */
    HARNESS_HOLD = 1                 /* granted, hold until harness_waiter_go */
};
/* harness_waiter_start's until_ms for a variant that takes no deadline
 * (only the *_UNTIL variants read it: for them 0 is a deadline of now). */
#define HARNESS_NO_DEADLINE 0L

void harness_waiter_init(struct harness_waiter *w, caplimit_t *lim,
                         enum harness_variant v, const void *obj, int hold);
void harness_waiter_run(struct harness_waiter *w);
/* init, a deadline until_ms from the call, run. */
void harness_waiter_start(struct harness_waiter *w, caplimit_t *lim,
                          enum harness_variant v, const void *obj, long until_ms,
                          int hold);
/* Runs w and waits until it is the waiting-th thread in the queue, still
 * pending. */
void harness_waiter_queue(struct harness_waiter *w, size_t waiting);
int harness_waiter_rc(struct harness_waiter *w);
/* Polls until the acquire has returned; its rc. */
int harness_waiter_wait_rc(struct harness_waiter *w);
void harness_waiter_go(struct harness_waiter *w);
/* Joins; returns the acquire's rc, or HARNESS_RC_CANCELLED. */
int harness_waiter_join(struct harness_waiter *w);
/* go, then join. */
int harness_waiter_finish(struct harness_waiter *w);
/* A process-wide counter that granted waiters take a number from. */
unsigned long harness_grant_seq(void);

/* 1 when the kernel reports the thread tid of this process asleep (state
 * S: blocked in a futex wait, for one), for polling that a thread has
 * gone to sleep inside a call; 0 otherwise, or when it cannot tell. */
int harness_thread_sleeping(int tid);
/* Polls until w's thread has started and sleeps. */
void harness_waiter_poll_asleep(struct harness_waiter *w);

/* ---- Observable state -------------------------------------------------- */

/* A limiter's state as the API shows it, to check that a failed call
 * changed nothing. */
struct harness_state {
    struct caplimit_statistics st;   /* borrowers sorted */
    size_t available;
    struct caplimit_counters counters;
};

void harness_snap(caplimit_t *lim, struct harness_state *s);
void harness_snap_free(struct harness_state *s);
/* Fails the test unless lim is exactly as the snapshot was. */
void harness_assert_unchanged(caplimit_t *lim, struct harness_state *before);
/* Fails the test unless lim lends borrowed tokens and waiting threads wait. */
void harness_assert_counts(caplimit_t *lim, size_t borrowed, size_t waiting);

/* ---- Stalling a waiter ------------------------------------------------- */

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

/* Defined in a ThreadSanitizer build: the tests that cancel a thread
 * through harness_unstall_cancel are left out of it. */
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif

/* Registers a test that cancels through harness_unstall_cancel.  Valgrind
 * cannot follow that unwind either (the cancelled thread never ends), so
 * valgrind runs (HARNESS_SLOW) leave such tests out as TSan builds do; the
 * racing variants beside them run everywhere. */
#ifdef UNDER_TSAN
#define HARNESS_HANDLER_CANCEL 0
#else
#define HARNESS_HANDLER_CANCEL 1
#endif
#define harness_add_handler_cancel_test(tc, t)                                 \
    do {                                                                       \
        if (HARNESS_HANDLER_CANCEL && getenv("HARNESS_SLOW") == NULL)          \
            harness_add_cancel_test(tc, t);                                    \
    } while (0)

#endif
