# SPDX-License-Identifier: MIT
# The public structs against the spec's layout.  Not yet included by
# tests/local.mk: it compiles only with the header that has the spec's new
# fields (tokens, pid, tid, tokens_waiting, reclaimed, reserved tails).
if HAVE_CHECK
check_PROGRAMS += tests/check_layout
TESTS += tests/check_layout

tests_check_layout_SOURCES = tests/check_layout.c
tests_check_layout_CFLAGS = $(CL_TEST_FLAGS)
tests_check_layout_LDADD = $(CL_TEST_LIBS)
endif
