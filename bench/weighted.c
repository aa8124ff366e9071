/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * Weighted holds (R23) under contention, against the algorithm of Go's
 * x/sync/semaphore.Weighted written here in C from its description: one
 * mutex, a FIFO list of waiters each with a condition variable of its own.
 * A request is granted at once when it fits and nobody waits; otherwise it
 * joins the tail.  A release grants waiters from the front while the front
 * one fits, and stops at the first that does not (it blocks those behind
 * it).  A waiter that leaves while at the front re-runs that notification.
 * As Go closes a waiter's channel with the mutex held, the grant signals
 * the waiter's condition variable with the mutex held.
 */
#include "bench.h"

#include <errno.h>
#include <stdlib.h>

/* ---- The Go-style weighted semaphore ---------------------------------- */

struct gw_waiter {
    size_t n;
    int ready;                       /* granted */
    pthread_cond_t cond;
    struct gw_waiter *prev, *next;
};

void gosem_init(struct gosem *s, size_t size)
{
    CHECK(pthread_mutex_init(&s->lock, NULL));
    s->size = size;
    s->cur = 0;
    s->head = s->tail = NULL;
    s->nwaiting = 0;
    s->closed = 0;
}

void gosem_destroy(struct gosem *s)
{
    pthread_mutex_destroy(&s->lock);
}

static void gw_unlink(struct gosem *s, struct gw_waiter *w)
{
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        s->head = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    else
        s->tail = w->prev;
    s->nwaiting--;
}

/* Grants from the front while the front fits; the first that does not
 * fit blocks the rest. */
static void gw_notify(struct gosem *s)
{
    struct gw_waiter *w;

    while ((w = s->head) != NULL && s->size - s->cur >= w->n) {
        s->cur += w->n;
        gw_unlink(s, w);
        w->ready = 1;
        pthread_cond_signal(&w->cond);
    }
}

int gosem_acquire(struct gosem *s, size_t n)
{
    struct gw_waiter w;
    int rc = 0;

    pthread_mutex_lock(&s->lock);
    if (s->closed) {
        pthread_mutex_unlock(&s->lock);
        return ECANCELED;
    }
    if (s->size - s->cur >= n && s->head == NULL) {
        s->cur += n;
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    w.n = n;
    w.ready = 0;
    w.next = NULL;
    w.prev = s->tail;
    CHECK(pthread_cond_init(&w.cond, NULL));
    if (s->tail != NULL)
        s->tail->next = &w;
    else
        s->head = &w;
    s->tail = &w;
    s->nwaiting++;
    while (!w.ready && !s->closed)
        pthread_cond_wait(&w.cond, &s->lock);
    if (!w.ready) {                  /* leaving: Go's ctx.Done() branch */
        int front = s->head == &w;
        gw_unlink(s, &w);
        if (front)
            gw_notify(s);
        rc = ECANCELED;
    }
    pthread_mutex_unlock(&s->lock);
    pthread_cond_destroy(&w.cond);
    return rc;
}

void gosem_release(struct gosem *s, size_t n)
{
    pthread_mutex_lock(&s->lock);
    if (n > s->cur)
        die("gosem: released more than held", EPROTO);
    s->cur -= n;
    gw_notify(s);
    pthread_mutex_unlock(&s->lock);
}

/* Wakes every waiter; they leave with ECANCELED. */
void gosem_close(struct gosem *s)
{
    struct gw_waiter *w;

    pthread_mutex_lock(&s->lock);
    s->closed = 1;
    for (w = s->head; w != NULL; w = w->next)
        pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&s->lock);
}

/* ---- The weighted crowd ------------------------------------------------ */

struct wslot {
    _Alignas(64) atomic_ulong ops;
    unsigned long long wait_max;
    unsigned long hist[TAIL_BUCKETS];
};

struct wcrowd {
    enum wkind kind;
    caplimit_t *cap;
    struct gosem go;
    unsigned tokens, nthreads, spin_iters;
    int timed;
    atomic_int ready, start, stop, overgrant, recording;
    atomic_uint inside;              /* tokens held inside critical sections */
    struct wslot slot[CROWD_MAX];
};

struct wworker {
    struct wcrowd *c;
    unsigned self;
};

static int w_acquire(struct wcrowd *c, size_t n)
{
    if (c->kind == W_GO)
        return gosem_acquire(&c->go, n);
    return caplimit_acquire_tokens(c->cap, NULL, n);
}

static void w_release(struct wcrowd *c, size_t n)
{
    if (c->kind == W_GO)
        gosem_release(&c->go, n);
    else
        CHECK(caplimit_release(c->cap));
}

