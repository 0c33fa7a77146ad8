#!/bin/bash
# Readiness during a dependency outage (issue 5): a READY worker that reports a dependency down
# (worker_degraded) makes /readyz answer 503 with
#   {"ready":false,"not_ready":[{"worker":"dep.0","state":"degraded","reason":"testdep: ..."}]}
# while it lasts and 200 again after worker_recovered; /livez stays 200; the worker is never
# restarted for it (same pid, restarts 0, heartbeats keep it alive); zipminectl status names
# it; /metrics has zipmine_worker_degraded{worker,instance} 1 then 0 and passes promtool; an
# optional worker's outage does not make the node unready; a reason with quotes and
# backslashes is escaped into valid JSON.
HERE=$(cd "$(dirname "$0")" && pwd)
source "${ZM_SOURCE_DIR:-$HERE/../..}/tests/support/supervisor_lib.sh"
sup_init
command -v promtool >/dev/null || fail "promtool not installed (Debian package prometheus)"
command -v curl >/dev/null || fail "curl not installed"
sup_link dep side opt

export ZM_TEST_MODE="normal,dep=degradedfile:$T/dep_down,opt=degradedfile:$T/opt_down"
sup_start "${SUP_FAST[@]}" --ready.timeout.ms 60000 --workers dep,side,opt:optional
URL="http://127.0.0.1:$SUP_PORT"
code () { curl -s -o "$T/body" -w '%{http_code}' --max-time 3 "$@"; }
readyz_is () { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$URL/readyz")" = "$1" ]; }

wait_until 30000 readyz_is 200 || fail "/readyz never 200 at start: $(curl -s "$URL/readyz")"
pid0=$(sup_pid dep.0)
[ -n "$pid0" ] && [ "$pid0" != - ] || fail "no pid for dep.0"

# An optional worker's outage: still ready.
echo 'optional thing down' > "$T/opt_down"
degraded_metric () {
    curl -s --max-time 10 "$URL/metrics" | grep -qF "zipmine_worker_degraded{worker=\"$1\",instance=\"0\"} $2"
}
wait_until 10000 degraded_metric opt 1 || fail "zipmine_worker_degraded for opt.0 never 1"
[ "$(code "$URL/readyz")" = 200 ] || fail "an optional worker's outage made /readyz $(cat "$T/body")"
rm -f "$T/opt_down"

# The outage: 503 with the reason, quickly.
printf '%s\n' 's3: connect refused "127.0.0.1:9" \ retrying' > "$T/dep_down"
t0=$(now_ms)
wait_until 10000 readyz_is 503 || fail "/readyz never 503 during the outage"
echo "/readyz 503 $(( $(now_ms) - t0 )) ms after the outage began"
[ "$(code "$URL/readyz")" = 503 ] || fail "/readyz flapped"
echo "/readyz body: $(cat "$T/body")"
python3 -c '
import json, sys
d = json.load (open (sys.argv [1]))
assert d == {"ready": False, "not_ready": [{"worker": "dep.0", "state": "degraded",
             "reason": "testdep: s3: connect refused \"127.0.0.1:9\" \\ retrying"}]}, d
' "$T/body" || fail "/readyz body is not the contract's shape"
[ "$(code "$URL/livez")" = 200 ] || fail "/livez during the outage"

# zipminectl status names it; the supervision state stays READY.
sup_ctl status > "$T/status" || fail "zipminectl status"
cat "$T/status"
grep -qF 'degraded: dep.0 (testdep: s3: connect refused "127.0.0.1:9" \ retrying)' "$T/status" \
    || fail "zipminectl status does not name the outage"
awk '$1 == "dep.0" { print $3 }' "$T/status" | grep -qx READY || fail "dep.0 not READY in the table"
sup_ctl status --json > "$T/status.json" || fail "zipminectl status --json"
python3 -c '
import json, sys
d = json.load (open (sys.argv [1]))
text = json.dumps (d)
assert "degraded: dep.0" in text, text
' "$T/status.json" || fail "zipminectl status --json does not name the outage"

# /metrics during the outage.
code "$URL/metrics" > /dev/null
cp "$T/body" "$T/metrics"
promtool check metrics < "$T/metrics" > "$T/promtool" 2>&1 || { cat "$T/promtool"; fail "promtool"; }
for pat in 'zipmine_worker_degraded{worker="dep",instance="0"} 1' \
           'zipmine_worker_degraded{worker="side",instance="0"} 0' \
           'zipmine_worker_dependency_down{dependency="testdep",worker="dep",instance="0"} 1' \
           'zipmine_worker_dependency_outages_total{dependency="testdep",worker="dep",instance="0"} 1'; do
    grep -qF "$pat" "$T/metrics" || { grep degraded "$T/metrics"; grep dependency "$T/metrics"; fail "/metrics lacks '$pat'"; }
done

# Liveness is untouched: hold the outage for 10 heartbeat-loss windows (3 x 300 ms).
sleep 9
[ "$(sup_pid dep.0)" = "$pid0" ] || fail "dep.0 was restarted during the outage"
[ "$(sup_restarts dep.0)" = 0 ] || fail "dep.0 restarts $(sup_restarts dep.0)"
readyz_is 503 || fail "/readyz not 503 throughout the outage"
grep -q '"event":"child_heartbeat_lost"' "$T/log" && fail "a heartbeat was taken for lost"

# Recovery: 200 again, quickly.
rm -f "$T/dep_down"
t1=$(now_ms)
wait_until 10000 readyz_is 200 || fail "/readyz never 200 after recovery: $(curl -s "$URL/readyz")"
echo "/readyz 200 $(( $(now_ms) - t1 )) ms after recovery"
code "$URL/readyz" > /dev/null
[ "$(cat "$T/body")" = '{"ready":true}' ] || fail "/readyz body after recovery: $(cat "$T/body")"
degraded_metric dep 0 || fail "zipmine_worker_degraded for dep.0 not 0 after recovery"
sup_ctl status | grep -q 'degraded:' && fail "zipminectl status still shows an outage"
grep -q '"event":"child_degraded".*"worker":"dep.0"' "$T/log" || fail "no child_degraded event"
grep -q '"event":"child_recovered".*"worker":"dep.0"' "$T/log" || fail "no child_recovered event"

# A second outage is reported and cleared like the first.
echo 'down again' > "$T/dep_down"
wait_until 10000 readyz_is 503 || fail "second outage not seen"
rm -f "$T/dep_down"
wait_until 10000 readyz_is 200 || fail "second recovery not seen"

kill "$SUP_PID"
wait "$SUP_PID"; rc=$?
[ $rc = 0 ] || fail "zipmined exit $rc"
SUP_PID=""
echo "PASS"
