#!/bin/sh
# SPDX-License-Identifier: MIT
# Copyright (c) 2026 The libcaplimit authors
#
# Runs one test program under a valgrind tool; the LOG_COMPILER of
# make check-memcheck, check-helgrind and check-drd (tests/reliability.mk).
#
#   run.sh TOOL PROGRAM [ARGS...]      TOOL: memcheck | helgrind | drd
#
# PROGRAM is usually a libtool wrapper script, so valgrind runs through
# `libtool --mode=execute` on the real binary.  Any error, or a definite or
# indirect leak, makes the run fail.  Check stays in fork mode: its per-test
# timeouts work only there, and valgrind follows fork() by itself (no
# --trace-children needed, the tests exec nothing), so each test's child is
# checked and exits with --error-exitcode, which Check reports as a failure
# of that test.  The timeouts are scaled for valgrind's slowdown.
set -u
tool=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
: "${VALGRIND:=valgrind}"
: "${CL_LIBTOOL:=./libtool}"

# The multi-process suites are skipped (77): their children die on purpose
# holding handles (R26), which memcheck reports as leaks and
# --error-exitcode turns into the children's exit status, which the tests
# read; helgrind and DRD cannot follow futex wakes or robust mutexes.  The
# ASan and TSan builds run them.
case ${1##*/} in
check_shared*)
    echo "run.sh: ${1##*/} forks and kills processes: left to ASan and TSan"
    exit 77 ;;
esac

if ! command -v "$VALGRIND" >/dev/null 2>&1; then
    echo "run.sh: valgrind not found; configure did not find it" >&2
    exit 99
fi

opts="--tool=$tool --error-exitcode=1 --quiet --child-silent-after-fork=no"
case $tool in
memcheck)
    opts="$opts --leak-check=full --show-leak-kinds=definite,indirect"
    opts="$opts --errors-for-leak-kinds=definite,indirect --track-origins=yes" ;;
helgrind|drd)
    # they cannot follow a thread cancelled in pthread_cond_wait (see
    # helgrind.supp): the stress program and the Check suites leave
    # cancellation out (harness_add_cancel_test); memcheck covers it
    # valgrind runs one thread at a time; without a fair lock a thread
    # that loops on acquire and release can starve the test thread
    opts="$opts --fair-sched=yes"
    STRESS_NO_CANCEL=1
    HARNESS_NO_CANCEL=1
    # nor futex wakes and robust mutexes: white-box tests of shared
    # limiters stay out too (check_whitebox)
    HARNESS_NO_SHARED=1
    export STRESS_NO_CANCEL HARNESS_NO_CANCEL HARNESS_NO_SHARED ;;
*)  echo "run.sh: unknown tool $tool" >&2; exit 99 ;;
esac
if [ -f "$here/$tool.supp" ]; then
    opts="$opts --suppressions=$here/$tool.supp"
fi

CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-8}
# load tests take a tenth of their rounds (harness_scale)
HARNESS_SLOW=1
STRESS_ITERATIONS=${STRESS_ITERATIONS:-200}
export CK_TIMEOUT_MULTIPLIER HARNESS_SLOW STRESS_ITERATIONS
# shellcheck disable=SC2086
exec $CL_LIBTOOL --mode=execute "$VALGRIND" $opts "$@"
