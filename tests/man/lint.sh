#!/bin/sh
# SPDX-License-Identifier: MIT
# Copyright (c) 2026 The libcaplimit authors
#
# Lints every manual page: `mandoc -Tlint -W warning` must report nothing,
# and, when groff is installed, `groff -ww` too.  Link pages (one line,
# `.so man3/x.3`) must point at a page that exists; mandoc's warning that
# .so is fragile is the one message it may give about them.
# Exit 77 (skip) when mandoc is missing.
set -u
srcdir=${srcdir:-.}
mandoc=${CL_MANDOC:-}
[ -n "$mandoc" ] || mandoc=$(command -v mandoc 2>/dev/null) || mandoc=
if [ -z "$mandoc" ] || [ ! -x "$mandoc" ]; then
    echo "lint.sh: mandoc not found: skipped"
    exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/caplimit-lint.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/man1" "$tmp/man3" "$tmp/man7"
n=0
for f in "$srcdir"/man/*.1 "$srcdir"/man/*.3 "$srcdir"/man/*.7; do
    [ -f "$f" ] || continue
    cp "$f" "$tmp/man${f##*.}/" || exit 99
    n=$((n + 1))
done
if [ "$n" -eq 0 ]; then
    echo "lint.sh: no pages in $srcdir/man" >&2
    exit 1
fi

cd "$tmp" || exit 99
fail=0
for page in man1/*.1 man3/*.3 man7/*.7; do
    [ -f "$page" ] || continue
    if head -n 1 "$page" | grep -q '^\.so '; then
        target=$(sed -n '1s/^\.so  *//p' "$page")
        if [ "$(wc -l < "$page")" -ne 1 ] || [ ! -f "$target" ]; then
            echo "$page: a link page must be one line .so to an existing page"
            fail=1
        fi
        out=$("$mandoc" -Tlint -W warning "$page" 2>&1 | grep -v '\.so is fragile')
    else
        out=$("$mandoc" -Tlint -W warning "$page" 2>&1)
        if command -v groff >/dev/null 2>&1; then
            out="$out$(groff -t -man -ww -z -Tutf8 "$page" 2>&1)"
        fi
    fi
    if [ -n "$out" ]; then
        printf '%s\n' "$out"
        fail=1
    fi
done
[ "$fail" -eq 0 ] && echo "lint.sh: $n pages clean"
exit $fail
