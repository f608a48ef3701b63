#!/usr/bin/env bash
# Hostile scripts: an error, an endless loop, a memory bomb, sandbox escapes and
# code that would run outside the hooks (a looping __gc, __close or xpcall
# handler, a C loop on a huge count) each dead-letter only their own message while every other one flows, the
# worker keeps a healthy state, and the pipeline ends cleanly.
source "$(dirname "$0")/lib.sh"
cd "$T"
mkdir scripts
for i in $(seq 1 60); do echo "{\"n\":$i}"; done > in.jsonl
cat > scripts/bad.lua <<'EOF'
local hoard = {}
function process(msg)
  local n = msg.record.n
  if n == 3 then while true do end end
  if n == 5 then local t = {} for i = 1, 1e9 do t[i] = string.rep("x", 64) .. i end end
  if n == 7 then os.execute("touch /tmp/sluice_pwned_" .. n) end
  if n == 9 then io.popen("id") end
  if n == 11 then local f = io.open("/etc/passwd") end
  if n == 13 then dofile("/bin/sh") end
  if n == 15 then assert(load("\27Lua binary"))() end
  if n == 17 then io.open("written.txt", "w") end
  if n == 19 then error("plain error " .. n) end
  if n == 21 then while true do pcall(function() while true do end end) end end
  if n == 23 then for i = 1, 1e9 do hoard[#hoard + 1] = string.rep("y", 64) .. i end end
  if n == 25 then msg.record.f = print end
  if n == 27 then setmetatable({}, {__gc = function() while true do end end}) collectgarbage() end
  if n == 29 then
    coroutine.wrap(function()
      local x <close> = setmetatable({}, {__close = function() while true do end end})
      while true do end
    end)()
  end
  if n == 31 then while true do xpcall(error, function() while true do end end) end end
  if n == 33 then table.move({}, 1, 1e15, 1) end
  msg.record.ok = true
  return msg
end
EOF
cat > bad.conf <<'EOF'
inputs = ( { type = "file"; name = "in"; path = "in.jsonl"; codec = "json"; } );
handlers = ( { type = "lua"; name = "bad"; script = "scripts/bad.lua"; memory_mb = 16;
               max_instructions = 20000000; } );
outputs = ( { type = "file"; name = "out"; path = "out.jsonl"; codec = "json"; append = false; } );
dead_letter = { type = "file"; name = "dlq"; path = "dlq.txt"; append = false; };
retry = { max_attempts = 2; backoff_ms = 1; };
EOF
start=$(date +%s)
timeout -s KILL 120 "$SLUICE" -c bad.conf --log-level debug 2> log || { tail -20 log; fail "pipeline failed or hung"; }
elapsed=$(( $(date +%s) - start ))
bad="3 5 7 9 11 13 15 17 19 21 23 25 27 29 31 33"
python3 - "$bad" <<'EOF' || fail "wrong messages delivered"
import json, sys
bad = set(int(x) for x in sys.argv[1].split())
got = [json.loads(l) for l in open("out.jsonl")]
assert [r["n"] for r in got] == [n for n in range(1, 61) if n not in bad], got
assert all(r["ok"] is True for r in got)
dead = sorted(json.loads(l)["n"] for l in open("dlq.txt"))  # retries reorder
assert dead == sorted(bad), dead
EOF
[ ! -e /tmp/sluice_pwned_7 ] || { rm -f /tmp/sluice_pwned_7; fail "os.execute ran"; }
[ ! -e scripts/written.txt ] || fail "a file was written without allow_io"
for want in "instruction budget exceeded" "memory limit exceeded (memory_mb = 16)" \
    "attempt to call a nil value (field 'execute')" "attempt to call a nil value (field 'popen')" \
    "/etc/passwd: outside the script's directory (sandbox)" "/bin/sh: outside the script's directory" \
    "attempt to load a binary chunk" "write access is disabled" "bad.lua:12: plain error 19" \
    "cannot convert a function at record.f" "__gc finalizers are not available in the sandbox" \
    "table.move: a range of 1000000000000000 elements"; do
  grep -qF "dead-lettered: " log || fail "no dead-letter lines in the log"
  grep -F "dead-lettered: " log | grep -qF "$want" || { grep dead-lettered log; fail "missing error: $want"; }
done
grep -q "60 in, 44 out, 16 dead-lettered" log || fail "counts: $(grep done log)"
pass "16 hostile messages dead-lettered with their reasons, 44 delivered, in ${elapsed}s"

# Every message hostile, endless input: SIGTERM still drains and ends the run.
cat > scripts/gc.lua <<'EOF'
function process(msg)
  setmetatable({}, {__gc = function() while true do end end})
  collectgarbage()
  return msg
end
EOF
cat > gc.conf <<'EOF'
inputs = ( { type = "generator"; count = 0; rate = 2000; } );
handlers = ( { type = "lua"; script = "scripts/gc.lua"; max_cpu_ms = 200; } );
outputs = ( { type = "null"; } );
dead_letter = { type = "file"; path = "gc_dlq.txt"; append = false; };
retry = { max_attempts = 1; };
EOF
"$SLUICE" -c gc.conf 2> gc.log &
pid=$!; PIDS+=($pid)
sleep 1
kill -TERM $pid
for _ in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
kill -0 $pid 2>/dev/null && { tail -5 gc.log; fail "SIGTERM did not end a run whose script sets a looping __gc"; }
rc=0; wait $pid || rc=$?
[ $rc = 0 ] || { tail -5 gc.log; fail "exit $rc after SIGTERM (want 0)"; }
n=$(wc -l < gc_dlq.txt)
[ "$n" -gt 0 ] || fail "nothing dead-lettered"
grep -q "done in .*: $n in, 0 out, $n dead-lettered" gc.log || { tail -2 gc.log; fail "counts"; }
pass "looping __gc on every message: $n dead-lettered, SIGTERM ends the run within 5 s, exit 0"
