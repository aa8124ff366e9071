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
    return cl_release(lim, cl_thread_key(pthread_self()), 0);
}

int caplimit_release_on_behalf_of(caplimit_t *lim, const void *borrower)
{
    if (lim == NULL || borrower == NULL)
        return EINVAL;
    return cl_release(lim, cl_object_key(borrower), 0);
}
