# SPDX-License-Identifier: MIT
# The Check programs of R1..R22, by topic (R23..R29: tests/weighted.mk,
# tests/shared.mk; the struct layout: tests/layout.mk; the fault sweep and
# the stress program: tests/reliability.mk).  Each test's name cites the
# rule it checks.  Public-API programs link $(CL_TEST_LIBS); white-box ones
# include ../lib/internal.h (cl_entry_of under cl_lock, the allocation and
# wake hooks) and link $(CL_WHITEBOX_TEST_LIBS).
if HAVE_CHECK
# hand-off and the core rules: R1..R5, R8..R12, R14, the over-grant and
# quota scenarios, grants and wakes beyond one batch of wakes
CL_CHECKS = tests/check_rules
# the API's edges: NULL arguments, caplimit_format, CAPLIMIT_WITH
CL_CHECKS += tests/check_api
# deadlines: R6 on both clocks, R13 signals; far deadlines and realtime
# steps (its own clock_gettime), with or without pthread_cond_clockwait
CL_CHECKS += tests/check_deadlines tests/check_clock
# cancellation: R7, also after the grant while another thread releases
CL_CHECKS += tests/check_cancel
# the R17 policy (white-box: cl_after_wake holds a woken waiter)
CL_CHECKS += tests/check_policy
# close: R18
CL_CHECKS += tests/check_close
# counters: R19 (white-box: a level at SIZE_MAX)
CL_CHECKS += tests/check_counters
# holds and reentrancy: R20, R21 (white-box: allocation hook, levels)
CL_CHECKS += tests/check_holds tests/check_reentrant
# thread exit: R22, also with a grant's signal still in flight
CL_CHECKS += tests/check_thread_exit
# allocation failures: R15 ENOMEM, and no function sets errno (white-box)
CL_CHECKS += tests/check_enomem tests/check_errno
# stress: R16 (STRESS_ITERATIONS scales it)
CL_CHECKS += tests/check_stress
# what only internal.h shows: R17's default bypass, the lookup's cost
CL_CHECKS += tests/check_whitebox
# the fast lane against every rule (white-box: the lane's word)
CL_CHECKS += tests/check_lane
check_PROGRAMS += $(CL_CHECKS)
TESTS += $(CL_CHECKS)

tests_check_lane_SOURCES = tests/check_lane.c
tests_check_lane_CFLAGS = $(CL_TEST_FLAGS)
tests_check_lane_LDADD = $(CL_WHITEBOX_TEST_LIBS)

tests_check_rules_SOURCES = tests/check_rules.c
tests_check_rules_CFLAGS = $(CL_TEST_FLAGS)
tests_check_rules_LDADD = $(CL_TEST_LIBS)

tests_check_api_SOURCES = tests/check_api.c
tests_check_api_CFLAGS = $(CL_TEST_FLAGS)
tests_check_api_LDADD = $(CL_TEST_LIBS)

tests_check_deadlines_SOURCES = tests/check_deadlines.c
tests_check_deadlines_CFLAGS = $(CL_TEST_FLAGS)
tests_check_deadlines_LDADD = $(CL_TEST_LIBS)

tests_check_clock_SOURCES = tests/check_clock.c
tests_check_clock_CFLAGS = $(CL_TEST_FLAGS)
tests_check_clock_LDADD = $(CL_TEST_LIBS)

tests_check_cancel_SOURCES = tests/check_cancel.c
tests_check_cancel_CFLAGS = $(CL_TEST_FLAGS)
tests_check_cancel_LDADD = $(CL_TEST_LIBS)

tests_check_policy_SOURCES = tests/check_policy.c
tests_check_policy_CFLAGS = $(CL_TEST_FLAGS)
tests_check_policy_LDADD = $(CL_WHITEBOX_TEST_LIBS)

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

tests_check_enomem_SOURCES = tests/check_enomem.c
tests_check_enomem_CFLAGS = $(CL_TEST_FLAGS)
tests_check_enomem_LDADD = $(CL_WHITEBOX_TEST_LIBS)

tests_check_errno_SOURCES = tests/check_errno.c
tests_check_errno_CFLAGS = $(CL_TEST_FLAGS)
tests_check_errno_LDADD = $(CL_WHITEBOX_TEST_LIBS)

tests_check_stress_SOURCES = tests/check_stress.c
tests_check_stress_CFLAGS = $(CL_TEST_FLAGS)
tests_check_stress_LDADD = $(CL_TEST_LIBS)

tests_check_whitebox_SOURCES = tests/check_whitebox.c
tests_check_whitebox_CFLAGS = $(CL_TEST_FLAGS)
tests_check_whitebox_LDADD = $(CL_WHITEBOX_TEST_LIBS)
endif

# the library's shape: only caplimit_* leaves the shared object, and
# caplimit.h stands alone as C99 and C++11.  The scripts run with the
# shell, not under a LOG_COMPILER such as the valgrind runner of
# tests/reliability.mk, and learn the tools and directories from the
# environment (VPATH builds work).
TEST_EXTENSIONS = .sh
SH_LOG_COMPILER = env CC='$(CC)' NM='$(NM)' CL_TOP_SRCDIR='$(top_srcdir)' \
	CL_TOP_BUILDDIR='$(top_builddir)' $(SHELL)
TESTS += tests/check-exports.sh tests/check-header.sh
dist_noinst_SCRIPTS += tests/check-exports.sh tests/check-header.sh
EXTRA_DIST += tests/shim/check.h
