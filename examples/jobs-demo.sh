#!/bin/sh
# SPDX-License-Identifier: MIT
# Copyright (c) 2026 The libcaplimit authors
#
# Three "shells" (a make, a ninja and a cargo build, say) each run three
# link jobs, through one shared limiter of two slots: never more than two
# links at once, in the order they asked, and a job killed with SIGKILL
# gives its slot back.  `caplimit status` shows the queue in between.
#
#   examples/jobs-demo.sh [CAPLIMIT]     (default: ./cmd/caplimit, or PATH)
set -u
caplimit=${1:-${CAPLIMIT:-}}
if [ -z "$caplimit" ]; then
    if [ -x ./cmd/caplimit ]; then caplimit=./cmd/caplimit; else caplimit=caplimit; fi
fi
name=caplimit-demo-$$
dir=$(mktemp -d "${TMPDIR:-/tmp}/caplimit-demo.XXXXXX") || exit 1
trap '"$caplimit" unlink "$name" 2>/dev/null; rm -rf "$dir"' EXIT
trap 'exit 130' INT TERM HUP

waiting() {   # the number of runs queued in the limiter
    "$caplimit" status --json "$name" 2>/dev/null |
        sed -n 's/.*"threads_waiting":\([0-9]*\).*/\1/p'
}

# A link job of WHO, number JOB; cargo's second one hangs.
cat > "$dir/link" <<'SH'
#!/bin/sh
printf '%-6s link %s: linking   (pid %s)\n' "$1" "$2" "$$"
[ "$1" = cargo ] && [ "$2" = 2 ] && { echo $$ > "$3/victim"; sleep 30; }
sleep 0.4
printf '%-6s link %s: done\n' "$1" "$2"
SH

# shell WHO: three link jobs, one after the other, each under the limiter.
shell() {
    for job in 1 2 3; do
        "$caplimit" run "$name" -n 2 -- sh "$dir/link" "$1" "$job" "$dir"
        rc=$?
        [ $rc -eq 0 ] || printf '%-6s link %s: ended with status %s\n' "$1" "$job" "$rc"
    done
}

echo "== three builds, one limiter '$name' of 2 slots"
"$caplimit" run "$name" -n 2 -- true || exit 1
shell make &
shell ninja &
shell cargo 2>/dev/null &      # not the shell's own "Killed" for the kill -9


# Once the slots are taken and a job waits, show who holds what.
while [ "$(waiting)" = 0 ]; do sleep 0.05; done
echo "== caplimit status $name"
"$caplimit" status "$name" | sed 's/^/   /'

# One link hangs: kill it (and its caplimit) with SIGKILL; the slot comes back.
while [ ! -s "$dir/victim" ]; do sleep 0.05; done
holder=$(ps -o ppid= -p "$(cat "$dir/victim")" | tr -d ' ')
echo "== kill -9 the caplimit of the hanging cargo link (pid $holder)"
kill -9 "$holder"

wait
echo "== caplimit status --json $name"
"$caplimit" status --json "$name"
