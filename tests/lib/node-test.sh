# Helpers for integration tests that run real nodes (zipmined, coordinator, a TCP relay) on a
# database of their own (sourced; bash, set -euo pipefail in the caller).
#
#   nt_init NAME          makes $T (mktemp -d /tmp/zm-NAME-XXXXXX) and names $DB
#                         (zmtest_NAME_$$); on exit kills $SUP, $RELAY and $COORD (each when
#                         set), drops $DB and removes $T (kept with ZM_KEEP=1)
#   fail MSG              prints MSG and the tail of $T/log, exits 1
#   now_ms                wall clock in ms
#   wait_until MS CMD...  runs CMD every 100 ms until it succeeds; 1 after MS ms
#   q SQL                 one psql command on $DB, unaligned tuples only
#   nt_free_port          a loopback TCP port nobody listens on (bound, then released)
#   nt_node NAME ARGS...  starts $BIN/zipmined ARGS (the exported ZM_* environment, with
#                         ZM_RUN_DIR=$T/run and ZM_NODE_NAME=NAME) logging to $T/log; sets
#                         $SUP, and $URL once its HTTP server listens (fails the test after 15 s)
#   readyz_is CODE        $URL/readyz answers CODE
#   nt_relay PORT HOST HPORT [DELAY_FILE]
#                         starts tests/support/tcp_relay.py: 127.0.0.1:PORT -> HOST:HPORT, each
#                         answer held back by the milliseconds in DELAY_FILE; sets $RELAY,
#                         returns once PORT accepts (fails the test after 20 s)
SUP=""
RELAY=""
COORD=""
NT_RELAY_PY="${ZM_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/tests/support/tcp_relay.py"

nt_cleanup () {
    [ -n "$SUP" ] && kill -KILL "$SUP" 2>/dev/null || true
    [ -n "$RELAY" ] && kill -KILL "$RELAY" 2>/dev/null || true
    [ -n "$COORD" ] && kill -KILL "$COORD" 2>/dev/null || true
    psql "$ZM_TEST_PG_DSN" -qc "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
    if [ -n "${ZM_KEEP:-}" ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}

nt_init () {
    T=$(mktemp -d "/tmp/zm-$1-XXXXXX")
    DB="zmtest_$1_$$"
    trap nt_cleanup EXIT
}

fail () {
    echo "FAIL: $*" >&2
    tail -n 40 "$T/log" >&2 || true
    exit 1
}

now_ms () { date +%s%3N; }

wait_until () {
    local until=$(( $(now_ms) + $1 )); shift
    while ! "$@"; do
        [ "$(now_ms)" -lt "$until" ] || return 1
        sleep 0.1
    done
}

q () { psql "$ZM_TEST_PG_DSN dbname=$DB" -XAtqc "$1"; }

nt_free_port () {
    python3 -c 'import socket
s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

nt_relay () {
    python3 "$NT_RELAY_PY" "$@" 2>>"$T/relay.log" &
    RELAY=$!
    wait_until 20000 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null || fail "relay did not start"
}

nt_node () {
    local name=$1; shift
    "$BIN/zipmined" "$@" > "$T/log" 2>&1 &
    SUP=$!
    wait_until 15000 test -s "$T/run/$name/http.port" || fail "zipmined did not start"
    URL="http://127.0.0.1:$(cat "$T/run/$name/http.port")"
}

readyz_is () { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$URL/readyz")" = "$1" ]; }
