#!/usr/bin/env bash
# A Kafka dead-letter topic (written raw: key and headers native, x-sluice-* headers
# added) replays through a fixed pipeline with codec = { type = "envelope"; ... }:
# keys and headers come back, the x-sluice-* ones move to msg.source.failure and are
# not written again, and the payload is decoded as JSON.
. "${SLUICE_SOURCE_DIR:-.}/tests/tools/kafka_lib.sh"
kafka_setup
mock_start -b 1 -t in:2 -t out:2 -t dlq:1 -t fixed:2

for i in $(seq 1 100); do
    amount=$i
    [ $((i % 10)) -eq 0 ] && amount=-$i
    printf 'k%d\t{"id":%d,"amount":%d}\n' "$i" "$i" "$amount"
done | kcat -b "$BROKERS" -P -t in -K '	' -H tenant=acme || fail "kcat produce"

cat >"$T/strict.lua" <<'LUA'
function process(msg)
  if msg.record.amount < 0 then error("negative amount") end
  return msg
end
LUA
cat >"$T/first.conf" <<CONF
inputs = ( { type = "kafka"; brokers = "$BROKERS"; topics = [ "in" ]; group = "first";
             exit_on_eof = true; codec = "json"; } );
handlers = ( { type = "lua"; script = "$T/strict.lua"; } );
outputs = ( { type = "kafka"; brokers = "$BROKERS"; topic = "out"; codec = "json"; } );
dead_letter = { type = "kafka"; brokers = "$BROKERS"; topic = "dlq"; };
retry = { max_attempts = 1; };
CONF
timeout 60 "$SLUICE" -c "$T/first.conf" 2>"$T/first.log" || { tail "$T/first.log"; fail "first run"; }
[ "$(topic_count dlq)" -eq 10 ] || fail "dlq holds $(topic_count dlq) messages, wanted 10"

cat >"$T/replay.conf" <<CONF
inputs = ( { type = "kafka"; brokers = "$BROKERS"; topics = [ "dlq" ]; group = "replay";
             exit_on_eof = true; codec = { type = "envelope"; payload = "json"; }; } );
handlers = ( { type = "lua"; script = "$SRC/lua/examples/replay.lua"; } );
outputs = ( { type = "kafka"; brokers = "$BROKERS"; topic = "fixed"; codec = "json";
              trace_header = false; } );
CONF
timeout 60 "$SLUICE" -c "$T/replay.conf" 2>"$T/replay.log" || { tail "$T/replay.log"; fail "replay run"; }
kcat -b "$BROKERS" -C -t fixed -e -q -f '%k\t%h\t%s\n' | sort -V >"$T/fixed"
python3 - "$T/fixed" <<'PY' || { cat "$T/fixed"; fail "replayed messages"; }
import json, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
assert [r[0] for r in rows] == ["k%d" % i for i in range(10, 101, 10)], rows
for key, headers, payload in rows:
    names = [h.split("=")[0] for h in headers.split(",")]
    assert "tenant=acme" in headers.split(","), headers
    assert not [n for n in names if n.startswith("x-sluice-")], headers  # not written again
    rec = json.loads(payload)
    assert "k%d" % rec["id"] == key
    assert "negative amount" in rec["replayed_after"], rec
PY
echo "ok: 10 Kafka dead letters replayed with key and headers, failure headers moved"
