/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * The measurements.  Threaded ones start the clock only once the threads
 * are in place and a warm-up has passed, then count operations over a fixed
 * time, so thread creation and tear-down never show in a figure.
 */
#include "bench.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* ---- Helpers ----------------------------------------------------------- */

unsigned long long now_ns(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (unsigned long long)t.tv_sec * 1000000000ULL + (unsigned long long)t.tv_nsec;
}

void sleep_ms(unsigned ms)
{
    struct timespec t = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
}

/* CPU time of the calling thread: a loop that runs alone on its thread is
 * timed by it, so that time spent preempted by other work does not count. */
static unsigned long long thread_cpu_ns(void)
{
    struct timespec t;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (unsigned long long)t.tv_sec * 1000000000ULL + (unsigned long long)t.tv_nsec;
}

void usage_so_far(long *csw, unsigned long long *cpu_ns)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    *csw = ru.ru_nvcsw + ru.ru_nivcsw;
    *cpu_ns = ((unsigned long long)ru.ru_utime.tv_sec + (unsigned long long)ru.ru_stime.tv_sec)
              * 1000000000ULL
            + ((unsigned long long)ru.ru_utime.tv_usec + (unsigned long long)ru.ru_stime.tv_usec)
              * 1000ULL;
}

void die(const char *what, int rc)
{
    fprintf(stderr, "bench: %s: %s\n", what, strerror(rc));
    exit(2);
}

volatile unsigned long long spin_sink;

/* Dependent multiply-adds the compiler can neither drop nor fold. */
unsigned long long spin(unsigned n, unsigned long long x)
{
    while (n-- > 0) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        __asm__ volatile("" : "+r"(x));
    }
    return x;
}

unsigned calibrate_spin(unsigned target_ns)
{
    const unsigned n = 20000;
    unsigned long long best = (unsigned long long)-1, t;
    int i;

    for (i = 0; i < 51; i++) {
        t = thread_cpu_ns();
        spin_sink = spin(n, spin_sink);
        t = thread_cpu_ns() - t;
        if (t < best)
            best = t;
    }
    return (unsigned)((unsigned long long)target_ns * n / (best ? best : 1)) + 1;
}

pthread_t *spawn(unsigned n, void *(*fn)(void *), void *args, size_t argsize)
{
    pthread_t *t = calloc(n, sizeof *t);
    pthread_attr_t attr;
    size_t stack = 128 * 1024;
    unsigned i;

    if (t == NULL)
        die("calloc", ENOMEM);
    if (stack < (size_t)PTHREAD_STACK_MIN)
        stack = (size_t)PTHREAD_STACK_MIN;
    CHECK(pthread_attr_init(&attr));
    CHECK(pthread_attr_setstacksize(&attr, stack));
    for (i = 0; i < n; i++)
        CHECK(pthread_create(&t[i], &attr, fn, (char *)args + i * argsize));
    pthread_attr_destroy(&attr);
    return t;
}

void join(pthread_t *t, unsigned n)
{
    unsigned i;

    for (i = 0; i < n; i++)
        CHECK(pthread_join(t[i], NULL));
    free(t);
}

/* Waits (sleeping: this is set-up, not a measurement) until n threads wait. */
static void await_waiting(struct lim *l, size_t n)
{
    unsigned long long deadline = now_ns() + 30000000000ULL;

    while (lim_waiting(l) != n) {
        if (now_ns() > deadline)
            die("threads did not queue in 30 s", ETIMEDOUT);
        sleep_ms(1);
    }
}

/* Counts ops over a measured interval after a warm-up; at least min_ops.
 * mark, when not NULL, is called as the interval starts (1) and ends (0). */
