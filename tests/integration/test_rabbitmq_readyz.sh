#!/usr/bin/env bash
# /readyz follows the RabbitMQ connections: 200 once the input and the (idle)
# output are connected to a private broker; the broker stopped -> 503 with a
# body naming both instances; the broker started again -> 200, the idle
# output having reconnected by itself.
. "${SLUICE_SOURCE_DIR:-.}/tests/tools/rabbitmq_lib.sh"
rabbit_setup
broker_start
declare_queue src
declare_queue dst
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$T/r.conf" <<CONF
inputs = ( { type = "rabbitmq"; name = "rin"; url = "$URL"; queue = "src";
             reconnect_backoff_ms = 100; reconnect_max_backoff_ms = 1000; } );
outputs = ( { type = "rabbitmq"; name = "rout"; url = "$URL"; routing_key = "dst";
              reconnect_backoff_ms = 100; reconnect_max_backoff_ms = 1000; } );
metrics = { listen = "127.0.0.1:$port"; };
CONF
readyz() { curl -s -o "$T/body" -w '%{http_code}' "127.0.0.1:$port/readyz"; }
ready_is() { [ "$(readyz)" = "$1" ]; }
body_names() { readyz >/dev/null; grep -q "^$1: rabbitmq: amqp://" "$T/body"; }

sluice_bg s "$T/r.conf"
wait_until 15 ready_is 200 || fail "not ready with the broker up: $(readyz) $(cat "$T/body")"
echo "ready with the broker up"
broker_stop
wait_until 15 ready_is 503 || fail "still $(readyz) with the broker stopped"
wait_until 5 body_names rin || fail "503 body does not name rin: $(cat "$T/body")"
wait_until 5 body_names rout || fail "503 body does not name rout: $(cat "$T/body")"
grep -q guest:guest "$T/body" && fail "the password is shown on /readyz"
echo "broker stopped: 503: $(tr '\n' '|' <"$T/body")"
broker_start
wait_until 30 ready_is 200 || fail "not ready again after the broker came back: $(readyz) $(cat "$T/body")"
kill -TERM "$PID_s"
wait "$PID_s" || fail "exit after SIGTERM: $(tail -n 3 "$T/s.log")"
echo "ok: /readyz 200 -> 503 naming rin and rout with the broker stopped -> 200 once it is back"
