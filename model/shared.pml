/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * shared.pml: a Promela model of a shared limiter's repair path (R26):
 * processes that may die at any store while they hold the robust lock,
 * and the next locker's repair (lib/shared.c cl_shared_lock: EOWNERDEAD
 * -> cl_rebuild, cl_shared_reclaim).  Checked by `make check-model`;
 * caplimit.pml models the lock and queue protocol itself.
 *
 * It is a model of slots, as the segment is: the waiter and entry tables
 * (struct cl_waiter, struct cl_entry in lib/internal.h) field by field,
 * allocated from a pool (any free slot, so slots are reused across
 * processes), and the derived state (struct cl_state: the queue's links,
 * borrowed, in_wait) that cl_rebuild recomputes from the slots.
 *
 * What models what:
 *   proctype proc             one process with one thread: one acquire of
 *                             n tokens (timed or not), its hold, its
 *                             release (R25: its borrower is its thread)
 *   atomic { ... }            one critical section under the segment's
 *                             robust lock (owner, ownerdead); no other
 *                             process can touch the slots meanwhile
 *   DIE()                     the process may die here (SIGKILL) while it
 *                             holds the lock: the robust mutex passes with
 *                             EOWNERDEAD to the next locker; one DIE()
 *                             after every store to a slot field
 *   die_out()                 a death outside the lock: while it holds
 *                             tokens, while asleep, between the wakes that
 *                             cl_unlock sends after the unlock
 *   lock()                    cl_shared_lock: repair() on EOWNERDEAD
 *   repair()                  cl_rebuild, then cl_shared_reclaim
 *   rebuild()                 cl_rebuild with check_waiter and
 *                             cl_borrowers_rebuild (lib/borrowers.c)
 *   shared_reclaim()          cl_shared_reclaim: cl_reclaim_process for
 *                             each dead process still registered (the OFD
 *                             lock of its process slot is gone: !alive)
 *   make_holder, hand_off     make_holder(), hand_off() in lib/queue.c,
 *                             FIFO (R5, R23); the totals fit every request
 *   borrowers_add/remove      cl_borrowers_add/remove (lib/borrowers.h):
 *                             the status word last when filled, first when
 *                             emptied
 *   wake_later, deliver       lim->wakes, and cl_unlock sending them after
 *                             the unlock; fw[w] is "the futex word of slot
 *                             w moved since its sleeper read it"
 *   sleep                     cl_shared_sleep: reads the word under the
 *                             lock, unlocks, FUTEX_WAIT; it returns on a
 *                             wake, on the deadline (timed), or on the
 *                             CL_POLL_NS poll, which is modelled only when
 *                             it has something to find: a dead process not
 *                             yet reclaimed, or a wake to this slot that a
 *                             dying process never sent.  So a sleeper that
 *                             would only get on by the poll for no reason
 *                             shows up as an invalid end state.
 *   init                      starts the processes; at the end, a new
 *                             process opens the limiter (caplimit_open:
 *                             lock, reclaim) and finds it empty
 *
 * Properties (assertions; spin also reports any invalid end state):
 *   S1 no over-grant: borrowed == the sum of the HELD entries' tokens,
 *      borrowed <= total, and the tokens live processes use (their
 *      acquire returned 0, they have not called release) <= total, at
 *      every unlock and after every repair
 *   S2 no live token lost: a live process using n tokens has exactly one
 *      HELD entry, with n tokens; a live process that neither uses nor is
 *      GRANTED has none (no phantom hold); its release finds its hold
 *   S3 no live place lost: a live waiter's slot is WAITING, in the queue,
 *      with its QUEUED entry, the queue in ticket order; or GRANTED, with
 *      its HELD entry of that grant; nothing of a reclaimed process stays
 *   S4 FIFO: each grant goes to the head, in ticket order (R5)
 *   S5 no sleeper beside enough free tokens once the system is quiet (no
 *      lock held, no repair due, no wake on its way, every live process
 *      asleep or outside a call)
 *   S6 progress: every live waiter is granted or times out, every process
 *      ends (else an invalid end state); a process opening the limiter at
 *      the end finds nothing held, queued or left in any slot
 *
 * Not modelled: R17 (throughput policy, WOKEN), R18 close, R21 re-entry,
 * R22, R23's partial release, R29 drain, cancellation, changes of the
 * total, the index and the lists (a find scans the slots), R27 scribbles,
 * register_process reusing a dead process's slot, the counters.
 *
 * Configurations (model/local.mk): -DNP processes, -DNDIE deaths at most,
 * -DNMAX tokens per request at most (TMAX 2 is the largest total).
 *
 * Seeding a bug (each must make spin fail; `make check-model-bugs`):
 *   -DBUG=1  make_holder writes the waiter's GRANTED before the entry is
 *            HELD: a repair keeps the grant, frees the entry -> S2 / S1.
 *   -DBUG=2  cl_rebuild does not wake a GRANTED waiter (a grant whose
 *            granter died before its unlock) -> it sleeps for ever (S6).
 *   -DBUG=3  cl_rebuild keeps the QUEUED entries whose waiter is gone (a
 *            process that died between cl_borrowers_add and
 *            CL_WAITING) -> the slot is never freed (S3/S6).
 *   -DBUG=4  cl_borrowers_add writes the status word first: a death leaves
 *            a HELD slot with a previous borrower's key and tokens -> a
 *            phantom hold of a live process (S2).
 *   -DBUG=5  cl_rebuild requeues by slot number, not by ticket -> S4
 *            (with -DANYSLOT: a later waiter in a lower slot).
 *   -DBUG=6  make_holder promotes the entry (HELD) before it writes its
 *            tokens: a repair keeps the grant and drops the entry (HELD
 *            with 0 tokens) -> S2.
 *   -DBUG=7  cl_reclaim_process does not run cl_dispatch -> a waiter
 *            sleeps beside the dead holder's tokens (S5).
 * Not a bug here, so not seeded: cl_borrowers_remove writing the status
 * word last.  Every removal under the lock is of the locker's own slots or
 * a dead process's (close, not modelled, is the exception), the fields
 * that the repair reads (key, level, tokens, grant) are not changed by a
 * removal, and whatever a dying locker left of its own is reclaimed with
 * it; the lists and the index that a removal does change are rebuilt.  So
 * in this model a removal's one slot store is its status word, and where
 * it comes among the derived stores cannot show.
 */

