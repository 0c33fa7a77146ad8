#!/usr/bin/env bash
# The assigner reports a coordinator outage as readiness, not liveness (issue 5): a node
# running the assigner under zipmined, against a real coordinator run by the test and reached
# through a TCP relay that can hold each answer back.
#   - coordinator slow but alive (every answer 3 s late, more than the heartbeat-loss window
#     of 3 x 500 ms): the poll runs on its own thread, so the epoch is recorded, the node is
#     never degraded, no heartbeat is lost and the assigner is not restarted;
#   - then at full speed: /readyz 200;
#   - coordinator killed: /readyz 503 with
#     {"worker":"assigner.0","state":"degraded","reason":"coordinator: GET http://...: Failed to connect ..."},
#     /livez 200, the assigner is not restarted, zipmine_worker_degraded{worker="assigner"} 1;
#   - coordinator back on the same port: /readyz 200 again within the poll backoff cap (15 s),
#     and the assigner logged worker_degraded / worker_recovered for "coordinator".
set -euo pipefail
BUILD=${ZM_BUILD_DIR:?ZM_BUILD_DIR not set}
BIN=$BUILD/bin
: "${ZM_TEST_PG_DSN:?ZM_TEST_PG_DSN not set: run tests/run or source tests/services env}"
for b in zipmined zipminectl zipmine-keys coordinator assigner; do
    [ -x "$BIN/$b" ] || { echo "FAIL: $BIN/$b not built"; exit 1; }
done
command -v psql >/dev/null || { echo "FAIL: psql is required"; exit 1; }
command -v curl >/dev/null || { echo "FAIL: curl is required"; exit 1; }

. "${ZM_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/node-test.sh"
nt_init asgdeg

psql "$ZM_TEST_PG_DSN" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE $DB"
hotkey=$("$BIN/zipmine-keys" dev asg-degraded --wallet.path "$T/w" --wallet.name m \
         --wallet.hotkey default | grep -o '5[1-9A-HJ-NP-Za-km-z]\{47\}' | head -n 1)
[ -n "$hotkey" ] || fail "no dev hotkey"
echo "{\"hotkeys\":[{\"hotkey\":\"$hotkey\",\"role\":\"miner\"}]}" > "$T/metagraph.json"
cport=$(nt_free_port)

start_coordinator () {
    ZM_DB_DSN="$ZM_TEST_PG_DSN dbname=$DB" ZM_RUN_DIR="$T/crun" ZM_NODE_NAME=c1 \
    ZM_COORDINATOR_METAGRAPH="$T/metagraph.json" ZM_COORDINATOR_PORT=$cport \
    ZM_COORDINATOR_ZIPCODES=3 ZM_COORDINATOR_EPOCH_S=86400 \
    ZM_COORDINATOR_RATE_ASSIGNMENTS=1000 \
        "$BIN/coordinator" >> "$T/coord.log" 2>&1 &
    COORD=$!
    wait_until 30000 curl -fs -o /dev/null --max-time 1 "http://127.0.0.1:$cport/healthcheck" \
        || fail "coordinator did not start"
}
start_coordinator

# A TCP relay 127.0.0.1:$rport -> the coordinator that holds each answer back by the
# milliseconds in $T/delay_ms (tests/support/tcp_relay.py).
rport=$(nt_free_port)
echo 3000 > "$T/delay_ms"
nt_relay "$rport" 127.0.0.1 "$cport" "$T/delay_ms"

export ZM_DB_DSN="$ZM_TEST_PG_DSN dbname=$DB" ZM_RUN_DIR="$T/run" ZM_NODE_NAME=an ZM_HTTP_PORT=0
export ZM_WORKERS="assigner"
export ZM_COORDINATOR_URL=http://127.0.0.1:$rport
export ZM_WALLET_PATH="$T/w" ZM_WALLET_NAME=m ZM_WALLET_HOTKEY=default
export ZM_ASSIGNER_POLL_MS=1000
nt_node an --heartbeat.ms 500
recorded () { [ "$(q 'SELECT count(*) FROM miner_epochs' 2>/dev/null)" = 1 ]; }

