#!/usr/bin/env bash
# The uploader reports an S3 outage as readiness, not liveness (issue 5): a node running the
# uploader (direct mode) under zipmined, its S3 reached through a TCP relay the test stops and
# starts again.
#   - S3 up: /readyz 200;
#   - relay stopped, a zipcode stored: the upload fails, /readyz 503 with
#     {"worker":"uploader.0","state":"degraded","reason":"s3: ..."}, /livez 200, the uploader
#     is not restarted, zipmine_worker_degraded{worker="uploader"} 1, and
#     zipmine_worker_dependency_down{dependency="s3"} 1;
#   - relay back: the upload lands (ledger 'uploaded'), /readyz 200 again;
#   - S3 down again with a zipcode waiting, which then fails for another reason: nothing
#     needs S3 any more, /readyz 200 while S3 is still down (no lingering outage).
# The epoch's deadline is over an hour gone, so no status report (and no coordinator) is
# involved: only S3 is.
set -euo pipefail
BUILD=${ZM_BUILD_DIR:?ZM_BUILD_DIR not set}
BIN=$BUILD/bin
: "${ZM_TEST_PG_DSN:?ZM_TEST_PG_DSN not set: run tests/run or source tests/services env}"
: "${ZM_TEST_S3_ENDPOINT:?ZM_TEST_S3_ENDPOINT not set}"
: "${ZM_TEST_S3_BUCKET:?ZM_TEST_S3_BUCKET not set}"
for b in zipmined zipmine-keys uploader; do
    [ -x "$BIN/$b" ] || { echo "FAIL: $BIN/$b not built"; exit 1; }
done
command -v psql >/dev/null || { echo "FAIL: psql is required"; exit 1; }
command -v curl >/dev/null || { echo "FAIL: curl is required"; exit 1; }

. "${ZM_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/node-test.sh"
nt_init updeg

# A TCP relay 127.0.0.1:$rport -> the S3 server (tests/support/tcp_relay.py).
s3hostport=${ZM_TEST_S3_ENDPOINT#http://}
rport=$(nt_free_port)
start_relay () { nt_relay "$rport" "${s3hostport%:*}" "${s3hostport##*:}"; }
start_relay

psql "$ZM_TEST_PG_DSN" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE $DB"
"$BIN/zipmine-keys" dev "up-degraded-$$-$(date +%s)" --wallet.path "$T/w" --wallet.name m \
    --wallet.hotkey default > /dev/null || fail "no dev hotkey"

export ZM_DB_DSN="$ZM_TEST_PG_DSN dbname=$DB" ZM_RUN_DIR="$T/run" ZM_NODE_NAME=un ZM_HTTP_PORT=0
export ZM_WORKERS="uploader"
export ZM_WALLET_PATH="$T/w" ZM_WALLET_NAME=m ZM_WALLET_HOTKEY=default
export ZM_S3_MODE=direct ZM_S3_ENDPOINT="http://127.0.0.1:$rport" ZM_S3_BUCKET="$ZM_TEST_S3_BUCKET"
export ZM_S3_REGION="${ZM_TEST_S3_REGION:-us-east-1}" ZM_S3_ACCESS_KEY="${ZM_TEST_S3_ACCESS_KEY:-}"
export ZM_S3_SECRET_KEY="${ZM_TEST_S3_SECRET_KEY:-}" ZM_S3_TIMEOUT_MS=3000
export ZM_COORDINATOR_URL=http://127.0.0.1:1 ZM_UPLOADER_SWEEP_MS=300
nt_node un --heartbeat.ms 500
wait_until 60000 readyz_is 200 || fail "/readyz not 200 at start: $(curl -s "$URL/readyz")"
upid=$(pgrep -P "$SUP" -x uploader || true)
[ -n "$upid" ] || fail "no uploader child"

# Outage: the relay goes away, then a zipcode is stored.
kill -KILL "$RELAY"; wait "$RELAY" 2>/dev/null || true; RELAY=""
epoch=2026-01-01T00-00-00
q "INSERT INTO miner_epochs (epoch_id, nonce, epoch_start, epoch_end, submission_deadline,
       target_listings, tolerance_percent, assignment)
   VALUES ('$epoch', '0123456789abcdef', now() - interval '3 hours', now() - interval '2 hours',
           now() - interval '2 hours', 100, 10, '{}')" > /dev/null
