#!/usr/bin/env bash
# What one Lua call may return is bounded (max_outputs, max_output_mb): a split
# into 200,000 messages and a record that references one 1 MB string 300 times
# (300 MB once converted, from a 16 MB Lua state) each dead-letter their own
# message with a clear error, the others flow, and peak RSS stays small.
source "$(dirname "$0")/lib.sh"
cd "$T"
mkdir scripts
for i in 1 2 3 4 5; do echo "{\"n\":$i}"; done > in.jsonl
cat > scripts/split.lua <<'EOF'
function process(msg)
  if msg.record.n ~= 2 then return msg end
  local out = {}
  for i = 1, 200000 do out[i] = {payload = "part " .. i} end
  return out
end
EOF
cat > scripts/fanout.lua <<'EOF'
local big = string.rep("x", 1 << 20)
function process(msg)
  if msg.record.n ~= 4 then return msg end
  local refs = {}
  for i = 1, 300 do refs[i] = big end
  msg.record.refs = refs
  return msg
end
EOF
limit_kb=$((250 * 1024))
for case in split:64 fanout:16; do
  name=${case%%:*}; mb=${case##*:}
  cat > $name.conf <<EOF
inputs = ( { type = "file"; path = "in.jsonl"; codec = "json"; } );
handlers = ( { type = "lua"; script = "scripts/$name.lua"; memory_mb = $mb; } );
outputs = ( { type = "file"; path = "$name.out"; codec = "json"; append = false; } );
dead_letter = { type = "file"; path = "$name.dlq"; append = false; };
retry = { max_attempts = 1; };
EOF
  rss=$(peak_rss_kb "$SLUICE" -c $name.conf 2> $name.log) || { tail -5 $name.log; fail "$name: run failed"; }
  [ "$rss" -lt $limit_kb ] || fail "$name: peak RSS $((rss / 1024)) MB (want < 250 MB)"
  [ "$(wc -l < $name.dlq)" = 1 ] || fail "$name: want 1 dead-lettered message, got $(wc -l < $name.dlq)"
  [ "$(wc -l < $name.out)" = 4 ] || fail "$name: want the 4 other messages delivered"
  pass "$name: peak RSS $((rss / 1024)) MB, the bad message dead-lettered, 4 delivered"
done
grep -F "dead-lettered: " split.log | grep -qF "returned 200000 messages, more than max_outputs = 10000 per message handled" \
  || { grep dead-lettered split.log; fail "split: no max_outputs error"; }
grep -F "dead-lettered: " fanout.log | grep -qF "take more than max_output_mb = 64 after conversion" \
  || { grep dead-lettered fanout.log; fail "fanout: no max_output_mb error"; }
pass "both errors name the option that bounds them"

# The options move the bounds: a split of 3 under max_outputs = 3 passes, of 4 fails.
cat > scripts/three.lua <<'EOF'
function process(msg)
  local out = {}
  local n = tonumber(msg.payload:match("%d+"))
  for i = 1, (n == 5 and 4 or 3) do out[i] = {payload = msg.payload .. i} end
  return out
end
EOF
cat > three.conf <<'EOF'
inputs = ( { type = "file"; path = "in.jsonl"; } );
handlers = ( { type = "lua"; script = "scripts/three.lua"; max_outputs = 3; } );
outputs = ( { type = "file"; path = "three.out"; append = false; } );
dead_letter = { type = "file"; path = "three.dlq"; append = false; };
retry = { max_attempts = 1; };
EOF
"$SLUICE" -c three.conf 2> three.log || { tail -5 three.log; fail "three: run failed"; }
[ "$(wc -l < three.out)" = 12 ] && [ "$(wc -l < three.dlq)" = 1 ] \
  || fail "three: $(wc -l < three.out) out, $(wc -l < three.dlq) dead (want 12 and 1)"
pass "max_outputs = 3: 3-way splits pass, a 4-way split is dead-lettered"
