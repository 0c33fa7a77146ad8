#!/usr/bin/env python3
"""A dishonest external scraper for the local network (python3 standard library only).

It scrapes the world as the honest example scraper (examples/scrapers/world_scraper.py)
does, with larger pages and http.client only (it must start fast: it is in a hurry),
streaming as it goes, and cheats on what it sends, so that a dishonest miner really submits
an object of the right size that only validation can catch:

    scraper.kind    = command
    scraper.command = python3 deploy/local/scrapers/cheat.py MODE WORLD_URL LEDGER

MODE
  fabricate   every listing's price is multiplied by 3 (still a "reasonable" price, the
              count is right, every field is there): tier 1 and tier 2 pass, tier 3's spot
              checks find the price more than 5 % off the property source, so tier 3 fails
              with "verified 0 of k".
  pad         the listings are sent, then 10 % more copies of them under new ids (same
              address and price, so storage keeps them as different properties): the count
              stays inside tier 1's +15 % band, tier 2's duplicate rate (> 0.05) fails with
              "duplicates".

LEDGER is a file to which one line "zipcode mode listings" is appended per task, so the
operator (and tests/integration/test_network_e2e.sh) know exactly where this miner cheated.
The request/response contract is the one of docs/miner-guide.md ("Plugging in your scraper").
"""
import datetime
import http.client
import json
import sys
import time
import urllib.parse

PAD_ID_OFFSET = 900000000
PAGE_SIZE = 500         # the world's largest page: a cheater is in a hurry


def log(msg):
    print("cheat: " + msg, file=sys.stderr, flush=True)


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def fetch(world, path, deadline):
    """GET world+path as JSON (http.client only: this starts fast on a loaded machine);
    429/5xx/network errors are retried until the deadline, as world_scraper.py does."""
    u = urllib.parse.urlsplit(world)
    delay = 0.25
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline reached fetching " + path)
        wait = delay
        try:
            conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=min(30.0, left))
            conn.request("GET", u.path.rstrip("/") + path)
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
            if resp.status == 200:
                return json.loads(body)
            if resp.status == 404:
                raise LookupError("world does not know this zipcode (404)")
            if resp.status != 429 and resp.status < 500:
                raise ValueError("HTTP %d" % resp.status)
            ra = resp.getheader("Retry-After")
            if resp.status == 429 and ra and ra.isdigit():
                wait = float(ra)
            log("HTTP %d, waiting %.2f s" % (resp.status, wait))
        except OSError as e:
            log("network error (%s), waiting %.2f s" % (e, wait))
        time.sleep(max(0.0, min(wait, deadline - time.monotonic())))
        delay = min(delay * 2, 8.0)


def emit(doc):
    sys.stdout.write(json.dumps(doc, separators=(",", ":")) + "\n")


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("fabricate", "pad"):
        log("usage: cheat.py fabricate|pad WORLD_URL LEDGER")
        return 2
    mode, world, ledger = sys.argv[1], sys.argv[2].rstrip("/"), sys.argv[3]
    request = json.loads(sys.stdin.readline())
    zipcode = request["zipcode"]
    target = int(request["target_count"])
    deadline = time.monotonic() + max(1.0, float(request.get("timeout", 60)) - 2.0)
    # the honest scraping, as examples/scrapers/world_scraper.py does it, listing by listing
    sent, page, kept = 0, 1, []
    while sent < target:
        doc = fetch(world, "/zipcode/%s/listings?page=%d&page_size=%d" % (zipcode, page, PAGE_SIZE),
                    deadline)
        listings = doc.get("listings") or []
        for listing in listings[:target - sent]:
            listing["scraped_timestamp"] = now_iso()
            if mode == "fabricate" and isinstance(listing.get("price"), (int, float)):
                listing["price"] = int(listing["price"] * 3)
            if mode == "pad" and len(kept) < max(1, target // 10):
                kept.append(dict(listing))
            emit(listing)
            sent += 1
        sys.stdout.flush()
        total = doc.get("total")
        if not listings or (isinstance(total, int) and page * PAGE_SIZE >= total):
            break
        page += 1
    if not sent:
        log("zipcode %s: no listings" % zipcode)
        return 1
    # the cheat of "pad": the same properties again under new ids (same address and price)
    for i, copy in enumerate(kept):
        if isinstance(copy.get("zpid"), int):
            copy["zpid"] += PAD_ID_OFFSET
        if isinstance(copy.get("mls_id"), str):
            copy["mls_id"] = "PAD%d-%s" % (i, copy["mls_id"])
        emit(copy)
    sys.stdout.flush()
    with open(ledger, "a") as f:
        f.write("%s %s %d\n" % (zipcode, mode, sent + len(kept)))
    log("zipcode %s: %s, %d listings (%d scraped)" % (zipcode, mode, sent + len(kept), sent))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (TimeoutError, LookupError, ValueError, KeyError, OSError) as e:
        log("failed: %s" % e)
        sys.exit(1)