static int w_timed_acquire(struct wcrowd *c, struct wslot *s, size_t n)
{
    unsigned long long t0, dt;
    int rc;

    if (!c->timed)
        return w_acquire(c, n);
    t0 = now_ns();
    rc = w_acquire(c, n);
    dt = now_ns() - t0;
    if (rc == 0 && atomic_load_explicit(&c->recording, memory_order_relaxed)) {
        s->hist[bucket_of(dt)]++;
        if (dt > s->wait_max)
            s->wait_max = dt;
    }
    return rc;
}

static void *wcrowd_thread(void *arg)
{
    struct wworker *w = arg;
    struct wcrowd *c = w->c;
    struct wslot *s = &c->slot[w->self];
    unsigned long ops = 0;
    /* The requests: a fixed seed per thread, the same sequence for every
     * limiter measured. */
    unsigned long long rng = 0x9e3779b97f4a7c15ULL * (w->self + 1), x = w->self;
    size_t n;

    atomic_fetch_add(&c->ready, 1);
    while (!atomic_load(&c->start))
        sched_yield();
    while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        n = 1 + (size_t)(rng >> 32) % WEIGHT_MAX;
        if (w_timed_acquire(c, s, n) != 0)
            break;
        if (atomic_load(&c->stop)) {
            w_release(c, n);
            break;
        }
        if (atomic_fetch_add(&c->inside, (unsigned)n) + n > c->tokens)
            atomic_store(&c->overgrant, 1);
        x = spin(c->spin_iters, x);
        atomic_fetch_sub(&c->inside, (unsigned)n);
        w_release(c, n);
        atomic_store_explicit(&s->ops, ++ops, memory_order_relaxed);
    }
    spin_sink = x;
    return NULL;
}

static unsigned long wcrowd_count(void *arg)
{
    struct wcrowd *c = arg;
    unsigned long sum = 0;
    unsigned i;

    for (i = 0; i < c->nthreads; i++)
        sum += atomic_load_explicit(&c->slot[i].ops, memory_order_relaxed);
    return sum;
}

static void wcrowd_mark(void *arg, int start)
{
    struct wcrowd *c = arg;

    atomic_store(&c->recording, start);
}

static double whist_quantile(const struct wcrowd *c, double q)
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

struct result run_weighted(const struct params *p, enum wkind kind, unsigned nthreads,
                           unsigned tokens, int timed)
{
    struct wcrowd *c = calloc(1, sizeof *c);
    struct wworker w[CROWD_MAX];
    pthread_t *t;
    struct result r;
    unsigned i;

    if (c == NULL)
        die("calloc", ENOMEM);
    if (nthreads > CROWD_MAX || tokens < WEIGHT_MAX)
        die("weighted crowd: bad shape", EINVAL);
    c->kind = kind;
    c->tokens = tokens;
    c->nthreads = nthreads;
    c->spin_iters = p->spin_iters;
    c->timed = timed;
    if (kind == W_GO) {
        gosem_init(&c->go, tokens);
    } else {
        CHECK(caplimit_create(&c->cap, tokens));
        if (kind == W_CAP_THROUGHPUT)
            CHECK(caplimit_set_policy(c->cap, CAPLIMIT_POLICY_THROUGHPUT, 0));
    }
    for (i = 0; i < nthreads; i++) {
        w[i].c = c;
        w[i].self = i;
    }
    t = spawn(nthreads, wcrowd_thread, w, sizeof w[0]);
    while (atomic_load(&c->ready) != (int)nthreads)
        sleep_ms(1);
    atomic_store(&c->start, 1);
    r = measure(p, p->crowd_ms, wcrowd_count, timed ? wcrowd_mark : NULL, c);
    atomic_store(&c->stop, 1);
    if (kind == W_GO)
        gosem_close(&c->go);
    else
        CHECK(caplimit_close(c->cap));
    join(t, nthreads);
    if (atomic_load(&c->overgrant))
        die("weighted over-grant: more tokens inside than the total", EPROTO);
    if (timed) {
        r.p50 = whist_quantile(c, 0.50);
        r.p99 = whist_quantile(c, 0.99);
        for (i = 0; i < nthreads; i++)
            if ((double)c->slot[i].wait_max > r.max)
                r.max = (double)c->slot[i].wait_max;
    }
    if (kind == W_GO)
        gosem_destroy(&c->go);
    else
        CHECK(caplimit_destroy(c->cap));
    free(c);
    return r;
}
