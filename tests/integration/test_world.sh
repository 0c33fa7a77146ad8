#!/usr/bin/env bash
# world: real `world` processes on port 0, driven over HTTP by a Python client.
#   - two processes with the same seed answer byte-identical pages and properties; a third with
#     another seed answers different bytes;
#   - every listed zpid of several zipcodes resolves at /property/{zpid} to the same object;
#   - totals equal the catalog formula and the listings equal an independent Python
#     re-implementation of the README's algorithm (so anyone can regenerate the universe);
#   - bad requests get the right status and JSON error; rate limit answers 429 + Retry-After;
#     latency is applied; hostile requests (huge URL, huge headers, garbage, half requests,
#     connection floods) do not crash it; SIGTERM exits 0.
set -euo pipefail
BUILD=${ZM_BUILD_DIR:?ZM_BUILD_DIR not set}
SRC=${ZM_SOURCE_DIR:?ZM_SOURCE_DIR not set}
BIN=$BUILD/bin/world
[ -x "$BIN" ] || { echo "missing $BIN"; exit 1; }
command -v python3 >/dev/null || { echo "python3 is required"; exit 1; }

TMP=$(mktemp -d)
PIDS=()
cleanup () {
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT

# start NAME [ENV=VALUE...]: runs world with the given environment, logs to $TMP/NAME.log
start () {
    local name=$1; shift
    env ZM_WORLD_PORT=0 ZM_LOG_LEVEL=info "$@" "$BIN" > "$TMP/$name.log" 2>&1 &
    PIDS+=($!)
    echo $! > "$TMP/$name.pid"
}
# Same public URL for a, b and c: source_url is part of the bytes compared. "slow" derives its
# own from the bound port.
start a ZM_WORLD_SEED=46 ZM_WORLD_PUBLIC_URL=http://world.test:8090/
start b ZM_WORLD_SEED=46 ZM_WORLD_PUBLIC_URL=http://world.test:8090
start c ZM_WORLD_SEED=47 ZM_WORLD_PUBLIC_URL=http://world.test:8090
start slow ZM_WORLD_SEED=46 ZM_WORLD_RATE_PER_S=2 ZM_WORLD_LATENCY_MS=300

python3 - "$TMP" "$SRC/common/data/zipcodes.csv" <<'PY'
import csv, json, os, socket, sys, time, http.client, threading

tmp, catalog_path = sys.argv[1], sys.argv[2]
T0 = time.time()

def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)

def port_of(name):
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            for line in open(f"{tmp}/{name}.log"):
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
                if ev.get("event") == "world_listening":
                    return ev["port"]
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    fail(f"{name}: no world_listening event; log:\n" + open(f"{tmp}/{name}.log").read())

ports = {n: port_of(n) for n in ("a", "b", "c", "slow")}

# One keep-alive connection per server and thread (reopened when the server closes it).
local = threading.local()
def get(name, path, method="GET", headers=None, body=None):
    conns = local.__dict__.setdefault("conns", {})
    for attempt in (0, 1):
        conn = conns.get(name)
        if conn is None:
            conn = conns[name] = http.client.HTTPConnection("127.0.0.1", ports[name], timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            data = r.read()
        except (http.client.HTTPException, OSError):
            conn.close()
            conns.pop(name, None)
            if attempt:
                raise
            continue
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        if r.will_close:
            conn.close()
            conns.pop(name, None)
        return r.status, hdrs, data

def get_json(name, path):
    st, h, data = get(name, path)
    if st != 200:
        fail(f"{name} {path}: {st} {data[:200]!r}")
    if h.get("content-type") != "application/json":
        fail(f"{path}: content-type {h.get('content-type')}")
    return data, json.loads(data)

# ---- health
_, health = get_json("a", "/healthz")
if health != {"status": "ok", "zipcodes": 7572, "properties": 1996908}:
    fail(f"healthz {health}")

# ---- independent re-implementation of README "Algorithm"
rows = list(csv.DictReader(open(catalog_path, newline="", encoding="utf-8")))
index = {r["RegionName"]: i for i, r in enumerate(rows)}
M64 = (1 << 64) - 1
G = 0x9E3779B97F4A7C15
def mix(x):
    z = (x + G) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)
