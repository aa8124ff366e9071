/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * R15 by fault injection (white-box: links the library's objects to reach
 * cl_alloc_should_fail).  A scripted workload touches every allocation
 * site: create, the borrower set's growth past 8, 16 and 32 entries (by
 * holders and by a queued borrower), the per-thread record's growth past 4
 * and 8 limiters held by one thread, and a statistics snapshot.  Run N makes
 * the Nth allocation fail, for N = 1, 2, ... until a run completes with no
 * failure injected.  At each step the call must return its usual answer,
 * or ENOMEM exactly when the failure was injected during it; after ENOMEM
 * every limiter's observable state (total, borrowed, waiting, available,
 * closed, counters, the borrowers and their levels, holds) must be exactly
 * as before, and the same call retried must then succeed.
 *
 * Each run is a new thread, since the per-thread record grows only once
 * per thread; the run ends holding tokens, so R22 gives them back.
 */
#include "harness.h"
#include "../lib/internal.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NLIM 12                        /* limiters per run */
#define NOBJ 48                        /* object borrowers */
#define NHELD 10                       /* limiters held by the run's thread */
#define MAXB 64                        /* borrowers observed per limiter */

static atomic_int armed;
static atomic_long nalloc;
static atomic_long ninjected;
static long fail_at;

static int should_fail(void)
{
    if (!atomic_load(&armed))
        return 0;
    if (atomic_fetch_add(&nalloc, 1) + 1 == fail_at) {
        atomic_fetch_add(&ninjected, 1);
        return 1;
    }
    return 0;
}

/* ---- What a program can see of a limiter ------------------------------- */

struct seen_borrower {
    int kind;
    uintptr_t id;
    size_t level;
};

struct seen {
    size_t total, borrowed, waiting, available;
    int closed, holds;
    struct caplimit_counters counters;
    size_t n;
    struct seen_borrower b[MAXB];
};

