/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * A first look: R1 and R4 on one thread.
 */
#include "harness.h"

#include <stdlib.h>

START_TEST(test_R1_R4_take_and_give_back)
{
    caplimit_t *lim;
    int obj;

    ck_assert_int_eq(caplimit_create(&lim, 1), 0);
    ck_assert_int_eq(caplimit_acquire_nowait(lim), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &obj), EWOULDBLOCK);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 1);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("smoke");
    TCase *tc = tcase_create("smoke");
    tcase_add_test(tc, test_R1_R4_take_and_give_back);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