#ifndef NP
#define NP 3                    /* processes */
#endif
#define NW NP                   /* waiter slots */
#define NE NP                   /* entry slots */
#ifndef NDIE
#define NDIE 1                  /* deaths at most */
#endif
#ifndef NMAX
#define NMAX 1                  /* R23: a request is for 1..NMAX tokens */
#endif
#ifndef TMAX
#define TMAX 2                  /* the largest total */
#endif
#ifndef BUG
#define BUG 0
#endif
#if NMAX > TMAX
#error "NMAX > TMAX"
#endif

#define NIL 255                 /* CL_NIL */

/* enum cl_entry_status */
#define E_FREE 0
#define E_QUEUED 1
#define E_HELD 2

/* enum cl_wait_state (WOKEN, CLOSED, DRAINING, DRAINED not modelled) */
#define W_FREE 0
#define W_WAITING 1
#define W_GRANTED 3
#define W_LEAVING 5

/* phase[p], for S5 */
#define P_OUT 0                 /* not in a call (before it, holding, after) */
#define P_IN 1                  /* in a call */
#define P_ASLEEP 2              /* in FUTEX_WAIT */
#define P_DONE 3                /* ended, or dead */

/* results */
#define R_NONE 0
#define R_OK 1
#define R_TIMEDOUT 2

/* why a sleep ended */
#define S_WAKE 0
#define S_TMO 1
#define S_POLL 2

/* struct cl_entry: key (its process: a thread borrower of it), status,
 * level, tokens, grant */
byte estatus[NE];
byte ekey[NE];
byte elevel[NE];
byte etokens[NE];
byte egrant[NE];

/* struct cl_waiter: state, entry, proc (and key: the same process), n,
 * ticket, grant; the futex word as fw */
byte wstate[NW];
byte wentry[NW];
byte wproc[NW];
byte wn[NW];
byte wticket[NW];
byte wgrant[NW];
bit fw[NW];

/* struct cl_state: q[]/qlen stand for head, tail, the links, nwaiting */
byte total;
byte borrowed;
byte in_wait;
byte q[NW];
byte qlen;
byte grants;                    /* s->grants */
byte tickets;                   /* s->tickets */

/* struct cl_proc, and the OFD liveness lock: alive */
bit alive[NP];
bit in_use[NP];

/* the segment's robust mutex */
byte owner = NIL;
bit ownerdead;

