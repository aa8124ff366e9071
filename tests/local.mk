# SPDX-License-Identifier: MIT
# The test suite.  Each part keeps its own fragment:
#   tests/checks.mk   R1..R22 by topic (hand-off, deadlines, cancellation,
#                     policy, close, counters, holds, exit, allocation, stress)
#   tests/reliability.mk  stress, valgrind and sanitizer targets
#   tests/layout.mk   the public structs against the spec's layout
#   tests/shared.mk   R24..R29 across processes (shared limiters)
#   tests/weighted.mk R23 weighted holds, R29 drain
if HAVE_CHECK
check_LTLIBRARIES += tests/libharness.la
tests_libharness_la_SOURCES = tests/harness.c tests/harness.h
tests_libharness_la_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)

# Public-API tests link the installed shape of the library (the shared
# object with its version script); white-box tests link the objects.
CL_TEST_FLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
CL_TEST_LIBS = tests/libharness.la lib/libcaplimit.la $(CHECK_LIBS)
CL_WHITEBOX_TEST_LIBS = tests/libharness.la lib/libcaplimit_impl.la $(CHECK_LIBS)
endif

# Check's per-test timeout, scaled for slow runs (valgrind sets its own).
AM_TESTS_ENVIRONMENT = CK_DEFAULT_TIMEOUT=$${CK_DEFAULT_TIMEOUT:-60}; export CK_DEFAULT_TIMEOUT;

include $(srcdir)/tests/checks.mk
include $(srcdir)/tests/reliability.mk
include $(srcdir)/tests/layout.mk
include $(srcdir)/tests/shared.mk
include $(srcdir)/tests/weighted.mk
