"""Oracle for common/scoring, written from the algorithm text in common/scoring.h (steps 1-8)
and DESIGN.md section 8, without looking at scoring.c. Stdlib only.

stdin, one JSON value per line (UTF-8):
  {"t1": E}       answers "lo hi" = int(E * 0.85), int(E * 1.15)
  {"nonce": "...", "zips": [{"zip": "...", "subs": [[hotkey, last_modified, listings, passed],
                  ...]}, ...]}
                  answers "<sha256 hex> <consensus json>" for the epoch
Hotkeys and zipcodes are compared as Python str (code point order, which is bytewise order of
their UTF-8)."""
import hashlib
import json
import sys

SHARES = (0.55, 0.30, 0.10)
PARTICIPATION = 0.05


def score(zips):
    per_zip = {}                    # zip -> (winners [hotkey...], participants set, L_z)
    for z in zips:
        subs = sorted(z["subs"], key=lambda s: (s[1], s[0]))
        seen = set()
        winners, participants, listings = [], set(), 0
        for hotkey, _lm, count, passed in subs:
            if len(winners) == 3:
                break
            if hotkey in seen:
                continue
            seen.add(hotkey)
            if passed:
                winners.append(hotkey)
                listings += count
            else:
                participants.add(hotkey)
        per_zip[z["zip"]] = (winners, participants, listings)

    total = sum(v[2] for v in per_zip.values())
    if total == 0:
        return {}, {}, 0, 0, 0

    weights = {zc: float(v[2]) / float(total) for zc, v in per_zip.items()}
    raw = {}
    for zc in sorted(per_zip):                      # a hotkey's wins in zipcode order
        for rank, hotkey in enumerate(per_zip[zc][0]):
            raw[hotkey] = raw.get(hotkey, 0.0) + SHARES[rank] * weights[zc]
    winners = set(raw)
    participants = set()
    for v in per_zip.values():
        participants |= v[1]
    participants -= winners
    if participants:
        each = PARTICIPATION / float(len(participants))
        for hotkey in participants:
            raw[hotkey] = each
    s = 0.0
    for hotkey in sorted(raw):
        s = s + raw[hotkey]
    scores = {h: (raw[h] / s if s > 0 else 0.0) for h in raw}
    return scores, weights, total, len(participants), len(winners)


def consensus(nonce, scores, weights, total, participants, winners):
    doc = {
        "epoch_nonce": nonce,
        "miner_scores": sorted(scores.items()),
        "zipcode_weights": sorted(weights.items()),
        "total_participants": participants,
        "total_winners": winners,
        "total_epoch_listings": total,
    }
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest(), text


def main():
    out = []
    for line in sys.stdin.buffer:
        v = json.loads(line)        # bytes: UTF-8 whatever the locale
        if "t1" in v:
            e = v["t1"]
            out.append(f"{int(e * 0.85)} {int(e * 1.15)}")
        else:
            h, text = consensus(v["nonce"], *score(v["zips"]))
            out.append(f"{h} {text}")
    sys.stdout.write("\n".join(out) + "\n")


main()
