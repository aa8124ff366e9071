/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * Helpers for the multi-process suites of shared limiters (R24..R29).
 *
 * Names: sh_name() gives a name unique to this run and test, unlinked
 * before use, and unlinked again by sh_cleanup(), which a checked fixture's
 * teardown and an atexit handler both call (Check's fork mode ends a
 * failing test with exit(), which skips the teardown); sh_main() sweeps
 * what a timed-out test left behind.
 *
 * Agents: sh_agent_start() forks a process that opens the limiter by name
 * and then obeys commands sent through a pipe, replying through one pipe
 * that every agent shares, so the order of the messages there is the order
 * in which the agents sent them (a grant is reported before the token is
 * given back: the order of GRANT messages is the order of the grants).
 * An agent's worker threads (slots) make waiting acquires while the agent
 * stays responsive.  Every agent is reaped, or killed and reaped, by
 * sh_cleanup() whatever happens.  Agents report a failure through their
 * report pipe and exit status; the test asserts after reaping.
 */
#ifndef CAPLIMIT_TESTS_SHARED_HARNESS_H
#define CAPLIMIT_TESTS_SHARED_HARNESS_H

#include "harness.h"

#include <sys/types.h>

/* ---- Names -------------------------------------------------------------- */

/* "/caplimit-test-<runner pid>-<pid>-<n>": new, unlinked, and registered. */
const char *sh_name(void);
/* The same, padded with 'x' to len characters after the leading '/'. */
const char *sh_name_len(size_t len);
/* Kills and reaps every agent and child still alive, unlinks every name. */
void sh_cleanup(void);
/* The fixture's setup: installs the atexit handler once. */
void sh_setup(void);
/* Runs the suite as harness_run does, with the fixture, then sweeps. */
int sh_main(Suite *s);

/* caplimit_open with O_CREAT|O_EXCL and mode 0600, or the test fails. */
caplimit_t *sh_create(const char *name, size_t total);
/* caplimit_open with oflag 0, or the test fails. */
caplimit_t *sh_open(const char *name);
/* caplimit_destroy, which must succeed. */
void sh_close(caplimit_t *lim);

/* ---- Time ---------------------------------------------------------------- */

long long sh_now_ns(void);
/* Spins (no sleep) for a random span of up to max_us microseconds. */
void sh_spin_us(unsigned *seed, unsigned max_us);

/* ---- Plain children ------------------------------------------------------ */

/* Failures inside a child process: the first is written to the report
 * pipe and the child exits with status 1 at once. */
