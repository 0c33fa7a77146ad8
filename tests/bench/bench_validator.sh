#!/usr/bin/env bash
# Benchmark (issue 6 acceptance; not a ctest test): deadline -> weights of one validator node
# for an epoch of 100 miners x 25 zipcodes x ~250 listings generated into the local S3
# server, with the wall time of each phase and the peak RSS (VmHWM) and CPU time per worker.
#
#   tests/services start DIR && . DIR/env.sh
#   cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release && cmake --build build-rel -j2
#   ZM_BUILD_DIR=$PWD/build-rel tests/bench/bench_validator.sh
#
# Env: BENCH_MINERS (100), BENCH_ZIPCODES (25), BENCH_TARGET (6250: ~250 per zipcode),
#      BENCH_EPOCH_S (120), BENCH_BAD_PCT (20), BENCH_THREADS (8, generator PUTs),
#      BENCH_MODE (demand: lazy validation as deployed; all: every submission downloaded and
#      checked by all tiers), BENCH_SEED (46).
# The node is started before the deadline (right after the last PUT) with downloader.grace.ms
# 0 and consensus.verdict.delay.ms 1000, so times are measured from the deadline. The
# downloader looks for work every 5 s, which is part of "deadline -> listed".
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/lib/validator-node.sh
. "$here/tests/lib/validator-node.sh"

miners=${BENCH_MINERS:-100}
zipcodes=${BENCH_ZIPCODES:-25}
target=${BENCH_TARGET:-6250}
epoch_s=${BENCH_EPOCH_S:-120}
bad=${BENCH_BAD_PCT:-20}
threads=${BENCH_THREADS:-8}
mode=${BENCH_MODE:-demand}
seed=${BENCH_SEED:-46}

vn_init vbench
bucket="zm-vbench-$$"
VN_BUCKETS+=("$bucket")
VN_COORD_BUCKET=$bucket      # the node publishes through the coordinator's upload grant
vn_keys bench
vn_world w 46
vn_coordinator "$miners" "$epoch_s" "$target" "$zipcodes"
echo "bench: generating $miners miners x $zipcodes zipcodes (target $target listings), epoch ${epoch_s}s"
g0=$(now_ms)
"$BIN/bench_gen_submissions" generate --coordinator "$VN_COORD" --world "${VN_WORLD[w]}" \
    --epoch-s "$epoch_s" --manifest "$T/manifest" --epoch-file "$T/epoch" --bucket "$bucket" \
    --miners "$miners" --bad-pct "$bad" --seed "$seed" --threads "$threads" \
    --min-left-s $(( epoch_s * 3 / 4 )) --margin-s 5 > "$T/gen.json" 2> "$T/gen.log" &
gen=$!
while [ ! -s "$T/epoch" ]; do
    kill -0 "$gen" 2>/dev/null || { cat "$T/gen.log" >&2; fail "the generator exited"; }
    sleep 0.2
done
read -r VN_EPOCH VN_DEADLINE < "$T/epoch"
# The node starts while the submissions are uploaded: it lists them after the deadline.
VN_GRACE_MS=0 VN_VERDICT_DELAY_MS=1000 vn_validator bench "$bucket" w --downloader.mode "$mode"
wait "$gen" || { cat "$T/gen.json" "$T/gen.log" >&2; fail "the generator failed"; }
echo "bench: generated in $(( $(now_ms) - g0 )) ms (including the wait for a fresh epoch): $(cat "$T/gen.json")"
sup=${VN_PID[bench]}
deadline_ms=$(( VN_DEADLINE * 1000 ))
[ "$(now_ms)" -lt "$deadline_ms" ] || fail "the upload ended after the deadline"
echo "bench: upload done $(( deadline_ms - $(now_ms) )) ms before the deadline; node running (mode $mode)"

