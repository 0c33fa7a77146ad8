#!/bin/bash
# zipmined failure policy: exit 100 is never restarted and shows FAILED with its reason
# (and stops the node with exit 1 when the worker is required); a worker that never becomes
# ready is SIGKILLed at its ready timeout and restarted; a crash loop trips the restart
# intensity, so the node stops its children in reverse order and exits 1.
HERE=$(cd "$(dirname "$0")" && pwd)
source "${ZM_SOURCE_DIR:-$HERE/../..}/tests/support/supervisor_lib.sh"
sup_init
sup_link good perm never first second crashy

# A1. an optional worker exiting 100 is FAILED for good, with its reason; the node runs on.
#     (ready.timeout.ms is large here and in B, C: on a loaded machine an ASan worker can take
#     seconds to start, and these sections are not about the ready timeout.)
export ZM_TEST_MODE="normal,perm=exit100"
sup_start "${SUP_FAST[@]}" --ready.timeout.ms 60000 --workers good,perm:optional
failed () { [ "$(sup_state perm.0)" = FAILED ]; }
wait_until 30000 failed || fail "perm.0 not FAILED"
sup_ctl status | tee "$T/status"
grep -E '^perm\.0 +- +FAILED +0 .*exit 100 \(config\)' "$T/status" >/dev/null \
    || fail "status does not show perm.0 FAILED with 'exit 100 (config)'"
good_ready () { [ "$(sup_state good.0)" = READY ]; }
wait_until 30000 good_ready || fail "good.0 not READY"
sleep 0.5
[ "$(log_count '"event":"child_spawn","worker":"perm.0"')" = 1 ] || fail "perm.0 was restarted"
[ "$(sup_state perm.0)" = FAILED ] || fail "perm.0 left FAILED"
kill -TERM "$SUP_PID"; wait "$SUP_PID"; rc=$?
[ $rc = 0 ] || fail "node exit $rc after SIGTERM"

# A2. a worker that never becomes ready is SIGKILLed at its ready timeout, then restarted.
rm -rf "$T/run"; : > "$T/log"
export ZM_TEST_MODE="normal,never=noready"
sup_start "${SUP_FAST[@]}" --ready.timeout.ms 2000 --workers never:optional
wait_until 5000 log_has '"event":"child_spawn","worker":"never.0"' || fail "never.0 was not spawned"
first_pid=$(grep -o '"event":"child_spawn","worker":"never.0","child_pid":[0-9]*' "$T/log" | head -1 | grep -o '[0-9]*$')
wait_until 8000 log_has '"event":"child_ready_timeout","worker":"never.0"' || fail "no ready timeout for never.0"
spawn_ts=$(log_ts '"event":"child_spawn","worker":"never.0"')
kill_ts=$(log_ts '"event":"child_ready_timeout","worker":"never.0"')
ms=$(( kill_ts - spawn_ts ))
echo "never-ready worker killed ${ms} ms after spawn (ready.timeout.ms 2000)"
[ "$ms" -ge 1950 ] && [ "$ms" -le 3500 ] || fail "ready timeout fired after $ms ms"
wait_until 2000 bash -c "! kill -0 $first_pid" || fail "never.0 pid $first_pid survived its ready timeout"
grep -q "\"worker\":\"never.0\",\"child_pid\":$first_pid,\"exit\":\"signal 9\"" "$T/log" || fail "never.0 not SIGKILLed"
respawned () { [ "$(log_count '"event":"child_spawn","worker":"never.0"')" -ge 2 ]; }
wait_until 3000 respawned || fail "never.0 not restarted after its ready timeout"
kill -TERM "$SUP_PID"; wait "$SUP_PID"; rc=$?
[ $rc = 0 ] || fail "node exit $rc after SIGTERM"

# B. a required worker exiting 100 stops the node with exit 1.
rm -rf "$T/run"; : > "$T/log"
export ZM_TEST_MODE="normal,perm=exit100"
t0=$(now_ms)
sup_start "${SUP_FAST[@]}" --ready.timeout.ms 60000 --workers good,perm
wait "$SUP_PID"; rc=$?
echo "required worker exit 100: node exited $rc after $(( $(now_ms) - t0 )) ms"
[ $rc = 1 ] || fail "node exit $rc, want 1"
log_has '"event":"node_required_failed","worker":"perm.0"' || fail "no node_required_failed event"

