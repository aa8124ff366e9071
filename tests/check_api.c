/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * The API's edges: NULL arguments of every function, caplimit_format's
 * text and snprintf convention, and CAPLIMIT_WITH.
 */
#include "harness.h"

#include <string.h>

static char objs[4];

/* ---- Given a NULL limiter ----------------------------------------------- */

START_TEST(test_R1_R12_null_limiter_everywhere)
{
    struct timespec t = harness_deadline_ms(1000);
    struct caplimit_statistics st;
    struct caplimit_counters c;
    char buf[16];

    ck_assert_int_eq(caplimit_create(NULL, 1), EINVAL);
    ck_assert_int_eq(caplimit_destroy(NULL), EINVAL);
    ck_assert_int_eq(caplimit_close(NULL), EINVAL);
    ck_assert_int_eq(caplimit_is_closed(NULL), 0);
    ck_assert_int_eq(caplimit_acquire(NULL), EINVAL);
    ck_assert_int_eq(caplimit_acquire_nowait(NULL), EINVAL);
    ck_assert_int_eq(caplimit_acquire_until(NULL, CLOCK_MONOTONIC, &t), EINVAL);
    ck_assert_int_eq(caplimit_acquire_until(NULL, CLOCK_MONOTONIC, NULL), EINVAL);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(NULL, &objs[0]), EINVAL);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(NULL, &objs[0]), EINVAL);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_until(NULL, &objs[0], CLOCK_MONOTONIC, &t),
                     EINVAL);
    ck_assert_int_eq(caplimit_release(NULL), EINVAL);
    ck_assert_int_eq(caplimit_release_on_behalf_of(NULL, &objs[0]), EINVAL);
    ck_assert_int_eq(caplimit_set_total_tokens(NULL, 3), EINVAL);
    ck_assert_uint_eq(caplimit_total_tokens(NULL), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(NULL), 0);
    ck_assert_uint_eq(caplimit_available_tokens(NULL), 0);
    ck_assert_uint_eq(caplimit_threads_waiting(NULL), 0);
    ck_assert_int_eq(caplimit_set_policy(NULL, CAPLIMIT_POLICY_FIFO, 0), EINVAL);
    ck_assert_int_eq(caplimit_set_reentrant(NULL, 1), EINVAL);
    ck_assert_int_eq(caplimit_statistics(NULL, &st), EINVAL);
    ck_assert_int_eq(caplimit_counters(NULL, &c), EINVAL);
    ck_assert_int_eq(caplimit_holds(NULL), 0);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(NULL, &objs[0]), 0);
    memset(buf, 'X', sizeof buf);
    ck_assert_int_lt(caplimit_format(NULL, buf, sizeof buf), 0);
    ck_assert_int_eq(buf[0], 'X');
    ck_assert_int_lt(caplimit_format(NULL, NULL, 0), 0);
    caplimit_statistics_destroy(NULL);
}
END_TEST

