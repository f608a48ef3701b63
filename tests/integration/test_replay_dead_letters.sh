#!/usr/bin/env bash
# Dead-letter replay: a pipeline dead-letters its bad records to a file with the
# envelope codec; configs/replay_dead_letters.conf feeds that file back through a
# fixed pipeline, and a second replay (envelope out) shows payload, key, headers,
# route, source and trace id restored, the x-sluice-* headers moved out of the
# headers into msg.source.failure, and what fails again dead-lettered anew.
. "${SLUICE_SOURCE_DIR:-.}/tests/integration/lib.sh"
SRC=${SLUICE_SOURCE_DIR:-$PWD}

python3 - "$T/orders.jsonl" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(1, 201):
        f.write(json.dumps({"id": i, "amount": -i if i % 10 == 0 else i, "note": "caf\u00e9"},
                           ensure_ascii=False) + "\n")
PY
cat >"$T/tag.lua" <<'LUA'
function process(msg)
  msg.key = "order-" .. msg.record.id
  msg.headers = { tenant = "t" .. (msg.record.id % 3) }
  msg.route = "orders-eu"
  return msg
end
LUA
cat >"$T/strict.lua" <<'LUA'
function process(msg)
  if msg.record.amount < 0 then error("negative amount") end
  return msg
end
LUA
cat >"$T/first.conf" <<CONF
inputs = ( { type = "file"; name = "orders"; path = "$T/orders.jsonl"; codec = "json"; } );
handlers = ( { type = "lua"; script = "$T/tag.lua"; },
             { type = "lua"; name = "strict"; script = "$T/strict.lua"; } );
outputs = ( { type = "file"; path = "$T/out.jsonl"; codec = "json"; } );
dead_letter = { type = "file"; path = "$T/dlq.jsonl"; codec = "envelope"; };
retry = { max_attempts = 1; };
CONF
"$SLUICE" -c "$T/first.conf" 2>"$T/first.log" || { cat "$T/first.log"; fail "first run"; }
[ "$(wc -l <"$T/out.jsonl")" -eq 180 ] || fail "first run delivered $(wc -l <"$T/out.jsonl")"
[ "$(wc -l <"$T/dlq.jsonl")" -eq 20 ] || fail "first run dead-lettered $(wc -l <"$T/dlq.jsonl")"
[ "$(grep -c 'negative amount' "$T/dlq.jsonl")" -eq 20 ] || fail "dead letters without their error"

# A dead letter whose payload is not JSON, and a line that is no envelope.
printf '%s\n' '{"payload_base64":"/wA=","headers":{}}' 'not an envelope' >"$T/broken.jsonl"
# The documented recipe, as shipped, run where the dead letters are.
mkdir "$T/replay"
ln -s "$SRC/lua" "$T/replay/lua"
cat "$T/dlq.jsonl" "$T/broken.jsonl" >"$T/replay/dlq.jsonl"
(cd "$T/replay" && "$SLUICE" -c "$SRC/configs/replay_dead_letters.conf" 2>"$T/replay.log") ||
    { cat "$T/replay.log"; fail "replay run"; }
python3 - "$T/replay/replayed.jsonl" "$T/replay/dlq-again.jsonl" <<'PY' || fail "replayed records"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
ids = sorted(r["id"] for r in recs)
assert ids == list(range(10, 201, 10)), ids
for r in recs:
    assert "negative amount" in r["replayed_after"], r
    assert r["note"] == "caf\u00e9", r
again = [json.loads(l) for l in open(sys.argv[2])]
assert len(again) == 2, again
assert again[0]["payload_base64"] == "/wA=", again[0]      # bytes kept whole
assert again[1]["payload"] == "not an envelope", again[1]  # dead-lettered as it came
assert "envelope" in again[1]["headers"]["x-sluice-error"], again[1]
PY
pass "recipe: 20 dead letters replayed with their failure reason; 2 bad lines dead-lettered again"

# Everything but the failure headers comes back as it was.
cat >"$T/inspect.conf" <<CONF
inputs = ( { type = "file"; name = "dead-letters"; path = "$T/dlq.jsonl"; codec = "envelope"; } );
outputs = ( { type = "file"; path = "$T/restored.jsonl"; codec = "envelope"; } );
CONF
"$SLUICE" -c "$T/inspect.conf" 2>"$T/inspect.log" || { cat "$T/inspect.log"; fail "inspect run"; }
python3 - "$T/dlq.jsonl" "$T/restored.jsonl" "$T/orders.jsonl" <<'PY' || fail "restored messages"
import json, sys
dead = [json.loads(l) for l in open(sys.argv[1])]
back = [json.loads(l) for l in open(sys.argv[2])]
assert len(dead) == len(back) == 20
for d, b in zip(dead, back):
    rec = json.loads(b["payload"])
    assert b["payload"] == d["payload"]
    assert b["key"] == "order-%d" % rec["id"], b
    assert b["headers"] == {"tenant": "t%d" % (rec["id"] % 3)}, b  # no x-sluice-*
    assert b["route"] == "orders-eu", b
    assert b["traceparent"] == d["traceparent"], (b, d)
    assert b["source"]["name"] == sys.argv[3], b
    assert b["source"]["offset"] == d["source"]["offset"], (b, d)
PY
pass "payload, key, headers, route, source and trace id restored; x-sluice-* headers moved"
