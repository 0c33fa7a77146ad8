#!/usr/bin/env bash
# The main job end to end (issue 6): deploy/local/up runs a whole local network on the
# binaries of this build — coordinator + world, 4 honest miners, 2 dishonest miners (cheat1
# multiplies prices by 3, cheat2 pads with 10 % duplicates), 3 validators, its own
# PostgreSQL and S3 — with 60 s epochs until 2 full epochs have a verdict from every
# validator. Then, from the rows the view dumped out of every node's database
# (<run>/epochs/<id>.json), for each of those 2 epochs:
#   - every validator's verdict is PERFECT 3/3, all own hashes are identical, and each
#     validator recorded the same hash for all 3 validators;
#   - each validator's weights equal its scores, sum to 1, are identical across validators,
#     and its weights file carries the same hash and verdict;
#   - each dishonest miner uploaded an object for every zipcode it cheated in (its ledger);
#     it is a winner in none of them; every one of its submissions that was judged failed,
#     cheat1's at tier 3 ("verified x of y", tiers 1-2 passed), cheat2's at tier 2
#     ("duplicates");
#   - every winner is an honest miner, every judged honest submission passed, and in every
#     zipcode the winners are exactly the earliest honest submissions in validation order
#     (3 when 3 honest miners submitted);
#   - a dishonest miner's score is at most the participant share (never a winner's).
# Across the 2 epochs, each dishonest miner had at least one submission actually judged
# and failed (validation caught it, it was not merely ignored).
# Finally up exits 0 and every node and service process it started is gone.
set -euo pipefail
BUILD=${ZM_BUILD_DIR:?ZM_BUILD_DIR not set}
SRC=${ZM_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
for b in zipmined zipminectl zipmine-keys coordinator world assigner scraper storage uploader \
         downloader tier1 tier2 tier3 consensus; do
    [ -x "$BUILD/bin/$b" ] || { echo "FAIL: $BUILD/bin/$b not built"; exit 1; }
done
for c in psql python3 curl; do
    command -v "$c" >/dev/null || { echo "FAIL: $c is required"; exit 1; }
done
EPOCH_S=${ZM_E2E_EPOCH_S:-60}
LIMIT_S=${ZM_E2E_LIMIT_S:-420}

T=$(mktemp -d /tmp/zm-e2e-XXXXXX)
chmod 755 "$T"      # PostgreSQL runs as user postgres under it
UP=""
cleanup () {
    if [ -n "$UP" ] && kill -0 "$UP" 2>/dev/null; then
        kill -TERM "$UP" 2>/dev/null || true
        for _ in $(seq 1 600); do kill -0 "$UP" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$UP" 2>/dev/null || true
    fi
    # whatever up could not stop (it was killed itself): by the PIDs it recorded
    for p in "$T"/run/nodes/*.pid "$T"/run/view.pid; do
        [ -f "$p" ] && kill -KILL "$(cat "$p")" 2>/dev/null || true
    done
    [ -d "$T/run/svc" ] && "$SRC/tests/services" stop "$T/run/svc" >/dev/null 2>&1 || true
    if [ -n "${ZM_KEEP:-}" ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT
fail () {
    echo "FAIL: $*" >&2
    tail -n 60 "$T/up.log" >&2 || true
    for f in "$T"/run/logs/*.log; do
        [ -f "$f" ] || continue
        echo "--- $(basename "$f"): last errors" >&2
        grep -E '"level":"(error|warn)"' "$f" | tail -n 5 >&2 || true
    done
    exit 1
}

# A base port with the 40 ports above it free (coordinator, world, one /metrics per node),
# below the kernel's ephemeral range: the other tests running beside this one take their
# ports from the kernel (bind to port 0) and their connections' source ports come from that
# range too, so none of them can take a port of ours between this check and the bind.
base=$(python3 -c 'import random, socket
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
for _ in range(200):
    b = random.randrange(10000, max(10001, lo - 40))
    try:
        socks = []
        for p in range(b, b + 40):
            s = socket.socket(); s.bind(("127.0.0.1", p)); socks.append(s)
        print(b); break
    except OSError:
        pass
    finally:
        for s in socks: s.close()')
[ -n "$base" ] || fail "no free port range"

t0=$(date +%s)
ZM_LOCAL_BUILD_DIR="$BUILD" ZM_LOCAL_SETUP=0 ZM_LOCAL_RUN_DIR="$T/run" ZM_LOCAL_BASE_PORT="$base" \
ZM_LOCAL_MINERS=4 ZM_LOCAL_DISHONEST=2 ZM_LOCAL_VALIDATORS=3 ZM_LOCAL_EPOCH_S="$EPOCH_S" \
ZM_LOCAL_EPOCHS=2 ZM_LOCAL_VIEW_S=5 ZM_LOCAL_ZIPCODES=4 ZM_LOCAL_TARGET_LISTINGS=800 \
    "$SRC/deploy/local/up" > "$T/up.log" 2>&1 &
UP=$!
while kill -0 "$UP" 2>/dev/null; do
    [ $(( $(date +%s) - t0 )) -lt "$LIMIT_S" ] || fail "the network did not finish 2 epochs in ${LIMIT_S}s"
    sleep 1
done
rc=0
wait "$UP" || rc=$?
UP=""
echo "up exited $rc after $(( $(date +%s) - t0 ))s"
[ "$rc" = 0 ] || fail "deploy/local/up exited $rc"
grep -q "up: 2 epochs done" "$T/up.log" || fail "up did not report 2 epochs done"
grep -q "up: stopped" "$T/up.log" || fail "up did not stop cleanly"

# Everything up started is gone: nodes (by the PIDs in nodes.json), view, services.
python3 - "$T/run" <<'EOF' || fail "processes left behind"
import json, os, sys
run = sys.argv[1]
pids = [n["pid"] for n in json.load(open(os.path.join(run, "nodes.json")))["nodes"]]
for f in ("view.pid",):
    p = os.path.join(run, f)
    if os.path.exists(p):
        pids.append(int(open(p).read()))
alive = []
for pid in pids:
    try:
        os.kill(pid, 0)
        alive.append(pid)
    except ProcessLookupError:
        pass
for d in ("svc/pg/data/postmaster.pid",):
    p = os.path.join(run, d)
    if os.path.exists(p):
        alive.append("postgres " + open(p).readline().strip())
if alive:
    print("still running:", alive)
    sys.exit(1)
EOF

python3 - "$T/run" <<'EOF' || fail "epoch assertions"
import glob, json, math, os, sys
run = sys.argv[1]
info = json.load(open(os.path.join(run, "nodes.json")))
docs = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(run, "epochs", "*.json")))]
full = [d for d in docs if d["epoch"]["start_s"] >= info["started"]][:2]
errors = []
def check(cond, msg):
    if not cond:
        errors.append(msg)
    return cond
if len(full) < 2:
    print("FAIL: %d full epochs dumped (%s)" % (len(full), [d["epoch"]["id"] for d in docs]))
    sys.exit(1)
nodes = {n["name"]: n for n in info["nodes"]}
kind_of = {n["hotkey"]: n["kind"] for n in info["nodes"] if n["hotkey"]}
name_of = {n["hotkey"]: n["name"] for n in info["nodes"] if n["hotkey"]}
honest = {n["hotkey"] for n in info["nodes"] if n["kind"] == "honest"}
cheaters = {n["hotkey"]: n for n in info["nodes"] if n["kind"] in ("fabricate", "pad")}
check(len(honest) == 4 and len(cheaters) == 2, "4 honest and 2 dishonest miners in nodes.json")
validators = [n for n in info["nodes"] if n["role"] == "validator"]
check(len(validators) == 3, "3 validators")
caught = {hk: 0 for hk in cheaters}

for d in full:
    e = d["epoch"]["id"]
    vals = d["validators"]
    # verdicts and hashes
    own = {}
    for name, v in vals.items():
        check(len(v["verdict"]) == 1 and v["verdict"][0]["verdict"] == "PERFECT"
              and v["verdict"][0]["agreeing"] == 3 and v["verdict"][0]["total"] == 3,
              "%s %s: verdict %s, want PERFECT 3/3" % (e, name, v["verdict"]))
        mine = [h["consensus_hash"] for h in v["hashes"] if h["is_self"]]
        check(len(mine) == 1, "%s %s: own hash rows %s" % (e, name, mine))
        own[name] = mine[0] if mine else None
        hs = {h["validator_hotkey"]: h["consensus_hash"] for h in v["hashes"]}
        check(set(hs) == {x["hotkey"] for x in validators},
              "%s %s: hashes recorded for %s" % (e, name, [name_of.get(k, k) for k in hs]))
        check(len(set(hs.values())) == 1, "%s %s: recorded hashes differ %s" % (e, name, hs))
        check(len(v["consensus"]) == 1 and v["consensus"][0]["consensus_hash"] == own[name]
              and json.loads(v["consensus"][0]["result_doc"])["consensus_hash"] == own[name],
              "%s %s: published result does not carry its hash" % (e, name))
        check(v["consensus"] and not v["consensus"][0]["pending"],
              "%s %s: pending zipcodes %s" % (e, name, v["consensus"] and v["consensus"][0]["pending"]))
        # weights
        w = {x["miner_hotkey"]: x["weight"] for x in v["weights"]}
        s = {x["miner_hotkey"]: x["score"] for x in v["scores"]}
        check(w == s, "%s %s: weights differ from scores" % (e, name))
        check(w and abs(sum(w.values()) - 1.0) < 1e-9, "%s %s: weights sum to %s" % (e, name, sum(w.values())))
        wf = v["weights_file"]
        check(wf is not None and wf.get("epoch_id", "") >= e,
              "%s %s: weights file %s" % (e, name, wf))
        if wf and wf.get("epoch_id") == e:
            check(wf["consensus_hash"] == own[name] and wf["verdict"] == "PERFECT"
                  and {k: x for k, x in wf["weights"]} == w,
                  "%s %s: weights file disagrees with the database" % (e, name))
    check(len(set(own.values())) == 1, "%s: validators' hashes differ %s" % (e, own))
    ref = vals[validators[0]["name"]]
    for name, v in vals.items():
        check(v["weights"] == ref["weights"], "%s %s: weights differ from %s" % (e, name, validators[0]["name"]))
        check(v["zipcodes"] == ref["zipcodes"], "%s %s: zipcode winners differ" % (e, name))

    winners = {z["zipcode"]: z["winners"] or [] for z in ref["zipcodes"]}
    assigned = set()
    for sub in ref["submissions"]:
        assigned.add(sub["zipcode"])
    # the cheaters really submitted where they cheated, and won nothing there
    for hk, node in cheaters.items():
        m = d["miners"][node["name"]]
        uploaded = {u["zipcode"] for u in m["uploads"] if u["state"] == "uploaded"}
        cheated = {c[0] for c in m["cheats"]} & {u["zipcode"] for u in m["uploads"]}
        check(cheated, "%s %s: cheated in no zipcode of this epoch (ledger %s)" % (e, node["name"], m["cheats"]))
        check(cheated <= uploaded, "%s %s: cheated in %s but uploaded only %s" % (e, node["name"], sorted(cheated), sorted(uploaded)))
        listed = {s["zipcode"] for s in ref["submissions"] if s["miner_hotkey"] == hk}
        check(cheated <= listed, "%s %s: validators listed only %s of its cheats %s" % (e, node["name"], sorted(listed), sorted(cheated)))
        for z in cheated:
            check(hk not in winners.get(z, []), "%s %s: a winner in %s where it cheated" % (e, node["name"], z))
    # each validator judged each submission the same way; check the reasons
    for name, v in vals.items():
        for sub in v["submissions"]:
            hk, tiers = sub["miner_hotkey"], sub["tiers"] or []
            failed = [t for t in tiers if t["passed"] is False]
            judged = bool(failed) or any(t["tier"] == 3 and t["passed"] is True for t in tiers)
            if not judged:
                continue
            if hk in cheaters:
                mode = cheaters[hk]["kind"]
                check(failed, "%s %s: %s's submission in %s passed every tier" % (e, name, name_of[hk], sub["zipcode"]))
                if failed:
                    f = failed[0]
                    if mode == "fabricate":
                        check(f["tier"] == 3 and f["reason"].startswith("verified "),
                              "%s %s: fabricate failed %s, want tier 3 'verified'" % (e, name, f))
                    else:
                        check(f["tier"] == 2 and f["reason"] == "duplicates",
                              "%s %s: pad failed %s, want tier 2 'duplicates'" % (e, name, f))
                    if name == validators[0]["name"]:
                        caught[hk] += 1
            elif hk in honest:
                check(not failed, "%s %s: honest %s failed in %s: %s" % (e, name, name_of[hk], sub["zipcode"], failed))
    # winners: honest only, and the earliest honest submissions
    for z, ws in winners.items():
        for hk in ws:
            check(hk in honest, "%s %s: winner %s is not honest" % (e, z, name_of.get(hk, hk)))
        order = [s for s in ref["submissions"] if s["zipcode"] == z and s["state"] != "skipped"]
        seen, first_honest = set(), []
        for s in order:
            if s["miner_hotkey"] in honest and s["miner_hotkey"] not in seen:
                first_honest.append(s["miner_hotkey"])
            seen.add(s["miner_hotkey"])
        check(ws == first_honest[:3], "%s %s: winners %s, earliest honest %s" % (
            e, z, [name_of.get(h, h) for h in ws], [name_of.get(h, h) for h in first_honest]))
    # scores: a cheater has at most the participant share
    scores = {x["miner_hotkey"]: x["score"] for x in ref["scores"]}
    won = {hk for ws in winners.values() for hk in ws}
    part = [sc for hk, sc in scores.items() if hk not in won]
    for hk in cheaters:
        if hk in scores:
            check(hk not in won and all(math.isclose(scores[hk], p) for p in part),
                  "%s: %s scored %s, not the participant share %s" % (e, name_of[hk], scores[hk], part))
    print("epoch %s: PERFECT x3 hash %s; winners %s; scores %s" % (
        e, list(own.values())[0][:16],
        {z: [name_of.get(h, h) for h in ws] for z, ws in sorted(winners.items())},
        {name_of.get(h, h): round(s, 4) for h, s in sorted(scores.items(), key=lambda x: -x[1])}))

for hk, n in caught.items():
    check(n > 0, "%s: no submission of this dishonest miner was judged in 2 epochs" % cheaters[hk]["name"])
print("dishonest submissions caught:", {cheaters[h]["name"]: n for h, n in caught.items()})
if errors:
    for x in errors:
        print("FAIL:", x)
    sys.exit(1)
EOF
echo "PASS ($(( $(date +%s) - t0 ))s)"
