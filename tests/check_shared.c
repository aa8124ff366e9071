/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * R24: every rule of the private limiter holds across processes (FIFO,
 * hand-off, deadlines, cancellation, totals, policy, close, counters,
 * reentrancy, weighted holds, statistics, format, drain); R25: borrowers
 * across processes and fork.  Processes are agents (shared_harness.h).
 */
#include "shared_harness.h"

#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define LONG_MS 60000L
#define PARENT_OBJ (&sh_objs[63])

/* ---- FIFO and hand-off ---------------------------------------------------- */

START_TEST(test_R24_R5_fifo_across_processes)
{
    const char *name = sh_name();
    caplimit_t *lim = sh_create(name, 1);
    struct sh_agent *ag[3];
    static const enum harness_variant v[6] = { HARNESS_PLAIN, HARNESS_OBJ, HARNESS_UNTIL,
                                               HARNESS_OBJ_UNTIL, HARNESS_PLAIN, HARNESS_OBJ };
    int i;

    for (i = 0; i < 3; i++)
        ag[i] = sh_agent_start(name);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, PARENT_OBJ), 0);
    /* queued one by one: agent 0, 1, 2, 0, 1, 2; the last two use object 1,
     * which agent 1 also waits for: another process, another borrower */
    for (i = 0; i < 6; i++) {
        sh_start(ag[i % 3], i / 3, v[i], 1, LONG_MS, 1, 1);
        POLL_UNTIL(caplimit_threads_waiting(lim) == (size_t)i + 1);
    }
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, PARENT_OBJ), 0);
    for (i = 0; i < 6; i++)
        ck_assert_int_eq(sh_grant(ag[i % 3], i / 3).rc, 0);
    for (i = 0; i < 6; i++)
        ck_assert_msg(sh_grant_index(ag[i % 3], i / 3) == i, "waiter %d granted as %d", i,
                      sh_grant_index(ag[i % 3], i / 3));
    for (i = 0; i < 6; i++)
        ck_assert_int_eq(sh_do(ag[i % 3], SH_WJOIN, i / 3, 0, 0), 0);
    harness_assert_counts(lim, 0, 0);
    for (i = 0; i < 3; i++)
        sh_agent_stop(ag[i]);
    ck_assert_uint_eq(harness_counters(lim).granted_after_wait, 6);
    sh_close(lim);
}
END_TEST

START_TEST(test_R24_R5_hand_off_to_a_waiter_in_another_process)
{
    const char *name = sh_name();
    caplimit_t *lim = sh_create(name, 1);
    struct sh_agent *a = sh_agent_start(name);
    struct caplimit_statistics st;

    ck_assert_int_eq(caplimit_acquire(lim), 0);
    sh_start(a, 0, HARNESS_PLAIN, -1, LONG_MS, 1, 0);
    POLL_UNTIL(caplimit_threads_waiting(lim) == 1);
    ck_assert_int_eq(caplimit_release(lim), 0);
    /* the token went to the waiter before anyone could take it */
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, PARENT_OBJ), EWOULDBLOCK);
    harness_assert_counts(lim, 1, 0);
    ck_assert_int_eq(caplimit_statistics(lim, &st), 0);
    ck_assert_uint_eq(st.nborrowers, 1);
    ck_assert_int_eq(st.borrowers[0].pid, sh_agent_pid(a));
    ck_assert_int_eq(st.borrowers[0].kind, CAPLIMIT_BORROWER_THREAD);
    caplimit_statistics_destroy(&st);
    ck_assert_int_eq(sh_grant(a, 0).rc, 0);
    ck_assert_int_eq(sh_do(a, SH_WREL, 0, 0, 0), 0);
    harness_assert_counts(lim, 0, 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, PARENT_OBJ), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, PARENT_OBJ), 0);
    sh_agent_stop(a);
    sh_close(lim);
}
END_TEST

/* ---- R6 deadlines ----------------------------------------------------------- */

START_TEST(test_R6_deadlines_across_processes_on_both_clocks)
{
    const char *name = sh_name();
    caplimit_t *lim = sh_create(name, 1);
    struct sh_agent *a = sh_agent_start(name), *b = sh_agent_start(name);
    struct sh_msg m;
    long long t0;

    ck_assert_int_eq(caplimit_acquire(lim), 0);
    t0 = sh_now_ns();
    sh_start(a, 0, HARNESS_UNTIL, 0, 200, 1, 1);        /* CLOCK_MONOTONIC */
    sh_start(b, 0, HARNESS_OBJ_UNTIL, 0, 200, 1, 1);    /* CLOCK_REALTIME */
    POLL_UNTIL(caplimit_threads_waiting(lim) == 2);
    m = sh_grant(a, 0);
    ck_assert_int_eq(m.rc, ETIMEDOUT);
    ck_assert_int_ge(m.t - t0, 190000000LL);
    ck_assert_int_eq(sh_grant(b, 0).rc, ETIMEDOUT);
    harness_assert_counts(lim, 1, 0);
    ck_assert_uint_eq(harness_counters(lim).timed_out, 2);
    /* a deadline not yet passed: granted */
    sh_start(a, 1, HARNESS_OBJ_UNTIL, 0, LONG_MS, 1, 0);
    POLL_UNTIL(caplimit_threads_waiting(lim) == 1);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(sh_grant(a, 1).rc, 0);
    ck_assert_int_eq(sh_do(a, SH_WREL, 1, 0, 0), 0);
    ck_assert_int_eq(sh_do(a, SH_WJOIN, 0, 0, 0), 0);
    ck_assert_int_eq(sh_do(b, SH_WJOIN, 0, 0, 0), 0);
    harness_assert_counts(lim, 0, 0);
    sh_agent_stop(a);
    sh_agent_stop(b);
    sh_close(lim);
}
END_TEST

