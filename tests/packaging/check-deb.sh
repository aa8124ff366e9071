#!/bin/bash
# SPDX-License-Identifier: MIT
# Copyright (c) 2026 The libcaplimit authors
#
# The Debian packages, end to end: build them from a clean copy of the
# source tree with dpkg-buildpackage -us -uc -b, check them with lintian
# (no error, no warning), install them on this machine, build programs
# against the system's paths with pkg-config (shared and static) and with
# CMake's find_package (tests/check-cmake.sh), run them, run the installed
# caplimit(1) on a limiter of its own, check that each manual page of man/
# is in its package, then purge the packages again, whether the checks
# passed or not.
#
# Run as root on Debian, from CI (.ci/run) or by hand; not part of make
# check.  It refuses to run when a libcaplimit package is already
# installed, so that it never removes what it did not install.
# DEB_BUILD_OPTIONS passes through (CI sets nocheck: the suite runs
# elsewhere).  CHECK_DEB_KEEP=DIR copies the built packages to DIR.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
packages="libcaplimit1 libcaplimit-dev caplimit"
# each line says when, in seconds since the start: CI keeps this step cheap
log() { echo "check-deb.sh: [$SECONDS s] $*"; }
die() { echo "check-deb.sh: $*" >&2; exit 1; }

for tool in dpkg-buildpackage lintian dpkg-architecture pkg-config cmake fakeroot; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (apt-get install dpkg-dev debhelper lintian pkg-config cmake fakeroot)"
done
[ "$(id -u)" = 0 ] || die "installing the packages needs root"
for p in $packages; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        die "$p is installed already: remove it first (this test removes what it installs)"
    fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/caplimit-deb.XXXXXX") || exit 99
installed=
shm=
# shellcheck disable=SC2317 # called by the trap
cleanup() {
    if [ -n "$shm" ] && [ -e "/dev/shm/${shm#/}" ]; then
        caplimit unlink "$shm" 2>/dev/null || rm -f "/dev/shm/${shm#/}"
    fi
    if [ -n "$installed" ]; then
        log "purging $installed"
        # shellcheck disable=SC2086 # a list of package names
        dpkg --purge $installed >/dev/null || {
            echo "check-deb.sh: dpkg --purge $installed failed" >&2
            rc=1
        }
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap 'rc=$?; cleanup' EXIT
trap 'exit 130' INT TERM HUP

# A clean copy: what git tracks (the working tree's version of it), or the
# whole tree of an unpacked release tarball.
mkdir "$tmp/libcaplimit" || exit 99
if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$top" && git ls-files -z --cached | while IFS= read -r -d '' f; do
        [ -e "$f" ] && printf '%s\0' "$f"; done \
        | tar --null -T - -cf -) | tar -C "$tmp/libcaplimit" -xf - || die "cannot copy the tree"
else
    tar -C "$top" --exclude='./_build*' -cf - . | tar -C "$tmp/libcaplimit" -xf - \
        || die "cannot copy the tree"
fi

log "dpkg-buildpackage -us -uc -b (DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-})"
if ! (cd "$tmp/libcaplimit" && dpkg-buildpackage -us -uc -b) > "$tmp/build.log" 2>&1; then
    tail -n 60 "$tmp/build.log" >&2
    die "dpkg-buildpackage failed"
fi
grep -E '^dpkg-gensymbols: warning|^dpkg-shlibdeps: warning' "$tmp/build.log"
log "built: $(cd "$tmp" && echo ./*.deb)"
if [ -n "${CHECK_DEB_KEEP:-}" ]; then
    mkdir -p "$CHECK_DEB_KEEP" && cp "$tmp"/*.deb "$tmp"/*.changes "$tmp"/*.buildinfo "$CHECK_DEB_KEEP"/
fi

fail=0
bad() { echo "check-deb.sh: $*" >&2; fail=1; }

changes=$(echo "$tmp"/libcaplimit_*.changes)
log "lintian $(basename "$changes")"
if ! lintian --fail-on error,warning --info "$changes"; then
    bad "lintian reports errors or warnings"
fi

debs=
for p in $packages; do
    debs="$debs $(echo "$tmp/${p}_"*.deb)"
done
log "dpkg -i$debs"
installed="libcaplimit-dev caplimit libcaplimit1"
# shellcheck disable=SC2086 # a list of files
if ! dpkg -i $debs > "$tmp/install.log" 2>&1; then
    cat "$tmp/install.log" >&2
    die "dpkg -i failed"
fi

multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
cp "$top/tests/check-cmake.sh" "$tmp/" || exit 99
cat > "$tmp/user.c" <<'PROG'
#include <caplimit.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(void)
{
    caplimit_t *lim;
    char line[80], name[64];
    int bad = 0;

    if (caplimit_create(&lim, 1) != 0)
        return 1;
    bad |= caplimit_acquire(lim) != 0;
    bad |= caplimit_acquire_nowait(lim) != EDEADLK;
    caplimit_format(lim, line, sizeof line);
    puts(line);
    bad |= caplimit_release(lim) != 0;
    bad |= caplimit_destroy(lim) != 0;
    /* a shared limiter: shm_open, from -lrt on an old glibc */
    snprintf(name, sizeof name, "/pkgtest-user-%ld", (long)getpid());
    if (caplimit_open(&lim, name, O_CREAT | O_EXCL, 0600, 1) != 0)
        return 1;
    bad |= caplimit_unlink(name) != 0;
    bad |= caplimit_acquire(lim) != 0;
    bad |= caplimit_release(lim) != 0;
    bad |= caplimit_destroy(lim) != 0;
    return bad;
}
PROG
cc=${CC:-cc}
# shellcheck disable=SC2046 # pkg-config's flags are lists
if ! $cc -Wall -Werror -o "$tmp/user-shared" "$tmp/user.c" $(pkg-config --cflags --libs caplimit); then
    bad "cc prog.c \$(pkg-config --cflags --libs caplimit) fails"
