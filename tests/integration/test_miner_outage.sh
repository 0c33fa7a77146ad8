#!/usr/bin/env bash
# Issue 5 acceptance 3: a miner node working an epoch of 25 zipcodes rides out a 30 s
# coordinator outage and then a 30 s S3 outage (both processes stopped for real and started
# again on the same ports; S3 keeps its data: a private tests/s3 server in the run dir):
#   - work goes on while the coordinator is down (the epoch is cached, grants too): more
#     zipcodes land during its outage;
#   - /readyz shows each outage while it lasts: 503 naming assigner.0 (or uploader.0) as
#     "degraded" with a reason "coordinator: ..." during the first, uploader.0 "degraded" with
#     "s3: ..." during the second (docs/worker-runtime.md, "Readiness during outages"); /livez
#     stays 200; no worker is restarted for an outage; /readyz is 200 again after each;
#   - the epoch completes and passes the full check (tests/lib/miner-node.sh mn_verify):
#     one object per zipcode, S3 == PostgreSQL == world, coordinator COMPLETED.
# Two scrapers and a world answering in 1.5 s per page of 100 keep the epoch working for
# about 70 s, so both outages fall mid-epoch. Outage lengths: ZM_OUTAGE_S (default 30).
set -euo pipefail
. "$(dirname "$0")/../lib/miner-node.sh"

outage_s=${ZM_OUTAGE_S:-30}
mn_init mineroutage
t0=$(date +%s)
mn_s3_private
mn_start_world 1500
mn_start_coord
mn_start_miner ZM_SCRAPER_POOL=2 ZM_ASSIGNER_POLL_MS=7000

now_ms () { date +%s%3N; }
landed () { q "SELECT count(*) FROM miner_uploads WHERE state = 'uploaded'" 2>/dev/null || echo 0; }

# every second: "ms code body" of /readyz and the /livez code, for the whole run
(
    while kill -0 "$MN_SUP" 2>/dev/null; do
        r=$(mn_readyz)
        l=$(curl -s -o /dev/null -m 3 -w '%{http_code}' "http://127.0.0.1:$MN_HTTP_PORT/livez" || true)
        echo "$(now_ms) $l $r" >> "$MN_T/readyz.log"
        sleep 1
    done
) &
MN_PIDS+=($!)

wait_ready () {   # TIMEOUT_S WHAT: until /readyz is 200; prints the seconds it took
    local start deadline r
    start=$(now_ms); deadline=$(( $(date +%s) + $1 ))
    while r=$(mn_readyz); [ "${r%% *}" != 200 ]; do
        kill -0 "$MN_SUP" 2>/dev/null || mn_fail "zipmined exited"
        [ "$(date +%s)" -lt "$deadline" ] || mn_fail "/readyz not 200 $1 s after $2: $r"
        sleep 0.5
    done
    echo "$(( ($(now_ms) - start) / 1000 ))"
}
wait_ready 60 "start" >/dev/null
r0=$(now_ms)
# a zipcode landed: the grant is cached, the pipeline runs
deadline=$(( $(date +%s) + 90 ))
until [ "$(landed)" -ge 1 ]; do
    kill -0 "$MN_SUP" 2>/dev/null || mn_fail "zipmined exited"
    [ "$(date +%s)" -lt "$deadline" ] || mn_fail "no upload after 90 s"
    sleep 0.5
done
mn_log "node working: $(mn_tasks_by_status)"

# ---- coordinator down
a0=$(now_ms); before=$(landed)
mn_stop_coord
mn_log "coordinator stopped for $outage_s s (landed so far: $before)"
sleep "$outage_s"
during=$(landed)
a1=$(now_ms)
mn_start_coord
mn_log "coordinator back on :$MN_CPORT; $((during - before)) zipcodes landed while it was down"
[ "$during" -gt "$before" ] || mn_fail "nothing landed while the coordinator was down: the work waited for it"
secs=$(wait_ready 60 "the coordinator came back")
a2=$(now_ms)
mn_log "/readyz 200 again $secs s after the coordinator came back: $(mn_tasks_by_status)"

