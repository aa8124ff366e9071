/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * R22: a thread that ends gives back what it holds as the default borrower.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifdef UNDER_ASAN
#include <sanitizer/asan_interface.h>
#endif

enum ending { RETURNS, CALLS_EXIT, CANCELLED_IN_WITH, RETURNS_AT_LEVEL_3 };

struct holder {
    caplimit_t *lim;
    enum ending how;
    int ready, go;
};

/* Cancellation unwinds this thread's frames without ASan seeing them go;
 * their stale redzones then trip ASan's own thread teardown (a false
 * stack-buffer-underflow in its sigaltstack interceptor).  Forget them. */
static void forget_unwound_frames(void *arg)
{
    (void)arg;
#ifdef UNDER_ASAN
    __asan_handle_no_return();
#endif
}

static void cancelled_in_with(struct holder *h)
{
    int rc;

    pthread_cleanup_push(forget_unwound_frames, NULL);
    CAPLIMIT_WITH(h->lim, rc) {
        STORE(&h->ready, 1);
        /* pthread_testcancel, not a blocking call such as pause: TSan
         * loses track of a thread cancelled inside its interceptors */
        for (;;) {
            pthread_testcancel();
            harness_yield();
        }
    }
    WORKER_CHECK(!"not reached");
    pthread_cleanup_pop(0);
}

static void *holder_main(void *arg)
{
    struct holder *h = arg;

    if (h->how == CANCELLED_IN_WITH) {
        cancelled_in_with(h);
        return NULL;
    }
    WORKER_CHECK(caplimit_acquire(h->lim) == 0);
    if (h->how == RETURNS_AT_LEVEL_3) {
        WORKER_CHECK(caplimit_acquire_nowait(h->lim) == 0);
        WORKER_CHECK(caplimit_acquire(h->lim) == 0);
    }
    STORE(&h->ready, 1);
    while (!LOAD(&h->go))
        harness_yield();
    if (h->how == CALLS_EXIT)
        pthread_exit(NULL);
    return NULL;
}

struct fresh {
    caplimit_t *lim;
    pthread_t self;
    int holds, release_rc;
};

static void *fresh_main(void *arg)
{
    struct fresh *f = arg;
    f->self = pthread_self();
    f->holds = caplimit_holds(f->lim);
    f->release_rc = caplimit_release(f->lim);
    return NULL;
}

/* After a holder has ended, new threads hold nothing, including one that
 * was given the dead holder's pthread_t (R22's last clause): threads are
 * made until one is (glibc reuses a joined thread's stack and descriptor
 * at once; elsewhere reuse is likely, not promised, so only glibc must
 * show it within the bound).  Without dead: four threads. */
static void check_fresh_threads(caplimit_t *lim, const pthread_t *dead)
{
    int i, reused = 0;

    for (i = 0; i < (dead != NULL ? 1000 : 4) && !reused; i++) {
        struct fresh f = { lim, 0, -1, -1 };
        pthread_t t;

        harness_spawn(&t, fresh_main, &f);
        harness_join(t);
        ck_assert_int_eq(f.holds, 0);
        ck_assert_int_eq(f.release_rc, EPERM);
        reused = dead != NULL && pthread_equal(f.self, *dead);
    }
#ifdef __GLIBC__
    ck_assert_msg(dead == NULL || reused, "no new thread got the dead holder's pthread_t in 1000 tries");
#endif
}