/* ghosts */
byte ndead;
byte nunrec;                    /* dead processes still in_use */
byte ndone;
byte using[NP];                 /* tokens its acquire returned, not yet released */
byte myw[NP];                   /* its waiter slot while it waits */
byte phase[NP];
byte wk[NP + 1];                /* lim->wakes: a bit per waiter slot */
byte lostw;                     /* a bit per waiter slot: a wake to it died with its sender */
byte last_ticket;

#define ROOM (total > borrowed -> total - borrowed : 0)

inline die()
{
    alive[me] = 0;
    ndead++;
    nunrec++;
    using[me] = 0;
    myw[me] = NIL;
    if
    :: owner == me -> owner = NIL; ownerdead = 1     /* EOWNERDEAD */
    :: else
    fi;
    lostw = lostw | wk[me];     /* the wakes it had not sent */
    wk[me] = 0;
    phase[me] = P_DONE;
    ndone++;
    /* its locals are gone with it */
    j = 0; k = 0; c = 0; x = 0; e = 0; f = 0; h = 0; p = 0; st = 0;
    n = 0; r = 0; mw = 0; why = 0; timed = 0; y = 0
}

/* SIGKILL after a store, the lock held */
inline DIE()
{
    if
    :: me < NP && ndead < NDIE -> die(); goto dead
    :: true
    fi
}

/* SIGKILL after a store that, in the order lib/ uses, no status word
 * makes visible yet: the repair sees the same slots as after a death
 * before it, so the step is explored only with -DALL_STEPS or a seeded bug
 * (whose orders make the difference) */
inline DIE_F()
{
#if defined(ALL_STEPS) || BUG != 0
    DIE()
#else
    skip
#endif
}

/* SIGKILL outside the lock: a step of its own */
inline die_out()
{
    if
    :: ndead < NDIE -> atomic { die(); goto dead }
    :: true
    fi
}

/* ---- Invariants, at every unlock and after every repair ---------------- */

inline check_inv()
{
    /* S1 */
    c = 0;
    for (i : 0 .. NE - 1) {
        if
        :: estatus[i] == E_HELD -> c = c + etokens[i]
        :: else
        fi
    }
    assert(borrowed == c);
    assert(borrowed <= total);
    c = 0;
    for (i : 0 .. NP - 1) {
        c = c + using[i]
    }
    assert(c <= total);
    /* S3: the queue, in ticket order, is every WAITING slot */
    c = 0;
    for (i : 0 .. NW - 1) {
        if
        :: wstate[i] == W_WAITING -> c++
        :: else
        fi
    }
    assert(qlen == c);
    c = 0;
    for (i : 0 .. NW - 1) {
        if
        :: wstate[i] != W_FREE -> c++
        :: else
        fi
    }
    assert(in_wait == c);
    for (i : 0 .. NW - 1) {
        if
        :: i < qlen ->
            assert(wstate[q[i]] == W_WAITING);
            assert(i == 0 || wticket[q[i - 1]] < wticket[q[i]])
        :: else
        fi
    }
    /* S2, S3 for each live process */
    for (j : 0 .. NP - 1) {
        if
        :: alive[j] ->
            c = 0;
            x = NIL;
            for (i : 0 .. NE - 1) {
                if
                :: estatus[i] == E_HELD && ekey[i] == j -> c++; x = i
                :: else
                fi
            }
            if
            :: using[j] > 0 ->
                assert(myw[j] == NIL && c == 1 && etokens[x] == using[j])
            :: myw[j] != NIL ->
                k = myw[j];
                assert(wproc[k] == j);
                if
                :: wstate[k] == W_WAITING ->
                    assert(c == 0);
                    assert(wentry[k] < NE && estatus[wentry[k]] == E_QUEUED
                           && ekey[wentry[k]] == j)
                :: wstate[k] == W_GRANTED ->
                    assert(c == 1 && x == wentry[k] && etokens[x] == wn[k]
                           && egrant[x] == wgrant[k])
                :: else -> assert(0)                    /* its place is lost */
                fi
            :: else -> assert(c == 0)                   /* a phantom hold */
            fi
        :: else ->                      /* dead: reclaimed, nothing stays */
            if
            :: !in_use[j] ->
                for (i : 0 .. NE - 1) {
                    assert(estatus[i] == E_FREE || ekey[i] != j)
                }
                for (i : 0 .. NW - 1) {
                    assert(wstate[i] == W_FREE || wproc[i] != j)
                }
            :: else
            fi
        fi
    }
    i = 0;
    j = 0;
    k = 0;
    c = 0;
    x = 0
}

