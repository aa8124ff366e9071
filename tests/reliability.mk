# SPDX-License-Identifier: MIT
# Reliability: the stress program, the R15 fault-injection sweep, and the
# valgrind targets.  Sanitizers are a configure option
# (--enable-sanitizers=thread, or =address,undefined); make check then runs
# every test under them.
#
#   make check                        includes a 2 s stress run and the sweep
#   make check-stress STRESS_SECONDS=60
#   make check-memcheck | check-helgrind | check-drd | check-valgrind
#       re-run every test in TESTS under that valgrind tool (see
#       tests/valgrind/run.sh); the summary is tests/<tool>.log

# The stress program is plain C (no Check): its exit status is the verdict.
check_PROGRAMS += tests/stress
TESTS += tests/stress tests/check-stress-watchdog.sh
dist_noinst_SCRIPTS += tests/check-stress-watchdog.sh
tests_stress_SOURCES = tests/stress.c
tests_stress_LDADD = lib/libcaplimit.la

if HAVE_CHECK
check_PROGRAMS += tests/check_fault_sweep
TESTS += tests/check_fault_sweep
tests_check_fault_sweep_SOURCES = tests/check_fault_sweep.c
tests_check_fault_sweep_CFLAGS = $(CL_TEST_FLAGS)
tests_check_fault_sweep_LDADD = $(CL_WHITEBOX_TEST_LIBS)
endif

# gcc 12's libasan checks its own sigaltstack() call against stale stack
# poison left by a cancelled thread's unwound frames, and reports a false
# stack-buffer-underflow when that thread ends (google/sanitizers#1399;
# clang 14 is not affected).  Without an alternate signal stack it makes no
# such call.
if SANITIZED
AM_TESTS_ENVIRONMENT += ASAN_OPTIONS=use_sigaltstack=0:$${ASAN_OPTIONS-}; export ASAN_OPTIONS;
endif

dist_noinst_SCRIPTS += tests/valgrind/run.sh
EXTRA_DIST += tests/valgrind/helgrind.supp

STRESS_SECONDS = 30
check-stress: tests/stress$(EXEEXT)
	STRESS_SECONDS=$(STRESS_SECONDS) ./tests/stress$(EXEEXT)

CL_VALGRIND_RUN = env VALGRIND='$(VALGRIND)' CL_LIBTOOL='$(abs_top_builddir)/libtool' \
	$(SHELL) $(abs_top_srcdir)/tests/valgrind/run.sh

check-memcheck check-helgrind check-drd:
	@if test -z '$(VALGRIND)'; then echo "$@: configure found no valgrind" >&2; exit 1; fi
	$(MAKE) $(AM_MAKEFLAGS) check \
	  LOG_COMPILER="$(CL_VALGRIND_RUN)" LOG_FLAGS=$(@:check-%=%) \
	  TEST_SUITE_LOG=tests/$(@:check-%=%).log

# one tool after the other: they share the tests' .log files
check-valgrind:
	$(MAKE) $(AM_MAKEFLAGS) check-memcheck
	$(MAKE) $(AM_MAKEFLAGS) check-helgrind
	$(MAKE) $(AM_MAKEFLAGS) check-drd

.PHONY: check-stress check-memcheck check-helgrind check-drd check-valgrind
CLEANFILES += tests/memcheck.log tests/helgrind.log tests/drd.log

# Semantic mutants of lib/ against the whole suite (slow; not in CI).
dist_noinst_SCRIPTS += tests/mutants/run.sh
EXTRA_DIST += tests/mutants/list
check-mutants:
	$(SHELL) $(abs_top_srcdir)/tests/mutants/run.sh
.PHONY: check-mutants
