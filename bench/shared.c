/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * Shared limiters (R24..R28) against process-shared sem_t: the uncontended
 * pair, and a ping-pong between two processes in which every hand-off
 * wakes a waiter asleep in the other process.
 *
 * Names: each limiter is made with O_CREAT | O_EXCL under a name of this
 * process's and unlinked as soon as it is open (the handle, and a child's
 * copy of it after fork, keep working).  A name is on a list from before
 * its creation until its unlink; exit and the usual fatal signals unlink
 * whatever is on it, so no name outlives the bench.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <sys/wait.h>
#include <unistd.h>

/* ---- Names ------------------------------------------------------------- */

#define NAME_LEN 64
static char pending[NAME_LEN];       /* created, not yet unlinked, or "" */
static volatile sig_atomic_t pending_set;
static unsigned name_serial;
static int cleanup_installed;

static void unlink_pending(void)
{
    if (pending_set) {
        pending_set = 0;
        (void)caplimit_unlink(pending);
    }
}

static void on_fatal(int sig)
{
    unlink_pending();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_cleanup(void)
{
    static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGABRT, SIGSEGV, SIGBUS };
    struct sigaction sa;
    unsigned i;

    if (cleanup_installed)
        return;
    cleanup_installed = 1;
    atexit(unlink_pending);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal;
    sigemptyset(&sa.sa_mask);
    for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
}

/* A new shared limiter of total tokens, its name already unlinked. */
caplimit_t *shared_open(size_t total)
{
    caplimit_t *lim;
    int rc;

    install_cleanup();
    snprintf(pending, sizeof pending, "/caplimit-bench-%ld-%u", (long)getpid(), name_serial++);
    pending_set = 1;
    rc = caplimit_open(&lim, pending, O_CREAT | O_EXCL, 0600, total);
    if (rc != 0) {
        pending_set = 0;         /* not made: nothing to unlink */
        die("caplimit_open", rc);
    }
    rc = caplimit_unlink(pending);
    pending_set = 0;
    if (rc != 0)
        die("caplimit_unlink", rc);
    return lim;
}

/* A process-shared sem_t in a page of its own, as another process sees it. */
sem_t *shared_sem(unsigned value)
{
    sem_t *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    if (s == MAP_FAILED)
        die("mmap", errno);
    if (sem_init(s, 1, value) != 0)
        die("sem_init", errno);
    return s;
}

void shared_sem_free(sem_t *s)
{
    sem_destroy(s);
    munmap(s, sizeof *s);
}

/* ---- The ping-pong ----------------------------------------------------- */

struct pong {
    atomic_ulong handoffs;
    atomic_int stop;
    atomic_int mark;                 /* 1 while the interval is measured, 2 after */
    atomic_int seen;                 /* the child has recorded marks up to this */
    atomic_int in_acquire[2];        /* parent, child in caplimit_acquire or sem_wait */
    atomic_ulong polls, yields;      /* PONG_CAP: threads_waiting, sched_yield calls */
    long child_csw[3];
    unsigned long long child_cpu[3];
    sem_t to_parent, to_child;       /* PONG_SEM */
};

/* The child reports its own context switches and CPU time at the marks. */
static void child_note(struct pong *pg)
{
    int m = atomic_load_explicit(&pg->mark, memory_order_acquire);

    if (m == atomic_load_explicit(&pg->seen, memory_order_relaxed) + 1) {
        usage_so_far(&pg->child_csw[m], &pg->child_cpu[m]);
        atomic_store_explicit(&pg->seen, m, memory_order_release);
    }
}

static void sem_wait_intr(sem_t *s)
{
    while (sem_wait(s) != 0)
        if (errno != EINTR)
            die("sem_wait", errno);
}

/* The other side is a few instructions from its wait, but often cannot
 * run: on 2 cores the wake just sent has put this side on its core (the
 * trial with 256 pauses first never saw it arrive), so yield at once. */
static void pause_a_little(struct pong *pg, unsigned *spins)
{
    ++*spins;
    atomic_fetch_add_explicit(&pg->yields, 1, memory_order_relaxed);
    sched_yield();
}

