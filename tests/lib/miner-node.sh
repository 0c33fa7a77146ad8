# shellcheck shell=bash
# Shared scaffolding for the miner end-to-end tests (tests/integration/test_miner_*.sh).
# Source it, then call mn_init NAME first. Everything is real: the coordinator and world
# binaries, one `zipmined --role miner` node (assigner, scraper pool, storage, uploader in
# s3.mode grant), PostgreSQL (one database for the coordinator, one for the miner) and an S3
# server (the shared one from tests/run, or a private one started by mn_s3_private so a test
# can stop and restart it on the same port with its data kept).
#
#   mn_init NAME                 checks env/tools/binaries, makes $MN_T, the databases, the
#                                dev keys (a hotkey unique to this run: the bucket is shared)
#                                and the metagraph; installs the EXIT trap (mn_cleanup)
#   mn_s3_private                start a private S3 server in $MN_T/s3 (port kept in MN_S3_PORT)
#   mn_s3_stop / mn_s3_start     stop it (for real) / start it again on the same port, data kept
#   mn_pick_epoch_s MIN_LEFT     an epoch length whose current epoch (UTC grid) has at least
#                                MIN_LEFT seconds left, so no deadline falls inside the test
#   mn_start_world [LATENCY_MS]  bare world binary on $MN_WPORT
#   mn_start_coord / mn_stop_coord   bare coordinator binary on $MN_CPORT (same port always)
#   mn_start_miner [VAR=value..] zipmined --role miner, extra env for the node
#   mn_stop_miner                SIGTERM (once), expects exit 0 within 30 s
#   mn_tasks_by_status           e.g. "pending=3 leased=2 uploaded=20"
#   mn_wait_epoch TIMEOUT_S      until every task is uploaded and the coordinator recorded
#                                COMPLETED for the hotkey
#   mn_verify                    S3 vs miner PostgreSQL vs world vs coordinator, see below
#   mn_readyz                    prints "CODE BODY" of the node's /readyz
#   mn_ctl_status_json           zipminectl status --json
#   q SQL / qc SQL               psql on the miner's / the coordinator's database
#
# Test-tunable env: ZM_KEEP=1 keeps $MN_T (logs, run dir, downloaded objects).

MN_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# Debian's python3 (tests/lib/install-deps) when present, not a version manager's shim found
# first in PATH: a pyenv shim costs 3-7 s per call on a loaded machine.
if [ -x /usr/bin/python3 ]; then python3 () { /usr/bin/python3 "$@"; }; fi
MN_T=""
MN_PIDS=()          # bare processes started here (coordinator, world), killed on exit
MN_SUP=""           # zipmined pid
MN_COORD=""         # coordinator pid
MN_WORLD=""         # world pid
MN_S3_DIR=""        # private S3 state dir, when mn_s3_private was called
MN_DBS=()

mn_log () { echo "[$(date -u +%H:%M:%S)] $*"; }

mn_fail () {
    echo "FAIL: $*" >&2
    if [ -n "$MN_T" ]; then
        for f in miner.log coord.log world.log; do
            [ -f "$MN_T/$f" ] || continue
            echo "--- last lines of $f" >&2
            tail -n 25 "$MN_T/$f" >&2 || true
        done
        if [ -n "${MN_DB:-}" ]; then
            echo "--- tasks" >&2
            q "SELECT zipcode, status, attempts, reason, listing_count FROM miner_tasks ORDER BY zipcode" >&2 2>/dev/null || true
            echo "--- uploads" >&2
            q "SELECT zipcode, state, attempts, reason FROM miner_uploads ORDER BY zipcode" >&2 2>/dev/null || true
        fi
    fi
    exit 1
}

mn_need () {
    local v
    for v in "$@"; do
        [ -n "${!v:-}" ] || { echo "FAIL: required test environment $v is not set: run tests/run or source tests/services' env.sh" >&2; exit 1; }
    done
}

# psql itself, not Debian's perl wrapper (which costs a second per call on a loaded machine)
MN_PSQL=$(ls -d /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -V | tail -n 1)
[ -n "$MN_PSQL" ] || MN_PSQL=psql
q ()  { "$MN_PSQL" "$ZM_TEST_PG_DSN dbname=$MN_DB" -XAtqc "$1"; }
qc () { "$MN_PSQL" "$ZM_TEST_PG_DSN dbname=$MN_COORD_DB" -XAtqc "$1"; }