static void exit_case(enum ending how)
{
    caplimit_t *lim = harness_make(1);
    struct holder h = { lim, how, 0, 0 };
    struct harness_waiter w;
    struct caplimit_counters c;
    pthread_t t;
    void *ret;

    if (how == RETURNS_AT_LEVEL_3)
        ck_assert_int_eq(caplimit_set_reentrant(lim, 1), 0);
    harness_spawn(&t, holder_main, &h);
    POLL_UNTIL(LOAD(&h.ready));
    harness_waiter_start(&w, lim, HARNESS_UNTIL, NULL, 600000, HARNESS_HOLD);
    POLL_UNTIL(caplimit_threads_waiting(lim) == 1);
    if (how == CANCELLED_IN_WITH)
        ck_assert_int_eq(pthread_cancel(t), 0);
    else
        STORE(&h.go, 1);
    ck_assert_int_eq(pthread_join(t, &ret), 0);
    ck_assert_ptr_eq(ret, how == CANCELLED_IN_WITH ? PTHREAD_CANCELED : NULL);

    /* the token went to the waiter */
    POLL_UNTIL(harness_waiter_rc(&w) == 0);
    ck_assert_uint_eq(caplimit_threads_waiting(lim), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 1);
    c = harness_counters(lim);
    ck_assert_uint_eq(c.abandoned, 1);
    ck_assert_uint_eq(c.granted_after_wait, 1);
    check_fresh_threads(lim, &t);
    ck_assert_int_eq(harness_waiter_finish(&w), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    if (how == RETURNS_AT_LEVEL_3)   /* no level left behind (R21's EBUSY) */
        ck_assert_int_eq(caplimit_set_reentrant(lim, 0), 0);
    check_fresh_threads(lim, NULL);
    c = harness_counters(lim);
    ck_assert_uint_eq(c.abandoned, 1);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}

START_TEST(test_R22_holder_returns)
{
    exit_case(RETURNS);
}
END_TEST

START_TEST(test_R22_holder_calls_pthread_exit)
{
    exit_case(CALLS_EXIT);
}
END_TEST

START_TEST(test_R22_holder_cancelled_inside_with)
{
    exit_case(CANCELLED_IN_WITH);
}
END_TEST

START_TEST(test_R22_holder_at_level_3_returns)
{
    exit_case(RETURNS_AT_LEVEL_3);
}
END_TEST

/* ---- Several limiters at once ------------------------------------------ */

enum { NLIM = 9 };

struct many {
    caplimit_t *lim[NLIM];
    int ready, go;
    int obj;
};

static void *many_main(void *arg)
{
    struct many *m = arg;
    int i;

    /* eight at once (the record starts with room for four), two of them
     * given back from the middle, then one more */
    for (i = 0; i < 8; i++)
        WORKER_CHECK(caplimit_acquire(m->lim[i]) == 0);
    WORKER_CHECK(caplimit_release(m->lim[2]) == 0);
    WORKER_CHECK(caplimit_release(m->lim[5]) == 0);
    WORKER_CHECK(caplimit_acquire_nowait(m->lim[8]) == 0);
    /* an object borrower is the program's to release */
    WORKER_CHECK(caplimit_acquire_on_behalf_of(m->lim[0], &m->obj) == 0);
    STORE(&m->ready, 1);
    while (!LOAD(&m->go))
        harness_yield();
    return NULL;
}

static int held_at_exit(int i)
{
    return i != 2 && i != 5;
}

START_TEST(test_R22_several_limiters)
{
    struct many m;
    struct harness_waiter w[NLIM];
    pthread_t t;
    int i;

    memset(&m, 0, sizeof m);
    for (i = 0; i < NLIM; i++)
        m.lim[i] = harness_make(i == 0 ? 2 : 1);
    harness_spawn(&t, many_main, &m);
    POLL_UNTIL(LOAD(&m.ready));
    for (i = 0; i < NLIM; i++) {
        ck_assert_uint_eq(caplimit_borrowed_tokens(m.lim[i]), (size_t)held_at_exit(i) + (i == 0));
        if (held_at_exit(i)) {
            harness_waiter_start(&w[i], m.lim[i], (enum harness_variant)(i % 2 ? HARNESS_PLAIN
                                                                               : HARNESS_OBJ),
                                 &w[i], HARNESS_NO_DEADLINE, HARNESS_HOLD);
            POLL_UNTIL(caplimit_threads_waiting(m.lim[i]) == 1);
        }
    }
    STORE(&m.go, 1);
    harness_join(t);
    check_fresh_threads(m.lim[0], &t);
    for (i = 0; i < NLIM; i++) {
        struct caplimit_counters c;
        if (held_at_exit(i)) {
            POLL_UNTIL(harness_waiter_rc(&w[i]) == 0);
            ck_assert_uint_eq(caplimit_threads_waiting(m.lim[i]), 0);
        }
        c = harness_counters(m.lim[i]);
        ck_assert_uint_eq(c.abandoned, (unsigned)held_at_exit(i));
    }
    /* the object's token stays */
    ck_assert_int_eq(caplimit_holds_on_behalf_of(m.lim[0], &m.obj), 1);
    ck_assert_uint_eq(caplimit_borrowed_tokens(m.lim[0]), 2);
    ck_assert_int_eq(caplimit_release_on_behalf_of(m.lim[0], &m.obj), 0);
    for (i = 0; i < NLIM; i++) {
        if (held_at_exit(i)) {
            ck_assert_int_eq(harness_waiter_finish(&w[i]), 0);
        }
        ck_assert_uint_eq(caplimit_borrowed_tokens(m.lim[i]), 0);
        check_fresh_threads(m.lim[i], NULL);
    }
    harness_assert_no_worker_failures();
    for (i = 0; i < NLIM; i++)
        ck_assert_int_eq(caplimit_destroy(m.lim[i]), 0);
}
END_TEST

/* ---- Threads that end holding nothing ---------------------------------- */

static void *take_and_give_back(void *arg)
{
    struct timespec soon = harness_deadline_ms(10);
    caplimit_t *lim = arg;

    WORKER_CHECK(caplimit_acquire(lim) == 0);
    WORKER_CHECK(caplimit_release(lim) == 0);
    WORKER_CHECK(caplimit_acquire_nowait(lim) == 0);
    WORKER_CHECK(caplimit_release(lim) == 0);
    /* now full: refused, then timed out */
    WORKER_CHECK(caplimit_set_total_tokens(lim, 0) == 0);
    WORKER_CHECK(caplimit_acquire_nowait(lim) == EWOULDBLOCK);
    WORKER_CHECK(caplimit_acquire_until(lim, CLOCK_MONOTONIC, &soon) == ETIMEDOUT);
    WORKER_CHECK(caplimit_set_total_tokens(lim, 1) == 0);
    return NULL;
}

static void *queued_forever(void *arg)
{
    caplimit_t *lim = arg;
    WORKER_CHECK(caplimit_acquire(lim) == 0 && !"not reached");
    return NULL;
}

START_TEST(test_R22_thread_holding_nothing)
{
    caplimit_t *lim = harness_make(1);
    struct caplimit_counters c;
    pthread_t t;
    int obj;

    harness_spawn(&t, take_and_give_back, lim);
    harness_join(t);
    c = harness_counters(lim);
    ck_assert_uint_eq(c.abandoned, 0);

    /* cancelled while queued: it held nothing */
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &obj), 0);
    harness_spawn(&t, queued_forever, lim);
    POLL_UNTIL(caplimit_threads_waiting(lim) == 1);
    ck_assert_int_eq(pthread_cancel(t), 0);
    harness_join_cancelled(t);
    c = harness_counters(lim);
    ck_assert_uint_eq(c.abandoned, 0);
    ck_assert_uint_eq(c.cancelled, 1);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 1);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &obj), 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