START_TEST(test_R6_R23_a_timed_out_head_lets_the_next_process_in)
{
    const char *name = sh_name();
    caplimit_t *lim = sh_create(name, 2);
    struct sh_agent *a = sh_agent_start(name), *b = sh_agent_start(name);

    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, PARENT_OBJ), 0);
    sh_start(a, 0, HARNESS_OBJ_UNTIL, 0, 300, 2, 1);    /* 2 tokens: does not fit */
    POLL_UNTIL(caplimit_threads_waiting(lim) == 1);
    sh_start(b, 0, HARNESS_PLAIN, -1, LONG_MS, 1, 0);   /* fits, but behind a */
    POLL_UNTIL(caplimit_threads_waiting(lim) == 2);
    ck_assert(!sh_granted(b, 0));
    ck_assert_int_eq(sh_grant(a, 0).rc, ETIMEDOUT);
    /* its leaving ran R5: b holds the free token */
    ck_assert_int_eq(sh_grant(b, 0).rc, 0);
    harness_assert_counts(lim, 2, 0);
    ck_assert_int_eq(sh_do(b, SH_WREL, 0, 0, 0), 0);
    ck_assert_int_eq(sh_do(a, SH_WJOIN, 0, 0, 0), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, PARENT_OBJ), 0);
    harness_assert_counts(lim, 0, 0);
    sh_agent_stop(a);
    sh_agent_stop(b);
    sh_close(lim);
}
END_TEST

/* ---- R7 cancellation -------------------------------------------------------- */

START_TEST(test_R7_cancel_a_waiter_of_a_shared_limiter)
{
    const char *name = sh_name();
    caplimit_t *lim = sh_create(name, 1);
    struct sh_agent *a = sh_agent_start(name), *b = sh_agent_start(name);
    int i;

    ck_assert_int_eq(caplimit_acquire(lim), 0);
    for (i = 0; i < HARNESS_NWAITING; i++) {
        sh_start(a, i, harness_waiting_variants[i], 2, LONG_MS, 1, 1);
        POLL_UNTIL(caplimit_threads_waiting(lim) == 1);
        sh_start(b, i, HARNESS_OBJ_UNTIL, 2, LONG_MS, 1, 1);
        POLL_UNTIL(caplimit_threads_waiting(lim) == 2);
        ck_assert_int_eq(sh_do(a, SH_WCANCEL, i, 0, 0), 1);
        ck_assert_uint_eq(caplimit_threads_waiting(lim), 1);
        ck_assert_uint_eq(harness_counters(lim).cancelled, (unsigned long long)i + 1);
        /* no token lost, the one behind advanced to the head */
        ck_assert_int_eq(caplimit_release(lim), 0);
        ck_assert_int_eq(sh_grant(b, i).rc, 0);
        ck_assert_int_eq(sh_do(b, SH_WJOIN, i, 0, 0), 0);
        ck_assert_int_eq(sh_do(a, SH_HOLDS, 2, 0, 0), 0);
        harness_assert_counts(lim, 0, 0);
        ck_assert_int_eq(caplimit_acquire(lim), 0);
    }
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_uint_eq(harness_counters(lim).abandoned, 0);
    sh_agent_stop(a);
    sh_agent_stop(b);
    sh_close(lim);
}
END_TEST

/* ---- R8 totals -------------------------------------------------------------- */

