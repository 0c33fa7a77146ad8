#!/usr/bin/env bash
# kill -9 equivalence of a whole validator node (issue 6).
#
# One generated epoch (5 miners x 12 zipcodes of ~130 expected listings, ~20 % bad submissions: fabricated prices,
# short counts, duplicated listings) on the real coordinator, world and S3 server.
#   A: a validator node runs undisturbed: consensus hash H and weights W.
#      Every submission it judged failed exactly at the tier its kind was built to fail
#      (short -> tier 1, dup -> tier 2, price -> tier 3; honest ones pass all three), so the
#      generator and the tiers agree on what "bad" is.
#   B: a second validator node (own database, own hotkey: the hash does not depend on the
#      validator's hotkey) on the same epoch, with kill -9 of each worker kind (downloader,
#      tier1, tier2, tier3.0, tier3.1, consensus) at seeded random points of its progress:
#      the same H and exactly the same W (same hotkeys, same doubles), each killed worker
#      restarted by the supervisor, and B's verdict PERFECT 2/2 (it reads A's result).
# The seed is ZM_KILL_SEED (default: random) and is printed with the kill schedule; to replay,
# set ZM_KILL_SEED to the printed value (the epoch differs, so the points of progress are
# the same draws, not the same submissions).
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/lib/validator-node.sh
. "$here/tests/lib/validator-node.sh"

seed=${ZM_KILL_SEED:-$((RANDOM * 32768 + RANDOM))}
echo "ZM_KILL_SEED=$seed"
RANDOM=$seed

vn_init vkill
bucket="zm-vkill-$$"
vn_keys vala valb
vn_world w 46
VN_COORD_BUCKET=$bucket      # the nodes publish through the coordinator's upload grant
vn_coordinator 5 20 1400 12
vn_generate w --bucket "$bucket" --miners 5 --bad-pct 20 --seed "$seed" --min-left-s 12
echo "generated: $(cat "$T/gen.json")"

# A: undisturbed, started before the deadline.
a0=$(now_ms)
vn_validator vala "$bucket" w
vn_wait_weights vala 150 || fail "A wrote no weights in 150 s"
a_ms=$(( $(now_ms) - a0 ))
H=$(vn_hash vala)
vn_weights vala > "$T/wa"
echo "A: weights ${a_ms} ms after its start (which was $(( a0 - VN_DEADLINE * 1000 )) ms from the deadline), hash $H, $(wc -l < "$T/wa") miners weighted, verdict $(vn_verdict vala)"
[ -n "$H" ] || fail "A stored no hash"
[ -s "$T/wa" ] || fail "A stored no weights"
[ "$(vn_verdict vala)" = "PERFECT 1/1 " ] || fail "A's verdict: $(vn_verdict vala)"
restarts_a=$(grep -c '"event":"child_exit"' "$T/vala.log")
[ "$restarts_a" = 0 ] || echo "WARNING: A was not undisturbed: $restarts_a worker exits (see $T/vala.log)"

# Every judged submission failed at the tier its kind predicts (first failing tier, or 0).
vn_sql vala "SELECT s3_key, COALESCE (min (tier) FILTER (WHERE passed = false), 0),
                    count (*) FILTER (WHERE passed) FROM validator_tier_results
              WHERE epoch_id = '$VN_EPOCH' GROUP BY s3_key" | tr '|' ' ' > "$T/judged"
