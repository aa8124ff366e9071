#!/bin/sh
# SPDX-License-Identifier: MIT
# Copyright (c) 2026 The libcaplimit authors
#
# include/caplimit.h stands alone: strict C99 with every warning an error,
# C89 with gcc's -pedantic-errors, C++11, and clang++'s -Weverything
# (when those compilers are there), including CAPLIMIT_WITH.  The commands:
#   $CC     -std=c99   -pedantic -Wall -Wextra -Werror
#   gcc     -std=c89   -pedantic-errors -Wall -Wextra -Werror
#   $CXX    -std=c++11 -pedantic -Wall -Wextra -Werror -x c++
#   clang++ -std=c++11 -Weverything -Werror -Wno-c++98-compat
#           -Wno-c++98-compat-pedantic -Wno-padded -x c++
# Left out of -Weverything: the C++98 compatibility family (the header is
# for C++11 and later, where long long and the rest are standard), and
# -Wpadded (the layouts are the spec's ABI; padding in them is intended).
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

# C89: what a pre-C99 code base compiling with gcc -std=c89 sees.
if command -v gcc >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    if gcc -std=c89 -pedantic-errors -Wall -Wextra -Werror -I"$top_srcdir/include" \
           -c "$tmp/use.c" -o "$tmp/use89.o"; then
        echo "check-header: C89 ok (gcc -pedantic-errors)"
    else
        echo "check-header: caplimit.h fails as C89 with gcc -pedantic-errors" >&2
        status=1
    fi
else
    echo "check-header: no gcc; C89 part skipped"
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

if command -v clang++ >/dev/null 2>&1; then
    if clang++ -std=c++11 -Weverything -Werror -Wno-c++98-compat \
           -Wno-c++98-compat-pedantic -Wno-padded -I"$top_srcdir/include" \
           -x c++ -c "$tmp/use.c" -o "$tmp/use-every.o"; then
        echo "check-header: clang++ -Weverything ok"
    else
        echo "check-header: caplimit.h fails under clang++ -Weverything" >&2
        status=1
    fi
else
    echo "check-header: no clang++; -Weverything part skipped"
fi
exit $status
