#!/bin/sh
# SPDX-License-Identifier: MIT
# Copyright (c) 2026 The libcaplimit authors
#
# Checks the installed CMake package as a CMake user sees it: a project
# with find_package(caplimit 1.0 REQUIRED) and caplimit::caplimit builds
# and runs, linked with the shared library and, with
# CAPLIMIT_USE_STATIC_LIBS, with the archive; a request for version 2
# is refused.  A DESTDIR installation is found through its staged prefix,
# which proves the package relocatable.
#
# Run by `make check-install-cmake' (a temporary DESTDIR), `make
# installcheck' (as make distcheck does) and tests/packaging/check-deb.sh
# (the system's paths: CL_PREFIX=/usr, nothing else).  Environment:
#   CL_DESTDIR   the staging root, or empty
#   CL_PREFIX    the configured prefix (CMAKE_PREFIX_PATH)
#   CL_LIBDIR    where the libraries are, for the run (optional)
#   CL_CMAKEDIR  where caplimit-config.cmake must be (optional)
#   CC, CMAKE
# Exits 77 (skip) without cmake.
set -u
root=${CL_DESTDIR:-}
prefix=${CL_PREFIX:-/usr}
cmake=${CMAKE:-cmake}
[ -n "$cmake" ] || cmake=cmake
command -v "$cmake" >/dev/null 2>&1 \
    || { echo "check-cmake.sh: SKIP: cmake not found"; exit 77; }

fail=0
bad() { echo "check-cmake.sh: $*" >&2; fail=1; }

if [ -n "${CL_CMAKEDIR:-}" ]; then
    for f in caplimit-config.cmake caplimit-config-version.cmake; do
        [ -f "$root$CL_CMAKEDIR/$f" ] || bad "$f is not in $root$CL_CMAKEDIR"
    done
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/caplimit-cmake.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/src" "$tmp/old"
cat > "$tmp/src/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.13)
project(caplimit_user C)
find_package(caplimit 1.0 REQUIRED)
add_executable(user user.c)
target_link_libraries(user PRIVATE caplimit::caplimit)
get_target_property(type caplimit::caplimit TYPE)
get_target_property(inc caplimit::caplimit INTERFACE_INCLUDE_DIRECTORIES)
message(STATUS "caplimit ${caplimit_VERSION}: ${type} (${caplimit_DIR}, -I${inc})")
CMAKE
cat > "$tmp/src/user.c" <<'PROG'
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
    bad |= caplimit_acquire_nowait(lim) != 0;
    bad |= caplimit_acquire_nowait(lim) != EDEADLK;
    caplimit_format(lim, line, sizeof line);
    puts(line);
    bad |= caplimit_release(lim) != 0;
    bad |= caplimit_destroy(lim) != 0;
    return bad;
}
PROG
cat > "$tmp/old/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.13)
project(caplimit_old C)
find_package(caplimit 2.0)
if(caplimit_FOUND)
  message(FATAL_ERROR "caplimit ${caplimit_VERSION} was taken for 2.0")
endif()
CMAKE

# build NAME [CMAKE-ARGS...]: configure and build the project in $tmp/NAME
build() {
    b=$tmp/$1
    shift
    if ! CC=${CC:-cc} "$cmake" -S "$tmp/src" -B "$b" \
            -DCMAKE_PREFIX_PATH="$root$prefix" "$@" > "$b.log" 2>&1 \
            || ! "$cmake" --build "$b" >> "$b.log" 2>&1; then
        cat "$b.log" >&2
        return 1
    fi
    grep 'caplimit [0-9.]*: ' "$b.log"
}
run() {
    LD_LIBRARY_PATH=${CL_LIBDIR:+$root$CL_LIBDIR}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$1"
}

if ! build shared; then
    bad "a CMake project does not build with find_package(caplimit)"
elif ! run "$tmp/shared/user"; then
    bad "the program built with caplimit::caplimit fails"
elif ! grep -q 'caplimit 1[.0-9]*: SHARED_LIBRARY' "$tmp/shared.log"; then
    bad "caplimit::caplimit is not the shared library"
fi

if ! build static -DCAPLIMIT_USE_STATIC_LIBS=ON; then
    bad "a CMake project does not build with CAPLIMIT_USE_STATIC_LIBS"
elif ! grep -q 'caplimit 1[.0-9]*: STATIC_LIBRARY' "$tmp/static.log"; then
    echo "check-cmake.sh: no static archive installed; static link not checked"
elif ! run "$tmp/static/user"; then
    bad "the program linked with the static archive fails"
elif command -v readelf >/dev/null 2>&1 \
        && readelf -d "$tmp/static/user" | grep -q 'NEEDED.*libcaplimit'; then
    bad "the static build still needs libcaplimit.so"
fi

if ! "$cmake" -S "$tmp/old" -B "$tmp/old/b" -DCMAKE_PREFIX_PATH="$root$prefix" \
        > "$tmp/old.log" 2>&1; then
    cat "$tmp/old.log" >&2
    bad "find_package(caplimit 2.0) accepted version 1"
fi

[ "$fail" -eq 0 ] && echo "check-cmake.sh: ok"
exit $fail
