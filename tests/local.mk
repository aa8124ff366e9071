# SPDX-License-Identifier: MIT
# The test suite.  Each part keeps its own fragment:
#   tests/core.mk     R1..R16, CAPLIMIT_WITH, the Trio/AnyIO scenarios, ENOMEM
#   tests/more.mk     R17..R22 (policy, close, counters, holds, reentrant, exit)
#   tests/reliability.mk  stress, valgrind and sanitizer targets
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

include $(srcdir)/tests/core.mk
include $(srcdir)/tests/more.mk
include $(srcdir)/tests/reliability.mk
include $(srcdir)/tests/regress.mk
include $(srcdir)/tests/layout.mk
include $(srcdir)/tests/shared.mk
include $(srcdir)/tests/weighted.mk