/* Holds the token until the other side waits for it, then hands it over
 * and queues for it again: each hand-off wakes the other process, asleep in
 * caplimit_acquire.  (Without the wait the holder, looping, would take the
 * token again before the other side, woken from the limiter's lock, got
 * into the queue.)  in_acquire spares the limiter's lock the polling while
 * the other side has not yet called caplimit_acquire. */
static void cap_side(caplimit_t *lim, struct pong *pg, int side)
{
    unsigned spins;

    for (;;) {
        atomic_store(&pg->in_acquire[side], 1);
        if (caplimit_acquire(lim) != 0)
            return;                  /* closed */
        atomic_store(&pg->in_acquire[side], 0);
        atomic_fetch_add_explicit(&pg->handoffs, 1, memory_order_relaxed);
        if (side == 1)
            child_note(pg);
        spins = 0;
        while (!atomic_load(&pg->in_acquire[!side])
               || (atomic_fetch_add_explicit(&pg->polls, 1, memory_order_relaxed),
                   caplimit_threads_waiting(lim) == 0)) {
            if (atomic_load(&pg->stop)) {
                CHECK(caplimit_release(lim));
                return;
            }
            pause_a_little(pg, &spins);
        }
        CHECK(caplimit_release(lim));
    }
}

/* Waits until side is in its acquire or sem_wait; 0, or 1 on stop. */
static int await_waiter(struct pong *pg, int side)
{
    unsigned spins = 0;

    while (!atomic_load(&pg->in_acquire[side])) {
        if (atomic_load(&pg->stop))
            return 1;
        pause_a_little(pg, &spins);
    }
    return 0;
}

static void sem_post_checked(sem_t *s)
{
    if (sem_post(s) != 0)
        die("sem_post", errno);
}

/* The sem_t ping-pong.  PONG_SEM keeps the caplimit side's rule: post
 * only to a side already in sem_wait.  PONG_SEM_FREE is the classic one: a
 * post may run ahead of the other side's wait, which then does not sleep. */
static void sem_child(struct pong *pg, int rendezvous)
{
    for (;;) {
        atomic_store(&pg->in_acquire[1], 1);
        sem_wait_intr(&pg->to_child);
        atomic_store(&pg->in_acquire[1], 0);
        if (atomic_load(&pg->stop))
            return;
        atomic_fetch_add_explicit(&pg->handoffs, 1, memory_order_relaxed);
        child_note(pg);
        if (rendezvous && await_waiter(pg, 0))
            return;
        sem_post_checked(&pg->to_parent);
    }
}

static void sem_parent(struct pong *pg, int rendezvous)
{
    for (;;) {
        if (rendezvous && await_waiter(pg, 1))
            return;
        sem_post_checked(&pg->to_child);
        atomic_store(&pg->in_acquire[0], 1);
        sem_wait_intr(&pg->to_parent);
        atomic_store(&pg->in_acquire[0], 0);
        if (atomic_load(&pg->stop))
            return;
        atomic_fetch_add_explicit(&pg->handoffs, 1, memory_order_relaxed);
    }
}

struct pong_run {
    enum pong_kind kind;
    caplimit_t *lim;
    struct pong *pg;
    unsigned long ops[3], polls[3], yields[3];   /* at the marks */
    struct caplimit_counters counters[3];
};

static void *parent_side(void *arg)
{
    struct pong_run *pr = arg;

    if (pr->kind == PONG_CAP)
        cap_side(pr->lim, pr->pg, 0);
    else
        sem_parent(pr->pg, pr->kind == PONG_SEM);
    return NULL;
}

static unsigned long pong_count(void *arg)
{
    struct pong_run *pr = arg;
    return atomic_load_explicit(&pr->pg->handoffs, memory_order_relaxed);
}

