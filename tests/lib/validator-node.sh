# Helpers for the validator tests and benchmark (sourced): a coordinator and worlds run as
# real processes, an epoch of miner submissions generated into S3 (bench_gen_submissions),
# and validator nodes (`zipmined --role validator`), each on its own database, run directory
# and wallet. Everything started here is stopped by PID, and every database dropped, on exit.
#
#   vn_init TAG               checks binaries and services, makes $T, sets the exit trap
#   vn_keys NAME...           development validator wallets in $T/wallets; VN_HK[NAME] = SS58
#   vn_world NAME SEED        a world on a free port; VN_WORLD[NAME] = its URL
#   vn_coordinator MINERS EPOCH_S TARGET [ZIPCODES]
#                             metagraph (MINERS generated miners + every vn_keys hotkey),
#                             its own database, the coordinator on a free port (VN_COORD),
#                             issuing upload grants for bucket VN_COORD_BUCKET
#   vn_generate WORLD ARGS... bench_gen_submissions generate against the coordinator and
#                             world WORLD (more ARGS: --bucket, --miners, ...); sets VN_EPOCH,
#                             VN_DEADLINE; the summary is in $T/gen.json, the manifest in
#                             $T/manifest
#   vn_validator NAME BUCKET WORLD [FLAG VALUE]...
#                             a validator node for VN_EPOCH (wallet NAME from vn_keys); its
#                             database VN_DSN[NAME], weights file $T/NAME.weights.json, log
#                             $T/NAME.log; extra config flags go to every worker. Results
#                             are published as s3.mode VN_S3_MODE says (default grant: through
#                             the coordinator's validator upload grant, so BUCKET must be
#                             VN_COORD_BUCKET; direct: PUT with the S3 credentials). Called
#                             again for a stopped node, it restarts it on the same database
#   vn_wait_published NAME SEC        waits until the node has published its result
#   vn_wait_weights NAME SEC  waits for the node's weights file; 1 on timeout
#   vn_sql NAME SQL           one query against the node's database (psql -At)
#   vn_hash NAME / vn_weights NAME / vn_verdict NAME   the epoch's stored results
#   vn_child_pid NAME WORKER.INDEX    pid of a running child (from /proc)
#   vn_child_restarts NAME WORKER.INDEX   its restarts (zipminectl status)
#   vn_stop NAME...           SIGTERM, waits (30 s), SIGKILL
#   fail MSG                  prints the logs' tails and exits 1
set -u
: "${ZM_BUILD_DIR:?ZM_BUILD_DIR must point at the build directory}"
BIN="$ZM_BUILD_DIR/bin"
declare -A VN_HK VN_WORLD VN_DSN VN_PID
VN_DBS=()
VN_OTHER_PIDS=()
VN_BUCKETS=()
VN_COORD=""
VN_EPOCH=""
VN_DEADLINE=0
VN_EPOCH_S=20

now_ms () { date +%s%3N; }

