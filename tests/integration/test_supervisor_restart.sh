#!/bin/bash
# zipmined restarts: a SIGKILLed worker is READY again within 2 s (latency measured);
# `zipminectl restart W` restarts exactly W (a whole pool one instance at a time); a SIGSTOPped worker is caught by missed
# heartbeats and replaced; `zipminectl scale` grows and shrinks a pool; zipminectl's
# refusals and usage errors have the right exit codes; a worker whose loop hangs (process
# running) is replaced like a SIGSTOPped one.
HERE=$(cd "$(dirname "$0")" && pwd)
source "${ZM_SOURCE_DIR:-$HERE/../..}/tests/support/supervisor_lib.sh"
sup_init
sup_link alpha beta pool
export ZM_TEST_MODE=normal
sup_start "${SUP_FAST[@]}" --workers alpha,beta,pool:2

wait_until 30000 sup_ready_count_is 4 || fail "4 children not READY"
sup_snap; cat "$T/snap"

# 1. SIGKILL: back to READY (new pid) within 2 s.
old=$(snap_pid alpha.0)
t0=$(now_ms)
kill -KILL "$old"
wait_until 4000 sup_ready_new_pid alpha.0 "$old" || fail "alpha.0 not READY after SIGKILL"
sup_snap
new=$(snap_pid alpha.0)
# From the kill to the supervisor's child_ready event of the new pid (log time stamps, so
# the polling of this script is not counted).
t_exit=$(log_ts "\"event\":\"child_exit\",\"worker\":\"alpha.0\",\"child_pid\":$old")
t_spawn=$(log_ts "\"event\":\"child_spawn\",\"worker\":\"alpha.0\",\"child_pid\":$new")
t_ready=$(log_ts "\"event\":\"child_ready\",\"worker\":\"alpha.0\",\"child_pid\":$new")
dt=$(( t_ready - t0 ))
echo "restart latency after SIGKILL: ${dt} ms to READY (reaped +$(( t_exit - t0 )) ms," \
     "spawned +$(( t_spawn - t0 )) ms; limit 2000 ms)"
[ "$dt" -lt 2000 ] || fail "alpha.0 READY ${dt} ms after SIGKILL (limit 2000)"
[ "$(snap_field alpha.0 6)" = "signal 9" ] || fail "last exit of alpha.0: '$(snap_field alpha.0 6)'"
[ "$(snap_field alpha.0 4)" = 1 ] || fail "alpha.0 restarts $(snap_field alpha.0 4), want 1"

# 2. zipminectl restart: only the named worker changes pid.
a=$(snap_pid alpha.0); b=$(snap_pid beta.0); p0=$(snap_pid pool.0); p1=$(snap_pid pool.1)
t0=$(now_ms)
sup_ctl restart beta || fail "zipminectl restart beta failed"
wait_until 15000 sup_ready_new_pid beta.0 "$b" || fail "beta.0 not restarted"
echo "operator restart of beta: READY again after $(( $(now_ms) - t0 )) ms"
sup_snap
[ "$(snap_pid alpha.0)" = "$a" ] && [ "$(snap_pid pool.0)" = "$p0" ] && [ "$(snap_pid pool.1)" = "$p1" ] \
    || fail "restart beta touched other workers"
kill -0 "$b" 2>/dev/null && fail "old beta pid $b still alive"
b=$(snap_pid beta.0)
sup_ctl restart pool.1 || fail "zipminectl restart pool.1 failed"
wait_until 15000 sup_ready_new_pid pool.1 "$p1" || fail "pool.1 not restarted"
sup_snap
[ "$(snap_pid pool.0)" = "$p0" ] && [ "$(snap_pid beta.0)" = "$b" ] && [ "$(snap_pid alpha.0)" = "$a" ] \
    || fail "restart pool.1 touched other workers"
log_has '"event":"child_sigterm","worker":"pool.1"' || fail "pool.1 was not stopped with SIGTERM"
p1=$(snap_pid pool.1)

# 2b. restarting a whole pool is rolling: pool.1 is stopped only once pool.0 is READY again.
mark=$(wc -l < "$T/log")
sup_ctl restart pool || fail "zipminectl restart pool failed"
both () { sup_ready_new_pid pool.0 "$p0" && sup_ready_new_pid pool.1 "$p1"; }
wait_until 20000 both || fail "pool not restarted"
tail -n +"$((mark + 1))" "$T/log" | grep -oE '"event":"child_(sigterm|ready)","worker":"pool\.[01]"' \
    | sed -E 's/.*child_([a-z]+)","worker":"(pool\.[01])"/\1 \2/' | tr '\n' ',' > "$T/roll"
echo "rolling restart of pool: $(cat "$T/roll")"
[ "$(cat "$T/roll")" = "sigterm pool.0,ready pool.0,sigterm pool.1,ready pool.1," ] \
    || fail "pool restart was not rolling: $(cat "$T/roll")"
sup_snap
[ "$(snap_pid alpha.0)" = "$a" ] && [ "$(snap_pid beta.0)" = "$b" ] || fail "restart pool touched others"
p0=$(snap_pid pool.0)