/* ---- The queue and wakes ----------------------------------------------- */

inline queue_push(t)
{
    q[qlen] = t;
    qlen++
}

inline queue_unlink(t)
{
    k = 0;
    do
    :: k < qlen && q[k] != t -> k++
    :: else -> break
    od;
    if
    :: k < qlen ->
        do
        :: k + 1 < qlen -> q[k] = q[k + 1]; k++
        :: else -> break
        od;
        qlen--;
        q[qlen] = NIL
    :: else
    fi;
    k = 0
}

inline wake_later(t)
{
    wk[me] = wk[me] | (1 << t)
}

/* send_wakes_now: under the lock, before a sleep */
inline send_wakes_now()
{
    for (i : 0 .. NW - 1) {
        if
        :: (wk[me] >> i) & 1 ->
            wk[me] = wk[me] & ~(1 << i);
            fw[i] = 1;
            DIE()
        :: else
        fi
    }
    i = 0
}

/* cl_unlock, after the unlock: one wake per step, a death between */
inline deliver()
{
    do
    :: wk[me] == 0 -> break
    :: else ->
        die_out();
        atomic {
            i = 0;
            do
            :: (wk[me] >> i) & 1 -> break
            :: else -> i++
            od;
            wk[me] = wk[me] & ~(1 << i);
            fw[i] = 1;
            i = 0
        }
    od
}

/* ---- The borrower set -------------------------------------------------- */

/* the lowest free slot (the free list of a fresh or rebuilt segment), or
 * with -DANYSLOT any free slot (the lists' order is not the protocol's) */
inline pick_entry()
{
    x = NIL;                    /* the last free slot */
    for (k : 0 .. NE - 1) {
        if
        :: estatus[k] == E_FREE -> x = k
        :: else
        fi
    }
    assert(x != NIL);           /* R28: room was reserved */
    k = 0;
    do
    :: estatus[k] == E_FREE -> x = k; break
#ifdef ANYSLOT
    :: k < x -> k++
#else
    :: else -> k++
#endif
    od;
    k = 0
}

inline pick_waiter()
{
    x = NIL;                    /* the last free slot */
    for (k : 0 .. NW - 1) {
        if
        :: wstate[k] == W_FREE -> x = k
        :: else
        fi
    }
    assert(x != NIL);
    k = 0;
    do
    :: wstate[k] == W_FREE -> x = k; break
#ifdef ANYSLOT
    :: k < x -> k++
#else
    :: else -> k++
#endif
    od;
    k = 0
}

/* cl_borrowers_add(lim, key me, status); answers e */
inline borrowers_add(status)
{
    pick_entry();
    e = x;
    x = 0;
#if BUG == 4
    estatus[e] = status; DIE();
#endif
    ekey[e] = me; DIE_F();
    elevel[e] = (status == E_HELD); DIE_F();
    etokens[e] = 0; DIE_F();
    egrant[e] = 0; DIE();
#if BUG != 4
    estatus[e] = status; DIE();  /* last: the slot is whole from here */
#endif
    skip
}

/* cl_borrowers_remove: the index, the lists, the counts are derived */
inline borrowers_remove(f)
{
    estatus[f] = E_FREE;        /* first: from here the slot is free */
    DIE()
}

/* ---- Dispatch (R5) ----------------------------------------------------- */

inline make_holder(t)
{
    assert(qlen > 0 && q[0] == t);                      /* S4 */
    assert(wticket[t] >= last_ticket);
    last_ticket = wticket[t];
    grants++;
    wgrant[t] = grants; DIE_F();
#if BUG == 1
    queue_unlink(t);
    wstate[t] = W_GRANTED; DIE();
#endif
    f = wentry[t];
#if BUG == 6
    egrant[f] = wgrant[t]; DIE();
    elevel[f] = 1; DIE();
    estatus[f] = E_HELD; DIE();
    etokens[f] = wn[t]; DIE();
#else
    etokens[f] = wn[t]; DIE_F();
    egrant[f] = wgrant[t]; DIE_F();
    elevel[f] = 1; DIE();       /* cl_borrowers_promote */
    estatus[f] = E_HELD; DIE();
#endif
    borrowed = borrowed + wn[t];
#if BUG != 1
    queue_unlink(t);            /* wait_set_state(CL_GRANTED) */
    wstate[t] = W_GRANTED; DIE();
#endif
    f = 0
}

