# SPDX-License-Identifier: MIT
# R1..R16, CAPLIMIT_WITH, the API's edges and the production scenarios.
#   check_rules      R1..R5, R8..R12, R14, the over-grant and quota scenarios
#   check_api        NULL arguments, caplimit_format, CAPLIMIT_WITH
#   check_deadlines  R6 on both clocks, R13 signals
#   check_clock      R6 against far deadlines and realtime steps (its own
#                    clock_gettime), with or without pthread_cond_clockwait
#   check_cancel     R7
#   check_enomem     R15 (white-box: the fault-injection hook)
#   check_errno      no function sets errno (white-box: the same hook)
#   check_stress     R16 (STRESS_ITERATIONS scales it)
#   check-exports.sh only caplimit_* leaves the shared object
#   check-header.sh  caplimit.h stands alone as C99 and C++11
if HAVE_CHECK
CL_CORE_CHECKS = tests/check_rules tests/check_api tests/check_deadlines tests/check_clock \
	tests/check_cancel tests/check_enomem tests/check_errno tests/check_stress
check_PROGRAMS += $(CL_CORE_CHECKS)
TESTS += $(CL_CORE_CHECKS)

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

tests_check_enomem_SOURCES = tests/check_enomem.c
tests_check_enomem_CFLAGS = $(CL_TEST_FLAGS)
tests_check_enomem_LDADD = $(CL_WHITEBOX_TEST_LIBS)

tests_check_errno_SOURCES = tests/check_errno.c
tests_check_errno_CFLAGS = $(CL_TEST_FLAGS)
tests_check_errno_LDADD = $(CL_WHITEBOX_TEST_LIBS)

tests_check_stress_SOURCES = tests/check_stress.c
tests_check_stress_CFLAGS = $(CL_TEST_FLAGS)
tests_check_stress_LDADD = $(CL_TEST_LIBS)
endif

# The scripts run with the shell, not under a LOG_COMPILER such as the
# valgrind runner of tests/reliability.mk, and learn the tools and
# directories from the environment (VPATH builds work).
TEST_EXTENSIONS = .sh
SH_LOG_COMPILER = env CC='$(CC)' NM='$(NM)' CL_TOP_SRCDIR='$(top_srcdir)' \
	CL_TOP_BUILDDIR='$(top_builddir)' $(SHELL)
TESTS += tests/check-exports.sh tests/check-header.sh
dist_noinst_SCRIPTS += tests/check-exports.sh tests/check-header.sh
EXTRA_DIST += tests/shim/check.h