wait_until 60000 recorded || fail "no epoch recorded through the slow relay"
wait_until 10000 readyz_is 200 || fail "/readyz not 200 with a slow coordinator: $(curl -s "$URL/readyz")"
apid=$(pgrep -P "$SUP" -x assigner || true)
[ -n "$apid" ] || fail "no assigner child"
# a few more slow polls (poll.ms 1 s + 3 s each) with the readiness watched
for i in 1 2 3 4 5 6 7 8; do readyz_is 200 || fail "/readyz not 200 with a slow coordinator"; sleep 1; done
grep -q '"event":"worker_degraded"' "$T/log" && fail "a slow coordinator was taken for down"
grep -q '"event":"child_heartbeat_lost"' "$T/log" && fail "a heartbeat was lost during a slow poll"
[ "$(pgrep -P "$SUP" -x assigner || true)" = "$apid" ] || fail "the assigner was restarted"
echo "slow coordinator (3 s per answer): epoch recorded, ready throughout, no heartbeat lost"
echo 0 > "$T/delay_ms"

# Outage.
kill -KILL "$COORD"; wait "$COORD" 2>/dev/null || true; COORD=""
t0=$(now_ms)
wait_until 20000 readyz_is 503 || fail "/readyz never 503 with the coordinator down"
echo "/readyz 503 $(( $(now_ms) - t0 )) ms after the coordinator died"
curl -s --max-time 3 "$URL/readyz" > "$T/readyz"
echo "/readyz: $(cat "$T/readyz")"
python3 -c '
import json, sys
d = json.load (open (sys.argv [1]))
assert d["ready"] is False, d
assert len (d["not_ready"]) == 1, d
w = d["not_ready"][0]
assert w["worker"] == "assigner.0" and w["state"] == "degraded", w
want = "coordinator: GET http://127.0.0.1:%s/api/v1/zipcode-assignments/current: " % sys.argv [2]
assert w["reason"].startswith (want) and len (w["reason"]) > len (want), w
' "$T/readyz" "$rport" || fail "/readyz body during the outage"
grep -q "$hotkey" "$T/readyz" && fail "the hotkey leaked into /readyz"
[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$URL/livez")" = 200 ] || fail "/livez"
curl -s --max-time 10 "$URL/metrics" > "$T/metrics1"; grep -qF 'zipmine_worker_degraded{worker="assigner",instance="0"} 1' "$T/metrics1" \
    || fail "zipmine_worker_degraded not 1: $(grep -c . "$T/metrics1") lines, $(grep degraded "$T/metrics1")"
"$BIN/zipminectl" --run.dir "$T/run" --node.name an status | tee "$T/status" | head -1
grep -qF 'degraded: assigner.0 (coordinator: GET http://127.0.0.1:' "$T/status" \
    || fail "zipminectl status does not name the outage"
sleep 5
readyz_is 503 || fail "/readyz not 503 while the coordinator is still down"
[ "$(pgrep -P "$SUP" -x assigner || true)" = "$apid" ] || fail "the assigner was restarted"

# Recovery.
start_coordinator
t1=$(now_ms)
wait_until 25000 readyz_is 200 || fail "/readyz never 200 after the coordinator came back: $(curl -s "$URL/readyz")"
echo "/readyz 200 $(( $(now_ms) - t1 )) ms after the coordinator came back"
curl -s --max-time 10 "$URL/metrics" > "$T/metrics"
grep -qF 'zipmine_worker_degraded{worker="assigner",instance="0"} 0' "$T/metrics" \
    || fail "zipmine_worker_degraded not 0 after recovery: $(grep degraded "$T/metrics")"
grep -q '"event":"worker_degraded".*"dependency":"coordinator"' "$T/log" || fail "no worker_degraded event"
grep -q '"event":"worker_recovered".*"dependency":"coordinator"' "$T/log" || fail "no worker_recovered event"
[ "$(pgrep -P "$SUP" -x assigner || true)" = "$apid" ] || fail "the assigner was restarted"

kill "$SUP"
wait "$SUP" || fail "zipmined exit $?"
SUP=""
kill "$COORD"; wait "$COORD" 2>/dev/null || true; COORD=""
kill "$RELAY"; wait "$RELAY" 2>/dev/null || true; RELAY=""
echo PASS
