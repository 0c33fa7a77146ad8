#!/usr/bin/env bash
# Issue 5 acceptance 1: one miner node (`zipmined --role miner`: assigner, scraper x4,
# storage, uploader in s3.mode grant, the default) completes an epoch of 25 zipcodes against
# the real coordinator and world binaries, PostgreSQL and the S3 server:
#   - one object per zipcode in S3 at data/hotkey={hk}/epoch={id}/zipcode={zip}/data_*.json,
#     the key, size and sha256 the upload ledger recorded;
#   - each object's listings == the node's stored listings == the world's listings for the
#     zipcode, by id and content (tests/lib/miner-node.sh mn_verify);
#   - the coordinator recorded COMPLETED for the hotkey with all 25 zipcodes (its database
#     and /api/v1/zipcode-assignments/stats); /readyz is 200 throughout the run;
#   - SIGTERM stops the node with exit 0.
# The coordinator's epoch length is picked so that the current epoch has >= 10 min left.
set -euo pipefail
. "$(dirname "$0")/../lib/miner-node.sh"

mn_init minerepoch
t0=$(date +%s)
mn_start_world 0
mn_start_coord
mn_log "coordinator epoch length $MN_EPOCH_S s"
# no faults here, so leases are long enough never to expire on a loaded machine: a zipcode
# whose lease ran out would be scraped twice and hide a lost batch
mn_start_miner ZM_ASSIGNER_LEASE_MS=60000 ZM_ASSIGNER_SCRAPED_GRACE_MS=30000 ZM_SCRAPER_TIMEOUT_S=50
# /readyz: 200 once every worker is READY, and it stays so while the epoch is worked
deadline=$(( $(date +%s) + 60 ))
until [ "$(mn_readyz | cut -d' ' -f1)" = 200 ]; do
    [ "$(date +%s)" -lt "$deadline" ] || mn_fail "/readyz not 200 after 60 s: $(mn_readyz)"
    sleep 0.5
done
mn_log "node ready after $(( $(date +%s) - t0 )) s"
(   # watcher: any non-200 /readyz while the healthy node works is recorded
    while kill -0 "$MN_SUP" 2>/dev/null; do
        r=$(mn_readyz)
        [ "${r%% *}" = 200 ] || echo "$(date -u +%T) $r" >> "$MN_T/readyz_bad"
        sleep 1
    done
) &
MN_PIDS+=($!)
mn_wait_epoch 150
mn_log "epoch completed after $(( $(date +%s) - t0 )) s: $(mn_tasks_by_status)"
if [ -s "$MN_T/readyz_bad" ]; then
    mn_fail "/readyz was not 200 while the healthy node worked: $(head -n 3 "$MN_T/readyz_bad")"
fi
expired=$(grep -c '"event":"lease_expired"' "$MN_T/miner.log" || true)
[ "$expired" = 0 ] || mn_fail "$expired leases expired in a run without faults"
mn_verify
# nothing restarted: a clean run has no crash
restarts=$(mn_ctl_status_json | python3 -c 'import json,sys
print(sum(c["restarts"] for c in json.load(sys.stdin)["children"]))')
[ "$restarts" = 0 ] || mn_fail "$restarts worker restarts in a run without faults"
mn_stop_miner
mn_log "PASS in $(( $(date +%s) - t0 )) s"
