/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * caplimit(1): what the subcommands share.
 */
#ifndef CAPLIMIT_CMD_H
#define CAPLIMIT_CMD_H

#include <caplimit.h>
#include <stddef.h>

/* Exit codes: sysexits.h's, named here so that every file agrees. */
enum {
    CMD_EX_USAGE = 64,        /* EX_USAGE */
    CMD_EX_UNAVAILABLE = 69,  /* EX_UNAVAILABLE: no such limiter, closed */
    CMD_EX_SOFTWARE = 70,     /* EX_SOFTWARE: anything else */
    CMD_EX_TEMPFAIL = 75,     /* EX_TEMPFAIL: -w ran out */
    CMD_EX_NOPERM = 77        /* EX_NOPERM */
};

/* The longest name caplimit_open accepts: '/', 200 characters, NUL. */
#define CMD_NAME_MAX 202

int cmd_run(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_set(int argc, char **argv);
int cmd_close(int argc, char **argv);
int cmd_unlink(int argc, char **argv);

/* "caplimit: WHAT: message" on stderr. */
void cmd_error(const char *what, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A usage error: the message, a pointer to --help, and CMD_EX_USAGE. */
int cmd_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* NAME with its leading '/' into buf; CMD_EX_USAGE (reported) if it is no
 * limiter name. */
int cmd_name(const char *arg, char buf[CMD_NAME_MAX]);
/* A library error about the limiter ARG: reported, mapped to an exit code. */
int cmd_fail(const char *arg, int err);
/* Opens an existing limiter (no O_CREAT): 0, or an exit code (reported). */
int cmd_open_existing(const char *arg, caplimit_t **out);

/* Decimal counts without a sign; with allow_inf, "inf" is CAPLIMIT_INFINITE.
 * 0 on success, -1 if s is not one. */
int cmd_parse_count(const char *s, int allow_inf, size_t *out);
/* Non-negative seconds, fractions allowed. */
int cmd_parse_seconds(const char *s, double *out);

/* Seconds on CLOCK_MONOTONIC. */
double cmd_now(void);
/* /proc/PID/comm, or "" when unknown. */
void cmd_proc_comm(int pid, char *buf, size_t size);
/* The holder's COMMAND when PID is a caplimit run, else its comm. */
void cmd_proc_what(int pid, char *buf, size_t size);
/* /proc/PID/cmdline with spaces between the words, or "" when unknown. */
void cmd_proc_cmdline(int pid, char *buf, size_t size);

#endif
