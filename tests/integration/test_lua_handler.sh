#!/usr/bin/env bash
# The lua handler end to end: every return form, process_batch, record type
# round trips, payload binary safety, header/key/route changes, 4 workers,
# and --check errors.
source "$(dirname "$0")/lib.sh"
cd "$T"
run() { # conf [extra args]: runs sluice, log in $T/log
  "$SLUICE" -c "$@" 2> "$T/log" || { cat "$T/log"; fail "sluice -c $1 exited non-zero"; }
}

# ---- return forms -------------------------------------------------------
for i in $(seq 1 16); do echo "{\"n\":$i,\"v\":\"x$i\"}"; done > in.jsonl
cat > ret.lua <<'EOF'
function process(msg)
  local n = msg.record.n
  if n == 1 then msg.record.a = 1 return msg
  elseif n == 2 then return nil
  elseif n == 3 then return {msg, {record = {child = 3}}}
  elseif n == 4 then return {{record = {x = 1}}, {record = {x = 2}, key = "k4"}}
  elseif n == 5 then return {}
  elseif n == 6 then return {record = {single = true}}
  elseif n == 7 then return {msg, msg}
  elseif n == 8 then msg.record = nil msg.payload = "raw payload 8" return msg
  elseif n == 9 then return {{payload = "p9", record = false}}
  elseif n == 10 then msg.route = "other" return msg
  elseif n == 11 then error("bad 11")
  elseif n == 12 then return 42
  elseif n == 13 then return {msg, 5}
  elseif n == 14 then return {{bogus = 1}}
  elseif n == 15 then msg.key = "k15" msg.headers["x-h"] = "v15" return msg
  elseif n == 16 then msg.record.v = nil msg.record.list = sluice.array() msg.record.obj = sluice.map() return msg
  end
end
EOF
# a second handler shows what reached it: key, a header and the route
cat > inspect.lua <<'EOF'
function process(msg)
  local r = msg.record
  if type(r) == "table" then
    r.key = msg.key
    r.h = msg.headers["x-h"]
    r.route = msg.route
  end
  return msg
end
EOF
cat > ret.conf <<'EOF'
inputs = ( { type = "file"; name = "in"; path = "in.jsonl"; codec = "json"; } );
handlers = ( { type = "lua"; name = "ret"; script = "ret.lua"; },
             { type = "lua"; name = "inspect"; script = "inspect.lua"; } );
outputs = ( { type = "file"; name = "main"; path = "out.jsonl"; codec = "json"; append = false; match = "in"; },
            { type = "file"; name = "other"; path = "other.jsonl"; codec = "json"; append = false; match = "other"; } );
dead_letter = { type = "file"; name = "dlq"; path = "dlq.txt"; append = false; };
EOF
run ret.conf --log-level debug
cat > want.jsonl <<'EOF'
{"n":1,"v":"x1","a":1,"route":"in"}
{"n":3,"v":"x3","route":"in"}
{"child":3,"route":"in"}
{"x":1,"route":"in"}
{"x":2,"key":"k4","route":"in"}
{"single":true,"route":"in"}
{"n":7,"v":"x7","route":"in"}
{"n":7,"v":"x7","route":"in"}
raw payload 8
p9
{"n":15,"v":"x15","h":"v15","key":"k15","route":"in"}
{"n":16,"list":[],"obj":{},"route":"in"}
EOF
diff -u want.jsonl out.jsonl || fail "return forms: main output differs"
[ "$(cat other.jsonl)" = '{"n":10,"v":"x10","route":"other"}' ] || fail "msg.route did not route"
printf '%s\n' '{"n":11,"v":"x11"}' '{"n":12,"v":"x12"}' '{"n":13,"v":"x13"}' '{"n":14,"v":"x14"}' > want_dlq.txt
diff -u want_dlq.txt dlq.txt || fail "return forms: dead letters differ"
grep -q 'dead-lettered: ret.lua:13: bad 11 \[ret.lua:13:' log || fail "error() text/traceback missing"
grep -q 'process must return a message, a list of messages or nil (got a number)' log || fail "bad return not explained"
grep -q "returned table has field 'bogus'" log || fail "unknown field not explained"
grep -q "16 in, 13 out, 4 dead-lettered" log || fail "counts: $(grep done log)"
pass "return forms: msg, nil, lists, plain tables, copies, payload/record/key/header/route edits, errors"