START_TEST(test_R2_null_borrower_and_out_are_EINVAL_even_when_free)
{
    caplimit_t *lim;
    struct timespec t = harness_deadline_ms(1000);
    struct harness_state before;

    ck_assert_int_eq(caplimit_create(&lim, 2), 0);
    harness_snap(lim, &before);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, NULL), EINVAL);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, NULL), EINVAL);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_until(lim, NULL, CLOCK_MONOTONIC, &t),
                     EINVAL);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, NULL), EINVAL);
    ck_assert_int_eq(caplimit_statistics(lim, NULL), EINVAL);
    ck_assert_int_eq(caplimit_counters(lim, NULL), EINVAL);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, NULL), 0);
    ck_assert_int_eq(caplimit_set_policy(lim, (enum caplimit_policy)7, 0), EINVAL);
    harness_assert_unchanged(lim, &before);
    harness_snap_free(&before);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R1_create_reads_back_total)
{
    caplimit_t *lim = NULL;

    ck_assert_int_eq(caplimit_create(&lim, 7), 0);
    ck_assert_ptr_nonnull(lim);
    ck_assert_uint_eq(caplimit_total_tokens(lim), 7);
    harness_assert_counts(lim, 0, 0);
    ck_assert_uint_eq(caplimit_available_tokens(lim), 7);
    ck_assert_int_eq(caplimit_holds(lim), 0);
    ck_assert_int_eq(caplimit_is_closed(lim), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- caplimit_format ---------------------------------------------------- */

static void format_is(caplimit_t *lim, const char *expect)
{
    char buf[128];
    size_t len = strlen(expect), size;
    int n;
    void *at = NULL;

    n = caplimit_format(lim, buf, sizeof buf);
    /* the library's text names this limiter's address */
    ck_assert_int_eq(sscanf(buf, "<caplimit at %p,", &at), 1);
    ck_assert_ptr_eq(at, lim);
    ck_assert_int_eq(n, (int)len);
    ck_assert_str_eq(buf, expect);
    ck_assert_int_eq(caplimit_format(lim, NULL, 0), (int)len);
    for (size = 0; size <= len + 1; size++) {
        memset(buf, 'X', sizeof buf);
        ck_assert_int_eq(caplimit_format(lim, buf, size), (int)len);
        if (size == 0) {
            ck_assert_int_eq(buf[0], 'X');
            continue;
        }
        ck_assert_int_eq(buf[size - 1 < len ? size - 1 : len], '\0');
        ck_assert_int_eq(strncmp(buf, expect, size - 1 < len ? size - 1 : len), 0);
        ck_assert_int_eq(buf[size], 'X');
    }
}

START_TEST(test_R10_format_text_and_snprintf_convention)
{
    caplimit_t *lim;
    struct harness_waiter w[3];
    char expect[128];
    int i;

    ck_assert_int_eq(caplimit_create(&lim, 10), 0);
    snprintf(expect, sizeof expect, "<caplimit at %p, 0/10 with 0 waiting>", (void *)lim);
    format_is(lim, expect);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[0]), 0);
    snprintf(expect, sizeof expect, "<caplimit at %p, 2/10 with 0 waiting>", (void *)lim);
    format_is(lim, expect);

    ck_assert_int_eq(caplimit_set_total_tokens(lim, 2), 0);
    for (i = 0; i < 3; i++) {
        harness_waiter_init(&w[i], lim, HARNESS_OBJ, &objs[1 + i], HARNESS_RELEASE_AT_ONCE);
        harness_waiter_queue(&w[i], (size_t)i + 1);
    }
    snprintf(expect, sizeof expect, "<caplimit at %p, 2/2 with 3 waiting>", (void *)lim);
    format_is(lim, expect);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 1), 0);
    snprintf(expect, sizeof expect, "<caplimit at %p, 2/1 with 3 waiting>", (void *)lim);
    format_is(lim, expect);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, CAPLIMIT_INFINITE), 0);
    for (i = 0; i < 3; i++)
        harness_join(w[i].thread);
    snprintf(expect, sizeof expect, "<caplimit at %p, 2/inf with 0 waiting>", (void *)lim);
    format_is(lim, expect);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[0]), 0);
    snprintf(expect, sizeof expect, "<caplimit at %p, 0/inf with 0 waiting>", (void *)lim);
    format_is(lim, expect);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

/* ---- CAPLIMIT_WITH ------------------------------------------------------ */

