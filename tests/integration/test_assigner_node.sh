#!/usr/bin/env bash
# The miner pipeline under zipmined, all real: one node running coordinator, world, assigner,
# scraper x2 (built-in world kind) and storage on one fresh PostgreSQL database.
#   - the assigner records the coordinator's epoch, the scrapers fetch every zipcode from the
#     world, storage stores them: every task ends 'stored' with listing_count equal to the
#     zipcode's expected listings (a lost final batch is recovered by the re-lease of a
#     'scraped' task: short lease and grace here);
#   - the node's /metrics carries the assigner's and scrapers' metrics and passes promtool;
#   - SIGTERM stops the node with exit 0.
set -euo pipefail
BUILD=${ZM_BUILD_DIR:?ZM_BUILD_DIR not set}
BIN=$BUILD/bin
: "${ZM_TEST_PG_DSN:?ZM_TEST_PG_DSN not set: run tests/run or source tests/services env}"
for b in zipmined zipmine-keys coordinator world assigner scraper storage; do
    [ -x "$BIN/$b" ] || { echo "FAIL: $BIN/$b not built"; exit 1; }
done
command -v psql >/dev/null || { echo "FAIL: psql is required"; exit 1; }

. "${ZM_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/node-test.sh"
nt_init minernode

psql "$ZM_TEST_PG_DSN" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE $DB"
hotkey=$("$BIN/zipmine-keys" dev node-miner --wallet.path "$T/w" --wallet.name m \
         --wallet.hotkey default | grep -o '5[1-9A-HJ-NP-Za-km-z]\{47\}' | head -n 1)
[ -n "$hotkey" ] || fail "no dev hotkey"
echo "{\"hotkeys\":[{\"hotkey\":\"$hotkey\",\"role\":\"miner\"}]}" > "$T/metagraph.json"
read -r cport wport < <(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(*[x.getsockname()[1] for x in s])')

export ZM_DB_DSN="$ZM_TEST_PG_DSN dbname=$DB" ZM_RUN_DIR="$T/run" ZM_NODE_NAME=mn ZM_HTTP_PORT=0
export ZM_WORKERS="coordinator,world,assigner,scraper:2,storage"
export ZM_COORDINATOR_METAGRAPH="$T/metagraph.json" ZM_COORDINATOR_PORT=$cport
export ZM_COORDINATOR_ZIPCODES=4 ZM_COORDINATOR_EPOCH_S=86400
export ZM_COORDINATOR_URL=http://127.0.0.1:$cport
export ZM_WORLD_PORT=$wport ZM_SCRAPER_WORLD_URL=http://127.0.0.1:$wport
export ZM_WALLET_PATH="$T/w" ZM_WALLET_NAME=m ZM_WALLET_HOTKEY=default
export ZM_ASSIGNER_POLL_MS=7000 ZM_ASSIGNER_LEASE_MS=20000 ZM_ASSIGNER_SCRAPED_GRACE_MS=3000
export ZM_SCRAPER_TIMEOUT_S=15
"$BIN/zipmined" > "$T/log" 2>&1 &
SUP=$!

deadline=$(( $(date +%s) + 180 ))
while :; do
    stored=$(q "SELECT count(*) FROM miner_tasks WHERE status IN ('stored','uploaded')" 2>/dev/null || echo 0)
    total=$(q "SELECT count(*) FROM miner_tasks" 2>/dev/null || echo 0)
    [ "$total" = 4 ] && [ "$stored" = 4 ] && break
    kill -0 "$SUP" 2>/dev/null || fail "zipmined exited"
    [ "$(date +%s)" -lt "$deadline" ] || fail "only $stored of $total tasks stored"
    sleep 1
done
bad=$(q "SELECT count(*) FROM miner_tasks WHERE listing_count IS DISTINCT FROM expected_listings")
[ "$bad" = 0 ] || fail "$bad tasks stored a count other than expected: $(q 'SELECT zipcode, expected_listings, listing_count FROM miner_tasks')"
n=$(q "SELECT count(*) FROM miner_listings")
want=$(q "SELECT sum(expected_listings) FROM miner_tasks")
[ "$n" = "$want" ] || fail "miner_listings has $n rows, expected $want"
q "SELECT zipcode, status, attempts, expected_listings, listing_count FROM miner_tasks ORDER BY zipcode"

port=$(cat "$T/run/mn/http.port")
curl -fsS "http://127.0.0.1:$port/metrics" > "$T/metrics" || fail "no /metrics"
for m in zipmine_assigner_leases_total zipmine_scraper_tasks_total zipmine_scraper_listings_total; do
    grep -q "^$m" "$T/metrics" || fail "/metrics lacks $m"
done
if command -v promtool >/dev/null; then
    promtool check metrics < "$T/metrics" || fail "promtool check metrics"
fi

kill -TERM "$SUP"
rc=0
wait "$SUP" || rc=$?
SUP=""
[ "$rc" = 0 ] || fail "zipmined exited $rc after SIGTERM"
echo "PASS"