struct result measure(const struct params *p, unsigned ms, unsigned long (*count)(void *),
                      void (*mark)(void *, int), void *arg)
{
    const unsigned long min_ops = 16;
    unsigned long long t0, t1, deadline, u0, u1;
    unsigned long c0, c1;
    long s0, s1;
    struct result r = { 0 };

    sleep_ms(p->warm_ms);
    if (mark != NULL)
        mark(arg, 1);
    usage_so_far(&s0, &u0);
    c0 = count(arg);
    t0 = now_ns();
    sleep_ms(ms);
    deadline = t0 + 60000000000ULL;
    while ((c1 = count(arg)) - c0 < min_ops && now_ns() < deadline)
        sleep_ms(1);
    t1 = now_ns();
    usage_so_far(&s1, &u1);
    if (mark != NULL)
        mark(arg, 0);
    if (c1 == c0)
        die("no progress in 60 s", ETIMEDOUT);
    r.ns = (double)(t1 - t0) / (double)(c1 - c0);
    r.csw = (double)(s1 - s0) / (double)(c1 - c0);
    r.cpu = (double)(u1 - u0) / (double)(c1 - c0);
    return r;
}

/* ---- Uncontended pairs (figure 1) ------------------------------------- */

static int loop_pairs(enum pair_kind kind, caplimit_t *cap, sem_t *sem, unsigned long n)
{
    unsigned long i;
    int bad = 0;

    switch (kind) {
    case PAIR_CAP_NOWAIT:
    case PAIR_SHM_CAP_NOWAIT:
        for (i = 0; i < n; i++) {
            bad |= caplimit_acquire_nowait(cap);
            bad |= caplimit_release(cap);
        }
        break;
    case PAIR_SEM_TRYWAIT:
    case PAIR_SHM_SEM_TRYWAIT:
        for (i = 0; i < n; i++) {
            bad |= sem_trywait(sem);
            bad |= sem_post(sem);
        }
        break;
    case PAIR_CAP_WAIT:
    case PAIR_SHM_CAP_WAIT:
        for (i = 0; i < n; i++) {
            bad |= caplimit_acquire(cap);
            bad |= caplimit_release(cap);
        }
        break;
    case PAIR_SEM_WAIT:
    case PAIR_SHM_SEM_WAIT:
        for (i = 0; i < n; i++) {
            bad |= sem_wait(sem);
            bad |= sem_post(sem);
        }
        break;
    }
    return bad;
}

/* The best of CHUNKS runs, in thread CPU time: the cost of the code, not
 * of whatever else the machine runs. */
#define CHUNKS 5

struct result run_pairs(const struct params *p, enum pair_kind kind)
{
    unsigned long n = p->pairs / CHUNKS;
    unsigned long long t, best = (unsigned long long)-1;
    int shm = kind >= PAIR_SHM_CAP_NOWAIT;
    caplimit_t *cap = NULL;
    sem_t private_sem, *sem = &private_sem;
    struct result r = { 0 };
    int i;

    if (shm) {
        sem = shared_sem(1);
        if (kind == PAIR_SHM_CAP_NOWAIT || kind == PAIR_SHM_CAP_WAIT)
            cap = shared_open(1);
    } else {
        CHECK(caplimit_create(&cap, 1));
        if (sem_init(sem, 0, 1) != 0)
            die("sem_init", errno);
    }
    if (loop_pairs(kind, cap, sem, n) != 0)
        die("uncontended pair failed", EPROTO);
    for (i = 0; i < CHUNKS; i++) {
        t = thread_cpu_ns();
        if (loop_pairs(kind, cap, sem, n) != 0)
            die("uncontended pair failed", EPROTO);
        t = thread_cpu_ns() - t;
        if (t < best)
            best = t;
    }
    if (shm)
        shared_sem_free(sem);
    else
        sem_destroy(sem);
    if (cap != NULL)
        CHECK(caplimit_destroy(cap));
    r.ns = (double)best / (double)n;
    r.cpu = r.ns;
    return r;
}

/* ---- Object borrowers (figure 2) -------------------------------------- */

/* Probe objects the size of a small struct, so each has its own line. */
struct probe {
    _Alignas(64) char bytes[64];
};

static struct probe probes[NPROBES];

