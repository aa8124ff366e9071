#!/bin/sh
# SPDX-License-Identifier: MIT
# Copyright (c) 2026 The libcaplimit authors
#
# The static archive offers caplimit_* and nothing else (lib/static.mk):
# its only global definitions are caplimit_*, and a program that defines
# its own cl_malloc and cl_free (names lib/ uses inside) links with it and
# runs, its functions never called by the library, with the flags of
# pkg-config --static (which names each flag once), a shared limiter
# (caplimit_open, shm_open) included.  Run by make check from
# the top build directory; exits 77 (skip) without nm or a static archive.
set -u
top_srcdir=${CL_TOP_SRCDIR:-.}
top_builddir=${CL_TOP_BUILDDIR:-.}
archive=$top_builddir/lib/.libs/libcaplimit.a
nm=${NM:-nm}
cc=${CC:-cc}

if ! command -v "${nm%% *}" >/dev/null 2>&1; then
    echo "check-static: no nm; skipped"
    exit 77
fi
if [ ! -f "$archive" ]; then
    echo "check-static: no $archive (--disable-static?); skipped"
    exit 77
fi

fail=0
bad() { echo "check-static: $*" >&2; fail=1; }

# global definitions: types in capitals, less undefined (U) and absolute (A)
# shellcheck disable=SC2086 # NM may carry options (nm -B)
syms=$($nm -g --defined-only "$archive" | awk 'NF == 3 && $2 ~ /^[B-TV-Z]$/ { print $3 }')
printf '%s\n' "$syms" | grep -q '^caplimit_create$' \
    || bad "caplimit_create is not defined in $archive"
others=$(printf "%s\n" "$syms" | grep -v "^caplimit_" | grep -v "^$" | tr "\n" " ")
[ -z "$others" ] || bad "globals outside caplimit_* in $archive: $others"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/caplimit-static.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/user.c" <<'PROG'
/* A program with its own allocator under the library's internal names. */
#include <caplimit.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int calls;

void *cl_malloc(size_t n);
void cl_free(void *p);

void *cl_malloc(size_t n)
{
    calls++;
    return malloc(n);
}

void cl_free(void *p)
{
    calls++;
    free(p);
}

int main(void)
{
    caplimit_t *lim, *shared;
    struct caplimit_statistics st;
    void *mine = cl_malloc(16);
    char name[64];
    int bad = 0;

    if (caplimit_create(&lim, 2) != 0)
        return 1;
    bad |= caplimit_acquire(lim) != 0;
    bad |= caplimit_acquire_on_behalf_of(lim, mine) != 0;
    bad |= caplimit_statistics(lim, &st) != 0;
    caplimit_statistics_destroy(&st);
    bad |= caplimit_release_on_behalf_of(lim, mine) != 0;
    bad |= caplimit_release(lim) != 0;
    bad |= caplimit_destroy(lim) != 0;
    /* shm_open and the rest of lib/shared.c: -lrt on an old glibc */
    snprintf(name, sizeof name, "/caplimit-static-%ld", (long)getpid());
    if (caplimit_open(&shared, name, O_CREAT | O_EXCL, 0600, 1) != 0)
        return 1;
    bad |= caplimit_unlink(name) != 0;
    bad |= caplimit_is_shared(shared) != 1;
    bad |= caplimit_acquire(shared) != 0;
    bad |= caplimit_release(shared) != 0;
    bad |= caplimit_destroy(shared) != 0;
    cl_free(mine);
    return bad || calls != 2;
}
PROG
# What a static link needs besides the archive: caplimit.pc's Libs.private
# as pkg-config --static gives it (a user's link), else configure's LIBS.
pc=$top_builddir/caplimit.pc
libs=${CL_LIBS:--pthread}
if [ -f "$pc" ] && command -v pkg-config >/dev/null 2>&1; then
    flags=$(PKG_CONFIG_PATH=$top_builddir PKG_CONFIG_LIBDIR=$top_builddir \
            pkg-config --static --libs caplimit) || bad "pkg-config cannot read $pc"
    libs=
    for f in $flags; do
        case $f in -L*|-lcaplimit) ;; *) libs="$libs $f" ;; esac
    done
fi
# shellcheck disable=SC2086 # flags are lists
if ! $cc ${CL_CPPFLAGS:-} -I"$top_srcdir/include" ${CL_CFLAGS:-} ${CL_LDFLAGS:-} \
        -o "$tmp/user" "$tmp/user.c" "$archive" $libs 2> "$tmp/cc.log"; then
    cat "$tmp/cc.log" >&2
    bad "a program defining cl_malloc and cl_free does not link with $archive"
elif ! "$tmp/user"; then
    bad "the program linked with $archive fails, or the library called its cl_malloc"
fi

# caplimit.pc: a static link's flags, each once
if [ -n "${flags:-}" ]; then
    # shellcheck disable=SC2086 # split on purpose
    dups=$(printf '%s\n' $flags | sort | uniq -d | tr '\n' ' ')
    [ -z "$dups" ] || bad "pkg-config --static --libs caplimit repeats $dups($flags)"
fi

[ "$fail" -eq 0 ] && echo "check-static: $(printf '%s\n' "$syms" | wc -l) globals, all caplimit_*; a program with its own cl_malloc links"
exit $fail