# Sampled with shell builtins only (no process per read), so sampling stays cheap and fast.
declare -A hwm cpu_pid name_of
vmhwm () {  # pid -> VmHWM in kB (empty if gone)
    local k v rest
    while read -r k v rest; do
        [ "$k" = "VmHWM:" ] && { echo "$v"; return; }
    done 2>/dev/null < /proc/"$1"/status
}
sample () {
    local p id comm idx h f line kids st
    h=$(vmhwm "$sup")
    [ -n "$h" ] && { [ "${hwm[zipmined]:-0}" -ge "$h" ] || hwm[zipmined]=$h; }
    for f in /proc/"$sup"/task/*/children; do
        read -r -a kids 2>/dev/null < "$f" || true
        for p in "${kids[@]}"; do
            if [ -z "${name_of[$p]:-}" ]; then
                read -r comm 2>/dev/null < /proc/"$p"/comm || continue
                idx=0
                while IFS= read -r -d '' line; do
                    case $line in ZM_WORKER_INDEX=*) idx=${line#ZM_WORKER_INDEX=} ;; esac
                done 2>/dev/null < /proc/"$p"/environ
                name_of[$p]="$comm.$idx"
            fi
            id=${name_of[$p]}
            h=$(vmhwm "$p")
            [ -n "$h" ] || continue
            [ "${hwm[$id]:-0}" -ge "$h" ] || hwm[$id]=$h
            read -r -a st 2>/dev/null < /proc/"$p"/stat && cpu_pid[$p]=$(( st[13] + st[14] ))
        done
    done
}
while [ ! -s "$T/bench.weights.json" ]; do
    kill -0 "$sup" 2>/dev/null || fail "the node exited"
    [ $(( $(now_ms) - deadline_ms )) -lt 1800000 ] || fail "no weights 30 min after the deadline"
    sample
    sleep 0.5
done
sample
seen_ms=$(( $(now_ms) - deadline_ms ))

at () {     # column of validator_epochs / validator_consensus_epochs -> ms after the deadline
    vn_sql bench "SELECT round (extract (epoch FROM $1) * 1000)::bigint - $deadline_ms
                    FROM validator_epochs e LEFT JOIN validator_consensus_epochs c USING (epoch_id)
                   WHERE e.epoch_id = '$VN_EPOCH'"
}
listed=$(at e.listed_at)
scored=$(at c.scored_at)
published=$(at c.published_at)
weights=$(at c.weights_at)
states=$(vn_sql bench "SELECT string_agg (state || ' ' || n, ', ' ORDER BY state) FROM
                        (SELECT state, count (*) n FROM validator_submissions
                          WHERE epoch_id = '$VN_EPOCH' GROUP BY state) s")
tiers=$(vn_sql bench "SELECT string_agg ('tier ' || tier || ' ' || n, ', ' ORDER BY tier) FROM
                       (SELECT tier, count (*) n FROM validator_tier_results
                         WHERE epoch_id = '$VN_EPOCH' GROUP BY tier) s")
stored=$(vn_sql bench "SELECT count (*) FROM validator_submission_listings")
lookups=$(vn_sql bench "SELECT count (*) FROM validator_spot_checks")
verdict=$(vn_verdict bench)
hz=$(getconf CLK_TCK)

echo
echo "epoch $VN_EPOCH: $miners miners x $zipcodes zipcodes, $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%d objects, %d bad, %.1f MB, %.1f s of PUTs" % (d["objects"], d["bad"], d["bytes"]/1e6, d["put_s"]))' "$T/gen.json")"
echo "build: $ZM_BUILD_DIR ($(grep -E '^CMAKE_BUILD_TYPE|^ZM_SANITIZE' "$ZM_BUILD_DIR/CMakeCache.txt" | tr '\n' ' '))"
echo "downloader.mode $mode; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "submissions: $states; tier results: $tiers; listings stored: $stored; tier-3 lookups: $lookups; verdict: $verdict"
echo
printf '%-34s %10s\n' "phase (from the deadline)" "ms"
printf '%-34s %10s\n' "listed (validator_epochs.listed_at)" "$listed"
printf '%-34s %10s\n' "scored (hash stored)" "$scored"
printf '%-34s %10s\n' "published to S3" "$published"
printf '%-34s %10s\n' "weights row + file (weights_at)" "$weights"
printf '%-34s %10s\n' "weights file seen by the bench" "$seen_ms"
echo
printf '%-14s %14s %10s\n' "worker" "peak RSS MiB" "CPU s"
declare -A cpu
for p in "${!cpu_pid[@]}"; do
    id=${name_of[$p]}
    cpu[$id]=$(( ${cpu[$id]:-0} + ${cpu_pid[$p]} ))
done
for id in $(printf '%s\n' "${!hwm[@]}" | sort); do
    awk -v id="$id" -v kb="${hwm[$id]}" -v t="${cpu[$id]:--1}" -v hz="$hz" 'BEGIN {
        printf "%-14s %14.1f %10s\n", id, kb / 1024, t < 0 ? "-" : sprintf ("%.2f", t / hz) }'
done
vn_stop bench
