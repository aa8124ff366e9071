/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * One interface over libcaplimit and the baselines it is measured against.
 * Every kind goes through the same switch, so the dispatch costs the same.
 */
#include "bench.h"

#include <errno.h>
#include <stdlib.h>

/* ---- The naive FIFO limiter -------------------------------------------- */

static void naive_init(struct naive *n, unsigned tokens)
{
    CHECK(pthread_mutex_init(&n->lock, NULL));
    CHECK(pthread_cond_init(&n->changed, NULL));
    n->avail = tokens;
    n->waiting = 0;
    n->next = n->serving = 0;
    n->closed = 0;
}

static int naive_acquire(struct naive *n)
{
    unsigned long ticket;
    int rc = 0;

    pthread_mutex_lock(&n->lock);
    ticket = n->next++;
    if (ticket != n->serving || n->avail == 0) {
        n->waiting++;
        while (!n->closed && (ticket != n->serving || n->avail == 0))
            pthread_cond_wait(&n->changed, &n->lock);
        n->waiting--;
    }
    if (n->closed) {
        rc = ECANCELED;
    } else {
        n->serving++;
        n->avail--;
        if (n->avail > 0 && n->waiting > 0)
            pthread_cond_broadcast(&n->changed);
    }
    pthread_mutex_unlock(&n->lock);
    return rc;
}

static void naive_release(struct naive *n)
{
    pthread_mutex_lock(&n->lock);
    n->avail++;
    if (n->waiting > 0)
        pthread_cond_broadcast(&n->changed);
    pthread_mutex_unlock(&n->lock);
}

static size_t naive_waiting(struct naive *n)
{
    size_t w;

    pthread_mutex_lock(&n->lock);
    w = n->waiting;
    pthread_mutex_unlock(&n->lock);
    return w;
}

static void naive_close(struct naive *n)
{
    pthread_mutex_lock(&n->lock);
    n->closed = 1;
    pthread_cond_broadcast(&n->changed);
    pthread_mutex_unlock(&n->lock);
}

/* ---- The interface ----------------------------------------------------- */

static void sem_check(int rc, const char *what)
{
    if (rc != 0)
        die(what, errno);
}

void lim_init(struct lim *l, enum lim_kind kind, unsigned tokens, unsigned nthreads)
{
    unsigned i;

    l->kind = kind;
    l->cap = NULL;
    l->tokens = tokens;
    l->nthreads = nthreads;
    switch (kind) {
    case LIM_CAP:
        CHECK(caplimit_create(&l->cap, tokens));
        break;
    case LIM_CAP_THROUGHPUT:
        CHECK(caplimit_create(&l->cap, tokens));
        CHECK(caplimit_set_policy(l->cap, CAPLIMIT_POLICY_THROUGHPUT, 0));
        break;
    case LIM_SEM:
        sem_check(sem_init(&l->sem, 0, tokens), "sem_init");
        break;
    case LIM_NAIVE:
        naive_init(&l->naive, tokens);
        break;
    case LIM_BATON:
        if (tokens > nthreads)
            die("baton: more tokens than threads", EINVAL);
        l->baton = calloc(nthreads, sizeof *l->baton);
        if (l->baton == NULL)
            die("calloc", ENOMEM);
        for (i = 0; i < nthreads; i++)
            sem_check(sem_init(&l->baton[i], 0, i < tokens), "sem_init");
        break;
    }
}

void lim_destroy(struct lim *l)
{
    unsigned i;

    switch (l->kind) {
    case LIM_CAP:
    case LIM_CAP_THROUGHPUT:
        CHECK(caplimit_destroy(l->cap));
        break;
    case LIM_SEM:
        sem_destroy(&l->sem);
        break;
    case LIM_NAIVE:
        pthread_cond_destroy(&l->naive.changed);
        pthread_mutex_destroy(&l->naive.lock);
        break;
    case LIM_BATON:
        for (i = 0; i < l->nthreads; i++)
            sem_destroy(&l->baton[i]);
        free(l->baton);
        break;
    }
}

int lim_acquire(struct lim *l, unsigned self)
{
    switch (l->kind) {
    case LIM_CAP:
    case LIM_CAP_THROUGHPUT:
        return caplimit_acquire(l->cap);
    case LIM_SEM:
        while (sem_wait(&l->sem) != 0)
            if (errno != EINTR)
                die("sem_wait", errno);
        return 0;
    case LIM_NAIVE:
        return naive_acquire(&l->naive);
    case LIM_BATON:
        while (sem_wait(&l->baton[self]) != 0)
            if (errno != EINTR)
                die("sem_wait", errno);
        return 0;
    }
    return EINVAL;
}

/* LIM_BATON passes the token on to the thread `tokens` places further, so
 * the batons visit every thread in turn: the order strict FIFO gives. */
void lim_release(struct lim *l, unsigned self)
{
    switch (l->kind) {
    case LIM_CAP:
    case LIM_CAP_THROUGHPUT:
        CHECK(caplimit_release(l->cap));
        break;
    case LIM_SEM:
        sem_check(sem_post(&l->sem), "sem_post");
        break;
    case LIM_NAIVE:
        naive_release(&l->naive);
        break;
    case LIM_BATON:
        sem_check(sem_post(&l->baton[(self + l->tokens) % l->nthreads]), "sem_post");
        break;
    }
}

size_t lim_waiting(struct lim *l)
{
    int v;

    switch (l->kind) {
    case LIM_CAP:
    case LIM_CAP_THROUGHPUT:
        return caplimit_threads_waiting(l->cap);
    case LIM_SEM:
        sem_getvalue(&l->sem, &v);
        return v < 0 ? (size_t)-v : 0;
    case LIM_NAIVE:
        return naive_waiting(&l->naive);
    case LIM_BATON:
        return 0;
    }
    return 0;
}

void lim_close(struct lim *l)
{
    unsigned i;

    switch (l->kind) {
    case LIM_CAP:
    case LIM_CAP_THROUGHPUT:
        CHECK(caplimit_close(l->cap));
        break;
    case LIM_NAIVE:
        naive_close(&l->naive);
        break;
    case LIM_BATON:
        for (i = 0; i < l->nthreads; i++)
            sem_check(sem_post(&l->baton[i]), "sem_post");
        break;
    case LIM_SEM:
        break;
    }
}

const char *lim_name(enum lim_kind kind)
{
    static const char *const names[] = {
        [LIM_CAP] = "caplimit FIFO",
        [LIM_CAP_THROUGHPUT] = "caplimit THROUGHPUT",
        [LIM_SEM] = "sem_t",
        [LIM_NAIVE] = "naive mutex+broadcast",
        [LIM_BATON] = "baton floor",
    };
    return names[kind];
}