static void *obj_then_exit(void *arg)
{
    caplimit_t *lim = arg;
    WORKER_CHECK(caplimit_acquire_on_behalf_of(lim, lim) == 0);
    return NULL;
}

/* A thread that took a token for an object leaves it held. */
START_TEST(test_R22_object_tokens_stay)
{
    caplimit_t *lim = harness_make(1);
    pthread_t t;

    harness_spawn(&t, obj_then_exit, lim);
    harness_join(t);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 1);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, lim), 1);
    ck_assert_uint_eq(harness_counters(lim).abandoned, 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, lim), 0);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

static void *take_and_end(void *arg)
{
    WORKER_CHECK(caplimit_acquire(arg) == 0);
    return NULL;
}

/* A holder ends after the limiter was closed: its token still comes back,
 * and the limiter can be destroyed. */
START_TEST(test_R22_exit_after_close)
{
    caplimit_t *lim = harness_make(1);
    struct holder h = { lim, RETURNS, 0, 0 };
    pthread_t t;

    harness_spawn(&t, holder_main, &h);
    POLL_UNTIL(LOAD(&h.ready));
    ck_assert_int_eq(caplimit_close(lim), 0);
    ck_assert_int_eq(caplimit_destroy(lim), EBUSY);
    STORE(&h.go, 1);
    harness_join(t);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    ck_assert_uint_eq(harness_counters(lim).abandoned, 1);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* Many threads end holding tokens of shared limiters at once. */
START_TEST(test_R22_many_threads_end_holding)
{
    enum { T = 8, ROUNDS = 20 };
    caplimit_t *lim = harness_make(CAPLIMIT_INFINITE);
    pthread_t t[T];
    int r, i;

    for (r = 0; r < ROUNDS; r++) {
        for (i = 0; i < T; i++)
            harness_spawn(&t[i], take_and_end, lim);
        for (i = 0; i < T; i++)
            harness_join(t[i]);
        ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    }
    ck_assert_uint_eq(harness_counters(lim).abandoned, T * ROUNDS);
    ck_assert_uint_eq(harness_counters(lim).granted_at_once, T * ROUNDS);
    harness_assert_no_worker_failures();
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- R22: an object waiter exits while its signal may be in flight ----- */

#define EXIT_ROUNDS 300

static const long deadlines_us[4] = { 0, 300, 1000, 10000000 };

struct exit_arg {
    caplimit_t *lim;
    long until_us;
    int rc;
    int done;
};

/* Registered only by its wait (object borrower, never a thread holder);
 * detached, so its stack and TLS go as soon as it ends.  Each round has
 * its own exit_arg: the handshake is atomics only, which helgrind does not
 * see as ordering, so a reused record would look like a race to it. */
static void *object_waiter(void *arg)
{
    struct exit_arg *a = arg;
    struct timespec t;
    int obj, rc;

    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += a->until_us / 1000000;
    t.tv_nsec += a->until_us % 1000000 * 1000;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    rc = caplimit_acquire_on_behalf_of_until(a->lim, &obj, CLOCK_MONOTONIC, &t);
    if (rc == 0)
        WORKER_CHECK(caplimit_release_on_behalf_of(a->lim, &obj) == 0);
    STORE(&a->rc, rc);
    STORE(&a->done, 1);
    return NULL;
}

static void spin_us(long us)
{
    struct timespec t0, now;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    do
        clock_gettime(CLOCK_MONOTONIC, &now);
    while ((now.tv_sec - t0.tv_sec) * 1000000L + (now.tv_nsec - t0.tv_nsec) / 1000 < us);
}

/* Each round a detached thread waits with a deadline of 0, 0.3 or 1 ms
 * (or 10 s, so that some rounds surely end in a grant), and the test thread
 * grants it (by a release, or by raising the total) at about that time:
 * the waiter may wake by its deadline, see GRANTED and exit before the
 * granter's signal, sent after the unlock, has gone out.
 * Its exit must wait for that signal (a use after free otherwise: TSan or
 * ASan see it; glibc may hang or crash). */
START_TEST(test_R22_object_waiter_exits_with_signal_in_flight)
{
    static struct exit_arg args[EXIT_ROUNDS];
    caplimit_t *lim = harness_make(1);
    pthread_attr_t attr;
    int round, holder, granted = 0;

    ck_assert_int_eq(pthread_attr_init(&attr), 0);
    ck_assert_int_eq(pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED), 0);
    for (round = 0; round < harness_scale(EXIT_ROUNDS); round++) {
        struct exit_arg *a = &args[round];  /* never reused: see below */
        pthread_t t;
        int by_release = round % 2 == 0;

        if (by_release)
            ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &holder), 0);
        else
            ck_assert_int_eq(caplimit_set_total_tokens(lim, 0), 0);
        a->lim = lim;
        a->until_us = deadlines_us[round / 2 % 4];
        ck_assert_int_eq(pthread_create(&t, &attr, object_waiter, a), 0);
        POLL_UNTIL(caplimit_threads_waiting(lim) == 1 || LOAD(&a->done));
        spin_us(a->until_us < 1000 ? a->until_us : 1000);
        if (by_release)
            ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &holder), 0);
        else
            ck_assert_int_eq(caplimit_set_total_tokens(lim, 1), 0);
        POLL_UNTIL(LOAD(&a->done));
        ck_assert_msg(a->rc == 0 || a->rc == ETIMEDOUT, "round %d: rc %d", round, a->rc);
        granted += a->rc == 0;
        ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
        ck_assert_uint_eq(caplimit_threads_waiting(lim), 0);
    }
    pthread_attr_destroy(&attr);
    /* the waiter's stack is gone when the limiter goes: R12 still holds */
    POLL_UNTIL(caplimit_destroy(lim) == 0);
    harness_assert_no_worker_failures();
    ck_assert_int_gt(granted, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("R22 thread exit");
    TCase *tc = harness_tcase_create("thread_exit");

    tcase_add_test(tc, test_R22_holder_returns);
    tcase_add_test(tc, test_R22_holder_calls_pthread_exit);
    tcase_add_test(tc, test_R22_holder_cancelled_inside_with);
    tcase_add_test(tc, test_R22_holder_at_level_3_returns);
    tcase_add_test(tc, test_R22_several_limiters);
    harness_add_cancel_test(tc, test_R22_thread_holding_nothing);
    tcase_add_test(tc, test_R22_object_tokens_stay);
    tcase_add_test(tc, test_R22_exit_after_close);
    tcase_add_test(tc, test_R22_many_threads_end_holding);
    tcase_add_test(tc, test_R22_object_waiter_exits_with_signal_in_flight);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
