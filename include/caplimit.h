/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * caplimit.h: a capacity limiter for POSIX threads.
 *
 * A counting semaphore that knows who holds its tokens: a borrower (the
 * calling thread, or any object pointer) holds at most one hold (one token,
 * or n as one weighted hold), waiters are served in strict FIFO order, the
 * capacity can change at run time, and a limiter may be shared by every
 * process on the machine, which gets back all a process held when it ends.
 * Every function that returns int returns 0 or a positive errno value, as the
 * pthreads functions do, and none of them sets errno.  The rules R1..R29
 * named below are those of the contract (man caplimit(7)).
 *
 * Grouped by concept: types, life cycle, acquiring (one token for a thread
 * or an object, then weighted holds), releasing, capacity, switches,
 * looking inside, shared limiters, scoped use.
 */
#ifndef CAPLIMIT_H
#define CAPLIMIT_H

#include <fcntl.h>                     /* O_CREAT, O_EXCL for caplimit_open */
#include <pthread.h>
#include <stddef.h>
#include <sys/types.h>                 /* clockid_t, mode_t, pid_t */
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && defined(CAPLIMIT_BUILDING)
#define CAPLIMIT_API __attribute__((visibility("default")))
#else
#define CAPLIMIT_API
#endif

/* GCC and Clang: unsigned long long is an extension in C89, not an error. */
#if defined(__GNUC__) || defined(__clang__)
#define CAPLIMIT_EXTENSION_ __extension__
#else
#define CAPLIMIT_EXTENSION_
#endif

/* ---- Version ----------------------------------------------------------- */

#define CAPLIMIT_VERSION_MAJOR 1
#define CAPLIMIT_VERSION_MINOR 0
#define CAPLIMIT_VERSION_PATCH 0
/* One number that grows with each release: 0x010000 for 1.0.0. */
#define CAPLIMIT_VERSION_HEX                                                   \
    ((CAPLIMIT_VERSION_MAJOR << 16) | (CAPLIMIT_VERSION_MINOR << 8) |          \
     CAPLIMIT_VERSION_PATCH)

/* ---- Types and constants ----------------------------------------------- */

typedef struct caplimit caplimit_t;            /* opaque */

#ifdef __cplusplus
#define CAPLIMIT_INFINITE (static_cast<size_t>(-1))
#else
#define CAPLIMIT_INFINITE ((size_t)-1)         /* total_tokens without a limit */
#endif

enum caplimit_borrower_kind {
    CAPLIMIT_BORROWER_THREAD = 1,              /* the default borrower: a thread */
    CAPLIMIT_BORROWER_OBJECT = 2               /* a pointer given to *_on_behalf_of */
};

/* The layouts below are part of the ABI: fields keep their order and types,
 * and a later minor version only grows into the reserved tails, which the
 * library writes as 0 and callers must not rely on. */
struct caplimit_borrower {
    enum caplimit_borrower_kind kind;
    pthread_t thread;                          /* THREAD of this process; else 0 */
    const void *object;                        /* OBJECT: its address in its process */
    size_t level;                              /* 1; the hold depth under R21 */
    size_t tokens;                             /* R23: tokens it holds; 1 unless weighted */
    pid_t pid;                                 /* R25: the borrower's process */
    pid_t tid;                                 /* THREAD: its kernel thread id; else 0 */
    CAPLIMIT_EXTENSION_ unsigned long long reserved[4];            /* 0: room to grow */
};

struct caplimit_statistics {
    size_t borrowed_tokens;                    /* tokens held, all borrowers together */
    size_t total_tokens;                       /* CAPLIMIT_INFINITE, or a count */
    size_t threads_waiting;
    size_t nborrowers;                         /* borrowers that hold tokens */
    struct caplimit_borrower *borrowers;       /* nborrowers entries, any order */
    size_t tokens_waiting;                     /* R23: tokens the queued waiters ask for */
    CAPLIMIT_EXTENSION_ unsigned long long reserved[7];            /* 0: room to grow */
};

enum caplimit_policy {
    CAPLIMIT_POLICY_FIFO = 0,                  /* R4, R5 exactly: the default */
    CAPLIMIT_POLICY_THROUGHPUT = 1             /* R17: bounded barging */
};

