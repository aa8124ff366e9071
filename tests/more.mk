# SPDX-License-Identifier: MIT
# R17..R22: policy, close, counters, holds, reentrant limiters, thread exit.
# check_counters, check_holds and check_reentrant reach into lib/internal.h
# (fault injection, a level at SIZE_MAX), so they link the objects.
if HAVE_CHECK
check_PROGRAMS += tests/check_policy tests/check_close tests/check_counters \
	tests/check_holds tests/check_reentrant tests/check_thread_exit
TESTS += tests/check_policy tests/check_close tests/check_counters \
	tests/check_holds tests/check_reentrant tests/check_thread_exit

tests_check_policy_SOURCES = tests/check_policy.c
tests_check_policy_CFLAGS = $(CL_TEST_FLAGS)
tests_check_policy_LDADD = $(CL_TEST_LIBS)

tests_check_close_SOURCES = tests/check_close.c
tests_check_close_CFLAGS = $(CL_TEST_FLAGS)
tests_check_close_LDADD = $(CL_TEST_LIBS)

tests_check_counters_SOURCES = tests/check_counters.c
tests_check_counters_CFLAGS = $(CL_TEST_FLAGS)
tests_check_counters_LDADD = $(CL_WHITEBOX_TEST_LIBS)

tests_check_holds_SOURCES = tests/check_holds.c
tests_check_holds_CFLAGS = $(CL_TEST_FLAGS)
tests_check_holds_LDADD = $(CL_WHITEBOX_TEST_LIBS)

tests_check_reentrant_SOURCES = tests/check_reentrant.c
tests_check_reentrant_CFLAGS = $(CL_TEST_FLAGS)
tests_check_reentrant_LDADD = $(CL_WHITEBOX_TEST_LIBS)

tests_check_thread_exit_SOURCES = tests/check_thread_exit.c
tests_check_thread_exit_CFLAGS = $(CL_TEST_FLAGS)
tests_check_thread_exit_LDADD = $(CL_TEST_LIBS)
endif

# R17's default bypass and the borrower lookup's cost (lib/internal.h).
if HAVE_CHECK
check_PROGRAMS += tests/check_whitebox
TESTS += tests/check_whitebox
tests_check_whitebox_SOURCES = tests/check_whitebox.c
tests_check_whitebox_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/lib
tests_check_whitebox_CFLAGS = $(CL_TEST_FLAGS)
tests_check_whitebox_LDADD = $(CL_WHITEBOX_TEST_LIBS)
endif
