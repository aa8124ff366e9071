/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * The acquire family: argument checks (EINVAL first, even when a token is
 * free), R7's entry cancellation point, then the protocol in queue.c.
 */
#include "internal.h"

#include <errno.h>

int caplimit_acquire(caplimit_t *lim)
{
    if (lim == NULL)
        return EINVAL;
    pthread_testcancel();
    return cl_acquire(lim, cl_thread_key(pthread_self()), 1, CLOCK_MONOTONIC, NULL);
}

int caplimit_acquire_nowait(caplimit_t *lim)
{
    if (lim == NULL)
        return EINVAL;
    return cl_acquire(lim, cl_thread_key(pthread_self()), 0, CLOCK_MONOTONIC, NULL);
}

int caplimit_acquire_until(caplimit_t *lim, clockid_t clock, const struct timespec *abstime)
{
    int rc;

    if (lim == NULL)
        return EINVAL;
    if ((rc = cl_check_deadline(clock, abstime)) != 0)
        return rc;
    pthread_testcancel();
    return cl_acquire(lim, cl_thread_key(pthread_self()), 1, clock, abstime);
}

int caplimit_acquire_on_behalf_of(caplimit_t *lim, const void *borrower)
{
    if (lim == NULL || borrower == NULL)
        return EINVAL;
    pthread_testcancel();
    return cl_acquire(lim, cl_object_key(borrower), 1, CLOCK_MONOTONIC, NULL);
}

int caplimit_acquire_on_behalf_of_nowait(caplimit_t *lim, const void *borrower)
{
    if (lim == NULL || borrower == NULL)
        return EINVAL;
    return cl_acquire(lim, cl_object_key(borrower), 0, CLOCK_MONOTONIC, NULL);
}

int caplimit_acquire_on_behalf_of_until(caplimit_t *lim, const void *borrower,
                                        clockid_t clock, const struct timespec *abstime)
{
    int rc;

    if (lim == NULL || borrower == NULL)
        return EINVAL;
    if ((rc = cl_check_deadline(clock, abstime)) != 0)
        return rc;
    pthread_testcancel();
    return cl_acquire(lim, cl_object_key(borrower), 1, clock, abstime);
}
