#!/bin/sh
# SPDX-License-Identifier: MIT
# Copyright (c) 2026 The libcaplimit authors
#
# caplimit(1) driven as users drive it: real `caplimit run` processes,
# real commands, kill -9.  Nothing sleeps to synchronise: every wait polls
# `caplimit status --json` or a file under a deadline.  Each limiter is
# named /caplimit-test-PID-N and unlinked on exit, however the test ends;
# the whole script runs under timeout(1).
#
# Environment: CAPLIMIT (the binary; default $CL_TOP_BUILDDIR/cmd/caplimit).
set -u
if [ -z "${CL_CMD_TIMED:-}" ] && command -v timeout >/dev/null 2>&1; then
    CL_CMD_TIMED=1 exec timeout -k 10 300 "${SHELL:-/bin/sh}" "$0" "$@"
fi
CAPLIMIT=${CAPLIMIT:-${CL_TOP_BUILDDIR:-.}/cmd/caplimit}
case $CAPLIMIT in /*) ;; *) CAPLIMIT=$(pwd)/$CAPLIMIT ;; esac
[ -x "$CAPLIMIT" ] || { echo "check-command: no $CAPLIMIT" >&2; exit 99; }
command -v python3 >/dev/null 2>&1 || { echo "check-command: no python3: skipped"; exit 77; }
[ -d /dev/shm ] || { echo "check-command: no /dev/shm: skipped"; exit 77; }

T=$(mktemp -d "${TMPDIR:-/tmp}/caplimit-cmd.XXXXXX") || exit 99
export T
PREFIX=caplimit-test-$$
names=
serial=0
failures=0
tests=0

cleanup() {
    for f in "$T"/*.cpid; do           # release every holder, stop every run
        [ -f "$f" ] || continue
        touch "${f%.cpid}.go"
        kill -9 "$(cat "$f")" 2>/dev/null
    done
    for n in $names; do
        "$CAPLIMIT" unlink "$n" 2>/dev/null
    done
    rm -f "/dev/shm/$PREFIX-junk"
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 124' INT TERM HUP

# ---- helpers ----------------------------------------------------------------

# new_name: a fresh limiter name in $N, unlinked at exit.
new_name() {
    serial=$((serial + 1))
    N=$PREFIX-$serial
    names="$names $N"
}

ok() { tests=$((tests + 1)); echo "ok $tests - $*"; }
bad() { tests=$((tests + 1)); failures=$((failures + 1)); echo "not ok $tests - $*"; }
# expect WHAT ACTUAL WANTED
expect() {
    if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got '$2', want '$3'"; fi
}

# poll_until SHELL-CONDITION [SECONDS]
poll_until() {
    _end=$(($(date +%s) + ${2:-20}))
    while ! eval "$1"; do
        if [ "$(date +%s)" -ge "$_end" ]; then
            echo "# timed out waiting for: $1" >&2
            return 1
        fi
        sleep 0.02
    done
}

# q NAME PYTHON-EXPRESSION: the expression over the JSON object d of NAME.
q() {
    "$CAPLIMIT" status --json "$1" 2>/dev/null | python3 -c '
import json, sys
d = json.loads(sys.stdin.readline())
print(json.dumps(eval(sys.argv[1])))' "$2" 2>/dev/null
}

# alive PID: the process exists and is no zombie.
alive() {
    [ -r "/proc/$1/stat" ] || return 1
    _state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
    [ -n "$_state" ] && [ "$_state" != Z ]
}

# start ID ARG...: `caplimit ARG...` in the background.  $T/ID.cpid gets
# caplimit's pid, $T/ID.err its standard error, $T/ID.rc its exit status.
start() {
    _id=$1
    shift
    rm -f "$T/$_id".*                  # IDs are reused from test to test
    (
        sh -c 'echo $$ > "$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$T/$_id.cpid" \
            "$CAPLIMIT" "$@" 2> "$T/$_id.err"
        echo $? > "$T/$_id.rc.tmp" && mv "$T/$_id.rc.tmp" "$T/$_id.rc"
    ) &
    poll_until "[ -s '$T/$_id.cpid' ]"
}

# rc ID: waits for the background run ID to end; its exit status.
rc() {
    poll_until "[ -s '$T/$1.rc' ]" 60 && cat "$T/$1.rc"
}

# The command of a holding run: says it started ($T/ID.pid), then waits
# until $T/ID.go exists.
cat > "$T/hold.sh" <<'SH'
#!/bin/sh
echo $$ > "$T/$1.pid.tmp" && mv "$T/$1.pid.tmp" "$T/$1.pid"
while [ ! -e "$T/$1.go" ]; do sleep 0.02; done
SH
# hold ID NAME [OPTION...]: a run holding tokens of NAME until release ID.
hold() {
    _id=$1 _name=$2
    shift 2
    start "$_id" run "$_name" "$@" -- sh "$T/hold.sh" "$_id"
}
release() { touch "$T/$1.go"; }
started() { [ -s "$T/$1.pid" ]; }

# ---- usage and errors -------------------------------------------------------

usage_is_64() {
    out=$("$CAPLIMIT" "$@" 2>&1 >/dev/null)
    code=$?
    case $out in
    caplimit:*) expect "usage: caplimit $* exits 64" "$code" 64 ;;
    *) bad "usage: caplimit $*: message '$out' does not start with 'caplimit:'" ;;
    esac
}

t_usage() {
    new_name
    usage_is_64
    usage_is_64 frobnicate
    usage_is_64 run
    usage_is_64 run "$N"
    usage_is_64 run "$N" --
    usage_is_64 run "$N" -n abc -- true
    usage_is_64 run "$N" -n -1 -- true
    usage_is_64 run "$N" -t 0 -- true
    usage_is_64 run "$N" -t x -- true
    usage_is_64 run "$N" -w -1 -- true
    usage_is_64 run "$N" -w soon -- true
    usage_is_64 run "$N" -x -- true
    usage_is_64 run "$N" -n
    usage_is_64 run a/b -- true
    usage_is_64 run "$(printf '%0201d' 0)" -- true
    usage_is_64 status --bogus
    usage_is_64 set "$N"
    usage_is_64 set "$N" lots
    usage_is_64 close
    usage_is_64 unlink "$N" "$N"
    [ ! -e "/dev/shm/$N" ] && ok "usage: bad usage creates nothing" \
        || bad "usage: /dev/shm/$N was created"
}

t_missing() {
    new_name
    for sub in "status" "status --json" "set" "close" "unlink"; do
        extra=
        [ "$sub" = set ] && extra=3
        # shellcheck disable=SC2086 # sub may be two words
        out=$("$CAPLIMIT" $sub "$N" $extra 2>&1 >/dev/null)
        expect "missing: caplimit $sub exits 69" "$?" 69
        expect "missing: caplimit $sub says so" "$out" "caplimit: $N: no such limiter"
    done
    out=$("$CAPLIMIT" status "/$N" 2>&1 >/dev/null)
    expect "missing: a leading / names the same limiter" "$out" "caplimit: /$N: no such limiter"
}

t_version_help() {
    out=$("$CAPLIMIT" --version)
    expect "--version exits 0" "$?" 0
    case $out in
    "caplimit "*libcaplimit*) ok "--version names the library's version" ;;
    *) bad "--version: '$out'" ;;
    esac
    out=$("$CAPLIMIT" --help)
    expect "--help exits 0" "$?" 0
    case $out in
    *"caplimit run NAME"*"caplimit status"*) ok "--help shows the synopsis" ;;
    *) bad "--help: no synopsis" ;;
    esac
}

# ---- run --------------------------------------------------------------------

t_exit_status() {
    new_name
    "$CAPLIMIT" run "$N" -n 1 -- true
    expect "run: exit status 0" "$?" 0
    "$CAPLIMIT" run "$N" -- sh -c 'exit 3'
    expect "run: exit status 3" "$?" 3
    "$CAPLIMIT" run "$N" -- sh -c 'kill -TERM $$'
    expect "run: a command ended by SIGTERM: 143" "$?" 143
    "$CAPLIMIT" run "$N" -- sh -c 'kill -KILL $$'
    expect "run: a command ended by SIGKILL: 137" "$?" 137
    out=$("$CAPLIMIT" run "$N" -- "$T/no-such-command" 2>&1)
    expect "run: a command that does not exist: 127" "$?" 127
    case $out in
    "caplimit: $T/no-such-command: "*) ok "run: says which command is missing" ;;
    *) bad "run: missing command message '$out'" ;;
    esac
    "$CAPLIMIT" run "$N" -- sh -c 'exit 0' </dev/null
    expect "run: tokens back after each run" "$(q "$N" 'd["borrowed_tokens"]')" 0
    expect "run: -n 1 made the limiter" "$(q "$N" 'd["total_tokens"]')" 1
    expect "run: every run was counted" \
        "$(q "$N" 'd["counters"]["granted_at_once"] + d["counters"]["granted_after_wait"]')" 6
    out=$("$CAPLIMIT" run "$N" -- sh -c 'echo "$0 $1"' one two)
    expect "run: the command gets its arguments and standard output" "$out" "one two"
    out=$(echo piped | "$CAPLIMIT" run "$N" -- cat)
    expect "run: the command gets standard input" "$out" piped
    new_name
    "$CAPLIMIT" run "$N" -- true
    expect "run: -n defaults to the online CPUs" "$(q "$N" 'd["total_tokens"]')" \
        "$(getconf _NPROCESSORS_ONLN)"
}

# Many runs at once never run more commands than the total (R5, R26).
t_concurrency() {
    new_name
    cat > "$T/work.sh" <<'SH'
#!/bin/sh
echo + >> "$T/conc.log"
i=0; while [ $i -lt 200 ]; do i=$((i + 1)); done
sleep 0.05
echo - >> "$T/conc.log"
SH
    : > "$T/conc.log"
    "$CAPLIMIT" run "$N" -n 2 -- true
    i=0
    while [ $i -lt 10 ]; do
        i=$((i + 1))
        start "c$i" run "$N" -- sh "$T/work.sh"
    done
    all=0
    i=0
    while [ $i -lt 10 ]; do
        i=$((i + 1))
        [ "$(rc "c$i")" = 0 ] && all=$((all + 1))
    done
    expect "concurrency: every run exits 0" "$all" 10
    max=$(awk '/\+/ { n++; if (n > m) m = n } /-/ { n-- } END { print m }' "$T/conc.log")
    if [ "$max" -le 2 ] && [ "$max" -ge 1 ]; then
        ok "concurrency: at most 2 commands at once ($max seen)"
    else
        bad "concurrency: $max commands at once with 2 tokens"
    fi
    expect "concurrency: 20 entries and exits" "$(wc -l < "$T/conc.log" | tr -d ' ')" 20
    expect "concurrency: all tokens back" "$(q "$N" 'd["borrowed_tokens"]')" 0
}

# Two holders of two tokens: the third run waits, then goes in FIFO order.
t_two_at_once() {
    new_name
    hold a "$N" -n 2
    hold b "$N"
    poll_until "started a && started b"
    start c run "$N" -- sh "$T/hold.sh" c
    poll_until "[ \"\$(q $N 'd[\"threads_waiting\"]')\" = 1 ]"
    started c && bad "two at once: a third command started" \
        || ok "two at once: the third run waits"
    expect "two at once: 2 borrowed" "$(q "$N" 'd["borrowed_tokens"]')" 2
    expect "two at once: the holders are the two caplimit processes" \
        "$(q "$N" 'sorted(h["pid"] for h in d["holders"])')" \
        "$(python3 -c 'import sys; print(sorted(map(int, sys.argv[1:])))' \
            "$(cat "$T/a.cpid")" "$(cat "$T/b.cpid")")"
    expect "two at once: holders are object borrowers of 1 token, level 1" \
        "$(q "$N" 'sorted({(h["kind"], h["tokens"], h["level"]) for h in d["holders"]})')" \
        '[["object", 1, 1]]'
    out=$("$CAPLIMIT" status "$N")
    case $out in
    *"$(cat "$T/a.cpid")"*hold.sh*) ok "two at once: the table shows holders and commands" ;;
    *) bad "two at once: table: $out" ;;
    esac
    release a
    poll_until "started c"
    expect "two at once: a's exit" "$(rc a)" 0
    release b
    release c
    expect "two at once: b's exit" "$(rc b)" 0
    expect "two at once: c's exit" "$(rc c)" 0
    expect "two at once: c waited" "$(q "$N" 'd["counters"]["granted_after_wait"]')" 1
}

t_wait_timeout() {
    new_name
    hold a "$N" -n 1
    poll_until "started a"
    "$CAPLIMIT" run "$N" -w 0.3 -- touch "$T/ran"
    expect "-w: gives up with 75" "$?" 75
    [ -e "$T/ran" ] && bad "-w: the command ran" || ok "-w: the command did not run"
    "$CAPLIMIT" run "$N" -w 0 -- touch "$T/ran"
    expect "-w 0 on a busy limiter: 75" "$?" 75
    expect "-w: the queue is empty again" "$(q "$N" 'd["threads_waiting"]')" 0
    expect "-w: counted as timed out" "$(q "$N" 'd["counters"]["timed_out"]')" 2
    release a
    expect "-w: the holder's exit" "$(rc a)" 0
    "$CAPLIMIT" run "$N" -w 0 -- touch "$T/ran"
    expect "-w 0 with a free token runs" "$?" 0
    [ -e "$T/ran" ] && ok "-w 0: the command ran" || bad "-w 0: the command did not run"
    new_name
    hold a2 "$N" -n 1
    poll_until "started a2"
    start w run "$N" -w 30 -- touch "$T/ran2"
    poll_until "[ \"\$(q $N 'd[\"threads_waiting\"]')\" = 1 ]"
    release a2
    expect "-w: a run granted in time exits 0" "$(rc w)" 0
    [ -e "$T/ran2" ] && ok "-w: granted in time, the command ran" || bad "-w: ran2 missing"
}

# R23 through -t: weights, and FIFO order that a smaller request cannot jump.
t_weights() {
    new_name
    hold a "$N" -n 3 -t 2
    poll_until "started a"
    expect "-t: one holder with 2 tokens" "$(q "$N" '[h["tokens"] for h in d["holders"]]')" "[2]"
    expect "-t: 2 borrowed" "$(q "$N" 'd["borrowed_tokens"]')" 2
    start b run "$N" -t 2 -- sh "$T/hold.sh" b
    poll_until "[ \"\$(q $N 'd[\"tokens_waiting\"]')\" = 2 ]"
    "$CAPLIMIT" run "$N" -t 1 -w 0.3 -- touch "$T/jumped"
    expect "-t: a 1-token run does not jump a queued 2-token run" "$?" 75
    [ -e "$T/jumped" ] && bad "-t: the 1-token command ran" || ok "-t: FIFO kept"
    release a
    poll_until "started b"
    expect "-t: the 2-token run follows" "$(q "$N" '[h["tokens"] for h in d["holders"]]')" "[2]"
    release b
    expect "-t: b's exit" "$(rc b)" 0
    out=$("$CAPLIMIT" run "$N" -t 4 -w 0.2 -- true 2>&1)
    expect "-t beyond the total waits, then -w gives up" "$?" 75
    case $out in
    *"4 tokens asked, the total is 3"*) ok "-t beyond the total is reported" ;;
    *) bad "-t beyond the total: '$out'" ;;
    esac
}

# ---- processes that die ---------------------------------------------------

t_kill_waiting() {
    new_name
    hold a "$N" -n 1
    poll_until "started a"
    start w run "$N" -- sh "$T/hold.sh" w
    poll_until "[ \"\$(q $N 'd[\"threads_waiting\"]')\" = 1 ]"
    kill -9 "$(cat "$T/w.cpid")"
    expect "kill -9 waiting: caplimit died of it" "$(rc w)" 137
    poll_until "[ \"\$(q $N 'd[\"threads_waiting\"]')\" = 0 ]" \
        && ok "kill -9 waiting: its place leaves the queue" \
        || bad "kill -9 waiting: still queued"
    release a
    expect "kill -9 waiting: the holder is unaffected" "$(rc a)" 0
    started w && bad "kill -9 waiting: its command ran" || ok "kill -9 waiting: its command never ran"
    expect "kill -9 waiting: nothing borrowed" "$(q "$N" 'd["borrowed_tokens"]')" 0
}

t_kill_running() {
    new_name
    cat > "$T/tree.sh" <<'SH'
#!/bin/sh
sh "$T/hold.sh" grandchild &
echo $$ > "$T/tree.pid.tmp" && mv "$T/tree.pid.tmp" "$T/tree.pid"
wait
SH
    start x run "$N" -n 1 -- sh "$T/tree.sh"
    poll_until "[ -s '$T/tree.pid' ] && started grandchild"
    child=$(cat "$T/tree.pid")
    grandchild=$(cat "$T/grandchild.pid")
    start y run "$N" -- touch "$T/y.ran"
    poll_until "[ \"\$(q $N 'd[\"threads_waiting\"]')\" = 1 ]"
    kill -9 "$(cat "$T/x.cpid")"
    expect "kill -9 running: caplimit died of it" "$(rc x)" 137
    poll_until "! alive $child" && ok "kill -9 running: the command is killed" \
        || bad "kill -9 running: the command $child outlived its tokens"
    poll_until "! alive $grandchild" && ok "kill -9 running: its child is killed" \
        || bad "kill -9 running: the grandchild $grandchild outlived the tokens"
    expect "kill -9 running: the next run gets the token" "$(rc y)" 0
    [ -e "$T/y.ran" ] && ok "kill -9 running: the next command ran" || bad "y did not run"
    expect "kill -9 running: the token was reclaimed (R26)" \
        "$(q "$N" 'd["counters"]["reclaimed"]')" 1
    expect "kill -9 running: nothing borrowed" "$(q "$N" 'd["borrowed_tokens"]')" 0
}

# ---- signals ----------------------------------------------------------------

t_signal_waiting() {
    new_name
    hold a "$N" -n 1
    poll_until "started a"
    for sig in TERM HUP INT; do
        case $sig in TERM) want=143 ;; HUP) want=129 ;; INT) want=130 ;; esac
        if [ $sig = INT ]; then
            # A background job of sh starts with SIGINT ignored, and caplimit
            # keeps an ignored signal ignored: give it the default back.
            env --default-signal=INT true 2>/dev/null || { ok "# skip SIGINT: no env --default-signal"; continue; }
            start "s$sig" run "$N" -- touch "$T/s$sig.ran"
            kill -9 "$(cat "$T/s$sig.cpid")"
            rc "s$sig" >/dev/null
            rm -f "$T/s$sig.cpid" "$T/s$sig.rc"
            (
                env --default-signal=INT sh -c 'echo $$ > "$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' \
                    "$T/s$sig.cpid" "$CAPLIMIT" run "$N" -- touch "$T/s$sig.ran" 2>/dev/null
                echo $? > "$T/s$sig.rc.tmp" && mv "$T/s$sig.rc.tmp" "$T/s$sig.rc"
            ) &
            poll_until "[ -s '$T/s$sig.cpid' ]"
        else
            start "s$sig" run "$N" -- touch "$T/s$sig.ran"
        fi
        poll_until "[ \"\$(q $N 'd[\"threads_waiting\"]')\" = 1 ]"
        kill -$sig "$(cat "$T/s$sig.cpid")"
        expect "SIG$sig while waiting: exit $want" "$(rc "s$sig")" $want
        expect "SIG$sig while waiting: left the queue" "$(q "$N" 'd["threads_waiting"]')" 0
        [ -e "$T/s$sig.ran" ] && bad "SIG$sig while waiting: the command ran" \
            || ok "SIG$sig while waiting: the command did not run"
    done
    expect "signals while waiting: counted as cancelled" \
        "$(q "$N" 'd["counters"]["cancelled"] >= 3')" true
    release a
    expect "signals while waiting: the holder's exit" "$(rc a)" 0
    expect "signals while waiting: nothing borrowed" "$(q "$N" 'd["borrowed_tokens"]')" 0
}

t_signal_running() {
    new_name
    cat > "$T/trap.sh" <<'SH'
#!/bin/sh
trap 'echo "$1" > "$T/trapped"; exit 5' "$1"
echo $$ > "$T/trap.pid.tmp" && mv "$T/trap.pid.tmp" "$T/trap.pid"
while :; do sleep 0.02; done
SH
    for sig in TERM HUP USR1; do
        rm -f "$T/trap.pid" "$T/trapped"
        start "r$sig" run "$N" -- sh "$T/trap.sh" "$sig"
        poll_until "[ -s '$T/trap.pid' ]"
        kill -$sig "$(cat "$T/r$sig.cpid")"
        expect "SIG$sig while running: the command's exit status" "$(rc "r$sig")" 5
        expect "SIG$sig while running: passed on to the command" "$(cat "$T/trapped")" "$sig"
    done
    start r2 run "$N" -- sh -c 'echo $$ > "$T/plain.pid"; while :; do sleep 0.02; done'
    poll_until "[ -s '$T/plain.pid' ]"
    kill -TERM "$(cat "$T/r2.cpid")"
    expect "SIGTERM while running, untrapped: 143" "$(rc r2)" 143
    expect "signals while running: nothing borrowed" "$(q "$N" 'd["borrowed_tokens"]')" 0
}

# ---- status, set, close, unlink -------------------------------------------

t_status_json() {
    new_name
    a=$N
    new_name
    b=$N
    hold h "$a" -n 2 -t 2
    poll_until "started h"
    "$CAPLIMIT" run "$b" -n 5 -- true
    "$CAPLIMIT" set "$b" inf
    printf 'not a limiter' > "/dev/shm/$PREFIX-junk"
    "$CAPLIMIT" status --json "$a" "$b" > "$T/status.json"
    expect "status --json: exits 0" "$?" 0
    python3 - "$T/status.json" "$a" "$b" > "$T/json.check" 2>&1 <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 2, lines
a, b = (json.loads(l) for l in lines)
keys = {"name", "total_tokens", "borrowed_tokens", "available_tokens",
        "threads_waiting", "tokens_waiting", "closed", "policy", "holders", "counters"}
for d in (a, b):
    assert keys <= set(d), set(d)
    assert isinstance(d["closed"], bool)
    assert d["policy"] == "fifo"
    assert set(d["counters"]) >= {"granted_at_once", "granted_after_wait", "would_block",
        "timed_out", "cancelled", "closed_out", "abandoned", "wait_ns_total",
        "wait_ns_max", "max_threads_waiting", "reclaimed"}, d["counters"]
    assert all(isinstance(v, int) for v in d["counters"].values())
assert a["name"] == "/" + sys.argv[2] and b["name"] == "/" + sys.argv[3]
assert a["total_tokens"] == 2 and a["borrowed_tokens"] == 2 and a["available_tokens"] == 0
h, = a["holders"]
assert set(h) >= {"kind", "pid", "tid", "command", "tokens", "level"}, h
assert h["kind"] == "object" and h["tid"] is None and h["tokens"] == 2 and h["level"] == 1
assert isinstance(h["pid"], int) and isinstance(h["command"], str) and h["command"]
assert b["total_tokens"] is None and b["available_tokens"] is None
assert b["holders"] == [] and b["closed"] is False
print("fine")
PY
    expect "status --json: parsed, keys and values as documented" "$(tail -n 1 "$T/json.check")" fine
    [ "$(tail -n 1 "$T/json.check")" = fine ] || sed 's/^/# /' "$T/json.check"
    expect "status --json: the holder's command is its process's name" \
        "$(q "$a" 'd["holders"][0]["command"]')" "\"$(cat "/proc/$(cat "$T/h.cpid")/comm")\""
    "$CAPLIMIT" status --json > "$T/all.json" 2> "$T/all.err"
    expect "status with no NAME: exits 0 beside a non-limiter" "$?" 0
    expect "status with no NAME: nothing on stderr" "$(cat "$T/all.err")" ""
    expect "status with no NAME: lists both limiters, skips the junk" \
        "$(python3 -c '
import json, sys
names = [json.loads(l)["name"] for l in open(sys.argv[1])]
print(sys.argv[2] in names, sys.argv[3] in names, sys.argv[4] in names)' \
            "$T/all.json" "/$a" "/$b" "/$PREFIX-junk")" "True True False"
    out=$("$CAPLIMIT" status "$a")
    case $out in
    "/$a: 2 of 2 tokens borrowed"*) ok "status: the table's first line" ;;
    *) bad "status table: $out" ;;
    esac
    release h
    expect "status: the holder's exit" "$(rc h)" 0
}

t_set() {
    new_name
    hold a "$N" -n 1
    poll_until "started a"
    start w run "$N" -- sh "$T/hold.sh" w
    poll_until "[ \"\$(q $N 'd[\"threads_waiting\"]')\" = 1 ]"
    "$CAPLIMIT" set "$N" 2
    expect "set: exits 0" "$?" 0
    poll_until "started w" && ok "set: a rise lets the waiter in (R8)" || bad "set: w did not start"
    expect "set: the new total" "$(q "$N" 'd["total_tokens"]')" 2
    "$CAPLIMIT" set "$N" 0
    expect "set 0: holders keep their tokens" "$(q "$N" 'd["borrowed_tokens"]')" 2
    "$CAPLIMIT" set "$N" inf
    expect "set inf: infinite reads null" "$(q "$N" 'd["total_tokens"]')" null
    release a
    release w
    expect "set: a's exit" "$(rc a)" 0
    expect "set: w's exit" "$(rc w)" 0
}

t_close() {
    new_name
    hold a "$N" -n 1
    poll_until "started a"
    start w run "$N" -- touch "$T/closed.ran"
    poll_until "[ \"\$(q $N 'd[\"threads_waiting\"]')\" = 1 ]"
    "$CAPLIMIT" close "$N"
    expect "close: exits 0" "$?" 0
    expect "close: the waiting run exits 69" "$(rc w)" 69
    expect "close: and says why" "$(cat "$T/w.err")" "caplimit: $N: the limiter is closed"
    [ -e "$T/closed.ran" ] && bad "close: the waiter's command ran" || ok "close: the waiter's command did not run"
    "$CAPLIMIT" run "$N" -- touch "$T/closed.ran" 2>/dev/null
    expect "close: a later run exits 69" "$?" 69
    expect "close: status says closed" "$(q "$N" 'd["closed"]')" true
    "$CAPLIMIT" close "$N"
    expect "close: twice is fine" "$?" 0
    release a
    expect "close: the holder finishes normally" "$(rc a)" 0
    expect "close: its token came back" "$(q "$N" 'd["borrowed_tokens"]')" 0
}

t_unlink() {
    new_name
    hold a "$N" -n 1
    poll_until "started a"
    "$CAPLIMIT" unlink "$N"
    expect "unlink: exits 0" "$?" 0
    "$CAPLIMIT" status "$N" 2>/dev/null
    expect "unlink: the name is gone" "$?" 69
    release a
    expect "unlink: the holder still finishes normally" "$(rc a)" 0
    "$CAPLIMIT" unlink "$N" 2>/dev/null
    expect "unlink: twice is 69" "$?" 69
}

t_verbose() {
    new_name
    hold a "$N" -n 1
    poll_until "started a"
    start v run "$N" -v -- true
    poll_until "[ \"\$(q $N 'd[\"threads_waiting\"]')\" = 1 ]"
    release a
    expect "-v: exit" "$(rc v)" 0
    err=$(cat "$T/v.err")
    case $err in
    *"caplimit: $N: waiting for 1 token: 1 of 1 held, 0 waiting ahead"*"caplimit: $N: got 1 token after"*)
        ok "-v: says when it waits and when it gets its token" ;;
    *) bad "-v: '$err'" ;;
    esac
    case $err in
    *"$(printf '\r')"*) bad "-v: live output on a non-terminal" ;;
    *) ok "-v: nothing live on a non-terminal" ;;
    esac
}

t_permission() {
    if [ "$(id -u)" = 0 ]; then
        ok "# skip permission: root may open anything"
        return
    fi
    new_name
    "$CAPLIMIT" run "$N" -n 1 -- true
    chmod 000 "/dev/shm/$N"
    out=$("$CAPLIMIT" status "$N" 2>&1)
    expect "permission: exits 77" "$?" 77
    expect "permission: says so" "$out" "caplimit: $N: permission denied"
    chmod 600 "/dev/shm/$N"
}

for t in t_usage t_missing t_version_help t_exit_status t_concurrency t_two_at_once \
         t_wait_timeout t_weights t_kill_waiting t_kill_running t_signal_waiting \
         t_signal_running t_status_json t_set t_close t_unlink t_verbose t_permission; do
    echo "# $t"
    $t
done
echo "1..$tests"
[ "$failures" -eq 0 ] || { echo "check-command: $failures of $tests failed" >&2; exit 1; }