static int loop_distinct(caplimit_t *lim, unsigned long n)
{
    unsigned long i;
    int bad = 0;

    for (i = 0; i < n; i++) {
        const void *o = &probes[i % NPROBES];
        bad |= caplimit_acquire_on_behalf_of_nowait(lim, o);
        bad |= caplimit_release_on_behalf_of(lim, o);
    }
    return bad;
}

/* A pool of live objects of varied sizes: each pair frees one at random and
 * borrows for a fresh one, so the addresses keep changing as in a program
 * that borrows for short-lived requests (malloc's cost is in both figures
 * that are compared). */
#define POOL 4096
static void *pool[POOL];
static unsigned long long pool_rng = 88172645463325252ULL;

static int loop_fresh(caplimit_t *lim, unsigned long n)
{
    unsigned long i;
    unsigned r;
    int bad = 0;

    for (i = 0; i < n; i++) {
        pool_rng ^= pool_rng << 13;
        pool_rng ^= pool_rng >> 7;
        pool_rng ^= pool_rng << 17;
        r = (unsigned)(pool_rng % POOL);
        free(pool[r]);
        pool[r] = malloc(32 + (size_t)(pool_rng >> 40) % 224);
        if (pool[r] == NULL)
            die("malloc", ENOMEM);
        bad |= caplimit_acquire_on_behalf_of_nowait(lim, pool[r]);
        bad |= caplimit_release_on_behalf_of(lim, pool[r]);
    }
    return bad;
}

static int loop_object_pairs(caplimit_t *lim, enum probe_kind kind, unsigned long n)
{
    return kind == PROBE_FRESH ? loop_fresh(lim, n) : loop_distinct(lim, n);
}

struct result run_object_pairs(const struct params *p, caplimit_t *lim, enum probe_kind kind)
{
    unsigned long n = p->pairs / CHUNKS;
    unsigned long long t, best = (unsigned long long)-1;
    struct result r = { 0 };
    int i;

    if (loop_object_pairs(lim, kind, n) != 0)
        die("object pair failed", EPROTO);
    for (i = 0; i < CHUNKS; i++) {
        t = thread_cpu_ns();
        if (loop_object_pairs(lim, kind, n) != 0)
            die("object pair failed", EPROTO);
        t = thread_cpu_ns() - t;
        if (t < best)
            best = t;
    }
    r.ns = (double)best / (double)n;
    r.cpu = r.ns;
    return r;
}

/* ---- The hand-off chain (figure 3) ------------------------------------ */

struct chain {
    struct lim lim;
    atomic_ulong handoffs;
    atomic_int ready, stop;
};

struct link {
    struct chain *c;
    unsigned self;
};

/* Takes the token, passes it on, queues again at the tail. */
static void *chain_thread(void *arg)
{
    struct link *k = arg;
    struct chain *c = k->c;
    int stop;

    atomic_fetch_add(&c->ready, 1);
    for (;;) {
        if (lim_acquire(&c->lim, k->self) != 0)
            return NULL;
        atomic_fetch_add_explicit(&c->handoffs, 1, memory_order_relaxed);
        stop = atomic_load_explicit(&c->stop, memory_order_relaxed);
        lim_release(&c->lim, k->self);
        if (stop)
            return NULL;
    }
}

static unsigned long chain_count(void *arg)
{
    struct chain *c = arg;
    return atomic_load_explicit(&c->handoffs, memory_order_relaxed);
}

/* The main thread holds the token while the chain forms.  For LIM_BATON it
 * takes thread 0's baton and gives it back as thread n - 1 would. */
struct result run_chain(const struct params *p, enum lim_kind kind, unsigned nthreads)
{
    struct chain *c = calloc(1, sizeof *c);
    struct link *k = calloc(nthreads, sizeof *k);
    pthread_t *t;
    struct result r;
    unsigned i;

