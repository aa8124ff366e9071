/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * caplimit.h: a capacity limiter for POSIX threads.
 *
 * A counting semaphore that knows who holds its tokens: a borrower (the
 * calling thread, or any object pointer) holds at most one token, waiters are
 * served in strict FIFO order, and the capacity can change at run time.
 * Every function that returns int returns 0 or a positive errno value, as the
 * pthreads functions do, and none of them sets errno.  The rules R1..R22
 * named below are those of the contract (man caplimit(7)).
 */
#ifndef CAPLIMIT_H
#define CAPLIMIT_H

#include <pthread.h>
#include <stddef.h>
#include <sys/types.h>                 /* clockid_t, even under -std=c99 */
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && defined(CAPLIMIT_BUILDING)
#define CAPLIMIT_API __attribute__((visibility("default")))
#else
#define CAPLIMIT_API
#endif

/* ---- Types and constants ----------------------------------------------- */

typedef struct caplimit caplimit_t;            /* opaque */

#define CAPLIMIT_INFINITE ((size_t)-1)         /* total_tokens without a limit */

enum caplimit_borrower_kind {
    CAPLIMIT_BORROWER_THREAD = 1,              /* the default borrower: a thread */
    CAPLIMIT_BORROWER_OBJECT = 2               /* a pointer given to *_on_behalf_of */
};

struct caplimit_borrower {
    enum caplimit_borrower_kind kind;
    pthread_t thread;                          /* valid when kind is THREAD */
    const void *object;                        /* valid when kind is OBJECT */
    size_t level;                              /* 1; the hold depth under R21 */
};

struct caplimit_statistics {
    size_t borrowed_tokens;
    size_t total_tokens;                       /* CAPLIMIT_INFINITE, or a count */
    size_t threads_waiting;
    size_t nborrowers;                         /* == borrowed_tokens */
    struct caplimit_borrower *borrowers;       /* nborrowers entries, any order */
};

enum caplimit_policy {
    CAPLIMIT_POLICY_FIFO = 0,                  /* R4, R5 exactly: the default */
    CAPLIMIT_POLICY_THROUGHPUT = 1             /* R17: bounded barging */
};

struct caplimit_counters {
    unsigned long long granted_at_once;        /* acquires that did not wait */
    unsigned long long granted_after_wait;     /* acquires that queued, then got a token */
    unsigned long long would_block;            /* nowait calls that returned EWOULDBLOCK */
    unsigned long long timed_out;              /* calls that returned ETIMEDOUT */
    unsigned long long cancelled;              /* R7: waiters ended by pthread_cancel */
    unsigned long long closed_out;             /* R18: calls that returned ECANCELED */
    unsigned long long abandoned;              /* R22: tokens given back at thread exit */
    unsigned long long wait_ns_total;          /* summed over granted_after_wait */
    unsigned long long wait_ns_max;            /* the longest of those waits */
    size_t max_threads_waiting;                /* the largest threads_waiting seen */
};

/* ---- Life cycle -------------------------------------------------------- */

/* A new limiter with total_tokens (R1); on failure *out is untouched. */
CAPLIMIT_API int caplimit_create(caplimit_t **out, size_t total_tokens);
/* Frees an idle limiter; EBUSY while tokens are borrowed or threads wait (R12). */
CAPLIMIT_API int caplimit_destroy(caplimit_t *lim);
/* Wakes every waiter with ECANCELED and refuses later acquires (R18). */
CAPLIMIT_API int caplimit_close(caplimit_t *lim);
CAPLIMIT_API int caplimit_is_closed(const caplimit_t *lim);

/* ---- Acquiring: the calling thread as borrower ------------------------- */

/* Waits as long as it takes; a cancellation point (R7). */
CAPLIMIT_API int caplimit_acquire(caplimit_t *lim);
/* EWOULDBLOCK instead of waiting (R4). */
CAPLIMIT_API int caplimit_acquire_nowait(caplimit_t *lim);
/* Waits at most until abstime on clock (CLOCK_REALTIME or CLOCK_MONOTONIC, R6). */
CAPLIMIT_API int caplimit_acquire_until(caplimit_t *lim, clockid_t clock,
                                        const struct timespec *abstime);

/* ---- Acquiring: any object as borrower (R2) ---------------------------- */

