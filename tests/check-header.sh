#!/bin/sh
# SPDX-License-Identifier: MIT
# Copyright (c) 2026 The libcaplimit authors
#
# include/caplimit.h stands alone: strict C99 with every warning an error,
# and C++ (when a C++ compiler is there), including CAPLIMIT_WITH.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${CL_TOP_SRCDIR:-$here/..}
cc=${CC:-cc}
tmp=${TMPDIR:-/tmp}/check-header.$$
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp" || exit 99

cat > "$tmp/use.c" <<'EOC'
#include <caplimit.h>
#include <caplimit.h>   /* the guard works */
int use_caplimit(caplimit_t *lim);
int use_caplimit(caplimit_t *lim)
{
    struct caplimit_statistics st;
    int rc;

    if (caplimit_statistics(lim, &st) == 0)
        caplimit_statistics_destroy(&st);
#ifdef CAPLIMIT_WITH
    CAPLIMIT_WITH(lim, rc) {
        return caplimit_available_tokens(lim) == CAPLIMIT_INFINITE;
    }
#else
    rc = caplimit_acquire(lim);
#endif
    return rc;
}
EOC

if ! command -v "${cc%% *}" >/dev/null 2>&1; then
    echo "check-header: no C compiler ($cc); skipped"
    exit 77
fi
flags="-pedantic -Wall -Wextra -Werror -I$top_srcdir/include"
status=0
# shellcheck disable=SC2086
if $cc -std=c99 $flags -c "$tmp/use.c" -o "$tmp/use.o"; then
    echo "check-header: C99 ok ($cc)"
else
    echo "check-header: caplimit.h fails as C99 with $cc" >&2
    status=1
fi

cxx=${CXX:-}
if [ -z "$cxx" ]; then
    for c in g++ clang++ c++; do
        if command -v "$c" >/dev/null 2>&1; then cxx=$c; break; fi
    done
fi
if [ -z "$cxx" ]; then
    echo "check-header: no C++ compiler; C++ part skipped"
    exit $status
fi
# shellcheck disable=SC2086
if $cxx -std=c++11 $flags -x c++ -c "$tmp/use.c" -o "$tmp/use++.o"; then
    echo "check-header: C++11 ok ($cxx)"
else
    echo "check-header: caplimit.h fails as C++11 with $cxx" >&2
    status=1
fi
exit $status