struct caplimit_counters {
    CAPLIMIT_EXTENSION_ unsigned long long granted_at_once;        /* acquires that did not wait */
    CAPLIMIT_EXTENSION_ unsigned long long granted_after_wait;     /* acquires that queued, then got a token */
    CAPLIMIT_EXTENSION_ unsigned long long would_block;            /* nowait calls that returned EWOULDBLOCK */
    CAPLIMIT_EXTENSION_ unsigned long long timed_out;              /* calls that returned ETIMEDOUT */
    CAPLIMIT_EXTENSION_ unsigned long long cancelled;              /* R7: waiters ended by pthread_cancel */
    CAPLIMIT_EXTENSION_ unsigned long long closed_out;             /* R18: calls that returned ECANCELED */
    CAPLIMIT_EXTENSION_ unsigned long long abandoned;              /* R22: tokens given back at thread exit */
    CAPLIMIT_EXTENSION_ unsigned long long wait_ns_total;          /* summed over granted_after_wait */
    CAPLIMIT_EXTENSION_ unsigned long long wait_ns_max;            /* the longest of those waits */
    size_t max_threads_waiting;                /* the largest threads_waiting seen */
    CAPLIMIT_EXTENSION_ unsigned long long reclaimed;              /* R26: tokens taken back from ended processes */
    CAPLIMIT_EXTENSION_ unsigned long long reserved[7];            /* 0: room to grow */
};

/* "1.0.0": the version of the library the program runs with, which may be
 * newer than the CAPLIMIT_VERSION_* it was compiled with. */
CAPLIMIT_API const char *caplimit_version(void);

/* ---- Life cycle -------------------------------------------------------- */

/* A new limiter with total_tokens (R1); on failure *out is untouched. */
CAPLIMIT_API int caplimit_create(caplimit_t **out, size_t total_tokens);
/* Frees an idle limiter; EBUSY while tokens are borrowed or threads wait (R12). */
CAPLIMIT_API int caplimit_destroy(caplimit_t *lim);
/* Wakes every waiter with ECANCELED and refuses later acquires (R18). */
CAPLIMIT_API int caplimit_close(caplimit_t *lim);
CAPLIMIT_API int caplimit_is_closed(const caplimit_t *lim);
/* Waits until the limiter is idle, as caplimit_destroy needs it: no token
 * borrowed, nobody waiting, nobody woken by close still inside (R29).
 * abstime NULL waits as long as it takes; a cancellation point. */
CAPLIMIT_API int caplimit_drain(caplimit_t *lim, clockid_t clock,
                                const struct timespec *abstime);

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

/* ---- Acquiring: weighted holds (R23) ----------------------------------- *
 * n tokens as one hold; a NULL borrower is the calling thread. */

CAPLIMIT_API int caplimit_acquire_tokens(caplimit_t *lim, const void *borrower, size_t n);
CAPLIMIT_API int caplimit_acquire_tokens_nowait(caplimit_t *lim, const void *borrower,
                                                size_t n);
CAPLIMIT_API int caplimit_acquire_tokens_until(caplimit_t *lim, const void *borrower,
                                               size_t n, clockid_t clock,
                                               const struct timespec *abstime);

/* ---- Releasing (R9) ---------------------------------------------------- */

/* Give back the whole hold (at level 0 under R21). */
CAPLIMIT_API int caplimit_release(caplimit_t *lim);
CAPLIMIT_API int caplimit_release_on_behalf_of(caplimit_t *lim, const void *borrower);
/* Give back n of the hold's tokens (R23); n == held is the plain release. */
CAPLIMIT_API int caplimit_release_tokens(caplimit_t *lim, const void *borrower, size_t n);

/* ---- Capacity (R1, R8, R11) -------------------------------------------- */

CAPLIMIT_API int caplimit_set_total_tokens(caplimit_t *lim, size_t total_tokens);
CAPLIMIT_API size_t caplimit_total_tokens(const caplimit_t *lim);
CAPLIMIT_API size_t caplimit_borrowed_tokens(const caplimit_t *lim);
CAPLIMIT_API size_t caplimit_available_tokens(const caplimit_t *lim);
CAPLIMIT_API size_t caplimit_threads_waiting(const caplimit_t *lim);

/* ---- Behaviour switches (R17, R21) ------------------------------------- */

/* bypass_ns 0 picks the default, 1 ms. */
CAPLIMIT_EXTENSION_ CAPLIMIT_API int caplimit_set_policy(caplimit_t *lim, enum caplimit_policy policy,
                                     unsigned long long bypass_ns);
CAPLIMIT_API int caplimit_set_reentrant(caplimit_t *lim, int on);
/* The policy and bypass_ns in force (beyond the contract: caplimit(1)
 * reports them); either pointer may be NULL. */
