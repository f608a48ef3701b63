#!/usr/bin/env bash
# /readyz follows the Kafka brokers: 200 once the input and the output are
# connected; every broker of librdkafka's mock cluster set down -> 503 with a
# body naming both instances; brokers up again -> 200.
. "${SLUICE_SOURCE_DIR:-.}/tests/tools/kafka_lib.sh"
kafka_setup
mock_start -b 2 -t in:2 -t out:2
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$T/r.conf" <<CONF
inputs = ( { type = "kafka"; name = "kin"; brokers = "$BROKERS"; topics = [ "in" ]; group = "t-ready"; } );
outputs = ( { type = "kafka"; name = "kout"; brokers = "$BROKERS"; topic = "out"; } );
metrics = { listen = "127.0.0.1:$port"; };
CONF
readyz() { curl -s -o "$T/body" -w '%{http_code}' "127.0.0.1:$port/readyz"; }
ready_is() { [ "$(readyz)" = "$1" ]; }
body_names() { readyz >/dev/null; grep -q "^$1: kafka" "$T/body"; }

sluice_bg s "$T/r.conf"
wait_until 15 ready_is 200 || fail "not ready with the brokers up: $(readyz) $(cat "$T/body")"
echo "ready with the brokers up"
mock_cmd "down 0"
wait_until 15 ready_is 503 || fail "still $(readyz) with every broker down"
wait_until 10 body_names kout || fail "503 body does not name kout: $(cat "$T/body")"
wait_until 10 body_names kin || fail "503 body does not name kin: $(cat "$T/body")"
echo "brokers down: 503: $(tr '\n' '|' <"$T/body")"
mock_cmd "up 0"
wait_until 20 ready_is 200 || fail "not ready again after the brokers came back: $(readyz) $(cat "$T/body")"
kill -TERM "$PID_s"
wait "$PID_s" || fail "exit after SIGTERM: $(tail -n 3 "$T/s.log")"
echo "ok: /readyz 200 -> 503 naming kin and kout with the brokers down -> 200 once they are back"