vn_free_port () {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

vn_stop_pid () {    # pid [seconds]
    local pid=$1 limit=${2:-30} i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < limit * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

vn_cleanup () {
    local name pid db b
    trap - EXIT INT TERM
    # SIGTERM to every node first, so their drains overlap, then wait for each.
    for name in "${!VN_PID[@]}"; do kill -TERM "${VN_PID[$name]}" 2>/dev/null || true; done
    for name in "${!VN_PID[@]}"; do vn_stop_pid "${VN_PID[$name]}" 30; done
    for pid in "${VN_OTHER_PIDS[@]}"; do vn_stop_pid "$pid" 10; done
    for b in "${VN_BUCKETS[@]}"; do     # the generated objects, so repeated runs leave no data
        AWS_ACCESS_KEY_ID=$ZM_TEST_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$ZM_TEST_S3_SECRET_KEY \
        AWS_DEFAULT_REGION=$ZM_TEST_S3_REGION timeout 60 aws --endpoint-url "$ZM_TEST_S3_ENDPOINT" \
            s3 rb "s3://$b" --force >/dev/null 2>&1 || true
    done
    for db in "${VN_DBS[@]}"; do
        psql "$ZM_TEST_PG_DSN" -qAtc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    done
    if [ -n "${T:-}" ]; then
        if [ -n "${ZM_KEEP:-}" ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
    fi
}

fail () {
    local f
    echo "FAIL: $*" >&2
    if [ -n "${T:-}" ]; then
        for f in "$T"/*.log; do
            [ -f "$f" ] || continue
            echo "---- $(basename "$f") (errors and tail) ----" >&2
            grep -E '"level":"(error|warn)"' "$f" | tail -n 15 >&2 || true
            tail -n 10 "$f" >&2
        done
    fi
    exit 1
}

vn_init () {
    local tag=$1 b v
    for b in zipmined zipminectl zipmine-keys coordinator world downloader tier1 tier2 tier3 \
             consensus bench_gen_submissions; do
        [ -x "$BIN/$b" ] || { echo "FAIL: $BIN/$b not built" >&2; exit 1; }
    done
    # The services are required: a missing one fails the test, never skips it.
    for v in ZM_TEST_PG_DSN ZM_TEST_S3_ENDPOINT ZM_TEST_S3_REGION ZM_TEST_S3_ACCESS_KEY \
             ZM_TEST_S3_SECRET_KEY; do
        [ -n "${!v:-}" ] || { echo "FAIL: $v is not set (tests/services start DIR)" >&2; exit 1; }
    done
    T=$(mktemp -d "/tmp/zm-$tag-XXXXXX")
    VN_TAG="$tag$$"
    mkdir -p "$T/wallets" "$T/run"
    trap vn_cleanup EXIT
    trap 'exit 1' INT TERM
}

# Creates database zmv_<tag><pid>_<name> (dropped at exit) and names it in VN_LAST_DB. Not
# to be called in $(...): the list of databases to drop lives in this shell.
vn_db () {
    local db="zmv_${VN_TAG}_$1"
    db=${db//-/_}
    psql "$ZM_TEST_PG_DSN" -qAtc "CREATE DATABASE $db" >/dev/null || fail "CREATE DATABASE $db"
    VN_DBS+=("$db")
    VN_LAST_DB=$db
}

vn_keys () {
    local n
    for n in "$@"; do
        VN_HK[$n]=$("$BIN/zipmine-keys" dev "$n" --wallet.path "$T/wallets" --wallet.name "$n" \
                    --wallet.hotkey default 2>/dev/null | tail -n 1) || fail "zipmine-keys dev $n"
        [ -n "${VN_HK[$n]}" ] || fail "no hotkey for $n"
    done
}

vn_wait_http () {   # url seconds
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        curl -sf --max-time 2 "$1" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

vn_world () {
    local name=$1 seed=$2 port
    port=$(vn_free_port)
    ZM_WORLD_PORT=$port ZM_WORLD_SEED=$seed ZM_WORLD_PUBLIC_URL="http://127.0.0.1:$port" \
        setsid "$BIN/world" > "$T/world-$name.log" 2>&1 &
    VN_OTHER_PIDS+=($!)
    VN_WORLD[$name]="http://127.0.0.1:$port"
    vn_wait_http "${VN_WORLD[$name]}/healthz" 30 || fail "world $name did not answer"
}

vn_coordinator () {     # miners epoch_s target [zipcodes]
    local miners=$1 port db args=() n
    VN_EPOCH_S=$2
    for n in "${!VN_HK[@]}"; do args+=(--validator "${VN_HK[$n]}"); done
    "$BIN/bench_gen_submissions" metagraph --miners "$miners" "${args[@]}" > "$T/metagraph.json" \
        || fail "metagraph"
    vn_db coord
    db=$VN_LAST_DB
    port=$(vn_free_port)
    ZM_DB_DSN="$ZM_TEST_PG_DSN dbname=$db" ZM_COORDINATOR_METAGRAPH="$T/metagraph.json" \
    ZM_COORDINATOR_PORT=$port ZM_COORDINATOR_EPOCH_S=$VN_EPOCH_S \
    ZM_COORDINATOR_TARGET_LISTINGS=$3 ZM_COORDINATOR_ZIPCODES=${4:-25} \
    ZM_COORDINATOR_RATE_ASSIGNMENTS=600 \
    ZM_S3_ENDPOINT="$ZM_TEST_S3_ENDPOINT" ZM_S3_REGION="$ZM_TEST_S3_REGION" \
    ZM_S3_BUCKET="${VN_COORD_BUCKET:-${ZM_TEST_S3_BUCKET:-zipmine}}" \
    ZM_S3_ACCESS_KEY="$ZM_TEST_S3_ACCESS_KEY" ZM_S3_SECRET_KEY="$ZM_TEST_S3_SECRET_KEY" \
        setsid "$BIN/coordinator" > "$T/coordinator.log" 2>&1 &
    VN_OTHER_PIDS+=($!)
    VN_COORD="http://127.0.0.1:$port"
    vn_wait_http "$VN_COORD/healthcheck" 60 || fail "coordinator did not answer"
}

vn_generate () {
    local world=$1 a prev=""
    shift
    for a in "$@"; do [ "${prev:-}" = "--bucket" ] && VN_BUCKETS+=("$a"); prev=$a; done
    "$BIN/bench_gen_submissions" generate --coordinator "$VN_COORD" --world "${VN_WORLD[$world]}" \
        --epoch-s "$VN_EPOCH_S" --manifest "$T/manifest" "$@" > "$T/gen.json" 2> "$T/gen.log" \
        || { cat "$T/gen.json" "$T/gen.log" >&2; fail "generator"; }
    VN_EPOCH=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["epoch"])' "$T/gen.json")
    VN_DEADLINE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["deadline"])' "$T/gen.json")
}

# Fast restarts and a generous restart intensity: the kill test kills six workers in a minute.
# A 15 s heartbeat window: under ASan on a loaded machine a tier working off a backlog can
# stay in one loop turn for seconds (see "Benchmark" in docs/validation.md), and the test
# nodes must not be restarted for that.
VN_NODE_FLAGS=(--heartbeat.ms 1000 --heartbeat.misses 15 --tier3.pool 2 --restart.base.ms 200
               --restart.cap.ms 2000 --restart.intensity 50 --restart.period.ms 60000
               --http.bind 127.0.0.1 --http.port 0 --log.level info)

# Validators publish with their own S3 keys (s3.mode=direct): each group here reads its own
# bucket, while a grant from the coordinator would upload into the coordinator's bucket.
vn_validator () {   # name bucket world [flag value]...
    local name=$1 bucket=$2 world=$3
    shift 3
    if [ -z "${VN_DSN[$name]:-}" ]; then     # a restart keeps the node's database
        vn_db "$name"
        VN_DSN[$name]="$ZM_TEST_PG_DSN dbname=$VN_LAST_DB"
    fi
    ZM_DB_DSN="${VN_DSN[$name]}" \
    ZM_S3_ENDPOINT="$ZM_TEST_S3_ENDPOINT" ZM_S3_REGION="$ZM_TEST_S3_REGION" \
    ZM_S3_BUCKET="$bucket" ZM_S3_ACCESS_KEY="$ZM_TEST_S3_ACCESS_KEY" \
    ZM_S3_SECRET_KEY="$ZM_TEST_S3_SECRET_KEY" ZM_S3_TIMEOUT_MS=10000 \
    ZM_S3_MODE="${VN_S3_MODE:-grant}" \
    ZM_COORDINATOR_URL="$VN_COORD" ZM_COORDINATOR_EPOCH_S="$VN_EPOCH_S" \
    ZM_DOWNLOADER_EPOCH="$VN_EPOCH" ZM_DOWNLOADER_GRACE_MS="${VN_GRACE_MS:-1000}" \
    ZM_CONSENSUS_VERDICT_DELAY_MS="${VN_VERDICT_DELAY_MS:-2000}" \
    ZM_CONSENSUS_REQUEST_RETRY_MS="${VN_REQUEST_RETRY_MS:-5000}" \
    ZM_CONSENSUS_WEIGHTS_FILE="$T/$name.weights.json" \
    ZM_TIER3_SOURCE_URL="${VN_WORLD[$world]}" ZM_TIER3_TIMEOUT_MS=5000 \
    ZM_TIER3_RATE_PER_MINUTE=600000 \
    ZM_WALLET_PATH="$T/wallets" ZM_WALLET_NAME="$name" ZM_WALLET_HOTKEY=default \
        setsid "$BIN/zipmined" --role validator --node.name "$name" --run.dir "$T/run" \
            "${VN_NODE_FLAGS[@]}" "$@" >> "$T/$name.log" 2>&1 &
    VN_PID[$name]=$!
}

vn_wait_weights () {    # name seconds
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        [ -s "$T/$1.weights.json" ] && return 0
        kill -0 "${VN_PID[$1]}" 2>/dev/null || fail "node $1 exited"
        sleep 0.1
    done
    return 1
}

vn_sql () { psql "${VN_DSN[$1]}" -qAtc "$2"; }

# Waits until the node has published its result for VN_EPOCH; 1 on timeout.
vn_wait_published () {  # name seconds
    local i
    for ((i = 0; i < $2 * 5; i++)); do
        [ "$(vn_sql "$1" "SELECT count (*) FROM validator_consensus_epochs WHERE epoch_id = '$VN_EPOCH' AND published_at IS NOT NULL" 2>/dev/null)" = 1 ] && return 0
        kill -0 "${VN_PID[$1]}" 2>/dev/null || fail "node $1 exited"
        sleep 0.2
    done
    return 1
}

vn_hash () { vn_sql "$1" "SELECT consensus_hash FROM validator_consensus_epochs WHERE epoch_id = '$VN_EPOCH'"; }

# One line per miner: "hotkey weight", the weight as PostgreSQL prints a double (shortest
# digits that read back exactly, extra_float_digits 1).
vn_weights () {
    vn_sql "$1" "SELECT miner_hotkey || ' ' || weight::text
                   FROM validator_weights WHERE epoch_id = '$VN_EPOCH'
                  ORDER BY miner_hotkey COLLATE \"C\""
}

# "VERDICT agreeing/total outlier,outlier"
vn_verdict () {
    vn_sql "$1" "SELECT verdict || ' ' || agreeing || '/' || total || ' ' ||
                        array_to_string (ARRAY (SELECT unnest (outliers) ORDER BY 1), ',')
                   FROM validator_consensus_verdicts WHERE epoch_id = '$VN_EPOCH'"
}

# The pid of a running child, read from /proc (zipminectl under ASan on a loaded machine can
# take seconds, which would smear a kill schedule): the supervisor's child whose executable
# is WORKER and whose ZM_WORKER_INDEX is INDEX. Empty while the child is down or in backoff.
vn_child_pid () {   # name worker.index
    local sup=${VN_PID[$1]} want=${2%.*} index=${2##*.} p
    for p in $(cat /proc/"$sup"/task/*/children 2>/dev/null); do
        [ "$(cat /proc/"$p"/comm 2>/dev/null)" = "$want" ] || continue
        tr '\0' '\n' < /proc/"$p"/environ 2>/dev/null | grep -qx "ZM_WORKER_INDEX=$index" \
            && { echo "$p"; return 0; }
    done
    return 0
}

# Restart count of a child from `zipminectl status`.
vn_child_restarts () {  # name worker.index
    "$BIN/zipminectl" --run.dir "$T/run" --node.name "$1" --timeout 5000 status 2>/dev/null \
        | awk -v id="$2" '$1 == id { print $4 }'
}

vn_stop () {     # name... (SIGTERM to all of them first, so their drains overlap)
    local n
    for n in "$@"; do kill -TERM "${VN_PID[$n]}" 2>/dev/null || true; done
    for n in "$@"; do
        vn_stop_pid "${VN_PID[$n]}" 30
        unset "VN_PID[$n]"
    done
}