[ -s "$T/judged" ] || fail "A judged nothing"
mismatch=$(awk 'NR == FNR { kind [$5] = $3; next }
                { k = kind [$1]; want = k == "short" ? 1 : k == "dup" ? 2 : k == "price" ? 3 : 0
                  if (k == "") print "unknown key " $1
                  else if ($2 != want) print $1 " kind " k " failed at tier " $2
                  else if (want == 0 && $3 != 3) print $1 " honest but passed " $3 " tiers" }' \
           "$T/manifest" "$T/judged")
[ -z "$mismatch" ] || fail "tier outcomes differ from the generated kinds: $mismatch"
echo "A: $(wc -l < "$T/judged") submissions judged, each at the tier its kind predicts" \
     "($(awk '$2 == 1' "$T/judged" | wc -l) tier 1, $(awk '$2 == 2' "$T/judged" | wc -l) tier 2," \
     "$(awk '$2 == 3' "$T/judged" | wc -l) tier 3 failures)"

# B: the same epoch, each worker kind killed with SIGKILL once at a seeded moment while it
# works. A moment is a point of progress, not of time (a loaded machine stretches time): the
# kill comes when B has stored a seeded number of tier results, drawn from 0 .. 90 % of the
# N that A stored (B stores the same N), so every kill lands before B can score.
workers=(downloader.0 tier1.0 tier2.0 tier3.0 tier3.1 consensus.0)
N=$(vn_sql vala "SELECT count (*) FROM validator_tier_results WHERE epoch_id = '$VN_EPOCH'")
sched=()
for w in "${workers[@]}"; do sched+=("$(( (RANDOM * 32768 + RANDOM) % (N * 9 / 10 + 1) )) $w"); done
mapfile -t sched < <(printf '%s\n' "${sched[@]}" | sort -n)
echo "kill schedule (tier results stored by B, of N = $N; seed $seed):"
printf '  %s\n' "${sched[@]}"
b0=$(now_ms)
vn_validator valb "$bucket" w
progress () {
    vn_sql valb "SELECT (SELECT count (*) FROM validator_tier_results WHERE epoch_id = '$VN_EPOCH'),
                        (SELECT count (*) FROM validator_consensus_epochs WHERE epoch_id = '$VN_EPOCH')" \
        2>/dev/null | tr '|' ' '
}
for entry in "${sched[@]}"; do
    at=${entry%% *}
    w=${entry#* }
    while :; do
        read -r stored scored <<< "$(progress)"
        [ "${stored:-0}" -ge "$at" ] && break
        [ $(( $(now_ms) - b0 )) -lt 180000 ] || fail "B stalled at ${stored:-?} tier results"
        kill -0 "${VN_PID[valb]}" 2>/dev/null || fail "node B exited"
        sleep 0.1
    done
    pid=""
    for _ in $(seq 1 50); do      # a worker still in backoff from an earlier kill has no pid
        pid=$(vn_child_pid valb "$w")
        [ -n "$pid" ] && break
        sleep 0.1
    done
    [ -n "$pid" ] || fail "no pid for $w"
    [ "${scored:-1}" = 0 ] || fail "B had scored before the kill of $w"
    kill -KILL "$pid"
    echo "  killed $w (pid $pid) at $(( $(now_ms) - b0 )) ms, B having stored $stored of $N tier results"
done
vn_wait_weights valb 180 || fail "B wrote no weights in 180 s"
echo "B: weights after $(( $(now_ms) - b0 )) ms"
for w in "${workers[@]}"; do
    r=$(vn_child_restarts valb "$w")
    [ "${r:-0}" -ge 1 ] 2>/dev/null || fail "$w of B was not restarted (restarts: ${r:-?})"
done
HB=$(vn_hash valb)
vn_weights valb > "$T/wb"
echo "B: hash $HB, verdict $(vn_verdict valb)"
[ "$HB" = "$H" ] || fail "B's hash $HB differs from A's $H"
if ! cmp -s "$T/wa" "$T/wb"; then
    diff "$T/wa" "$T/wb" | head -20 >&2
    fail "B's weights differ from A's"
fi
[ "$(vn_verdict valb)" = "PERFECT 2/2 " ] || fail "B's verdict: $(vn_verdict valb)"
# The weights files carry the same weights too (only the verdict may differ).
python3 - "$T/vala.weights.json" "$T/valb.weights.json" <<'EOF' || fail "weights files differ"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["weights"] == b["weights"] and a["consensus_hash"] == b["consensus_hash"], (a, b)
EOF
vn_stop valb vala
echo "PASS: H = $H and $(wc -l < "$T/wa") weights identical after 6 kill -9 (seed $seed)"
