#!/bin/sh
# SPDX-License-Identifier: MIT
# Copyright (c) 2026 The libcaplimit authors
#
# make check-mutants: applies each mutant of tests/mutants/list to a copy
# of the tree, rebuilds the library and the Check programs only (make
# relinks just those the mutated objects reach), runs the programs two at
# a time until one fails, and reports the mutants that no test kills.
# Slow (up to a suite run per mutant): not part of make check, nor of CI.
#   MUTANT_CONFIGURE  extra configure arguments (e.g.
#                     ac_cv_func_pthread_cond_clockwait=no)
#   MUTANT_ONLY       run only the mutants whose names match this regex
#   MUTANT_LIST       another list file
#   MUTANT_JOBS       test programs run at once (default 2)
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
list=${MUTANT_LIST:-$here/list}
work=$(mktemp -d "${TMPDIR:-/tmp}/caplimit-mutants.XXXXXX") || exit 99
trap 'rm -rf "$work"' EXIT INT TERM

# The Check programs of the private limiter, the fastest first: a mutant
# is killed by the first program that fails (the scripts and the man
# pages' tests test no logic of lib/; shared.c's mutants would want
# tests/check_shared*, left out for their time)
tests="check_errno check_api check_rules check_deadlines check_cancel
check_enomem check_policy check_counters check_holds check_reentrant
check_thread_exit check_close check_whitebox check_weighted check_drain check_lane
check_clock check_fault_sweep check_stress"
progs=
for t in $tests; do progs="$progs tests/$t"; done
jobs=${MUTANT_JOBS:-2}

echo "mutants: copying the tree to $work"
mkdir -p "$work/src" "$work/build"
(cd "$src" && tar --exclude='./_build*' --exclude=./.git -cf - .) | (cd "$work/src" && tar -xf -) || exit 99
[ -x "$work/src/configure" ] || (cd "$work/src" && autoreconf -fi >/dev/null 2>&1) || exit 99
cp -R "$work/src/lib" "$work/lib.orig"
cd "$work/build" || exit 99
# shellcheck disable=SC2086
../src/configure -q ${MUTANT_CONFIGURE:-} >/dev/null || exit 99
# shellcheck disable=SC2086
make -j2 lib/libcaplimit.la $progs >/dev/null 2>&1 || {
    echo "mutants: the unmutated tree does not build" >&2; exit 99; }

# apply FILE ORIGINAL REPLACEMENT: 0 applied, 1 not found
apply() {
    awk -v orig="$2" -v repl="$3" '
        BEGIN { RS = "\001"; gsub(/\\n/, "\n", orig); gsub(/\\n/, "\n", repl) }
        { s = $0 }
        END {
            i = index(s, orig)
            if (i == 0) exit 1
            printf "%s%s%s", substr(s, 1, i - 1), repl, substr(s, i + length(orig))
        }' "$work/src/$1" > "$work/mutated" || return 1
    cp "$work/mutated" "$work/src/$1"
}

# one program; its output in $work/out.NAME
run_one() {
    CK_DEFAULT_TIMEOUT=20 timeout 600 "tests/$1" >"$work/out.$1" 2>&1
}

# the programs in order, $jobs at a time; prints the first that fails
run_tests() {
    # shellcheck disable=SC2086
    set -- $tests
    while [ $# -gt 0 ]; do
        n=0 batch='' failed='' pid=''
        while [ $# -gt 0 ] && [ "$n" -lt "$jobs" ]; do
            if [ -x "tests/$1" ]; then
                run_one "$1" &
                eval "pid_$n=\$!"
                batch="$batch $1" n=$((n + 1))
            fi
            shift
        done
        n=0
        for t in $batch; do
            eval "pid=\$pid_$n"
            wait "$pid" || failed=${failed:-$t}
            n=$((n + 1))
        done
        if [ -n "$failed" ]; then
            echo "$failed"
            return 1
        fi
    done
    return 0
}

total=0 killed=0 na=0 survivors=
tab=$(printf '\t')
while IFS="$tab" read -r name file orig repl; do
    case $name in ''|\#*) continue ;; esac
    if [ -n "${MUTANT_ONLY:-}" ] && ! echo "$name" | grep -Eq "$MUTANT_ONLY"; then
        continue
    fi
    rm -rf "$work/src/lib" && cp -R "$work/lib.orig" "$work/src/lib"
    if ! apply "$file" "$orig" "$repl"; then
        echo "mutant $name: not applicable (text not found in $file)"
        na=$((na + 1))
        continue
    fi
    total=$((total + 1))
    # shellcheck disable=SC2086
    if ! make -j2 lib/libcaplimit.la $progs >/dev/null 2>&1; then
        echo "mutant $name: killed (does not build)"
        killed=$((killed + 1))
        continue
    fi
    if by=$(run_tests); then
        echo "mutant $name: SURVIVES"
        survivors="$survivors $name"
    else
        echo "mutant $name: killed by $by"
        killed=$((killed + 1))
    fi
done < "$list"
rm -rf "$work/src/lib" && cp -R "$work/lib.orig" "$work/src/lib"

echo "mutants: $killed of $total killed ($na not applicable)${survivors:+; survivors:$survivors}"
[ -z "$survivors" ]