START_TEST(test_R8_total_changes_wake_other_processes)
{
    const char *name = sh_name();
    caplimit_t *lim = sh_create(name, 0);
    struct sh_agent *a = sh_agent_start(name), *b = sh_agent_start(name),
                    *c = sh_agent_start(name);

    sh_start(a, 0, HARNESS_PLAIN, -1, LONG_MS, 1, 0);
    POLL_UNTIL(caplimit_threads_waiting(lim) == 1);
    sh_start(b, 0, HARNESS_OBJ, 3, LONG_MS, 1, 0);
    POLL_UNTIL(caplimit_threads_waiting(lim) == 2);
    sh_start(c, 0, HARNESS_OBJ, 3, -1, 2, 0);           /* a hold of 2 */
    POLL_UNTIL(caplimit_threads_waiting(lim) == 3);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 2), 0);
    ck_assert_int_eq(sh_grant(a, 0).rc, 0);
    ck_assert_int_eq(sh_grant(b, 0).rc, 0);
    harness_assert_counts(lim, 2, 1);
    ck_assert(!sh_granted(c, 0));
    /* a rise made by another process */
    ck_assert_int_eq(sh_do(a, SH_SET_TOTAL, 4, 0, 0), 0);
    ck_assert_int_eq(sh_grant(c, 0).rc, 0);
    harness_assert_counts(lim, 4, 0);
    /* a fall takes nothing back */
    ck_assert_int_eq(sh_do(b, SH_SET_TOTAL, 1, 0, 0), 0);
    harness_assert_counts(lim, 4, 0);
    ck_assert_uint_eq(caplimit_available_tokens(lim), 0);
    ck_assert_int_eq(sh_do(a, SH_WREL, 0, 0, 0), 0);
    ck_assert_int_eq(sh_do(b, SH_WREL, 0, 0, 0), 0);
    ck_assert_int_eq(sh_do(c, SH_WREL, 0, 0, 0), 0);
    harness_assert_counts(lim, 0, 0);
    ck_assert_uint_eq(caplimit_total_tokens(lim), 1);
    sh_agent_stop(a);
    sh_agent_stop(b);
    sh_agent_stop(c);
    sh_close(lim);
}
END_TEST

/* ---- R17 policy ------------------------------------------------------------- */

#define TEN_S 10000000000LL

START_TEST(test_R17_throughput_policy_across_processes)
{
    const char *name = sh_name();
    caplimit_t *lim = sh_create(name, 1);
    struct sh_agent *a = sh_agent_start(name), *b = sh_agent_start(name);
    struct harness_waiter w;

    ck_assert_int_eq(sh_do(a, SH_SET_POLICY, CAPLIMIT_POLICY_THROUGHPUT, TEN_S, 0), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, PARENT_OBJ), 0);
    harness_waiter_start(&w, lim, HARNESS_PLAIN, NULL, LONG_MS, 0);
    POLL_UNTIL(caplimit_threads_waiting(lim) == 1);
    harness_stall(w.thread);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, PARENT_OBJ), 0);
    /* a young head: the token is left free, a newcomer elsewhere takes it */
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 0);
    ck_assert_uint_eq(caplimit_threads_waiting(lim), 1);
    ck_assert_int_eq(sh_do(b, SH_ACQ, HARNESS_OBJ_NOWAIT, 0, 0), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 1);
    harness_unstall();
    ck_assert_uint_eq(caplimit_threads_waiting(lim), 1);
    ck_assert_int_eq(harness_waiter_rc(&w), HARNESS_RC_PENDING);
    ck_assert_int_eq(sh_do(b, SH_REL, HARNESS_OBJ_NOWAIT, 0, 0), 0);
    ck_assert_int_eq(harness_waiter_join(&w), 0);
    harness_assert_no_worker_failures();
    /* back to FIFO from yet another process: no barging */
    ck_assert_int_eq(sh_do(b, SH_SET_POLICY, CAPLIMIT_POLICY_FIFO, 0, 0), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, PARENT_OBJ), 0);
    sh_start(a, 0, HARNESS_PLAIN, -1, LONG_MS, 1, 0);
    POLL_UNTIL(caplimit_threads_waiting(lim) == 1);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, PARENT_OBJ), 0);
    ck_assert_int_eq(sh_do(b, SH_ACQ, HARNESS_OBJ_NOWAIT, 0, 0), EWOULDBLOCK);
    ck_assert_int_eq(sh_grant(a, 0).rc, 0);
    ck_assert_int_eq(sh_do(a, SH_WREL, 0, 0, 0), 0);
    harness_assert_counts(lim, 0, 0);
    sh_agent_stop(a);
    sh_agent_stop(b);
    sh_close(lim);
}
END_TEST

/* ---- R18 close -------------------------------------------------------------- */