/* cl_dispatch under FIFO: hand_off */
inline dispatch()
{
    do
    :: qlen > 0 && wn[q[0]] <= ROOM ->
        h = q[0];
        make_holder(h);
        wake_later(h)
    :: else -> break
    od;
    h = 0
}

/* ---- R26: what the dead held ------------------------------------------- */

inline reclaim_process(p)
{
    for (j : 0 .. NW - 1) {
        if
        :: wstate[j] != W_FREE && wproc[j] == p ->
            if
            :: wstate[j] == W_WAITING ->
                borrowers_remove(wentry[j]);
                queue_unlink(j);                /* wait_set_state(CL_LEAVING) */
                wstate[j] = W_LEAVING; DIE()
            :: else
            fi;
            in_wait--;
            wstate[j] = W_FREE; DIE()           /* waiter_free */
        :: else
        fi
    }
    for (j : 0 .. NE - 1) {
        if
        :: estatus[j] == E_HELD && ekey[j] == p ->
            borrowed = borrowed - etokens[j];
            borrowers_remove(j)
        :: else
        fi
    }
    j = 0;
#if BUG != 7
    dispatch()
#endif
}

inline shared_reclaim()
{
    for (p : 0 .. NP - 1) {
        if
        :: in_use[p] && p != me && !alive[p] ->
            reclaim_process(p);
            in_use[p] = 0;
            nunrec--;
            DIE()
        :: else
        fi
    }
    p = 0
}

/* ---- R26: the repair after EOWNERDEAD ----------------------------------- */

/* check_waiter: slot j whole, or made free; answers st */
inline check_waiter(j)
{
    st = wstate[j];
    if
    :: st == W_WAITING ->
        if
        :: wentry[j] >= NE || wn[j] == 0 ->
            wstate[j] = W_FREE; DIE();
            st = W_FREE
        :: else ->
            f = wentry[j];
            if
            :: estatus[f] == E_HELD && egrant[f] == wgrant[j] && wgrant[j] != 0 ->
                wstate[j] = W_GRANTED; DIE();   /* granted, then its granter died */
                st = W_GRANTED
            :: else ->                          /* its borrower, queued, made whole */
                ekey[f] = wproc[j]; DIE_F();
                estatus[f] = E_QUEUED; DIE();
                elevel[f] = 0; DIE_F();
                etokens[f] = 0; DIE()
            fi;
            f = 0
        fi
    :: else
    fi
}

inline rebuild()
{
    qlen = 0;
    for (i : 0 .. NW - 1) {
        q[i] = NIL
    }
    in_wait = 0;
    i = NW;
    do
    :: i > 0 ->
        i--;
        check_waiter(i);
        if
        :: st == W_FREE
        :: else ->
            in_wait++;
            if
            :: st == W_GRANTED ->
#if BUG != 2
                wake_later(i)
#else
                skip
#endif
            :: else
            fi
        fi
    :: else -> break
    od;
    st = 0;
#if BUG != 3
    /* queued entries whose waiter is gone go free with the rest */
    for (i : 0 .. NE - 1) {
        if
        :: estatus[i] == E_QUEUED -> etokens[i] = 1; DIE()      /* mark: unclaimed */
        :: else
        fi
    }
    for (i : 0 .. NW - 1) {
        if
        :: wstate[i] == W_WAITING -> etokens[wentry[i]] = 0; DIE()
        :: else
        fi
    }
    for (i : 0 .. NE - 1) {
        if
        :: estatus[i] == E_QUEUED && etokens[i] != 0 -> estatus[i] = E_FREE; DIE()
        :: else
        fi
    }
#endif
    /* cl_borrowers_rebuild, from the top down */
    i = NE;
    do
    :: i > 0 ->
        i--;
        if
        :: estatus[i] == E_HELD && elevel[i] != 0 && etokens[i] != 0 -> c = 1
        :: estatus[i] == E_QUEUED && elevel[i] == 0 -> c = 1
        :: else -> c = 0
        fi;
        if
        :: c ->                 /* the same borrower twice: keep one */
            for (j : i + 1 .. NE - 1) {
                if
                :: estatus[j] != E_FREE && ekey[j] == ekey[i] -> c = 0
                :: else
                fi
            }
            j = 0
        :: else
        fi;
        if
        :: !c && estatus[i] != E_FREE -> estatus[i] = E_FREE; DIE()
        :: else
        fi
    :: else -> break
    od;
    c = 0;
    /* the queue, from the tickets */
#if BUG == 5
    for (i : 0 .. NW - 1) {
        if
        :: wstate[i] == W_WAITING -> queue_push(i)
        :: else
        fi
    }
#else
    do
    :: true ->
        h = NIL;
        for (i : 0 .. NW - 1) {
            if
            :: (wstate[i] == W_WAITING && (qlen == 0 || wticket[i] > wticket[q[qlen - 1]])
                && (h == NIL || wticket[i] < wticket[h])) -> h = i
            :: else
            fi
        }
        if
        :: h == NIL -> break
        :: else -> queue_push(h)
        fi
    od;
#endif
    i = 0;
    h = 0;
    borrowed = 0;
    for (i : 0 .. NE - 1) {
        if
        :: estatus[i] == E_HELD -> borrowed = borrowed + etokens[i]
        :: else
        fi
    }
    i = 0;
    dispatch()
}

