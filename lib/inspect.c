/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * Looking inside: snapshot (R10), counters (R19), holds (R20), format,
 * version.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int caplimit_statistics(const caplimit_t *lim, struct caplimit_statistics *out)
{
    struct caplimit_borrower *list = NULL;
    const struct cl_borrowers *b;
    pid_t pid = getpid();
    size_t i;

    if (lim == NULL || out == NULL)
        return EINVAL;
    cl_lock(lim);
    b = &lim->borrowers;
    if (b->nheld != 0) {
        list = cl_malloc(b->nheld * sizeof *list);
        if (list == NULL) {
            cl_unlock(lim);
            return ENOMEM;
        }
    }
    for (i = 0; i < b->nheld; i++) {
        const struct cl_entry *e = &b->entries[i];
        memset(&list[i], 0, sizeof list[i]);
        list[i].kind = (enum caplimit_borrower_kind)e->key.kind;
        if (e->key.kind == CAPLIMIT_BORROWER_THREAD) {
            list[i].thread = (pthread_t)e->key.id;
            list[i].tid = e->tid;
        } else {
            list[i].object = (const void *)e->key.id;
        }
        list[i].level = e->level;
        list[i].tokens = e->tokens;
        list[i].pid = pid;
    }
    memset(out, 0, sizeof *out);
    out->borrowed_tokens = lim->borrowed;
    out->total_tokens = lim->total;
    out->threads_waiting = lim->nwaiting;
    out->nborrowers = b->nheld;
    out->borrowers = list;
    out->tokens_waiting = lim->tokens_waiting;
    cl_unlock(lim);
    return 0;
}

void caplimit_statistics_destroy(struct caplimit_statistics *st)
{
    if (st == NULL)
        return;
    cl_free(st->borrowers);
    st->borrowers = NULL;
    st->nborrowers = 0;
}

int caplimit_counters(const caplimit_t *lim, struct caplimit_counters *out)
{
    if (lim == NULL || out == NULL)
        return EINVAL;
    cl_lock(lim);
    *out = lim->counters;
    cl_unlock(lim);
    return 0;
}

static int holds(const caplimit_t *lim, struct cl_key key)
{
    size_t pos;
    int held;

    cl_lock(lim);
    /* find only updates its lookup hint, which the lock guards */
    pos = cl_borrowers_find((struct cl_borrowers *)&lim->borrowers, key);
    held = pos != CL_NONE && lim->borrowers.entries[pos].level > 0;
    cl_unlock(lim);
    return held;
}

int caplimit_holds(const caplimit_t *lim)
{
    return lim != NULL && holds(lim, cl_thread_key(pthread_self()));
}

int caplimit_holds_on_behalf_of(const caplimit_t *lim, const void *borrower)
{
    return lim != NULL && borrower != NULL && holds(lim, cl_object_key(borrower));
}

int caplimit_format(const caplimit_t *lim, char *buf, size_t size)
{
    size_t borrowed, total, waiting;
    char totalbuf[32];

    if (lim == NULL)
        return -1;
    cl_lock(lim);
    borrowed = lim->borrowed;
    total = lim->total;
    waiting = lim->nwaiting;
    cl_unlock(lim);
    if (total == CAPLIMIT_INFINITE)
        snprintf(totalbuf, sizeof totalbuf, "inf");
    else
        snprintf(totalbuf, sizeof totalbuf, "%zu", total);
    return snprintf(buf, size, "<caplimit at %p, %zu/%s with %zu waiting>",
                    (const void *)lim, borrowed, totalbuf, waiting);
}

const char *caplimit_version(void)
{
    return PACKAGE_VERSION;
}
