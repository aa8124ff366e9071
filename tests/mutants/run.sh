#!/bin/sh
# SPDX-License-Identifier: MIT
# Copyright (c) 2026 The libcaplimit authors
#
# make check-mutants: applies each mutant of tests/mutants/list to a copy
# of the tree, rebuilds, runs the test programs until one fails, and
# reports the mutants that no test kills.  Slow (a suite run per mutant):
# not part of make check, nor of CI.
#   MUTANT_CONFIGURE  extra configure arguments (e.g.
#                     ac_cv_func_pthread_cond_clockwait=no)
#   MUTANT_ONLY       run only the mutants whose names match this regex
#   MUTANT_LIST       another list file
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
list=${MUTANT_LIST:-$here/list}
work=$(mktemp -d "${TMPDIR:-/tmp}/caplimit-mutants.XXXXXX") || exit 99
trap 'rm -rf "$work"' EXIT INT TERM

# the fastest first: a mutant is killed by the first program that fails
tests="check_errno check_rules check_api check_deadlines check_clock check_cancel
check_enomem check_policy check_counters check_holds check_reentrant
check_thread_exit check_close check_regress check_whitebox check_fault_sweep
check_stress stress"

echo "mutants: copying the tree to $work"
mkdir -p "$work/src" "$work/build"
(cd "$src" && tar --exclude='./_build*' --exclude=./.git -cf - .) | (cd "$work/src" && tar -xf -) || exit 99
[ -x "$work/src/configure" ] || (cd "$work/src" && autoreconf -fi >/dev/null 2>&1) || exit 99
cp -R "$work/src/lib" "$work/lib.orig"
cd "$work/build" || exit 99
# shellcheck disable=SC2086
../src/configure -q ${MUTANT_CONFIGURE:-} >/dev/null || exit 99
make -j2 >/dev/null 2>&1 && make -j2 check TESTS= >/dev/null 2>&1 || {
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

# the programs in order; prints the first that fails
run_tests() {
    for t in $tests; do
        [ -x "tests/$t" ] || continue
        if ! CK_DEFAULT_TIMEOUT=20 STRESS_WATCHDOG_SECONDS=60 \
             timeout 600 "tests/$t" >"$work/out" 2>&1; then
            echo "$t"
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
    if ! { make -j2 >/dev/null 2>&1 && make -j2 check TESTS= >/dev/null 2>&1; }; then
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
