#!/bin/sh
# SPDX-License-Identifier: MIT
# Copyright (c) 2026 The libcaplimit authors
#
# check-dist.sh SRCDIR DISTDIR: every file or directory that README.md
# names (a word of a `code span`, or a link target) and that exists in
# SRCDIR must be in DISTDIR too, so that the tarball's README tells no
# lie; and, in a git checkout, that every file git tracks is there.  Run
# by make dist (dist-hook).
set -uf
srcdir=$1
distdir=$2
readme=$srcdir/README.md
[ -f "$readme" ] || { echo "check-dist.sh: no $readme" >&2; exit 1; }

# code blocks, code spans, link targets; one word a line
# shellcheck disable=SC2016 # backquotes, not expansions
words=$( { awk '/^```/ { inblock = !inblock; next } inblock' "$readme"
           grep -v '^```' "$readme" | grep -o '`[^`]*`' | tr -d '`'
           grep -o '](\([^)]*\))' "$readme" | sed 's/^](//; s/)$//'; } \
         | tr -s ' \t' '\n' | sed 's|^\./||; s|/*$||' | grep -v '^$' | sort -u)
missing=
n=0
for w in $words; do
    case $w in .|-*|*'*'*|*'$'*|/*|*..*) continue ;; esac
    [ -e "$srcdir/$w" ] || continue
    n=$((n + 1))
    [ -e "$distdir/$w" ] || missing="$missing $w"
done
if [ -n "$missing" ]; then
    echo "check-dist.sh: README.md names files the tarball lacks:$missing" >&2
    exit 1
fi
echo "check-dist.sh: the $n files README.md names are in the tarball"

# From a git checkout: every tracked file (but .gitignore) is in the
# tarball, so that a new source, test, script or page that no Makefile
# fragment names fails make dist instead of the tarball's build.
if tracked=$(git -C "$srcdir" ls-files 2>/dev/null) && [ -n "$tracked" ]; then
    missing=
    n=0
    for f in $tracked; do
        case $f in .gitignore|*/.gitignore) continue ;; esac
        [ -e "$srcdir/$f" ] || continue
        n=$((n + 1))
        [ -e "$distdir/$f" ] || missing="$missing $f"
    done
    if [ -n "$missing" ]; then
        echo "check-dist.sh: tracked files the tarball lacks (add them to a local.mk):$missing" >&2
        exit 1
    fi
    echo "check-dist.sh: the $n files git tracks are in the tarball"
fi