# ---- S3 down (still work left: tasks are being stored and must wait for S3)
left=$(q "SELECT count(*) FROM miner_tasks WHERE status <> 'uploaded'")
[ "$left" -ge 3 ] || mn_fail "only $left zipcodes left before the S3 outage: the epoch went too fast for the test"
b0=$(now_ms)
mn_s3_stop
mn_log "S3 stopped for $outage_s s ($left zipcodes not uploaded yet)"
sleep "$outage_s"
b1=$(now_ms)
mn_s3_start
mn_log "S3 back on :$MN_S3_PORT"
secs=$(wait_ready 90 "S3 came back")
b2=$(now_ms)
mn_log "/readyz 200 again $secs s after S3 came back: $(mn_tasks_by_status)"

mn_wait_epoch 150
mn_log "epoch completed after $(( $(date +%s) - t0 )) s: $(mn_tasks_by_status)"

# What /readyz said during each window
python3 - "$MN_T/readyz.log" "$r0" "$a0" "$a1" "$a2" "$b0" "$b1" "$b2" <<'PY' || mn_fail "/readyz did not show the outages as the contract says (above)"
import json, sys
path, r0, a0, a1, a2, b0, b1, b2 = sys.argv[1], *map(int, sys.argv[2:])
rows = []
for line in open(path, encoding='utf-8'):
    parts = line.rstrip('\n').split(' ', 3)
    if len(parts) < 3: continue
    ms, livez, code = int(parts[0]), parts[1], parts[2]
    body = parts[3] if len(parts) > 3 else ''
    if ms < r0: continue        # start-up: workers STARTING
    rows.append((ms, livez, code, body))
errors = []
def degraded(body):
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    return [(n.get('worker'), n.get('state'), n.get('reason', '')) for n in doc.get('not_ready', [])]
def window(lo, hi):
    return [r for r in rows if lo <= r[0] <= hi]
for ms, livez, code, body in rows:
    if livez != '200': errors.append(f'/livez {livez} at {ms}')
    if code == '503':
        for w, state, reason in degraded(body) or []:
            if state != 'degraded':
                errors.append(f'{w} {state} at {ms} (an outage must not stop or restart a worker): {body}')
coord_seen = [r for r in window(a0, a1) if r[2] == '503' and any(
    w in ('assigner.0', 'uploader.0') and st == 'degraded' and re.startswith('coordinator: ')
    for w, st, re in degraded(r[3]) or [])]
s3_seen = [r for r in window(b0, b1) if r[2] == '503' and any(
    w == 'uploader.0' and st == 'degraded' and re.startswith('s3: ')
    for w, st, re in degraded(r[3]) or [])]
if not coord_seen:
    errors.append('no /readyz 503 naming a degraded worker with "coordinator: ..." during the coordinator outage: '
                  + repr([r[2:] for r in window(a0, a1)][-3:]))
if not s3_seen:
    errors.append('no /readyz 503 naming uploader.0 degraded with "s3: ..." during the S3 outage: '
                  + repr([r[2:] for r in window(b0, b1)][-3:]))
for e in errors[:20]:
    print('  ' + e, file=sys.stderr)
if errors:
    sys.exit(1)
first = lambda seen, t: (seen[0][0] - t) / 1000
print(f'/readyz: coordinator outage visible {first(coord_seen, a0):.1f} s after it began '
      f'({len(coord_seen)} samples, e.g. {coord_seen[0][3]}); S3 outage visible '
      f'{first(s3_seen, b0):.1f} s after it began ({len(s3_seen)} samples, e.g. {s3_seen[0][3]})')
PY

restarts=$(mn_ctl_status_json | python3 -c 'import json,sys
print(sum(c["restarts"] for c in json.load(sys.stdin)["children"]))')
[ "$restarts" = 0 ] || mn_fail "$restarts worker restarts: an outage must not restart workers"
mn_verify
mn_stop_miner
mn_log "PASS in $(( $(date +%s) - t0 )) s"