def expected(zip_, rank):
    base = 50 + (550 * 2000) // (2000 + max(rank, 1))
    j = ((int(zip_) * 2654435761) % 2**32) % 21 - 10
    return min(600, max(50, base * (100 + j) // 100))
NAMES = ("Oak Maple Cedar Pine Elm Willow Birch Walnut Chestnut Hickory Magnolia Aspen Spruce "
         "Sycamore Cypress Poplar Laurel Juniper Main Park Lake Hill River Ridge Meadow Forest "
         "Spring Sunset Highland Valley Church Mill Washington Lincoln Jefferson Madison "
         "Franklin Jackson Adams Monroe").split()
SUFFIXES = "St Ave Rd Dr Ln Ct Way Blvd Pl Ter".split()
import datetime
REF = datetime.date(2026, 11, 1)
def prop(seed, zip_, i, public_url):
    row = rows[index[zip_]]
    rank = int(row["SizeRank"])
    z = int(zip_)
    base = mix(mix(seed) ^ ((z << 16) | i))
    r = [mix((base + k * G) & M64) for k in range(11)]
    t = r[3] % 100
    ptype, lo, hi = (("SINGLE_FAMILY", 2, 6) if t < 55 else ("CONDO", 1, 3) if t < 75
                     else ("TOWNHOUSE", 2, 4) if t < 90 else ("MULTI_FAMILY", 4, 8))
    street = f"{10 + 16 * i + r[0] % 16} {NAMES[r[1] % 40]} {SUFFIXES[r[2] % 10]}"
    if ptype == "CONDO":
        street += f" Unit {1 + r[4] % 400}"
    city = row["City"] or row["CountyName"] or row["StateName"]
    beds = lo + r[5] % (hi - lo + 1)
    h = min(12, max(2, beds + r[6] % 4))
    sqft = min(8000, max(400, (500 + 400 * beds) * (80 + r[7] % 41) // 100))
    ppsf = (250 + r[8] % 400 if rank <= 1000 else 150 + r[8] % 200 if rank <= 5000
            else 90 + r[8] % 130)
    dom = 1 + r[9] % 90
    s = r[10] % 100
    zpid = (index[zip_] + 1) * 10000 + i
    return {
        "zpid": zpid, "mls_id": f"ZM{zpid}",
        "address": f"{street}, {city}, {row['State']} {zip_}", "street": street,
        "city": city, "state": row["State"], "zipcode": zip_,
        "price": (sqft * ppsf + 500) // 1000 * 1000, "bedrooms": beds, "bathrooms": h / 2,
        "sqft": sqft, "listing_date": (REF - datetime.timedelta(days=dom)).isoformat(),
        "property_type": ptype,
        "listing_status": ("FOR_SALE" if s < 70 else "PENDING" if s < 85
                           else "CONTINGENT" if s < 95 else "COMING_SOON"),
        "days_on_market": dom, "source_url": f"{public_url}/property/{zpid}",
    }

# ---- same seed: identical bytes; every zpid resolves; matches the Python oracle
zips = ["77494", "08701", "12085", "30349", "81212", "00501" if "00501" in index else "10001"]
zips = [z for z in zips if z in index]
checked = 0
for z in zips:
    row = rows[index[z]]
    n = expected(z, int(row["SizeRank"]))
    listings = []
    page = 1
    while True:
        path = f"/zipcode/{z}/listings?page={page}&page_size=100"
        da, ja = get_json("a", path)
        db, jb = get_json("b", path)
        if da != db:
            fail(f"{path}: servers with the same seed differ")
        dc, _ = get_json("c", path)
        if ja["listings"] and dc == da:
            fail(f"{path}: another seed gave the same bytes")
        if (ja["zipcode"], ja["page"], ja["page_size"], ja["total"]) != (z, page, 100, n):
            fail(f"{path}: header {ja['zipcode']} {ja['page']} {ja['page_size']} {ja['total']} (expected total {n})")
        if not ja["listings"]:
            break
        listings += ja["listings"]
        page += 1
    if len(listings) != n:
        fail(f"{z}: {len(listings)} listings, expected {n}")
    url_a = "http://world.test:8090"
    for i, l in enumerate(listings):
        want = prop(46, z, i, url_a)
        if l != want:
            fail(f"{z}[{i}]: server {l} != oracle {want}")
        if "scraped_timestamp" in l:
            fail("world must not add scraped_timestamp")
        pa, ja = get_json("a", f"/property/{l['zpid']}")
        pb, _ = get_json("b", f"/property/{l['zpid']}")
        if pa != pb:
            fail(f"/property/{l['zpid']}: servers differ")
        if ja != l:
            fail(f"/property/{l['zpid']}: {ja} != listed {l}")
        checked += 1
if checked < 1000:
    fail(f"only {checked} properties checked")
# default page size and a page past the end
_, j = get_json("a", "/zipcode/77494/listings")
if j["page"] != 1 or j["page_size"] != 100 or len(j["listings"]) != 100:
    fail(f"defaults: {j['page']} {j['page_size']} {len(j['listings'])}")
_, j = get_json("a", "/zipcode/77494/listings?page=9999&page_size=500")
if j["listings"] != [] or j["total"] != 557:
    fail("page past the end must be empty")
_, j = get_json("a", "/zipcode/77494/listings?page=2&page_size=500")
if len(j["listings"]) != 57 or j["listings"][0]["zpid"] != 10500:
    fail("page 2 of 500")
print(f"[{time.time()-T0:.1f}s] ok: {checked} properties identical across processes, equal to the Python oracle")

# ---- errors: status and JSON body {statusCode, message, error}
cases = [
    ("GET", "/zipcode/7749/listings", 400), ("GET", "/zipcode/7749a/listings", 400),
    ("GET", "/zipcode/774940/listings", 400), ("GET", "/zipcode/00000/listings", 404),
    ("GET", "/zipcode/77494/listing", 404), ("GET", "/zipcode/77494", 404),
    ("GET", "/zipcode/77494/listings?page=0", 400), ("GET", "/zipcode/77494/listings?page=abc", 400),
    ("GET", "/zipcode/77494/listings?page=-1", 400),
    ("GET", "/zipcode/77494/listings?page=1000001", 400),
    ("GET", "/zipcode/77494/listings?page=99999999999999999999", 400),
    ("GET", "/zipcode/77494/listings?page_size=0", 400),
    ("GET", "/zipcode/77494/listings?page_size=501", 400),
    ("GET", "/zipcode/77494/listings?page_size=", 400),
    ("GET", "/property/abc", 400), ("GET", "/property/", 400), ("GET", "/property/-5", 400),
    ("GET", "/property/1234567890123456", 400), ("GET", "/property/1", 404),
    ("GET", "/property/10557", 404), ("GET", "/property/999999999999", 404),
    ("GET", "/nope", 404), ("GET", "/", 404), ("POST", "/healthz", 405),
    ("DELETE", "/property/10000", 405),
]
for method, path, want in cases:
    st, h, data = get("a", path, method=method)
    if st != want:
        fail(f"{method} {path}: {st}, expected {want}: {data[:200]!r}")
    j = json.loads(data)
    if j.get("statusCode") != want or not isinstance(j.get("message"), str) or not j.get("error"):
        fail(f"{method} {path}: body {j}")
st, h, data = get("a", "/healthz", method="POST", body=b"x" * 10,
                  headers={"Content-Type": "text/plain"})
if st not in (405, 413):
    fail(f"POST with body: {st}")
print(f"[{time.time()-T0:.1f}s] ok: {len(cases)} error cases")

# ---- rate limit (2/s, burst 2) and latency (300 ms) on "slow"
t0 = time.time()
st1, _, d1 = get("slow", "/property/10000")
lat = time.time() - t0
if st1 != 200 or json.loads(d1)["source_url"] != f"http://127.0.0.1:{ports['slow']}/property/10000":
    fail(f"default public URL: {st1} {d1[:300]!r}")
if lat < 0.28:
    fail(f"latency {lat:.3f}s < 0.3s")
st2, _, _ = get("slow", "/property/10001")
statuses = [st1, st2]
retry = None
for _ in range(5):
    st, h, data = get("slow", "/property/10002")
    statuses.append(st)
    if st == 429:
        retry = h.get("retry-after")
        j = json.loads(data)
        if j["statusCode"] != 429 or j["error"] != "Too Many Requests":
            fail(f"429 body {j}")
        break
if retry is None or not retry.isdigit() or int(retry) < 1:
    fail(f"no 429 with Retry-After: {statuses} {retry}")
st, _, _ = get("slow", "/healthz")
if st != 200:
    fail("healthz must not be rate limited")
time.sleep(int(retry) + 0.1)
st, _, _ = get("slow", "/property/10002")
if st != 200:
    fail(f"after Retry-After: {st}")
print(f"[{time.time()-T0:.1f}s] ok: latency {lat:.3f}s, 429 with Retry-After {retry}")

# ---- hostile clients
def raw(name, payload, wait=3.0, close_write=True):
    s = socket.create_connection(("127.0.0.1", ports[name]), timeout=wait)
    try:
        s.sendall(payload)
        if close_write:
            s.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    out = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except OSError:
        pass
    s.close()
    return out

def status_of(resp):
    try:
        return int(resp.split(b" ", 2)[1])
    except Exception:
        return 0

r = raw("a", b"GET /" + b"a" * 200000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
if status_of(r) not in (0, 400, 414, 431):
    fail(f"huge URL: {r[:100]!r}")
r = raw("a", b"GET /healthz HTTP/1.1\r\nHost: x\r\n" +
        b"".join(b"X-%d: %s\r\n" % (i, b"v" * 100) for i in range(2000)) + b"\r\n")
if status_of(r) not in (0, 400, 431):
    fail(f"huge headers: {r[:100]!r}")
for junk in (b"\x00\xff\xfe\r\n\r\n", os.urandom(4096), b"GET\r\n\r\n", b"GET / HTTP/7.0\r\n\r\n",
             b"GET /property/10000 HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
             b"GET /property/10000 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"):
    r = raw("a", junk)
    if status_of(r) == 200 and junk.startswith(b"\x00"):
        fail("garbage answered 200")
# half requests left open, and a flood of connections
held = []
for _ in range(50):
    s = socket.create_connection(("127.0.0.1", ports["a"]), timeout=5)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    held.append(s)
errors = []
def hammer():
    try:
        for _ in range(20):
            st, _, _ = get("a", "/zipcode/08701/listings?page_size=50")
            if st != 200:
                errors.append(st)
    except Exception as e:
        errors.append(repr(e))
threads = [threading.Thread(target=hammer) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
for s in held: s.close()
if errors:
    fail(f"concurrent requests failed: {errors[:5]}")
for n in ("a", "b", "c", "slow"):
    st, _, _ = get(n, "/healthz")
    if st != 200:
        fail(f"{n} unhealthy after hostile clients")
print(f"[{time.time()-T0:.1f}s] ok: hostile clients survived, 160 concurrent page requests served")
PY

# Permanent misconfiguration exits 100 (never restarted); a busy port exits 1 (retried).
rc=0; ZM_WORLD_PUBLIC_URL='http://bad url' ZM_WORLD_PORT=0 "$BIN" > "$TMP/bad.log" 2>&1 || rc=$?
[ "$rc" = 100 ] || { echo "FAIL: bad public_url exited $rc, expected 100"; cat "$TMP/bad.log"; exit 1; }
rc=0; ZM_WORLD_PAGE_SIZE_MAX=0 "$BIN" > "$TMP/bad.log" 2>&1 || rc=$?
[ "$rc" = 100 ] || { echo "FAIL: page_size.max 0 exited $rc, expected 100"; exit 1; }
busy=$(grep -o '"event":"world_listening"[^}]*"port":[0-9]*' "$TMP/a.log" | grep -o '[0-9]*$')
rc=0; ZM_WORLD_PORT=$busy "$BIN" > "$TMP/busy.log" 2>&1 || rc=$?
[ "$rc" = 1 ] || { echo "FAIL: busy port exited $rc, expected 1"; cat "$TMP/busy.log"; exit 1; }
grep -q '"event":"httpd_start_failed"' "$TMP/busy.log" || { echo "FAIL: no httpd_start_failed"; exit 1; }
echo "ok: bad config exits 100, busy port exits 1"

# SIGTERM: every process drains and exits 0.
T0=$(date +%s%N)
for name in a b c slow; do
    pid=$(cat "$TMP/$name.pid")
    kill -TERM "$pid"
done
for name in a b c slow; do
    pid=$(cat "$TMP/$name.pid")
    # Exited (zombie or gone) within 10 s? Then collect its status.
    for _ in $(seq 200); do
        state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo gone)
        [ "$state" = Z ] || [ "$state" = gone ] && break
        sleep 0.05
    done
    if [ "$state" != Z ] && [ "$state" != gone ]; then
        echo "FAIL: $name did not exit within 10 s of SIGTERM"; exit 1
    fi
    rc=0
    wait "$pid" || rc=$?
    if [ "$rc" != 0 ]; then
        echo "FAIL: $name exited $rc"; tail -5 "$TMP/$name.log"; exit 1
    fi
    grep -q '"event":"worker_ready"' "$TMP/$name.log" || { echo "FAIL: $name never ready"; exit 1; }
done
echo "ok: SIGTERM exits 0 ($(( ($(date +%s%N) - T0) / 1000000 )) ms for all four)"

# Under the supervisor: READY, request metrics in zipmined's /metrics (promtool-clean), clean stop.
command -v promtool >/dev/null || { echo "FAIL: promtool not installed (Debian package prometheus)"; exit 1; }
command -v curl >/dev/null || { echo "FAIL: curl not installed"; exit 1; }
"$BUILD/bin/zipmined" --run.dir "$TMP/run" --node.name wt --http.port 0 --workers world \
    --world.port 0 --heartbeat.ms 200 > "$TMP/sup.log" 2>&1 &
SUP=$!
PIDS+=($SUP)
for _ in $(seq 200); do
    [ -s "$TMP/run/wt/http.port" ] && grep -q '"event":"world_listening"' "$TMP/sup.log" && break
    sleep 0.05
done
SPORT=$(cat "$TMP/run/wt/http.port")
WPORT=$(grep -o '"event":"world_listening"[^}]*"port":[0-9]*' "$TMP/sup.log" | grep -o '[0-9]*$')
for _ in $(seq 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SPORT/readyz")" = 200 ] && break
    sleep 0.05
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SPORT/readyz")" = 200 ] \
    || { echo "FAIL: node with world never ready"; tail -5 "$TMP/sup.log"; exit 1; }
for _ in 1 2 3; do curl -s -o /dev/null "http://127.0.0.1:$WPORT/zipcode/77494/listings"; done
curl -s -o /dev/null "http://127.0.0.1:$WPORT/zipcode/abc/listings"
sleep 1.2    # a metrics tick (500 ms) and heartbeats (200 ms)
curl -s "http://127.0.0.1:$SPORT/metrics" > "$TMP/metrics"
promtool check metrics < "$TMP/metrics" > "$TMP/promtool" 2>&1 \
    || { cat "$TMP/promtool"; echo "FAIL: promtool check metrics"; exit 1; }
for pat in 'zipmine_http_requests_total{route="listings",code="200",worker="world",instance="0"} 3' \
           'zipmine_http_requests_total{route="listings",code="400",worker="world",instance="0"} 1' \
           'zipmine_http_request_seconds_total{route="listings",worker="world",instance="0"} '; do
    grep -qF "$pat" "$TMP/metrics" || { echo "FAIL: /metrics lacks $pat"; grep zipmine_http "$TMP/metrics"; exit 1; }
done
kill -TERM $SUP
rc=0; wait $SUP || rc=$?
[ "$rc" = 0 ] || { echo "FAIL: zipmined exited $rc"; tail -5 "$TMP/sup.log"; exit 1; }
grep -q '"event":"child_exit","worker":"world.0".*exit 0' "$TMP/sup.log" \
    || { echo "FAIL: world did not exit 0 under the supervisor"; exit 1; }
echo "ok: under zipmined: ready, request metrics in /metrics (promtool clean), clean stop"
echo "test_world: PASS"
