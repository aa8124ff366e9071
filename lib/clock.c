/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * R6: a timed wait for a deadline on either clock.
 *
 * Every waiter's condition variable times out on CLOCK_MONOTONIC.  With
 * pthread_cond_clockwait the deadline goes to the kernel on the caller's
 * clock, which then follows that clock's steps itself.  Without it (musl,
 * FreeBSD), a CLOCK_MONOTONIC deadline is waited for as it is; a
 * CLOCK_REALTIME one becomes a span on CLOCK_MONOTONIC of at most
 * CL_REALTIME_POLL_NS, so a step of the realtime clock, either way, is
 * seen at the next wake-up.  In both cases the caller's clock is read
 * again before ETIMEDOUT is believed; any other return is a wake-up.
 */
#include "internal.h"

#include <errno.h>

/* How late a CLOCK_REALTIME deadline may notice a step of its clock on the
 * fallback path: a wake-up a second is nothing next to a sleep. */
#define CL_REALTIME_POLL_NS 1000000000L

/* The longest sleep on CLOCK_MONOTONIC asked for at once: far beyond any
 * real wait, far below what a time_t or a kernel's timeout could overflow. */
#define CL_FAR_S (1L << 30)

int cl_cond_init(pthread_cond_t *c)
{
    pthread_condattr_t a;
    int rc;

    if ((rc = pthread_condattr_init(&a)) != 0)
        return rc;
    rc = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(c, &a);
    pthread_condattr_destroy(&a);
    return rc;
}

/* now >= abstime, compared without subtracting (abstime may be anything). */
static int reached(const struct timespec *now, const struct timespec *abstime)
{
    return now->tv_sec > abstime->tv_sec
        || (now->tv_sec == abstime->tv_sec && now->tv_nsec >= abstime->tv_nsec);
}

#ifndef HAVE_PTHREAD_COND_CLOCKWAIT
/* now + min(abstime - now, cap_ns), on CLOCK_MONOTONIC; abstime > now, and
 * the span is saturated instead of overflowing. */
static struct timespec monotonic_target(const struct timespec *now, clockid_t clock,
                                        const struct timespec *abstime, long cap_ns)
{
    struct timespec mono, t;
    long long ns = cap_ns;

    /* now is a clock's reading, far from overflowing; abstime > now */
    if (abstime->tv_sec < now->tv_sec + CL_FAR_S)
        ns = ((long long)(abstime->tv_sec - now->tv_sec) * 1000000000LL
              + (abstime->tv_nsec - now->tv_nsec));
    else if (cap_ns == 0)
        ns = (long long)CL_FAR_S * 1000000000LL;
    if (cap_ns != 0 && ns > cap_ns)
        ns = cap_ns;
    if (clock == CLOCK_MONOTONIC)
        mono = *now;
    else
        clock_gettime(CLOCK_MONOTONIC, &mono);
    t.tv_sec = mono.tv_sec + (time_t)(ns / 1000000000LL);
    t.tv_nsec = mono.tv_nsec + (long)(ns % 1000000000LL);
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}
#endif

CL_UNWOUND_BY_CANCEL int cl_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, clockid_t clock,
                      const struct timespec *abstime)
{
    struct timespec now;
    int rc;

    clock_gettime(clock, &now);
    if (reached(&now, abstime))
        return ETIMEDOUT;
#ifdef HAVE_PTHREAD_COND_CLOCKWAIT
    rc = pthread_cond_clockwait(c, m, clock, abstime);
#else
    {
        long cap = clock == CLOCK_REALTIME ? CL_REALTIME_POLL_NS : 0;
        struct timespec t = monotonic_target(&now, clock, abstime, cap);
        rc = pthread_cond_timedwait(c, m, &t);
    }
#endif
    if (rc != ETIMEDOUT)
        return 0;
    clock_gettime(clock, &now);
    return reached(&now, abstime) ? ETIMEDOUT : 0;
}
