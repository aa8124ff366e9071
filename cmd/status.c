/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * caplimit status [--json] [NAME...]: one snapshot per limiter, as a table
 * for people or one JSON object per line for scripts.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"

/* Where glibc and musl keep POSIX shared memory objects. */
#define SHM_DIR "/dev/shm"

struct view {
    const char *name;                       /* with its leading '/' */
    struct caplimit_statistics st;
    struct caplimit_counters c;
    int closed;
    enum caplimit_policy policy;
    long long created;                      /* seconds since the epoch, or -1 */
};

/* The library keeps no creation time: the birth time of the shared memory
 * object stands in for it, where the system records one. */
static long long created_at(const char *name)
{
#ifdef STATX_BTIME
    char path[sizeof SHM_DIR + CMD_NAME_MAX];
    struct statx sx;

    snprintf(path, sizeof path, SHM_DIR "%s", name);
    if (statx(AT_FDCWD, path, 0, STATX_BTIME, &sx) == 0 && (sx.stx_mask & STATX_BTIME))
        return (long long)sx.stx_btime.tv_sec;
#else
    (void)name;
#endif
    return -1;
}

static const char *policy_name(enum caplimit_policy p)
{
    return p == CAPLIMIT_POLICY_THROUGHPUT ? "throughput" : "fifo";
}

static int by_pid(const void *a, const void *b)
{
    const struct caplimit_borrower *x = a, *y = b;

    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    return (x->tid > y->tid) - (x->tid < y->tid);
}

static int take_view(caplimit_t *lim, const char *name, struct view *v)
{
    int rc;

    memset(v, 0, sizeof *v);
    v->name = name;
    if ((rc = caplimit_statistics(lim, &v->st)) != 0)
        return rc;
    if ((rc = caplimit_counters(lim, &v->c)) != 0) {
        caplimit_statistics_destroy(&v->st);
        return rc;
    }
    v->closed = caplimit_is_closed(lim);
    if ((rc = caplimit_get_policy(lim, &v->policy, NULL)) != 0) {
        caplimit_statistics_destroy(&v->st);
        return rc;
    }
    v->created = created_at(name);
    if (v->st.nborrowers > 1)        /* borrowers is NULL when there are none */
        qsort(v->st.borrowers, v->st.nborrowers, sizeof *v->st.borrowers, by_pid);
    return 0;
}

/* R11, from the snapshot itself so that it agrees with the other counts. */
static size_t available(const struct caplimit_statistics *st)
{
    if (st->total_tokens == CAPLIMIT_INFINITE)
        return CAPLIMIT_INFINITE;
    return st->borrowed_tokens >= st->total_tokens ? 0
                                                   : st->total_tokens - st->borrowed_tokens;
}

/* ---- JSON --------------------------------------------------------------- */

