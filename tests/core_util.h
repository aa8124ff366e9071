/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * Helpers shared by the core suites (R1..R16): a worker thread that makes
 * one acquire of a chosen variant, and snapshots of a limiter's observable
 * state to check that a failed call changed nothing.
 */
#ifndef CAPLIMIT_TESTS_CORE_UTIL_H
#define CAPLIMIT_TESTS_CORE_UTIL_H

#include "harness.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum cu_op {
    CU_ACQUIRE,
    CU_NOWAIT,
    CU_UNTIL,
    CU_OBJ,
    CU_OBJ_NOWAIT,
    CU_OBJ_UNTIL
};

#define CU_PENDING (-1)

struct cu_worker {
    pthread_t thread;
    caplimit_t *lim;
    enum cu_op op;
    const void *obj;                 /* the borrower of the CU_OBJ* variants */
    clockid_t clock;                 /* for the *_until variants */
    struct timespec abstime;         /* zero: ten minutes from the start */
    int id;
    int hold;                        /* granted: wait for go before release */
    void (*on_grant)(struct cu_worker *);
    atomic_int rc;                   /* CU_PENDING until the acquire returns */
    atomic_int go;
    atomic_int done;
};

static inline int cu_is_obj(enum cu_op op)
{
    return op == CU_OBJ || op == CU_OBJ_NOWAIT || op == CU_OBJ_UNTIL;
}

static inline int cu_acquire(caplimit_t *lim, enum cu_op op, const void *obj,
                             clockid_t clock, const struct timespec *abstime)
{
    switch (op) {
    case CU_ACQUIRE:
        return caplimit_acquire(lim);
    case CU_NOWAIT:
        return caplimit_acquire_nowait(lim);
    case CU_UNTIL:
        return caplimit_acquire_until(lim, clock, abstime);
    case CU_OBJ:
        return caplimit_acquire_on_behalf_of(lim, obj);
    case CU_OBJ_NOWAIT:
        return caplimit_acquire_on_behalf_of_nowait(lim, obj);
    case CU_OBJ_UNTIL:
        return caplimit_acquire_on_behalf_of_until(lim, obj, clock, abstime);
    }
    return -1;
}

static inline int cu_release(caplimit_t *lim, enum cu_op op, const void *obj)
{
    return cu_is_obj(op) ? caplimit_release_on_behalf_of(lim, obj)
                         : caplimit_release(lim);
}

static inline void *cu_worker_main(void *arg)
{
    struct cu_worker *w = arg;
    int rc = cu_acquire(w->lim, w->op, w->obj, w->clock, &w->abstime);

    atomic_store(&w->rc, rc);
    if (rc == 0) {
        if (w->on_grant != NULL)
            w->on_grant(w);
        if (w->hold)
            while (!atomic_load(&w->go))
                harness_yield();
        WORKER_CHECK(cu_release(w->lim, w->op, w->obj) == 0);
    }
    atomic_store(&w->done, 1);
    return NULL;
}

/* Prepares w; hold 1 keeps a granted token until cu_finish. */
static inline void cu_init(struct cu_worker *w, caplimit_t *lim, enum cu_op op,
                           const void *obj, int hold)
{
    memset(w, 0, sizeof *w);
    w->lim = lim;
    w->op = op;
    w->obj = obj;
    w->clock = CLOCK_MONOTONIC;
    w->hold = hold;
    atomic_init(&w->rc, CU_PENDING);
    atomic_init(&w->go, 0);
    atomic_init(&w->done, 0);
}

/* The acquire's result so far: CU_PENDING while it waits. */
static inline int cu_rc(struct cu_worker *w)
{
    return atomic_load(&w->rc);
}

static inline void cu_start(struct cu_worker *w)
{
    if (w->abstime.tv_sec == 0 && w->abstime.tv_nsec == 0)
        w->abstime = harness_deadline_on(w->clock, 600000);
    harness_spawn(&w->thread, cu_worker_main, w);
}

/* Starts w and waits until it is the waiting-th thread in the queue. */
static inline void cu_queue(struct cu_worker *w, size_t waiting)
{
    cu_start(w);
    POLL_UNTIL(caplimit_threads_waiting(w->lim) == waiting);
    ck_assert_int_eq(cu_rc(w), CU_PENDING);
}

static inline int cu_wait_rc(struct cu_worker *w)
{
    POLL_UNTIL(cu_rc(w) != CU_PENDING);
    return cu_rc(w);
}

/* Lets w release what it holds, and joins it. */
static inline void cu_finish(struct cu_worker *w)
{
    atomic_store(&w->go, 1);
    harness_join(w->thread);
}

/* ---- Observable state -------------------------------------------------- */

struct cu_state {
    struct caplimit_statistics st;   /* borrowers sorted */
    size_t available;
    struct caplimit_counters counters;
};

static inline int cu_borrower_cmp(const void *a, const void *b)
{
    const struct caplimit_borrower *x = a, *y = b;
    uintptr_t ix, iy;

    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    ix = x->kind == CAPLIMIT_BORROWER_THREAD ? (uintptr_t)x->thread : (uintptr_t)x->object;
    iy = y->kind == CAPLIMIT_BORROWER_THREAD ? (uintptr_t)y->thread : (uintptr_t)y->object;
    return ix < iy ? -1 : ix > iy;
}

static inline void cu_snap(caplimit_t *lim, struct cu_state *s)
{
    memset(s, 0, sizeof *s);
    ck_assert_int_eq(caplimit_statistics(lim, &s->st), 0);
    if (s->st.nborrowers > 1)
        qsort(s->st.borrowers, s->st.nborrowers, sizeof *s->st.borrowers, cu_borrower_cmp);
    s->available = caplimit_available_tokens(lim);
    ck_assert_int_eq(caplimit_counters(lim, &s->counters), 0);
}

static inline void cu_snap_free(struct cu_state *s)
{
    caplimit_statistics_destroy(&s->st);
}

/* Fails the test unless lim is exactly as the snapshot was. */
static inline void cu_assert_unchanged(caplimit_t *lim, struct cu_state *before)
{
    struct cu_state now;
    size_t i;

    cu_snap(lim, &now);
    ck_assert_uint_eq(now.st.borrowed_tokens, before->st.borrowed_tokens);
    ck_assert_uint_eq(now.st.total_tokens, before->st.total_tokens);
    ck_assert_uint_eq(now.st.threads_waiting, before->st.threads_waiting);
    ck_assert_uint_eq(now.st.nborrowers, before->st.nborrowers);
    ck_assert_uint_eq(now.available, before->available);
    for (i = 0; i < now.st.nborrowers; i++) {
        ck_assert_int_eq(cu_borrower_cmp(&now.st.borrowers[i], &before->st.borrowers[i]), 0);
        ck_assert_uint_eq(now.st.borrowers[i].level, before->st.borrowers[i].level);
    }
    ck_assert_msg(memcmp(&now.counters, &before->counters, sizeof now.counters) == 0,
                  "counters changed");
    cu_snap_free(&now);
}

static inline void cu_assert_counts(caplimit_t *lim, size_t borrowed, size_t waiting)
{
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), borrowed);
    ck_assert_uint_eq(caplimit_threads_waiting(lim), waiting);
}

#endif
