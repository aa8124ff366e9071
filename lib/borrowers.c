/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * The borrower set: who holds a token, and who waits for one (R2, R3, R14).
 *
 * entries is dense: holders first, then queued borrowers, so a snapshot
 * walks only the holders.  index maps a key's hash to its position in
 * entries by linear probing; deletion shifts back the following run instead
 * of leaving tombstones, so lookups stay short however the set has churned.
 * A slot keeps the hash beside the position: probing and deletion compare
 * hashes and find homes without reading entries, which a large set keeps
 * out of cache (one miss per entry read).
 * Only cl_borrowers_reserve allocates: every other operation works in the
 * room it made (nothing allocates once a thread is queued).
 */
#include "internal.h"

#include <errno.h>
#include <string.h>

#define CL_EMPTY UINT32_MAX
#define CL_MIN_CAP 8

/* The index has at most 2^32 slots, so 32 bits of hash find a home. */
static inline uint32_t cl_hash(struct cl_key k)
{
    uint64_t h = (uint64_t)k.id * 0x9e3779b97f4a7c15ULL + k.kind;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    return (uint32_t)h;
}

static inline int cl_key_equal(struct cl_key a, struct cl_key b)
{
    return a.id == b.id && a.kind == b.kind;
}

void cl_borrowers_init(struct cl_borrowers *b)
{
    memset(b, 0, sizeof *b);
}

void cl_borrowers_free(struct cl_borrowers *b)
{
    cl_free(b->entries);
    cl_free(b->index);
    cl_borrowers_init(b);
}

/* The slot of the index that holds position pos, whose key is key. */
static size_t slot_of(const struct cl_borrowers *b, struct cl_key key, size_t pos)
{
    size_t i = b->hint & b->mask;

    if (b->index != NULL && b->index[i].pos == pos)
        return i;                     /* found by the last find: no rehash */
    i = cl_hash(key) & b->mask;
    while (b->index[i].pos != pos)
        i = (i + 1) & b->mask;
    return i;
}

static void index_put(struct cl_borrowers *b, uint32_t hash, size_t pos)
{
    size_t i = hash & b->mask;
    while (b->index[i].pos != CL_EMPTY)
        i = (i + 1) & b->mask;
    b->index[i].pos = (uint32_t)pos;
    b->index[i].hash = hash;
}

static int grow_entries(struct cl_borrowers *b)
{
    size_t cap = b->cap ? b->cap * 2 : CL_MIN_CAP;
    struct cl_entry *e;

    if (cap >= CL_EMPTY || cap > SIZE_MAX / sizeof *e)
        return ENOMEM;
    e = cl_realloc(b->entries, cap * sizeof *e);
    if (e == NULL)
        return ENOMEM;
    b->entries = e;
    b->cap = cap;
    return 0;
}

/* Rehashes from the old slots' hashes: entries are not read. */
static int grow_index(struct cl_borrowers *b)
{
    size_t old_slots = b->index ? b->mask + 1 : 0;
    size_t slots = old_slots ? old_slots * 2 : 2 * CL_MIN_CAP;
    struct cl_slot *index, *old = b->index;
    size_t i;

    if (slots - 1 > UINT32_MAX || slots > SIZE_MAX / sizeof *index)
        return ENOMEM;
    index = cl_malloc(slots * sizeof *index);
    if (index == NULL)
        return ENOMEM;
    memset(index, 0xff, slots * sizeof *index);
    b->index = index;
    b->mask = slots - 1;
    for (i = 0; i < old_slots; i++)
        if (old[i].pos != CL_EMPTY)
            index_put(b, old[i].hash, old[i].pos);
    cl_free(old);
    return 0;
}

int cl_borrowers_grow(struct cl_borrowers *b)
{
    int rc;

    if (b->n + 1 > b->cap && (rc = grow_entries(b)) != 0)
        return rc;
    if (b->index == NULL || 2 * (b->n + 1) > b->mask + 1)
        return grow_index(b);
    return 0;
}

size_t cl_borrowers_find(struct cl_borrowers *b, struct cl_key key)
{
    size_t i;
    uint32_t pos, hash;

    if (b->index == NULL)
        return CL_NONE;
    hash = cl_hash(key);
    for (i = hash & b->mask; (pos = b->index[i].pos) != CL_EMPTY; i = (i + 1) & b->mask) {
        if (b->index[i].hash == hash && cl_key_equal(b->entries[pos].key, key)) {
            b->hint = i;
            return pos;
        }
    }
    b->hint = i;
    return CL_NONE;
}

/* entries[to] = entries[from], and the index follows. */
static void move_entry(struct cl_borrowers *b, size_t from, size_t to)
{
    b->index[slot_of(b, b->entries[from].key, from)].pos = (uint32_t)to;
    b->entries[to] = b->entries[from];
}

static void swap_entries(struct cl_borrowers *b, size_t i, size_t j)
{
    size_t si = slot_of(b, b->entries[i].key, i);
    size_t sj = slot_of(b, b->entries[j].key, j);
    struct cl_entry t = b->entries[i];

    b->index[si].pos = (uint32_t)j;
    b->index[sj].pos = (uint32_t)i;
    b->entries[i] = b->entries[j];
    b->entries[j] = t;
}

void cl_borrowers_add_queued(struct cl_borrowers *b, struct cl_key key)
{
    size_t pos = b->n++;

    b->entries[pos].key = key;
    b->entries[pos].level = 0;
    b->entries[pos].grant = 0;
    index_put(b, cl_hash(key), pos);
}

void cl_borrowers_add_holder(struct cl_borrowers *b, struct cl_key key)
{
    cl_borrowers_add_queued(b, key);
    if (CL_LIKELY(b->nheld == b->n - 1))   /* nobody queued: it is in place */
        b->entries[b->nheld++].level = 1;
    else
        cl_borrowers_promote(b, b->n - 1);
}

void cl_borrowers_promote(struct cl_borrowers *b, size_t pos)
{
    if (pos != b->nheld)
        swap_entries(b, pos, b->nheld);
    b->entries[b->nheld++].level = 1;
}

/* Backward-shift deletion of index slot i. */
static void index_delete(struct cl_borrowers *b, size_t i)
{
    size_t j = i, home;

    for (;;) {
        j = (j + 1) & b->mask;
        if (b->index[j].pos == CL_EMPTY)
            break;
        home = b->index[j].hash & b->mask;
        /* the entry at j may fill the hole at i unless its home lies
         * cyclically in (i, j] */
        if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
            b->index[i] = b->index[j];
            i = j;
        }
    }
    b->index[i].pos = CL_EMPTY;
}

void cl_borrowers_remove(struct cl_borrowers *b, size_t pos)
{
    index_delete(b, slot_of(b, b->entries[pos].key, pos));
    if (pos < b->nheld) {
        size_t last_held = --b->nheld;
        if (pos != last_held)
            move_entry(b, last_held, pos);
        pos = last_held;
    }
    if (pos != --b->n)
        move_entry(b, b->n, pos);
}