elif ! "$tmp/user-shared"; then
    bad "the program linked with pkg-config's flags fails"
elif ! readelf -d "$tmp/user-shared" | grep -q 'NEEDED.*libcaplimit\.so\.1'; then
    bad "the program does not need libcaplimit.so.1"
else
    log "pkg-config, shared: ok"
fi
static=$(pkg-config --static --libs caplimit)
# shellcheck disable=SC2086 # split on purpose
dups=$(printf '%s\n' $static | sort | uniq -d)
[ -z "$dups" ] || bad "pkg-config --static --libs caplimit repeats flags: $dups"
# shellcheck disable=SC2046,SC2086
if ! $cc -Wall -Werror -o "$tmp/user-static" "$tmp/user.c" $(pkg-config --cflags caplimit) \
        -Wl,-Bstatic $(pkg-config --libs-only-l caplimit) -Wl,-Bdynamic \
        $(pkg-config --static --libs-only-other caplimit); then
    bad "a static link with pkg-config --static fails"
elif ! "$tmp/user-static"; then
    bad "the program linked with libcaplimit.a fails"
elif readelf -d "$tmp/user-static" | grep -q 'NEEDED.*libcaplimit'; then
    bad "the static program still needs libcaplimit.so"
else
    log "pkg-config, static ($static): ok"
fi
[ -f "/usr/lib/$multiarch/cmake/caplimit/caplimit-config.cmake" ] \
    || bad "no /usr/lib/$multiarch/cmake/caplimit/caplimit-config.cmake"
CL_PREFIX=/usr CL_CMAKEDIR="/usr/lib/$multiarch/cmake/caplimit" CC=$cc \
    bash "$tmp/check-cmake.sh" || bad "the CMake consumer fails"
# Found through /lib -> usr/lib (merged /usr), the package must still
# name /usr/include, not /include.
if [ -L /lib ] && [ "$(readlink -f /lib)" = /usr/lib ]; then
    CL_PREFIX=/ CC=$cc bash "$tmp/check-cmake.sh" \
        || bad "the CMake consumer fails when the package is found through /lib"
fi
if ! caplimit --version > "$tmp/version.out" 2>&1; then
    cat "$tmp/version.out" >&2
    bad "caplimit --version fails"
else
    log "caplimit --version: $(head -n 1 "$tmp/version.out")"
fi
# The installed command on a limiter of its own: created by run, seen by
# status, removed by unlink (and by cleanup if a step fails).
shm=/pkgtest-$$
json_has() {
    for kv; do
        grep -Eq "[{,]${kv}[,}]" "$tmp/status.json" || return 1
    done
}
if ! caplimit run "$shm" -n 1 -- true; then
    bad "caplimit run $shm -n 1 -- true fails"
elif ! caplimit status --json "$shm" > "$tmp/status.json" 2>&1; then
    cat "$tmp/status.json" >&2
    bad "caplimit status --json $shm fails"
elif ! json_has "\"name\":\"$shm\"" '"total_tokens":1' '"borrowed_tokens":0' \
        '"granted_at_once":1'; then
    cat "$tmp/status.json" >&2
    bad "caplimit status --json $shm: not a free limiter of 1 token that granted 1 run"
elif ! caplimit unlink "$shm"; then
    bad "caplimit unlink $shm fails"
elif [ -e "/dev/shm/${shm#/}" ]; then
    bad "caplimit unlink $shm leaves /dev/shm/${shm#/}"
else
    log "caplimit run, status --json, unlink: ok"
fi
# Every page of man/ is in its package: section 1 in caplimit, the API and
# the overview in libcaplimit-dev.
dpkg-query -L caplimit > "$tmp/caplimit.files"
dpkg-query -L libcaplimit-dev > "$tmp/libcaplimit-dev.files"
for page in "$top"/man/*.[0-9]; do
    page=${page##*/} sect=${page##*.}
    case $sect in 1) want=caplimit ;; *) want=libcaplimit-dev ;; esac
    file=/usr/share/man/man$sect/$page.gz
    grep -qxF "$file" "$tmp/$want.files" || bad "$file is not in $want"
done
man -w caplimit_create >/dev/null 2>&1 || bad "man caplimit_create finds no page"
man -w 7 caplimit >/dev/null 2>&1 || bad "man 7 caplimit finds no page"

[ "$fail" -eq 0 ] && log "ok"
exit $fail
