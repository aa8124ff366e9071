/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * Life cycle: create, destroy (R12), close (R18), drain (R29).
 */
#include "internal.h"

#include <errno.h>
#include <string.h>

/* Frees what create made; each part may be there or not. */
static void free_limiter(caplimit_t *lim, int lock_ready)
{
    if (lock_ready)
        pthread_mutex_destroy(lim->lock);
    cl_store_free(lim);
    cl_free(lim);
}

int caplimit_create(caplimit_t **out, size_t total_tokens)
{
    caplimit_t *lim;
    int rc;

    if (out == NULL)
        return EINVAL;
    lim = cl_malloc(sizeof *lim);
    if (lim == NULL)
        return ENOMEM;
    memset(lim, 0, sizeof *lim);
    if ((rc = cl_store_init(lim)) != 0) {
        cl_free(lim);
        return rc;
    }
    if ((rc = pthread_mutex_init(lim->lock, NULL)) != 0) {
        free_limiter(lim, 0);
        return rc == EAGAIN ? ENOMEM : rc;   /* no EAGAIN in the contract */
    }
    lim->st->total = total_tokens;
    cl_lane_want(lim, 1);
    cl_lane_open(lim);
    *out = lim;
    return 0;
}

int caplimit_destroy(caplimit_t *lim)
{
    int busy;

    if (lim == NULL)
        return EINVAL;
    if (lim->shared != NULL)
        return cl_shared_destroy(lim);
    cl_lock(lim);
    busy = cl_busy(lim);
    cl_unlock(lim);
    if (busy)
        return EBUSY;
    free_limiter(lim, 1);
    return 0;
}

int caplimit_close(caplimit_t *lim)
{
    if (lim == NULL)
        return EINVAL;
    cl_lock(lim);
    cl_close_queue(lim);
    return cl_unlock(lim);
}

int caplimit_is_closed(const caplimit_t *lim)
{
    int closed;

    if (lim == NULL)
        return 0;
    cl_lock(lim);
    closed = lim->st->closed != 0;   /* R27: a byte of the segment */
    cl_unlock(lim);
    return closed;
}

int caplimit_drain(caplimit_t *lim, clockid_t clock, const struct timespec *abstime)
{
    int rc;

    if (lim == NULL)
        return EINVAL;
    if (abstime != NULL && (rc = cl_check_deadline(clock, abstime)) != 0)
        return rc;
    pthread_testcancel();
    if (cl_lock_until(lim, clock, abstime) != 0)
        return ETIMEDOUT;
    return cl_drain(lim, clock, abstime);
}
