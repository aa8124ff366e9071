#!/bin/sh
# SPDX-License-Identifier: MIT
# Copyright (c) 2026 The libcaplimit authors
#
# Checks an installation, as a user of the library sees it: a program
# built with nothing but `pkg-config --cflags --libs caplimit` compiles,
# links and runs; the shared object exports only caplimit_*; every manual
# page is installed and every link page resolves.
#
# Run by `make check-install' (a temporary DESTDIR) and by `make
# installcheck' (the real one, as make distcheck does).  Environment:
#   CL_DESTDIR       the staging root, or empty
#   CL_PKGCONFIGDIR, CL_LIBDIR, CL_INCLUDEDIR, CL_MANDIR, CL_BINDIR   from configure
#   CL_MAN_PAGES     the pages that must be installed (dist_man_MANS)
#   CC, PKG_CONFIG, NM
set -u
root=${CL_DESTDIR:-}
cc=${CC:-cc}
pkg_config=${PKG_CONFIG:-pkg-config}
nm=${NM:-nm}
command -v "${pkg_config%% *}" >/dev/null 2>&1 \
    || { echo "check-install.sh: pkg-config not found" >&2; exit 77; }

fail=0
bad() { echo "check-install.sh: $*" >&2; fail=1; }

PKG_CONFIG_PATH=$root$CL_PKGCONFIGDIR
PKG_CONFIG_LIBDIR=$root$CL_PKGCONFIGDIR     # this installation only
export PKG_CONFIG_PATH PKG_CONFIG_LIBDIR
if [ -n "$root" ]; then
    PKG_CONFIG_SYSROOT_DIR=$root            # prefixes -I and -L
    export PKG_CONFIG_SYSROOT_DIR
fi

[ -f "$root$CL_INCLUDEDIR/caplimit.h" ] || bad "caplimit.h is not in $root$CL_INCLUDEDIR"
flags=$($pkg_config --cflags --libs caplimit) || { bad "pkg-config knows no caplimit"; exit 1; }
echo "pkg-config --cflags --libs caplimit: $flags"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/caplimit-user.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/user.c" <<'PROG'
#include <caplimit.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

static caplimit_t *lim;

static void *worker(void *arg)
{
    int rc;

    (void)arg;
    CAPLIMIT_WITH(lim, rc) {
        if (!caplimit_holds(lim))
            return (void *)1;
    }
    return rc == 0 ? NULL : (void *)1;
}

int main(void)
{
    pthread_t t[4];
    void *res;
    char line[80];
    int i, bad = 0;

    if (caplimit_create(&lim, 2) != 0)
        return 1;
    for (i = 0; i < 4; i++)
        if (pthread_create(&t[i], NULL, worker, NULL) != 0)
            return 1;
    for (i = 0; i < 4; i++) {
        pthread_join(t[i], &res);
        bad |= res != NULL;
    }
    if (caplimit_acquire_nowait(lim) != 0 || caplimit_acquire_nowait(lim) != EDEADLK)
        bad = 1;
    caplimit_format(lim, line, sizeof line);
    puts(line);
    bad |= caplimit_release(lim) != 0;
    bad |= caplimit_destroy(lim) != 0;
    return bad;
}
PROG
# shellcheck disable=SC2086  # flags are a list
if ! $cc -std=c99 -Wall -Wextra -Werror -o "$tmp/user" "$tmp/user.c" $flags; then
    bad "a program does not build with pkg-config's flags alone"
elif ! LD_LIBRARY_PATH=$root$CL_LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$tmp/user"; then
    bad "the program built with pkg-config's flags fails"
fi

so=$root$CL_LIBDIR/libcaplimit.so
if [ -f "$so" ] && command -v "${nm%% *}" >/dev/null 2>&1; then
    others=$($nm -D --defined-only "$so" | awk '$2 == "T" && $3 !~ /^caplimit_/ { print $3 }')
    [ -z "$others" ] || bad "the installed library exports more than caplimit_*: $others"
fi

# The command: installed, and it runs with the installed library.
if [ -n "${CL_BINDIR:-}" ]; then
    cmd=$root$CL_BINDIR/caplimit
    if [ ! -x "$cmd" ]; then
        bad "caplimit is not installed in $root$CL_BINDIR"
    else
        out=$(LD_LIBRARY_PATH=$root$CL_LIBDIR "$cmd" --version) || bad "caplimit --version failed"
        echo "installed: $out"
    fi
fi

n=0
for page in ${CL_MAN_PAGES:-}; do
    name=${page##*/}
    dest=$root$CL_MANDIR/man${name##*.}/$name
    if [ ! -f "$dest" ]; then
        bad "$name is not installed in $root$CL_MANDIR"
        continue
    fi
    n=$((n + 1))
    target=$(sed -n '1s/^\.so  *//p' "$dest")
    [ -z "$target" ] || [ -f "$root$CL_MANDIR/$target" ] || bad "$name links to $target, not installed"
done
[ "$fail" -eq 0 ] && echo "check-install.sh: ok ($n pages)"
exit $fail
