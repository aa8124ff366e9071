/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * Capacity: the total (R1, R8), the counts (R11), and the switches that
 * change how tokens are handed out (R17, R21).  Each getter reads one field
 * under the lock; a NULL limiter answers 0.
 */
#include "internal.h"

#include <errno.h>

int caplimit_set_total_tokens(caplimit_t *lim, size_t total_tokens)
{
    if (lim == NULL)
        return EINVAL;
    cl_lock(lim);
    cl_set_total(lim, total_tokens);
    return cl_unlock(lim);
}

size_t caplimit_total_tokens(const caplimit_t *lim)
{
    size_t v;

    if (lim == NULL)
        return 0;
    cl_lock(lim);
    v = lim->st->total;
    cl_unlock(lim);
    return v;
}

size_t caplimit_borrowed_tokens(const caplimit_t *lim)
{
    size_t v;

    if (lim == NULL)
        return 0;
    cl_lock(lim);
    v = lim->st->borrowed;
    cl_unlock(lim);
    return v;
}

size_t caplimit_threads_waiting(const caplimit_t *lim)
{
    size_t v;

    if (lim == NULL)
        return 0;
    cl_lock(lim);
    v = lim->st->nwaiting;
    cl_unlock(lim);
    return v;
}

/* R11 */
size_t caplimit_available_tokens(const caplimit_t *lim)
{
    size_t v;

    if (lim == NULL)
        return 0;
    cl_lock(lim);
    if (lim->st->total == CAPLIMIT_INFINITE)
        v = CAPLIMIT_INFINITE;
    else
        v = lim->st->borrowed >= lim->st->total ? 0 : lim->st->total - lim->st->borrowed;
    cl_unlock(lim);
    return v;
}

int caplimit_set_policy(caplimit_t *lim, enum caplimit_policy policy,
                        unsigned long long bypass_ns)
{
    if (lim == NULL)
        return EINVAL;
    if (policy != CAPLIMIT_POLICY_FIFO && policy != CAPLIMIT_POLICY_THROUGHPUT)
        return EINVAL;
    cl_lock(lim);
    lim->st->policy = (unsigned char)policy;
    lim->st->bypass_ns = bypass_ns != 0 ? bypass_ns : CL_DEFAULT_BYPASS_NS;
    cl_dispatch(lim);
    cl_unlock(lim);
    return 0;
}

int caplimit_get_policy(const caplimit_t *lim, enum caplimit_policy *policy,
                        unsigned long long *bypass_ns)
{
    if (lim == NULL)
        return EINVAL;
    cl_lock(lim);
    if (policy != NULL)
        /* R27: the policy the protocol acts on, whatever the byte says */
        *policy = lim->st->policy == CAPLIMIT_POLICY_THROUGHPUT ? CAPLIMIT_POLICY_THROUGHPUT
                                                                : CAPLIMIT_POLICY_FIFO;
    if (bypass_ns != NULL)
        *bypass_ns = lim->st->bypass_ns;
    return cl_unlock(lim);
}

int caplimit_set_reentrant(caplimit_t *lim, int on)
{
    int rc = 0;

    if (lim == NULL)
        return EINVAL;
    cl_lock(lim);
    if (!on && lim->st->extra_levels != 0)
        rc = EBUSY;
    else
        lim->st->reentrant = on != 0;
    cl_unlock(lim);
    return rc;
}
