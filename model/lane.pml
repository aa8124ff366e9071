/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * lane.pml: a Promela model of the fast lane (lib/lane.c) against the
 * locked path (lib/queue.c), checked exhaustively by `make check-model`.
 * A thread's one token goes by the lane (one CAS on the lane word, no
 * lock) or by the lock; every locked call first shuts the lane and folds
 * its holds into the borrower set, and cl_unlock opens it again when the
 * set is empty.  The question is whether the two paths together behave as
 * the locked path alone: the same holders, the same counts, no over-grant.
 *
 * What models what:
 *   word                      lim->lane.word: OPEN (bit 0) | tokens << 1
 *   slot[t]                   lim->lane.slot[t]: HELD (bit 0) | acquires
 *                             << 1; thread t owns slot t
 *   budget, seen[t], wanted   lim->lane.budget, .seen[], .wanted
 *   lanes_high                lanes_high (cl_lane_join): each thread joins
 *                             with one lock-free step before its first
 *                             lane call (it registered under another
 *                             limiter's lock, or here: the order is free)
 *   lane_acquire()            cl_lane_acquire: load the slot, load the
 *                             word, the intent store, the CAS loop, the
 *                             slot back as it was when a CAS finds the
 *                             lane shut or empty; each load, store and CAS
 *                             one step (the CAS loop: see below)
 *   lane_release()            cl_lane_release: load the slot, the CAS loop
 *                             while OPEN, then HELD cleared
 *   mutex, mutex_lock()       lim->lock, pthread_mutex_lock; a wait takes
 *                             it back in pthread_cond_wait, with no cl_lock
 *   cl_lock()                 pthread_mutex_lock, cl_lane_shut and
 *                             cl_lane_fold up to the end of read_slots:
 *                             the fetch_and, lanes_high, each slot's load
 *                             a step of its own, a pass repeated until
 *                             exactly budget - tokens say HELD
 *   fold_end()                the rest of cl_lane_fold: each HELD slot a
 *                             holder of the set (fold_hold), its HELD
 *                             cleared, every slot's acquires counted
 *   unlock()                  cl_unlock: cl_lane_open when nentries == 0,
 *                             then the unlock
 *   atomic { ... }            fold_end and the rest of one critical
 *                             section, to the unlock, as one step
 *   inset[t], borrowed,       the borrower set (a thread's held entry),
 *   nentries                  st->borrowed, st->nentries (held and queued
 *                             entries)
 *   locked_acquire()          cl_acquire for one token of a thread:
 *                             cl_lane_want, R3 (EDEADLK), R18 (ECANCELED),
 *                             can_take_now (R4), nowait refusal, or
 *                             wait_in_queue (FIFO, granted by hand_off or
 *                             closed out; the wait drops the lock without
 *                             cl_unlock and takes it back without cl_lock)
 *   locked_release()          cl_release: EPERM, or give_back_hold with
 *                             the hand-off to the queue's head (R5, R9)
 *   proctype worker           a thread: ROUNDS rounds of acquire (the lane
 *                             first, or straight to the lock as a thread
 *                             whose record must grow does), maybe a second
 *                             acquire while it holds (R3), release (the
 *                             lane first, or the lock as give_back_all at
 *                             thread exit does), or a release that holds
 *                             nothing (R9)
 *   proctype controller       caplimit_statistics, caplimit_counters,
 *                             caplimit_set_total_tokens (R8) and
 *                             caplimit_close (R18), each a locked call that
 *                             folds; then a last raise to TMAX so that
 *                             every waiter finishes
 *   mine[t], lane_h[t], nlane ghosts: t holds (its acquire's CAS or grant
 *                             happened, its release's has not); t holds by
 *                             a lane CAS, not yet folded; their number
 *   owed                      ghost: successful acquires not yet counted
 *                             in granted_at_once or granted_after_wait
 *   nblocked, ndone           ghosts: processes waiting for the mutex or
 *                             asleep in a wait; processes that have ended
 *
 * Steps.  The lane's loads, stores and CASes are one step each; so are
 * the fold's loads of the slots, which interleave with them.  The rest is
 * merged where nothing can tell: cl_lock is one step, the mutex taken and
 * (the lane open) the fold's fetch_and, as a lane step between the two
 * touches nothing the mutex guards; fold_end and the rest of the critical
 * section are one step, as meanwhile the lane is shut: no lane step
 * writes what the section reads or writes (a passing HELD slot is not one
 * the fold took), and a holder's load of its own slot ends in the lock
 * whether it comes before or after fold_end clears its HELD.  Merging
 * only leaves interleavings out, so a counterexample is one of the full
 * model's; the arguments above say none is missed.  A CAS that fails changes only its caller's w, so by
 * default each CAS loop is one step: the CAS that succeeds, or the one
 * that finds the lane shut (or empty); -DCAS_LOOP gives the loop's load
 * and each CAS a step of their own, with the ABA they allow (a lane shut
 * and opened again with the same word between the load and the CAS).
 *
 * Not modelled: weak CASes failing spuriously (one more time round the
 * loop), the thread's record (R22: give_back_all is modelled as a locked
 * release), a slot left by one thread and taken by another (its count
 * carries on, its HELD is clear), re-entry (R21), weighted holds (R23),
 * timeouts, cancellation and spurious wake-ups (each takes the mutex back
 * without cl_lock while the waiter's entry keeps the lane shut), drain
 * (ndrainers), the throughput policy, shared limiters (their lane stays
 * shut), the memory order (the model is sequentially consistent; the
 * header of lib/lane.c argues the orders), R15 (ROOM stands for ecap and
 * half the index).
 *
 * Properties (assertions; spin also reports any invalid end state):
 *   L1 no over-grant (R1, R8): a grant, by the lane or the lock, leaves at
 *      most total tokens in use (lane holds and set holds together)
 *   L2 one hold per thread (R1, R3): no thread holds in the lane and in
 *      the set at once; an acquire by a thread that holds fails with
 *      EDEADLK, the lane's included
 *   L3 release (R9): a release succeeds iff the thread holds
 *   L4 the lane is open only while the set is empty, the limiter is not
 *      closed (R18: no grant after a close) and budget <= total, and then
 *      budget - tokens == the lane's holds, always
 *   L5 the fold records as holders exactly the threads that hold in the
 *      lane: never one that does not, never missing one that does; the
 *      lane's owners do not write a slot the fold holds (the fold finds
 *      each HELD slot as it read it)
 *   L6 a fold ends: while it spins for a slot, some thread is between its
 *      two lane steps (else every other process waits for the lock, the
 *      fold's holder, or has ended: the fold would spin for ever)
 *   L7 at every locked call, after the fold: the set's holders are exactly
 *      the threads that hold (mine[]), borrowed == their number, no lane
 *      hold is left unfolded, and granted_at_once + granted_after_wait ==
 *      the successful acquires so far (R10, R19)
 *   L8 at the end (a last locked call): every token back, nothing queued,
 *      no slot HELD, the counts agree
 *
 * Configurations (model/local.mk): -DNT threads (2 or 3), -DROUNDS each,
 * -DTMAX the largest total (the initial one is chosen from 0..TMAX),
 * -DROOM the lane's budget at most, -DNCTL controller calls before the
 * last raise, -DNOWAIT_ONLY (every locked acquire is nowait: no queue),
 * -DNO_EXTRA (no second acquire while holding, no release while not),
 * -DNO_SKIP (the lane is always tried first).
 *
 * Seeding a bug (each must make spin fail; `make check-model-bugs`):
 *   -DBUG=1  the fold reads the slots once instead of until exactly
 *            budget - tokens say HELD: a release between its CAS and its
 *            slot store is folded as a holder -> L5.
 *   -DBUG=2  the lane release clears HELD before its CAS: the owner
 *            writes a slot the fold took as HELD -> L5; a fold between the
 *            two finds one HELD too few and spins for ever while the
 *            releaser, its CAS failed, waits for the lock -> L6.
 *   -DBUG=3  the lane acquire CASes before its intent store: a fold
 *            between the two counts another thread's passing HELD in place
 *            of the holder -> L5 (or L6).
 *   -DBUG=4  cl_unlock opens the lane while the set is not empty -> L4,
 *            and a lane grant beside the set's holders -> L1.
 *   -DBUG=5  the lane acquire does not look at its own slot's HELD: a lane
 *            holder takes a second token -> L2.
 *   -DBUG=6  cl_lane_open does not look at closed: a lane grant after a
 *            close -> L4 (R18).
 *   -DBUG=7  the fold counts only the acquires of slots that say HELD: the
 *            acquires already given back go uncounted -> L7 (R19).
 *   -DBUG=8  the fold reads lanes_high before its fetch_and: a thread that
 *            joins in between and CASes before the shut holds in a slot
 *            the fold does not read -> L5/L6.
 *   -DBUG=9  the lane acquire does not put its slot back when its CAS finds
 *            the lane shut: a HELD slot without a hold -> L5/L6.
 */

#ifndef NT
#define NT 3                    /* threads */
#endif
#ifndef ROUNDS
#define ROUNDS 1                /* acquires per thread */
#endif
#ifndef TMAX
#define TMAX 2                  /* the largest total */
#endif
#ifndef ROOM
#define ROOM 2                  /* the lane's budget at most (ecap, index) */
#endif
#ifndef NCTL
#define NCTL 2                  /* controller calls before the last raise */
#endif
#ifndef BUG
#define BUG 0
#endif
#if NT < 2 || NT > 3
#error "NT is 2 or 3 (HELD_NOW, L2 and got[] are written out for 3 slots)"
#endif

#define NPROC (NT + 1)          /* the workers and the controller */
#define FREE 255                /* the lock's owner: nobody */

/* lib/lane.c */
#define LANE_OPEN 1
#define LANE_HELD 1
#define LANE_ONE 2
#define HAS_TOKEN(x) (((x) & LANE_OPEN) != 0 && (x) >= LANE_OPEN + LANE_ONE)

/* results */
#define R_NONE 0
#define R_OK 1
#define R_LANE 2                /* -1 from the lane: take the lock */
#define R_DEADLK 3
#define R_CANCELED 4
#define R_WOULDBLOCK 5
#define R_PERM 6

/* a waiter's state (enum cl_wait_state, in part) */
#define IDLE 0
#define WAITING 1
#define GRANTED 2
#define CLOSED 3

/* the lane */
byte word;
byte slot[NT];
byte budget;
byte seen[NT];
bit wanted;
byte lanes_high;

/* the lock and the state it guards */
byte mutex = FREE;
byte total;
byte borrowed;
byte nentries;
byte in_wait;
bit closed;
bit inset[NT];                  /* a held entry of thread t in the set */
byte wst[NT];                   /* its waiter's state */
byte q[NT];                     /* the FIFO queue: q[0] is the head */
byte qlen;

/* ghosts */
bit mine[NT];
bit lane_h[NT];
byte nlane;
byte owed;                      /* successful acquires so far less
                                 * counters.granted_at_once and
                                 * counters.granted_after_wait */
byte nblocked;                  /* processes waiting for the lock or a grant */
byte ndone;

/* ---- L4 and L2, in every state -------------------------------------- */

#define L4 (!(word & LANE_OPEN) \
            || (nentries == 0 && !closed && budget <= total \
                && budget - (word >> 1) == nlane))
#if NT == 2
#define L2 (!(lane_h[0] && inset[0]) && !(lane_h[1] && inset[1]))
#else
#define L2 (!(lane_h[0] && inset[0]) && !(lane_h[1] && inset[1]) \
            && !(lane_h[2] && inset[2]))
#endif

active proctype monitor()
{
end:
    atomic { !(L4 && L2) -> assert(L4 && L2) }
}

/* ---- The lock --------------------------------------------------------- */

/* A critical section: cl_lock (one step, then the fold's slot loads),
 * then one atomic step from fold_end to the unlock (see Steps above). */

/* the slots below n that say HELD now */
#define HELD_NOW ((n > 0 -> slot[0] & LANE_HELD : 0) + (n > 1 -> slot[1] & LANE_HELD : 0) \
                  + (n > 2 -> slot[2] & LANE_HELD : 0))

