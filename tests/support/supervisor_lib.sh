# Helpers for tests/integration/test_supervisor_*.sh (sourced). Each test runs real zipmined
# and zm_testworker processes in a fresh run.dir under mktemp -d, with short timings.
#
#   sup_init                  checks binaries, makes $T (temp dir) with $T/bin (symlinks)
#   sup_link NAME...          bin.dir entries NAME -> zm_testworker (distinct worker names)
#   sup_start ARGS...         starts zipmined (ARGS are config flags) in the background;
#                             sets SUP_PID, waits for its HTTP port (SUP_PORT)
#   sup_ctl ARGS...           runs zipminectl against this node
#   sup_pid ID / sup_state ID / sup_restarts ID / sup_last_exit ID    from `zipminectl status`
#   wait_until MS CMD...      polls CMD every 50 ms until it succeeds; 1 on timeout
#   now_ms                    wall clock in ms
#   fail MSG                  prints the log tail and exits 1
set -u
: "${ZM_BUILD_DIR:?ZM_BUILD_DIR must point at the build directory}"
BIN="$ZM_BUILD_DIR/bin"
SUP_PID=""
SUP_PORT=""

now_ms () { date +%s%3N; }

sup_cleanup () {
    if [ -n "${SUP_PID}" ] && kill -0 "$SUP_PID" 2>/dev/null; then
        kill -KILL "$SUP_PID" 2>/dev/null
    fi
    # Workers die with their supervisor (PDEATHSIG); reap anything a failed test left.
    if [ -n "${T:-}" ] && [ -f "$T/pids" ]; then
        while read -r p; do kill -KILL "$p" 2>/dev/null; done < "$T/pids"
    fi
    if [ -n "${T:-}" ]; then
        if [ -n "${ZM_KEEP:-}" ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
    fi
}

fail () {
    echo "FAIL: $*" >&2
    if [ -n "${T:-}" ] && [ -f "$T/log" ]; then
        echo "---- zipmined log (tail) ----" >&2
        tail -n 60 "$T/log" >&2
    fi
    exit 1
}

sup_init () {
    for b in zipmined zipminectl zm_testworker; do
        [ -x "$BIN/$b" ] || { echo "FAIL: $BIN/$b not built" >&2; exit 1; }
    done
    T=$(mktemp -d /tmp/zm-sup-XXXXXX)
    mkdir -p "$T/bin"
    trap sup_cleanup EXIT
}

sup_link () {
    for n in "$@"; do ln -sf "$BIN/zm_testworker" "$T/bin/$n"; done
}

# Common short timings; tests add or override flags after these. The shutdown budget stays
# at 5 s: an ASan worker's exit (LeakSanitizer's scan) can take a second or two on a busy
# machine, and a clean drain must not be mistaken for a straggler.
SUP_FAST=(--heartbeat.ms 300 --heartbeat.misses 3 --ready.timeout.ms 5000
          --shutdown.budget.ms 5000 --restart.base.ms 50 --restart.cap.ms 1000
          --restart.reset.ms 2000 --restart.intensity 50 --restart.period.ms 10000
          --http.bind 127.0.0.1 --http.port 0 --log.level info)

sup_start () {
    "$BIN/zipmined" --run.dir "$T/run" --node.name tn --bin.dir "$T/bin" "$@" \
        > "$T/log" 2>&1 &
    SUP_PID=$!
    wait_until 10000 test -s "$T/run/tn/http.port" || fail "zipmined did not start"
    SUP_PORT=$(cat "$T/run/tn/http.port")
}

sup_ctl () { "$BIN/zipminectl" --run.dir "$T/run" --node.name tn --timeout 3000 "$@"; }

# Field of one child from the status table: WORKER PID STATE RESTARTS UPTIME LAST-EXIT...
sup_field () {
    sup_ctl status 2>/dev/null | awk -v id="$1" -v f="$2" '
        $1 == id { if (f == 6) { $1 = $2 = $3 = $4 = $5 = ""; sub (/^ +/, ""); print } else print $f }'
}
# A snapshot of `zipminectl status` (one call; zipminectl under ASan on a busy machine takes
# a good fraction of a second), and fields read from it.
sup_snap () { sup_ctl status > "$T/snap" 2>/dev/null || : > "$T/snap"; }
snap_pid () { awk -v id="$1" '$1 == id { print $2 }' "$T/snap"; }
snap_field () {
    awk -v id="$1" -v f="$2" '
        $1 == id { if (f == 6) { $1 = $2 = $3 = $4 = $5 = ""; sub (/^ +/, ""); print } else print $f }' "$T/snap"
}
sup_pid ()       { sup_field "$1" 2; }
sup_state ()     { sup_field "$1" 3; }
sup_restarts ()  { sup_field "$1" 4; }
sup_last_exit () { sup_field "$1" 6; }

# True when child $1's last transition (in the log) went to READY with a pid other than $2.
# Reads the log rather than running zipminectl, so polling it is cheap.
sup_ready_new_pid () {
    local last pid
    last=$(grep "\"event\":\"child_state\",\"worker\":\"$1\"" "$T/log" | tail -1)
    case "$last" in *'"to":"READY"'*) ;; *) return 1 ;; esac
    pid=$(echo "$last" | grep -o '"child_pid":[0-9]*' | cut -d: -f2)
    [ -n "$pid" ] && [ "$pid" != 0 ] && [ "$pid" != "$2" ]
}

# True when exactly $1 children are READY (from /metrics: cheap to poll).
sup_ready_count_is () {
    curl -s --max-time 2 "http://127.0.0.1:$SUP_PORT/metrics" \
        | grep -qx "zipmine_supervisor_children{state=\"ready\"} $1"
}

# All worker pids currently running under zipmined (children of SUP_PID).
sup_child_pids () { pgrep -P "$SUP_PID" | tr '\n' ' '; }

record_pids () { for p in "$@"; do echo "$p" >> "$T/pids"; done; }

wait_until () {
    local limit=$(( $(now_ms) + $1 )); shift
    while true; do
        "$@" >/dev/null 2>&1 && return 0
        [ "$(now_ms)" -ge "$limit" ] && return 1
        sleep 0.05
    done
}

log_has () { grep -q "$1" "$T/log"; }

# Unix ms of the "ts" of the first log line matching $1.
log_ts () {
    local ts
    ts=$(grep "$1" "$T/log" | head -1 | grep -o '"ts":"[^"]*"' | cut -d'"' -f4)
    [ -n "$ts" ] && date -d "$ts" +%s%3N
}
log_count () { grep -c "$1" "$T/log"; }
