/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * The acquire family: argument checks (EINVAL first, even when a token is
 * free), R7's entry cancellation point, then the protocol in queue.c.
 * Every variant is a weighted acquire (R23) of one or n tokens; a thread's
 * one token is first tried in the fast lane (lane.c), after the checks.
 */
#include "internal.h"

#include <errno.h>

/* The calling thread's one token, without the lock. */
static int in_lane(caplimit_t *lim, struct cl_key key, size_t n)
{
    return n == 1 && key.kind == CAPLIMIT_BORROWER_THREAD && cl_lane_acquire(lim) == 0;
}

/* n tokens for key, waiting as long as it takes. */
static int acquire_waiting(caplimit_t *lim, struct cl_key key, size_t n)
{
    pthread_testcancel();
    if (in_lane(lim, key, n))
        return 0;
    return cl_acquire(lim, key, n, CL_MAY_WAIT, CLOCK_MONOTONIC, NULL);
}

static int acquire_until(caplimit_t *lim, struct cl_key key, size_t n,
                         clockid_t clock, const struct timespec *abstime)
{
    int rc = cl_check_deadline(clock, abstime);

    if (rc != 0)
        return rc;
    pthread_testcancel();
    if (in_lane(lim, key, n))
        return 0;
    return cl_acquire(lim, key, n, CL_MAY_WAIT, clock, abstime);
}

static int acquire_nowait(caplimit_t *lim, struct cl_key key, size_t n)
{
    if (in_lane(lim, key, n))
        return 0;
    return cl_acquire(lim, key, n, CL_NOWAIT, CLOCK_MONOTONIC, NULL);
}

/* R23: n of 0, or CAPLIMIT_INFINITE, is not a request. */
static int bad_count(size_t n)
{
    return n == 0 || n == CAPLIMIT_INFINITE;
}

/* The two one-token thread calls try the lane before they name the thread:
 * the uncontended pair then costs no pthread_self (figure 1). */
int caplimit_acquire(caplimit_t *lim)
{
    if (lim == NULL)
        return EINVAL;
    pthread_testcancel();
    if (cl_lane_acquire(lim) == 0)
        return 0;
    return cl_acquire(lim, cl_thread_key(pthread_self()), 1, CL_MAY_WAIT, CLOCK_MONOTONIC, NULL);
}

int caplimit_acquire_nowait(caplimit_t *lim)
{
    if (lim == NULL)
        return EINVAL;
    if (cl_lane_acquire(lim) == 0)
        return 0;
    return cl_acquire(lim, cl_thread_key(pthread_self()), 1, CL_NOWAIT, CLOCK_MONOTONIC, NULL);
}

int caplimit_acquire_until(caplimit_t *lim, clockid_t clock, const struct timespec *abstime)
{
    if (lim == NULL)
        return EINVAL;
    return acquire_until(lim, cl_thread_key(pthread_self()), 1, clock, abstime);
}

int caplimit_acquire_on_behalf_of(caplimit_t *lim, const void *borrower)
{
    if (lim == NULL || borrower == NULL)
        return EINVAL;
    return acquire_waiting(lim, cl_object_key(borrower), 1);
}

int caplimit_acquire_on_behalf_of_nowait(caplimit_t *lim, const void *borrower)
{
    if (lim == NULL || borrower == NULL)
        return EINVAL;
    return acquire_nowait(lim, cl_object_key(borrower), 1);
}

int caplimit_acquire_on_behalf_of_until(caplimit_t *lim, const void *borrower,
                                        clockid_t clock, const struct timespec *abstime)
{
    if (lim == NULL || borrower == NULL)
        return EINVAL;
    return acquire_until(lim, cl_object_key(borrower), 1, clock, abstime);
}

int caplimit_acquire_tokens(caplimit_t *lim, const void *borrower, size_t n)
{
    if (lim == NULL || bad_count(n))
        return EINVAL;
    return acquire_waiting(lim, cl_borrower_key(borrower), n);
}

int caplimit_acquire_tokens_nowait(caplimit_t *lim, const void *borrower, size_t n)
{
    if (lim == NULL || bad_count(n))
        return EINVAL;
    return acquire_nowait(lim, cl_borrower_key(borrower), n);
}

int caplimit_acquire_tokens_until(caplimit_t *lim, const void *borrower, size_t n,
                                  clockid_t clock, const struct timespec *abstime)
{
    if (lim == NULL || bad_count(n))
        return EINVAL;
    return acquire_until(lim, cl_borrower_key(borrower), n, clock, abstime);
}
