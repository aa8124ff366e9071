/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * caplimit run: the waiting half (wait.c) and the running half (child.c).
 */
#ifndef CAPLIMIT_RUN_H
#define CAPLIMIT_RUN_H

#include <signal.h>

#include "cmd.h"

struct run {
    const char *arg;           /* NAME as given, for messages */
    caplimit_t *lim;
    size_t tokens;             /* -t */
    double wait;               /* -w, or < 0 for as long as it takes */
    int verbose;               /* -v */
    char **argv;               /* COMMAND [ARG...] */
    sigset_t caught;           /* the signals caplimit takes with sigwait */
    sigset_t orig_mask;        /* COMMAND's mask: the one caplimit started with */
};

/* The hold's borrower: an object of this process (R2, R25), so that any of
 * its threads may release it and R26 takes it back when the process ends. */
extern const char run_borrower;

/* Takes the tokens: 0, or the exit code (reported), e.g. 75 or 128 + signal. */
int run_acquire(struct run *r);
/* Runs COMMAND holding the tokens; returns caplimit's exit status.  The
 * tokens are given back by the caller. */
int run_command(struct run *r);

#endif
