/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * controller: tune total_tokens from the lifetime counters (R19).
 *
 * Twelve clients hammer a service that is fast up to six concurrent users
 * and slows down past that.  The limiter starts at one token.  Every 100 ms
 * a controller thread looks at what happened since its last look: when
 * clients queue (the mean wait grows) while the service keeps up, it raises
 * the total; when the service slows down, it lowers it.  The total settles
 * near what the service can take.
 */
#include <caplimit.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define CLIENTS 12
#define SWEET_SPOT 6
#define BASE_US 4000
#define ROUNDS 30

static caplimit_t *lim;
static atomic_int in_service;
static atomic_ullong service_us, service_calls;
static atomic_int stop;

static void pause_us(long us)
{
    struct timespec d = { us / 1000000, (us % 1000000) * 1000 };
    nanosleep(&d, NULL);
}

/* Fast up to SWEET_SPOT users; each one more adds half the base latency. */
static void call_service(void)
{
    int users = atomic_fetch_add(&in_service, 1) + 1;
    long us = BASE_US + (users > SWEET_SPOT ? (users - SWEET_SPOT) * BASE_US / 2 : 0);

    pause_us(us);
    atomic_fetch_sub(&in_service, 1);
    atomic_fetch_add(&service_us, (unsigned long long)us);
    atomic_fetch_add(&service_calls, 1);
}

static void *client(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        if (caplimit_acquire(lim) != 0)
            break;                   /* closed: time to go */
        call_service();
        caplimit_release(lim);
    }
    return NULL;
}

int main(void)
{
    struct caplimit_counters before, now;
    unsigned long long us0 = 0, calls0 = 0;
    size_t ceiling = CAPLIMIT_INFINITE;  /* where the service last slowed down */
    pthread_t t[CLIENTS];
    int i, round, rc;

    if ((rc = caplimit_create(&lim, 1)) != 0) {
        fprintf(stderr, "caplimit_create: %s\n", strerror(rc));
        return 1;
    }
    for (i = 0; i < CLIENTS; i++)
        pthread_create(&t[i], NULL, client, NULL);

    caplimit_counters(lim, &before);
    printf("round  total  mean wait  service latency  decision\n");
    for (round = 1; round <= ROUNDS; round++) {
        unsigned long long grants, us, calls;
        double wait_ms, lat_ms;
        size_t total = caplimit_total_tokens(lim);
        const char *decision = "hold";

        pause_us(100000);
        caplimit_counters(lim, &now);
        us = atomic_load(&service_us);
        calls = atomic_load(&service_calls);
        grants = now.granted_after_wait - before.granted_after_wait;
        wait_ms = grants ? (now.wait_ns_total - before.wait_ns_total) / 1e6 / grants : 0;
        lat_ms = calls > calls0 ? (us - us0) / 1e3 / (calls - calls0) : 0;
        if (round % 10 == 5 && ceiling != CAPLIMIT_INFINITE)
            ceiling++;               /* now and then, probe once more */
        if (lat_ms > 1.25 * BASE_US / 1e3 && total > 1) {
            ceiling = total - 1;
            caplimit_set_total_tokens(lim, ceiling);
            decision = "lower: the service is slowing down";
        } else if (wait_ms > 1.0 && lat_ms <= 1.1 * BASE_US / 1e3 && total < ceiling) {
            caplimit_set_total_tokens(lim, total + 1);
            decision = "raise: clients queue, the service keeps up";
        }
        printf("%5d  %5zu  %7.2f ms  %12.2f ms  %s\n", round, total, wait_ms, lat_ms, decision);
        before = now;
        us0 = us;
        calls0 = calls;
    }

    atomic_store(&stop, 1);
    caplimit_close(lim);             /* wakes every queued client with ECANCELED */
    for (i = 0; i < CLIENTS; i++)
        pthread_join(t[i], NULL);
    printf("settled at %zu tokens (the service's sweet spot is %d)\n",
           caplimit_total_tokens(lim), SWEET_SPOT);
    while (caplimit_destroy(lim) == EBUSY)
        sched_yield();
    return 0;
}
