# SPDX-License-Identifier: MIT
# Example shape of a suite (copy for each new file):
#   check_PROGRAMS += tests/check_smoke
#   TESTS += tests/check_smoke
#   tests_check_smoke_SOURCES = tests/check_smoke.c
#   tests_check_smoke_CFLAGS = $(CL_TEST_FLAGS)
#   tests_check_smoke_LDADD = $(CL_TEST_LIBS)
if HAVE_CHECK
check_PROGRAMS += tests/check_smoke
TESTS += tests/check_smoke
tests_check_smoke_SOURCES = tests/check_smoke.c
tests_check_smoke_CFLAGS = $(CL_TEST_FLAGS)
tests_check_smoke_LDADD = $(CL_TEST_LIBS)
endif
