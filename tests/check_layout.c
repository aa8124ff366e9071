/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * The public structs have the spec's layout ("Types and constants"):
 * fields in that order, with those types.  Each struct is checked against
 * a mirror written from the spec: same offsets, same size.
 */
#include "harness.h"

#include <stddef.h>
#include <sys/types.h>

struct spec_borrower {
    enum caplimit_borrower_kind kind;
    pthread_t thread;
    const void *object;
    size_t level;
    size_t tokens;
    pid_t pid;
    pid_t tid;
    unsigned long long reserved[4];
};

struct spec_statistics {
    size_t borrowed_tokens;
    size_t total_tokens;
    size_t threads_waiting;
    size_t nborrowers;
    struct caplimit_borrower *borrowers;
    size_t tokens_waiting;
    unsigned long long reserved[7];
};

struct spec_counters {
    unsigned long long granted_at_once;
    unsigned long long granted_after_wait;
    unsigned long long would_block;
    unsigned long long timed_out;
    unsigned long long cancelled;
    unsigned long long closed_out;
    unsigned long long abandoned;
    unsigned long long wait_ns_total;
    unsigned long long wait_ns_max;
    size_t max_threads_waiting;
    unsigned long long reclaimed;
    unsigned long long reserved[7];
};

#define SAME_FIELD(pub, spec, f)                                               \
    do {                                                                       \
        ck_assert_uint_eq(offsetof(struct pub, f), offsetof(struct spec, f));  \
        ck_assert_uint_eq(sizeof(((struct pub *)0)->f), sizeof(((struct spec *)0)->f)); \
    } while (0)

START_TEST(test_layout_caplimit_borrower)
{
    SAME_FIELD(caplimit_borrower, spec_borrower, kind);
    SAME_FIELD(caplimit_borrower, spec_borrower, thread);
    SAME_FIELD(caplimit_borrower, spec_borrower, object);
    SAME_FIELD(caplimit_borrower, spec_borrower, level);
    SAME_FIELD(caplimit_borrower, spec_borrower, tokens);
    SAME_FIELD(caplimit_borrower, spec_borrower, pid);
    SAME_FIELD(caplimit_borrower, spec_borrower, tid);
    SAME_FIELD(caplimit_borrower, spec_borrower, reserved);
    ck_assert_uint_eq(sizeof(struct caplimit_borrower), sizeof(struct spec_borrower));
}
END_TEST

START_TEST(test_layout_caplimit_statistics)
{
    SAME_FIELD(caplimit_statistics, spec_statistics, borrowed_tokens);
    SAME_FIELD(caplimit_statistics, spec_statistics, total_tokens);
    SAME_FIELD(caplimit_statistics, spec_statistics, threads_waiting);
    SAME_FIELD(caplimit_statistics, spec_statistics, nborrowers);
    SAME_FIELD(caplimit_statistics, spec_statistics, borrowers);
    SAME_FIELD(caplimit_statistics, spec_statistics, tokens_waiting);
    SAME_FIELD(caplimit_statistics, spec_statistics, reserved);
    ck_assert_uint_eq(sizeof(struct caplimit_statistics), sizeof(struct spec_statistics));
}
END_TEST

START_TEST(test_layout_caplimit_counters)
{
    SAME_FIELD(caplimit_counters, spec_counters, granted_at_once);
    SAME_FIELD(caplimit_counters, spec_counters, granted_after_wait);
    SAME_FIELD(caplimit_counters, spec_counters, would_block);
    SAME_FIELD(caplimit_counters, spec_counters, timed_out);
    SAME_FIELD(caplimit_counters, spec_counters, cancelled);
    SAME_FIELD(caplimit_counters, spec_counters, closed_out);
    SAME_FIELD(caplimit_counters, spec_counters, abandoned);
    SAME_FIELD(caplimit_counters, spec_counters, wait_ns_total);
    SAME_FIELD(caplimit_counters, spec_counters, wait_ns_max);
    SAME_FIELD(caplimit_counters, spec_counters, max_threads_waiting);
    SAME_FIELD(caplimit_counters, spec_counters, reclaimed);
    SAME_FIELD(caplimit_counters, spec_counters, reserved);
    ck_assert_uint_eq(sizeof(struct caplimit_counters), sizeof(struct spec_counters));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("layout");
    TCase *tc = harness_tcase_create("layout");

    tcase_add_test(tc, test_layout_caplimit_borrower);
    tcase_add_test(tc, test_layout_caplimit_statistics);
    tcase_add_test(tc, test_layout_caplimit_counters);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
