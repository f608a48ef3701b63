#!/usr/bin/env bash
# file (json) -> rabbitmq (msgpack): python3-msgpack-written records go through JSON lines
# into sluice, out as msgpack bodies to a private RabbitMQ broker; amqp-consume (amqp-tools)
# takes them off the queue and python3-msgpack unpacks each equal to its JSON record.
. "${SLUICE_SOURCE_DIR:-.}/tests/tools/rabbitmq_lib.sh"
rabbit_setup
cd "$SRC"
PY=/usr/bin/python3
IO="$PY tests/tools/codec_interop.py"
N=500
$IO mp-gen "$T" $N || fail "mp-gen"
# the records as JSON lines, with ext and bin as the json codec writes them
head -n $N "$T/records.expect.jsonl" >"$T/in.jsonl"
broker_start
declare_queue mp
cat >"$T/p.conf" <<CONF
inputs = ( { type = "file"; path = "$T/in.jsonl"; codec = "json"; } );
outputs = ( { type = "rabbitmq"; url = "$URL"; routing_key = "mp"; codec = "msgpack"; } );
dead_letter = { type = "file"; path = "$T/dlq"; append = false; codec = "envelope"; };
CONF
timeout 120 "$SLUICE" -c "$T/p.conf" 2>"$T/p.log" || { tail "$T/p.log"; fail "sluice exited $?"; }
[ ! -s "$T/dlq" ] || { head -c 500 "$T/dlq"; fail "records were dead-lettered"; }
[ "$(queue_count mp)" = "$N" ] || fail "queue mp holds $(queue_count mp), not $N"
# one hex line per body, in queue order
timeout 120 amqp-consume --url "$URL" -q mp -c $N -- sh -c 'od -An -v -tx1 | tr -d " \n"; echo' \
    >"$T/bodies.hex" || fail "amqp-consume"
$PY - "$T" <<'PY' || fail "bodies differ from the records"
import json, sys, msgpack
t = sys.argv[1]
want = [json.loads(l) for l in open(t + "/in.jsonl", encoding="utf-8")]
got = [msgpack.unpackb(bytes.fromhex(l.strip()), raw=False) for l in open(t + "/bodies.hex")]
assert len(got) == len(want), "%d bodies, want %d" % (len(got), len(want))
for i, (g, w) in enumerate(zip(got, want)):
    assert g == w, "body %d: %r != %r" % (i, g, w)
PY
echo "ok: file (json) -> rabbitmq (msgpack): $N bodies unpack (python3-msgpack) equal to their records"
