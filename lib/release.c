/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * The release family (R9); the protocol is in queue.c.  A thread's token
 * taken in the fast lane goes back there (lane.c).
 */
#include "internal.h"

#include <errno.h>

int caplimit_release(caplimit_t *lim)
{
    if (lim == NULL)
        return EINVAL;
    if (cl_lane_release(lim) == 0)
        return 0;
    return cl_release(lim, cl_thread_key(pthread_self()), CL_GIVE_LEVEL, 0);
}

int caplimit_release_on_behalf_of(caplimit_t *lim, const void *borrower)
{
    if (lim == NULL || borrower == NULL)
        return EINVAL;
    return cl_release(lim, cl_object_key(borrower), CL_GIVE_LEVEL, 0);
}

/* R23: checks n, then EPERM before n > held (in queue.c). */
int caplimit_release_tokens(caplimit_t *lim, const void *borrower, size_t n)
{
    if (lim == NULL || n == 0)
        return EINVAL;
    if (borrower == NULL && n == 1 && cl_lane_release(lim) == 0)
        return 0;                    /* a lane hold is one token */
    return cl_release(lim, cl_borrower_key(borrower), CL_GIVE_TOKENS, n);
}
