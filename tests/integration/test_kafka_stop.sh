#!/usr/bin/env bash
# SIGTERM on a Kafka input feeding a slow Lua handler: the drain ends as soon
# as what was emitted is delivered (not after drain_timeout_ms), in == out, and
# with the broker down the whole stop still fits a 30 s grace period.
. "${SLUICE_SOURCE_DIR:-.}/tests/tools/kafka_lib.sh"
kafka_setup
mock_start -b 1 -t in:4

gen_json 20000 1 >"$T/in"
kcat -b "$BROKERS" -P -t in -K '	' <"$T/in" || fail "kcat produce"
cat >"$T/slow.lua" <<'EOF'
function process(msg)
  local t = os.clock() + 0.002
  while os.clock() < t do end
  return msg
end
EOF
cat >"$T/s.conf" <<EOF
queue = { capacity = 64; batch_size = 16; };
inputs = ( { type = "kafka"; name = "kin"; brokers = "$BROKERS"; topics = [ "in" ];
             group = "t-stop"; } );
handlers = ( { type = "lua"; script = "$T/slow.lua"; } );
outputs = ( { type = "null"; } );
EOF

# stop_within NAME SECS: SIGTERM, then the run must end within SECS, exit 0.
stop_within() {
    local pid
    eval "pid=\$PID_$1"
    local start=$SECONDS
    kill -TERM "$pid"
    wait_until "$2" eval "! kill -0 $pid" || { tail -n 8 "$T/$1.log"; fail "$1: still running $2 s after SIGTERM"; }
    local rc=0
    wait "$pid" || rc=$?
    [ $rc -eq 0 ] || { tail -n 8 "$T/$1.log"; fail "$1: exit $rc after SIGTERM"; }
    STOP_SECS=$((SECONDS - start))
}

sluice_bg a "$T/s.conf"
wait_until 20 grep -q "assigned 4 partitions" "$T/a.log" || fail "no assignment: $(tail -n 3 "$T/a.log")"
sleep 2
stop_within a 10
grep -qE "done in .*: ([0-9]+) in, \1 out" "$T/a.log" || { grep "done in" "$T/a.log"; fail "in != out"; }
grep -q "still in flight" "$T/a.log" && fail "the drain waited for messages that were never in flight"
echo "ok: brokers up: stopped in ${STOP_SECS}s with a busy handler, in == out"

# The broker goes down before the stop: commits and leaving the group cannot
# succeed, and must give up in time. (A group of its own: no waiting on the
# first run's membership.)
sed -e 's/group = "t-stop"/group = "t-stop-down"/' "$T/s.conf" >"$T/down.conf"
sluice_bg b "$T/down.conf"
wait_until 20 grep -q "assigned 4 partitions" "$T/b.log" || fail "no assignment: $(tail -n 3 "$T/b.log")"
sleep 2
mock_cmd "down 0"
sleep 1
stop_within b 25
grep -qE "done in .*: ([0-9]+) in, \1 out" "$T/b.log" || { grep "done in" "$T/b.log"; fail "in != out (broker down)"; }
echo "ok: broker down: stopped in ${STOP_SECS}s (a 30 s grace period holds)"
