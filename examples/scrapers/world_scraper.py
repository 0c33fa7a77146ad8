#!/usr/bin/env python3
"""An example external scraper for zipmine (python3 standard library only).

zipmine's scraper worker runs this program once per task, with no shell:

    scraper.kind    = command
    scraper.command = python3 /path/to/world_scraper.py http://127.0.0.1:8090

The contract (docs/miner-guide.md, "Plugging in your scraper"):
  * stdin: one JSON line {"zipcode": "77494", "target_count": 557, "timeout": 600}
  * stdout: one listing per line, each a JSON object whose "zipcode" is the requested one;
    add "scraped_timestamp" (ISO 8601) when you collect the listing (zipmine adds it when it
    is missing); nothing else on stdout
  * stderr: free-form progress lines (zipmine logs them, a bounded number per task)
  * exit 0 when done; non-zero means the attempt failed (zipmine retries the task)
  * finish within "timeout" seconds: at the timeout zipmine kills the whole process group

This one scrapes the zipmine `world` property service (workers/world/README.md):
GET {world}/zipcode/{zip}/listings?page=N&page_size=M, until target_count listings, the
world's total, or an empty page. It honours 429 answers (Retry-After) and its own deadline.
The world URL is argv[1], else $WORLD_URL, else http://127.0.0.1:8090.
"""
import datetime
import json
import os
import sys
import time
import urllib.error
import urllib.request

PAGE_SIZE = 100


def log(msg):
    print("world_scraper: " + msg, file=sys.stderr, flush=True)


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def fetch(url, deadline):
    """GET url as JSON; retries 429/5xx/network errors until the deadline."""
    delay = 0.25
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline reached fetching " + url)
        try:
            with urllib.request.urlopen(url, timeout=min(30.0, left)) as resp:
                return json.load(resp)
        except urllib.error.HTTPError as e:
            if e.code == 404:
                raise LookupError("world does not know this zipcode (404)")
            if e.code != 429 and e.code < 500:
                raise
            wait = delay
            retry_after = e.headers.get("Retry-After")
            if e.code == 429 and retry_after and retry_after.isdigit():
                wait = float(retry_after)
            log("HTTP %d, waiting %.2f s" % (e.code, wait))
        except (urllib.error.URLError, OSError) as e:
            wait = delay
            log("network error (%s), waiting %.2f s" % (e, wait))
        time.sleep(max(0.0, min(wait, deadline - time.monotonic())))
        delay = min(delay * 2, 8.0)


def main():
    world = (sys.argv[1] if len(sys.argv) > 1 else os.environ.get("WORLD_URL", "http://127.0.0.1:8090")).rstrip("/")
    request = json.loads(sys.stdin.readline())
    zipcode = request["zipcode"]
    target = int(request["target_count"])
    # leave a little of the timeout for the last lines to be read
    deadline = time.monotonic() + max(1.0, float(request.get("timeout", 600)) - 2.0)
    sent, page = 0, 1
    while sent < target:
        url = "%s/zipcode/%s/listings?page=%d&page_size=%d" % (world, zipcode, page, PAGE_SIZE)
        doc = fetch(url, deadline)
        listings = doc.get("listings") or []
        for listing in listings:
            if sent >= target:
                break
            listing["scraped_timestamp"] = now_iso()
            sys.stdout.write(json.dumps(listing, separators=(",", ":")) + "\n")
            sent += 1
        sys.stdout.flush()
        total = doc.get("total")
        if not listings or (isinstance(total, int) and page * PAGE_SIZE >= total):
            break
        page += 1
    log("zipcode %s: %d listings (target %d)" % (zipcode, sent, target))
    return 0 if sent > 0 else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (TimeoutError, LookupError, ValueError, KeyError) as e:
        log("failed: %s" % e)
        sys.exit(1)