    if (c == NULL || k == NULL)
        die("calloc", ENOMEM);
    lim_init(&c->lim, kind, 1, nthreads);
    atomic_init(&c->handoffs, 0);
    atomic_init(&c->ready, 0);
    atomic_init(&c->stop, 0);
    for (i = 0; i < nthreads; i++) {
        k[i].c = c;
        k[i].self = i;
    }
    CHECK(lim_acquire(&c->lim, 0));
    t = spawn(nthreads, chain_thread, k, sizeof k[0]);
    while (atomic_load(&c->ready) != (int)nthreads)
        sleep_ms(1);
    if (kind != LIM_BATON)
        await_waiting(&c->lim, nthreads);
    lim_release(&c->lim, nthreads - 1);
    r = measure(p, p->handoff_ms, chain_count, NULL, c);
    atomic_store(&c->stop, 1);
    lim_close(&c->lim);
    join(t, nthreads);
    lim_destroy(&c->lim);
    free(k);
    free(c);
    return r;
}

/* ---- The crowd: many threads, few tokens (figures 4, 5 and 6) -------- */

struct slot {
    _Alignas(64) atomic_ulong ops;
    unsigned long long wait_max;
    unsigned long hist[TAIL_BUCKETS];  /* written by its thread only */
};

struct crowd {
    struct lim lim;
    unsigned tokens, nthreads, spin_iters;
    int timed;
    atomic_int ready, go, stop, inside, overgrant, recording;
    struct caplimit_counters before, after;
    struct slot slot[CROWD_MAX];
};

struct worker {
    struct crowd *c;
    unsigned self;
};

/* Log-linear buckets: exact below 16 ns, then 16 per power of two (6 %). */
unsigned bucket_of(unsigned long long v)
{
    unsigned e, b;

    if (v < 16)
        return (unsigned)v;
    e = 63u - (unsigned)__builtin_clzll(v);
    b = 16u * (e - 3u) + (unsigned)((v >> (e - 4u)) & 15u);
    return b < TAIL_BUCKETS ? b : TAIL_BUCKETS - 1;
}

double bucket_floor(unsigned b)
{
    if (b < 16)
        return b;
    return (double)(16u + b % 16u) * (double)(1ULL << (b / 16u - 1u));
}

static void critical_section(struct crowd *c, unsigned long long *x)
{
    if (atomic_fetch_add(&c->inside, 1) >= (int)c->tokens)
        atomic_store(&c->overgrant, 1);
    *x = spin(c->spin_iters, *x);
    atomic_fetch_sub(&c->inside, 1);
}

static int crowd_acquire(struct crowd *c, struct slot *s, unsigned self)
{
    unsigned long long t0, dt;
    int rc;

    if (!c->timed)
        return lim_acquire(&c->lim, self);
    t0 = now_ns();
    rc = lim_acquire(&c->lim, self);
    dt = now_ns() - t0;
    if (rc == 0 && atomic_load_explicit(&c->recording, memory_order_relaxed)) {
        s->hist[bucket_of(dt)]++;
        if (dt > s->wait_max)
            s->wait_max = dt;
    }
    return rc;
}

static void *crowd_thread(void *arg)
{
    struct worker *w = arg;
    struct crowd *c = w->c;
    struct slot *s = &c->slot[w->self];
    unsigned long ops = 0;
    unsigned long long x = w->self;

    atomic_fetch_add(&c->ready, 1);
    while (!atomic_load(&c->go))
        sched_yield();
    while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
        if (crowd_acquire(c, s, w->self) != 0)
            break;
        if (atomic_load(&c->stop)) {    /* maybe woken by lim_close */
            lim_release(&c->lim, w->self);
            break;
        }
        critical_section(c, &x);
        lim_release(&c->lim, w->self);
        atomic_store_explicit(&s->ops, ++ops, memory_order_relaxed);
    }
    spin_sink = x;
    return NULL;
}

static unsigned long crowd_count(void *arg)
{
    struct crowd *c = arg;
    unsigned long sum = 0;
    unsigned i;

    for (i = 0; i < c->nthreads; i++)
        sum += atomic_load_explicit(&c->slot[i].ops, memory_order_relaxed);
    return sum;
}