/* L6: after a pass that failed, while nobody else can move (every other
 * process waits for the lock, for a grant, or has ended), no slot can
 * change: the next pass must end the spin, else it spins for ever */
inline spin_check()
{
    assert(nblocked + ndone < NPROC - 1 || HELD_NOW == budget - (fw >> 1))
}

/* read_slots' one pass: each slot below n a load of its own */
inline read_pass()
{
    atomic { i = 0; cnt = 0; got[0] = 0; got[1] = 0; got[2] = 0 };
    do
    :: i < n -> atomic { got[i] = slot[i]; cnt = cnt + (got[i] & LANE_HELD); i++ }
    :: else -> break
    od
}

/* cl_lane_fold's fetch_and; ok: the lane was open, there is a fold */
inline shut()
{
    if
    :: word & LANE_OPEN ->
        fw = word;
        word = word & ~LANE_OPEN;
        assert(budget - (fw >> 1) == nlane);
        ok = 1
    :: else -> ok = 0
    fi
}

/* cl_lock: pthread_mutex_lock (nblocked counts the process while it waits,
 * for L6), cl_lane_shut, cl_lane_fold up to the end of read_slots */
inline cl_lock()
{
    atomic {
        nblocked++;
        mutex == FREE -> mutex = me;
        nblocked--;
#if BUG == 8
        n = lanes_high;                 /* too early */
        ok = word & LANE_OPEN
    };
    if
    :: ok -> atomic { shut() }
    :: else
    fi;
#else
        shut()
    };
    if
    :: ok -> n = lanes_high             /* after the fetch_and */
    :: else
    fi;
