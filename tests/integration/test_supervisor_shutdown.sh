#!/bin/bash
# zipmined shutdown: SIGTERM drains every worker (a worker ignoring SIGTERM is SIGKILLed
# after shutdown.budget.ms), the whole node ends within 25 s with exit 0 and no process left;
# SIGKILL of the supervisor itself (parent death) makes every worker exit; a second SIGTERM
# while draining SIGKILLs the stragglers at once.
HERE=$(cd "$(dirname "$0")" && pwd)
source "${ZM_SOURCE_DIR:-$HERE/../..}/tests/support/supervisor_lib.sh"
sup_init
sup_link a b stubborn slow


# A. SIGTERM with a stubborn worker and a slow drainer.
export ZM_TEST_MODE="normal,stubborn=ignoreterm,slow=slowdrain:600"
sup_start "${SUP_FAST[@]}" --shutdown.budget.ms 6000 --workers a:3,b,stubborn,slow
wait_until 30000 sup_ready_count_is 6 || fail "children not READY"
pids=$(sup_child_pids); record_pids $pids
[ "$(echo $pids | wc -w)" = 6 ] || fail "expected 6 worker processes, got '$pids'"
t0=$(now_ms)
kill -TERM "$SUP_PID"
wait_until 25000 bash -c "! kill -0 $SUP_PID" || fail "node still running 25 s after SIGTERM"
wait "$SUP_PID"; rc=$?
dt=$(( $(now_ms) - t0 ))
echo "node down ${dt} ms after SIGTERM (budget 6000 ms, limit 25000 ms), exit $rc"
[ $rc = 0 ] || fail "exit $rc after SIGTERM"
for p in $pids; do kill -0 "$p" 2>/dev/null && fail "worker pid $p outlived the node"; done
log_has '"event":"child_stop_timeout","worker":"stubborn.0"' || fail "stubborn.0 not SIGKILLed at its budget"
grep -q '"worker":"stubborn.0","child_pid":[0-9]*,"exit":"signal 9"' "$T/log" || fail "stubborn.0 did not die by SIGKILL"
grep -q '"worker":"slow.0","child_pid":[0-9]*,"exit":"exit 0 (clean)"' "$T/log" || fail "slow.0 did not drain"
[ "$dt" -ge 5900 ] || fail "node went down before the stubborn worker's budget ($dt ms)"
order=$(grep -o '"event":"child_sigterm","worker":"[a-z]*\.[0-9]"' "$T/log" | grep -o '[a-z]*\.[0-9]' | tr '\n' ' ')
[ "$order" = "slow.0 stubborn.0 b.0 a.2 a.1 a.0 " ] || fail "SIGTERM order '$order'"

# B. parent death: SIGKILL the supervisor, every worker exits.
rm -rf "$T/run"; : > "$T/log"
export ZM_TEST_MODE=normal
sup_start "${SUP_FAST[@]}" --workers a:2,b
wait_until 30000 sup_ready_count_is 3 || fail "children not READY"
pids=$(sup_child_pids); record_pids $pids
[ "$(echo $pids | wc -w)" = 3 ] || fail "expected 3 worker processes, got '$pids'"
t0=$(now_ms)
kill -KILL "$SUP_PID"
wait "$SUP_PID" 2>/dev/null
# Orphans are reparented to PID 1, which may be slow to reap them (or never, in some
# sandboxes): a zombie has exited, so "alive" means a process state other than Z/X.
alive () {
    local p st
    for p in $pids; do
        st=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)
        [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ] && return 0
    done
    return 1
}
wait_until 5000 bash -c "$(declare -f alive); pids='$pids'; ! alive" || fail "workers survived their supervisor: $pids"
echo "all workers gone $(( $(now_ms) - t0 )) ms after SIGKILL of zipmined"
# The dead node left its control socket file behind: zipminectl must give up in time.
[ -S "$T/run/tn/ctl.ipc" ] || fail "expected a stale ctl.ipc after SIGKILL"
t0=$(now_ms)
"$BIN/zipminectl" --run.dir "$T/run" --node.name tn --timeout 500 status 2>"$T/err"; rc=$?
echo "zipminectl against a dead node: exit $rc after $(( $(now_ms) - t0 )) ms: $(cat "$T/err")"
[ $rc = 1 ] && grep -q "is zipmined running" "$T/err" || fail "zipminectl on a dead node"

# C. a second SIGTERM while draining does not wait for the budget: SIGKILL at once.
rm -rf "$T/run"; : > "$T/log"
export ZM_TEST_MODE="normal,stubborn=ignoreterm"
sup_start "${SUP_FAST[@]}" --shutdown.budget.ms 15000 --workers a,stubborn
wait_until 30000 sup_ready_count_is 2 || fail "children not READY"
pids=$(sup_child_pids); record_pids $pids
t0=$(now_ms)
kill -TERM "$SUP_PID"
wait_until 5000 log_has '"event":"child_sigterm","worker":"a.0"' || fail "no SIGTERM sent"
kill -TERM "$SUP_PID"
wait_until 8000 bash -c "! kill -0 $SUP_PID" || fail "second SIGTERM did not end the node"
wait "$SUP_PID"; rc=$?
dt=$(( $(now_ms) - t0 ))
echo "two SIGTERMs: node down after ${dt} ms (budget 15000 ms), exit $rc"
[ $rc = 0 ] || fail "exit $rc"
[ "$dt" -lt 10000 ] || fail "node waited for the budget despite a second SIGTERM"
log_has '"event":"node_signal_escalate"' || fail "no node_signal_escalate event"
for p in $pids; do kill -0 "$p" 2>/dev/null && fail "worker pid $p outlived the node"; done
echo "PASS test_supervisor_shutdown"