static void json_string(const char *s)
{
    putchar('"');
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;

        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static void json_count(const char *key, size_t n)
{
    if (n == CAPLIMIT_INFINITE)
        printf("\"%s\":null", key);
    else
        printf("\"%s\":%zu", key, n);
}

static void json_holder(const struct caplimit_borrower *b)
{
    char comm[64], cmdline[4096];

    cmd_proc_comm(b->pid, comm, sizeof comm);
    cmd_proc_cmdline(b->pid, cmdline, sizeof cmdline);
    printf("{\"kind\":\"%s\",\"pid\":%d,\"tid\":",
           b->kind == CAPLIMIT_BORROWER_THREAD ? "thread" : "object", (int)b->pid);
    if (b->kind == CAPLIMIT_BORROWER_THREAD && b->tid != 0)
        printf("%d", (int)b->tid);
    else
        fputs("null", stdout);
    fputs(",\"command\":", stdout);
    if (comm[0])
        json_string(comm);
    else
        fputs("null", stdout);
    fputs(",\"cmdline\":", stdout);
    if (cmdline[0])
        json_string(cmdline);
    else
        fputs("null", stdout);
    printf(",\"tokens\":%zu,\"level\":%zu}", b->tokens, b->level);
}

static void json_counters(const struct caplimit_counters *c)
{
    printf("{\"granted_at_once\":%llu,\"granted_after_wait\":%llu,\"would_block\":%llu,"
           "\"timed_out\":%llu,\"cancelled\":%llu,\"closed_out\":%llu,\"abandoned\":%llu,"
           "\"wait_ns_total\":%llu,\"wait_ns_max\":%llu,\"max_threads_waiting\":%zu,"
           "\"reclaimed\":%llu}",
           c->granted_at_once, c->granted_after_wait, c->would_block, c->timed_out,
           c->cancelled, c->closed_out, c->abandoned, c->wait_ns_total, c->wait_ns_max,
           c->max_threads_waiting, c->reclaimed);
}

static void print_json(const struct view *v)
{
    size_t i;

    fputs("{\"name\":", stdout);
    json_string(v->name);
    putchar(',');
    json_count("total_tokens", v->st.total_tokens);
    printf(",\"borrowed_tokens\":%zu,", v->st.borrowed_tokens);
    json_count("available_tokens", available(&v->st));
    printf(",\"threads_waiting\":%zu,\"tokens_waiting\":%zu,\"closed\":%s,"
           "\"policy\":\"%s\",\"created\":",
           v->st.threads_waiting, v->st.tokens_waiting, v->closed ? "true" : "false",
           policy_name(v->policy));
    if (v->created >= 0)
        printf("%lld", v->created);
    else
        fputs("null", stdout);
    fputs(",\"holders\":[", stdout);
    for (i = 0; i < v->st.nborrowers; i++) {
        if (i)
            putchar(',');
        json_holder(&v->st.borrowers[i]);
    }
    fputs("],\"counters\":", stdout);
    json_counters(&v->c);
    puts("}");
}

/* ---- The table ---------------------------------------------------------- */

static void age_text(long long created, char *buf, size_t size)
{
    long long s = (long long)time(NULL) - created;

    if (created < 0)
        snprintf(buf, size, "unknown");
    else if (s < 0)
        snprintf(buf, size, "0s");
    else if (s < 3600)
        snprintf(buf, size, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, size, "%lldh%02lldm", s / 3600, s / 60 % 60);
    else
        snprintf(buf, size, "%lldd%02lldh", s / 86400, s / 3600 % 24);
}

/* Room for the COMMAND column on a terminal; 0 (no limit) elsewhere. */
static size_t command_width(void)
{
    struct winsize ws;

    if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 &&
        ws.ws_col > 60)
        return ws.ws_col - 32u;
    return isatty(STDOUT_FILENO) ? 28 : 0;
}

static void print_table(const struct view *v)
{
    const struct caplimit_counters *c = &v->c;
    char total[32], avail[32], age[32];
    size_t i, width = command_width();

    if (v->st.total_tokens == CAPLIMIT_INFINITE) {
        strcpy(total, "inf");
        strcpy(avail, "inf");
    } else {
        snprintf(total, sizeof total, "%zu", v->st.total_tokens);
        snprintf(avail, sizeof avail, "%zu", available(&v->st));
    }
    age_text(v->created, age, sizeof age);
    printf("%s: %zu of %s tokens borrowed, %s available, %zu waiting for %zu token%s\n",
           v->name, v->st.borrowed_tokens, total, avail, v->st.threads_waiting,
           v->st.tokens_waiting, v->st.tokens_waiting == 1 ? "" : "s");
    printf("  %s, policy %s, age %s\n", v->closed ? "closed" : "open",
           policy_name(v->policy), age);
    if (v->st.nborrowers > 0)
        printf("  %7s %7s %6s %5s  %s\n", "PID", "TID", "TOKENS", "LEVEL", "COMMAND");
    for (i = 0; i < v->st.nborrowers; i++) {
        const struct caplimit_borrower *b = &v->st.borrowers[i];
        char tid[16], cmdline[4096];

        if (b->kind == CAPLIMIT_BORROWER_THREAD && b->tid != 0)
            snprintf(tid, sizeof tid, "%d", (int)b->tid);
        else
            strcpy(tid, "-");
        cmd_proc_cmdline(b->pid, cmdline, sizeof cmdline);
        if (cmdline[0] == '\0')
            cmd_proc_comm(b->pid, cmdline, sizeof cmdline);
        if (width > 0 && strlen(cmdline) > width)
            strcpy(cmdline + width - 3, "...");
        printf("  %7d %7s %6zu %5zu  %s\n", (int)b->pid, tid, b->tokens, b->level,
               cmdline[0] ? cmdline : "?");
    }
    printf("  granted %llu at once, %llu after a wait (mean %.3f s, longest %.3f s);\n"
           "  %llu would block, %llu timed out, %llu cancelled, %llu closed out,\n"
           "  %llu abandoned, %llu reclaimed; at most %zu waiting at once\n",
           c->granted_at_once, c->granted_after_wait,
           c->granted_after_wait ? c->wait_ns_total / 1e9 / (double)c->granted_after_wait
                                 : 0.0,
           c->wait_ns_max / 1e9, c->would_block, c->timed_out, c->cancelled, c->closed_out,
           c->abandoned, c->reclaimed, c->max_threads_waiting);
}