#endif
    if
    :: ok ->
        do
        :: read_pass();
            if
            :: cnt == budget - (fw >> 1) -> break
#if BUG == 1
            :: else -> break            /* one pass only */
#else
            :: else -> spin_check()
#endif
            fi
        od
    :: else
    fi
}

/* the rest of cl_lane_fold, the first thing in the call's critical step:
 * each HELD slot a holder of the set (fold_hold), its HELD cleared, every
 * slot's acquires counted */
inline fold_end()
{
    if
    :: ok ->
        acq = 0;
        for (i : 0 .. NT - 1) {
            if
            :: i < n ->
#if BUG == 7
                if
                :: got[i] & LANE_HELD -> acq = acq + (got[i] >> 1) - seen[i]
                :: else
                fi;
#else
                acq = acq + (got[i] >> 1) - seen[i];
#endif
                seen[i] = got[i] >> 1;
                if
                :: got[i] & LANE_HELD ->
                    assert(lane_h[i]);                      /* L5 */
                    assert(slot[i] == got[i]);              /* L5 */
                    lane_h[i] = 0;
                    nlane--;
                    inset[i] = 1;                           /* fold_hold */
                    borrowed++;
                    nentries++;
                    slot[i] = got[i] - LANE_HELD
                :: else -> assert(!lane_h[i])               /* L5 */
                fi
            :: else -> assert(!lane_h[i])                   /* L5 */
            fi
        }
        owed = owed - acq;                                  /* granted_at_once */
        if
        :: acq == 0 -> wanted = 0
        :: else
        fi;
        i = 0; cnt = 0; acq = 0; fw = 0;
        got[0] = 0; got[1] = 0; got[2] = 0
    :: else
    fi;
    n = 0;
    ok = 0
}

