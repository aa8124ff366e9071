/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * The private store: a limiter's state and slot tables on the heap.  The
 * tables grow by doubling, only in cl_store_reserve, which acquires call
 * before they add a borrower or queue (R15): nothing else allocates, and a
 * failed growth leaves the limiter as it was.  Slots keep their numbers
 * across a growth, so only pointers into the tables go stale.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>

#define CL_MIN_ENTRIES 8
#define CL_MIN_WAITERS 4
#define CL_MAX_SLOTS (CL_NIL / 4)    /* slot numbers stay below CL_NIL */

/* Links slots [from, to) of a table onto its free list, low ones first. */
static void free_entries(caplimit_t *lim, uint32_t from, uint32_t to)
{
    while (to-- > from) {
        memset(&lim->entries[to], 0, sizeof lim->entries[to]);
        lim->entries[to].next = lim->st->free_entry;
        lim->st->free_entry = to;
    }
}

static void free_waiters(caplimit_t *lim, uint32_t from, uint32_t to)
{
    while (to-- > from) {
        memset(&lim->waiters[to], 0, sizeof lim->waiters[to]);
        lim->waiters[to].next = lim->st->free_waiter;
        lim->st->free_waiter = to;
    }
}

static int grow_entries(caplimit_t *lim)
{
    uint32_t cap = lim->ecap ? lim->ecap * 2 : CL_MIN_ENTRIES;
    struct cl_entry *e;

    if (cap > CL_MAX_SLOTS)
        return ENOMEM;
    e = cl_realloc(lim->entries, (size_t)cap * sizeof *e);
    if (e == NULL)
        return ENOMEM;
    lim->entries = e;
    free_entries(lim, lim->ecap, cap);
    lim->ecap = cap;
    return 0;
}

static int grow_waiters(caplimit_t *lim)
{
    uint32_t cap = lim->wcap ? lim->wcap * 2 : CL_MIN_WAITERS;
    struct cl_waiter *w;

    if (cap > CL_MAX_SLOTS)
        return ENOMEM;
    w = cl_realloc(lim->waiters, (size_t)cap * sizeof *w);
    if (w == NULL)
        return ENOMEM;
    lim->waiters = w;
    free_waiters(lim, lim->wcap, cap);
    lim->wcap = cap;
    return 0;
}

/* A new index twice the size, filled from the slots in use. */
static int grow_index(caplimit_t *lim)
{
    uint32_t slots = lim->index ? (lim->imask + 1) * 2 : 2 * CL_MIN_ENTRIES;
    struct cl_islot *index;
    uint32_t i;

    if (slots > CL_MAX_SLOTS)
        return ENOMEM;
    index = cl_malloc((size_t)slots * sizeof *index);
    if (index == NULL)
        return ENOMEM;
    cl_free(lim->index);
    lim->index = index;
    lim->imask = slots - 1;
    for (i = 0; i < slots; i++)
        index[i].entry = CL_NIL;
    for (i = 0; i < lim->ecap; i++) {
        const struct cl_entry *e = &lim->entries[i];
        uint32_t h, j;
        if (e->status == CL_ENTRY_FREE)
            continue;
        h = (uint32_t)cl_hash_key(e->key);
        for (j = h & lim->imask; index[j].entry != CL_NIL; j = (j + 1) & lim->imask)
            ;
        index[j].entry = i;
        index[j].hash = h;
    }
    return 0;
}

int cl_store_reserve(caplimit_t *lim, int waiter)
{
    const struct cl_state *s = lim->st;
    int rc = 0;

    if (CL_UNLIKELY(lim->shared != NULL)) {
        /* R28: a segment does not grow; a process that found no process
         * slot (proc 0) has no room at all */
        if (lim->proc == 0 || (waiter != CL_RESERVE_WAITER && s->free_entry == CL_NIL)
            || (waiter && s->free_waiter == CL_NIL))
            return ENOSPC;
        return 0;
    }
    if (CL_UNLIKELY(s->free_entry == CL_NIL && waiter != CL_RESERVE_WAITER))
        rc = grow_entries(lim);
    /* the index stays at most half full, so probes stay short */
    if (CL_UNLIKELY(rc == 0 && 2 * (s->nentries + 1) > (size_t)lim->imask + 1))
        rc = grow_index(lim);
    if (CL_UNLIKELY(rc == 0 && waiter && s->free_waiter == CL_NIL))
        rc = grow_waiters(lim);
    return rc;
}

int cl_store_init(caplimit_t *lim)
{
    struct cl_state *s = &lim->own;

    lim->st = s;
    lim->lock = &lim->own_lock;
    s->head = s->tail = s->drainers = CL_NIL;
    s->free_waiter = s->holders = s->free_entry = CL_NIL;
    s->policy = CAPLIMIT_POLICY_FIFO;
    s->bypass_ns = CL_DEFAULT_BYPASS_NS;
    /* room for the first borrowers now, so the common path never allocates */
    if (grow_entries(lim) != 0 || grow_index(lim) != 0 || grow_waiters(lim) != 0) {
        cl_store_free(lim);
        return ENOMEM;
    }
    return 0;
}

void cl_store_free(caplimit_t *lim)
{
    cl_free(lim->entries);
    cl_free(lim->index);
    cl_free(lim->waiters);
    lim->entries = NULL;
    lim->index = NULL;
    lim->waiters = NULL;
    lim->ecap = lim->wcap = lim->imask = 0;
}

/* R27: the scratch slots a corrupt index or link answers. */
struct cl_waiter *cl_bad_waiter(caplimit_t *lim)
{
    static __thread struct cl_waiter scratch;

    lim->corrupt = 1;
    memset(&scratch, 0, sizeof scratch);
    scratch.next = scratch.prev = scratch.entry = CL_NIL;
    return &scratch;
}

struct cl_entry *cl_bad_entry(caplimit_t *lim)
{
    static __thread struct cl_entry scratch;

    lim->corrupt = 1;
    memset(&scratch, 0, sizeof scratch);
    scratch.next = scratch.prev = CL_NIL;
    return &scratch;
}
