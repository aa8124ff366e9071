#!/bin/sh
# SPDX-License-Identifier: MIT
# Copyright (c) 2026 The libcaplimit authors
#
# Compiles and runs every complete program in the manual pages: the .EX
# blocks between `.\" SRC BEGIN (name.c)' and `.\" SRC END', as the Linux
# man-pages project marks them.  A block with a main() outside such marks
# is an error, so no complete program escapes the test.  Programs are
# built against the library in the build tree with libtool and must exit
# 0 within CL_EXAMPLE_TIMEOUT seconds (default 30).
set -u
srcdir=${srcdir:-.}
builddir=${CL_TOP_BUILDDIR:-.}
libtool=${CL_LIBTOOL:-$builddir/libtool}
cc=${CL_CC:-cc}
timeout_s=${CL_EXAMPLE_TIMEOUT:-30}
la=$builddir/lib/libcaplimit.la
[ -f "$la" ] || { echo "examples.sh: $la is not built" >&2; exit 99; }
run_timeout=
command -v timeout >/dev/null 2>&1 && run_timeout="timeout $timeout_s"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/caplimit-examples.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT

# Writes each marked program of page $1 to $tmp/<page>-<name.c>, and
# reports unmarked blocks that hold a main().
extract() {
    awk -v dir="$tmp" -v page="${1##*/}" '
        /^\.\\" SRC BEGIN \(/ {
            name = $0; sub(/^.*\(/, "", name); sub(/\).*$/, "", name)
            out = dir "/" page "-" name; insrc = 1; next
        }
        /^\.\\" SRC END/ { insrc = 0; close(out); next }
        /^\.EX/ { inex = 1; next }
        /^\.EE/ { inex = 0; next }
        inex && insrc {
            line = $0
            gsub(/\\\(aq/, "\047", line); gsub(/\\\(dq/, "\"", line)
            gsub(/\\-/, "-", line); gsub(/\\&/, "", line)
            gsub(/\\e/, "\\", line)
            print line > out; next
        }
        inex && /main\(/ { printf "%s: a main() outside SRC BEGIN/END\n", page; bad = 1 }
        END { exit bad }
    ' "$1"
}

fail=0
n=0
for page in "$srcdir"/man/*.3 "$srcdir"/man/*.7; do
    extract "$page" || fail=1
done
for src in "$tmp"/*.c; do
    [ -f "$src" ] || continue
    n=$((n + 1))
    name=${src##*/}
    prog=${src%.c}
    # shellcheck disable=SC2086  # flags are lists
    if ! $libtool --quiet --mode=link --tag=CC $cc ${CL_CPPFLAGS:-} \
            -I"$srcdir/include" ${CL_CFLAGS:-} ${CL_LDFLAGS:-} \
            -o "$prog" "$src" "$la" ${CL_LIBS:-} > "$prog.log" 2>&1; then
        echo "FAIL: $name does not compile:"
        cat "$prog.log"
        fail=1
        continue
    fi
    if $run_timeout "$prog" > "$prog.out" 2>&1; then
        echo "ok: $name"
    else
        echo "FAIL: $name exited with status $?; its output:"
        cat "$prog.out"
        fail=1
    fi
done
if [ "$n" -eq 0 ]; then
    echo "examples.sh: no marked programs found in $srcdir/man" >&2
    exit 1
fi
echo "examples.sh: $n programs"
exit $fail
