/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * caplimit run, the waiting half.  The library's acquire is not ended by a
 * signal (R13), so a thread waits in it while the main thread takes the
 * signals with sigwait; a signal that should end the wait cancels the
 * thread, which leaves the queue (R7) without losing a token.  -w is the
 * library's own deadline, so the place in the FIFO queue is kept to the
 * end.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "run.h"

struct waiter {
    struct run *r;
    pthread_t main;
    struct timespec deadline;  /* CLOCK_MONOTONIC, used when r->wait >= 0 */
    int rc;
};

static void *wait_thread(void *arg)
{
    struct waiter *w = arg;
    struct run *r = w->r;

    if (r->wait >= 0)
        w->rc = caplimit_acquire_tokens_until(r->lim, &run_borrower, r->tokens,
                                              CLOCK_MONOTONIC, &w->deadline);
    else
        w->rc = caplimit_acquire_tokens(r->lim, &run_borrower, r->tokens);
    pthread_kill(w->main, SIGRTMIN);        /* not a cancellation point */
    return NULL;
}

static struct timespec deadline_after(double seconds)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (seconds > 1e9)                      /* beyond any wait that matters */
        seconds = 1e9;
    ts.tv_sec += (time_t)seconds;
    ts.tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* What the queue looked like when this run joined it. */
struct queue_view {
    size_t ahead;                           /* waiters in front, at the start */
    unsigned long long left0;               /* waiters that had left by then */
    double t0;
    int waits;                              /* it looked as if it would wait */
    int live;                               /* a line on the terminal shows it */
};

/* Waiters that have left the queue so far, in any way the counters see. */
static unsigned long long left_queue(const struct caplimit_counters *c)
{
    return c->granted_after_wait + c->timed_out + c->cancelled + c->closed_out;
}

static const char *plural(size_t n)
{
    return n == 1 ? "" : "s";
}

/* The holders, "pid (comm)" each, as far as size allows. */
static void format_holders(const struct caplimit_statistics *st, char *buf, size_t size)
{
    size_t i, len = 0;

    buf[0] = '\0';
    for (i = 0; i < st->nborrowers && len + 1 < size; i++) {
        char comm[32];
        int n;

        cmd_proc_what(st->borrowers[i].pid, comm, sizeof comm);
        n = snprintf(buf + len, size - len, "%s%d %s", i ? ", " : "",
                     (int)st->borrowers[i].pid, comm[0] ? comm : "?");
        if (n < 0)
            break;
        len += (size_t)n;
    }
}

static void total_text(size_t total, char *buf, size_t size)
{
    if (total == CAPLIMIT_INFINITE)
        snprintf(buf, size, "inf");
    else
        snprintf(buf, size, "%zu", total);
}

/* -v: a run that will wait says so, and how long the queue is. */
static void announce(struct run *r, struct queue_view *q)
{
    struct caplimit_statistics st;
    struct caplimit_counters c;
    char total[32];

    memset(q, 0, sizeof *q);
    q->t0 = cmd_now();
    if (caplimit_statistics(r->lim, &st) != 0)
        return;
    if (caplimit_counters(r->lim, &c) == 0)
        q->left0 = left_queue(&c);
    q->ahead = st.threads_waiting;
    total_text(st.total_tokens, total, sizeof total);
    q->waits = st.threads_waiting > 0 ||
               (st.total_tokens != CAPLIMIT_INFINITE &&
                (st.borrowed_tokens > st.total_tokens ||
                 st.total_tokens - st.borrowed_tokens < r->tokens));
    if (r->verbose && q->waits)
        cmd_error(r->arg, "waiting for %zu token%s: %zu of %s held, %zu waiting ahead",
                  r->tokens, plural(r->tokens), st.borrowed_tokens, total,
                  st.threads_waiting);
    if (st.total_tokens != CAPLIMIT_INFINITE && r->tokens > st.total_tokens)
        cmd_error(r->arg, "%zu tokens asked, the total is %s: waiting for it to rise",
                  r->tokens, total);
    caplimit_statistics_destroy(&st);
}

static int terminal_width(void)
{
    struct winsize ws;

    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10)
        return ws.ws_col;
    return 80;
}

