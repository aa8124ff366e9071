/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * caplimit.pml: a Promela model of the lock and queue protocol of
 * lib/queue.c (with caplimit_close from lib/create.c and the setters of
 * lib/capacity.c), checked exhaustively by `make check-model`.
 *
 * What models what:
 *   atomic { ... }            one critical section under lim->lock; the end
 *                             of each is an unlock, where check_inv() runs
 *   queue_push/queue_unlink   queue_push(), queue_unlink()
 *   make_holder, hand_off     make_holder(), hand_off(): from the head
 *                             while requests fit, passing over the
 *                             oversize ones              (R5, R23)
 *   fit_head()                fitting_head(): the first request that is
 *                             not larger than the total        (R23)
 *   need[t]                   cl_waiter.n and cl_entry.tokens: t's request
 *                             and then its hold, 1..NMAX tokens (R23)
 *   wake_for_free, try_take   wake_for_free(), try_take()        (R17)
 *   young()                   head_is_young(): a nondeterministic choice,
 *                             monotonic within a critical section
 *   dispatch                  cl_dispatch()
 *   can_take_now              can_take_now()                     (R4, R17)
 *   leave_queue               leave_queue(): unlink, LEAVING, dispatch
 *                                                                (R6, R7)
 *   on_cancel                 on_cancel(), cancellation while queued or
 *                             after the grant, before return     (R7)
 *   proctype worker           cl_acquire() (+ wait_in_queue()) and
 *                             cl_release() (R9); timed waits (R6) and
 *                             nowait calls (R4) by nondeterministic choice
 *   proctype controller       caplimit_set_total_tokens() (R8),
 *                             caplimit_set_policy() (R17), caplimit_close()
 *                             (R18) in any order, then a last raise to
 *                             TMAX so that every waiter can finish
 *   asleep[t], signal()       pthread_cond_wait/signal on t's own (per-thread)
 *                             condition variable: a signal to a thread not
 *                             asleep is lost, as with pthreads; one that
 *                             reaches a later wait of t is a spurious wake-up
 *   wake_later, wakes/nwakes  wake_later() and lim->wakes: dispatch queues
 *                             the signals under the lock (pending[t]++), or
 *                             sends one at once when WAKE_BATCH are queued
 *   unlock(), deliver()       cl_unlock(): the queued signals are taken with
 *                             the lock and sent after it is dropped, one step
 *                             each, so any number of other steps (another
 *                             thread's wait ending, timing out, being
 *                             cancelled, a new wait, the thread's exit) may
 *                             come before each one; pending[t]-- after each
 *   wake_now()                wake_now() in sleep_once(): a waiter whose own
 *                             dispatch queued signals sends them before it
 *                             sleeps, under the lock
 *   gone[t]                   t's exit: give_back_all() waits for
 *                             pending[t] == 0, then the record is gone; no
 *                             signal may reach a gone thread (no use after
 *                             free of its condition variable)
 * The waiter states are those of lib/internal.h: WAITING, WOKEN, GRANTED,
 * CLOSED, LEAVING (and IDLE between waits).
 * Not modelled: the borrower set's hashing (held[] stands for it), R3/R21
 * re-entry, R22's give-back, counters, ENOMEM, the clocks (a timed waiter
 * may time out at any moment, also after it was signalled), drain (R29),
 * caplimit_release_tokens (a hold goes back whole), and weighted requests
 * under the throughput policy (NMAX > 1 is FIFO only).
 *
 * Properties (assertions; spin also reports any invalid end state):
 *   P1 capacity, no over-grant (R8, R23): a hold of n is granted only
 *      when borrowed + n <= total
 *   P2 borrowed == the sum of the holders' tokens, always
 *   P3 no token lost: when every process has finished, borrowed == 0,
 *      the queue is empty and nwoken == 0; a waiter left asleep for ever
 *      shows up as an invalid end state (lost wake-up)
 *   P4 FIFO among fitting requests (policy FIFO): a grant from the queue
 *      goes to the fitting head (every waiter ahead of it is oversize), a
 *      grant at once only when no fitting request waits; so the head is
 *      never overtaken by smaller requests behind it, and with P3 (every
 *      process finishes) it is not starved; with -DFIFO_ONLY (NMAX 1)
 *      grants follow the order of the tickets taken at queue_push
 *   P5 no sleeper beside enough free tokens, at every unlock: under FIFO
 *      there is no fitting head, or its request is larger than the free
 *      tokens (NMAX 1: a non-empty queue implies borrowed >= total);
 *      under THROUGHPUT the free
 *      tokens are at most the WOKEN waiters, or every queued waiter is
 *      WOKEN (min(free, queued) <= nwoken); nwoken counts WOKEN records
 *   P6 deferred signals: none is left queued at an unlock (plain
 *      pthread_mutex_unlock paths find lim->wakes empty), none reaches a
 *      thread that has exited, none is queued twice in one batch, and at
 *      the end every pending[t] is 0
 *
 * Configurations (see model/local.mk): -DPOLICY0=0|1 the initial policy,
 * -DSWITCH lets the controller change the policy, -DFIFO_ONLY adds the
 * ticket check, -DNT and -DROUNDS size it.  The initial total is chosen
 * from 0..TMAX.  -DWAKE_BATCH=1 makes the batch fill up, so the signals
 * after the first of a dispatch go out under the lock.  -DNMAX=2 or 3
 * makes each request (and hold) one of 1..NMAX tokens (R23), with the
 * controller's totals 0..TMAX making some of them oversize at times.
 * -DOBJECT_RELEASE
 * lets the controller release thread 0's token (any thread may release an
 * object borrower's, R2), also between its grant and its return.
 *
 * Seeding a bug (each must make spin fail; `make check-model-bugs` does it):
 *   -DBUG=1  AnyIO's over-grant: hand_off unlinks and signals the head but
 *            the token is counted only when the woken waiter runs, so a
 *            newcomer finds borrowed < total and an empty queue in between
 *            -> P1 fails.
 *   -DBUG=2  release forgets cl_dispatch -> a waiter sleeps beside a free
 *            token: P5 fails (with -DNO_P5: an invalid end state, P3).
 *   -DBUG=3  try_take returns when no token is free without putting the
 *            waiter back to WAITING: it sleeps as WOKEN, and wake_for_free
 *            skips it for ever -> invalid end state (a lost wake-up).
 *   -DBUG=4  wake_for_free wakes one waiter fewer than the free tokens
 *            -> P5 fails under THROUGHPUT.
 *   -DBUG=5  with -DOBJECT_RELEASE (the controller releases thread 0's
 *            token, as any thread may release an object borrower's): the old
 *            on_cancel after the grant removes an entry that is gone
 *            (review F1; on_cancel now gives back only its own grant).
 *   -DBUG=6  wake_now() forgets the signals (the lost wake-up it prevents):
 *            a waiter's own dispatch (on queueing, or in try_take) grants or
 *            wakes others, then it sleeps and the signals are never sent
 *            -> invalid end state.
 *   -DBUG=7  the thread's exit does not wait for pending[t] == 0 -> a late
 *            signal reaches a gone thread (use after free) -> P6 fails.
 *   -DBUG=8  cl_unlock lowers pending[t] before it signals -> the same.
 *   -DBUG=9  no cl_dispatch() after queue_push() (review F6, before its
 *            fix) -> P5 fails under THROUGHPUT.
 *   -DBUG=10 the Go #37852 kind (x/sync/semaphore before 2020): a waiter
 *            that leaves by its deadline does not re-run the hand-off; a
 *            large head that times out leaves the smaller requests it held
 *            back asleep beside enough free tokens -> P5 fails (needs
 *            NMAX 2 and three workers; with -DNO_P5 the model still ends,
 *            a later release waking them: only P5 sees it).
 *   -DBUG=11 hand_off stops at an oversize request instead of passing over
 *            it -> P5 fails.
 *   -DBUG=12 hand_off lets a smaller request past a head that does not fit
 *            (barging at the head: the large request could starve) -> P4
 *            fails.
 */

#ifndef NT
#define NT 3                    /* worker threads */
#endif
#ifndef ROUNDS
#define ROUNDS 1                /* acquires per worker */
#endif
#ifndef TMAX
#define TMAX 2                  /* largest total */
#endif
#ifndef NCTL
#define NCTL 2                  /* controller actions before the last one */
#endif
#ifndef POLICY0
#define POLICY0 0
#endif
#ifndef BUG
#define BUG 0
#endif
#ifndef WAKE_BATCH
#define WAKE_BATCH 8            /* CL_WAKE_BATCH */
#endif
#ifndef NMAX
#define NMAX 1                  /* R23: a request is for 1..NMAX tokens */
#endif
#if NMAX > TMAX
#error "NMAX > TMAX: the last raise would not let every waiter finish"
#endif
#if NMAX > 1 && (POLICY0 != 0 || defined(SWITCH))
#error "weighted requests (NMAX > 1) are modelled under the FIFO policy only"
#endif
#if NMAX > 1 && defined(FIFO_ONLY)
#error "FIFO_ONLY's ticket order does not hold with oversize requests passed over; P4 checks FIFO among fitting requests"
#endif

#define FIFO 0
#define THROUGHPUT 1

/* enum cl_wait_state (lib/internal.h), plus IDLE for a thread not in a
 * wait; the drainer's states (R29) are not modelled */
#define IDLE 0
#define WAITING 1
#define WOKEN 2
#define GRANTED 3
#define CLOSED 4
#define LEAVING 5

/* results */
#define R_NONE 0
#define R_OK 1
#define R_WOULDBLOCK 2
#define R_TIMEDOUT 3
#define R_CANCELED 4            /* ECANCELED, R18 */
#define R_KILLED 5              /* pthread_cancel acted upon, R7 */

/* why a wait ended */
#define W_SIG 0
#define W_TMO 1
#define W_CAN 2

#define NOBODY 255

byte total;
byte borrowed;
byte q[NT];                     /* the FIFO: q[0] is the head */
byte qlen;
byte nwoken;
bit closed;
bit policy = POLICY0;
byte state[NT];
bit asleep[NT];
bit held[NT];                   /* an entry with level 1 in the borrower set */
byte ticket[NT];
byte next_ticket = 1;
byte last_ticket;
byte ndone;
byte wakes;                     /* lim->wakes: a bit per target thread */
byte nwakes;
byte pending[NT];               /* cl_thread.pending */
bit gone[NT];                   /* the thread has exited */
byte need[NT];                  /* R23: the tokens of t's request, its hold */

#define FREE (total > borrowed -> total - borrowed : 0)
#define OVERSIZE(t) (need[t] > total)

/* fitting_head(): h is the position in q of the first request that is
 * not oversize, or qlen when there is none (R23) */
inline fit_head()
{
    h = 0;
    do
    :: h < qlen && OVERSIZE(q[h]) -> h++
    :: else -> break
    od
}

/* Time only moves on: a head found old stays old until the unlock (the
 * head never changes between two calls in one critical section). */
inline young()
{
    if
    :: !aged -> y = 1
    :: y = 0; aged = 1
    fi
}

inline check_inv()
{
    /* P2 */
    c = 0;
    for (i : 0 .. NT - 1) {
        if
        :: held[i] -> c = c + need[i]
        :: else
        fi
    }
    assert(borrowed == c);
    /* P5 */
    c = 0;
    for (i : 0 .. qlen - 1) {
        if
        :: state[q[i]] == WOKEN -> c++
        :: else
        fi
    }
    assert(nwoken == c);
#ifndef NO_P5
    fit_head();
    assert(policy != FIFO || h == qlen || need[q[h]] > FREE);
    assert(qlen == 0 || policy == FIFO || FREE <= nwoken || qlen == nwoken);
    h = 0;
#endif
    i = 0;
    c = 0;
    aged = 0
}

inline signal(t)
{
    assert(!gone[t]);           /* P6 */
    asleep[t] = 0
}

inline wake_later(t)
{
    if
    :: nwakes == WAKE_BATCH -> signal(t)
    :: else ->
        assert(!((wakes >> t) & 1));    /* P6 */
        wakes = wakes | (1 << t);
        nwakes++;
        pending[t]++
    fi
}

/* cl_unlock, the part under the lock: take the queued signals */
inline unlock()
{
    out = wakes;
    wakes = 0;
    nwakes = 0
}

/* pthread_mutex_unlock alone: nothing may be left queued */
inline plain_unlock()
{
    assert(wakes == 0)          /* P6 */
}

/* cl_unlock, after the unlock: each signal is a step of its own */
inline deliver()
{
    do
    :: out == 0 -> break
    :: else ->
#if BUG == 8
        atomic {
            i = 0;
            do
            :: (out >> i) & 1 -> break
            :: else -> i++
            od;
            pending[i]--
        };
        atomic {
            out = out & ~(1 << i);
            signal(i);
            i = 0
        }
#else
        atomic {
            i = 0;
            do
            :: (out >> i) & 1 -> break
            :: else -> i++
            od;
            out = out & ~(1 << i);
            signal(i);
            pending[i]--;
            i = 0
        }
#endif
    od
}

/* sleep_once: the signals of this waiter's own dispatch go out first */
inline wake_now()
{
    i = 0;
    do
    :: i < NT ->
        if
        :: (wakes >> i) & 1 ->
#if BUG != 6
            signal(i);
#endif
            pending[i]--
        :: else
        fi;
        i++
    :: else -> break
    od;
    wakes = 0;
    nwakes = 0;
    i = 0
}

inline queue_push(t)
{
    q[qlen] = t;
    qlen++;
    ticket[t] = next_ticket;
    next_ticket++
}

inline queue_unlink(t)
{
    i = 0;
    do
    :: q[i] == t -> break
    :: else -> i++
    od;
    do
    :: i + 1 < qlen -> q[i] = q[i + 1]; i++
    :: else -> break
    od;
    qlen--;
    q[qlen] = NOBODY;
    i = 0;
    if
    :: state[t] == WOKEN -> nwoken--
    :: else
    fi
}

/* P1, P4 for a waiter leaving the queue as a holder */
inline grant_check(t)
{
    assert(borrowed + need[t] <= total);        /* P1 */
    c = 0;                                      /* P4 */
    do
    :: q[c] == t -> break
    :: else -> assert(policy != FIFO || OVERSIZE(q[c])); c++
    od;
    c = 0;
#ifdef FIFO_ONLY
    assert(ticket[t] > last_ticket);
    last_ticket = ticket[t];
#endif
}

inline make_holder(t)
{
    grant_check(t);
    queue_unlink(t);
#if BUG == 1
    /* counted by the waiter when it runs: see worker */
#else
    assert(!held[t]);
    held[t] = 1;
    borrowed = borrowed + need[t];
#endif
    state[t] = GRANTED
}

/* R5 with R23: grant from the head while requests fit, passing over the
 * oversize ones (make_holder unlinks q[h], so h stays) */
inline hand_off()
{
    h = 0;
    do
#if BUG == 11
    :: h < qlen && OVERSIZE(q[h]) -> break
#else
    :: h < qlen && OVERSIZE(q[h]) -> h++
#endif
#if BUG == 12
    :: h < qlen && !OVERSIZE(q[h]) && need[q[h]] > FREE -> h++
#endif
    :: h < qlen && !OVERSIZE(q[h]) && need[q[h]] <= FREE ->
        w = q[h];
        make_holder(w);
        wake_later(w)
    :: else -> break
    od;
    h = 0;
    w = 0
}

inline wake_for_free()
{
    i = 0;
    do
#if BUG == 4
    :: i < qlen && nwoken + 1 < FREE ->
#else
    :: i < qlen && nwoken < FREE ->
#endif
        w = q[i];
        if
        :: state[w] == WAITING ->
            state[w] = WOKEN;
            nwoken++;
            wake_later(w)
        :: else
        fi;
        i++
    :: else -> break
    od;
    i = 0;
    w = 0
}

inline dispatch()
{
    fit_head();
    if
    :: h == qlen
    :: h < qlen && need[q[h]] > FREE
    :: else ->
        if
        :: policy == THROUGHPUT -> young()
        :: else -> y = 0
        fi;
        if
        :: y -> wake_for_free()
        :: else -> hand_off()
        fi;
        y = 0
    fi;
    h = 0
}

/* sets y; a queue of oversize requests only counts as empty (R23) */
inline can_take_now()
{
    if
    :: need[me] > FREE -> y = 0
    :: else ->
        fit_head();
        if
        :: h == qlen -> y = 1
        :: else ->
            if
            :: policy == THROUGHPUT -> young()
            :: else -> y = 0
            fi
        fi;
        h = 0
    fi
}

/* the leaving waiter re-runs the hand-off: the head it was may have held
 * back requests that fit (R5, R23; Go issue 37852) */
inline leave_queue(t)
{
    queue_unlink(t);
    state[t] = LEAVING;
    dispatch()
}

inline try_take(t)
{
#if BUG == 3
    if
    :: borrowed >= total -> goto tt_done
    :: else
    fi;
#endif
    state[t] = WAITING;
    nwoken--;
    if
    :: borrowed >= total
    :: else ->
        if
        :: q[0] == t -> y = 1
        :: else ->
            if
            :: policy == THROUGHPUT -> young()
            :: else -> y = 0
            fi
        fi;
        if
        :: y -> make_holder(t)
        :: else -> hand_off()
        fi;
        y = 0
    fi;
#if BUG == 3
tt_done:
#endif
    skip
}

inline give_back(t)
{
    held[t] = 0;
    assert(borrowed >= need[t]);
    borrowed = borrowed - need[t]
}

inline on_cancel(t)
{
    if
    :: state[t] == WAITING || state[t] == WOKEN -> leave_queue(t)
    :: state[t] == GRANTED ->
#if BUG == 5
        assert(held[t]);        /* cl_borrowers_find must find it (F1) */
        give_back(t);
        dispatch()
#else
        if                      /* only our own grant: it may be gone */
        :: held[t] -> give_back(t); dispatch()
        :: else
        fi
#endif
    :: state[t] == CLOSED
    fi
}

inline release(t)
{
    if
    :: held[t] ->
        give_back(t);
#if BUG != 2
        dispatch()
#endif
    :: else                     /* EPERM */
    fi
}

/* the top of wait_in_queue's loop, under the lock: take a token if woken,
 * leave if granted or closed, else sleep (sending our dispatch's signals) */
inline loop_top(me)
{
    if
    :: state[me] == WOKEN -> try_take(me)
    :: else
    fi;
    if
    :: state[me] == GRANTED -> r = R_OK
    :: state[me] == CLOSED -> r = R_CANCELED
    :: else -> wake_now(); asleep[me] = 1
    fi
}

proctype worker(byte me)
{
    byte i, c, h, w, y, r, why, round, out;
    bit timed, nowait, victim, aged;

    do
    :: round < ROUNDS ->
        round++;
        /* the kind of call; thread 0 may be cancelled in its waits */
        if
        :: timed = 0; nowait = 0
        :: timed = 1; nowait = 0
        :: timed = 0; nowait = 1
        fi;
        victim = (me == 0 && !nowait);
        if                                              /* R23: n */
        :: need[me] = 1
#if NMAX >= 2
        :: need[me] = 2
#endif
#if NMAX >= 3
        :: need[me] = 3
#endif
        fi;
        r = R_NONE;
        atomic {                                        /* cl_acquire */
            if
            :: closed -> r = R_CANCELED
            :: else ->
                can_take_now();
                if
                :: y ->
                    assert(borrowed + need[me] <= total);   /* P1 */
                    fit_head();                         /* P4 */
                    assert(policy != FIFO || h == qlen);
                    h = 0;
                    held[me] = 1;
                    borrowed = borrowed + need[me];
                    r = R_OK
                :: !y && nowait -> r = R_WOULDBLOCK
                :: else ->                              /* wait_in_queue */
                    state[me] = WAITING;
                    queue_push(me);
#if BUG != 9
                    dispatch();                         /* R17: review F6 */
#endif
                    loop_top(me)
                fi;
                y = 0
            fi;
            if
            :: state[me] != IDLE && r != R_NONE -> state[me] = IDLE; unlock()
            :: state[me] != IDLE && r == R_NONE   /* asleep: the wait unlocks */
            :: else -> plain_unlock()
            fi;
            check_inv()
        };
        deliver();
        do
        :: r != R_NONE -> break
        :: else ->
            /* pthread_cond_wait/clockwait: woken by a signal (maybe one
             * meant for an earlier wait), by the deadline, or by
             * pthread_cancel, at any time */
            if
            :: !asleep[me] -> why = W_SIG
            :: timed -> asleep[me] = 0; why = W_TMO
            :: victim -> asleep[me] = 0; why = W_CAN
            fi;
            atomic {                                    /* the lock again */
#if BUG == 1
                if
                :: state[me] == GRANTED && !held[me] ->
                    assert(borrowed + need[me] <= total);   /* P1 */
                    held[me] = 1;
                    borrowed = borrowed + need[me]
                :: else
                fi;
#endif
                if
                :: why == W_CAN ->
                    on_cancel(me);
                    r = R_KILLED
                :: why == W_TMO && (state[me] == WAITING || state[me] == WOKEN) ->
#if BUG == 10
                    queue_unlink(me);                   /* no hand-off */
                    state[me] = LEAVING;
#else
                    leave_queue(me);
#endif
                    r = R_TIMEDOUT
                :: else -> loop_top(me)
                fi;
                if
                :: r != R_NONE -> state[me] = IDLE; unlock()
                :: else
                fi;
                why = W_SIG;
                check_inv()
            };
            deliver()
        od;
        if
        :: r == R_OK ->                                 /* cl_release */
            atomic { release(me); unlock(); check_inv() };
            deliver()
        :: else
        fi;
        if
        :: r == R_KILLED -> break                       /* the thread ends */
        :: else
        fi;
        r = R_NONE;
        timed = 0;
        nowait = 0
    :: else -> break
    od;
    /* give_back_all: the record outlives the signals on their way */
#if BUG != 7
    (pending[me] == 0);
#endif
    atomic { gone[me] = 1; ndone++ }
}

proctype controller()
{
    byte i, c, h, w, y, n, out;
    bit aged;

    do
    :: n < NCTL ->
        n++;
        atomic {
            if
            :: total = 0
            :: total = 1
            :: total = 2
#if TMAX >= 3
            :: total = 3
#endif
            :: closed = 1                               /* caplimit_close */
#ifdef SWITCH
            :: policy = FIFO
            :: policy = THROUGHPUT
#endif
#ifdef OBJECT_RELEASE
            :: held[0] -> give_back(0)                  /* released by another thread */
#endif
            fi;
            if
            :: closed ->
                do
                :: qlen > 0 ->
                    w = q[0];
                    qlen--;
                    for (i : 0 .. qlen - 1) {
                        q[i] = q[i + 1]
                    }
                    q[qlen] = NOBODY;
                    state[w] = CLOSED;
                    signal(w)
                :: else -> break
                od;
                nwoken = 0;
                i = 0;
                w = 0
            :: else
            fi;
            dispatch();
            unlock();                   /* cl_unlock (close: nothing queued) */
            check_inv()
        };
        deliver()
    :: n < NCTL -> n = NCTL
    :: else -> break
    od;
    /* the last action lets every waiter finish */
    atomic {
        total = TMAX;
        dispatch();
        unlock();
        check_inv()
    };
    deliver();
    ndone++
}

init
{
    byte i;

    atomic {
        for (i : 0 .. NT - 1) {
            q[i] = NOBODY
        }
        if
        :: total = 0
        :: total = 1
        :: total = 2
        fi;
        for (i : 0 .. NT - 1) {
            run worker(i)
        }
        run controller()
    };
    (ndone == NT + 1);
    assert(borrowed == 0 && qlen == 0 && nwoken == 0);      /* P3 */
    assert(wakes == 0 && nwakes == 0);                      /* P6 */
    for (i : 0 .. NT - 1) {
        assert(state[i] == IDLE && !held[i] && pending[i] == 0)
    }
}
