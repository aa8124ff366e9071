/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 */
#include "harness.h"

#include <sched.h>
#include <signal.h>
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

caplimit_t *harness_make(size_t total)
{
    caplimit_t *lim;
    ck_assert_int_eq(caplimit_create(&lim, total), 0);
    return lim;
}

long harness_ms_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - t0->tv_sec) * 1000L + (now.tv_nsec - t0->tv_nsec) / 1000000L;
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

/* ---- Helpers added for the R17..R22 suites ----------------------------- */

int harness_variant_is_obj(enum harness_variant v)
{
    return v == HARNESS_OBJ || v == HARNESS_OBJ_NOWAIT || v == HARNESS_OBJ_UNTIL;
}

int harness_acquire_variant(caplimit_t *lim, enum harness_variant v,
                            const void *obj, long until_ms)
{
    struct timespec t;

    switch (v) {
    case HARNESS_PLAIN:
        return caplimit_acquire(lim);
    case HARNESS_NOWAIT:
        return caplimit_acquire_nowait(lim);
    case HARNESS_UNTIL:
        t = harness_deadline_on(CLOCK_MONOTONIC, until_ms);
        return caplimit_acquire_until(lim, CLOCK_MONOTONIC, &t);
    case HARNESS_OBJ:
        return caplimit_acquire_on_behalf_of(lim, obj);
    case HARNESS_OBJ_NOWAIT:
        return caplimit_acquire_on_behalf_of_nowait(lim, obj);
    case HARNESS_OBJ_UNTIL:
        t = harness_deadline_on(CLOCK_REALTIME, until_ms);
        return caplimit_acquire_on_behalf_of_until(lim, obj, CLOCK_REALTIME, &t);
    }
    return -1;
}

int harness_release_variant(caplimit_t *lim, enum harness_variant v, const void *obj)
{
    return harness_variant_is_obj(v) ? caplimit_release_on_behalf_of(lim, obj)
                                     : caplimit_release(lim);
}

static unsigned long grant_seq;

unsigned long harness_grant_seq(void)
{
    return __atomic_fetch_add(&grant_seq, 1, __ATOMIC_SEQ_CST);
}

static void *waiter_main(void *arg)
{
    struct harness_waiter *w = arg;
    int rc = harness_acquire_variant(w->lim, w->v, w->obj, w->until_ms);

    if (rc == 0)
        w->seq = harness_grant_seq();
    STORE(&w->rc, rc);
    if (rc == 0) {
        while (w->hold && !LOAD(&w->go))
            harness_yield();
        w->released = harness_release_variant(w->lim, w->v, w->obj);
        if (w->released != 0)
            harness_record_failure(__FILE__, __LINE__, "waiter's release returned 0");
    }
    return NULL;
}

void harness_waiter_start(struct harness_waiter *w, caplimit_t *lim,
                          enum harness_variant v, const void *obj, long until_ms,
                          int hold)
{
    memset(w, 0, sizeof *w);
    w->lim = lim;
    w->v = v;
    w->obj = obj;
    w->until_ms = until_ms;
    w->hold = hold;
    w->rc = HARNESS_RC_PENDING;
    harness_spawn(&w->thread, waiter_main, w);
}

int harness_waiter_rc(struct harness_waiter *w)
{
    return LOAD(&w->rc);
}

void harness_waiter_go(struct harness_waiter *w)
{
    STORE(&w->go, 1);
}

int harness_waiter_join(struct harness_waiter *w)
{
    void *ret = NULL;
    int rc = pthread_join(w->thread, &ret);

    ck_assert_msg(rc == 0, "pthread_join: %s", strerror(rc));
    return ret == PTHREAD_CANCELED ? HARNESS_RC_CANCELLED : LOAD(&w->rc);
}

static int stalled, unstall;

/* The wait's futex call may run with asynchronous cancellation: make it
 * deferred while the handler spins.  harness_unstall leaves it deferred
 * (as the wait would on return); harness_unstall_cancel restores it, so
 * the cancellation is acted upon as the handler ends, inside the wait. */
static int restore_type;

static void stall_handler(int sig)
{
    int saved = errno, old;

    (void)sig;
    pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, &old);
    STORE(&stalled, 1);
    while (!LOAD(&unstall))
        sched_yield();
    STORE(&stalled, 0);
    errno = saved;
    if (LOAD(&restore_type))
        pthread_setcanceltype(old, NULL);
}

void harness_stall(pthread_t t)
{
    struct sigaction sa;
    int rc;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = stall_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
    STORE(&unstall, 0);
    STORE(&restore_type, 0);
    rc = pthread_kill(t, SIGUSR1);
    ck_assert_msg(rc == 0, "pthread_kill: %s", strerror(rc));
    POLL_UNTIL(LOAD(&stalled));
}

void harness_unstall(void)
{
    STORE(&unstall, 1);
    POLL_UNTIL(!LOAD(&stalled));
}

void harness_unstall_cancel(pthread_t t)
{
    int rc = pthread_cancel(t);

    ck_assert_msg(rc == 0, "pthread_cancel: %s", strerror(rc));
    STORE(&restore_type, 1);
    STORE(&unstall, 1);
    POLL_UNTIL(!LOAD(&stalled));
}