START_TEST(test_R18_close_wakes_other_processes_with_ECANCELED)
{
    const char *name = sh_name();
    caplimit_t *lim = sh_create(name, 1);
    struct sh_agent *a = sh_agent_start(name), *b = sh_agent_start(name),
                    *c = sh_agent_start(name);

    ck_assert_int_eq(caplimit_acquire(lim), 0);
    sh_start(a, 0, HARNESS_PLAIN, -1, LONG_MS, 1, 1);
    POLL_UNTIL(caplimit_threads_waiting(lim) == 1);
    sh_start(b, 0, HARNESS_OBJ_UNTIL, 0, LONG_MS, 1, 1);
    POLL_UNTIL(caplimit_threads_waiting(lim) == 2);
    ck_assert_int_eq(sh_do(c, SH_CLOSE, 0, 0, 0), 0);
    ck_assert_int_eq(sh_grant(a, 0).rc, ECANCELED);
    ck_assert_int_eq(sh_grant(b, 0).rc, ECANCELED);
    harness_assert_counts(lim, 1, 0);
    ck_assert_int_eq(caplimit_is_closed(lim), 1);
    ck_assert_int_eq(sh_do(a, SH_IS_CLOSED, 0, 0, 0), 1);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, PARENT_OBJ), ECANCELED);
    ck_assert_int_eq(sh_do(b, SH_ACQ, HARNESS_PLAIN, 0, 0), ECANCELED);
    /* the holder keeps its token and may give it back */
    ck_assert_int_eq(caplimit_holds(lim), 1);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(sh_do(c, SH_CLOSE, 0, 0, 0), 0);
    ck_assert_uint_eq(harness_counters(lim).closed_out, 4);
    ck_assert_int_eq(sh_do(a, SH_WJOIN, 0, 0, 0), 0);
    ck_assert_int_eq(sh_do(b, SH_WJOIN, 0, 0, 0), 0);
    /* a new handle sees it closed too */
    ck_assert_int_eq(sh_do(c, SH_DESTROY, 0, 0, 0), 0);
    sh_close(lim);
    lim = sh_open(name);
    ck_assert_int_eq(caplimit_is_closed(lim), 1);
    sh_close(lim);
    sh_agent_stop(a);
    sh_agent_stop(b);
    sh_do(c, SH__EXIT, 0, 0, 0);
}
END_TEST

/* ---- R19 counters ----------------------------------------------------------- */

START_TEST(test_R19_counters_seen_by_every_process)
{
    const char *name = sh_name();
    caplimit_t *lim = sh_create(name, 1);
    struct sh_agent *a = sh_agent_start(name), *b = sh_agent_start(name);
    struct caplimit_counters c;

    ck_assert_int_eq(sh_do(a, SH_ACQ, HARNESS_NOWAIT, 0, 0), 0);
    ck_assert_int_eq(sh_do(b, SH_ACQ, HARNESS_OBJ_NOWAIT, 0, 0), EWOULDBLOCK);
    sh_start(b, 0, HARNESS_PLAIN, -1, LONG_MS, 1, 1);
    POLL_UNTIL(caplimit_threads_waiting(lim) == 1);
    ck_assert_int_eq(sh_do(a, SH_REL, HARNESS_NOWAIT, 0, 0), 0);
    ck_assert_int_eq(sh_grant(b, 0).rc, 0);
    ck_assert_int_eq(sh_do(b, SH_WJOIN, 0, 0, 0), 0);
    c = harness_counters(lim);
    ck_assert_uint_eq(c.granted_at_once, 1);
    ck_assert_uint_eq(c.would_block, 1);
    ck_assert_uint_eq(c.granted_after_wait, 1);
    ck_assert_uint_eq(c.max_threads_waiting, 1);
    ck_assert_uint_gt(c.wait_ns_total, 0);
    ck_assert_uint_eq(c.wait_ns_max, c.wait_ns_total);
    ck_assert_uint_eq(c.timed_out + c.cancelled + c.closed_out + c.abandoned + c.reclaimed, 0);
    /* and by a process that opens it later */
    sh_agent_stop(a);
    sh_agent_stop(b);
    sh_close(lim);
    lim = sh_open(name);
    ck_assert_uint_eq(harness_counters(lim).granted_at_once, 1);
    ck_assert_uint_eq(harness_counters(lim).granted_after_wait, 1);
    sh_close(lim);
}
END_TEST

/* ---- R21 reentrancy --------------------------------------------------------- */

START_TEST(test_R21_reentrancy_across_processes)
{
    const char *name = sh_name();
    caplimit_t *lim = sh_create(name, 1);
    struct sh_agent *a = sh_agent_start(name);
    struct caplimit_statistics st;

    ck_assert_int_eq(caplimit_set_reentrant(lim, 1), 0);
    ck_assert_int_eq(sh_do(a, SH_ACQ, HARNESS_PLAIN, 0, 0), 0);
    ck_assert_int_eq(sh_do(a, SH_ACQ, HARNESS_PLAIN, 0, 0), 0);
    ck_assert_int_eq(sh_do(a, SH_ACQ, HARNESS_NOWAIT, 0, 0), 0);
    ck_assert_int_eq(caplimit_statistics(lim, &st), 0);
    ck_assert_uint_eq(st.nborrowers, 1);
    ck_assert_uint_eq(st.borrowers[0].level, 3);
    ck_assert_int_eq(st.borrowers[0].pid, sh_agent_pid(a));
    caplimit_statistics_destroy(&st);
    harness_assert_counts(lim, 1, 0);
    ck_assert_int_eq(caplimit_set_reentrant(lim, 0), EBUSY);
    ck_assert_int_eq(sh_do(a, SH_REL, HARNESS_PLAIN, 0, 0), 0);
    ck_assert_int_eq(sh_do(a, SH_REL, HARNESS_PLAIN, 0, 0), 0);
    ck_assert_int_eq(sh_do(a, SH_HOLDS, -1, 0, 0), 1);
    ck_assert_int_eq(caplimit_set_reentrant(lim, 0), 0);
    ck_assert_int_eq(sh_do(a, SH_ACQ, HARNESS_NOWAIT, 0, 0), EDEADLK);
    ck_assert_int_eq(sh_do(a, SH_REL, HARNESS_PLAIN, 0, 0), 0);
    ck_assert_int_eq(sh_do(a, SH_HOLDS, -1, 0, 0), 0);
    harness_assert_counts(lim, 0, 0);
    ck_assert_uint_eq(harness_counters(lim).granted_at_once, 3);
    sh_agent_stop(a);
    sh_close(lim);
}
END_TEST