CAPLIMIT_EXTENSION_ CAPLIMIT_API int caplimit_get_policy(const caplimit_t *lim,
                                                         enum caplimit_policy *policy,
                                                         unsigned long long *bypass_ns);

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

/* ---- Shared limiters (R24..R28) ----------------------------------------- *
 * One limiter for every process that opens it by name, as sem_open(3):
 * everything a process held is given back when it ends, however it ends. */

/* oflag is 0, O_CREAT or O_CREAT|O_EXCL; mode and total_tokens are used only
 * when this call creates the limiter.  caplimit_destroy closes the handle. */
CAPLIMIT_API int caplimit_open(caplimit_t **out, const char *name, int oflag,
                               mode_t mode, size_t total_tokens);
/* Removes the name; handles already open keep working. */
CAPLIMIT_API int caplimit_unlink(const char *name);
/* 1 for a limiter from caplimit_open, else 0. */
CAPLIMIT_API int caplimit_is_shared(const caplimit_t *lim);

/* ---- Scoped use: CAPLIMIT_WITH, CAPLIMIT_WITH_TOKENS (GCC and Clang) ----
 *
 *     int rc;
 *     CAPLIMIT_WITH(lim, rc) {
 *         ... runs only when caplimit_acquire(lim) returned 0 ...
 *     }
 *     if (rc != 0) ... the block did not run ...
 *
 *     CAPLIMIT_WITH_TOKENS(lim, borrower, n, rc) { ... }   (R23; NULL: the thread)
 *
 * The hold is given back however the block is left: falling off its end,
 * break, continue, return or goto; whatever the block already released is
 * not given back twice.  (Thread cancellation and pthread_exit do not run
 * cleanup attributes in C; R22 gives such a token back.)  The macros need
 * C99 or C++ (a declaration in a for statement).
 */
#if (defined(__GNUC__) || defined(__clang__))                                  \
    && (defined(__cplusplus) || (defined(__STDC_VERSION__) && __STDC_VERSION__ >= 199901L))

#if defined(__cplusplus) && __cplusplus >= 201103L
#define CAPLIMIT_NULL_ nullptr
#else
#define CAPLIMIT_NULL_ NULL
#endif

struct caplimit_scope_ {
    caplimit_t *held_;                         /* NULL once given back */
    const void *borrower_;                     /* NULL: the calling thread */
};

static __inline__ struct caplimit_scope_
caplimit_scope_enter_(caplimit_t *lim, const void *borrower, size_t n, int *rc)
{
    struct caplimit_scope_ s;
    *rc = caplimit_acquire_tokens(lim, borrower, n);
    s.held_ = *rc == 0 ? lim : CAPLIMIT_NULL_;
    s.borrower_ = borrower;
    return s;
}

/* Gives back what remains of the hold: EPERM when the block gave it all. */
static __inline__ void caplimit_scope_leave_(struct caplimit_scope_ *s)
{
    if (s->held_ != CAPLIMIT_NULL_) {
        caplimit_t *lim = s->held_;
        s->held_ = CAPLIMIT_NULL_;
        if (s->borrower_ == CAPLIMIT_NULL_)
            (void)caplimit_release(lim);
        else
            (void)caplimit_release_on_behalf_of(lim, s->borrower_);
    }
}

#define CAPLIMIT_PASTE_(a, b) a##b
#define CAPLIMIT_CONCAT_(a, b) CAPLIMIT_PASTE_(a, b)
#define CAPLIMIT_WITH_SCOPE_(lim, borrower, n, rc, s)                           \
    for (struct caplimit_scope_ s __attribute__((cleanup(caplimit_scope_leave_))) \
             = caplimit_scope_enter_((lim), (borrower), (n), &(rc));           \
         s.held_ != CAPLIMIT_NULL_; caplimit_scope_leave_(&s))
#define CAPLIMIT_WITH_TOKENS(lim, borrower, n, rc)                              \
    CAPLIMIT_WITH_SCOPE_(lim, borrower, n, rc,                                 \
                         CAPLIMIT_CONCAT_(caplimit_scope_, __COUNTER__))
#define CAPLIMIT_WITH(lim, rc) CAPLIMIT_WITH_TOKENS(lim, CAPLIMIT_NULL_, 1, rc)

#endif /* (__GNUC__ || __clang__) && (C99 || C++) */

#ifdef __cplusplus
}
#endif

#endif /* CAPLIMIT_H */
