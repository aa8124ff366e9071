/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * Capacity: the total (R1, R8), the counts (R11), and the switches that
 * change how tokens are handed out (R17, R21).
 */
#include "internal.h"

#include <errno.h>

int caplimit_set_total_tokens(caplimit_t *lim, size_t total_tokens)
{
    if (lim == NULL)
        return EINVAL;
    pthread_mutex_lock(&lim->lock);
    lim->total = total_tokens;
    cl_dispatch(lim);
    cl_unlock(lim);
    return 0;
}

/* Reads one field under the lock; NULL answers 0. */
#define CL_GETTER(name, expr)                                                  \
    size_t name(const caplimit_t *lim)                                         \
    {                                                                          \
        size_t v;                                                              \
        if (lim == NULL)                                                       \
            return 0;                                                          \
        pthread_mutex_lock(cl_lock_of(lim));                                   \
        v = (expr);                                                            \
        pthread_mutex_unlock(cl_lock_of(lim));                                 \
        return v;                                                              \
    }

CL_GETTER(caplimit_total_tokens, lim->total)
CL_GETTER(caplimit_borrowed_tokens, lim->borrowed)
CL_GETTER(caplimit_threads_waiting, lim->nwaiting)
CL_GETTER(caplimit_available_tokens,
          lim->total == CAPLIMIT_INFINITE ? CAPLIMIT_INFINITE
          : lim->borrowed >= lim->total  ? 0
                                          : lim->total - lim->borrowed)

int caplimit_set_policy(caplimit_t *lim, enum caplimit_policy policy,
                        unsigned long long bypass_ns)
{
    if (lim == NULL)
        return EINVAL;
    if (policy != CAPLIMIT_POLICY_FIFO && policy != CAPLIMIT_POLICY_THROUGHPUT)
        return EINVAL;
    pthread_mutex_lock(&lim->lock);
    lim->policy = (unsigned char)policy;
    lim->bypass_ns = bypass_ns != 0 ? bypass_ns : CL_DEFAULT_BYPASS_NS;
    cl_dispatch(lim);
    cl_unlock(lim);
    return 0;
}

int caplimit_set_reentrant(caplimit_t *lim, int on)
{
    int rc = 0;

    if (lim == NULL)
        return EINVAL;
    pthread_mutex_lock(&lim->lock);
    if (!on && lim->extra_levels != 0)
        rc = EBUSY;
    else
        lim->reentrant = on != 0;
    pthread_mutex_unlock(&lim->lock);
    return rc;
}
