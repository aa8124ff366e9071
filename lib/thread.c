/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * R22: no token lost to a dead thread.
 *
 * Each thread that has acquired as the default borrower keeps, in its own
 * thread-local record (thread.h), the limiters it holds.  Only that thread
 * ever reads or writes the record: under the lock of the limiter
 * concerned, or in the fast lane (lane.c), which needs no lock for it.
 * A pthread key whose value is the record makes the thread's exit run
 * give_back_all(), which releases what is left as caplimit_release would.
 * The record grows only in cl_thread_reserve (called by acquires, R15), so
 * release and thread exit never allocate.
 */
#include "internal.h"
#include "thread.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* initial-exec: a plain %fs-relative access instead of a __tls_get_addr
 * call on every acquire and release (a quarter of the uncontended cost).
 * The record is small enough for the static TLS room glibc keeps for
 * libraries loaded with dlopen. */
__thread struct cl_thread cl_self;
static pthread_key_t cl_exit_key;
static pthread_once_t cl_exit_once = PTHREAD_ONCE_INIT;
static int cl_exit_key_rc;

/* A waker may still be about to signal our condition variable (cl_unlock):
 * the record must outlive that signal, which takes only the waker's next
 * few instructions.  nanosleep is a cancellation point: not here. */
static void wait_for_signals_in_flight(struct cl_thread *t)
{
    struct timespec pause = { 0, 50000 };
    unsigned spins = 0;
    int state, saved = errno;        /* nanosleep may set it */

    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
    while (__atomic_load_n(&t->pending, __ATOMIC_ACQUIRE) != 0) {
        /* under real-time priorities a yield may never let a lower-priority
         * waker run: after a few, sleep */
        if (++spins < 64)
            sched_yield();
        else
            nanosleep(&pause, NULL);
    }
    pthread_setcancelstate(state, NULL);
    errno = saved;
}

static void give_back_all(void *arg)
{
    struct cl_thread *t = arg;
    struct cl_key me = cl_thread_key(pthread_self());

    while (t->n > 0) {
        if (cl_release(t->held[t->n - 1], me, CL_GIVE_ALL, 0) != 0)
            t->n--;                  /* not held after all: forget it */
    }
    cl_lane_leave(t->lane);          /* no slot of it holds: all given back */
    t->lane = 0;
    if (t->held != t->inline_held)
        cl_free(t->held);
    t->held = NULL;
    t->cap = 0;
    t->registered = 0;
    if (t->cond_ready) {
        wait_for_signals_in_flight(t);
        pthread_cond_destroy(&t->cond);
        t->cond_ready = 0;
    }
}

/* R25: a child made by fork is a new process; its one thread has a new
 * kernel id, and holds nothing the parent's thread held. */
static void after_fork_in_child(void)
{
    cl_self.tid = 0;
    cl_self.n = 0;
    if (cl_self.lane != 0)
        cl_lane_owner_forked(cl_self.lane, cl_thread_tid());
}

static pthread_once_t cl_fork_once = PTHREAD_ONCE_INIT;

static void install_fork_handler(void)
{
    pthread_atfork(NULL, NULL, after_fork_in_child);
}

static void make_exit_key(void)
{
    cl_exit_key_rc = pthread_key_create(&cl_exit_key, give_back_all);
    pthread_once(&cl_fork_once, install_fork_handler);
}

static int register_thread(struct cl_thread *t)
{
    pthread_once(&cl_exit_once, make_exit_key);
    if (cl_exit_key_rc != 0 || pthread_setspecific(cl_exit_key, t) != 0)
        return ENOMEM;
    t->held = t->inline_held;
    t->cap = CL_INLINE_HELD;
    t->registered = 1;
    t->lane = cl_lane_join(pthread_self(), cl_thread_tid());
    return 0;
}

int cl_thread_reserve(void)
{
    struct cl_thread *t = &cl_self;
    caplimit_t **held;

    if (CL_UNLIKELY(!t->registered) && register_thread(t) != 0)
        return ENOMEM;
    if (CL_LIKELY(t->n < t->cap))
        return 0;
    if (t->cap > SIZE_MAX / 2 / sizeof *held)
        return ENOMEM;
    if (t->held == t->inline_held) {
        held = cl_malloc(2 * t->cap * sizeof *held);
        if (held != NULL)
            memcpy(held, t->inline_held, t->n * sizeof *held);
    } else {
        held = cl_realloc(t->held, 2 * t->cap * sizeof *held);
    }
    if (held == NULL)
        return ENOMEM;
    t->held = held;
    t->cap *= 2;
    return 0;
}

int cl_thread_sleeper(struct cl_wake *out)
{
    struct cl_thread *t = &cl_self;

    if (CL_UNLIKELY(!t->registered) && register_thread(t) != 0)
        return ENOMEM;
    if (CL_UNLIKELY(!t->cond_ready)) {
        if (cl_cond_init(&t->cond) != 0)
            return ENOMEM;
        t->cond_ready = 1;
    }
    out->cond = &t->cond;
    out->pending = &t->pending;
    return 0;
}

pid_t cl_thread_tid(void)
{
    struct cl_thread *t = &cl_self;

    if (CL_UNLIKELY(t->tid == 0)) {
        pthread_once(&cl_fork_once, install_fork_handler);
        t->tid = (pid_t)syscall(SYS_gettid);
    }
    return t->tid;
}

void cl_thread_note_held(caplimit_t *lim)
{
    cl_record_held(&cl_self, lim);
}

void cl_thread_note_released(caplimit_t *lim)
{
    cl_record_released(&cl_self, lim);
}
