#!/bin/bash
# zipmined failure policy: exit 100 is never restarted and shows FAILED with its reason
# (and stops the node with exit 1 when the worker is required); a worker that never becomes
# ready is SIGKILLed at its ready timeout and restarted; a crash loop trips the restart
# intensity, so the node stops its children in reverse order and exits 1.
HERE=$(cd "$(dirname "$0")" && pwd)
source "${ZM_SOURCE_DIR:-$HERE/../..}/tests/support/supervisor_lib.sh"
sup_init
sup_link good perm never first second crashy

# A. optional workers: perm exits 100, never never becomes ready (timeout 800 ms).
export ZM_TEST_MODE="normal,perm=exit100,never=noready"
sup_start "${SUP_FAST[@]}" --ready.timeout.ms 4000 --workers good,perm:optional,never:optional
failed () { [ "$(sup_state perm.0)" = FAILED ]; }
wait_until 5000 failed || fail "perm.0 not FAILED"
sup_ctl status | tee "$T/status"
grep -E '^perm\.0 +- +FAILED +0 .*exit 100 \(config\)' "$T/status" >/dev/null \
    || fail "status does not show perm.0 FAILED with 'exit 100 (config)'"

# never.0: killed at its ready timeout, then restarted.
first_pid=$(grep -o '"event":"child_spawn","worker":"never.0","child_pid":[0-9]*' "$T/log" | head -1 | grep -o '[0-9]*$')
[ -n "$first_pid" ] || fail "never.0 was not spawned"
wait_until 8000 log_has '"event":"child_ready_timeout","worker":"never.0"' || fail "no ready timeout for never.0"
spawn_ts=$(grep '"event":"child_spawn","worker":"never.0"' "$T/log" | head -1 | grep -o '"ts":"[^"]*"' | cut -d'"' -f4)
kill_ts=$(grep '"event":"child_ready_timeout","worker":"never.0"' "$T/log" | head -1 | grep -o '"ts":"[^"]*"' | cut -d'"' -f4)
ms=$(( $(date -d "$kill_ts" +%s%3N) - $(date -d "$spawn_ts" +%s%3N) ))
echo "never-ready worker killed ${ms} ms after spawn (ready.timeout.ms 4000)"
[ "$ms" -ge 3950 ] && [ "$ms" -le 5500 ] || fail "ready timeout fired after $ms ms"
wait_until 2000 bash -c "! kill -0 $first_pid" || fail "never.0 pid $first_pid survived its ready timeout"
grep -q "\"worker\":\"never.0\",\"child_pid\":$first_pid,\"exit\":\"signal 9\"" "$T/log" || fail "never.0 not SIGKILLed"
wait_until 3000 bash -c "grep -c '\"event\":\"child_spawn\",\"worker\":\"never.0\"' '$T/log' | grep -qv '^1\$'" \
    || fail "never.0 not restarted after its ready timeout"

# perm.0 stays FAILED, spawned exactly once; good.0 unaffected; the node still runs.
sleep 0.5
[ "$(log_count '"event":"child_spawn","worker":"perm.0"')" = 1 ] || fail "perm.0 was restarted"
[ "$(sup_state perm.0)" = FAILED ] || fail "perm.0 left FAILED"
[ "$(sup_state good.0)" = READY ] || fail "good.0 not READY"
kill -TERM "$SUP_PID"; wait "$SUP_PID"; rc=$?
[ $rc = 0 ] || fail "node exit $rc after SIGTERM"

# B. a required worker exiting 100 stops the node with exit 1.
rm -rf "$T/run"; : > "$T/log"
export ZM_TEST_MODE="normal,perm=exit100"
t0=$(now_ms)
sup_start "${SUP_FAST[@]}" --workers good,perm
wait "$SUP_PID"; rc=$?
echo "required worker exit 100: node exited $rc after $(( $(now_ms) - t0 )) ms"
[ $rc = 1 ] || fail "node exit $rc, want 1"
log_has '"event":"node_required_failed","worker":"perm.0"' || fail "no node_required_failed event"

# C. crash loop: more than 3 restarts within 10 s stops the node, children in reverse order.
rm -rf "$T/run"; : > "$T/log"
export ZM_TEST_MODE="normal,crashy=crash:100"
t0=$(now_ms)
sup_start "${SUP_FAST[@]}" --restart.intensity 3 --restart.period.ms 10000 \
    --workers first,second,crashy
wait_until 15000 bash -c "! kill -0 $SUP_PID" || fail "node did not stop on a crash loop"
wait "$SUP_PID"; rc=$?
echo "crash loop: node exited $rc after $(( $(now_ms) - t0 )) ms, crashes: $(log_count '"exit":"signal 6')"
[ $rc = 1 ] || fail "node exit $rc, want 1"
log_has '"event":"node_restart_intensity"' || fail "no node_restart_intensity event"
[ "$(log_count '"event":"child_spawn","worker":"crashy.0"')" = 4 ] || fail "crashy.0 should run 4 times"
order=$(grep -o '"event":"child_sigterm","worker":"[a-z]*\.0"' "$T/log" | grep -o '[a-z]*\.0' | tr '\n' ' ')
[ "$order" = "second.0 first.0 " ] || fail "stop order '$order', want reverse start order"
for w in first.0 second.0; do
    grep -q "\"event\":\"child_exit\",\"worker\":\"$w\",\"child_pid\":[0-9]*,\"exit\":\"exit 0 (clean)\"" "$T/log" \
        || fail "$w did not drain cleanly"
done
# D. configuration: bad lists and missing executables exit 100 before anything starts; with
#    the role table a missing executable is skipped (the node runs the workers that exist).
rm -rf "$T/run"
"$BIN/zipmined" --run.dir "$T/run" --node.name tn --bin.dir "$T/bin" --http.port 0 \
    --workers good,missing > "$T/out" 2>&1; rc=$?
[ $rc = 100 ] && grep -q "no executable .*/missing" "$T/out" || fail "missing binary: rc $rc $(cat "$T/out")"
"$BIN/zipmined" --run.dir "$T/run" --node.name tn --bin.dir "$T/bin" --http.port 0 \
    --workers "good:0" > "$T/out" 2>&1; rc=$?
[ $rc = 100 ] && grep -q "count must be" "$T/out" || fail "bad count: rc $rc $(cat "$T/out")"
"$BIN/zipmined" --run.dir "$T/run" --node.name tn --http.port 0 --role banker > "$T/out" 2>&1; rc=$?
[ $rc = 100 ] && grep -q "unknown role 'banker'" "$T/out" || fail "bad role: rc $rc $(cat "$T/out")"
[ -z "$(pgrep -f "$T/bin/good")" ] || fail "a worker was started despite a config error"
mkdir -p "$T/rolebin"
ln -sf "$BIN/zm_testworker" "$T/rolebin/storage"
: > "$T/log"
export ZM_TEST_MODE=normal
sup_start "${SUP_FAST[@]}" --role miner --bin.dir "$T/rolebin"
storage_ready () { [ "$(sup_state storage.0)" = READY ]; }
wait_until 5000 storage_ready || fail "storage.0 not READY in role mode"
for w in assigner scraper uploader; do
    log_has "\"event\":\"worker_binary_missing\",\"worker\":\"$w\"" || fail "no worker_binary_missing for $w"
done
[ "$(sup_ctl status | awk 'NR > 2' | wc -l)" = 1 ] || fail "role mode should run storage only"
sup_ctl stop || fail "zipminectl stop"
wait "$SUP_PID"; rc=$?
[ $rc = 0 ] || fail "node exit $rc after zipminectl stop"
echo "PASS test_supervisor_failure"
