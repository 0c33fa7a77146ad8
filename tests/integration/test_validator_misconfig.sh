#!/usr/bin/env bash
# A misconfigured validator among three (issue 6), on one generated epoch (4 miners x 8
# zipcodes, ~20 % bad submissions) written to two buckets, so the two groups of three
# validators below (all six running at once) each see only their own group's results. (The buckets' LastModified
# values differ, and with them the order and the tier-3 samples: the groups' hashes are not
# compared with each other.)
#
#   agree:  three validator nodes (own databases and hotkeys) on bucket 1, all configured
#           alike: the same hash everywhere, and each records PERFECT 3/3 with no outlier.
#   misconfig: three validator nodes on bucket 2, one of which checks tier 3 against the
#           wrong property source (a world with another seed: its prices, types and beds
#           differ, as a validator pointed at a stale or foreign source would see them), so
#           its tier-3 verdicts and scores differ. 2 of 3 agree = 67 % < 90 %, so by the rules
#           every node records FAILED 2/3; both honest nodes name the misconfigured
#           validator's hotkey as the only outlier (and stored its hash as a peer's), and the
#           misconfigured node names itself. Every node's weights are its own scores
#           (the verdict is reported, not acted on).
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/lib/validator-node.sh
. "$here/tests/lib/validator-node.sh"

vn_init vmisc
b1="zm-vmisc1-$$"
b2="zm-vmisc2-$$"
vn_keys ok1 ok2 ok3 hon1 hon2 wrong
vn_world w 46
vn_world stale 47
VN_COORD_BUCKET=$b1  # group 1 publishes through the coordinator's upload grant (for b1),
vn_coordinator 4 20 1000 8      # group 2 with its S3 credentials (s3.mode direct)
vn_generate w --bucket "$b1" --bucket "$b2" --miners 4 --bad-pct 20 --seed 7 --min-left-s 12
echo "generated: $(cat "$T/gen.json")"

# Every node of a group must have published before any reads its peers. A fixed verdict
# delay cannot promise that on a loaded machine (the spread of publishing times grows with
# the load), so the nodes run with a verdict delay of an hour until all six have published,
# and are then restarted on their databases with a delay of 0: consensus takes the delay
# from the stored published_at, so each restarted node reads its peers at once, and all of
# them are there.
check_group () {
    local n
    for n in "$@"; do
        vn_wait_weights "$n" 200 || fail "$n wrote no weights"
    done
    for n in "$@"; do
        echo "  $n (${VN_HK[$n]}): hash $(vn_hash "$n") verdict '$(vn_verdict "$n")'" \
             "published/weights at $(vn_sql "$n" "SELECT round (extract (epoch FROM published_at) * 1000 - ${VN_DEADLINE}000) || '/' || round (extract (epoch FROM weights_at) * 1000 - ${VN_DEADLINE}000) FROM validator_consensus_epochs WHERE epoch_id = '$VN_EPOCH'") ms"
    done
}

# Both groups run at the same time (most of a node's time is waiting, not CPU).
declare -A bucket_of world_of
for n in ok1 ok2 ok3; do bucket_of[$n]=$b1; world_of[$n]=w; done
for n in hon1 hon2 wrong; do bucket_of[$n]=$b2; world_of[$n]=w; done
world_of[wrong]=stale
mode_of () { case $1 in ok*) echo grant ;; *) echo direct ;; esac; }
nodes=(ok1 ok2 ok3 hon1 hon2 wrong)
VN_VERDICT_DELAY_MS=3600000
for n in "${nodes[@]}"; do VN_S3_MODE=$(mode_of "$n") vn_validator "$n" "${bucket_of[$n]}" "${world_of[$n]}"; done
for n in "${nodes[@]}"; do vn_wait_published "$n" 240 || fail "$n did not publish"; done
for n in "${nodes[@]}"; do
    [ -s "$T/$n.weights.json" ] && fail "$n wrote weights before its verdict delay"
done
vn_stop "${nodes[@]}"
echo "all six published; restarted with consensus.verdict.delay.ms 0"
VN_VERDICT_DELAY_MS=0
for n in "${nodes[@]}"; do VN_S3_MODE=$(mode_of "$n") vn_validator "$n" "${bucket_of[$n]}" "${world_of[$n]}"; done

echo "agree: three alike on $b1"
check_group ok1 ok2 ok3
H=$(vn_hash ok1)
[ -n "$H" ] || fail "ok1 stored no hash"
for n in ok1 ok2 ok3; do
    [ "$(vn_hash "$n")" = "$H" ] || fail "$n's hash differs from ok1's"
    [ "$(vn_verdict "$n")" = "PERFECT 3/3 " ] || fail "$n's verdict: $(vn_verdict "$n")"
    [ "$(vn_sql "$n" "SELECT count (*) FROM validator_consensus_hashes WHERE epoch_id = '$VN_EPOCH' AND consensus_hash = '$H'")" = 3 ] \
        || fail "$n did not record three equal hashes"
done

echo "misconfig: two honest and one with tier3.source.url on a world of seed 47, on $b2"
check_group hon1 hon2 wrong
HH=$(vn_hash hon1)
HW=$(vn_hash wrong)
[ "$(vn_hash hon2)" = "$HH" ] || fail "hon2's hash differs from hon1's"
[ -n "$HW" ] && [ "$HW" != "$HH" ] || fail "the misconfigured validator's hash equals the honest one"
# It failed honest submissions at tier 3 that the honest validators passed.
wrong_t3=$(vn_sql wrong "SELECT count (*) FROM validator_tier_results WHERE epoch_id = '$VN_EPOCH' AND tier = 3 AND passed = false")
hon_t3=$(vn_sql hon1 "SELECT count (*) FROM validator_tier_results WHERE epoch_id = '$VN_EPOCH' AND tier = 3 AND passed = false")
echo "  tier-3 failures: honest $hon_t3, misconfigured $wrong_t3"
[ "$wrong_t3" -gt "$hon_t3" ] || fail "the misconfigured validator did not fail more at tier 3"
for n in hon1 hon2; do
    v=$(vn_verdict "$n")
    [ "$v" = "FAILED 2/3 ${VN_HK[wrong]}" ] || fail "$n's verdict: '$v' (want FAILED 2/3 ${VN_HK[wrong]})"
    [ "$(vn_sql "$n" "SELECT consensus_hash FROM validator_consensus_hashes WHERE epoch_id = '$VN_EPOCH' AND validator_hotkey = '${VN_HK[wrong]}' AND NOT is_self")" = "$HW" ] \
        || fail "$n did not store the misconfigured validator's hash"
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["verdict"]=="FAILED" and d["consensus_hash"]==sys.argv[2], d' \
        "$T/$n.weights.json" "$HH" || fail "$n's weights file"
done
v=$(vn_verdict wrong)
[ "$v" = "FAILED 2/3 ${VN_HK[wrong]}" ] || fail "the misconfigured node's verdict: '$v' (want itself named)"
# Weights are each node's own scores, whatever the verdict.
vn_weights hon1 > "$T/w1"
vn_weights hon2 > "$T/w2"
vn_weights wrong > "$T/ww"
cmp -s "$T/w1" "$T/w2" || fail "the honest nodes' weights differ"
cmp -s "$T/w1" "$T/ww" && fail "the misconfigured node's weights equal the honest ones"
vn_stop "${nodes[@]}"
echo "PASS: PERFECT 3/3 when alike; FAILED 2/3 with ${VN_HK[wrong]} named by both honest nodes and by itself"
