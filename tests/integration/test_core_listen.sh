#!/usr/bin/env bash
# metrics.listen takes an IPv6 address in brackets and "localhost" as well as
# IPv4: the metrics server answers on each (it listened on IPv4 only).
source "$(dirname "$0")/lib.sh"

free_port() { # family address
  python3 -c 'import socket,sys; s=socket.socket(int(sys.argv[1])); s.bind((sys.argv[2],0)); print(s.getsockname()[1])' "$1" "$2"
}
serves() { # listen-value url
  cat > "$T/m.conf" <<CONF
metrics = { listen = "$1"; };
inputs = ( { type = "generator"; count = 0; rate = 100; } );
outputs = ( { type = "null"; } );
CONF
  "$SLUICE" -c "$T/m.conf" 2> "$T/log" &
  local pid=$! ok=""
  PIDS+=($pid)
  for _ in $(seq 50); do
    [ "$(curl -gsf "$2/healthz" 2>/dev/null)" = ok ] && { ok=1; break; }
    sleep 0.1
  done
  [ -n "$ok" ] || { cat "$T/log"; fail "no /healthz answer at $2 with listen = \"$1\""; }
  kill -TERM $pid; wait $pid || fail "$1: exit after SIGTERM"
}

port=$(free_port 10 ::1)
serves "[::1]:$port" "http://[::1]:$port"
pass "metrics on [::1]:$port"
port=$(free_port 2 127.0.0.1)
serves "localhost:$port" "http://localhost:$port"
pass "metrics on localhost:$port"
