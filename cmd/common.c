/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * caplimit(1): messages, names, numbers, /proc.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"

void cmd_error(const char *what, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "caplimit: %s: ", what);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cmd_usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("caplimit: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'caplimit --help' for more information.\n", stderr);
    return CMD_EX_USAGE;
}

int cmd_name(const char *arg, char buf[CMD_NAME_MAX])
{
    const char *base = arg[0] == '/' ? arg + 1 : arg;
    size_t len = strlen(base);

    if (len == 0 || strchr(base, '/') != NULL) {
        cmd_error(arg[0] ? arg : "''", "not a limiter name: 1 to 200 characters, "
                  "none of them '/' but an optional leading one");
        return CMD_EX_USAGE;
    }
    if (len > CMD_NAME_MAX - 2) {
        cmd_error(arg, "name too long: at most 200 characters");
        return CMD_EX_USAGE;
    }
    buf[0] = '/';
    memcpy(buf + 1, base, len + 1);
    return 0;
}

int cmd_fail(const char *arg, int err)
{
    switch (err) {
    case ENOENT:
        cmd_error(arg, "no such limiter");
        return CMD_EX_UNAVAILABLE;
    case ECANCELED:
        cmd_error(arg, "the limiter is closed");
        return CMD_EX_UNAVAILABLE;
    case EACCES:
    case EPERM:
        cmd_error(arg, "permission denied");
        return CMD_EX_NOPERM;
    case EPROTO:
        cmd_error(arg, "not a limiter, or one of another version of libcaplimit");
        return CMD_EX_SOFTWARE;
    case EINVAL:
    case ENAMETOOLONG:
        cmd_error(arg, "not a limiter name");
        return CMD_EX_USAGE;
    case ENOSPC:
        cmd_error(arg, "no room for another borrower in the limiter");
        return CMD_EX_SOFTWARE;
    default:
        cmd_error(arg, "%s", strerror(err));
        return CMD_EX_SOFTWARE;
    }
}

int cmd_open_existing(const char *arg, caplimit_t **out)
{
    char name[CMD_NAME_MAX];
    int rc = cmd_name(arg, name);

    if (rc != 0)
        return rc;
    rc = caplimit_open(out, name, 0, 0, 0);
    return rc == 0 ? 0 : cmd_fail(arg, rc);
}

int cmd_parse_count(const char *s, int allow_inf, size_t *out)
{
    unsigned long long v;
    char *end;

    if (allow_inf && (strcmp(s, "inf") == 0 || strcmp(s, "infinite") == 0)) {
        *out = CAPLIMIT_INFINITE;
        return 0;
    }
    if (s[0] < '0' || s[0] > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v >= (unsigned long long)CAPLIMIT_INFINITE)
        return -1;
    *out = (size_t)v;
    return 0;
}

int cmd_parse_seconds(const char *s, double *out)
{
    double v;
    char *end;

    if ((s[0] < '0' || s[0] > '9') && s[0] != '.')
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v) || v < 0)
        return -1;
    *out = v;
    return 0;
}

double cmd_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The file's first size - 1 bytes, NUL-terminated; the length read or -1. */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
    ssize_t n, len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return -1;
    while ((size_t)len < size - 1 &&
           (n = read(fd, buf + len, size - 1 - (size_t)len)) > 0)
        len += n;
    close(fd);
    buf[len] = '\0';
    return len;
}

void cmd_proc_comm(int pid, char *buf, size_t size)
{
    char path[64];
    ssize_t len;

    snprintf(path, sizeof path, "/proc/%d/comm", pid);
    len = read_small(path, buf, size);
    if (len <= 0)
        buf[0] = '\0';
    else if (buf[len - 1] == '\n')
        buf[len - 1] = '\0';
}

void cmd_proc_cmdline(int pid, char *buf, size_t size)
{
    char path[64];
    ssize_t len, i;

    snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
    len = read_small(path, buf, size);
    if (len <= 0) {
        buf[0] = '\0';
        return;
    }
    while (len > 0 && buf[len - 1] == '\0')
        len--;
    for (i = 0; i < len; i++)              /* words, and lines of sh -c, on one line */
        if ((unsigned char)buf[i] < 0x20)
            buf[i] = ' ';
    buf[len] = '\0';
}

/* What a holder runs: for a caplimit run (a process whose children are
 * its COMMAND and its guard, a copy of itself), COMMAND's name; for any
 * other process, its own. */
void cmd_proc_what(int pid, char *buf, size_t size)
{
    char path[64], kids[256], comm[64], *p, *end;

    cmd_proc_comm(pid, buf, size);
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", pid, pid);
    if (read_small(path, kids, sizeof kids) <= 0)
        return;
    for (p = kids;; p = end) {
        long kid = strtol(p, &end, 10);

        if (end == p || kid <= 0)
            return;
        cmd_proc_comm((int)kid, comm, sizeof comm);
        if (comm[0] != '\0' && strcmp(comm, buf) != 0) {
            snprintf(buf, size, "%s", comm);
            return;
        }
    }
}