mn_free_ports () {
    python3 -c 'import socket,sys
s=[socket.socket() for _ in range(int(sys.argv[1]))]
[x.bind(("127.0.0.1",0)) for x in s]
print(*[x.getsockname()[1] for x in s])' "$1"
}

# Stops one process by pid: SIGTERM, then SIGKILL after $2 seconds (default 10).
mn_stop_pid () {
    local pid=$1 wait_s=${2:-10} i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < wait_s * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

mn_cleanup () {
    local rc=$? pid db
    [ "$BASHPID" = "$$" ] || return 0      # only the test's own shell cleans up
    trap - EXIT
    # zipmined first: a plain SIGKILL, its children die with it (parent-death pipe + PDEATHSIG)
    if [ -n "$MN_SUP" ]; then kill -KILL "$MN_SUP" 2>/dev/null || true; wait "$MN_SUP" 2>/dev/null || true; fi
    for pid in "${MN_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    for pid in "${MN_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ -n "$MN_S3_DIR" ]; then "$MN_SRC/tests/s3/stop" "$MN_S3_DIR" >/dev/null 2>&1 || true; fi
    # workers still alive (the parent-death pipe needs a moment) hold database connections
    sleep 0.5
    for db in "${MN_DBS[@]}"; do
        psql "$ZM_TEST_PG_DSN" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    done
    if [ -n "${ZM_KEEP:-}" ] || [ "$rc" != 0 ]; then
        [ -n "${ZM_KEEP:-}" ] || rm -rf "$MN_T/s3" "$MN_T/objects"
        echo "kept $MN_T" >&2
    else
        rm -rf "$MN_T"
    fi
    exit "$rc"
}

mn_init () {
    local name=$1 b
    mn_need ZM_BUILD_DIR ZM_TEST_PG_DSN ZM_TEST_S3_ENDPOINT ZM_TEST_S3_REGION \
            ZM_TEST_S3_ACCESS_KEY ZM_TEST_S3_SECRET_KEY ZM_TEST_S3_BUCKET
    MN_BIN=$ZM_BUILD_DIR/bin
    for b in zipmined zipminectl zipmine-keys coordinator world assigner scraper storage uploader; do
        [ -x "$MN_BIN/$b" ] || { echo "FAIL: $MN_BIN/$b not built" >&2; exit 1; }
    done
    for b in psql python3 curl; do
        command -v "$b" >/dev/null || { echo "FAIL: $b is required" >&2; exit 1; }
    done
    MN_T=$(mktemp -d "/tmp/zm-$name-XXXXXX")
    trap mn_cleanup EXIT
    trap 'exit 130' INT TERM
    MN_DB=zmtest_${name//-/_}_m_$$
    MN_COORD_DB=zmtest_${name//-/_}_c_$$
    MN_DBS=("$MN_DB" "$MN_COORD_DB")
    psql "$ZM_TEST_PG_DSN" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE $MN_DB" || mn_fail "create $MN_DB"
    psql "$ZM_TEST_PG_DSN" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE $MN_COORD_DB" || mn_fail "create $MN_COORD_DB"

    # dev keys: a hotkey of its own per run (the shared bucket keeps every run's objects)
    local keyname="$name-$$-$(date +%s%N)"
    MN_HOTKEY=$("$MN_BIN/zipmine-keys" dev "$keyname" --wallet.path "$MN_T/w" --wallet.name miner \
                --wallet.hotkey default | grep -o '5[1-9A-HJ-NP-Za-km-z]\{47\}' | head -n 1)
    MN_COLDKEY=$("$MN_BIN/zipmine-keys" dev "$keyname-cold" --wallet.path "$MN_T/w" --wallet.name cold \
                 --wallet.hotkey default | grep -o '5[1-9A-HJ-NP-Za-km-z]\{47\}' | head -n 1)
    [ -n "$MN_HOTKEY" ] && [ -n "$MN_COLDKEY" ] || mn_fail "no dev keys"
    echo "{\"netuid\":46,\"hotkeys\":[{\"hotkey\":\"$MN_HOTKEY\",\"coldkey\":\"$MN_COLDKEY\",\"role\":\"miner\"}]}" \
        > "$MN_T/metagraph.json"
    read -r MN_CPORT MN_WPORT < <(mn_free_ports 2)
    MN_S3_ENDPOINT=$ZM_TEST_S3_ENDPOINT
    MN_NODE=miner
    MN_ZIPCODES=${MN_ZIPCODES:-25}
    mn_log "run dir $MN_T, hotkey $MN_HOTKEY, coordinator :$MN_CPORT, world :$MN_WPORT"
}

# A private S3 server (tests/s3) in $MN_T/s3, so the test may stop it for real.
mn_s3_private () {
    MN_S3_DIR=$MN_T/s3
    "$MN_SRC/tests/s3/start" "$MN_S3_DIR" >/dev/null || mn_fail "private S3 server did not start"
    MN_S3_PORT=$(cat "$MN_S3_DIR/s3.port")
    MN_S3_ENDPOINT=http://127.0.0.1:$MN_S3_PORT
    mn_log "private S3 server on $MN_S3_ENDPOINT"
}

mn_s3_stop () {
    "$MN_SRC/tests/s3/stop" "$MN_S3_DIR" || mn_fail "tests/s3/stop"
    ! curl -s -o /dev/null -m 2 "$MN_S3_ENDPOINT/" || mn_fail "S3 still answers after stop"
}

mn_s3_start () {
    ZM_S3_START_TIMEOUT_S=30 "$MN_SRC/tests/s3/start" "$MN_S3_DIR" "$MN_S3_PORT" >/dev/null \
        || mn_fail "S3 server did not restart on port $MN_S3_PORT"
}

mn_pick_epoch_s () {
    python3 -c 'import sys,time
left=int(sys.argv[1]); now=int(time.time())
for s in range(900, 86401, 60):
    if s - now % s >= left:
        print(s); break' "$1"
}

mn_wait_http () {   # URL TIMEOUT_S PID WHAT
    local url=$1 deadline=$(( $(date +%s) + $2 ))
    while ! curl -fs -o /dev/null -m 2 "$url"; do
        kill -0 "$3" 2>/dev/null || mn_fail "$4 exited during start"
        [ "$(date +%s)" -lt "$deadline" ] || mn_fail "$4 not answering $url after $2 s"
        sleep 0.2
    done
}

mn_start_world () {
    ZM_WORLD_PORT=$MN_WPORT ZM_WORLD_LATENCY_MS=${1:-0} ZM_NODE_NAME=world \
        "$MN_BIN/world" >> "$MN_T/world.log" 2>&1 &
    MN_WORLD=$!
    MN_PIDS+=("$MN_WORLD")
    mn_wait_http "http://127.0.0.1:$MN_WPORT/healthz" 60 "$MN_WORLD" world
}

mn_start_coord () {
    [ -n "${MN_EPOCH_S:-}" ] || MN_EPOCH_S=$(mn_pick_epoch_s 600)
    ZM_DB_DSN="$ZM_TEST_PG_DSN dbname=$MN_COORD_DB" ZM_NODE_NAME=coordinator \
    ZM_COORDINATOR_METAGRAPH="$MN_T/metagraph.json" ZM_COORDINATOR_PORT=$MN_CPORT \
    ZM_COORDINATOR_EPOCH_S=$MN_EPOCH_S ZM_COORDINATOR_ZIPCODES=$MN_ZIPCODES \
    ZM_S3_ENDPOINT="$MN_S3_ENDPOINT" ZM_S3_BUCKET="$ZM_TEST_S3_BUCKET" \
    ZM_S3_REGION="$ZM_TEST_S3_REGION" ZM_S3_ACCESS_KEY="$ZM_TEST_S3_ACCESS_KEY" \
    ZM_S3_SECRET_KEY="$ZM_TEST_S3_SECRET_KEY" \
        "$MN_BIN/coordinator" >> "$MN_T/coord.log" 2>&1 &
    MN_COORD=$!
    MN_PIDS+=("$MN_COORD")
    mn_wait_http "http://127.0.0.1:$MN_CPORT/healthcheck" 60 "$MN_COORD" coordinator
}

mn_stop_coord () {
    mn_stop_pid "$MN_COORD" 10
    ! curl -s -o /dev/null -m 2 "http://127.0.0.1:$MN_CPORT/healthcheck" || mn_fail "coordinator still answers after stop"
    MN_COORD=""
}

# The node. Extra "VAR=value" arguments override the defaults below.
mn_start_miner () {
    env ZM_DB_DSN="$ZM_TEST_PG_DSN dbname=$MN_DB" ZM_RUN_DIR="$MN_T/run" ZM_NODE_NAME=$MN_NODE \
        ZM_HTTP_PORT=0 ZM_COORDINATOR_URL="http://127.0.0.1:$MN_CPORT" \
        ZM_SCRAPER_WORLD_URL="http://127.0.0.1:$MN_WPORT" \
        ZM_WALLET_PATH="$MN_T/w" ZM_WALLET_NAME=miner ZM_WALLET_HOTKEY=default \
        ZM_WALLET_COLDKEY="$MN_COLDKEY" ZM_S3_MODE=grant \
        ZM_ASSIGNER_POLL_MS=7000 ZM_ASSIGNER_LEASE_MS=20000 ZM_ASSIGNER_SCRAPED_GRACE_MS=3000 \
        ZM_SCRAPER_TIMEOUT_S=15 ZM_UPLOADER_SWEEP_MS=1000 ZM_UPLOADER_STATUS_INTERVAL_MS=15000 \
        "$@" \
        "$MN_BIN/zipmined" --role miner >> "$MN_T/miner.log" 2>&1 &
    MN_SUP=$!
    local deadline=$(( $(date +%s) + 60 ))
    while [ ! -s "$MN_T/run/$MN_NODE/http.port" ]; do
        kill -0 "$MN_SUP" 2>/dev/null || mn_fail "zipmined exited during start"
        [ "$(date +%s)" -lt "$deadline" ] || mn_fail "zipmined wrote no http.port in 60 s"
        sleep 0.2
    done
    MN_HTTP_PORT=$(cat "$MN_T/run/$MN_NODE/http.port")
    mn_log "miner node up: zipmined pid $MN_SUP, http :$MN_HTTP_PORT"
}

mn_stop_miner () {
    local rc=0 i
    kill -TERM "$MN_SUP"
    for ((i = 0; i < 300; i++)); do kill -0 "$MN_SUP" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$MN_SUP" 2>/dev/null && mn_fail "zipmined still running 30 s after SIGTERM"
    wait "$MN_SUP" || rc=$?
    MN_SUP=""
    [ "$rc" = 0 ] || mn_fail "zipmined exited $rc after SIGTERM"
}

mn_ctl_status_json () {
    "$MN_BIN/zipminectl" --run.dir "$MN_T/run" --node.name "$MN_NODE" --timeout 3000 status --json
}

mn_readyz () {
    local out code
    out=$(curl -s -m 3 -w '\n%{http_code}' "http://127.0.0.1:$MN_HTTP_PORT/readyz" || true)
    code=${out##*$'\n'}
    echo "$code ${out%$'\n'*}"
}

mn_tasks_by_status () {
    q "SELECT coalesce(string_agg(status || '=' || n, ' ' ORDER BY status), 'none')
       FROM (SELECT status, count(*) AS n FROM miner_tasks GROUP BY status) s" 2>/dev/null || echo "db?"
}

# Waits until the miner recorded the epoch, every task is uploaded and the coordinator has
# COMPLETED for the hotkey. The node must stay up.
mn_wait_epoch () {
    local deadline=$(( $(date +%s) + $1 )) total up st
    while :; do
        total=$(q "SELECT count(*) FROM miner_tasks" 2>/dev/null || echo 0)
        up=$(q "SELECT count(*) FROM miner_tasks WHERE status = 'uploaded'" 2>/dev/null || echo 0)
        st=$(qc "SELECT status FROM coord_miner_status WHERE hotkey = '$MN_HOTKEY'" 2>/dev/null || true)
        [ "$total" = "$MN_ZIPCODES" ] && [ "$up" = "$total" ] && [ "$st" = COMPLETED ] && break
        kill -0 "$MN_SUP" 2>/dev/null || mn_fail "zipmined exited (tasks: $(mn_tasks_by_status))"
        [ "$(date +%s)" -lt "$deadline" ] \
            || mn_fail "epoch not completed in $1 s: $up of $total uploaded, coordinator says '${st:-nothing}'"
        sleep 1
    done
}

# The acceptance check of one completed epoch:
#   - the miner recorded exactly the coordinator's epoch, its zipcodes and expected counts;
#   - every task 'uploaded' with listing_count = expected; one landed ledger row per zipcode;
#   - S3 under data/hotkey={hk}/ holds exactly one object per zipcode, at
#     epoch={id}/zipcode={zip}/data_YYYYmmdd_HHMMSS.json, the key and size the ledger recorded;
#   - each object's body: sha256 = the ledger's; header fields right; listing ids unique;
#     ids == the stored ids == the world's ids for that zipcode; each listing equal to its
#     stored doc, and to the world's property apart from scraped_timestamp;
#   - the coordinator recorded COMPLETED with every zipcode (its DB and /stats).
mn_verify () {
    local epoch
    epoch=$(q "SELECT string_agg(epoch_id, ',') FROM miner_epochs")
    [ -n "$epoch" ] || mn_fail "no epoch recorded"
    mkdir -p "$MN_T/objects"
    q "SELECT json_build_object('zipcode', zipcode, 'expected', expected_listings, 'status', status,
                                'count', listing_count, 'epoch', epoch_id) FROM miner_tasks" > "$MN_T/tasks.jsonl"
    q "SELECT json_build_object('zipcode', zipcode, 'id', listing_id, 'doc', doc) FROM miner_listings" \
        > "$MN_T/listings.jsonl"
    q "SELECT json_build_object('zipcode', zipcode, 'key', s3_key, 'state', state, 'sha256', sha256,
                                'bytes', bytes, 'count', listing_count, 'epoch', epoch_id) FROM miner_uploads" \
        > "$MN_T/uploads.jsonl"
    qc "SELECT json_build_object('epoch', epoch_id, 'zipcode', zipcode, 'expected', expected)
        FROM coord_epoch_zipcodes WHERE epoch_id = '$epoch'" > "$MN_T/coord_zips.jsonl"
    qc "SELECT json_build_object('epoch', epoch_id, 'status', status, 'zipcodes', zipcodes_completed,
                                 'completed', completed_zipcodes::json, 'listings', listings_scraped)
        FROM coord_miner_status WHERE hotkey = '$MN_HOTKEY'" > "$MN_T/coord_status.jsonl"
    mn_log "verify: reading S3, PostgreSQL, the world and the coordinator"
    curl -fsS -m 5 "http://127.0.0.1:$MN_CPORT/api/v1/zipcode-assignments/stats" > "$MN_T/stats.json" \
        || mn_fail "coordinator /stats"
    # S3 through curl's own SigV4 signer (a client we did not write; one process for every
    # object: the aws CLI costs ~8 s per call on a loaded machine). Keys hold '=', which S3's
    # canonical URI wants as %3D and curl 7.88 signs as typed (tests/s3/README.md).
    local s3curl=(curl -fsS -m 60 --aws-sigv4 "aws:amz:$ZM_TEST_S3_REGION:s3"
                  --user "$ZM_TEST_S3_ACCESS_KEY:$ZM_TEST_S3_SECRET_KEY"
                  -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
    "${s3curl[@]}" -o "$MN_T/s3list.xml" \
        "$MN_S3_ENDPOINT/$ZM_TEST_S3_BUCKET?list-type=2&prefix=data%2Fhotkey%3D$MN_HOTKEY%2F" \
        || mn_fail "S3 ListObjectsV2 of data/hotkey=$MN_HOTKEY/"
    local key n=0
    : > "$MN_T/s3get.cfg"
    while read -r key; do
        [[ $key =~ ^[A-Za-z0-9/=_.-]+$ ]] || continue      # anything else is reported below
        echo "url = \"$MN_S3_ENDPOINT/$ZM_TEST_S3_BUCKET/${key//=/%3D}\"" >> "$MN_T/s3get.cfg"
        echo "output = \"$MN_T/objects/$n\"" >> "$MN_T/s3get.cfg"
        echo "$n $key" >> "$MN_T/s3files"
        n=$((n + 1))
    done < <(grep -o '<Key>[^<]*</Key>' "$MN_T/s3list.xml" | sed 's/<Key>\(.*\)<\/Key>/\1/')
    [ "$n" = 0 ] || "${s3curl[@]}" -K "$MN_T/s3get.cfg" || mn_fail "S3 GET of the objects"
    touch "$MN_T/s3files"
    python3 - "$MN_T" "$MN_HOTKEY" "$epoch" "$MN_ZIPCODES" "http://127.0.0.1:$MN_WPORT" <<'EOF' \
        || mn_fail "S3 / PostgreSQL / world / coordinator disagree (above)"
import concurrent.futures, hashlib, json, os, re, sys, urllib.request, xml.etree.ElementTree
T, hk, epoch, nzip, world = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
errors = []
def err(msg):
    errors.append(msg)
def jl(name):
    with open(os.path.join(T, name), encoding='utf-8') as f:
        return [json.loads(l) for l in f if l.strip()]
if ',' in epoch:
    err(f'the miner recorded more than one epoch: {epoch}')
tasks = {t['zipcode']: t for t in jl('tasks.jsonl')}
uploads = jl('uploads.jsonl')
coord = {z['zipcode']: z['expected'] for z in jl('coord_zips.jsonl')}
if len(coord) != nzip:
    err(f'coordinator assigned {len(coord)} zipcodes for {epoch}, want {nzip}')
if set(tasks) != set(coord):
    err(f'miner tasks {sorted(tasks)} != coordinator zipcodes {sorted(coord)}')
for z, t in sorted(tasks.items()):
    if t['epoch'] != epoch: err(f'{z}: task of epoch {t["epoch"]}')
    if t['status'] != 'uploaded': err(f'{z}: task {t["status"]}, want uploaded')
    if t['expected'] != coord.get(z): err(f'{z}: expected {t["expected"]}, coordinator {coord.get(z)}')
    if t['count'] != t['expected']: err(f'{z}: stored {t["count"]} listings, expected {t["expected"]}')
stored = {}
for l in jl('listings.jsonl'):
    d = stored.setdefault(l['zipcode'], {})
    if l['id'] in d: err(f'{l["zipcode"]}: listing {l["id"]} stored twice')
    d[l['id']] = l['doc']
ledger = {}
for u in uploads:
    if u['zipcode'] in ledger: err(f'{u["zipcode"]}: two ledger rows')
    ledger[u['zipcode']] = u
    if u['state'] != 'uploaded': err(f'{u["zipcode"]}: ledger {u["state"]}')
if set(ledger) != set(coord):
    err(f'ledger zipcodes {sorted(ledger)} != assigned {sorted(coord)}')
ns = {'s3': 'http://doc.s3.amazonaws.com/2006-03-01/'}
lb = xml.etree.ElementTree.parse(os.path.join(T, 's3list.xml')).getroot()
if lb.findtext('s3:IsTruncated', namespaces=ns) != 'false':
    err('the S3 listing is truncated')
listed = [{'Key': c.findtext('s3:Key', namespaces=ns), 'Size': int(c.findtext('s3:Size', namespaces=ns))}
          for c in lb.findall('s3:Contents', ns)]
files = {}
for line in open(os.path.join(T, 's3files'), encoding='utf-8'):
    i, k = line.rstrip('\n').split(' ', 1)
    files[k] = os.path.join(T, 'objects', i)
key_re = re.compile(r'^data/hotkey=' + re.escape(hk) + r'/epoch=([^/]+)/zipcode=(\d{5})/data_\d{8}_\d{6}\.json$')
def fetch_world(z):
    # every page of the world's listings for the zipcode, until its total
    out, page = {}, 1
    while True:
        with urllib.request.urlopen(f'{world}/zipcode/{z}/listings?page={page}&page_size=500', timeout=60) as r:
            w = json.load(r)
        for x in w['listings']:
            out[str(x['zpid'])] = x
        if not w['listings'] or len(out) >= w['total']:
            return out
        page += 1
with concurrent.futures.ThreadPoolExecutor(max_workers=len(coord) or 1) as pool:
    world_listings = dict(zip(sorted(coord), pool.map(fetch_world, sorted(coord))))
per_zip = {}
for o in listed:
    m = key_re.match(o['Key'])
    if not m:
        err(f'unexpected key {o["Key"]}')
        continue
    if m.group(1) != epoch: err(f'object of another epoch: {o["Key"]}')
    per_zip.setdefault(m.group(2), []).append(o)
for z in sorted(coord):
    objs = per_zip.get(z, [])
    if len(objs) != 1:
        err(f'{z}: {len(objs)} objects in S3 ({[o["Key"] for o in objs]}), want exactly 1')
        continue
    o, u = objs[0], ledger.get(z)
    if not u: continue
    if o['Key'] != u['key']: err(f'{z}: S3 key {o["Key"]} != ledger key {u["key"]}')
    if o['Size'] != u['bytes']: err(f'{z}: S3 size {o["Size"]} != ledger bytes {u["bytes"]}')
    body = open(files[o['Key']], 'rb').read()
    if hashlib.sha256(body).hexdigest() != u['sha256']: err(f'{z}: object sha256 differs from the ledger')
    doc = json.loads(body)
    for k, want in (('epoch_id', epoch), ('zipcode', z), ('miner_hotkey', hk)):
        if doc.get(k) != want: err(f'{z}: object {k} = {doc.get(k)!r}, want {want!r}')
    ls = doc.get('listings', [])
    if doc.get('listing_count') != len(ls): err(f'{z}: listing_count {doc.get("listing_count")} but {len(ls)} listings')
    def lid(l):
        return str(l['zpid']) if 'zpid' in l else 'mls:' + l['mls_id']
    ids = [lid(l) for l in ls]
    if len(set(ids)) != len(ids): err(f'{z}: {len(ids) - len(set(ids))} duplicate listings in the object')
    st = stored.get(z, {})
    if set(ids) != set(st):
        err(f'{z}: object ids != stored ids (only in object {sorted(set(ids) - set(st))[:5]}, only stored {sorted(set(st) - set(ids))[:5]})')
    for l in ls:
        if lid(l) in st and l != st[lid(l)]: err(f'{z}: listing {lid(l)} differs from the stored doc'); break
    wl = world_listings[z]
    if set(wl) != set(ids):
        err(f'{z}: object has {len(ids)} ids, world {len(wl)} (missing {sorted(set(wl) - set(ids))[:5]}, extra {sorted(set(ids) - set(wl))[:5]})')
    for l in ls:
        x = dict(l); x.pop('scraped_timestamp', None)
        if lid(l) in wl and x != wl[lid(l)]: err(f'{z}: listing {lid(l)} differs from the world'); break
    if len(wl) != coord[z]: err(f'{z}: world has {len(wl)} listings, coordinator expected {coord[z]}')
cs = jl('coord_status.jsonl')
if len(cs) != 1 or cs[0]['epoch'] != epoch or cs[0]['status'] != 'COMPLETED':
    err(f'coordinator status for the hotkey: {cs}, want COMPLETED for {epoch}')
elif cs[0]['zipcodes'] != nzip or sorted(cs[0]['completed']) != sorted(coord):
    err(f'coordinator recorded {cs[0]["zipcodes"]} completed zipcodes, want {nzip}')
stats = json.load(open(os.path.join(T, 'stats.json')))
if stats.get('currentEpoch') != epoch or stats.get('minerStatus', {}).get('COMPLETED') != 1:
    err(f'/stats: {stats}')
for e in errors[:40]:
    print('  ' + e, file=sys.stderr)
if errors:
    sys.exit(1)
n = sum(len(v) for v in stored.values())
print(f'verified epoch {epoch}: {len(coord)} zipcodes, {len(listed)} objects, {n} listings '
      f'(S3 == PostgreSQL == world by id and content), coordinator COMPLETED')
EOF
}