/* L7: under the lock, after the fold */
inline check_locked()
{
    assert(nlane == 0);
    c = 0;
    for (i : 0 .. NT - 1) {
        assert(inset[i] == mine[i]);
        c = c + inset[i]
    }
    assert(borrowed == c);
    assert(nentries == c + qlen);
    assert(owed == 0);
    i = 0;
    c = 0
}

/* cl_unlock: `if (nentries == 0) cl_lane_open(lim)`, then the unlock */
#if BUG == 4
#define MAY_OPEN (wanted && !closed && in_wait == 0 && total > 0 && !(word & LANE_OPEN))
#elif BUG == 6
#define MAY_OPEN (nentries == 0 && wanted && in_wait == 0 && total > 0 && !(word & LANE_OPEN))
#else
#define MAY_OPEN (nentries == 0 && wanted && !closed && in_wait == 0 && total > 0 \
                  && !(word & LANE_OPEN))
#endif
inline unlock()
{
    if
    :: MAY_OPEN ->
        if
        :: total > ROOM -> budget = ROOM
        :: else -> budget = total
        fi;
        word = (budget << 1) | LANE_OPEN
    :: else
    fi;
    mutex = FREE
}

/* hand_off: FIFO from the head while tokens are free (R5) */
inline hand_off()
{
    do
    :: qlen > 0 && borrowed < total ->
        w = q[0];
        for (i : 1 .. NT - 1) {
            q[i - 1] = q[i]
        }
        q[NT - 1] = 0;
        qlen--;
        assert(borrowed + nlane + 1 <= total);              /* L1 */
        assert(!closed);                                    /* R18 */
        inset[w] = 1;                                       /* entry HELD */
        borrowed++;
        mine[w] = 1;
        wst[w] = GRANTED
    :: else -> break
    od;
    i = 0;
    w = 0
}

