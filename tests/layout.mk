# SPDX-License-Identifier: MIT
# The public structs against the spec's layout (offsetof, sizeof): the
# fields of R23 and R25 and the reserved tails included.
if HAVE_CHECK
check_PROGRAMS += tests/check_layout
TESTS += tests/check_layout

tests_check_layout_SOURCES = tests/check_layout.c
tests_check_layout_CFLAGS = $(CL_TEST_FLAGS)
tests_check_layout_LDADD = $(CL_TEST_LIBS)
endif
