/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * thread.h: the per-thread record (R22), for thread.c, which owns it, and
 * lane.c, whose fast acquire and release note holds in it without a call.
 * Only its own thread reads or writes a record.
 */
#ifndef CAPLIMIT_THREAD_H
#define CAPLIMIT_THREAD_H

#include "internal.h"

#define CL_INLINE_HELD 4

struct cl_thread {
    caplimit_t **held;               /* inline_held, or a heap array */
    size_t n, cap;
    caplimit_t *inline_held[CL_INLINE_HELD];
    int registered;                  /* the exit key holds this record */
    unsigned lane;                   /* the fast lane's slot + 1, or 0 (lane.c) */
    int cond_ready;
    pthread_cond_t cond;             /* where this thread waits (queue.c) */
    unsigned pending;                /* signals on their way to cond */
    pid_t tid;                       /* 0 until first asked for */
};

extern CL_HIDDEN __thread struct cl_thread cl_self __attribute__((tls_model("initial-exec")));

/* Room was reserved (cl_thread_reserve). */
static inline void cl_record_held(struct cl_thread *t, caplimit_t *lim)
{
    t->held[t->n++] = lim;
}

/* Searches from the end: limiters are mostly released in reverse order. */
static inline void cl_record_released(struct cl_thread *t, caplimit_t *lim)
{
    size_t i = t->n;

    if (CL_LIKELY(i > 0 && t->held[i - 1] == lim)) {
        t->n--;
        return;
    }
    while (i-- > 0) {
        if (t->held[i] == lim) {
            t->held[i] = t->held[--t->n];
            return;
        }
    }
}

#endif /* CAPLIMIT_THREAD_H */
