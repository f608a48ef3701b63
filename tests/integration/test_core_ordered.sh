#!/usr/bin/env bash
# ordered = true on a 4-worker stage keeps per-key order; fan-out to two
# outputs by `match` delivers each message to each matching output; --stats
# prints progress lines.
source "$(dirname "$0")/lib.sh"

# A handler that spends a payload-dependent time per message, so workers
# overtake each other unless dispatch by key keeps them apart.
cat > "$T/jitter.lua" <<'LUA'
function process(msg)
  local n = tonumber(msg.payload) % 97 * 50
  local x = 0
  for i = 1, n do x = x + i end
  return msg
end
LUA
for ordered in true false; do
  cat > "$T/o.conf" <<CONF
queue = { capacity = 64; batch_size = 8; };
inputs = ( { type = "generator"; count = 200000; payload = "{seq}"; key = "k{seq}"; key_modulo = 16; } );
handlers = ( { type = "lua"; script = "$T/jitter.lua"; workers = 4; ordered = $ordered; } );
outputs = ( { type = "file"; path = "$T/out-$ordered.txt"; append = false; } );
CONF
  "$SLUICE" -c "$T/o.conf" 2> "$T/log" || { cat "$T/log"; fail "ordered=$ordered run failed"; }
done
python3 - "$T" <<'PY' || fail "per-key order broken with ordered = true"
import sys
t = sys.argv[1]
for ordered in ("true", "false"):
    seqs = [int(l) for l in open(f"{t}/out-{ordered}.txt")]
    assert sorted(seqs) == list(range(200000)), f"ordered={ordered}: messages lost or duplicated"
    last = {}
    bad = 0
    for s in seqs:
        k = s % 16
        if last.get(k, -1) > s:
            bad += 1
        last[k] = s
    print(f"ordered={ordered}: {bad} per-key order inversions")
    if ordered == "true":
        assert bad == 0
PY
pass "ordered = true keeps per-key order across 4 workers; every message delivered once"

cat > "$T/fan.conf" <<CONF
inputs = ( { type = "file"; name = "a"; path = "$T/out-true.txt"; },
           { type = "generator"; name = "b"; count = 1000; payload = "gen {seq}"; } );
outputs = ( { type = "file"; path = "$T/all.txt"; append = false; },
            { type = "file"; path = "$T/only-b.txt"; match = "b"; append = false; },
            { type = "file"; path = "$T/none.txt"; match = "zzz*"; append = false; } );
CONF
"$SLUICE" -c "$T/fan.conf" --stats 0.05 2> "$T/log" || fail "fan-out run failed"
[ "$(wc -l < "$T/all.txt")" = 201000 ] || fail "match '*' did not get every message"
[ "$(wc -l < "$T/only-b.txt")" = 1000 ] || fail "match 'b' did not get exactly input b's messages"
[ ! -s "$T/none.txt" ] || fail "match 'zzz*' got messages"
grep -q "^stats: in=" "$T/log" || fail "--stats printed no progress line"
grep -q "done in .*: 201000 in, 202000 out" "$T/log" || fail "summary counts wrong"
pass "routing by match and fan-out copies; --stats progress lines"