START_TEST(test_R9_WITH_runs_once_and_releases_on_fall_through)
{
    caplimit_t *lim;
    int rc = -1, ran = 0, i;

    ck_assert_int_eq(caplimit_create(&lim, 1), 0);
    CAPLIMIT_WITH(lim, rc) {
        ran++;
        ck_assert_int_eq(caplimit_holds(lim), 1);
        ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 1);
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(ran, 1);
    harness_assert_counts(lim, 0, 0);
    ck_assert_int_eq(caplimit_holds(lim), 0);

    for (i = 0; i < 3; i++) {
        CAPLIMIT_WITH(lim, rc) {
            ran++;
        }
        ck_assert_int_eq(rc, 0);
    }
    ck_assert_int_eq(ran, 4);
    harness_assert_counts(lim, 0, 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R9_WITH_releases_on_break_and_continue)
{
    caplimit_t *lim;
    int rc = -1, ran = 0, i;

    ck_assert_int_eq(caplimit_create(&lim, 1), 0);
    CAPLIMIT_WITH(lim, rc) {
        ran++;
        break;
    }
    ck_assert_int_eq(ran, 1);
    harness_assert_counts(lim, 0, 0);
    CAPLIMIT_WITH(lim, rc) {
        ran++;
        continue;
    }
    ck_assert_int_eq(ran, 2);
    harness_assert_counts(lim, 0, 0);
    for (i = 0; i < 3; i++) {
        CAPLIMIT_WITH(lim, rc) {
            if (i == 1)
                break;
            ran++;
        }
        ck_assert_int_eq(caplimit_holds(lim), 0);
    }
    ck_assert_int_eq(ran, 4);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

static int with_return(caplimit_t *lim, int *ran)
{
    int rc;

    CAPLIMIT_WITH(lim, rc) {
        *ran = 1;
        return 40 + (int)caplimit_borrowed_tokens(lim) + caplimit_holds(lim);
    }
    return -rc;
}

START_TEST(test_R9_WITH_releases_on_return_and_goto)
{
    caplimit_t *lim;
    int rc = -1, ran = 0;

    ck_assert_int_eq(caplimit_create(&lim, 1), 0);
    ck_assert_int_eq(with_return(lim, &ran), 42);
    ck_assert_int_eq(ran, 1);
    harness_assert_counts(lim, 0, 0);

    ran = 0;
    CAPLIMIT_WITH(lim, rc) {
        ran = 1;
        if (caplimit_holds(lim))
            goto out;
        ck_abort_msg("the block holds no token");
    }
    ck_abort_msg("goto did not leave the block");
out:
    ck_assert_int_eq(ran, 1);
    ck_assert_int_eq(rc, 0);
    harness_assert_counts(lim, 0, 0);
    ck_assert_int_eq(caplimit_acquire_nowait(lim), 0);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R3_WITH_reports_error_and_skips_block)
{
    caplimit_t *lim;
    int rc = -1, ran = 0;

    ck_assert_int_eq(caplimit_create(&lim, 2), 0);
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    CAPLIMIT_WITH(lim, rc) {
        ran = 1;
    }
    ck_assert_int_eq(rc, EDEADLK);
    ck_assert_int_eq(ran, 0);
    /* the token held before the block is still held */
    ck_assert_int_eq(caplimit_holds(lim), 1);
    harness_assert_counts(lim, 1, 0);
    ck_assert_int_eq(caplimit_release(lim), 0);

    rc = -1;
    CAPLIMIT_WITH((caplimit_t *)NULL, rc) {
        ran = 1;
    }
    ck_assert_int_eq(rc, EINVAL);
    ck_assert_int_eq(ran, 0);

    ck_assert_int_eq(caplimit_close(lim), 0);
    CAPLIMIT_WITH(lim, rc) {
        ran = 1;
    }
    ck_assert_int_eq(rc, ECANCELED);
    ck_assert_int_eq(ran, 0);
    harness_assert_counts(lim, 0, 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

START_TEST(test_R9_WITH_nested_on_two_limiters)
{
    caplimit_t *a, *b;
    int ra = -1, rb = -1, inner = 0;

    ck_assert_int_eq(caplimit_create(&a, 1), 0);
    ck_assert_int_eq(caplimit_create(&b, 1), 0);
    CAPLIMIT_WITH(a, ra) {
        CAPLIMIT_WITH(b, rb) {
            inner++;
            ck_assert_int_eq(caplimit_holds(a), 1);
            ck_assert_int_eq(caplimit_holds(b), 1);
        }
        ck_assert_int_eq(rb, 0);
        ck_assert_int_eq(caplimit_holds(a), 1);
        ck_assert_int_eq(caplimit_holds(b), 0);
        /* the same limiter inside itself: R3 */
        CAPLIMIT_WITH(a, rb) {
            ck_abort_msg("re-entered a");
        }
        ck_assert_int_eq(rb, EDEADLK);
        ck_assert_int_eq(caplimit_holds(a), 1);
    }
    ck_assert_int_eq(inner, 1);
    harness_assert_counts(a, 0, 0);
    harness_assert_counts(b, 0, 0);

    /* leaving both at once */
    CAPLIMIT_WITH(a, ra) {
        CAPLIMIT_WITH(b, rb) {
            inner++;
            goto both;
        }
    }
both:
    ck_assert_int_eq(inner, 2);
    harness_assert_counts(a, 0, 0);
    harness_assert_counts(b, 0, 0);
    ck_assert_int_eq(caplimit_destroy(a), 0);
    ck_assert_int_eq(caplimit_destroy(b), 0);
}
END_TEST

/* The block's end hands the token to the next waiter (R5). */
START_TEST(test_R5_WITH_exit_hands_off_to_waiter)
{
    caplimit_t *lim;
    struct harness_waiter w;
    int rc = -1;

    ck_assert_int_eq(caplimit_create(&lim, 1), 0);
    harness_waiter_init(&w, lim, HARNESS_OBJ, &objs[0], HARNESS_HOLD);
    CAPLIMIT_WITH(lim, rc) {
        harness_waiter_queue(&w, 1);
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(caplimit_holds_on_behalf_of(lim, &objs[0]), 1);
    harness_assert_counts(lim, 1, 0);
    ck_assert_int_eq(harness_waiter_wait_rc(&w), 0);
    harness_waiter_finish(&w);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("api");
    TCase *tc = harness_tcase_create("api");

    tcase_add_test(tc, test_R1_R12_null_limiter_everywhere);
    tcase_add_test(tc, test_R2_null_borrower_and_out_are_EINVAL_even_when_free);
    tcase_add_test(tc, test_R1_create_reads_back_total);
    tcase_add_test(tc, test_R10_format_text_and_snprintf_convention);
    tcase_add_test(tc, test_R9_WITH_runs_once_and_releases_on_fall_through);
    tcase_add_test(tc, test_R9_WITH_releases_on_break_and_continue);
    tcase_add_test(tc, test_R9_WITH_releases_on_return_and_goto);
    tcase_add_test(tc, test_R3_WITH_reports_error_and_skips_block);
    tcase_add_test(tc, test_R9_WITH_nested_on_two_limiters);
    tcase_add_test(tc, test_R5_WITH_exit_hands_off_to_waiter);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
