/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * The borrower set rebuilt from its slots' status words (R26, R27); the
 * operations themselves are in borrowers.h.
 */
#include "borrowers.h"

size_t cl_hash_key(struct cl_key k)
{
    return cl_hash(k);
}

/* ---- Rebuilding from the slots ----------------------------------------- */

void cl_borrowers_clear(caplimit_t *lim)
{
    uint32_t i;

    for (i = 0; i <= lim->imask; i++)
        lim->index[i].entry = CL_NIL;
    for (i = 0; i < lim->ecap; i++)
        lim->entries[i].status = CL_ENTRY_FREE;
    cl_borrowers_rebuild(lim);
}

void cl_borrowers_rebuild(caplimit_t *lim)
{
    struct cl_state *s = lim->st;
    uint32_t e = lim->ecap;

    for (uint32_t i = 0; i <= lim->imask; i++)
        lim->index[i].entry = CL_NIL;
    s->holders = s->free_entry = CL_NIL;
    s->nheld = s->nentries = 0;
    /* from the top down, so the free list hands out low slots first */
    while (e-- > 0) {
        struct cl_entry *x = &lim->entries[e];
        if (x->status == CL_ENTRY_HELD && x->level != 0 && x->tokens != 0) {
            link_holder(lim, e);
        } else if (x->status == CL_ENTRY_QUEUED && x->level == 0) {
            /* kept only if its waiter still is: cl_rebuild checks */
        } else {
            x->status = CL_ENTRY_FREE;
            x->next = s->free_entry;
            s->free_entry = e;
            continue;
        }
        if (cl_borrowers_find(lim, x->key) != CL_NIL) {
            /* the same borrower twice (a slot half emptied): keep one */
            if (x->status == CL_ENTRY_HELD)
                unlink_holder(lim, e);
            x->status = CL_ENTRY_FREE;
            x->next = s->free_entry;
            s->free_entry = e;
            continue;
        }
        index_put(lim, (uint32_t)cl_hash(x->key), e);
        s->nentries++;
    }
}