inline repair()
{
    rebuild();
    shared_reclaim();
    ownerdead = 0;              /* pthread_mutex_consistent */
    check_inv()
}

/* cl_shared_lock; the first statement blocks, so it may open an atomic */
inline lock()
{
    owner == NIL;
    owner = me;
    if
    :: ownerdead -> repair()
    :: else
    fi
}

inline unlock()
{
    check_inv();
    owner = NIL
}

/* ---- A process --------------------------------------------------------- */

/* R4 (FIFO, every request fits the total): sets y */
inline can_take_now()
{
    y = (n <= ROOM && qlen == 0)
}

/* the top of wait_in_queue's loop, under the lock: leave if granted,
 * else sleep (cl_shared_sleep reads the futex word and unlocks); then
 * cl_unlock for a call that ends */
inline loop_top()
{
    if
    :: r == R_NONE && wstate[mw] == W_GRANTED ->
        r = R_OK;
        using[me] = wn[mw];
        in_wait--;
        wstate[mw] = W_FREE;                            /* waiter_free */
        myw[me] = NIL; DIE();
        mw = 0
    :: else
    fi;
    if
    :: r == R_NONE ->
        assert(wstate[mw] == W_WAITING);                /* else EPROTO: S3 */
        send_wakes_now();
        fw[mw] = 0;                                     /* seen: the word, read */
        phase[me] = P_ASLEEP
    :: else ->
        phase[me] = P_OUT
    fi;
    unlock()
}

