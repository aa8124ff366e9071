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

/* One borrower as the snapshot gives it (R10, R25). */
static void describe(const caplimit_t *lim, const struct cl_entry *e,
                     struct caplimit_borrower *out)
{
    memset(out, 0, sizeof *out);
    out->kind = (enum caplimit_borrower_kind)e->key.kind;
    if (e->key.kind == CAPLIMIT_BORROWER_THREAD) {
        if (e->key.proc == lim->proc)
            out->thread = (pthread_t)e->key.id;
        out->tid = e->tid;
    } else {
        out->object = (const void *)e->key.id;
    }
    out->level = e->level;
    out->tokens = e->tokens;
    out->pid = lim->shared != NULL ? cl_shared_pid_of(lim, e->key.proc) : getpid();
}

int caplimit_statistics(const caplimit_t *clim, struct caplimit_statistics *out)
{
    caplimit_t *lim = (caplimit_t *)clim;    /* reading walks, changes nothing */
    struct caplimit_borrower *list = NULL;
    size_t n = 0;
    uint32_t e;
    int rc;

    if (lim == NULL || out == NULL)
        return EINVAL;
    cl_lock(lim);
    if (lim->shared != NULL)
        cl_shared_reclaim(lim);      /* R26: a snapshot notices the dead at once */
    if (lim->st->nheld != 0) {
        size_t max = lim->st->nheld < lim->ecap ? lim->st->nheld : lim->ecap;
        list = cl_malloc(max * sizeof *list);
        if (list == NULL) {
            cl_unlock(lim);
            return ENOMEM;
        }
        for (e = lim->st->holders; e != CL_NIL && n < max; e = cl_entry_at(lim, e)->next)
            describe(lim, cl_entry_at(lim, e), &list[n++]);
    }
    memset(out, 0, sizeof *out);
    out->borrowed_tokens = lim->st->borrowed;
    out->total_tokens = lim->st->total;
    out->threads_waiting = lim->st->nwaiting;
    out->nborrowers = n;
    out->borrowers = list;
    out->tokens_waiting = lim->st->tokens_waiting;
    if ((rc = cl_unlock(lim)) != 0) {
        cl_free(list);
        memset(out, 0, sizeof *out);
    }
    return rc;
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
    struct caplimit_counters c;

    if (lim == NULL || out == NULL)
        return EINVAL;
    cl_lock(lim);
    c = lim->st->counters;
    if (cl_unlock(lim) != 0)
        return EPROTO;               /* R27: *out stays as it was */
    *out = c;
    return 0;
}

static int holds(const caplimit_t *lim, struct cl_key key)
{
    const struct cl_entry *e;
    int held;

    cl_lock(lim);
    /* a find only moves the handle's lookup hint, which the lock guards */
    e = cl_entry_of((caplimit_t *)lim, key);
    held = e != NULL && e->status == CL_ENTRY_HELD;
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
    borrowed = lim->st->borrowed;
    total = lim->st->total;
    waiting = lim->st->nwaiting;
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
