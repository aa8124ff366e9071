#!/bin/sh
# SPDX-License-Identifier: MIT
# Copyright (c) 2026 The libcaplimit authors
#
# localize-archive.sh ARCHIVE: rewrite ARCHIVE as one relocatable object
# whose only global definitions are caplimit_*.  The members are linked
# with ld -r (references between them are resolved there, so they survive
# the symbols becoming local), then objcopy makes every hidden symbol and
# every defined symbol outside caplimit_* local.  Undefined references
# (libc, pthreads) stay as they are.  Absent ARCHIVE (--disable-static):
# nothing to do.  Environment: LD, OBJCOPY, AR, RANLIB.
set -eu
archive=$1
[ -f "$archive" ] || exit 0
ld=${LD:-ld}
objcopy=${OBJCOPY:-objcopy}
ar=${AR:-ar}
ranlib=${RANLIB:-ranlib}

tmp=$archive.localize
rm -rf "$tmp"
mkdir "$tmp"
trap 'rm -rf "$tmp"' EXIT
# --whole-archive takes every member, even two of the same name.
# shellcheck disable=SC2086 # LD may carry options (-m elf_x86_64)
$ld -r -o "$tmp/caplimit.o" --whole-archive "$archive"
$objcopy --localize-hidden --wildcard --keep-global-symbol='caplimit_*' \
    "$tmp/caplimit.o"
$ar cr "$tmp/new.a" "$tmp/caplimit.o"
$ranlib "$tmp/new.a"
mv -f "$tmp/new.a" "$archive"
