/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * demo: eight workers share a slow service that serves at most four users at
 * a time and answers "429 Too Many Requests" to a fifth.  A capacity
 * limiter keeps them within their quota: two tokens at first, four when the
 * operator raises it half-way.  One job is a bulk export that makes two
 * calls at once, so it takes two tokens as one hold (R23): it waits until
 * both are free, and the smaller jobs queued behind it wait their turn.
 * Every event prints the limiter's state, so you can watch the FIFO queue
 * drain.  At the end: the lifetime counters, and a clean shutdown: close,
 * drain, destroy (R18, R29).
 */
#include <caplimit.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WORKERS 8
#define JOBS 24
#define SERVICE_LIMIT 4
#define BULK_JOB 15                    /* the bulk export: two calls at once */
#define BULK_TOKENS 2

static caplimit_t *quota;
static atomic_int next_job;
static atomic_int jobs_done;
static atomic_int in_service;
static atomic_int rejected;
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;
static struct timespec t0;

static double elapsed(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9;
}

/* One line per event: time, who, what, then the tokens as a bar. */
static void say(int worker, const char *what)
{
    struct caplimit_statistics st;
    char bar[16] = "";
    size_t i;

    if (caplimit_statistics(quota, &st) != 0)
        return;
    for (i = 0; i < st.total_tokens && i < sizeof bar - 1; i++)
        bar[i] = i < st.borrowed_tokens ? '#' : '.';
    bar[i] = '\0';
    pthread_mutex_lock(&print_lock);
    printf("%6.3fs  worker %d  %-26s [%-4s] %zu/%zu borrowed, %zu waiting\n",
           elapsed(), worker, what, bar, st.borrowed_tokens, st.total_tokens,
           st.threads_waiting);
    fflush(stdout);
    pthread_mutex_unlock(&print_lock);
    caplimit_statistics_destroy(&st);
}

/* The tokens of the calling thread's hold, from a snapshot (R10, R23). */
static size_t my_tokens(void)
{
    struct caplimit_statistics st;
    size_t i, n = 0;

    if (caplimit_statistics(quota, &st) != 0)
        return 0;
    for (i = 0; i < st.nborrowers; i++)
        if (st.borrowers[i].kind == CAPLIMIT_BORROWER_THREAD
            && pthread_equal(st.borrowers[i].thread, pthread_self()))
            n = st.borrowers[i].tokens;
    caplimit_statistics_destroy(&st);
    return n;
}

/* The slow service: 100..250 ms a request, at most SERVICE_LIMIT at once;
 * `calls` requests made together. */
static int call_service(int job, int calls)
{
    struct timespec d = { 0, (100 + (job * 37) % 150) * 1000000L };
    int ok = atomic_fetch_add(&in_service, calls) + calls <= SERVICE_LIMIT;

    if (!ok)
        atomic_fetch_add(&rejected, 1);
    nanosleep(&d, NULL);
    atomic_fetch_sub(&in_service, calls);
    return ok;
}

static void *worker(void *arg)
{
    int id = (int)(long)arg;
    char what[64];
    int job, rc, n;

    while ((job = atomic_fetch_add(&next_job, 1)) < JOBS) {
        n = job == BULK_JOB ? BULK_TOKENS : 1;
        if (n == 1)
            snprintf(what, sizeof what, "waits for a token (job %d)", job);
        else
            snprintf(what, sizeof what, "waits for %d (bulk job %d)", n, job);
        say(id, what);
        /* n tokens as one hold for this thread; n == 1 is caplimit_acquire */
        rc = caplimit_acquire_tokens(quota, NULL, (size_t)n);
        if (rc != 0) {
            snprintf(what, sizeof what, "gives up: %s", strerror(rc));
            say(id, what);
            return NULL;
        }
        if (n == 1)
            snprintf(what, sizeof what, "calls the service");
        else
            snprintf(what, sizeof what, "holds %zu tokens: 2 calls", my_tokens());
        say(id, what);
        if (job == 0) {
            /* the classic self-deadlock of a nested acquire, refused */
            rc = caplimit_acquire(quota);
            snprintf(what, sizeof what, "acquires again: %s", rc == EDEADLK ? "EDEADLK" : strerror(rc));
            say(id, what);
        }
        snprintf(what, sizeof what, call_service(job, n) ? "done, releases" : "got 429 (!)");
        caplimit_release(quota);       /* the whole hold, whatever n */
        say(id, what);
        if (atomic_fetch_add(&jobs_done, 1) + 1 == JOBS / 2) {
            caplimit_set_total_tokens(quota, SERVICE_LIMIT);
            say(id, "-> quota raised to 4");
        }
    }
    return NULL;
}

int main(void)
{
    pthread_t t[WORKERS];
    struct caplimit_counters c;
    char desc[96];
    long i;
    int rc;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    if ((rc = caplimit_create(&quota, 2)) != 0) {
        fprintf(stderr, "caplimit_create: %s\n", strerror(rc));
        return 1;
    }
    printf("%d workers, %d jobs, a service that takes at most %d users; quota 2 tokens\n\n",
           WORKERS, JOBS, SERVICE_LIMIT);
    for (i = 0; i < WORKERS; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    for (i = 0; i < WORKERS; i++)
        pthread_join(t[i], NULL);

    /* shutdown: close (refuse new acquires, send waiters away), drain
     * (wait until nobody holds or waits), destroy: one call each */
    caplimit_close(quota);
    rc = caplimit_acquire(quota);
    caplimit_format(quota, desc, sizeof desc);
    printf("\nclosed: %s; a late acquire gets %s\n", desc,
           rc == ECANCELED ? "ECANCELED" : strerror(rc));
    caplimit_counters(quota, &c);
    printf("counters: %llu granted at once, %llu after a wait (mean %.1f ms, max %.1f ms),\n"
           "          longest queue %zu, %llu closed out; the service rejected %d requests\n",
           c.granted_at_once, c.granted_after_wait,
           c.granted_after_wait ? c.wait_ns_total / 1e6 / c.granted_after_wait : 0.0,
           c.wait_ns_max / 1e6, c.max_threads_waiting, c.closed_out, atomic_load(&rejected));
    if ((rc = caplimit_drain(quota, CLOCK_MONOTONIC, NULL)) != 0
        || (rc = caplimit_destroy(quota)) != 0) {
        fprintf(stderr, "shutdown: %s\n", strerror(rc));
        return 1;
    }
    printf("drained and destroyed\n");
    return atomic_load(&rejected) == 0 ? 0 : 1;
}
