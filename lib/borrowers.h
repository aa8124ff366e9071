/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * The borrower set: who holds tokens, and who waits for them (R2, R3, R14).
 *
 * Each borrower has an entry slot that does not move while it is in use.
 * The holders are linked through their slots, so a snapshot walks holders
 * only; free slots are linked too.  The index maps a key's hash to its slot
 * by linear probing, and keeps the hash beside the slot number, so a probe
 * reads an entry only when the hashes agree; deletion shifts back the
 * following run instead of leaving tombstones, so lookups stay short
 * however the set has churned.  Nothing here allocates: the store makes
 * room before (cl_store_reserve).  Probe loops are bounded by the index's
 * size, so a scribbled index cannot make them spin (R27).
 *
 * The operations are inline: they are the uncontended path's body.  The
 * rebuild from the slots (R26, R27) is in borrowers.c.
 */
#ifndef CAPLIMIT_BORROWERS_H
#define CAPLIMIT_BORROWERS_H

#include "internal.h"


static inline size_t cl_hash(struct cl_key k)
{
    uint64_t h = (uint64_t)k.id * 0x9e3779b97f4a7c15ULL + k.kind + ((uint64_t)k.proc << 8);
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    return (size_t)h;
}

static inline int key_equal(struct cl_key a, struct cl_key b)
{
    return a.id == b.id && a.kind == b.kind && a.proc == b.proc;
}

static inline uint32_t cl_borrowers_find(caplimit_t *lim, struct cl_key key)
{
    uint32_t h = (uint32_t)cl_hash(key), i = h & lim->imask, n;

    for (n = 0; n <= lim->imask; n++, i = (i + 1) & lim->imask) {
        const struct cl_islot *s = &lim->index[i];
        if (s->entry == CL_NIL)
            break;
        if (s->hash == h && key_equal(cl_entry_at(lim, s->entry)->key, key)) {
            lim->hint = i;
            return s->entry;
        }
    }
    lim->hint = i;
    return CL_NIL;
}

static inline void index_put(caplimit_t *lim, uint32_t h, uint32_t e)
{
    uint32_t i = h & lim->imask, n;

    for (n = 0; n <= lim->imask; n++, i = (i + 1) & lim->imask) {
        if (lim->index[i].entry == CL_NIL) {
            lim->index[i].entry = e;
            lim->index[i].hash = h;
            return;
        }
    }
    lim->corrupt = 1;                /* a full index: the store keeps it half empty */
}

/* The index slot that holds entry e. */
static inline uint32_t slot_of(caplimit_t *lim, uint32_t e)
{
    uint32_t i, n;

    if (lim->hint <= lim->imask && lim->index[lim->hint].entry == e)
        return lim->hint;            /* found by the last find: no rehash */
    i = (uint32_t)cl_hash(cl_entry_at(lim, e)->key) & lim->imask;
    for (n = 0; n <= lim->imask; n++, i = (i + 1) & lim->imask)
        if (lim->index[i].entry == e)
            return i;
    lim->corrupt = 1;
    return CL_NIL;
}

/* Backward-shift deletion of index slot i. */
static inline void index_delete(caplimit_t *lim, uint32_t i)
{
    uint32_t j = i, home, n;

    for (n = 0; n <= lim->imask; n++) {
        j = (j + 1) & lim->imask;
        if (lim->index[j].entry == CL_NIL)
            break;
        home = lim->index[j].hash & lim->imask;
        /* the slot at j may fill the hole at i unless its home lies
         * cyclically in (i, j] */
        if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
            lim->index[i] = lim->index[j];
            i = j;
        }
    }
    lim->index[i].entry = CL_NIL;
}

/* ---- The holders' list and the free list ------------------------------- */

static inline void link_holder(caplimit_t *lim, uint32_t e)
{
    struct cl_state *s = lim->st;
    struct cl_entry *x = cl_entry_at(lim, e);

    x->prev = CL_NIL;
    x->next = s->holders;
    if (s->holders != CL_NIL)
        cl_entry_at(lim, s->holders)->prev = e;
    s->holders = e;
    s->nheld++;
}

static inline void unlink_holder(caplimit_t *lim, uint32_t e)
{
    struct cl_state *s = lim->st;
    struct cl_entry *x = cl_entry_at(lim, e);

    if (x->prev != CL_NIL)
        cl_entry_at(lim, x->prev)->next = x->next;
    else
        s->holders = x->next;
    if (x->next != CL_NIL)
        cl_entry_at(lim, x->next)->prev = x->prev;
    s->nheld--;
}

static inline uint32_t cl_borrowers_add(caplimit_t *lim, struct cl_key key, enum cl_entry_status status)
{
    struct cl_state *s = lim->st;
    uint32_t e = s->free_entry;
    struct cl_entry *x = cl_entry_at(lim, e);

    s->free_entry = x->next;
    x->key = key;
    x->level = status == CL_ENTRY_HELD;
    x->tokens = 0;
    x->grant = 0;
    x->tid = 0;
    CL_PUBLISH(x->status, status);   /* last: the slot is whole from here */
    s->nentries++;
    index_put(lim, (uint32_t)cl_hash(key), e);
    if (status == CL_ENTRY_HELD)
        link_holder(lim, e);
    return e;
}

static inline void cl_borrowers_promote(caplimit_t *lim, uint32_t e)
{
    struct cl_entry *x = cl_entry_at(lim, e);

    x->level = 1;
    CL_PUBLISH(x->status, CL_ENTRY_HELD);
    link_holder(lim, e);
}

static inline void cl_borrowers_remove(caplimit_t *lim, uint32_t e)
{
    struct cl_state *s = lim->st;
    struct cl_entry *x = cl_entry_at(lim, e);
    uint32_t i = slot_of(lim, e);
    int held = x->status == CL_ENTRY_HELD;

    CL_PUBLISH(x->status, CL_ENTRY_FREE); /* first: from here the slot is free */
    if (i != CL_NIL)
        index_delete(lim, i);
    if (held)
        unlink_holder(lim, e);
    x->next = s->free_entry;
    s->free_entry = e;
    s->nentries--;
}

#endif /* CAPLIMIT_BORROWERS_H */
