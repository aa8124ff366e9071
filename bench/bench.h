/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * bench.h: what the benchmark's parts share.
 *   limiters.c   one interface over libcaplimit and its baselines: sem_t,
 *                the naive FIFO limiter (one mutex, one condition variable,
 *                broadcast) and the baton floor (a semaphore per thread).
 *   scenarios.c  the measurements: uncontended pairs, object borrowers, the
 *                hand-off chain, the crowd (many threads, few tokens), the
 *                wait-time tail.
 *   weighted.c   weighted holds (R23) in a crowd, against Go's
 *                semaphore.Weighted algorithm written in C.
 *   shared.c     shared limiters (R24): names, the process-shared sem_t,
 *                the ping-pong between two processes.
 *   bench.c      rounds, medians, the table, the CSV.
 */
#ifndef CAPLIMIT_BENCH_H
#define CAPLIMIT_BENCH_H

#include <caplimit.h>

/* Part two of the API, weak: the same binary runs against a library built
 * before it (the before/after comparison), and skips its figures there. */
#pragma weak caplimit_acquire_tokens
#pragma weak caplimit_open
#pragma weak caplimit_unlink

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stddef.h>

#define CROWD_MAX 64                 /* threads in a crowd */
#define TAIL_BUCKETS 640             /* log-linear histogram of wait times */

/* ---- Limiters ---------------------------------------------------------- */

enum lim_kind {
    LIM_CAP,                         /* libcaplimit, strict FIFO (default) */
    LIM_CAP_THROUGHPUT,              /* libcaplimit, CAPLIMIT_POLICY_THROUGHPUT */
    LIM_SEM,                         /* sem_t */
    LIM_NAIVE,                       /* mutex + one cond + broadcast, FIFO tickets */
    LIM_BATON                        /* a semaphore per thread, tokens as batons */
};

/* FIFO by tickets: every change is broadcast and every waiter wakes to see
 * whether its ticket is served: the thundering herd libcaplimit avoids. */
struct naive {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    size_t avail, waiting;
    unsigned long next, serving;
    int closed;
};

struct lim {
    enum lim_kind kind;
    caplimit_t *cap;
    sem_t sem;
    struct naive naive;
    sem_t *baton;                    /* LIM_BATON: one per thread */
    unsigned tokens, nthreads;       /* LIM_BATON */
};

void lim_init(struct lim *l, enum lim_kind kind, unsigned tokens, unsigned nthreads);
void lim_destroy(struct lim *l);
/* self is the calling thread's index, used by LIM_BATON only: in
 * lim_acquire thread self waits for its own baton, and lim_release passes
 * it on to thread (self + l->tokens) % l->nthreads.  lim_acquire answers 0
 * or an errno value: ECANCELED once the limiter is closed. */
int lim_acquire(struct lim *l, unsigned self);
void lim_release(struct lim *l, unsigned self);
/* Threads asleep in lim_acquire (LIM_BATON cannot tell: 0). */
size_t lim_waiting(struct lim *l);
/* Wakes every waiter with ECANCELED (LIM_BATON: posts every semaphore). */
void lim_close(struct lim *l);
const char *lim_name(enum lim_kind kind);

/* ---- Scenarios: each returns ns per operation ------------------------- */

struct result {
    double ns;                       /* per pair, hand-off or critical section */
    double csw;                      /* context switches per operation */
    double cpu;                      /* CPU time (all threads) per operation, ns */
    /* timed crowds only: every acquire's duration by the bench's clock ... */
    double p50, p99, max;
    /* ... and the library's counters over the interval: the mean wait of
     * the acquires that queued, the share that queued, and wait_ns_max
     * (since the limiter was created, so warm-up included) */
    double lib_mean, lib_waited, lib_max;
    double handoff_share;            /* ping-pong: grants that were hand-offs */
    double polls, yields;            /* ping-pong: threads_waiting, sched_yield per hand-off */
};

struct params {
    unsigned long pairs;             /* uncontended pairs per measurement */
    unsigned warm_ms;                /* before the clock starts */
    unsigned handoff_ms, crowd_ms;   /* measured time */
    unsigned spin_iters;             /* the critical section's work */
};

