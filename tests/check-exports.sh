#!/bin/sh
# SPDX-License-Identifier: MIT
# Copyright (c) 2026 The libcaplimit authors
#
# The shared library exports caplimit_* and nothing else (hidden visibility
# and lib/caplimit.sym).  Run by make check from the top build directory;
# exits 77 (skip) without nm or a shared library.
set -u
top_builddir=${CL_TOP_BUILDDIR:-.}
so=$top_builddir/lib/.libs/libcaplimit.so
nm=${NM:-nm}

if ! command -v "${nm%% *}" >/dev/null 2>&1; then
    echo "check-exports: no nm; skipped"
    exit 77
fi
if [ ! -f "$so" ]; then
    echo "check-exports: no $so (static build?); skipped"
    exit 77
fi

# defined dynamic symbols, minus the version node itself (type A)
# shellcheck disable=SC2086
syms=$($nm -D --defined-only "$so" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }')
if [ -z "$syms" ]; then
    echo "check-exports: $nm found no symbols in $so" >&2
    exit 1
fi
bad=$(printf '%s\n' "$syms" | grep -v '^caplimit_' || true)
if [ -n "$bad" ]; then
    echo "check-exports: symbols outside caplimit_* exported:" >&2
    printf '  %s\n' $bad >&2
    exit 1
fi
printf '%s\n' "$syms" | grep -q '^caplimit_create$' || {
    echo "check-exports: caplimit_create is not exported" >&2
    exit 1
}
echo "check-exports: $(printf '%s\n' "$syms" | wc -l) symbols, all caplimit_*"