# 3. SIGSTOP: heartbeats stop; killed after 3 x 300 ms and replaced.
old=$p0
t0=$(now_ms)
kill -STOP "$old"
wait_until 15000 sup_ready_new_pid pool.0 "$old" || fail "SIGSTOPped pool.0 not replaced"
t_lost=$(log_ts "\"event\":\"child_heartbeat_lost\",\"worker\":\"pool.0\",\"child_pid\":$old")
echo "SIGSTOPped worker: heartbeat loss detected +$(( t_lost - t0 )) ms (limit 3 x 300 ms)," \
     "replacement READY after $(( $(now_ms) - t0 )) ms"
log_has '"event":"child_heartbeat_lost","worker":"pool.0"' || fail "no child_heartbeat_lost event"
wait_until 1000 bash -c "! kill -0 $old" || fail "stopped process $old still exists"

# 4. scale: grow to 4, then shrink to 1 (highest indexes stopped gracefully).
sup_snap
p0=$(snap_pid pool.0)
sup_ctl scale pool 4 || fail "scale pool 4 failed"
wait_until 20000 sup_ready_count_is 6 || fail "pool did not grow to 4"
sup_snap
p2=$(snap_pid pool.2); p3=$(snap_pid pool.3); p1=$(snap_pid pool.1)
echo "scaled pool 2 -> 4: pool.2 pid $p2, pool.3 pid $p3"
sup_ctl scale pool 1 || fail "scale pool 1 failed"
gone () {
    for i in 1 2 3; do log_has "\"event\":\"child_removed\",\"worker\":\"pool.$i\"" || return 1; done
}
wait_until 15000 gone || fail "pool did not shrink to 1"
sup_snap
[ -z "$(snap_pid pool.1)$(snap_pid pool.2)$(snap_pid pool.3)" ] || fail "status still lists retired instances"
for p in $p1 $p2 $p3; do kill -0 "$p" 2>/dev/null && fail "retired pid $p alive"; done
[ "$(snap_pid pool.0)" = "$p0" ] || fail "shrinking touched pool.0"
for i in 3 2 1; do
    log_has "\"event\":\"child_exit\",\"worker\":\"pool.$i\",\"child_pid\":[0-9]*,\"exit\":\"exit 0 (clean)\"" \
        || fail "pool.$i did not drain to exit 0"
done
# highest index first
order=$(grep -o '"event":"child_sigterm","worker":"pool\.[123]"' "$T/log" | tail -3 | grep -o 'pool\.[0-9]' | tr '\n' ' ')
[ "$order" = "pool.3 pool.2 pool.1 " ] || fail "shrink order '$order'"
cat "$T/snap"

# 5. refusals and usage.
sup_ctl restart nosuch 2>"$T/err"; rc=$?
[ $rc = 1 ] && grep -q "no worker 'nosuch'" "$T/err" || fail "restart nosuch: rc $rc $(cat "$T/err")"
sup_ctl scale nosuch 2 2>/dev/null; [ $? = 1 ] || fail "scale nosuch should fail"
sup_ctl scale pool many 2>/dev/null; [ $? = 2 ] || fail "scale with a bad count is a usage error"
sup_ctl frobnicate 2>/dev/null; [ $? = 2 ] || fail "unknown command is a usage error"
sup_ctl 2>/dev/null; [ $? = 2 ] || fail "no command is a usage error"
sup_ctl status --json | python3 -c '
import json, sys
d = json.load (sys.stdin)
assert d["ok"] is True
names = sorted ("%s.%d" % (c["name"], c["index"]) for c in d["children"])
assert names == ["alpha.0", "beta.0", "pool.0"], names
assert all (c["state"] == "ready" and c["pid"] > 0 for c in d["children"]), d
' || fail "status --json"

kill -TERM "$SUP_PID"
wait "$SUP_PID"; rc=$?
[ $rc = 0 ] || fail "zipmined exit $rc after SIGTERM"

# 6. A worker whose loop hangs (running, sockets open, no more heartbeats) is replaced too.
rm -rf "$T/run"; : > "$T/log"
sup_link hangs
export ZM_TEST_MODE="normal,hangs=hang:400"
sup_start "${SUP_FAST[@]}" --workers alpha,hangs
first () { grep -o '"event":"child_spawn","worker":"hangs.0","child_pid":[0-9]*' "$T/log" | head -1 | grep -o '[0-9]*$'; }
wait_until 15000 first || fail "hangs.0 not spawned"
old=$(first)
wait_until 20000 sup_ready_new_pid hangs.0 "$old" || fail "hung worker not replaced"
log_has "\"event\":\"child_heartbeat_lost\",\"worker\":\"hangs.0\",\"child_pid\":$old" \
    || fail "no child_heartbeat_lost for the hung worker"
grep -q "\"worker\":\"hangs.0\",\"child_pid\":$old,\"exit\":\"signal 9\"" "$T/log" \
    || fail "hung worker not SIGKILLed"
echo "hung worker (loop blocked, process running) detected and replaced"
kill -TERM "$SUP_PID"
wait "$SUP_PID"; rc=$?
[ $rc = 0 ] || fail "zipmined exit $rc after SIGTERM"
echo "PASS test_supervisor_restart"