static int by_borrower(const void *pa, const void *pb)
{
    const struct seen_borrower *a = pa, *b = pb;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

struct run {
    long n;                            /* the allocation that fails */
    caplimit_t *lims[NLIM];
    int objs[NOBJ];
    int enomem;                        /* ENOMEM answers seen */
    int injected;                      /* failures injected */
    size_t abandoned[NLIM];            /* tokens left at the thread's exit */
};

static void check_failed(struct run *r, int line, const char *what)
{
    char msg[256];
    snprintf(msg, sizeof msg, "run failing allocation %ld: %s", r->n, what);
    harness_record_failure(__FILE__, line, msg);
}

#define RUN_CHECK(r, expr)                                                     \
    do {                                                                       \
        if (!(expr))                                                           \
            check_failed((r), __LINE__, #expr);                                \
    } while (0)

/* Disarms the hook: observing must not consume the failure. */
static void observe(struct run *r, caplimit_t *l, struct seen *s)
{
    struct caplimit_statistics st;
    size_t i;
    int was = atomic_exchange(&armed, 0);

    memset(s, 0, sizeof *s);
    s->total = caplimit_total_tokens(l);
    s->borrowed = caplimit_borrowed_tokens(l);
    s->waiting = caplimit_threads_waiting(l);
    s->available = caplimit_available_tokens(l);
    s->closed = caplimit_is_closed(l);
    s->holds = caplimit_holds(l);
    RUN_CHECK(r, caplimit_counters(l, &s->counters) == 0);
    RUN_CHECK(r, caplimit_statistics(l, &st) == 0);
    RUN_CHECK(r, st.nborrowers == st.borrowed_tokens && st.nborrowers <= MAXB);
    RUN_CHECK(r, st.total_tokens == s->total && st.threads_waiting == s->waiting);
    for (i = 0; i < st.nborrowers && i < MAXB; i++) {
        s->b[i].kind = (int)st.borrowers[i].kind;
        s->b[i].id = st.borrowers[i].kind == CAPLIMIT_BORROWER_THREAD
                         ? (uintptr_t)st.borrowers[i].thread
                         : (uintptr_t)st.borrowers[i].object;
        s->b[i].level = st.borrowers[i].level;
    }
    s->n = i;
    qsort(s->b, s->n, sizeof s->b[0], by_borrower);
    caplimit_statistics_destroy(&st);
    atomic_store(&armed, was);
}

static void observe_all(struct run *r, struct seen *s)
{
    int i;
    for (i = 0; i < NLIM; i++)
        if (r->lims[i] != NULL)
            observe(r, r->lims[i], &s[i]);
}

static int same(const struct seen *a, const struct seen *b)
{
    return a->total == b->total && a->borrowed == b->borrowed
        && a->waiting == b->waiting && a->available == b->available
        && a->closed == b->closed && a->holds == b->holds
        && memcmp(&a->counters, &b->counters, sizeof a->counters) == 0
        && a->n == b->n && memcmp(a->b, b->b, a->n * sizeof a->b[0]) == 0;
}

static void same_as_before(struct run *r, const struct seen *before, int line)
{
    struct seen *after = malloc(NLIM * sizeof *after);
    int i;

    if (after == NULL)
        abort();
    observe_all(r, after);
    for (i = 0; i < NLIM; i++)
        if (r->lims[i] != NULL && !same(&before[i], &after[i]))
            check_failed(r, line, "ENOMEM changed a limiter's observable state");
    free(after);
}

/* One call of the script: its usual answer, or ENOMEM (nothing changed)
 * exactly when the failure was injected in it, and then a retry. */
#define STEP(r, expect, call)                                                  \
    do {                                                                       \
        struct seen *before_ = malloc(NLIM * sizeof *before_);                 \
        long inj_;                                                             \
        int rc_;                                                               \
        if (before_ == NULL)                                                   \
            abort();                                                           \
        observe_all((r), before_);                                             \
        inj_ = atomic_load(&ninjected);                                        \
        rc_ = (call);                                                          \
        if (atomic_load(&ninjected) != inj_) {                                 \
            (r)->injected++;                                                   \
            RUN_CHECK((r), rc_ == ENOMEM);                                     \
            if (rc_ == ENOMEM) {                                               \
                (r)->enomem++;                                                 \
                same_as_before((r), before_, __LINE__);                        \
                rc_ = (call);                                                  \
            }                                                                  \
        }                                                                      \
        RUN_CHECK((r), rc_ == (expect));                                       \
        free(before_);                                                         \
    } while (0)

/* ---- The calls that need a little glue --------------------------------- */

static int sentinel;
#define UNTOUCHED ((caplimit_t *)&sentinel)

static int create_into(struct run *r, int k, size_t total)
{
    caplimit_t *p = UNTOUCHED;
    int rc = caplimit_create(&p, total);

    if (rc == 0)
        r->lims[k] = p;
    else
        RUN_CHECK(r, p == UNTOUCHED);          /* *out untouched on failure */
    return rc;
}

static int snapshot(struct run *r, caplimit_t *l, size_t expect_n)
{
    struct caplimit_statistics st;
    int rc = caplimit_statistics(l, &st);

    if (rc == 0) {
        RUN_CHECK(r, st.nborrowers == expect_n);
        caplimit_statistics_destroy(&st);
    }
    return rc;
}

static int until_obj(caplimit_t *l, const void *obj)
{
    struct timespec d = harness_deadline_ms(1);
    return caplimit_acquire_on_behalf_of_until(l, obj, CLOCK_MONOTONIC, &d);
}

static int until_self(caplimit_t *l)
{
    struct timespec d = harness_deadline_on(CLOCK_REALTIME, 1);
    return caplimit_acquire_until(l, CLOCK_REALTIME, &d);
}

/* ---- The script -------------------------------------------------------- */

static void *script(void *arg)
{
    struct run *r = arg;
    caplimit_t *big, *full;
    int i;

    atomic_store(&armed, 1);

    /* create; the borrower set grows past 8, 16 and 32 holders; snapshot */
    STEP(r, 0, create_into(r, 0, 64));
    if ((big = r->lims[0]) == NULL)
        return NULL;
    for (i = 0; i < 40; i++)
        STEP(r, 0, caplimit_acquire_on_behalf_of_nowait(big, &r->objs[i]));
    STEP(r, 0, snapshot(r, big, 40));
    for (i = 0; i < 40; i += 2)
        STEP(r, 0, caplimit_release_on_behalf_of(big, &r->objs[i]));
    STEP(r, 0, snapshot(r, big, 20));

    /* the per-thread record grows past 4 and 8 limiters (R22, R15) */
    for (i = 1; i <= NHELD; i++) {
        STEP(r, 0, create_into(r, i, i == 1 ? 8 : CAPLIMIT_INFINITE));
        if (r->lims[i] == NULL)
            return NULL;
        STEP(r, 0, i & 1 ? caplimit_acquire_nowait(r->lims[i])
                         : caplimit_acquire(r->lims[i]));
    }

    /* a queued borrower grows the set past 8 entries, then times out */
    STEP(r, 0, create_into(r, NLIM - 1, 8));
    if ((full = r->lims[NLIM - 1]) == NULL)
        return NULL;
    for (i = 0; i < 7; i++)
        STEP(r, 0, caplimit_acquire_on_behalf_of_nowait(full, &r->objs[i]));
    STEP(r, 0, until_self(full));
    STEP(r, ETIMEDOUT, until_obj(full, &r->objs[40]));
    STEP(r, EWOULDBLOCK, caplimit_acquire_on_behalf_of_nowait(full, &r->objs[41]));
    STEP(r, 0, snapshot(r, full, 8));
    STEP(r, 0, caplimit_release(full));
    for (i = 0; i < 7; i++)
        STEP(r, 0, caplimit_release_on_behalf_of(full, &r->objs[i]));
    STEP(r, 0, caplimit_set_total_tokens(full, 0));
    STEP(r, ETIMEDOUT, until_self(full));

    /* give back half; the thread's exit gives back the rest (R22) */
    for (i = 1; i <= NHELD; i += 2)
        STEP(r, 0, caplimit_release(r->lims[i]));
    for (i = 2; i <= NHELD; i += 2)
        r->abandoned[i] = 1;
    for (i = 1; i < 40; i += 2)
        STEP(r, 0, caplimit_release_on_behalf_of(big, &r->objs[i]));

    atomic_store(&armed, 0);
    return NULL;
}

/* After the run's thread has ended: everything is back, and destroyable. */
static void tear_down(struct run *r)
{
    int i;

    for (i = 0; i < NLIM; i++) {
        struct caplimit_counters c;
        if (r->lims[i] == NULL)
            continue;
        RUN_CHECK(r, caplimit_counters(r->lims[i], &c) == 0);
        RUN_CHECK(r, c.abandoned == r->abandoned[i]);
        RUN_CHECK(r, caplimit_borrowed_tokens(r->lims[i]) == 0);
        RUN_CHECK(r, caplimit_threads_waiting(r->lims[i]) == 0);
        RUN_CHECK(r, caplimit_destroy(r->lims[i]) == 0);
    }
}

START_TEST(test_R15_every_allocation_failure_leaves_state_unchanged)
{
    long n, sites = 0;
    int enomem_total = 0;

    cl_alloc_should_fail = should_fail;
    for (n = 1; n < 10000; n++) {
        struct run *r = calloc(1, sizeof *r);
        pthread_t t;

        ck_assert_ptr_nonnull(r);
        r->n = n;
        fail_at = n;
        atomic_store(&nalloc, 0);
        atomic_store(&ninjected, 0);
        harness_spawn(&t, script, r);
        harness_join(t);
        atomic_store(&armed, 0);
        tear_down(r);
        harness_assert_no_worker_failures();
        ck_assert_int_eq(r->injected, (int)atomic_load(&ninjected));
        enomem_total += r->enomem;
        if (atomic_load(&ninjected) == 0) {
            sites = atomic_load(&nalloc);
            free(r);
            break;
        }
        ck_assert_int_eq(r->enomem, 1);
        free(r);
    }
    cl_alloc_should_fail = NULL;
    /* at least: 3 per create (limiter, entries, index), 3 + 3 for the set
     * growing to 40 holders, 2 for the thread's record, 2 for the queued
     * borrower's growth, 3 snapshots */
    ck_assert_int_ge(sites, 3 * NLIM + 6 + 2 + 2 + 3);
    ck_assert_int_eq(enomem_total, (int)sites);
    printf("R15 sweep: %ld allocations in the script, each failed once\n", sites);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fault_sweep");
    TCase *tc = harness_tcase_create("R15");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_R15_every_allocation_failure_leaves_state_unchanged);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
