#!/bin/bash
# zipmined's HTTP port: /livez; /readyz is 503 naming the required workers that are not
# READY (never optional ones), then 200 once all are; /metrics passes `promtool check
# metrics` and carries the supervisor's families and the workers' heartbeat samples labelled
# worker/instance; hostile or odd requests get 4xx and a silent client cannot block the port.
# zipminectl reports a node that is not running (exit 1).
HERE=$(cd "$(dirname "$0")" && pwd)
source "${ZM_SOURCE_DIR:-$HERE/../..}/tests/support/supervisor_lib.sh"
sup_init
command -v promtool >/dev/null || fail "promtool not installed (Debian package prometheus)"
command -v curl >/dev/null || fail "curl not installed"
sup_link fast late extra

# late becomes ready when the test creates $T/go, so the 503 -> 200 switch does not depend on
# how fast (ASan) workers start on a busy machine.
export ZM_TEST_MODE="normal,late=readyfile:$T/go,extra=noready"
sup_start "${SUP_FAST[@]}" --ready.timeout.ms 60000 --workers fast:2,late,extra:optional
URL="http://127.0.0.1:$SUP_PORT"
code () { curl -s -o "$T/body" -w '%{http_code}' --max-time 3 "$@"; }

[ "$(code "$URL/livez")" = 200 ] || fail "/livez"
# DESIGN.md section 2: the supervisor links none of libpq, libcurl, OpenSSL (nor jansson,
# microhttpd).
if ldd "$BIN/zipmined" | grep -E 'libpq|libcurl|libssl|libjansson|libmicrohttpd'; then
    fail "zipmined links a library it must not"
fi
# One supervisor per node directory.
"$BIN/zipmined" --run.dir "$T/run" --node.name tn --bin.dir "$T/bin" --http.port 0 \
    --workers fast > "$T/second" 2>&1; rc=$?
[ $rc = 1 ] && grep -q "already supervised" "$T/second" || fail "second zipmined: rc $rc $(cat "$T/second")"
fast_ready () { [ "$(sup_state fast.0)" = READY ] && [ "$(sup_state fast.1)" = READY ]; }
wait_until 30000 fast_ready || fail "fast not READY"
c=$(code "$URL/readyz")
echo "/readyz while late.0 starts: $c $(cat "$T/body")"
[ "$c" = 503 ] || fail "/readyz $c while late.0 is not READY"
python3 -c '
import json, sys
d = json.load (open (sys.argv [1]))
assert d["ready"] is False
names = [w["worker"] for w in d["not_ready"]]
assert names == ["late.0"], names
' "$T/body" || fail "/readyz body should name late.0 only"
touch "$T/go"
t1=$(now_ms)
wait_until 10000 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $URL/readyz)\" = 200 ]" \
    || fail "/readyz never 200"
echo "/readyz 200 $(( $(now_ms) - t1 )) ms after late.0 was let become ready: $(curl -s $URL/readyz)"

# every child has sent heartbeats with metrics (extra.0 too, though it is never READY)
beats () { curl -s --max-time 2 "$URL/metrics" | grep -q 'zipmine_testworker_ticks_total{worker="extra",instance="0"}'; }
wait_until 30000 beats || fail "no heartbeat metrics from extra.0"
[ "$(code "$URL/metrics")" = 200 ] || fail "/metrics"
cp "$T/body" "$T/metrics"
promtool check metrics < "$T/metrics" > "$T/promtool" 2>&1 || { cat "$T/promtool"; fail "promtool check metrics"; }
echo "promtool check metrics: ok ($(wc -l < "$T/metrics") lines, $(grep -c '^# TYPE' "$T/metrics") families)"
for pat in 'zipmine_supervisor_uptime_seconds ' \
           'zipmine_supervisor_children{state="ready"} 3' \
           'zipmine_supervisor_children{state="starting"} 1' \
           'zipmine_supervisor_restarts_total{worker="fast",instance="1"} 0' \
           'zipmine_supervisor_heartbeat_age_seconds{worker="late",instance="0"} ' \
           'zipmine_testworker_ticks_total{worker="fast",instance="0"} ' \
           'zipmine_testworker_ticks_total{worker="extra",instance="0"} '; do
    grep -qF "$pat" "$T/metrics" || fail "/metrics lacks '$pat'"
done
grep -q '{.*worker="fast",instance="1"' "$T/metrics" || fail "no samples of fast.1"
for fam in $(grep '^# TYPE' "$T/metrics" | awk '{print $3}' | sort | uniq -d); do
    fail "family $fam has two TYPE lines"
done

# fork+exec closes the supervisor's fds in the child: no worker shares any of zipmined's
# sockets (HTTP listener and connections, ZeroMQ, signalfd is not a socket but is CLOEXEC).
sockets () { ls -l "/proc/$1/fd" 2>/dev/null | grep -o 'socket:\[[0-9]*\]' | sort -u; }
sockets "$SUP_PID" > "$T/sup_sockets"
[ -s "$T/sup_sockets" ] || fail "cannot read zipmined's fds"
for p in $(sup_child_pids); do
    shared=$(sockets "$p" | comm -12 - "$T/sup_sockets")
    [ -z "$shared" ] || fail "worker $p holds zipmined's sockets: $shared"
done

# Hostile and odd requests.
[ "$(code -X POST "$URL/metrics")" = 405 ] || fail "POST not 405"
[ "$(code "$URL/nope")" = 404 ] || fail "unknown path not 404"
big=$(head -c 9000 /dev/zero | tr '\0' a)
[ "$(code -H "X-Big: $big" "$URL/livez")" = 431 ] || fail "9 KB header not 431"
reply=$(printf 'BOGUS\r\n\r\n' | timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$SUP_PORT; cat >&3; cat <&3")
echo "$reply" | head -1 | grep -q '^HTTP/1.0 400' || fail "bad request line: '$reply'"
# A client that connects and says nothing must not block others.
exec 5<>/dev/tcp/127.0.0.1/$SUP_PORT
t1=$(now_ms)
[ "$(code "$URL/livez")" = 200 ] || fail "/livez blocked by a silent client"
echo "/livez with a silent client connected: $(( $(now_ms) - t1 )) ms"
exec 5>&-

# zipminectl: node gone -> exit 1 with a clear message. (SIGINT stops a node as SIGTERM does.)
kill -INT "$SUP_PID"; wait "$SUP_PID"; rc=$?
[ $rc = 0 ] || fail "node exit $rc after SIGINT"
log_has '"event":"node_signal","signal":"SIGINT"' || fail "no node_signal SIGINT"
rm -f "$T/run/tn/ctl.ipc"
sup_ctl status 2>"$T/err"; rc=$?
[ $rc = 1 ] && grep -q "not running" "$T/err" || fail "zipminectl on a stopped node: rc $rc, $(cat "$T/err")"
echo "zipminectl on a stopped node: $(cat "$T/err")"
echo "PASS test_supervisor_http"