static void pong_mark(void *arg, int start)
{
    struct pong_run *pr = arg;
    int m = start ? 1 : 2;

    pr->ops[m] = atomic_load(&pr->pg->handoffs);
    pr->polls[m] = atomic_load(&pr->pg->polls);
    pr->yields[m] = atomic_load(&pr->pg->yields);
    if (pr->lim != NULL)
        CHECK(caplimit_counters(pr->lim, &pr->counters[m]));
    atomic_store_explicit(&pr->pg->mark, m, memory_order_release);
}

static pid_t fork_child(struct pong_run *pr)
{
    pid_t parent = getpid(), pid = fork();

    if (pid < 0)
        die("fork", errno);
    if (pid > 0)
        return pid;
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGKILL);    /* never outlive the bench */
#endif
    if (getppid() != parent)
        _exit(3);
    bystander_start();               /* a thread alive here too */
    if (pr->kind == PONG_CAP)
        cap_side(pr->lim, pr->pg, 1);
    else
        sem_child(pr->pg, pr->kind == PONG_SEM);
    _exit(0);
}

struct result run_pong(const struct params *p, enum pong_kind kind)
{
    struct pong_run pr;
    struct result r;
    pthread_t t;
    pid_t child;
    unsigned long long waited;
    int status;
    unsigned long long ops_end;

    memset(&pr, 0, sizeof pr);
    pr.kind = kind;
    pr.pg = mmap(NULL, sizeof *pr.pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (pr.pg == MAP_FAILED)
        die("mmap", errno);
    memset(pr.pg, 0, sizeof *pr.pg);
    if (kind == PONG_CAP) {
        pr.lim = shared_open(1);
    } else if (sem_init(&pr.pg->to_parent, 1, 0) != 0 || sem_init(&pr.pg->to_child, 1, 0) != 0) {
        die("sem_init", errno);
    }
    child = fork_child(&pr);
    CHECK(pthread_create(&t, NULL, parent_side, &pr));
    r = measure(p, p->handoff_ms, pong_count, pong_mark, &pr);
    ops_end = pr.ops[2];
    /* the child records mark 2 at its next hand-off */
    while (atomic_load_explicit(&pr.pg->seen, memory_order_acquire) < 2
           && atomic_load(&pr.pg->handoffs) < ops_end + 64)
        sched_yield();
    atomic_store(&pr.pg->stop, 1);
    if (kind == PONG_CAP) {
        CHECK(caplimit_close(pr.lim));
    } else {
        sem_post_checked(&pr.pg->to_parent);
        sem_post_checked(&pr.pg->to_child);
    }
    CHECK(pthread_join(t, NULL));
    if (waitpid(child, &status, 0) != child)
        die("waitpid", errno);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("ping-pong child failed", EPROTO);
    /* r.csw and r.cpu were this process's: add the child's */
    if (pr.pg->seen == 2 && pr.ops[2] > pr.ops[1]) {
        double ops = (double)(pr.ops[2] - pr.ops[1]);
        r.csw += (double)(pr.pg->child_csw[2] - pr.pg->child_csw[1]) / ops;
        r.cpu += (double)(pr.pg->child_cpu[2] - pr.pg->child_cpu[1]) / ops;
    }
    if (pr.ops[2] > pr.ops[1])
        r.yields = (double)(pr.yields[2] - pr.yields[1]) / (double)(pr.ops[2] - pr.ops[1]);
    /* Only grants to a waiter are hand-offs (the library's counters): the
     * first grant is not, and one not queued in time would not be. */
    if (kind == PONG_CAP) {
        waited = pr.counters[2].granted_after_wait - pr.counters[1].granted_after_wait;
        if (waited == 0)
            die("ping-pong: no hand-off", EPROTO);
        r.handoff_share = (double)waited / (double)(pr.ops[2] - pr.ops[1]);
        r.polls = (double)(pr.polls[2] - pr.polls[1]) / (double)waited;
        r.ns /= r.handoff_share;
        r.csw /= r.handoff_share;
        r.cpu /= r.handoff_share;
        CHECK(caplimit_destroy(pr.lim));
    } else {
        sem_destroy(&pr.pg->to_parent);
        sem_destroy(&pr.pg->to_child);
    }
    munmap(pr.pg, sizeof *pr.pg);
    return r;
}
