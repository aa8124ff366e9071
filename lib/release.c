/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * The release family (R9); the protocol is in queue.c.
 */
#include "internal.h"

#include <errno.h>

int caplimit_release(caplimit_t *lim)
{
    if (lim == NULL)
        return EINVAL;
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
    return cl_release(lim, cl_borrower_key(borrower), CL_GIVE_TOKENS, n);
}