#define CHILD_CHECK(expr)                                                      \
    do {                                                                       \
        if (!(expr))                                                           \
            sh_child_fail(__FILE__, __LINE__, #expr);                          \
    } while (0)
#define CHILD_CHECK_EQ(a, b)                                                   \
    do {                                                                       \
        long long a_ = (long long)(a), b_ = (long long)(b);                    \
        if (a_ != b_)                                                          \
            sh_child_failf(__FILE__, __LINE__, "%s == %s (%lld != %lld)", #a,  \
                           #b, a_, b_);                                        \
    } while (0)
void sh_child_fail(const char *file, int line, const char *what) __attribute__((noreturn));
void sh_child_failf(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));

struct sh_child {
    pid_t pid;
    int report;                      /* read end of the child's report pipe */
    int reaped;
    int status;
    int forgotten;                   /* reaped, and its slot free for another */
};

/* Forks a child that runs fn(arg) and exits 0 when fn returns. */
struct sh_child *sh_fork(void (*fn)(void *), void *arg);
/* Waits (under a deadline) for the child to end; its wait status. */
int sh_reap(struct sh_child *c);
/* Reaps and fails the test unless the child exited with status 0. */
void sh_reap_ok(struct sh_child *c);
/* SIGKILL, then reap; the time (sh_now_ns) at which waitpid returned. */
long long sh_kill(struct sh_child *c);

/* Frees a reaped child's slot, for tests that fork many in turn. */
void sh_forget(struct sh_child *c);

/* A start gate: children block in sh_gate_wait until sh_gate_open. */
struct sh_gate {
    int fd[2];
};
void sh_gate_init(struct sh_gate *g);
void sh_gate_wait(struct sh_gate *g);      /* in the child */
void sh_gate_open(struct sh_gate *g);      /* in the parent, once */

/* A page shared by the test and every child forked after it. */
void *sh_shared_page(size_t size);

/* ---- Agents -------------------------------------------------------------- */

enum sh_op {
    SH_ACQ,          /* a = variant, b = object index, c = deadline ms: rc */
    SH_REL,          /* a = variant, b = object index: rc */
    SH_ACQ_TOKENS,   /* a = object index or -1 (thread), b = n, c = ms (<0: plain, 0: nowait) */
    SH_REL_TOKENS,   /* a = object index or -1, b = n */
    SH_HOLDS,        /* a = object index or -1 */
    SH_SET_TOTAL,    /* a = total */
    SH_SET_POLICY,   /* a = policy, b = bypass_ns */
    SH_SET_REENTRANT,/* a = on */
    SH_CLOSE,
    SH_IS_CLOSED,
    SH_DESTROY,
    SH_WAITING,      /* caplimit_threads_waiting */
    SH_BORROWED,     /* caplimit_borrowed_tokens */
    SH_TID,          /* the agent's main thread's kernel thread id */
    SH_CHECK_STATS,  /* a snapshot: thread set only for our threads: 0 or a line */
    SH_START,        /* a = slot, b = variant, c = object index, d = ms, e = n,
                        f = auto release: a worker thread acquires; replies at once,
                        then sends SH_GRANT (rc) when the acquire returns */
    SH_WREL,         /* a = slot: the worker releases, then ends: rc */
    SH_WCANCEL,      /* a = slot: pthread_cancel + join: 1 if cancelled */
    SH_WJOIN,        /* a = slot: join the worker */
    SH_EXIT,         /* a = status: exit() without giving anything back */
    SH__EXIT,        /* a = status: _exit() */
    SH_ABORT,
    SH_CRASH,        /* a SIGSEGV */
    SH_DRAIN         /* a = ms (<0: no deadline): rc */
};

enum sh_msg_type {
    SH_REPLY = 1,
    SH_GRANT = 2,    /* a worker's acquire returned (rc, t = its time) */
    SH_READY = 3
};

struct sh_msg {
    int agent;
    int type;
    int slot;
    int rc;
    long long t;                     /* sh_now_ns() when sent */
    long long val;
};

struct sh_agent {
    struct sh_child *child;
    int id;
    int cmd;                         /* write end of the command pipe */
};

/* The first agent made in a test creates the shared reply pipe. */
struct sh_agent *sh_agent_start(const char *name);
/* The same, but the agent uses lim inherited through fork (R25). */
struct sh_agent *sh_agent_start_inherit(caplimit_t *lim);
/* Sends a command and waits for its reply; the reply's rc. */
long long sh_do(struct sh_agent *a, enum sh_op op, long long x, long long y, long long z);
/* SH_START: worker slot in agent a acquires (variant v, object obj, deadline
 * ms from the call, n tokens for the weighted variant when n > 1). */
void sh_start(struct sh_agent *a, int slot, enum harness_variant v, int obj, long ms,
              size_t n, int autorelease);
/* Waits for the SH_GRANT of (a, slot); the message. */
struct sh_msg sh_grant(struct sh_agent *a, int slot);
/* Has the SH_GRANT of (a, slot) arrived (without waiting long)? */
int sh_granted(struct sh_agent *a, int slot);
/* The order in which GRANT messages arrived: index of (a, slot), or -1. */
int sh_grant_index(struct sh_agent *a, int slot);
/* Ends an agent cleanly (it destroys nothing) and reaps it: exit status 0. */
void sh_agent_stop(struct sh_agent *a);
/* SIGKILL and reap; the time waitpid returned. */
long long sh_agent_kill(struct sh_agent *a);
pid_t sh_agent_pid(struct sh_agent *a);

/* The agents' objects: the same addresses in every process of the test. */
extern char sh_objs[64];

#endif
