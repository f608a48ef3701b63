#!/usr/bin/env bash
# SIGTERM while reading a FIFO: everything read is delivered, whole lines in
# order, exit 0; a second signal exits at once; SIGINT drains a generator.
source "$(dirname "$0")/lib.sh"

mkfifo "$T/fifo"
cat > "$T/fifo.conf" <<CONF
inputs = ( { type = "file"; path = "$T/fifo"; } );
outputs = ( { type = "file"; path = "$T/out.txt"; append = false; } );
CONF
python3 tests/integration/gen_lines.py lines 400000 3 > "$T/in.txt"
"$SLUICE" -c "$T/fifo.conf" 2> "$T/log" &
pid=$!; PIDS+=($pid)
# The writer keeps the FIFO open after its data, so sluice sits in a read.
( cat "$T/in.txt"; sleep 30 ) > "$T/fifo" &
writer=$!; PIDS+=($writer)
for _ in $(seq 100); do
  [ -f "$T/out.txt" ] && [ "$(wc -l < "$T/out.txt")" -ge 400000 ] && break
  sleep 0.1
done
kill -TERM $pid
rc=0; wait $pid || rc=$?
[ $rc = 0 ] || { cat "$T/log"; fail "exit $rc after SIGTERM (want 0)"; }
cmp "$T/in.txt" "$T/out.txt" || fail "lines read from the FIFO were not all delivered"
grep -q "stopping inputs and draining" "$T/log" || fail "no drain message"
pass "SIGTERM during a blocked FIFO read: all 400,000 lines delivered, exit 0"

# Mid-stream: stop while data still flows; the output is an exact prefix.
"$SLUICE" -c "$T/fifo.conf" 2> "$T/log" &
pid=$!; PIDS+=($pid)
( while :; do cat "$T/in.txt"; done ) > "$T/fifo" 2>/dev/null &
writer=$!; PIDS+=($writer)
sleep 1.5
kill -TERM $pid
rc=0; wait $pid || rc=$?
kill $writer 2>/dev/null || true
[ $rc = 0 ] || fail "exit $rc after mid-stream SIGTERM"
n=$(wc -l < "$T/out.txt")
[ "$n" -gt 0 ] || fail "nothing delivered before the stop"
python3 - "$T" <<'PY' || fail "output is not an exact prefix of the input stream"
import sys
t = sys.argv[1]
src = open(f"{t}/in.txt", "rb").read()
out = open(f"{t}/out.txt", "rb").read()
reps = len(out) // len(src) + 2
assert (src * reps).startswith(out), "not a prefix"
assert out.endswith(b"\n")
PY
pass "mid-stream SIGTERM: $n lines delivered, an exact prefix, exit 0"

# SIGINT with an endless generator: drains and exits 0, in == out.
cat > "$T/gen.conf" <<CONF
inputs = ( { type = "generator"; count = 0; rate = 200000; } );
outputs = ( { type = "file"; path = "$T/gen.txt"; append = false; } );
CONF
"$SLUICE" -c "$T/gen.conf" 2> "$T/log" &
pid=$!; PIDS+=($pid)
sleep 1
kill -INT $pid
rc=0; wait $pid || rc=$?
[ $rc = 0 ] || fail "generator run exit $rc after SIGINT"
n=$(wc -l < "$T/gen.txt")
grep -q "done in .*: $n in, $n out" "$T/log" || { tail -2 "$T/log"; fail "in != out after drain"; }
pass "SIGINT drains the generator: $n in, $n out"

# A second signal exits at once (the output is slowed by a full FIFO).
mkfifo "$T/slow"
cat > "$T/slow.conf" <<CONF
inputs = ( { type = "generator"; count = 0; } );
outputs = ( { type = "file"; path = "$T/slow"; } );
CONF
sleep 60 < "$T/slow" &   # a reader that never reads: the output blocks
PIDS+=($!)
"$SLUICE" -c "$T/slow.conf" 2> "$T/log" &
pid=$!; PIDS+=($pid)
sleep 1
kill -TERM $pid; sleep 1.2   # past the 1 s window in which a repeat is the same request
kill -0 $pid 2>/dev/null || fail "first signal should drain, not exit, while the output is blocked"
kill -TERM $pid
for _ in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
kill -0 $pid 2>/dev/null && fail "second signal did not exit at once"
rc=0; wait $pid || rc=$?
[ $rc = 2 ] || fail "second signal exit code $rc (want 2)"
grep -q "second signal" "$T/log" || fail "no message for the second signal"
pass "second signal exits at once (exit 2)"

# The same SIGTERM twice within 1 s (a supervisor signalling the child and
# then its process group) is one request: the run keeps draining; a signal
# after the window still exits at once.
"$SLUICE" -c "$T/slow.conf" 2> "$T/log" &
pid=$!; PIDS+=($pid)
sleep 1
kill -TERM $pid; sleep 0.05; kill -TERM $pid; sleep 0.5
kill -0 $pid 2>/dev/null || { cat "$T/log"; fail "a repeated SIGTERM within 1 s was taken as a second signal"; }
sleep 0.6
kill -TERM $pid
for _ in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
kill -0 $pid 2>/dev/null && fail "a signal after the 1 s window did not exit at once"
rc=0; wait $pid || rc=$?
[ $rc = 2 ] || fail "late second signal exit code $rc (want 2)"
pass "SIGTERM repeated within 1 s is one request; a later one exits at once"

# GNU timeout without --foreground signals sluice and then its process group.
rc=0; timeout --preserve-status -s TERM 1 "$SLUICE" -c "$T/gen.conf" 2> "$T/log" || rc=$?
[ $rc = 0 ] || { tail -3 "$T/log"; fail "timeout -s TERM: exit $rc (want 0, drained)"; }
n=$(wc -l < "$T/gen.txt")
grep -q "done in .*: $n in, $n out" "$T/log" || { tail -2 "$T/log"; fail "timeout -s TERM: in != out"; }
pass "timeout -s TERM (child + process group): drained, $n in, $n out, exit 0"
