#!/usr/bin/env bash
# Measure the local S3 server: start time, memory (RSS), and PUT/GET throughput
# for N objects of SIZE MiB through the verifying front vs s3rver alone (same
# machine, same curl, loopback).  Not run by ctest.
#
#   tests/s3/bench.sh [N=5] [SIZE_MIB=8]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export ZM_TEST_NODE_DIR=${ZM_TEST_NODE_DIR:-$here/../node}
n=${1:-5}
size=${2:-8}
tmp=$(mktemp -d)
direct_pid=
cleanup() {
  "$here/stop" "$tmp/front" >/dev/null 2>&1 || true
  [ -n "$direct_pid" ] && kill "$direct_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }

# ---- start time (3 runs, wall time of tests/s3/start until it answered)
for i in 1 2 3; do
  t0=$(date +%s%N)
  "$here/start" "$tmp/st$i" >/dev/null
  t1=$(date +%s%N)
  echo "start run $i: $(( (t1 - t0) / 1000000 )) ms (server-reported startup $(grep -o '"startup_ms":[0-9]*' "$tmp/st$i/s3.log" | cut -d: -f2) ms)"
  "$here/stop" "$tmp/st$i"
done

# ---- servers
"$here/start" "$tmp/front" >/dev/null
# shellcheck disable=SC1091
source "$tmp/front/s3.env"
front_pid=$(cat "$tmp/front/s3.pid")
mkdir -p "$tmp/direct"
(cd "$ZM_TEST_NODE_DIR" && exec node --openssl-legacy-provider -e "
  const S3rver = require('s3rver');
  new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: process.argv[1], vhostBuckets: false,
               configureBuckets: [{ name: 'zipmine', configs: [] }] })
    .run().then((a) => require('fs').writeFileSync(process.argv[1] + '/port', String(a.port)));
" "$tmp/direct") &
direct_pid=$!
for _ in $(seq 1 100); do [ -s "$tmp/direct/port" ] && break; sleep 0.1; done
direct_port=$(cat "$tmp/direct/port")
echo "idle RSS: front+s3rver $(rss_kb "$front_pid") kB; s3rver alone $(rss_kb "$direct_pid") kB"

head -c $((size * 1024 * 1024)) /dev/urandom > "$tmp/obj"
sha=$(sha256sum "$tmp/obj" | cut -d' ' -f1)
bytes=$((size * 1024 * 1024))

# run LABEL ENDPOINT USER PAYLOAD_HASH
run() {
  local label=$1 ep=$2 user=$3 hash=$4 put=0 get=0 t i
  for i in $(seq 1 "$n"); do
    t=$(curl -s -f -o /dev/null -w '%{time_total}' --aws-sigv4 "aws:amz:us-east-1:s3" --user "$user" \
        -H "x-amz-content-sha256: $hash" -T "$tmp/obj" "$ep/zipmine/bench/$i.bin")
    put=$(awk -v a="$put" -v b="$t" 'BEGIN { print a + b }')
  done
  for i in $(seq 1 "$n"); do
    t=$(curl -s -f -o "$tmp/got" -w '%{time_total}' --aws-sigv4 "aws:amz:us-east-1:s3" --user "$user" \
        -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$ep/zipmine/bench/$i.bin")
    get=$(awk -v a="$get" -v b="$t" 'BEGIN { print a + b }')
    cmp -s "$tmp/got" "$tmp/obj" || { echo "$label: GET $i returned different bytes" >&2; exit 1; }
  done
  awk -v l="$label" -v n="$n" -v b="$bytes" -v p="$put" -v g="$get" -v s="$size" \
    'BEGIN { printf "%-34s PUT %6.1f MB/s   GET %6.1f MB/s   (%d x %d MiB)\n", l, n * b / 1e6 / p, n * b / 1e6 / g, n, s }'
}
run "s3rver alone" "http://127.0.0.1:$direct_port" S3RVER:S3RVER UNSIGNED-PAYLOAD
run "front, UNSIGNED-PAYLOAD" "$ZM_TEST_S3_ENDPOINT" "$ZM_TEST_S3_ACCESS_KEY:$ZM_TEST_S3_SECRET_KEY" UNSIGNED-PAYLOAD
run "front, payload sha256 verified" "$ZM_TEST_S3_ENDPOINT" "$ZM_TEST_S3_ACCESS_KEY:$ZM_TEST_S3_SECRET_KEY" "$sha"
echo "RSS after load: front+s3rver $(rss_kb "$front_pid") kB (peak $(hwm_kb "$front_pid") kB); s3rver alone $(rss_kb "$direct_pid") kB (peak $(hwm_kb "$direct_pid") kB)"