/* ---- R23 weighted holds ----------------------------------------------------- */

static size_t tokens_of(caplimit_t *lim, pid_t pid, size_t *waiting)
{
    struct caplimit_statistics st;
    size_t i, n = 0;

    ck_assert_int_eq(caplimit_statistics(lim, &st), 0);
    for (i = 0; i < st.nborrowers; i++)
        if (st.borrowers[i].pid == pid)
            n += st.borrowers[i].tokens;
    if (waiting != NULL)
        *waiting = st.tokens_waiting;
    caplimit_statistics_destroy(&st);
    return n;
}

START_TEST(test_R23_weighted_holds_across_processes)
{
    const char *name = sh_name();
    caplimit_t *lim = sh_create(name, 4);
    struct sh_agent *a = sh_agent_start(name), *b = sh_agent_start(name);
    size_t tw;

    ck_assert_int_eq(sh_do(a, SH_ACQ_TOKENS, 0, 3, 0), 0);
    sh_start(b, 0, HARNESS_OBJ, 0, -1, 2, 0);      /* object 0 of b: another borrower */
    POLL_UNTIL(caplimit_threads_waiting(lim) == 1);
    ck_assert_uint_eq(tokens_of(lim, sh_agent_pid(a), &tw), 3);
    ck_assert_uint_eq(tw, 2);
    /* one token is free, but b is ahead */
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, PARENT_OBJ), EWOULDBLOCK);
    ck_assert_int_eq(sh_do(a, SH_REL_TOKENS, 0, 1, 0), 0);
    ck_assert_int_eq(sh_grant(b, 0).rc, 0);
    harness_assert_counts(lim, 4, 0);
    ck_assert_uint_eq(tokens_of(lim, sh_agent_pid(a), NULL), 2);
    ck_assert_uint_eq(tokens_of(lim, sh_agent_pid(b), &tw), 2);
    ck_assert_uint_eq(tw, 0);
    ck_assert_int_eq(sh_do(a, SH_REL, HARNESS_OBJ, 0, 0), 0);
    ck_assert_int_eq(sh_do(b, SH_WREL, 0, 0, 0), 0);
    harness_assert_counts(lim, 0, 0);

    /* an oversize head does not hold up the processes behind it */
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 2), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, PARENT_OBJ), 0);
    sh_start(a, 0, HARNESS_OBJ, 1, -1, 3, 0);
    POLL_UNTIL(caplimit_threads_waiting(lim) == 1);
    ck_assert_int_eq(sh_do(b, SH_ACQ, HARNESS_NOWAIT, 0, 0), 0);
    harness_assert_counts(lim, 2, 1);
    ck_assert_int_eq(sh_do(b, SH_SET_TOTAL, 3, 0, 0), 0);
    ck_assert(!sh_granted(a, 0));
    ck_assert_int_eq(sh_do(b, SH_REL, HARNESS_PLAIN, 0, 0), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, PARENT_OBJ), 0);
    ck_assert_int_eq(sh_grant(a, 0).rc, 0);
    harness_assert_counts(lim, 3, 0);
    ck_assert_int_eq(sh_do(a, SH_WREL, 0, 0, 0), 0);
    harness_assert_counts(lim, 0, 0);
    sh_agent_stop(a);
    sh_agent_stop(b);
    sh_close(lim);
}
END_TEST

/* ---- R10, R25 statistics ---------------------------------------------------- */

