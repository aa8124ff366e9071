#!/bin/sh
# SPDX-License-Identifier: MIT
# Copyright (c) 2026 The libcaplimit authors
#
# tests/stress ends on its own: asked to run 60 s with a 1 s watchdog, it
# must stop, failing, within a few seconds (so a hang under a bug fails
# make check instead of stalling it).
set -u
builddir=${CL_TOP_BUILDDIR:-.}
stress=$builddir/tests/stress
[ -x "$stress" ] || { echo "check-stress-watchdog: $stress is not built" >&2; exit 99; }
start=$(date +%s)
STRESS_SECONDS=60 STRESS_WATCHDOG_SECONDS=1 "$stress" >/dev/null 2>&1 &
pid=$!
# our own bound, in case the watchdog is missing
i=0
while kill -0 $pid 2>/dev/null && [ $i -lt 20 ]; do
    sleep 1
    i=$((i + 1))
done
kill -KILL $pid 2>/dev/null
wait $pid
rc=$?
took=$(( $(date +%s) - start ))
if [ $rc -ne 1 ] || [ $took -gt 10 ]; then
    echo "check-stress-watchdog: status $rc after $took s (want 1 within 10 s)" >&2
    exit 1
fi
echo "check-stress-watchdog: ended by the watchdog after $took s"
