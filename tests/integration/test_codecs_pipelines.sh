#!/usr/bin/env bash
# Mixed pipelines with the binary codecs: python-written protobuf Orders produced to Kafka
# (kcat, one file per message) -> sluice (kafka, protobuf) -> Lua adds a field -> Kafka
# (json) -> kcat: every record arrives as the mapping says plus the field; the Confluent
# framing round-trips through Kafka; and file (json) -> file (msgpack, u32be), read by
# python3-msgpack.
. "${SLUICE_SOURCE_DIR:-.}/tests/tools/kafka_lib.sh"
kafka_setup
cd "$SRC"
PY=/usr/bin/python3
IO="$PY tests/tools/codec_interop.py"
N=1000
pass() { echo "ok: $*"; }
mock_start -b 1 -t pb:1 -t js:1 -t cf:1
protoc --include_imports --descriptor_set_out="$T/shop.desc" -Itests/data/proto shop.proto ||
    fail "protoc"
$IO proto-gen "$T" $N || fail "proto-gen"
mkdir "$T/msgs"
$IO split "$T/orders.bin" varint "$T/msgs" || fail "split"
kcat -b "$BROKERS" -P -t pb "$T"/msgs/*.bin || fail "kcat produce"
[ "$(topic_count pb)" = "$N" ] || fail "topic pb has $(topic_count pb) messages, want $N"
PB="descriptor_set = \"$T/shop.desc\"; message = \"shop.v1.Order\";"

cat >"$T/seen.lua" <<'LUA'
function process(msg)
  msg.record.seen_by = "lua"
  return msg
end
LUA
cat >"$T/p.conf" <<CONF
inputs = ( { type = "kafka"; brokers = "$BROKERS"; topics = [ "pb" ]; group = "codecs";
             exit_on_eof = true; codec = { type = "protobuf"; $PB }; } );
handlers = ( { type = "lua"; script = "$T/seen.lua"; } );
outputs = ( { type = "kafka"; brokers = "$BROKERS"; topic = "js"; codec = "json"; } );
dead_letter = { type = "file"; path = "$T/dlq"; append = false; codec = "envelope"; };
CONF
timeout 120 "$SLUICE" -c "$T/p.conf" 2>"$T/p.log" || { tail -20 "$T/p.log"; fail "sluice exited $?"; }
[ ! -s "$T/dlq" ] || { head -c 600 "$T/dlq"; fail "messages were dead-lettered"; }
kcat -b "$BROKERS" -C -t js -e -q -f '%s\n' >"$T/js.jsonl" || fail "kcat consume"
$IO add-field "$T/orders.expect.jsonl" "$T/js.jsonl" seen_by '"lua"' || fail "records differ"
pass "kafka (protobuf, $N python-written Orders) -> lua -> kafka (json): every record as mapped, plus the Lua field"

# Confluent framing through Kafka: JSON -> protobuf with schema id 42 -> back to JSON.
cat >"$T/cf.conf" <<CONF
inputs = ( { type = "file"; path = "$T/orders.expect.jsonl"; codec = "json"; } );
outputs = ( { type = "kafka"; brokers = "$BROKERS"; topic = "cf";
              codec = { type = "protobuf"; $PB confluent = true; schema_id = 42; }; } );
CONF
cat >"$T/cf2.conf" <<CONF
inputs = ( { type = "kafka"; brokers = "$BROKERS"; topics = [ "cf" ]; group = "cf"; exit_on_eof = true;
             codec = { type = "protobuf"; $PB confluent = true; }; } );
outputs = ( { type = "file"; path = "$T/cf.jsonl"; append = false; codec = "json"; } );
CONF
timeout 60 "$SLUICE" -c "$T/cf.conf" 2>"$T/cf.log" || { tail "$T/cf.log"; fail "cf producer"; }
kcat -b "$BROKERS" -C -t cf -c 1 -e -q -f '%s' | head -c 6 | od -An -tx1 | tr -d ' \n' >"$T/magic"
[ "$(cat "$T/magic")" = 000000002a00 ] || fail "Confluent framing on the wire: $(cat "$T/magic")"
timeout 60 "$SLUICE" -c "$T/cf2.conf" 2>"$T/cf2.log" || { tail "$T/cf2.log"; fail "cf consumer"; }
$IO json-equal "$T/orders.expect.jsonl" "$T/cf.jsonl" || fail "records changed through Confluent framing"
pass "Confluent framing (magic 0, schema id 42, index [0]) written to Kafka and read back, records equal"

# file (json) -> file (msgpack): python3-msgpack reads it.
cat >"$T/fm.conf" <<CONF
inputs = ( { type = "file"; path = "$T/orders.expect.jsonl"; codec = "json"; } );
outputs = ( { type = "file"; path = "$T/orders.mp"; append = false; framing = "u32be"; codec = "msgpack"; } );
CONF
"$SLUICE" -c "$T/fm.conf" 2>"$T/fm.log" || fail "file -> msgpack"
$PY - "$T" <<'PY' || fail "msgpack file differs"
import json, struct, sys, msgpack
t = sys.argv[1]
want = [json.loads(l) for l in open(t + "/orders.expect.jsonl", encoding="utf-8")]
data, i, got = open(t + "/orders.mp", "rb").read(), 0, []
while i < len(data):
    (n,) = struct.unpack(">I", data[i:i + 4])
    got.append(msgpack.unpackb(data[i + 4:i + 4 + n], raw=False))
    i += 4 + n
assert got == want, "msgpack records differ from the JSON ones"
PY
pass "file (json) -> file (msgpack, u32be): python3-msgpack reads the $N records equal"