START_TEST(test_R25_statistics_pid_tid_and_thread)
{
    const char *name = sh_name();
    caplimit_t *lim = sh_create(name, CAPLIMIT_INFINITE);
    struct sh_agent *a = sh_agent_start(name), *b = sh_agent_start(name);
    struct caplimit_statistics st;
    pthread_t zero;
    pid_t atid;
    size_t i;
    int seen = 0;

    memset(&zero, 0, sizeof zero);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &sh_objs[10]), 0);
    ck_assert_int_eq(sh_do(a, SH_ACQ, HARNESS_PLAIN, 0, 0), 0);
    atid = (pid_t)sh_do(a, SH_TID, 0, 0, 0);
    ck_assert_int_eq(sh_do(b, SH_ACQ, HARNESS_OBJ, 10, 0), 0);
    ck_assert_int_eq(caplimit_statistics(lim, &st), 0);
    ck_assert_uint_eq(st.nborrowers, 4);
    ck_assert_uint_eq(st.borrowed_tokens, 4);
    for (i = 0; i < st.nborrowers; i++) {
        struct caplimit_borrower *p = &st.borrowers[i];

        ck_assert_uint_eq(p->tokens, 1);
        ck_assert_uint_eq(p->level, 1);
        if (p->kind == CAPLIMIT_BORROWER_THREAD && p->pid == getpid()) {
            ck_assert(pthread_equal(p->thread, pthread_self()));
            ck_assert_int_eq(p->tid, (pid_t)syscall(SYS_gettid));
            seen |= 1;
        } else if (p->kind == CAPLIMIT_BORROWER_THREAD) {
            ck_assert_int_eq(p->pid, sh_agent_pid(a));
            ck_assert_int_eq(p->tid, atid);
            ck_assert(memcmp(&p->thread, &zero, sizeof zero) == 0);
            seen |= 2;
        } else {
            ck_assert_int_eq(p->kind, CAPLIMIT_BORROWER_OBJECT);
            ck_assert_ptr_eq(p->object, &sh_objs[10]);
            ck_assert_int_eq(p->tid, 0);
            ck_assert(memcmp(&p->thread, &zero, sizeof zero) == 0);
            ck_assert(p->pid == getpid() || p->pid == sh_agent_pid(b));
            seen |= p->pid == getpid() ? 4 : 8;
        }
    }
    ck_assert_int_eq(seen, 15);
    caplimit_statistics_destroy(&st);
    /* each process sees thread set for its own threads only */
    ck_assert_int_eq(sh_do(a, SH_CHECK_STATS, 0, 0, 0), 0);
    ck_assert_int_eq(sh_do(b, SH_CHECK_STATS, 0, 0, 0), 0);
    ck_assert_int_eq(sh_do(a, SH_REL, HARNESS_PLAIN, 0, 0), 0);
    ck_assert_int_eq(sh_do(b, SH_REL, HARNESS_OBJ, 10, 0), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &sh_objs[10]), 0);
    ck_assert_int_eq(caplimit_release(lim), 0);
    harness_assert_counts(lim, 0, 0);
    sh_agent_stop(a);
    sh_agent_stop(b);
    sh_close(lim);
}
END_TEST

START_TEST(test_R24_format_of_a_shared_limiter)
{
    const char *name = sh_name();
    caplimit_t *lim = sh_create(name, 2);
    struct sh_agent *a = sh_agent_start(name), *b = sh_agent_start(name);
    char buf[128], tail[64];
    void *p;
    size_t borrowed, total, waiting;
    int n;

    ck_assert_int_eq(sh_do(a, SH_ACQ, HARNESS_PLAIN, 0, 0), 0);
    ck_assert_int_eq(sh_do(a, SH_ACQ, HARNESS_OBJ, 0, 0), 0);
    sh_start(b, 0, HARNESS_PLAIN, -1, LONG_MS, 1, 0);
    POLL_UNTIL(caplimit_threads_waiting(lim) == 1);
    n = caplimit_format(lim, buf, sizeof buf);
    ck_assert_int_eq(n, (int)strlen(buf));
    ck_assert_msg(sscanf(buf, "<caplimit at %p, %zu/%zu with %zu waiting%63s", &p, &borrowed,
                         &total, &waiting, tail) == 5, "format: %s", buf);
    ck_assert_uint_eq(borrowed, 2);
    ck_assert_uint_eq(total, 2);
    ck_assert_uint_eq(waiting, 1);
    ck_assert_str_eq(tail, ">");
    ck_assert_int_eq(sh_do(a, SH_SET_TOTAL, (long long)CAPLIMIT_INFINITE, 0, 0), 0);
    ck_assert_int_eq(sh_grant(b, 0).rc, 0);
    n = caplimit_format(lim, buf, sizeof buf);
    ck_assert_int_gt(n, 0);
    ck_assert_msg(strstr(buf, ", 3/inf with 0 waiting>") != NULL, "format: %s", buf);
    ck_assert_int_eq(sh_do(b, SH_WREL, 0, 0, 0), 0);
    ck_assert_int_eq(sh_do(a, SH_REL, HARNESS_PLAIN, 0, 0), 0);
    ck_assert_int_eq(sh_do(a, SH_REL, HARNESS_OBJ, 0, 0), 0);
    sh_agent_stop(a);
    sh_agent_stop(b);
    sh_close(lim);
}
END_TEST

/* ---- R29 drain -------------------------------------------------------------- */

struct drain_arg {
    caplimit_t *lim;
    int rc;
};

static void *drain_thread(void *arg)
{
    struct drain_arg *d = arg;
    STORE(&d->rc, caplimit_drain(d->lim, CLOCK_MONOTONIC, NULL));
    return NULL;
}