/* cl_close_queue: every waiter out with ECANCELED, its entry removed */
inline close_queue()
{
    closed = 1;
    do
    :: qlen > 0 ->
        w = q[0];
        for (i : 1 .. NT - 1) {
            q[i - 1] = q[i]
        }
        q[NT - 1] = 0;
        qlen--;
        nentries--;
        wst[w] = CLOSED
    :: else -> break
    od;
    i = 0;
    w = 0
}

/* ---- The lane (lib/lane.c) -------------------------------------------- */

/* The CAS loops.  A CAS that fails changes nothing but the caller's w,
 * so by default each loop is one step: the CAS that succeeds, or the one
 * that finds the lane shut (or empty).  -DCAS_LOOP models the load and
 * each CAS of the loop as steps of their own, with the ABA they allow. */

/* the lane acquire's successful CAS */
inline lane_grant()
{
    word = word - LANE_ONE;
    assert(!mine[me]);                                      /* L2 */
    assert(nlane + borrowed + 1 <= total);                  /* L1 */
    assert(!closed);                                        /* R18 */
    lane_h[me] = 1;
    nlane++;
    mine[me] = 1;
    owed++;                                                 /* not counted yet */
    r = R_OK
}

/* the lane release's successful CAS */
inline lane_give()
{
    word = word + LANE_ONE;
    assert(lane_h[me] && mine[me]);
    lane_h[me] = 0;
    nlane--;
    mine[me] = 0;
    r = R_OK
}

/* cl_lane_acquire: r = R_OK or R_LANE */
inline lane_acquire()
{
    v = slot[me];
    atomic {
        w = word;
        if
#if BUG == 5
        :: !HAS_TOKEN(w) -> r = R_LANE
#else
        :: (v & LANE_HELD) || !HAS_TOKEN(w) -> r = R_LANE   /* R3, or shut */
#endif
        :: else -> r = R_NONE
        fi
    };
    if
    :: r == R_NONE ->
#if BUG != 3
        slot[me] = v + LANE_ONE + LANE_HELD;                /* intent */
#endif
#ifdef CAS_LOOP
        do
        :: atomic { word == w -> lane_grant() }; break
        :: atomic {
            word != w ->                                    /* it fails */
            w = word;
            if
            :: !HAS_TOKEN(w) -> r = R_LANE
            :: else
            fi
           };
            if
            :: r == R_LANE -> break
            :: else
            fi
        od;
#else
        atomic {
            if
            :: HAS_TOKEN(word) -> lane_grant()
            :: else -> r = R_LANE
            fi
        };
#endif
        if
        :: r == R_OK ->
#if BUG == 3
            slot[me] = v + LANE_ONE + LANE_HELD             /* intent, late */
#else
            skip
#endif
        :: else ->
#if BUG != 3 && BUG != 9
            slot[me] = v                                    /* back */
#else
            skip
#endif
        fi
    :: else
    fi;
    v = 0;
    w = 0
}

