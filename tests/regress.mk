# SPDX-License-Identifier: MIT
# Regressions for the review findings (F1, F2, F6, the wake batch, a late
# signal at thread exit).  Public API only.
if HAVE_CHECK
check_PROGRAMS += tests/check_regress
TESTS += tests/check_regress

tests_check_regress_SOURCES = tests/check_regress.c
tests_check_regress_CFLAGS = $(CL_TEST_FLAGS)
tests_check_regress_LDADD = $(CL_TEST_LIBS)
endif