static void crowd_mark(void *arg, int start)
{
    struct crowd *c = arg;

    if (c->lim.cap != NULL)
        CHECK(caplimit_counters(c->lim.cap, start ? &c->before : &c->after));
    atomic_store(&c->recording, start);
}

/* The q-quantile of the threads' merged histograms. */
static double hist_quantile(const struct crowd *c, double q)
{
    unsigned long long total = 0, seen = 0, want;
    unsigned b, i;

    for (i = 0; i < c->nthreads; i++)
        for (b = 0; b < TAIL_BUCKETS; b++)
            total += c->slot[i].hist[b];
    want = (unsigned long long)(q * (double)total);
    for (b = 0; b < TAIL_BUCKETS; b++) {
        for (i = 0; i < c->nthreads; i++)
            seen += c->slot[i].hist[b];
        if (seen > want)
            return bucket_floor(b);
    }
    return 0;
}

static void crowd_tail(const struct crowd *c, struct result *r)
{
    unsigned long long waited = c->after.granted_after_wait - c->before.granted_after_wait;
    unsigned long long at_once = c->after.granted_at_once - c->before.granted_at_once;
    unsigned i;

    r->p50 = hist_quantile(c, 0.50);
    r->p99 = hist_quantile(c, 0.99);
    for (i = 0; i < c->nthreads; i++)
        if ((double)c->slot[i].wait_max > r->max)
            r->max = (double)c->slot[i].wait_max;
    if (waited > 0)
        r->lib_mean = (double)(c->after.wait_ns_total - c->before.wait_ns_total)
                      / (double)waited;
    if (waited + at_once > 0)
        r->lib_waited = (double)waited / (double)(waited + at_once);
    r->lib_max = (double)c->after.wait_ns_max;
}

struct result run_crowd(const struct params *p, enum lim_kind kind, unsigned nthreads,
                        unsigned tokens, int timed)
{
    struct crowd *c = calloc(1, sizeof *c);
    struct worker w[CROWD_MAX];
    pthread_t *t;
    struct result r;
    unsigned i;

    if (c == NULL)
        die("calloc", ENOMEM);
    if (nthreads > CROWD_MAX)
        die("crowd: too many threads", EINVAL);
    lim_init(&c->lim, kind, tokens, nthreads);
    c->tokens = tokens;
    c->nthreads = nthreads;
    c->spin_iters = p->spin_iters;
    c->timed = timed;
    for (i = 0; i < nthreads; i++) {
        w[i].c = c;
        w[i].self = i;
    }
    t = spawn(nthreads, crowd_thread, w, sizeof w[0]);
    while (atomic_load(&c->ready) != (int)nthreads)
        sleep_ms(1);
    atomic_store(&c->go, 1);
    r = measure(p, p->crowd_ms, crowd_count, timed ? crowd_mark : NULL, c);
    atomic_store(&c->stop, 1);
    lim_close(&c->lim);
    join(t, nthreads);
    if (atomic_load(&c->overgrant))
        die("over-grant: more threads inside than tokens", EPROTO);
    if (timed)
        crowd_tail(c, &r);
    lim_destroy(&c->lim);
    free(c);
    return r;
}

/* ---- The bystander ----------------------------------------------------- */

static pthread_t bystander;
static sem_t bystander_done;

static void *bystander_thread(void *arg)
{
    (void)arg;
    while (sem_wait(&bystander_done) != 0)
        ;
    return NULL;
}

void bystander_start(void)
{
    if (sem_init(&bystander_done, 0, 0) != 0)
        die("sem_init", errno);
    CHECK(pthread_create(&bystander, NULL, bystander_thread, NULL));
}

void bystander_stop(void)
{
    if (sem_post(&bystander_done) != 0)
        die("sem_post", errno);
    CHECK(pthread_join(bystander, NULL));
    sem_destroy(&bystander_done);
}
