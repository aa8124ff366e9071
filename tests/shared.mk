# SPDX-License-Identifier: MIT
# R24..R29 across processes: shared limiters (public API only).
#   check_shared_open   R24 open, unlink, destroy, the creation race; R27
#                       names that hold no limiter; R28 room
#   check_shared        every rule across processes; R25 borrowers
#   check_shared_death  R26: processes that end, however they end; stress
#   check_shared_fuzz   R27: a scribbled segment never crashes a call
if HAVE_CHECK
check_LTLIBRARIES += tests/libsharedharness.la
tests_libsharedharness_la_SOURCES = tests/shared_harness.c tests/shared_harness.h
tests_libsharedharness_la_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)

CL_SHARED_CHECKS = tests/check_shared_open tests/check_shared \
	tests/check_shared_death tests/check_shared_fuzz
check_PROGRAMS += $(CL_SHARED_CHECKS)
TESTS += $(CL_SHARED_CHECKS)
CL_SHARED_TEST_LIBS = tests/libsharedharness.la $(CL_TEST_LIBS)

tests_check_shared_open_SOURCES = tests/check_shared_open.c
tests_check_shared_open_CFLAGS = $(CL_TEST_FLAGS)
tests_check_shared_open_LDADD = $(CL_SHARED_TEST_LIBS)

tests_check_shared_SOURCES = tests/check_shared.c
tests_check_shared_CFLAGS = $(CL_TEST_FLAGS)
tests_check_shared_LDADD = $(CL_SHARED_TEST_LIBS)

tests_check_shared_death_SOURCES = tests/check_shared_death.c
tests_check_shared_death_CFLAGS = $(CL_TEST_FLAGS)
tests_check_shared_death_LDADD = $(CL_SHARED_TEST_LIBS)

tests_check_shared_fuzz_SOURCES = tests/check_shared_fuzz.c
tests_check_shared_fuzz_CFLAGS = $(CL_TEST_FLAGS)
tests_check_shared_fuzz_LDADD = $(CL_SHARED_TEST_LIBS)
endif