/* The live line: how long, how far from the head, who holds.  The place is
 * worked out from the counters (the library does not tell a waiter its
 * place), so it can read low when waiters behind this one give up. */
static void show_live(struct run *r, struct queue_view *q)
{
    struct caplimit_statistics st;
    struct caplimit_counters c;
    char line[512], holders[384], total[32];
    unsigned long long gone = 0;
    size_t ahead;
    int width = terminal_width();

    if (caplimit_statistics(r->lim, &st) != 0)
        return;
    if (caplimit_counters(r->lim, &c) == 0)
        gone = left_queue(&c) - q->left0;
    ahead = gone >= q->ahead ? 0 : q->ahead - (size_t)gone;
    if (st.threads_waiting > 0 && ahead > st.threads_waiting - 1)
        ahead = st.threads_waiting - 1;
    format_holders(&st, holders, sizeof holders);
    total_text(st.total_tokens, total, sizeof total);
    snprintf(line, sizeof line, "caplimit: %s: waiting %.0f s, %zu ahead; %zu of %s held by %s",
             r->arg, cmd_now() - q->t0, ahead, st.borrowed_tokens, total,
             holders[0] ? holders : "nobody");
    if ((int)strlen(line) >= width)
        line[width - 1] = '\0';             /* one line, or \r cannot redraw it */
    fprintf(stderr, "\r%s\033[K", line);
    q->live = 1;
    caplimit_statistics_destroy(&st);
}

/* Ends the wait early: the thread leaves the queue, or gives back what it
 * was granted in the meantime. */
static void cancel_wait(struct run *r, pthread_t t, struct waiter *w)
{
    pthread_cancel(t);
    pthread_join(t, NULL);
    if (w->rc == 0)
        caplimit_release_on_behalf_of(r->lim, &run_borrower);
}

/* Waits for the thread's "done" or a signal; -1 if the thread is done,
 * else the exit code. */
static int take_signal(struct run *r, struct queue_view *q)
{
    int live = r->verbose && isatty(STDERR_FILENO);
    struct timespec tick = { 0, 250000000L };
    siginfo_t si;
    int sig;

    for (;;) {
        if (live && cmd_now() - q->t0 >= 1.0)
            show_live(r, q);
        sig = live ? sigtimedwait(&r->caught, &si, &tick) : sigwaitinfo(&r->caught, &si);
        if (sig < 0)
            continue;                       /* a tick, or EINTR after SIGCONT */
        if (sig == SIGRTMIN && si.si_pid == getpid())
            return -1;
        if (sig == SIGTSTP)
            raise(SIGSTOP);                 /* waiting or not, ^Z stops caplimit */
        else if (sig != SIGCONT && sig != SIGCHLD && sig != SIGWINCH)
            return 128 + sig;
    }
}

int run_acquire(struct run *r)
{
    struct waiter w = { .r = r, .main = pthread_self(), .rc = 0 };
    struct queue_view q;
    pthread_t t;
    int rc, code;

    if (r->wait >= 0)
        w.deadline = deadline_after(r->wait);
    announce(r, &q);
    if ((rc = pthread_create(&t, NULL, wait_thread, &w)) != 0)
        return cmd_fail(r->arg, rc);
    code = take_signal(r, &q);
    if (q.live)
        fputs("\r\033[K", stderr);
    if (code >= 0) {
        cancel_wait(r, t, &w);
        if (r->verbose)
            cmd_error(r->arg, "stopped waiting on signal %d (%s)", code - 128,
                      strsignal(code - 128));
        return code;
    }
    pthread_join(t, NULL);
    if (w.rc == ETIMEDOUT) {
        if (r->verbose)
            cmd_error(r->arg, "no %zu token%s within %g s: %s not run", r->tokens,
                      plural(r->tokens), r->wait, r->argv[0]);
        return CMD_EX_TEMPFAIL;
    }
    if (w.rc != 0)
        return cmd_fail(r->arg, w.rc);
    if (r->verbose && q.waits)
        cmd_error(r->arg, "got %zu token%s after %.2f s", r->tokens, plural(r->tokens),
                  cmd_now() - q.t0);
    else if (r->verbose)
        cmd_error(r->arg, "got %zu token%s at once", r->tokens, plural(r->tokens));
    return 0;
}