q "INSERT INTO miner_tasks (epoch_id, zipcode, expected_listings, status, listing_count)
   VALUES ('$epoch', '77494', 2, 'stored', 2)" > /dev/null
for i in 1 2; do
    q "INSERT INTO miner_listings (epoch_id, zipcode, listing_id, doc) VALUES ('$epoch', '77494',
       '$i', '{\"zpid\":$i,\"zipcode\":\"77494\",\"price\":300000}')" > /dev/null
done
t0=$(now_ms)
wait_until 20000 readyz_is 503 || fail "/readyz never 503 with S3 down"
echo "/readyz 503 $(( $(now_ms) - t0 )) ms after the zipcode was stored with S3 down"
curl -s --max-time 3 "$URL/readyz" > "$T/readyz"
echo "/readyz: $(cat "$T/readyz")"
python3 -c '
import json, sys
d = json.load (open (sys.argv [1]))
assert d["ready"] is False and len (d["not_ready"]) == 1, d
w = d["not_ready"][0]
assert w["worker"] == "uploader.0" and w["state"] == "degraded", w
assert w["reason"].startswith ("s3: "), w
' "$T/readyz" || fail "/readyz body during the S3 outage"
[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$URL/livez")" = 200 ] || fail "/livez"
curl -s --max-time 10 "$URL/metrics" > "$T/metrics"
grep -qF 'zipmine_worker_degraded{worker="uploader",instance="0"} 1' "$T/metrics" \
    || fail "zipmine_worker_degraded not 1"
grep -qF 'zipmine_worker_dependency_down{dependency="s3",worker="uploader",instance="0"} 1' "$T/metrics" \
    || fail "zipmine_worker_dependency_down{s3} not 1"
[ "$(q "SELECT state FROM miner_uploads WHERE zipcode = '77494'")" = uploading ] \
    || fail "no intent in the ledger"
sleep 4
readyz_is 503 || fail "/readyz not 503 while S3 is still down"
[ "$(pgrep -P "$SUP" -x uploader || true)" = "$upid" ] || fail "the uploader was restarted"

# Recovery.
start_relay
t1=$(now_ms)
landed () { [ "$(q "SELECT state FROM miner_uploads WHERE zipcode = '77494'")" = uploaded ]; }
wait_until 40000 landed || fail "the upload never landed after S3 came back"
wait_until 5000 readyz_is 200 || fail "/readyz never 200 after S3 came back: $(curl -s "$URL/readyz")"
echo "landed and /readyz 200 $(( $(now_ms) - t1 )) ms after S3 came back"
curl -s --max-time 10 "$URL/metrics" > "$T/metrics"
grep -qF 'zipmine_worker_degraded{worker="uploader",instance="0"} 0' "$T/metrics" \
    || fail "zipmine_worker_degraded not 0 after recovery"
grep -q '"event":"worker_degraded".*"dependency":"s3"' "$T/log" || fail "no worker_degraded event"
grep -q '"event":"worker_recovered".*"dependency":"s3"' "$T/log" || fail "no worker_recovered event"
[ "$(pgrep -P "$SUP" -x uploader || true)" = "$upid" ] || fail "the uploader was restarted"

# An outage with no work left: S3 down again, a zipcode stored, then its task fails for
# another reason (its epoch closed): nothing needs S3 any more, so the node is ready again
# although S3 is still down.
kill -KILL "$RELAY"; wait "$RELAY" 2>/dev/null || true; RELAY=""
q "INSERT INTO miner_tasks (epoch_id, zipcode, expected_listings, status, listing_count)
   VALUES ('$epoch', '77495', 1, 'stored', 1)" > /dev/null
q "INSERT INTO miner_listings (epoch_id, zipcode, listing_id, doc) VALUES ('$epoch', '77495',
   '9', '{\"zpid\":9,\"zipcode\":\"77495\",\"price\":300000}')" > /dev/null
wait_until 20000 readyz_is 503 || fail "/readyz never 503 in the second S3 outage"
q "UPDATE miner_tasks SET status = 'failed', reason = 'epoch closed' WHERE zipcode = '77495'" > /dev/null
t2=$(now_ms)
wait_until 40000 readyz_is 200 || fail "/readyz stayed 503 with nothing left to upload: $(curl -s "$URL/readyz")"
echo "/readyz 200 $(( $(now_ms) - t2 )) ms after the last waiting zipcode failed (S3 still down)"

kill "$SUP"
wait "$SUP" || fail "zipmined exit $?"
SUP=""
echo PASS
