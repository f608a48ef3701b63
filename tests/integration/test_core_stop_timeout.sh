#!/usr/bin/env bash
# A stop signal ends the run within stop_timeout_ms even when a stage can never
# confirm: here the dead-letter output writes to /dev/full and retries forever.
# The run exits 2 and says what was left unacknowledged; a drain that finishes
# in time still exits 0; the option is range-checked at --check.
source "$(dirname "$0")/lib.sh"

printf '{"a":1}\nnot json\n{"a":2}\n' > "$T/in.txt"
conf() { # dead-letter path, then extra top-level lines
  cat > "$T/p.conf" <<CONF
$2
inputs = ( { type = "file"; path = "$T/in.txt"; codec = "json"; follow = true; } );
outputs = ( { type = "file"; path = "$T/out.txt"; codec = "json"; } );
dead_letter = { type = "file"; path = "$1"; };
CONF
}
# run_and_stop: start, wait until the bad line reached the dead-letter stage,
# SIGTERM, and set rc and secs (time from the signal to the exit).
run_and_stop() {
  "$SLUICE" -c "$T/p.conf" 2> "$T/log" & local pid=$!
  PIDS+=($pid)
  for _ in $(seq 100); do grep -q "dead-letter" "$T/log" && break; sleep 0.1; done
  grep -q "dead-letter" "$T/log" || { cat "$T/log"; fail "the bad line never reached dead_letter"; }
  local t0; t0=$(date +%s%N)
  kill -TERM $pid
  rc=0; wait $pid || rc=$?
  secs=$(( ($(date +%s%N) - t0) / 1000000 ))
}

conf /dev/full "stop_timeout_ms = 1500;"
run_and_stop
[ $rc = 2 ] || { tail -5 "$T/log"; fail "stuck drain: exit $rc (want 2)"; }
[ $secs -ge 1400 ] && [ $secs -lt 6000 ] || fail "stuck drain ended after $secs ms (want ~1500)"
grep -q "the drain did not finish within stop_timeout_ms (1500 ms): exiting without acknowledging the 1 messages still in flight" \
  "$T/log" || { tail -5 "$T/log"; fail "no line saying why the run stopped"; }
# the dead letter never written is not counted as dead-lettered
grep -q "done in .*: 3 in, 2 out, 0 dead-lettered," "$T/log" || { tail -3 "$T/log"; fail "summary"; }
pass "dead_letter failing for good: SIGTERM ends the run in $secs ms, exit 2, the reason logged"

: > "$T/out.txt"
conf "$T/dlq.txt" "stop_timeout_ms = 1500;"
run_and_stop
[ $rc = 0 ] || { tail -5 "$T/log"; fail "a drain that finishes: exit $rc (want 0)"; }
[ "$(wc -l < "$T/out.txt")" = 2 ] && [ "$(cat "$T/dlq.txt")" = "not json" ] || fail "outputs"
grep -q "done in .*: 3 in, 2 out, 1 dead-lettered," "$T/log" || { tail -3 "$T/log"; fail "summary"; }
pass "a drain that finishes in time exits 0 with everything written ($secs ms)"

for bad in -1 3600001 '"30s"'; do
  conf "$T/dlq.txt" "stop_timeout_ms = $bad;"
  rc=0; "$SLUICE" -c "$T/p.conf" --check 2> "$T/err" || rc=$?
  [ $rc = 1 ] && grep -q "^$T/p.conf:1: .*stop_timeout_ms" "$T/err" ||
    { cat "$T/err"; fail "stop_timeout_ms = $bad: exit $rc, want 1 with FILE:LINE"; }
done
pass "stop_timeout_ms out of range or of the wrong type: FILE:LINE at --check"