# ---- process_batch --------------------------------------------------------
cat > batch.lua <<'EOF'
function process_batch(msgs)
  local out = {}
  for _, m in ipairs(msgs) do
    local n = m.record.n
    if n % 2 == 1 then
      m.record.batch = #msgs > 0
      out[#out + 1] = m
    elseif n % 4 == 0 then
      out[#out + 1] = {record = {from = n}, parent = m}
    end
  end
  return out
end
EOF
cat > batch.conf <<'EOF'
inputs = ( { type = "file"; name = "in"; path = "in.jsonl"; codec = "json"; } );
handlers = ( { type = "lua"; name = "batch"; script = "batch.lua"; } );
outputs = ( { type = "file"; name = "main"; path = "batch.jsonl"; codec = "json"; append = false; } );
EOF
run batch.conf
python3 - <<'EOF' || fail "process_batch output differs"
import json
got = [json.loads(l) for l in open("batch.jsonl")]
want = []
for n in range(1, 17):
    if n % 2 == 1: want.append({"n": n, "v": "x%d" % n, "batch": True})
    elif n % 4 == 0: want.append({"from": n})
assert got == want, (got, want)
EOF
grep -q "16 in, 12 out" log || fail "batch counts: $(grep done log)"
pass "process_batch: keep, drop and derive with parent"

# ---- split children outlive their dropped parent ------------------------------
# Children reuse nothing from the parent's memory: the parent is released (and
# its buffers recycled) while the children are still queued.
cat > splitmany.lua <<'EOF'
function process(msg)
  local r = msg.record
  return {{record = {seq = r.seq, msg = r.msg, part = 1}},
          {record = {msg = r.msg, seq = r.seq, part = 2}, key = "k" .. r.seq}}
end
EOF
cat > splitmany.conf <<'EOF'
queue = { capacity = 64; batch_size = 16; };
inputs = ( { type = "generator"; name = "gen"; count = 20000; codec = "json";
             payload = "{\"seq\":{seq},\"msg\":\"message number {seq} with some text\"}"; } );
handlers = ( { type = "lua"; name = "split"; script = "splitmany.lua"; } );
outputs = ( { type = "file"; name = "out"; path = "splitmany.jsonl"; codec = "json"; append = false; } );
EOF
run splitmany.conf
python3 - <<'EOF' || fail "split children corrupted or lost"
import json
n = 0
for i, l in enumerate(open("splitmany.jsonl")):
    r = json.loads(l)
    seq, part = i // 2, i % 2 + 1
    assert r == {"seq": seq, "msg": "message number %d with some text" % seq, "part": part}, (i, r)
    n += 1
assert n == 40000, n
EOF
pass "split: 40,000 children exact after their parents were released"

# ---- record types ---------------------------------------------------------
cat > types.jsonl <<'EOF'
{"i":1,"neg":-42,"big":9223372036854775807,"min":-9223372036854775808,"f":1.5,"whole":2.0,"s":"plain","u":"chloé ✓ 日本語 🚀","esc":"tab\tquote\"back\\slash\u0001","t":true,"fl":false,"nul":null,"arr":[1,2.5,"three",null,[],{}],"obj":{"a":{"b":{"c":[{"d":null}]}}},"ea":[],"eo":{}}
EOF
echo 'function process(msg) local r = msg.record; r.i = r.i; return msg end' > touch.lua
cat > edit.lua <<'EOF'
function process(msg)
  local r = msg.record
  r.added_int = math.tointeger(2^53) + 1
  r.added_float = 1.0
  r.sum = r.i + r.neg
  r.ratio = r.neg / 2
  r.arr[1] = r.arr[1] + 1
  r.obj.a.b.c[1].e = sluice.null
  r.u = r.u .. "!"
  r.types = math.type(r.big) .. math.type(r.whole) .. tostring(r.nul == sluice.null) .. utf8.len(r.u)
  return msg
end
EOF
for lazy in true false; do
for s in touch edit; do cat > $s.conf <<EOF
inputs = ( { type = "file"; name = "in"; path = "types.jsonl"; codec = "json"; } );
handlers = ( { type = "lua"; name = "t"; script = "$s.lua"; lazy_record = $lazy; } );
outputs = ( { type = "file"; name = "out"; path = "$s.out"; codec = "json"; append = false; } );
EOF
run $s.conf; done
cmp types.jsonl touch.out || { cat touch.out; fail "a touched record did not round trip byte for byte"; }
cat > want_edit.jsonl <<'EOF'
{"i":1,"neg":-42,"big":9223372036854775807,"min":-9223372036854775808,"f":1.5,"whole":2.0,"s":"plain","u":"chloé ✓ 日本語 🚀!","esc":"tab\tquote\"back\\slash\u0001","t":true,"fl":false,"nul":null,"arr":[2,2.5,"three",null,[],{}],"obj":{"a":{"b":{"c":[{"d":null,"e":null}]}}},"ea":[],"eo":{},"added_float":1.0,"added_int":9007199254740993,"ratio":-21.0,"sum":-41,"types":"integerfloattrue14"}
EOF
diff -u want_edit.jsonl edit.out || fail "edited record differs (lazy_record = $lazy)"
done
pass "types: ints, floats, big ints, null, UTF-8, escapes, nesting, empty [] and {} round trip; edits keep order"

# ---- lazy msg.record semantics (default) and lazy_record = false --------------
printf '%s\n' '{"n":1,"a":1,"b":2,"c":3,"d":4,"nested":{"x":1,"y":[1,2]},"arr":[1,2,3]}' \
  '{"n":2}' '{"n":3,"a":1,"nested":{"x":1}}' > lazy.jsonl
cat > lazy.lua <<'EOF'
local kept, lazy
function init(conf) lazy = conf.lazy_record end
function process(msg)
  local r = msg.record
  if r.n == 2 then return kept and {record = {old = kept.a}} or msg end
  if r.n == 3 then
    r.a = 2
    return {{record = r}, {record = {copy = r.nested, t = type(r)}}}
  end
  r.added = 1
  r.b = nil
  r.c = "changed"
  r.c = nil
  r.d = r.d
  r.nested.x = 5
  table.insert(r.arr, 4)
  local keys = {}
  for k in pairs(r) do keys[#keys + 1] = k end
  if not lazy then table.sort(keys) end -- plain tables have no order
  r.keys = table.concat(keys, ",")
  r.len = #r.arr
  r.t = type(r)
  r.y = sluice.json.encode(r.nested.y)
  r.enc = sluice.json.decode(sluice.json.encode(r)).d
  r.missing = r.nope == nil
  kept = r
  return msg
end
EOF
for lazy in true false; do
cat > lazy_$lazy.conf <<EOF
inputs = ( { type = "file"; name = "in"; path = "lazy.jsonl"; codec = "json"; } );
handlers = ( { type = "lua"; name = "lazy"; script = "lazy.lua"; lazy_record = $lazy; } );
outputs = ( { type = "file"; name = "out"; path = "lazy_$lazy.jsonl"; codec = "json"; append = false; } );
dead_letter = { type = "file"; name = "dlq"; path = "lazy_dlq_$lazy.txt"; append = false; };
EOF
run lazy_$lazy.conf --log-level debug
cp log lazy_$lazy.log
done
first='{"n":1,"a":1,"d":4,"nested":{"x":5,"y":[1,2]},"arr":[1,2,3,4],"added":1,"enc":4,"keys":"n,a,d,nested,arr,added","len":4,"missing":true,"t":"table","y":"[1,2]"}'
third='{"n":3,"a":2,"nested":{"x":1}}
{"copy":{"x":1},"t":"table"}'
printf '%s\n%s\n' "$first" "$third" > want_lazy_true.jsonl
printf '%s\n%s\n%s\n' "${first/n,a,d,nested,arr,added/a,added,arr,d,n,nested}" '{"old":1}' "$third" > want_lazy_false.jsonl
diff -u want_lazy_true.jsonl lazy_true.jsonl || fail "lazy record semantics"
diff -u want_lazy_false.jsonl lazy_false.jsonl || fail "plain-table record semantics"
[ "$(cat lazy_dlq_true.txt)" = '{"n":2}' ] || fail "a lazy record kept past its call did not fail"
grep -q "msg.record used after its process() call returned" lazy_true.log || fail "no clear error for a kept lazy record"
pass "msg.record: lazy (default) and plain tables agree; pairs order, deletes, nested edits, copies"

# ---- payloads are binary safe ----------------------------------------------
printf 'a\xff\xfeb\x01\n\xc3\xa9t\xc3\xa9\n' > bin.txt
cat > bin.lua <<'EOF'
function process(msg)
  local p = msg.payload
  local hex = p:gsub(".", function(c) return string.format("%02x", c:byte()) end)
  msg.payload = hex .. " " .. #p .. " " .. p:reverse()
  return msg
end
EOF
cat > bin.conf <<'EOF'
inputs = ( { type = "file"; name = "in"; path = "bin.txt"; } );
handlers = ( { type = "lua"; name = "bin"; script = "bin.lua"; } );
outputs = ( { type = "file"; name = "out"; path = "bin.out"; append = false; } );
EOF
run bin.conf
printf '61fffe6201 5 \x01b\xfe\xffa\nc3a974c3a9 5 \xa9\xc3t\xa9\xc3\n' > want_bin.txt
cmp want_bin.txt bin.out || fail "binary payload changed"
pass "payloads: arbitrary bytes in and out"

# ---- 4 workers at once ----------------------------------------------------------
cat > workers.lua <<'EOF'
local calls = 0
function process(msg)
  calls = calls + 1
  msg.record.sq = msg.record.seq * msg.record.seq
  sluice.counter("lua_seen", 1)
  return msg
end
EOF
cat > workers.conf <<'EOF'
inputs = ( { type = "generator"; name = "gen"; count = 40000; codec = "json"; } );
handlers = ( { type = "lua"; name = "w"; script = "workers.lua"; workers = 4; } );
outputs = ( { type = "file"; name = "out"; path = "workers.jsonl"; codec = "json"; append = false; } );
EOF
run workers.conf
python3 - <<'EOF' || fail "4 workers: records lost, doubled or wrong"
import json
seqs = set()
for l in open("workers.jsonl"):
    r = json.loads(l)
    assert r["sq"] == r["seq"] * r["seq"], r
    seqs.add(r["seq"])
assert seqs == set(range(40000)), len(seqs)
EOF
pass "4 workers: 40,000 records, each once, each processed"

# ---- --check ------------------------------------------------------------------
printf 'function process(msg)\n  return msg +\nend\n' > broken.lua
cat > broken.conf <<'EOF'
inputs = ( { type = "stdin"; name = "in"; } );
handlers = ( { type = "lua"; name = "b"; script = "broken.lua"; } );
outputs = ( { type = "stdout"; name = "out"; } );
EOF
if "$SLUICE" -c broken.conf --check > check.out 2>&1; then fail "--check accepted a broken script"; fi
grep -q "broken.lua:3: unexpected symbol near 'end'" check.out || { cat check.out; fail "--check error lacks script.lua:LINE"; }
sed 's/broken.lua/missing.lua/' broken.conf > missing.conf
if "$SLUICE" -c missing.conf --check > check.out 2>&1; then fail "--check accepted a missing script"; fi
grep -q "missing.lua" check.out || { cat check.out; fail "--check does not name the missing script"; }
sed 's/broken.lua/ret.lua/' broken.conf > good.conf
"$SLUICE" -c good.conf --check > check.out 2>&1 || { cat check.out; fail "--check rejected a good script"; }
# a script that compiles but whose init() fails stops the start, naming the line
printf 'function init(conf)\n  error("no config " .. conf.name)\nend\nfunction process(m) return m end\n' > badinit.lua
sed 's/broken.lua/badinit.lua/' broken.conf > badinit.conf
if echo '{}' | "$SLUICE" -c badinit.conf > check.out 2>&1; then fail "a failing init() did not stop the start"; fi
grep -q "badinit.lua:2: no config b" check.out || { cat check.out; fail "init error lacks script.lua:LINE"; }
[ "$(grep -c '' check.out)" = 1 ] || { cat check.out; fail "a failing init() gave more than one line"; }
# a sandboxed script is run once at --check: errors at load, in init() and a
# missing process function are found before anything starts, with the config line
if "$SLUICE" -c badinit.conf --check > check.out 2>&1; then fail "--check accepted a failing init()"; fi
grep -q "^badinit.conf:2: b: .*badinit.lua:2: no config b" check.out || { cat check.out; fail "--check: init error lacks conf:LINE and script.lua:LINE"; }
printf 'local x = nil\nx.field = 1\nfunction process(m) return m end\n' > badload.lua
sed 's/broken.lua/badload.lua/' broken.conf > badload.conf
if "$SLUICE" -c badload.conf --check > check.out 2>&1; then fail "--check accepted a script that fails at load"; fi
grep -q "badload.lua:2: attempt to index" check.out || { cat check.out; fail "--check: load error lacks script.lua:LINE"; }
printf 'function proccess(m) return m end\n' > noproc.lua
sed 's/broken.lua/noproc.lua/' broken.conf > noproc.conf
if "$SLUICE" -c noproc.conf --check > check.out 2>&1; then fail "--check accepted a script without process()"; fi
grep -q "defines neither process(msg) nor process_batch(msgs)" check.out || { cat check.out; fail "--check: no word on the missing process()"; }
pass "--check: syntax errors, missing scripts, errors at load and in init(), a missing process() reported with file:line; one line each"
