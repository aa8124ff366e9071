# SPDX-License-Identifier: MIT
# Part two of the contract: R23 weighted holds, R29 drain.  Public API only.
#   check_weighted   R23 (both policies for the head-of-line cases), a load test
#   check_drain      R29, and close + drain + destroy as a shutdown
if HAVE_CHECK
check_PROGRAMS += tests/check_weighted tests/check_drain
TESTS += tests/check_weighted tests/check_drain

tests_check_weighted_SOURCES = tests/check_weighted.c
tests_check_weighted_CFLAGS = $(CL_TEST_FLAGS)
tests_check_weighted_LDADD = $(CL_TEST_LIBS)

tests_check_drain_SOURCES = tests/check_drain.c
tests_check_drain_CFLAGS = $(CL_TEST_FLAGS)
tests_check_drain_LDADD = $(CL_TEST_LIBS)
endif
