/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * stress: many threads doing everything at once to one limiter, with
 * independent checks at every step.  Not a Check suite: it runs for
 * STRESS_SECONDS (the environment, or argv[1]; 2 by default) and exits 0
 * only when no invariant failed and the limiter ends empty.
 *
 * The capacity bound (R5, R8).  A grant happens only while
 * borrowed < total, so borrowed never exceeds the largest total in force
 * since borrowed was last <= total.  The controller is the only thread that
 * sets the total; it keeps `allowed`, an upper bound of borrowed:
 *   - before a rise to t, allowed = max(allowed, t);
 *   - a fall leaves allowed alone (holders keep their tokens);
 *   - once a snapshot shows borrowed <= total, allowed = total (no grant
 *     can then lift borrowed above total until the total changes).
 * `inuse` counts the borrowers between a successful acquire and their
 * release (incremented after the acquire returns, decremented before the
 * release), so inuse <= borrowed <= allowed at every instant.  Lowering
 * allowed is wrapped in a sequence count, so a worker's check is trusted
 * only when no lowering overlapped it.
 *
 * Also checked: R1 (each object borrower holds at most one token: a
 * per-object flag), R3 (EDEADLK while holding), R9 (EPERM for a non-holder),
 * R10 (snapshots: nborrowers == borrowed, levels 1, no duplicates, known
 * borrowers), R20 (holds after acquire and release), R4/R5 FIFO order
 * under CAPLIMIT_POLICY_FIFO (a side limiter where waiters queue one at a
 * time, some time out or are cancelled in the middle, and the grant order
 * is recorded), R7 (random pthread_cancel of waiters), R18 (close near the
 * end: every later acquire fails with ECANCELED), R19 (counters agree with
 * the outcomes the threads saw), R22 (threads that exit holding tokens on
 * several limiters), and R12 (everything is given back: destroy succeeds).
 *
 * STRESS_NO_CANCEL in the environment leaves out pthread_cancel, for the
 * valgrind tools that cannot follow it (tests/valgrind/run.sh).
 *
 * A watchdog ends the program with status 1 if it is still running
 * STRESS_WATCHDOG_SECONDS after its start (by default 60 s plus 20 times
 * the run, for valgrind's sake): a bug that hangs a thread fails the run
 * instead of hanging make check.
 */
#include <caplimit.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <signal.h>
#include <unistd.h>

#define NWORKERS 6
#define NVICTIMS 3
#define NOBJ 2                         /* object borrowers per worker */
#define NAUX 6                         /* side limiters held by exiters (> 4) */
#define FIFO_K 6
#define MAX_EXITERS 64

static caplimit_t *lim;
static caplimit_t *aux[NAUX];

static int no_cancel;                  /* STRESS_NO_CANCEL: helgrind and drd */
static atomic_int stop;
static atomic_int closed;
static atomic_ulong failures;
static atomic_ulong checks;
static atomic_ulong ops;

static atomic_size_t inuse;
static atomic_size_t allowed;
static atomic_uint allowed_seq;        /* odd while allowed is being lowered */

/* Outcomes seen by the callers, to compare with caplimit_counters (R19). */
static atomic_ulong n_granted, n_would_block, n_timed_out, n_closed_out;
static atomic_ulong n_cancel_hits;     /* cancellations acted upon in an acquire */
static atomic_ulong n_abandoned;       /* tokens of lim held by exiting threads */
static atomic_ulong n_abandoned_aux[NAUX];
static atomic_ulong n_fifo_rounds;

static int objs[NWORKERS][NOBJ];
static atomic_int obj_held[NWORKERS][NOBJ];

#define CHECK(expr)                                                            \
    do {                                                                       \
        atomic_fetch_add(&checks, 1);                                          \
        if (!(expr))                                                           \
            fail(__LINE__, #expr);                                             \
    } while (0)

static void fail(int line, const char *what)
{
    if (atomic_fetch_add(&failures, 1) < 20)
        fprintf(stderr, "stress.c:%d: check failed: %s\n", line, what);
}

static unsigned rnd(unsigned *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static struct timespec after_ns(clockid_t clk, long ns)
{
    struct timespec t;
    clock_gettime(clk, &t);
    t.tv_nsec += ns;
    while (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    while (t.tv_nsec < 0) {
        t.tv_sec--;
        t.tv_nsec += 1000000000L;
    }
    return t;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* ---- The capacity bound ------------------------------------------------ */

static void note_acquired(void)
{
    unsigned s1 = atomic_load(&allowed_seq);
    size_t v = atomic_fetch_add(&inuse, 1) + 1;
    size_t a = atomic_load(&allowed);
    unsigned s2 = atomic_load(&allowed_seq);

    if (s1 == s2 && !(s1 & 1))
        CHECK(v <= a);
}

static void note_releasing(void)
{
    atomic_fetch_sub(&inuse, 1);
}

/* ---- Acquire with every variant ---------------------------------------- */

/* One acquire of a random variant for borrower obj (NULL: the thread). */
static int acquire_any(unsigned *seed, const void *obj, int may_block)
{
    unsigned r = rnd(seed) % (may_block ? 4 : 3);
    clockid_t clk = rnd(seed) & 1 ? CLOCK_MONOTONIC : CLOCK_REALTIME;
    /* from 0.2 ms in the past to 2 ms ahead */
    struct timespec d = after_ns(clk, (long)(rnd(seed) % 2200000) - 200000);

    atomic_fetch_add(&ops, 1);
    switch (r) {
    case 0:
    case 1:
        return obj ? caplimit_acquire_on_behalf_of_until(lim, obj, clk, &d)
                   : caplimit_acquire_until(lim, clk, &d);
    case 2:
        return obj ? caplimit_acquire_on_behalf_of_nowait(lim, obj)
                   : caplimit_acquire_nowait(lim);
    default:
        return obj ? caplimit_acquire_on_behalf_of(lim, obj) : caplimit_acquire(lim);
    }
}

static void count_outcome(int rc, int was_closed)
{
    switch (rc) {
    case 0:
        atomic_fetch_add(&n_granted, 1);
        CHECK(!was_closed);            /* R18 */
        break;
    case EWOULDBLOCK:
        atomic_fetch_add(&n_would_block, 1);
        break;
    case ETIMEDOUT:
        atomic_fetch_add(&n_timed_out, 1);
        break;
    case ECANCELED:
        atomic_fetch_add(&n_closed_out, 1);
        break;
    default:
        CHECK(rc == 0 || rc == EWOULDBLOCK || rc == ETIMEDOUT || rc == ECANCELED);
    }
}

static void hold_briefly(unsigned *seed)
{
    unsigned n = rnd(seed) % 8;
    while (n-- > 0)
        if (n & 1)
            sched_yield();
}

/* ---- Workers: thread and object borrowers ------------------------------ */

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    unsigned seed = 0x9e3779b9u * (unsigned)(id + 1);

    while (!atomic_load(&stop)) {
        int o = (int)(rnd(&seed) % (NOBJ + 1)) - 1;   /* -1: the thread */
        const void *obj = o >= 0 ? (const void *)&objs[id][o] : NULL;
        int was_closed = atomic_load(&closed);
        int rc = acquire_any(&seed, obj, 1);

        count_outcome(rc, was_closed);
        if (rc != 0) {
            if (rnd(&seed) % 16 == 0) {           /* R9: not a holder */
                atomic_fetch_add(&ops, 1);
                CHECK((obj ? caplimit_release_on_behalf_of(lim, obj)
                           : caplimit_release(lim)) == EPERM);
            }
            continue;
        }
        if (obj)
            CHECK(atomic_exchange(&obj_held[id][o], 1) == 0);   /* R1 */
        note_acquired();
        atomic_fetch_add(&ops, 2);
        CHECK((obj ? caplimit_holds_on_behalf_of(lim, obj) : caplimit_holds(lim)) == 1);
        /* R3: a holder that asks again is refused at once */
        CHECK((obj ? caplimit_acquire_on_behalf_of_nowait(lim, obj)
                   : caplimit_acquire_nowait(lim)) == EDEADLK);
        hold_briefly(&seed);
        note_releasing();
        if (obj)
            atomic_store(&obj_held[id][o], 0);
        atomic_fetch_add(&ops, 2);
        CHECK((obj ? caplimit_release_on_behalf_of(lim, obj) : caplimit_release(lim)) == 0);
        CHECK((obj ? caplimit_holds_on_behalf_of(lim, obj) : caplimit_holds(lim)) == 0);
    }
    return NULL;
}

/* ---- Victims: waiters that the controller cancels (R7) ----------------- */

/* No cleanup handler of our own catches the cancellation: the thread just
 * ends (a handler in an instrumented frame above the library's makes gcc's
 * ASan report a false stack-buffer-underflow, google/sanitizers#1399).
 * in_acquire, still set when the thread is joined, says the cancellation
 * was acted upon inside an acquire. */
struct victim_state {
    pthread_t thread;
    unsigned seed;
    atomic_int in_acquire;
};

static void *victim(void *arg)
{
    struct victim_state *v = arg;
    int self_obj;
    int old;

    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    while (!atomic_load(&stop)) {
        const void *obj = rnd(&v->seed) & 1 ? (const void *)&self_obj : NULL;
        int was_closed = atomic_load(&closed);
        int rc;

        /* cancellation can only act inside the acquire */
        atomic_store(&v->in_acquire, 1);
        pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
        rc = acquire_any(&v->seed, obj, 1);
        pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
        atomic_store(&v->in_acquire, 0);

        count_outcome(rc, was_closed);
        if (rc == 0) {
            note_acquired();
            hold_briefly(&v->seed);
            note_releasing();
            atomic_fetch_add(&ops, 1);
            CHECK((obj ? caplimit_release_on_behalf_of(lim, obj) : caplimit_release(lim)) == 0);
        }
    }
    return NULL;
}

static unsigned nvictims_spawned;

static void start_victim(struct victim_state *v)
{
    v->seed = ++nvictims_spawned * 2654435761u + 17;
    atomic_store(&v->in_acquire, 0);
    pthread_create(&v->thread, NULL, victim, v);
}

static void join_victim(struct victim_state *v)
{
    pthread_join(v->thread, NULL);
    if (atomic_load(&v->in_acquire))
        atomic_fetch_add(&n_cancel_hits, 1);
}

/* ---- Exiters: threads that end holding tokens (R22) -------------------- */

static void *exiter(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg * 747796405u + 1;
    int was_closed = atomic_load(&closed);
    struct timespec d = after_ns(CLOCK_MONOTONIC, 2000000);
    int rc, i;

    atomic_fetch_add(&ops, 1);
    rc = caplimit_acquire_until(lim, CLOCK_MONOTONIC, &d);
    count_outcome(rc, was_closed);
    if (rc == 0) {
        note_acquired();
        atomic_fetch_add(&n_abandoned, 1);
    }
    for (i = 0; i < NAUX; i++) {
        atomic_fetch_add(&ops, 1);
        if (caplimit_acquire_nowait(aux[i]) == 0)
            atomic_fetch_add(&n_abandoned_aux[i], 1);
        else
            CHECK(!"an infinite side limiter refused");
    }
    if (rc == 0)
        note_releasing();             /* the exit gives it back */
    if (rnd(&seed) & 1)
        pthread_exit(NULL);
    return NULL;
}

/* ---- FIFO order on a side limiter (R4, R5, R6, R7) --------------------- */

struct fifo_waiter {
    caplimit_t *l;
    int ticket;
    int timed;                         /* waits with a short deadline */
    atomic_int rc;                     /* atomic: helgrind sees no C11 fences */
    atomic_int done;
    atomic_int *next_slot;
    int *order;
};

static void *fifo_wait(void *arg)
{
    struct fifo_waiter *w = arg;
    struct timespec d = after_ns(CLOCK_MONOTONIC, 1000000);

    int rc = w->timed ? caplimit_acquire_until(w->l, CLOCK_MONOTONIC, &d)
                     : caplimit_acquire(w->l);
    atomic_store(&w->rc, rc);
    if (rc == 0) {
        w->order[atomic_fetch_add(w->next_slot, 1)] = w->ticket;
        CHECK(caplimit_release(w->l) == 0);
    }
    atomic_store(&w->done, 1);
    return NULL;
}

/* Polls expr under a 10 s deadline; a miss is a failure.  The verdict is
 * the last evaluation, not a new one: expr may be true only for a while. */
#define POLL(expr)                                                             \
    do {                                                                       \
        double poll_end_ = now_s() + 10;                                       \
        int poll_ok_;                                                          \
        while (!(poll_ok_ = (expr)) && now_s() < poll_end_)                    \
            sched_yield();                                                     \
        CHECK(poll_ok_);                                                       \
    } while (0)

/* Waiters 0..i are in the queue, but the timed one once it has left; its
 * done flag is read first, so it cannot leave between the two reads. */
static int queued_as_expected(struct fifo_waiter *w, int i, int timed)
{
    size_t gone = timed <= i && atomic_load(&w[timed].done);
    return caplimit_threads_waiting(w[0].l) == (size_t)i + 1 - gone;
}

static void fifo_round(unsigned *seed)
{
    struct fifo_waiter w[FIFO_K];
    pthread_t t[FIFO_K];
    int order[FIFO_K], expect[FIFO_K];
    atomic_int next_slot = 0;
    int timed = (int)(rnd(seed) % FIFO_K), cancelled = (int)(rnd(seed) % FIFO_K);
    int i, n = 0;
    caplimit_t *l;

    if (caplimit_create(&l, 0) != 0) {
        CHECK(!"caplimit_create");
        return;
    }
    if (cancelled == timed || no_cancel)
        cancelled = -1;
    for (i = 0; i < FIFO_K; i++) {
        w[i].l = l;
        w[i].ticket = i;
        w[i].timed = i == timed;
        atomic_init(&w[i].rc, -1);
        atomic_init(&w[i].done, 0);
        w[i].next_slot = &next_slot;
        w[i].order = order;
        pthread_create(&t[i], NULL, fifo_wait, &w[i]);
        /* queue one at a time: the order of arrival is the ticket order */
        POLL(queued_as_expected(w, i, timed));
    }
    POLL(atomic_load(&w[timed].done));
    CHECK(atomic_load(&w[timed].rc) == ETIMEDOUT);
    if (cancelled >= 0) {
        pthread_cancel(t[cancelled]);
        pthread_join(t[cancelled], NULL);
    }
    CHECK(caplimit_threads_waiting(l) == (size_t)FIFO_K - 1 - (cancelled >= 0));
    CHECK(caplimit_set_total_tokens(l, 1) == 0);
    for (i = 0; i < FIFO_K; i++) {
        if (i != cancelled)
            pthread_join(t[i], NULL);
        if (i != timed && i != cancelled)
            expect[n++] = i;
    }
    CHECK(atomic_load(&next_slot) == n);
    for (i = 0; i < n && i < atomic_load(&next_slot); i++)
        CHECK(order[i] == expect[i]);
    CHECK(caplimit_destroy(l) == 0);
    atomic_fetch_add(&n_fifo_rounds, 1);
}

static void *fifo_checker(void *arg)
{
    unsigned seed = 12345;

    (void)arg;
    while (!atomic_load(&stop))
        fifo_round(&seed);
    return NULL;
}

/* ---- The controller ---------------------------------------------------- */

static size_t cur_total;

static void lower_allowed(size_t to)
{
    atomic_fetch_add(&allowed_seq, 1);
    atomic_store(&allowed, to);
    atomic_fetch_add(&allowed_seq, 1);
}

static void set_total(size_t t)
{
    if (t > atomic_load(&allowed))
        atomic_store(&allowed, t);
    cur_total = t;
    atomic_fetch_add(&ops, 1);
    CHECK(caplimit_set_total_tokens(lim, t) == 0);
}

static int known_object(const void *p)
{
    int i, j;
    for (i = 0; i < NWORKERS; i++)
        for (j = 0; j < NOBJ; j++)
            if (p == (const void *)&objs[i][j])
                return 1;
    return 0;                          /* a victim's own object: on its stack */
}

/* R10 and the capacity bound, from one snapshot. */
static void check_snapshot(void)
{
    struct caplimit_statistics st;
    size_t i, j, nobj = 0;

    atomic_fetch_add(&ops, 1);
    if (caplimit_statistics(lim, &st) != 0) {
        CHECK(!"caplimit_statistics");
        return;
    }
    CHECK(st.total_tokens == cur_total);
    CHECK(st.nborrowers == st.borrowed_tokens);
    CHECK(st.borrowed_tokens <= atomic_load(&allowed));
    CHECK(st.threads_waiting <= NWORKERS + NVICTIMS + MAX_EXITERS);
    for (i = 0; i < st.nborrowers; i++) {
        const struct caplimit_borrower *b = &st.borrowers[i];
        CHECK(b->level == 1);
        CHECK(b->kind == CAPLIMIT_BORROWER_THREAD || b->kind == CAPLIMIT_BORROWER_OBJECT);
        if (b->kind == CAPLIMIT_BORROWER_OBJECT)
            nobj += known_object(b->object);
        for (j = 0; j < i; j++)
            CHECK(b->kind != st.borrowers[j].kind
                  || (b->kind == CAPLIMIT_BORROWER_THREAD
                          ? !pthread_equal(b->thread, st.borrowers[j].thread)
                          : b->object != st.borrowers[j].object));
    }
    CHECK(nobj <= NWORKERS * NOBJ);
    /* nothing can be granted above the total until it changes */
    if (st.borrowed_tokens <= st.total_tokens && st.total_tokens < atomic_load(&allowed))
        lower_allowed(st.total_tokens);
    caplimit_statistics_destroy(&st);
}

/* The controller's pace between its changes, not a synchronisation:
 * nothing waits for anything to have happened by then. */
static void pause_briefly(unsigned *seed)
{
    struct timespec ts = { 0, (long)(rnd(seed) % 500000) };
    nanosleep(&ts, NULL);
}

static void control(double seconds, struct victim_state *victims)
{
    static const size_t totals[] = { 1, 2, 3, 4, 5, 8, CAPLIMIT_INFINITE };
    double end = now_s() + seconds;
    unsigned seed = 424242;
    pthread_t exiters[MAX_EXITERS];
    int nexiters = 0, i;

    while (now_s() < end) {
        unsigned r = rnd(&seed) % 16;

        if (r < 5) {
            set_total(totals[rnd(&seed) % (sizeof totals / sizeof totals[0])]);
        } else if (r == 5) {             /* paused, but not for long */
            size_t back = cur_total;
            set_total(0);
            pause_briefly(&seed);
            set_total(back);
        } else if (r == 6) {
            enum caplimit_policy p = rnd(&seed) & 1 ? CAPLIMIT_POLICY_THROUGHPUT
                                                    : CAPLIMIT_POLICY_FIFO;
            atomic_fetch_add(&ops, 1);
            CHECK(caplimit_set_policy(lim, p, rnd(&seed) & 1 ? 0 : 20000) == 0);
        } else if (r == 7 && !no_cancel) {
            i = (int)(rnd(&seed) % NVICTIMS);
            pthread_cancel(victims[i].thread);
            join_victim(&victims[i]);
            start_victim(&victims[i]);
        } else if (r == 8) {
            if (nexiters == MAX_EXITERS) {
                while (nexiters > 0)
                    pthread_join(exiters[--nexiters], NULL);
            }
            pthread_create(&exiters[nexiters], NULL, exiter, (void *)(uintptr_t)nexiters);
            nexiters++;
        } else {
            check_snapshot();
        }
        CHECK(atomic_load(&inuse) <= atomic_load(&allowed));
        pause_briefly(&seed);
    }
    while (nexiters > 0)
        pthread_join(exiters[--nexiters], NULL);
}

/* ---- Main -------------------------------------------------------------- */

static double seconds_wanted(int argc, char **argv)
{
    const char *s = argc > 1 ? argv[1] : getenv("STRESS_SECONDS");
    double v = s != NULL ? atof(s) : 2.0;
    return v > 0 ? v : 2.0;
}

static void on_watchdog(int sig)
{
    static const char msg[] = "stress: watchdog: still running, something hangs\n";

    (void)sig;
    if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0)
        _exit(1);
    _exit(1);
}

static void start_watchdog(double seconds)
{
    const char *s = getenv("STRESS_WATCHDOG_SECONDS");
    double limit = s != NULL ? atof(s) : 60 + 20 * seconds;
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_watchdog;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    alarm(limit >= 1 ? (unsigned)limit : 1);
}

static void check_counters(void)
{
    struct caplimit_counters c;

    CHECK(caplimit_counters(lim, &c) == 0);
    CHECK(c.granted_at_once + c.granted_after_wait == atomic_load(&n_granted));
    CHECK(c.would_block == atomic_load(&n_would_block));
    CHECK(c.timed_out == atomic_load(&n_timed_out));
    CHECK(c.closed_out == atomic_load(&n_closed_out));
    CHECK(c.abandoned == atomic_load(&n_abandoned));
    /* a cancellation pending at the entry of an acquire counts nowhere */
    CHECK(c.cancelled <= atomic_load(&n_cancel_hits));
    printf("stress: counters: %llu at once, %llu after wait, %llu would block, "
           "%llu timed out, %llu cancelled (%lu cancellations), %llu closed out, "
           "%llu abandoned, max %zu waiting, longest wait %.3f ms\n",
           c.granted_at_once, c.granted_after_wait, c.would_block, c.timed_out,
           c.cancelled, atomic_load(&n_cancel_hits), c.closed_out, c.abandoned,
           c.max_threads_waiting, c.wait_ns_max / 1e6);
}

int main(int argc, char **argv)
{
    double seconds = seconds_wanted(argc, argv), t0, elapsed, open_s;
    unsigned long open_ops;
    pthread_t workers[NWORKERS], fifo;
    static struct victim_state victims[NVICTIMS];
    int i;

    setvbuf(stdout, NULL, _IOLBF, 0);
    start_watchdog(seconds);
    no_cancel = getenv("STRESS_NO_CANCEL") != NULL;
    if (caplimit_create(&lim, 3) != 0)
        return 99;
    for (i = 0; i < NAUX; i++)
        if (caplimit_create(&aux[i], CAPLIMIT_INFINITE) != 0)
            return 99;
    cur_total = 3;
    atomic_store(&allowed, 3);

    t0 = now_s();
    for (i = 0; i < NWORKERS; i++)
        pthread_create(&workers[i], NULL, worker, (void *)(intptr_t)i);
    for (i = 0; i < NVICTIMS; i++)
        start_victim(&victims[i]);
    pthread_create(&fifo, NULL, fifo_checker, NULL);

    control(seconds, victims);
    open_ops = atomic_load(&ops);
    open_s = now_s() - t0;

    /* R18 near the end: waiters leave with ECANCELED, later acquires too */
    set_total(cur_total == CAPLIMIT_INFINITE ? 2 : cur_total);
    CHECK(caplimit_close(lim) == 0);
    atomic_store(&closed, 1);
    CHECK(caplimit_close(lim) == 0);
    control(0.05, victims);
    atomic_store(&stop, 1);

    for (i = 0; i < NWORKERS; i++)
        pthread_join(workers[i], NULL);
    for (i = 0; i < NVICTIMS; i++)
        join_victim(&victims[i]);
    pthread_join(fifo, NULL);
    elapsed = now_s() - t0;

    /* nothing borrowed, queued or leaked */
    CHECK(atomic_load(&inuse) == 0);
    CHECK(caplimit_borrowed_tokens(lim) == 0);
    CHECK(caplimit_threads_waiting(lim) == 0);
    CHECK(caplimit_is_closed(lim) == 1);
    check_counters();
    CHECK(caplimit_destroy(lim) == 0);
    for (i = 0; i < NAUX; i++) {
        struct caplimit_counters c;
        CHECK(caplimit_counters(aux[i], &c) == 0);
        CHECK(c.abandoned == atomic_load(&n_abandoned_aux[i]));
        CHECK(caplimit_borrowed_tokens(aux[i]) == 0);
        CHECK(caplimit_destroy(aux[i]) == 0);
    }

    printf("stress: %.1f s, %lu operations (%.0f/s before the close), "
           "%lu invariant checks, %lu FIFO rounds, %u victims, %lu failed\n",
           elapsed, atomic_load(&ops), open_ops / open_s,
           atomic_load(&checks), atomic_load(&n_fifo_rounds), nvictims_spawned,
           atomic_load(&failures));
    return atomic_load(&failures) == 0 ? 0 : 1;
}