proctype proc(byte me)
{
    byte i, j, k, c, x, e, f, h, p, st, n, r, mw, why;
    bit timed, y;

    if
    :: n = 1
#if NMAX >= 2
    :: total >= 2 -> n = 2
#endif
    fi;
    if
    :: timed = 0
    :: timed = 1
    fi;

    atomic {                                            /* cl_acquire */
        lock();
        phase[me] = P_IN;
        /* R3: nothing of ours may be in the set */
        for (i : 0 .. NE - 1) {
            assert(estatus[i] == E_FREE || ekey[i] != me)
        }
        i = 0;
        can_take_now();
        if
        :: !y -> shared_reclaim(); can_take_now()       /* take_now_after_reclaim */
        :: else
        fi;
        if
        :: y ->                                         /* take_now */
            borrowers_add(E_HELD);
            etokens[e] = n; DIE();
            borrowed = borrowed + n;
            using[me] = n;
            r = R_OK
        :: else ->                                      /* wait_in_queue */
            pick_waiter();                  /* waiter_alloc */
            mw = x;
            x = 0;
            wentry[mw] = NIL;                           /* new_waiter's memset */
            wgrant[mw] = 0;
            wticket[mw] = 0;
            wn[mw] = 0;
            wproc[mw] = me; DIE_F();
            wn[mw] = n; DIE_F();
            tickets++;
            wticket[mw] = tickets; DIE();
            borrowers_add(E_QUEUED);
            wentry[mw] = e; DIE_F();
            wstate[mw] = W_WAITING;                     /* last: the slot is whole */
            myw[me] = mw; DIE();
            queue_push(mw);
            in_wait++;
            dispatch();
            r = R_NONE
        fi;
        e = 0;
        y = 0;
        loop_top()
    };

    /* the wait: each wake-up takes the lock again (cl_shared_sleep) and
     * runs the loop of wait_in_queue up to the next sleep */
    do
    :: r != R_NONE -> break
    :: else ->
        if                                              /* FUTEX_WAIT */
        :: fw[mw] -> why = S_WAKE
        :: timed -> why = S_TMO
        :: nunrec > 0 || ((lostw >> mw) & 1) -> why = S_POLL
        :: ndead < NDIE -> atomic { die(); goto dead }
        fi;
        atomic {
            lostw = lostw & ~(1 << mw);
            lock();
            phase[me] = P_IN;
            if                  /* more than CL_RECLAIM_NS since the last look */
            :: nunrec > 0 && why == S_POLL -> shared_reclaim()
            :: nunrec > 0 && why != S_POLL -> shared_reclaim()
            :: nunrec > 0 && why != S_POLL
            :: else
            fi;
            if
            :: why == S_TMO && wstate[mw] == W_WAITING ->       /* leave_queue */
                borrowers_remove(wentry[mw]);
                queue_unlink(mw);
                wstate[mw] = W_LEAVING; DIE();
                dispatch();
                in_wait--;
                wstate[mw] = W_FREE;                    /* waiter_free */
                myw[me] = NIL; DIE();
                mw = 0;
                r = R_TIMEDOUT
            :: else
            fi;
            why = 0;
            loop_top()
        }
    od;
    deliver();

    if
    :: r == R_OK ->
        die_out();                                      /* while it holds */
        atomic {                                        /* cl_release */
            lock();
            phase[me] = P_IN;
            using[me] = 0;
            e = NIL;
            for (i : 0 .. NE - 1) {                     /* cl_borrowers_find */
                if
                :: e == NIL && estatus[i] != E_FREE && ekey[i] == me -> e = i
                :: else
                fi
            }
            i = 0;
            assert(e != NIL && estatus[e] == E_HELD);   /* else EPERM: S2 */
            assert(borrowed >= etokens[e]);
            borrowed = borrowed - etokens[e];           /* give_back_hold */
            borrowers_remove(e);
            e = 0;
            dispatch();
            phase[me] = P_OUT;
            unlock()
        };
        deliver()
    :: else
    fi;
    atomic {
        phase[me] = P_DONE;
        ndone++;
        n = 0; r = 0; mw = 0; timed = 0; e = 0
    };
dead:
    skip
}

/* S5: no sleeper beside enough free tokens once the system is quiet */
#define LIVE_QUIET(p) (!alive[p] || (wk[p] == 0 && (phase[p] == P_OUT || phase[p] == P_DONE \
    || (phase[p] == P_ASLEEP && !fw[myw[p]] && !((lostw >> myw[p]) & 1)))))

#if NP == 2
#define QUIET (LIVE_QUIET(0) && LIVE_QUIET(1))
#elif NP == 3
#define QUIET (LIVE_QUIET(0) && LIVE_QUIET(1) && LIVE_QUIET(2))
#else
#error "NP is 2 or 3"
#endif

proctype quiet()
{
end:
    atomic {
        (owner == NIL && !ownerdead && nunrec == 0 && QUIET
         && qlen > 0 && wn[q[0]] <= ROOM) ->
        assert(0)
    }
}

init
{
    byte i, j, k, c, x, e, f, h, p, st, n, r, mw, why;
    bit timed, y;
    byte me = NP;               /* the process that opens it at the end */

    atomic {
        for (i : 0 .. NW - 1) {
            q[i] = NIL
        }
        for (i : 0 .. NP - 1) {
            myw[i] = NIL
        }
        if
        :: total = 1
        :: total = 2
        fi;
        for (i : 0 .. NP - 1) {
            alive[i] = 1;
            in_use[i] = 1;      /* registered by caplimit_open */
            run proc(i)
        }
        run quiet()
    };
    (ndone == NP);
    atomic {                    /* caplimit_open: lock, reclaim (R26) */
        lock();
        shared_reclaim();
        check_inv();
        assert(borrowed == 0 && qlen == 0 && in_wait == 0 && nunrec == 0);
        for (i : 0 .. NE - 1) {
            assert(estatus[i] == E_FREE)
        }
        for (i : 0 .. NW - 1) {
            assert(wstate[i] == W_FREE)
        }
        owner = NIL
    };
dead:
    skip
}