enum pair_kind {
    PAIR_CAP_NOWAIT,                 /* caplimit_acquire_nowait + caplimit_release */
    PAIR_SEM_TRYWAIT,
    PAIR_CAP_WAIT,                   /* caplimit_acquire + caplimit_release */
    PAIR_SEM_WAIT,
    PAIR_SHM_CAP_NOWAIT,             /* the same on a caplimit_open'ed limiter ... */
    PAIR_SHM_SEM_TRYWAIT,            /* ... and a process-shared sem_t */
    PAIR_SHM_CAP_WAIT,
    PAIR_SHM_SEM_WAIT
};

enum probe_kind {
    PROBE_DISTINCT,                  /* NPROBES distinct objects, in turn */
    PROBE_FRESH                      /* a fresh allocation for every pair */
};

#define NPROBES 1024

struct result run_pairs(const struct params *p, enum pair_kind kind);
/* Pairs on behalf of objects, in a limiter where others may already hold. */
struct result run_object_pairs(const struct params *p, caplimit_t *lim, enum probe_kind kind);
struct result run_chain(const struct params *p, enum lim_kind kind, unsigned nthreads);
/* timed: also time every acquire (the wait-time tail). */
struct result run_crowd(const struct params *p, enum lim_kind kind, unsigned nthreads,
                        unsigned tokens, int timed);

/* ---- Weighted holds (weighted.c) -------------------------------------- */

#define WEIGHT_MAX 8                 /* requests of 1..WEIGHT_MAX tokens */

/* Go's x/sync/semaphore.Weighted, its algorithm in C. */
struct gw_waiter;
struct gosem {
    pthread_mutex_t lock;
    size_t size, cur, nwaiting;
    struct gw_waiter *head, *tail;
    int closed;
};

void gosem_init(struct gosem *s, size_t size);
void gosem_destroy(struct gosem *s);
int gosem_acquire(struct gosem *s, size_t n);   /* 0 or ECANCELED */
void gosem_release(struct gosem *s, size_t n);
void gosem_close(struct gosem *s);

enum wkind { W_CAP, W_CAP_THROUGHPUT, W_GO };

/* nthreads each taking 1..WEIGHT_MAX tokens (a fixed sequence) of tokens. */
struct result run_weighted(const struct params *p, enum wkind kind, unsigned nthreads,
                           unsigned tokens, int timed);

/* ---- Shared limiters (shared.c) --------------------------------------- */

/* PONG_SEM hands off only to a side already waiting, as PONG_CAP must;
 * PONG_SEM_FREE is the classic ping-pong, posts running ahead. */
enum pong_kind { PONG_CAP, PONG_SEM, PONG_SEM_FREE };

/* A new shared limiter, its name made and unlinked already. */
caplimit_t *shared_open(size_t total);
sem_t *shared_sem(unsigned value);
void shared_sem_free(sem_t *s);
/* Hand-offs between a thread of this process and a child process. */
struct result run_pong(const struct params *p, enum pong_kind kind);

/* A thread that sleeps through the whole run: glibc's locks skip their
 * atomic instructions while a process has a single thread, and programs
 * that use a limiter have more than one. */
void bystander_start(void);
void bystander_stop(void);

unsigned calibrate_spin(unsigned target_ns);

/* ---- Helpers (scenarios.c) -------------------------------------------- */

extern volatile unsigned long long spin_sink;
unsigned long long spin(unsigned n, unsigned long long x);
unsigned bucket_of(unsigned long long v);
double bucket_floor(unsigned b);
pthread_t *spawn(unsigned n, void *(*fn)(void *), void *args, size_t argsize);
void join(pthread_t *t, unsigned n);
struct result measure(const struct params *p, unsigned ms, unsigned long (*count)(void *),
                      void (*mark)(void *, int), void *arg);

unsigned long long now_ns(void);
void sleep_ms(unsigned ms);
/* Of the whole process so far: context switches, and CPU time in ns. */
void usage_so_far(long *csw, unsigned long long *cpu_ns);
_Noreturn void die(const char *what, int rc);

#define CHECK(call)                                                            \
    do {                                                                       \
        int check_rc_ = (call);                                                \
        if (check_rc_ != 0)                                                    \
            die(#call, check_rc_);                                             \
    } while (0)

#endif /* CAPLIMIT_BENCH_H */
