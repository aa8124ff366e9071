/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 */
#include "harness.h"

#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

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

int harness_scale(int n)
{
    if (getenv("HARNESS_SLOW") == NULL)
        return n;
    return n / 10 > 0 ? n / 10 : 1;
}

long harness_span_ms(long ms)
{
    return getenv("HARNESS_SLOW") == NULL ? ms : 10 * ms;
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

TCase *harness_tcase_create(const char *name)
{
    TCase *tc = tcase_create(name);

    tcase_add_checked_fixture(tc, NULL, harness_assert_no_worker_failures);
    return tc;
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

struct caplimit_counters harness_counters(const caplimit_t *lim)
{
    struct caplimit_counters c;
    ck_assert_int_eq(caplimit_counters(lim, &c), 0);
    return c;
}

void harness_join_cancelled(pthread_t t)
{
    void *ret = NULL;
    ck_assert_int_eq(pthread_join(t, &ret), 0);
    ck_assert_ptr_eq(ret, PTHREAD_CANCELED);
}

/* ---- Acquire variants -------------------------------------------------- */

const enum harness_variant harness_waiting_variants[HARNESS_NWAITING] = {
    HARNESS_PLAIN, HARNESS_UNTIL, HARNESS_OBJ, HARNESS_OBJ_UNTIL
};

int harness_variant_is_obj(enum harness_variant v)
{
    return v == HARNESS_OBJ || v == HARNESS_OBJ_NOWAIT || v == HARNESS_OBJ_UNTIL;
}

clockid_t harness_variant_clock(enum harness_variant v)
{
    return v == HARNESS_OBJ_UNTIL ? CLOCK_REALTIME : CLOCK_MONOTONIC;
}

int harness_acquire_at(caplimit_t *lim, enum harness_variant v, const void *obj,
                       clockid_t clk, const struct timespec *abstime)
{
    switch (v) {
    case HARNESS_PLAIN:
        return caplimit_acquire(lim);
    case HARNESS_NOWAIT:
        return caplimit_acquire_nowait(lim);
    case HARNESS_UNTIL:
        return caplimit_acquire_until(lim, clk, abstime);
    case HARNESS_OBJ:
        return caplimit_acquire_on_behalf_of(lim, obj);
    case HARNESS_OBJ_NOWAIT:
        return caplimit_acquire_on_behalf_of_nowait(lim, obj);
    case HARNESS_OBJ_UNTIL:
        return caplimit_acquire_on_behalf_of_until(lim, obj, clk, abstime);
    }
    return -1;
}

int harness_acquire_variant(caplimit_t *lim, enum harness_variant v,
                            const void *obj, long until_ms)
{
    clockid_t clk = harness_variant_clock(v);
    struct timespec t = harness_deadline_on(clk, until_ms);

    return harness_acquire_at(lim, v, obj, clk, &t);
}

int harness_release_variant(caplimit_t *lim, enum harness_variant v, const void *obj)
{
    return harness_variant_is_obj(v) ? caplimit_release_on_behalf_of(lim, obj)
                                     : caplimit_release(lim);
}

int harness_acquire_tokens_at(caplimit_t *lim, enum harness_variant v, const void *obj,
                              size_t n, clockid_t clk, const struct timespec *abstime)
{
    const void *b = harness_variant_is_obj(v) ? obj : NULL;

    switch (v) {
    case HARNESS_PLAIN:
    case HARNESS_OBJ:
        return caplimit_acquire_tokens(lim, b, n);
    case HARNESS_NOWAIT:
    case HARNESS_OBJ_NOWAIT:
        return caplimit_acquire_tokens_nowait(lim, b, n);
    case HARNESS_UNTIL:
    case HARNESS_OBJ_UNTIL:
        return caplimit_acquire_tokens_until(lim, b, n, clk, abstime);
    }
    return -1;
}

/* ---- Waiters ----------------------------------------------------------- */

static unsigned long grant_seq;

unsigned long harness_grant_seq(void)
{
    return __atomic_fetch_add(&grant_seq, 1, __ATOMIC_SEQ_CST);
}

static void *waiter_main(void *arg)
{
    struct harness_waiter *w = arg;
    struct timespec t = w->abstime;
    int rc;

    STORE(&w->tid, (int)syscall(SYS_gettid));
    if (t.tv_sec == 0 && t.tv_nsec == 0)
        t = harness_deadline_on(w->clock, w->until_ms);
    if (w->n != 0)
        rc = harness_acquire_tokens_at(w->lim, w->v, w->obj, w->n, w->clock, &t);
    else
        rc = harness_acquire_at(w->lim, w->v, w->obj, w->clock, &t);
    if (rc == 0)
        w->seq = harness_grant_seq();
    STORE(&w->rc, rc);
    if (rc == 0) {
        if (w->on_grant != NULL)
            w->on_grant(w);
        while (w->hold && !LOAD(&w->go))
            harness_yield();
        WORKER_CHECK(harness_release_variant(w->lim, w->v, w->obj) == 0);
    }
    STORE(&w->done, 1);
    return NULL;
}

void harness_waiter_init(struct harness_waiter *w, caplimit_t *lim,
                         enum harness_variant v, const void *obj, int hold)
{
    memset(w, 0, sizeof *w);
    w->lim = lim;
    w->v = v;
    w->obj = obj;
    w->hold = hold;
    w->clock = harness_variant_clock(v);
    w->until_ms = 600000;
    w->rc = HARNESS_RC_PENDING;
}

void harness_waiter_run(struct harness_waiter *w)
{
    harness_spawn(&w->thread, waiter_main, w);
}

void harness_waiter_start(struct harness_waiter *w, caplimit_t *lim,
                          enum harness_variant v, const void *obj, long until_ms,
                          int hold)
{
    harness_waiter_init(w, lim, v, obj, hold);
    w->until_ms = until_ms;
    harness_waiter_run(w);
}

void harness_waiter_queue(struct harness_waiter *w, size_t waiting)
{
    harness_waiter_run(w);
    POLL_UNTIL(caplimit_threads_waiting(w->lim) == waiting);
    ck_assert_int_eq(harness_waiter_rc(w), HARNESS_RC_PENDING);
}

int harness_waiter_rc(struct harness_waiter *w)
{
    return LOAD(&w->rc);
}

int harness_waiter_wait_rc(struct harness_waiter *w)
{
    POLL_UNTIL(harness_waiter_rc(w) != HARNESS_RC_PENDING);
    return harness_waiter_rc(w);
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

int harness_waiter_finish(struct harness_waiter *w)
{
    harness_waiter_go(w);
    return harness_waiter_join(w);
}

int harness_thread_sleeping(int tid)
{
    char path[64], buf[256], *p;
    FILE *f;
    size_t len;

    snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
    if ((f = fopen(path, "r")) == NULL)
        return 0;
    len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    /* "tid (comm) S ...": comm may hold spaces and parentheses */
    p = strrchr(buf, ')');
    return p != NULL && p[1] == ' ' && p[2] == 'S';
}

void harness_waiter_poll_asleep(struct harness_waiter *w)
{
    POLL_UNTIL(LOAD(&w->tid) != 0);
    POLL_UNTIL(harness_thread_sleeping(LOAD(&w->tid)));
}

/* ---- Observable state -------------------------------------------------- */

static int borrower_cmp(const void *a, const void *b)
{
    const struct caplimit_borrower *x = a, *y = b;
    uintptr_t ix, iy;

    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    ix = x->kind == CAPLIMIT_BORROWER_THREAD ? (uintptr_t)x->thread : (uintptr_t)x->object;
    iy = y->kind == CAPLIMIT_BORROWER_THREAD ? (uintptr_t)y->thread : (uintptr_t)y->object;
    return ix < iy ? -1 : ix > iy;
}

void harness_snap(caplimit_t *lim, struct harness_state *s)
{
    memset(s, 0, sizeof *s);
    ck_assert_int_eq(caplimit_statistics(lim, &s->st), 0);
    if (s->st.nborrowers > 1)
        qsort(s->st.borrowers, s->st.nborrowers, sizeof *s->st.borrowers, borrower_cmp);
    s->available = caplimit_available_tokens(lim);
    ck_assert_int_eq(caplimit_counters(lim, &s->counters), 0);
}

void harness_snap_free(struct harness_state *s)
{
    caplimit_statistics_destroy(&s->st);
}

void harness_assert_unchanged(caplimit_t *lim, struct harness_state *before)
{
    struct harness_state now;
    size_t i;

    harness_snap(lim, &now);
    ck_assert_uint_eq(now.st.borrowed_tokens, before->st.borrowed_tokens);
    ck_assert_uint_eq(now.st.total_tokens, before->st.total_tokens);
    ck_assert_uint_eq(now.st.threads_waiting, before->st.threads_waiting);
    ck_assert_uint_eq(now.st.nborrowers, before->st.nborrowers);
    ck_assert_uint_eq(now.available, before->available);
    for (i = 0; i < now.st.nborrowers; i++) {
        ck_assert_int_eq(borrower_cmp(&now.st.borrowers[i], &before->st.borrowers[i]), 0);
        ck_assert_uint_eq(now.st.borrowers[i].level, before->st.borrowers[i].level);
        ck_assert_uint_eq(now.st.borrowers[i].tokens, before->st.borrowers[i].tokens);
    }
    ck_assert_uint_eq(now.st.tokens_waiting, before->st.tokens_waiting);
    ck_assert_msg(memcmp(&now.counters, &before->counters, sizeof now.counters) == 0,
                  "counters changed");
    harness_snap_free(&now);
}

void harness_assert_counts(caplimit_t *lim, size_t borrowed, size_t waiting)
{
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), borrowed);
    ck_assert_uint_eq(caplimit_threads_waiting(lim), waiting);
}

/* ---- Stalling a waiter ------------------------------------------------- */

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