CAPLIMIT_API int caplimit_acquire_on_behalf_of(caplimit_t *lim, const void *borrower);
CAPLIMIT_API int caplimit_acquire_on_behalf_of_nowait(caplimit_t *lim,
                                                      const void *borrower);
CAPLIMIT_API int caplimit_acquire_on_behalf_of_until(caplimit_t *lim,
                                                     const void *borrower,
                                                     clockid_t clock,
                                                     const struct timespec *abstime);

/* ---- Releasing (R9) ---------------------------------------------------- */

CAPLIMIT_API int caplimit_release(caplimit_t *lim);
CAPLIMIT_API int caplimit_release_on_behalf_of(caplimit_t *lim, const void *borrower);

/* ---- Capacity (R1, R8, R11) -------------------------------------------- */

CAPLIMIT_API int caplimit_set_total_tokens(caplimit_t *lim, size_t total_tokens);
CAPLIMIT_API size_t caplimit_total_tokens(const caplimit_t *lim);
CAPLIMIT_API size_t caplimit_borrowed_tokens(const caplimit_t *lim);
CAPLIMIT_API size_t caplimit_available_tokens(const caplimit_t *lim);
CAPLIMIT_API size_t caplimit_threads_waiting(const caplimit_t *lim);

/* ---- Behaviour switches (R17, R21) ------------------------------------- */

/* bypass_ns 0 picks the default, 1 ms. */
CAPLIMIT_API int caplimit_set_policy(caplimit_t *lim, enum caplimit_policy policy,
                                     unsigned long long bypass_ns);
CAPLIMIT_API int caplimit_set_reentrant(caplimit_t *lim, int on);

/* ---- Looking inside (R10, R19, R20) ------------------------------------ */

/* One consistent snapshot; free it with caplimit_statistics_destroy. */
CAPLIMIT_API int caplimit_statistics(const caplimit_t *lim,
                                     struct caplimit_statistics *out);
CAPLIMIT_API void caplimit_statistics_destroy(struct caplimit_statistics *st);
CAPLIMIT_API int caplimit_counters(const caplimit_t *lim, struct caplimit_counters *out);
/* 1 when the borrower holds a token of lim, else 0. */
CAPLIMIT_API int caplimit_holds(const caplimit_t *lim);
CAPLIMIT_API int caplimit_holds_on_behalf_of(const caplimit_t *lim, const void *borrower);
/* "<caplimit at 0x..., 2/10 with 3 waiting>", with snprintf's return convention. */
CAPLIMIT_API int caplimit_format(const caplimit_t *lim, char *buf, size_t size);

/* ---- Scoped use: CAPLIMIT_WITH (GCC and Clang) -------------------------
 *
 *     int rc;
 *     CAPLIMIT_WITH(lim, rc) {
 *         ... runs only when caplimit_acquire(lim) returned 0 ...
 *     }
 *     if (rc != 0) ... the block did not run ...
 *
 * The token is given back however the block is left: falling off its end,
 * break, continue, return or goto.  (Thread cancellation and pthread_exit do
 * not run cleanup attributes in C; R22 gives such a token back.)
 */
#if defined(__GNUC__) || defined(__clang__)

struct caplimit__scope {
    caplimit_t *held;                          /* NULL once given back */
};

static inline struct caplimit__scope caplimit__scope_enter(caplimit_t *lim, int *rc)
{
    struct caplimit__scope s;
    *rc = caplimit_acquire(lim);
    s.held = *rc == 0 ? lim : NULL;
    return s;
}

static inline void caplimit__scope_leave(struct caplimit__scope *s)
{
    if (s->held != NULL) {
        caplimit_t *lim = s->held;
        s->held = NULL;
        (void)caplimit_release(lim);
    }
}

#define CAPLIMIT__CAT2(a, b) a##b
#define CAPLIMIT__CAT(a, b) CAPLIMIT__CAT2(a, b)
#define CAPLIMIT__WITH(lim, rc, s)                                              \
    for (struct caplimit__scope s __attribute__((cleanup(caplimit__scope_leave))) \
             = caplimit__scope_enter((lim), &(rc));                            \
         s.held != NULL; caplimit__scope_leave(&s))
#define CAPLIMIT_WITH(lim, rc)                                                  \
    CAPLIMIT__WITH(lim, rc, CAPLIMIT__CAT(caplimit__scope_, __COUNTER__))

#endif /* __GNUC__ || __clang__ */

#ifdef __cplusplus
}
#endif

#endif /* CAPLIMIT_H */
