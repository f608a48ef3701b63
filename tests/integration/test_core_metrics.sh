#!/usr/bin/env bash
# Prometheus metrics on metrics.listen: counters move while a pipeline runs,
# /healthz answers, and a bad listen address is a config error (FILE:LINE).
source "$(dirname "$0")/lib.sh"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$T/m.conf" <<CONF
metrics = { listen = "127.0.0.1:$port"; };
inputs = ( { type = "generator"; name = "gen"; count = 0; rate = 5000; } );
outputs = ( { type = "null"; } );
CONF
"$SLUICE" -c "$T/m.conf" 2> "$T/log" &
pid=$!; PIDS+=($pid)
for _ in $(seq 50); do curl -sf "127.0.0.1:$port/healthz" > "$T/health" 2>/dev/null && break; sleep 0.1; done
[ "$(cat "$T/health")" = ok ] || fail "/healthz did not answer ok"
sleep 0.5
curl -sf "127.0.0.1:$port/metrics" > "$T/m1"
sleep 0.5
curl -sf "127.0.0.1:$port/metrics" > "$T/m2"
kill -TERM $pid; wait $pid || fail "exit after SIGTERM"
get() { grep "^sluice_messages_$1_total{.*stage=\"$2\"" "$3" | awk '{print $2}'; }
a=$(get in gen "$T/m1"); b=$(get in gen "$T/m2"); o=$(get out null "$T/m2")
[ -n "$a" ] && [ -n "$b" ] && [ "$b" -gt "$a" ] || fail "input counter does not move: $a -> $b"
[ "$o" -gt 0 ] || fail "output counter is zero"
grep -q '^# TYPE sluice_queue_fill_ratio gauge' "$T/m2" || fail "queue gauge missing"
code=$(curl -s -o /dev/null -w '%{http_code}' "127.0.0.1:$port/metrics" 2>/dev/null || true)
[ "$code" = 000 ] || fail "endpoint still up after exit"
pass "metrics: in $a -> $b, out $o; /healthz ok"

sed -i "s/127.0.0.1:$port/127.0.0.1:notaport/" "$T/m.conf"
rc=0; "$SLUICE" -c "$T/m.conf" 2> "$T/log" || rc=$?
[ $rc = 1 ] || fail "bad metrics.listen exit $rc (want 1: a config error)"
grep -q "^$T/m.conf:1: metrics.listen must be HOST:PORT" "$T/log" || fail "no clear error"
pass "bad metrics.listen: FILE:LINE error, exit 1"
