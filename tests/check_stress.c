/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * R16: many threads, every variant, one limiter; an independent counter of
 * the tokens in use never exceeds the total, and everything comes back.
 * STRESS_ITERATIONS in the environment scales the run (default 2000).
 *
 * While the controller moves the total between 1 and TOTAL (R8), the
 * bound is `allowed`, as in tests/stress.c: a grant happens only while
 * borrowed < total, so borrowed never exceeds the largest total in force
 * since borrowed was last <= total.  The controller, the only thread that
 * sets the total, raises allowed before a rise, leaves it on a fall, and
 * lowers it to the total once a snapshot shows borrowed <= total.  A check
 * that reads a count and then allowed is trusted only when no lowering
 * (inside an odd allowed_seq) overlapped it.
 */
#include "harness.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#define NTHREADS 16
#define TOTAL 3

static caplimit_t *lim;
static atomic_int inuse, max_inuse, stop;
static atomic_long successes, refusals;
static long iterations = 2000;
static char objs[NTHREADS];
static atomic_size_t allowed;
static atomic_uint allowed_seq;

/* v (read after s1 = allowed_seq) is within the bound, if no lowering of
 * allowed overlapped the reads. */
static int within_allowed(unsigned s1, size_t v)
{
    size_t a = atomic_load(&allowed);

    return s1 != atomic_load(&allowed_seq) || (s1 & 1) || v <= a;
}

static void note_in_use(void)
{
    unsigned s1 = atomic_load(&allowed_seq);
    int n = atomic_fetch_add(&inuse, 1) + 1;
    int m = atomic_load(&max_inuse);

    WORKER_CHECK(n <= TOTAL);
    WORKER_CHECK(within_allowed(s1, (size_t)n));
    while (n > m && !atomic_compare_exchange_weak(&max_inuse, &m, n))
        ;
}

static void *stress_worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    long i;

    for (i = 0; i < iterations; i++) {
        enum harness_variant op = (enum harness_variant)((id + i) % HARNESS_NVARIANTS);
        clockid_t clk = i % 2 ? CLOCK_REALTIME : CLOCK_MONOTONIC;
        struct timespec t = harness_deadline_on(clk, 2);
        int rc = harness_acquire_at(lim, op, &objs[id], clk, &t);

        if (rc != 0) {
            WORKER_CHECK((rc == EWOULDBLOCK && (op == HARNESS_NOWAIT || op == HARNESS_OBJ_NOWAIT))
                         || (rc == ETIMEDOUT && (op == HARNESS_UNTIL || op == HARNESS_OBJ_UNTIL)));
            atomic_fetch_add(&refusals, 1);
            continue;
        }
        note_in_use();
        if (i % 8 == 0)
            harness_yield();
        atomic_fetch_sub(&inuse, 1);
        WORKER_CHECK(harness_release_variant(lim, op, &objs[id]) == 0);
        atomic_fetch_add(&successes, 1);
    }
    return NULL;
}

/* Snapshots while the workers run: each one agrees with itself. */
static void *observer(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        struct caplimit_statistics st;
        unsigned s1 = atomic_load(&allowed_seq);
        size_t b;
        WORKER_CHECK(caplimit_statistics(lim, &st) == 0);
        WORKER_CHECK(st.nborrowers == st.borrowed_tokens);
        WORKER_CHECK(st.borrowed_tokens <= TOTAL);
        WORKER_CHECK(within_allowed(s1, st.borrowed_tokens));
        WORKER_CHECK(st.threads_waiting <= NTHREADS);
        caplimit_statistics_destroy(&st);
        s1 = atomic_load(&allowed_seq);
        b = caplimit_borrowed_tokens(lim);
        WORKER_CHECK(b <= TOTAL);
        WORKER_CHECK(within_allowed(s1, b));
        harness_yield();
    }
    return NULL;
}

static void set_total(size_t t)
{
    if (t > atomic_load(&allowed))
        atomic_store(&allowed, t);
    WORKER_CHECK(caplimit_set_total_tokens(lim, t) == 0);
}

/* Once borrowed <= total, nothing is granted above the total until the
 * controller changes it: allowed comes down to the total. */
static void settle_allowed(void)
{
    struct caplimit_statistics st;

    WORKER_CHECK(caplimit_statistics(lim, &st) == 0);
    if (st.borrowed_tokens <= st.total_tokens && st.total_tokens < atomic_load(&allowed)) {
        atomic_fetch_add(&allowed_seq, 1);
        atomic_store(&allowed, st.total_tokens);
        atomic_fetch_add(&allowed_seq, 1);
    }
    caplimit_statistics_destroy(&st);
}

/* Lowers and raises the total under load (R8): never above TOTAL. */
static void *controller(void *arg)
{
    size_t k = 0;
    (void)arg;
    while (!atomic_load(&stop)) {
        set_total(1 + k++ % TOTAL);
        harness_yield();
        settle_allowed();
    }
    set_total(TOTAL);
    return NULL;
}

static void run_stress(int with_controller)
{
    pthread_t t[NTHREADS], obs, ctl;
    const char *env = getenv("STRESS_ITERATIONS");
    int i;

    if (env != NULL && atol(env) > 0)
        iterations = atol(env);
    lim = harness_make(TOTAL);
    atomic_store(&allowed, TOTAL);
    harness_spawn(&obs, observer, NULL);
    if (with_controller)
        harness_spawn(&ctl, controller, NULL);
    for (i = 0; i < NTHREADS; i++)
        harness_spawn(&t[i], stress_worker, (void *)(intptr_t)i);
    for (i = 0; i < NTHREADS; i++)
        harness_join(t[i]);
    atomic_store(&stop, 1);
    harness_join(obs);
    if (with_controller)
        harness_join(ctl);
    harness_assert_no_worker_failures();
    ck_assert_int_le(atomic_load(&max_inuse), TOTAL);
    ck_assert_int_gt(atomic_load(&successes), 0);
    /* the library's counters agree with what the workers saw */
    {
        struct caplimit_counters c = harness_counters(lim);
        ck_assert_uint_eq(c.granted_at_once + c.granted_after_wait,
                          (unsigned long)atomic_load(&successes));
        ck_assert_uint_eq(c.would_block + c.timed_out, (unsigned long)atomic_load(&refusals));
    }
    harness_assert_counts(lim, 0, 0);
    ck_assert_uint_eq(caplimit_total_tokens(lim), TOTAL);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
    fprintf(stderr, "R16%s: %ld granted, %ld refused, at most %d in use\n",
            with_controller ? " (total changing)" : "", atomic_load(&successes),
            atomic_load(&refusals), atomic_load(&max_inuse));
}

START_TEST(test_R16_many_threads_every_variant)
{
    run_stress(0);
}
END_TEST

START_TEST(test_R16_R8_many_threads_while_total_changes)
{
    run_stress(1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stress");
    TCase *tc = harness_tcase_create("stress");

    tcase_add_test(tc, test_R16_many_threads_every_variant);
    tcase_add_test(tc, test_R16_R8_many_threads_while_total_changes);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