/* ---- Which limiters ----------------------------------------------------- */

static int show(caplimit_t *lim, const char *name, const char *arg, int json, int *shown)
{
    struct view v;
    int rc = take_view(lim, name, &v);

    if (rc != 0)
        return cmd_fail(arg, rc);
    if (!json && (*shown)++ > 0)
        putchar('\n');
    if (json)
        print_json(&v);
    else
        print_table(&v);
    caplimit_statistics_destroy(&v.st);
    return 0;
}

static int show_named(const char *arg, int json, int *shown)
{
    char name[CMD_NAME_MAX];
    caplimit_t *lim;
    int rc = cmd_name(arg, name);

    if (rc != 0)
        return rc;
    if ((rc = caplimit_open(&lim, name, 0, 0, 0)) != 0)
        return cmd_fail(arg, rc);
    rc = show(lim, name, arg, json, shown);
    caplimit_destroy(lim);
    return rc;
}

/* Every object in SHM_DIR that opens as a limiter; the others (semaphores,
 * other programs' memory, limiters this user may not open) are skipped. */
static int show_all(int json, int *shown)
{
    struct dirent **ents;
    int i, n = scandir(SHM_DIR, &ents, NULL, alphasort), rc = 0;

    if (n < 0) {
        cmd_error(SHM_DIR, "%s", strerror(errno));
        return CMD_EX_SOFTWARE;
    }
    for (i = 0; i < n; i++) {
        char name[CMD_NAME_MAX];
        caplimit_t *lim;
        size_t len = strlen(ents[i]->d_name);

        if (ents[i]->d_name[0] != '.' && len + 2 <= CMD_NAME_MAX) {
            name[0] = '/';
            memcpy(name + 1, ents[i]->d_name, len + 1);
            if (caplimit_open(&lim, name, 0, 0, 0) == 0) {
                int r = show(lim, name, name, json, shown);

                rc = rc ? rc : r;
                caplimit_destroy(lim);
            }
        }
        free(ents[i]);
    }
    free(ents);
    if (!json && *shown == 0)
        puts("no limiters");
    return rc;
}

int cmd_status(int argc, char **argv)
{
    int i, json = 0, names = 0, shown = 0, rc = 0, dashdash = 0;

    for (i = 1; i < argc; i++) {
        if (!dashdash && strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (!dashdash && strcmp(argv[i], "--") == 0)
            dashdash = 1;
        else if (!dashdash && argv[i][0] == '-' && argv[i][1] != '\0')
            return cmd_usage_error("status: unknown option '%s'", argv[i]);
    }
    dashdash = 0;
    for (i = 1; i < argc; i++) {
        int r;

        if (!dashdash && (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "--") == 0)) {
            dashdash = strcmp(argv[i], "--") == 0;
            continue;
        }
        names++;
        r = show_named(argv[i], json, &shown);
        rc = rc ? rc : r;
    }
    if (names == 0)
        rc = show_all(json, &shown);
    fflush(stdout);
    return rc;
}