/* cl_lane_release: r = R_OK or R_LANE */
inline lane_release()
{
    atomic {
        v = slot[me];
        if
        :: v & LANE_HELD -> r = R_NONE
        :: else -> r = R_LANE                               /* not a lane hold */
        fi
    };
    if
    :: r == R_NONE ->
#if BUG == 2
        slot[me] = v - LANE_HELD;                           /* too early */
#endif
#ifdef CAS_LOOP
        w = word;
        do
        :: !(w & LANE_OPEN) -> r = R_LANE; break
        :: else ->
            atomic {
                if
                :: word == w -> lane_give()
                :: else -> w = word
                fi
            };
            if
            :: r == R_OK -> break
            :: else
            fi
        od;
#else
        atomic {
            if
            :: word & LANE_OPEN -> lane_give()
            :: else -> r = R_LANE                           /* shut: folded */
            fi
        };
#endif
#if BUG != 2
        if
        :: r == R_OK -> slot[me] = v - LANE_HELD
        :: else
        fi
#else
        skip
#endif
    :: else
    fi;
    v = 0;
    w = 0
}

/* ---- The locked path (lib/queue.c) ------------------------------------ */

/* cl_acquire(lim, thread, 1, nowait or not): r = R_OK, an error, or
 * R_NONE when it waits (the lock dropped, no cl_unlock) */
inline locked_acquire()
{
    cl_lock();
    atomic {
        fold_end();
        check_locked();
        wanted = 1;                                         /* cl_lane_want */
        if
        :: inset[me] || wst[me] == WAITING -> r = R_DEADLK  /* R3 */
        :: else ->
            if
            :: closed -> r = R_CANCELED                     /* R18 */
            :: else ->
                if
                :: borrowed < total && qlen == 0 ->         /* can_take_now */
                    assert(borrowed + nlane + 1 <= total);  /* L1 */
                    inset[me] = 1;                          /* take_now */
                    borrowed++;
                    nentries++;
                    mine[me] = 1;                           /* and counted */
                    r = R_OK
                :: else ->
                    if
                    :: nowait -> r = R_WOULDBLOCK
                    :: else ->                              /* wait_in_queue */
                        wst[me] = WAITING;
                        nentries++;
                        q[qlen] = me;
                        qlen++;
                        in_wait++;
                        r = R_NONE
                    fi
                fi
            fi
        fi;
        if
        :: r != R_NONE -> unlock()
        :: else -> mutex = FREE; nblocked++                  /* pthread_cond_wait */
        fi
    };
    if
    :: r == R_NONE ->
        /* woken for its grant or the close; the mutex comes back without
         * cl_lock, so without a fold: the lane must be shut */
        atomic { wst[me] != WAITING && mutex == FREE -> mutex = me; nblocked-- };
        atomic {
            assert(!(word & LANE_OPEN));
            check_locked();
            if
            :: wst[me] == GRANTED -> r = R_OK              /* and counted */
            :: else ->
                assert(wst[me] == CLOSED);
                r = R_CANCELED
            fi;
            wst[me] = IDLE;
            in_wait--;
            unlock()
        }
    :: else
    fi
}

/* cl_release(lim, thread, level or all): r = R_OK or R_PERM */
inline locked_release()
{
    cl_lock();
    atomic {
        fold_end();
        check_locked();
        if
        :: inset[me] ->                                     /* give_back_hold */
            inset[me] = 0;
            mine[me] = 0;
            borrowed--;
            nentries--;
            hand_off();
            r = R_OK
        :: else -> r = R_PERM
        fi;
        unlock()
    }
}

