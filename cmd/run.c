/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * caplimit run NAME [-n TOTAL] [-t TOKENS] [-w SECONDS] [-v] [--] COMMAND...
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "run.h"

const char run_borrower;

struct run_args {
    const char *name;
    size_t total;
    int have_total;
};

/* The value of option -X: the rest of this word or the next word. */
static const char *option_value(int argc, char **argv, int *i, const char *word)
{
    if (word[1] != '\0')
        return word + 1;
    if (*i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

/* Options may come before and after NAME; the next word ends them. */
static int parse(int argc, char **argv, struct run *r, struct run_args *a)
{
    int i;

    for (i = 1; i < argc; i++) {
        const char *w = argv[i], *v;

        if (strcmp(w, "--") == 0) {
            i++;
            break;
        }
        if (w[0] != '-' || w[1] == '\0') {
            if (a->name != NULL)
                break;
            a->name = w;
            continue;
        }
        for (w++; *w != '\0'; w++) {
            char opt = *w;

            if (opt == 'v') {
                r->verbose = 1;
                continue;
            }
            if (opt != 'n' && opt != 't' && opt != 'w')
                return cmd_usage_error("run: unknown option '-%c'", opt);
            if ((v = option_value(argc, argv, &i, w)) == NULL)
                return cmd_usage_error("run: option '-%c' needs a value", opt);
            if (opt == 'n' && cmd_parse_count(v, 1, &a->total) != 0)
                return cmd_usage_error("run: -n: TOTAL must be a number of tokens "
                                       "or 'inf', not '%s'", v);
            if (opt == 't' && (cmd_parse_count(v, 0, &r->tokens) != 0 || r->tokens == 0))
                return cmd_usage_error("run: -t: TOKENS must be a number from 1 up, "
                                       "not '%s'", v);
            if (opt == 'w' && cmd_parse_seconds(v, &r->wait) != 0)
                return cmd_usage_error("run: -w: SECONDS must be a number of seconds "
                                       "(such as 2 or 0.5), not '%s'", v);
            a->have_total |= opt == 'n';
            break;
        }
    }
    if (a->name == NULL)
        return cmd_usage_error("run: a limiter NAME is needed\n"
                               "Usage: caplimit run NAME [-n TOTAL] [-t TOKENS] "
                               "[-w SECONDS] [-v] [--] COMMAND [ARG...]");
    if (i >= argc)
        return cmd_usage_error("run: %s: a COMMAND to run is needed", a->name);
    r->argv = argv + i;
    return 0;
}

static size_t online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    return n > 0 ? (size_t)n : 1;
}

/* Blocks the signals that caplimit handles itself, before any thread
 * exists, so that every thread inherits the mask and only sigwait sees
 * them.  A signal ignored on entry (nohup, a background job of a
 * non-interactive shell) stays ignored, for caplimit and for COMMAND. */
static void take_signals(struct run *r)
{
    static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2,
                                SIGALRM, SIGWINCH, SIGTSTP, SIGCONT, SIGCHLD };
    struct sigaction sa;
    size_t i;

    sigemptyset(&r->caught);
    for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        if (sigaction(sigs[i], NULL, &sa) == 0 && sa.sa_handler != SIG_IGN)
            sigaddset(&r->caught, sigs[i]);
    sigaddset(&r->caught, SIGRTMIN);          /* the waiting thread's "done" */
    pthread_sigmask(SIG_BLOCK, &r->caught, &r->orig_mask);
}

static int open_limiter(struct run *r, const struct run_args *a)
{
    char name[CMD_NAME_MAX];
    int rc = cmd_name(a->name, name);

    if (rc != 0)
        return rc;
    /* Like a new file: read-write for everyone the umask lets in. */
    rc = caplimit_open(&r->lim, name, O_CREAT, 0666,
                       a->have_total ? a->total : online_cpus());
    if (rc != 0)
        return cmd_fail(a->name, rc);
    if (r->verbose && a->have_total && caplimit_total_tokens(r->lim) != a->total)
        cmd_error(a->name, "exists already: -n %zu not used", a->total);
    return 0;
}

int cmd_run(int argc, char **argv)
{
    struct run r;
    struct run_args a;
    int rc, rel;

    memset(&r, 0, sizeof r);
    memset(&a, 0, sizeof a);
    r.tokens = 1;
    r.wait = -1;
    if ((rc = parse(argc, argv, &r, &a)) != 0)
        return rc;
    r.arg = a.name;
    if ((rc = open_limiter(&r, &a)) != 0)
        return rc;
    take_signals(&r);
    if ((rc = run_acquire(&r)) != 0) {
        caplimit_destroy(r.lim);
        return rc;
    }
    rc = run_command(&r);
    rel = caplimit_release_on_behalf_of(r.lim, &run_borrower);
    if (rel != 0)
        cmd_error(r.arg, "giving back the tokens: %s", strerror(rel));
    if (r.verbose)
        cmd_error(r.arg, "gave back %zu token%s", r.tokens, r.tokens == 1 ? "" : "s");
    caplimit_destroy(r.lim);
    return rc;
}