# C. crash loop: more than 3 restarts within 10 s stops the node, children in reverse order.
rm -rf "$T/run"; : > "$T/log"
# crashy aborts as soon as $T/crash exists, i.e. at once on every restart once the test has
# seen all three children READY.
export ZM_TEST_MODE="normal,crashy=crashfile:$T/crash"
sup_start "${SUP_FAST[@]}" --restart.intensity 3 --restart.period.ms 20000 \
    --ready.timeout.ms 60000 --workers first,second,crashy
wait_until 30000 sup_ready_count_is 3 || fail "children not READY"
t0=$(now_ms)
touch "$T/crash"
wait_until 30000 bash -c "! kill -0 $SUP_PID" || fail "node did not stop on a crash loop"
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
mkdir -p "$T/emptybin"
"$BIN/zipmined" --run.dir "$T/run" --node.name tn --http.port 0 --role validator \
    --bin.dir "$T/emptybin" > "$T/out" 2>&1; rc=$?
[ $rc = 100 ] && grep -q "none of the workers of role 'validator'" "$T/out" \
    || fail "role with no executables: rc $rc $(cat "$T/out")"
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
# E. backoff: a worker failing fast waits longer each time (base 100 ms doubling, cap 800 ms,
#    jitter in the upper half); one that stays READY well past restart.reset.ms (1 s) before
#    failing always restarts after the base delay, with a child_backoff_reset event. They
#    crash (abort) rather than exit, because an ASan process's exit (leak check) can take
#    most of a second on a loaded machine and would blur the READY time. A third worker
#    exits 1 and must be restarted with backoff too.
rm -rf "$T/run"; : > "$T/log"
sup_link flaky steady transient
export ZM_TEST_MODE="normal,flaky=crash:150,steady=crash:3000,transient=exit1:150"
sup_start "${SUP_FAST[@]}" --restart.base.ms 100 --restart.cap.ms 800 --restart.reset.ms 1000 \
    --heartbeat.ms 500 --workers flaky,steady,transient
delays () {
    grep "\"event\":\"child_state\",\"worker\":\"$1\"" "$T/log" | grep -o 'restart in [0-9]*' \
        | awk '{print $3}' | tr '\n' ' '
}
enough () { [ "$(delays flaky.0 | wc -w)" -ge 5 ] && [ "$(delays steady.0 | wc -w)" -ge 2 ]; }
wait_until 40000 enough || fail "not enough restarts: flaky '$(delays flaky.0)' steady '$(delays steady.0)'"
kill -TERM "$SUP_PID"; wait "$SUP_PID"
echo "backoff delays (ms): flaky.0: $(delays flaky.0)| steady.0: $(delays steady.0)| transient.0: $(delays transient.0)"
set -- $(delays flaky.0)
[ "$1" -ge 50 ] && [ "$1" -le 100 ] && [ "$2" -ge 100 ] && [ "$2" -le 200 ] \
    && [ "$3" -ge 200 ] && [ "$3" -le 400 ] && [ "$4" -ge 400 ] && [ "$4" -le 800 ] \
    && [ "$5" -ge 400 ] && [ "$5" -le 800 ] || fail "flaky.0 delays do not double to the cap: $*"
for d in $(delays steady.0); do
    [ "$d" -ge 50 ] && [ "$d" -le 100 ] || fail "steady.0 delay $d ms: backoff not reset"
done
log_has '"event":"child_backoff_reset","worker":"steady.0"' || fail "no child_backoff_reset for steady.0"
log_has '"event":"child_backoff_reset","worker":"flaky.0"' && fail "flaky.0 never stayed READY 1 s"
grep -q '"worker":"transient.0","child_pid":0,"from":"READY","to":"BACKOFF","reason":"exit 1 (transient); restart in' \
    "$T/log" || fail "transient.0: exit 1 did not lead to BACKOFF"
echo "PASS test_supervisor_failure"
