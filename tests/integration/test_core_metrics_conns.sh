#!/usr/bin/env bash
# The metrics server under a crowd of idle clients: 1100 idle connections
# (past select()'s 1024 descriptors) do not stop /metrics from answering,
# and with a small descriptor limit the connection limit keeps the idle
# clients from taking the process's descriptors; once they go, /metrics
# answers again and the pipeline ran on meanwhile.
source "$(dirname "$0")/lib.sh"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# hold N PORT: open N idle connections, write "ready" to $T/ready, hold them until killed
hold() {
  rm -f "$T/ready"
  python3 - "$1" "$2" "$T/ready" <<'PY' &
import socket, sys, time
n, port, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
socks = []
for _ in range(n):
    s = socket.socket()
    s.settimeout(5)
    try:
        s.connect(("127.0.0.1", port))
    except OSError:
        pass  # a refused or queued one still counts as a try
    socks.append(s)
open(ready, "w").write("ready\n")
time.sleep(600)
PY
  holder=$!; PIDS+=($holder)
  for _ in $(seq 300); do [ -s "$T/ready" ] && return; sleep 0.1; done
  fail "could not open $1 connections"
}
metric() { grep "^sluice_messages_out_total{.*stage=\"gen\"" "$1" | awk '{print $2}'; }

port=$(free_port)
cat > "$T/m.conf" <<CONF
metrics = { listen = "127.0.0.1:$port"; };
inputs = ( { type = "generator"; name = "gen"; count = 0; rate = 2000; } );
outputs = ( { type = "null"; } );
CONF
"$SLUICE" -c "$T/m.conf" 2> "$T/log" &
pid=$!; PIDS+=($pid)
for _ in $(seq 50); do curl -sf "127.0.0.1:$port/healthz" > /dev/null 2>&1 && break; sleep 0.1; done
hold 1100 "$port"
curl -sf -m 5 "127.0.0.1:$port/metrics" > "$T/m1" || fail "/metrics did not answer with 1100 idle clients"
[ -n "$(metric "$T/m1")" ] || fail "no counters in /metrics"
kill -0 $pid || fail "sluice died"
kill $holder; wait $holder 2>/dev/null || true
kill -TERM $pid; rc=0; wait $pid || rc=$?
[ $rc = 0 ] || { tail -3 "$T/log"; fail "exit $rc"; }
pass "/metrics answers with 1100 idle connections open"

# 256 descriptors: at most half of them go to metrics clients.
port=$(free_port)
sed -i "s/127.0.0.1:[0-9]*/127.0.0.1:$port/" "$T/m.conf"
(ulimit -n 256; exec "$SLUICE" -c "$T/m.conf") 2> "$T/log" &
pid=$!; PIDS+=($pid)
for _ in $(seq 50); do curl -sf "127.0.0.1:$port/healthz" > /dev/null 2>&1 && break; sleep 0.1; done
curl -sf "127.0.0.1:$port/metrics" > "$T/m1"
hold 400 "$port"
sleep 0.5
fds=$(ls /proc/$pid/fd | wc -l)
[ "$fds" -le 160 ] || fail "$fds descriptors open with 400 idle metrics clients (limit 256, want <= 160)"
kill -0 $pid || fail "sluice died"
kill $holder; wait $holder 2>/dev/null || true
curl -sf -m 15 "127.0.0.1:$port/metrics" > "$T/m2" || { cat "$T/log"; ls /proc/$pid/fd | wc -l; fail "/metrics did not answer once the idle clients left"; }
a=$(metric "$T/m1"); b=$(metric "$T/m2")
[ "$b" -gt "$a" ] || fail "the pipeline stood still: $a -> $b"
grep -qi "too many open files" "$T/log" && fail "descriptors ran out"
kill -TERM $pid; rc=0; wait $pid || rc=$?
[ $rc = 0 ] || { tail -3 "$T/log"; fail "exit $rc"; }
pass "400 idle clients at 256 descriptors: $fds open, pipeline ran on ($a -> $b)"
