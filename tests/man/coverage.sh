#!/bin/sh
# SPDX-License-Identifier: MIT
# Copyright (c) 2026 The libcaplimit authors
#
# Every symbol that the built library exports has a page (or a link page)
# whose NAME and SYNOPSIS name it; every public macro of the header is
# documented; every error number that a function can return (the table
# below, from the spec's error table and lib/) is in the ERRORS section of
# its page, and that section lists no other; every page is installed.
# Exit 77 (skip) when nm is missing.
set -u
srcdir=${srcdir:-.}
builddir=${CL_TOP_BUILDDIR:-.}
nm=${CL_NM:-nm}
command -v "${nm%% *}" >/dev/null 2>&1 || { echo "coverage.sh: no nm: skipped"; exit 77; }

# function: the errors it can return (R-rules in the spec).  EPROTO (R27)
# comes from the calls that pass on what cl_unlock answers, on a shared
# limiter only; ENOSPC (R28) from the calls that reserve a slot in one.
errors_of() {
    acq="EINVAL EDEADLK ECANCELED EOVERFLOW ENOMEM EPROTO ENOSPC"
    case $1 in
    caplimit_create)                      echo "EINVAL ENOMEM" ;;
    caplimit_destroy)                     echo "EINVAL EBUSY" ;;
    caplimit_open)                        echo "EINVAL ENAMETOOLONG ENOENT EEXIST EACCES EPROTO ENOMEM EMFILE ENFILE ENOSPC" ;;
    caplimit_unlink)                      echo "EINVAL ENAMETOOLONG ENOENT EACCES" ;;
    caplimit_acquire|caplimit_acquire_on_behalf_of|caplimit_acquire_tokens|\
    CAPLIMIT_WITH|CAPLIMIT_WITH_TOKENS)   echo "$acq" ;;
    caplimit_acquire_nowait|caplimit_acquire_on_behalf_of_nowait|\
    caplimit_acquire_tokens_nowait)       echo "$acq EWOULDBLOCK" ;;
    caplimit_acquire_until|caplimit_acquire_on_behalf_of_until|\
    caplimit_acquire_tokens_until)        echo "$acq ETIMEDOUT" ;;
    caplimit_release|caplimit_release_on_behalf_of|caplimit_release_tokens)
                                          echo "EINVAL EPERM EPROTO" ;;
    caplimit_drain)                       echo "EINVAL ETIMEDOUT ENOMEM EPROTO ENOSPC" ;;
    caplimit_set_total_tokens|caplimit_close|caplimit_get_policy|\
    caplimit_set_policy|caplimit_counters) echo "EINVAL EPROTO" ;;
    caplimit_statistics)                  echo "EINVAL ENOMEM EPROTO" ;;
    caplimit_set_reentrant)               echo "EINVAL EBUSY EPROTO" ;;
    caplimit_total_tokens|caplimit_borrowed_tokens|caplimit_available_tokens|\
    caplimit_threads_waiting|caplimit_statistics_destroy|caplimit_format|\
    caplimit_is_closed|caplimit_holds|caplimit_holds_on_behalf_of|\
    caplimit_is_shared|\
    caplimit_version|CAPLIMIT_VERSION_MAJOR|CAPLIMIT_VERSION_MINOR|\
    CAPLIMIT_VERSION_PATCH|CAPLIMIT_VERSION_HEX) echo "" ;;
    *) echo "UNKNOWN" ;;
    esac
}

# The page that documents a name: follows one .so link.
page_of() {
    p="$srcdir/man/$1.3"
    [ -f "$p" ] || return 1
    if head -n 1 "$p" | grep -q '^\.so '; then
        p="$srcdir/man/$(sed -n '1s/^\.so  *man3\///p' "$p")"
        [ -f "$p" ] || return 1
    fi
    echo "$p"
}

section() {     # section NAME page: the text of .SH NAME up to the next .SH
    awk -v sh="$1" '/^\.SH / { on = ($0 == ".SH " sh) ; next } on' "$2"
}

so=$builddir/lib/.libs/libcaplimit.so
if [ -f "$so" ]; then
    syms=$($nm -D --defined-only "$so" | awk '$2 == "T" { sub(/@.*/, "", $3); print $3 }')
else
    lib=$builddir/lib/.libs/libcaplimit.a
    [ -f "$lib" ] || { echo "coverage.sh: no built library in $builddir/lib" >&2; exit 1; }
    syms=$($nm -g --defined-only "$lib" | awk '$2 == "T" { print $3 }')
fi
[ -n "$syms" ] || { echo "coverage.sh: no symbols found" >&2; exit 1; }

# Public macros of the header that take arguments or name constants (a
# trailing underscore marks a private helper of a macro).
macros=$(sed -n 's/^#define \(CAPLIMIT_[A-Z][A-Z0-9_]*\).*/\1/p' "$srcdir/include/caplimit.h" \
         | grep -v -e '^CAPLIMIT_H$' -e '^CAPLIMIT_API$' -e '_$' | sort -u)

fail=0
bad() { echo "coverage.sh: $*"; fail=1; }

for s in $syms; do
    case $s in caplimit_*) ;; *) bad "exported symbol $s is not caplimit_*"; continue ;; esac
    page=$(page_of "$s") || { bad "$s: no page man/$s.3"; continue; }
    section NAME "$page" | grep -q "\\<$s\\>" || bad "$s: not in the NAME of $page"
    section SYNOPSIS "$page" | grep -q "\\<$s(" || bad "$s: not in the SYNOPSIS of $page"
done
for m in $macros; do
    grep -q "\\<$m\\>" "$srcdir"/man/*.[37] || bad "macro $m is documented nowhere"
done

# Errors: each page's ERRORS tags against the union of its functions' errors.
for page in "$srcdir"/man/*.3; do
    head -n 1 "$page" | grep -q '^\.so ' && continue
    names=$(section NAME "$page" | tr '\n' ' ' | sed 's/\\-.*//' | tr ',' '\n' | sed 's/^ *//; s/ *$//' | grep .)
    documented=$(section ERRORS "$page" | awk 'prev == ".TP" && /^\.B E[A-Z]+$/ { print $2 } { prev = $0 }' | sort -u)
    want=
    for f in $names; do
        e=$(errors_of "$f")
        [ "$e" = UNKNOWN ] && { bad "$page: $f is not in the table of errors"; continue; }
        for code in $e; do
            echo "$documented" | grep -qx "$code" || bad "$page: $f can return $code, not in ERRORS"
        done
        want="$want $e"
    done
    for code in $documented; do
        echo "$want" | tr ' ' '\n' | grep -qx "$code" || bad "$page: ERRORS lists $code, which none of its functions returns"
    done
done

# Every page is installed (dist_man_MANS), when the Makefile tells us.
if [ -n "${CL_MAN_PAGES:-}" ]; then
    for page in "$srcdir"/man/*.[37]; do
        echo " $CL_MAN_PAGES " | grep -q " man/${page##*/} " || bad "${page##*/} is not in dist_man_MANS"
    done
fi

[ "$fail" -eq 0 ] && echo "coverage.sh: $(echo "$syms" | wc -w) symbols, $(echo "$macros" | wc -w) macros documented"
exit $fail
