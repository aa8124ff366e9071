/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * Life cycle: create, destroy (R12), close (R18).
 */
#include "internal.h"

#include <errno.h>
#include <string.h>

int caplimit_create(caplimit_t **out, size_t total_tokens)
{
    caplimit_t *lim;

    if (out == NULL)
        return EINVAL;
    lim = cl_malloc(sizeof *lim);
    if (lim == NULL)
        return ENOMEM;
    memset(lim, 0, sizeof *lim);
    cl_borrowers_init(&lim->borrowers);
    /* room for the first borrowers now, so the common path never allocates */
    if (cl_borrowers_reserve(&lim->borrowers) != 0) {
        cl_borrowers_free(&lim->borrowers);      /* entries may have grown */
        cl_free(lim);
        return ENOMEM;
    }
    if (pthread_mutex_init(&lim->lock, NULL) != 0) {
        cl_borrowers_free(&lim->borrowers);
        cl_free(lim);
        return ENOMEM;
    }
    lim->total = total_tokens;
    lim->policy = CAPLIMIT_POLICY_FIFO;
    lim->bypass_ns = CL_DEFAULT_BYPASS_NS;
    *out = lim;
    return 0;
}

int caplimit_destroy(caplimit_t *lim)
{
    int busy;

    if (lim == NULL)
        return EINVAL;
    pthread_mutex_lock(&lim->lock);
    busy = lim->borrowed != 0 || lim->inside != 0;
    pthread_mutex_unlock(&lim->lock);
    if (busy)
        return EBUSY;
    pthread_mutex_destroy(&lim->lock);
    cl_borrowers_free(&lim->borrowers);
    cl_free(lim);
    return 0;
}

int caplimit_close(caplimit_t *lim)
{
    if (lim == NULL)
        return EINVAL;
    pthread_mutex_lock(&lim->lock);
    cl_close_queue(lim);
    cl_unlock(lim);
    return 0;
}

int caplimit_is_closed(const caplimit_t *lim)
{
    int closed;

    if (lim == NULL)
        return 0;
    pthread_mutex_lock(cl_lock_of(lim));
    closed = lim->closed;
    pthread_mutex_unlock(cl_lock_of(lim));
    return closed;
}