START_TEST(test_R29_drain_waits_for_every_process)
{
    const char *name = sh_name();
    caplimit_t *lim = sh_create(name, 1);
    struct sh_agent *a = sh_agent_start(name), *b = sh_agent_start(name);
    struct drain_arg d = { lim, HARNESS_RC_PENDING };
    struct timespec t = harness_deadline_ms(100);
    pthread_t th;

    ck_assert_int_eq(sh_do(a, SH_ACQ, HARNESS_PLAIN, 0, 0), 0);
    ck_assert_int_eq(caplimit_drain(lim, CLOCK_MONOTONIC, &t), ETIMEDOUT);
    sh_start(b, 0, HARNESS_OBJ, 0, LONG_MS, 1, 0);
    POLL_UNTIL(caplimit_threads_waiting(lim) == 1);
    harness_spawn(&th, drain_thread, &d);
    ck_assert_int_eq(sh_do(a, SH_REL, HARNESS_PLAIN, 0, 0), 0);
    ck_assert_int_eq(sh_grant(b, 0).rc, 0);
    /* b holds: still not idle */
    ck_assert_int_eq(sh_do(a, SH_DRAIN, 50, 0, 0), ETIMEDOUT);
    ck_assert_int_eq(LOAD(&d.rc), HARNESS_RC_PENDING);
    ck_assert_int_eq(sh_do(b, SH_WREL, 0, 0, 0), 0);
    harness_join(th);
    ck_assert_int_eq(d.rc, 0);
    ck_assert_int_eq(sh_do(a, SH_DRAIN, -1, 0, 0), 0);
    ck_assert_int_eq(sh_do(b, SH_DRAIN, 0, 0, 0), 0);    /* idle: 0 even when past */
    /* drain is no acquire */
    ck_assert_uint_eq(harness_counters(lim).granted_at_once, 1);
    ck_assert_uint_eq(harness_counters(lim).granted_after_wait, 1);
    ck_assert_uint_eq(harness_counters(lim).timed_out, 0);
    sh_agent_stop(a);
    sh_agent_stop(b);
    sh_close(lim);
}
END_TEST

/* ---- R25 borrowers across processes ----------------------------------------- */

START_TEST(test_R25_object_of_another_process_is_not_released)
{
    const char *name = sh_name();
    caplimit_t *lim = sh_create(name, 2);
    struct sh_agent *a = sh_agent_start(name), *b = sh_agent_start(name);
    struct harness_state before;

    ck_assert_int_eq(sh_do(a, SH_ACQ, HARNESS_OBJ, 0, 0), 0);
    harness_snap(lim, &before);
    ck_assert_int_eq(sh_do(b, SH_REL, HARNESS_OBJ, 0, 0), EPERM);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &sh_objs[0]), EPERM);
    ck_assert_int_eq(sh_do(b, SH_REL_TOKENS, 0, 1, 0), EPERM);
    ck_assert_int_eq(sh_do(b, SH_REL, HARNESS_PLAIN, 0, 0), EPERM);
    harness_assert_unchanged(lim, &before);
    harness_snap_free(&before);
    ck_assert_int_eq(sh_do(a, SH_HOLDS, 0, 0, 0), 1);
    ck_assert_int_eq(sh_do(b, SH_HOLDS, 0, 0, 0), 0);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &sh_objs[0]), 0);
    ck_assert_int_eq(sh_do(a, SH_REL, HARNESS_OBJ, 0, 0), 0);
    harness_assert_counts(lim, 0, 0);
    sh_agent_stop(a);
    sh_agent_stop(b);
    sh_close(lim);
}
END_TEST

START_TEST(test_R25_same_address_in_two_processes_two_borrowers)
{
    const char *name = sh_name();
    caplimit_t *lim = sh_create(name, 2);
    struct sh_agent *a = sh_agent_start(name), *b = sh_agent_start(name);
    struct caplimit_statistics st;

    ck_assert_int_eq(sh_do(a, SH_ACQ, HARNESS_OBJ_NOWAIT, 0, 0), 0);
    ck_assert_int_eq(sh_do(b, SH_ACQ, HARNESS_OBJ_NOWAIT, 0, 0), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &sh_objs[0]), EWOULDBLOCK);
    ck_assert_int_eq(caplimit_statistics(lim, &st), 0);
    ck_assert_uint_eq(st.nborrowers, 2);
    ck_assert_ptr_eq(st.borrowers[0].object, &sh_objs[0]);
    ck_assert_ptr_eq(st.borrowers[1].object, &sh_objs[0]);
    ck_assert_int_ne(st.borrowers[0].pid, st.borrowers[1].pid);
    caplimit_statistics_destroy(&st);
    ck_assert_int_eq(sh_do(a, SH_REL, HARNESS_OBJ, 0, 0), 0);
    ck_assert_int_eq(sh_do(a, SH_HOLDS, 0, 0, 0), 0);
    ck_assert_int_eq(sh_do(b, SH_HOLDS, 0, 0, 0), 1);
    ck_assert_int_eq(sh_do(b, SH_REL, HARNESS_OBJ, 0, 0), 0);
    harness_assert_counts(lim, 0, 0);
    sh_agent_stop(a);
    sh_agent_stop(b);
    sh_close(lim);
}
END_TEST

static caplimit_t *fork_lim;