/* caplimit_acquire / _nowait: the lane first, unless the thread's record
 * must grow or it has no slot (skip) */
inline acquire()
{
    r = R_LANE;
    if
    :: skip ->
        lane_acquire()
#ifndef NO_SKIP
    :: skip
#endif
    fi;
    if
    :: r == R_LANE -> locked_acquire()
    :: else
    fi
}

/* caplimit_release; give_back_all (thread exit) takes the lock at once */
inline release()
{
    r = R_LANE;
    if
    :: skip ->
        lane_release()
#ifndef NO_SKIP
    :: skip
#endif
    fi;
    if
    :: r == R_LANE -> locked_release()
    :: else
    fi
}

proctype worker(byte me)
{
    byte v, w, r, round, i, c, cnt, fw, n, acq;
    byte got[3];
    bit ok, nowait;

    /* cl_lane_join: lanes_high raised before the first lane CAS */
    atomic {
        if
        :: lanes_high < me + 1 -> lanes_high = me + 1
        :: else
        fi
    };
    do
    :: round < ROUNDS ->
        round++;
#ifdef NOWAIT_ONLY
        nowait = 1;
#else
        if
        :: nowait = 0
        :: nowait = 1
        fi;
#endif
        acquire();
        if
        :: r == R_OK ->
            assert(mine[me]);
#ifndef NO_EXTRA
            if
            :: skip ->                                      /* R3 */
                acquire();
                assert(r == R_DEADLK);
                assert(mine[me])
            :: skip
            fi;
#endif
            release();
            assert(r == R_OK);                              /* L3 */
            assert(!mine[me])
        :: else ->
            assert(!mine[me]);
#ifndef NO_EXTRA
            if
            :: skip ->
                release();
                assert(r == R_PERM)                         /* L3 */
            :: skip
            fi
#endif
        fi;
        r = R_NONE;
        nowait = 0
    :: else -> break
    od;
    ndone++
}

proctype controller()
{
    byte v, w, r, i, c, cnt, fw, n, acq, k;
    byte got[3];
    bit ok;
    byte me = NT;

    do
    :: k < NCTL ->
        k++;
        cl_lock();
        atomic {
            fold_end();
            check_locked();                                 /* statistics, counters */
            if
            :: skip                                         /* statistics, counters */
            :: total = 0                                    /* R8 */
            :: total = 1
#if TMAX >= 2
            :: total = 2
#endif
#if TMAX >= 3
            :: total = 3
#endif
            :: close_queue()                                /* R18 */
            fi;
            hand_off();
            unlock()
        }
    :: k < NCTL -> k = NCTL
    :: else -> break
    od;
    /* the last raise lets every waiter finish */
    cl_lock();
    atomic {
        fold_end();
        check_locked();
        total = TMAX;
        hand_off();
        unlock()
    };
    ndone++
}

init
{
    byte v, w, r, i, c, cnt, fw, n, acq;
    byte got[3];
    bit ok;
    byte me = NT + 1;

    atomic {
        if
        :: total = 0
        :: total = 1
#if TMAX >= 2
        :: total = 2
#endif
#if TMAX >= 3
        :: total = 3
#endif
        fi;
        wanted = 1;                                         /* caplimit_create */
        unlock();                                           /* cl_lane_open */
        for (i : 0 .. NT - 1) {
            run worker(i)
        }
        run controller()
    };
    ndone == NPROC;
    /* L8: a last locked call (caplimit_counters) */
    cl_lock();
    atomic {
        fold_end();
        check_locked();
        assert(borrowed == 0 && nentries == 0 && qlen == 0 && in_wait == 0);
        for (i : 0 .. NT - 1) {
            assert(!(slot[i] & LANE_HELD) && !mine[i] && wst[i] == IDLE);
            assert(seen[i] == slot[i] >> 1)
        }
        unlock()
    }
}