static void forked_child(void *arg)
{
    caplimit_t *lim = fork_lim;

    (void)arg;
    CHILD_CHECK_EQ(caplimit_holds(lim), 0);
    CHILD_CHECK_EQ(caplimit_holds_on_behalf_of(lim, &sh_objs[0]), 0);
    CHILD_CHECK_EQ(caplimit_release(lim), EPERM);
    CHILD_CHECK_EQ(caplimit_release_on_behalf_of(lim, &sh_objs[0]), EPERM);
    CHILD_CHECK_EQ(caplimit_borrowed_tokens(lim), 2);
    /* a new process: the same address is its own borrower */
    CHILD_CHECK_EQ(caplimit_acquire_on_behalf_of_nowait(lim, &sh_objs[0]), 0);
    CHILD_CHECK_EQ(caplimit_holds_on_behalf_of(lim, &sh_objs[0]), 1);
    CHILD_CHECK_EQ(caplimit_acquire_nowait(lim), EWOULDBLOCK);
    CHILD_CHECK_EQ(caplimit_borrowed_tokens(lim), 3);
    /* ends holding its token: R26 gives it back */
}

START_TEST(test_R25_forked_child_holds_nothing_of_its_parent)
{
    const char *name = sh_name();
    caplimit_t *lim = sh_create(name, 3);
    struct caplimit_statistics st;

    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &sh_objs[0]), 0);
    fork_lim = lim;
    sh_reap_ok(sh_fork(forked_child, NULL));
    ck_assert_int_eq(caplimit_statistics(lim, &st), 0);
    ck_assert_uint_eq(st.borrowed_tokens, 2);
    ck_assert_uint_eq(st.nborrowers, 2);
    ck_assert_int_eq(st.borrowers[0].pid, getpid());
    ck_assert_int_eq(st.borrowers[1].pid, getpid());
    caplimit_statistics_destroy(&st);
    ck_assert_int_eq(caplimit_holds(lim), 1);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &sh_objs[0]), 1);
    ck_assert_uint_eq(harness_counters(lim).reclaimed, 1);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &sh_objs[0]), 0);
    ck_assert_int_eq(caplimit_release(lim), 0);
    harness_assert_counts(lim, 0, 0);
    sh_close(lim);
}
END_TEST

START_TEST(test_R25_forked_child_waits_with_the_inherited_handle)
{
    const char *name = sh_name();
    caplimit_t *lim = sh_create(name, 1);
    struct sh_agent *a;

    ck_assert_int_eq(caplimit_acquire(lim), 0);
    a = sh_agent_start_inherit(lim);
    ck_assert_int_eq(sh_do(a, SH_HOLDS, -1, 0, 0), 0);
    sh_start(a, 0, HARNESS_PLAIN, -1, LONG_MS, 1, 0);
    POLL_UNTIL(caplimit_threads_waiting(lim) == 1);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(sh_grant(a, 0).rc, 0);
    ck_assert_int_eq(caplimit_holds(lim), 0);
    ck_assert_int_eq(caplimit_acquire_nowait(lim), EWOULDBLOCK);
    ck_assert_int_eq(sh_do(a, SH_WREL, 0, 0, 0), 0);
    ck_assert_int_eq(caplimit_acquire_nowait(lim), 0);
    ck_assert_int_eq(caplimit_release(lim), 0);
    sh_agent_stop(a);
    sh_close(lim);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("shared");
    TCase *tc = tcase_create("across");

    tcase_add_checked_fixture(tc, sh_setup, sh_cleanup);
    tcase_add_test(tc, test_R24_R5_fifo_across_processes);
    tcase_add_test(tc, test_R24_R5_hand_off_to_a_waiter_in_another_process);
    tcase_add_test(tc, test_R6_deadlines_across_processes_on_both_clocks);
    tcase_add_test(tc, test_R6_R23_a_timed_out_head_lets_the_next_process_in);
    harness_add_cancel_test(tc, test_R7_cancel_a_waiter_of_a_shared_limiter);
    tcase_add_test(tc, test_R8_total_changes_wake_other_processes);
    tcase_add_test(tc, test_R17_throughput_policy_across_processes);
    tcase_add_test(tc, test_R18_close_wakes_other_processes_with_ECANCELED);
    tcase_add_test(tc, test_R19_counters_seen_by_every_process);
    tcase_add_test(tc, test_R21_reentrancy_across_processes);
    tcase_add_test(tc, test_R23_weighted_holds_across_processes);
    tcase_add_test(tc, test_R25_statistics_pid_tid_and_thread);
    tcase_add_test(tc, test_R24_format_of_a_shared_limiter);
    tcase_add_test(tc, test_R29_drain_waits_for_every_process);
    tcase_add_test(tc, test_R25_object_of_another_process_is_not_released);
    tcase_add_test(tc, test_R25_same_address_in_two_processes_two_borrowers);
    tcase_add_test(tc, test_R25_forked_child_holds_nothing_of_its_parent);
    tcase_add_test(tc, test_R25_forked_child_waits_with_the_inherited_handle);
    suite_add_tcase(s, tc);
    return sh_main(s);
}
