#!/usr/bin/env bash
# JSON decode -> encode round trip equal record by record; malformed records
# (truncated, invalid UTF-8, 100,000 unclosed brackets, oversize) go to
# dead_letter with exactly their bytes while every good record comes out.
source "$(dirname "$0")/lib.sh"

python3 tests/integration/gen_lines.py json 200000 > "$T/in.jsonl"
cat > "$T/rt.conf" <<CONF
inputs = ( { type = "file"; path = "$T/in.jsonl"; codec = "json"; } );
outputs = ( { type = "file"; path = "$T/out.jsonl"; codec = "json"; append = false; } );
dead_letter = { type = "file"; path = "$T/dlq.txt"; append = false; };
CONF
"$SLUICE" -c "$T/rt.conf" 2> "$T/log" || { cat "$T/log"; fail "json round trip exited non-zero"; }
python3 tests/integration/json_equal.py "$T/in.jsonl" "$T/out.jsonl" || fail "records changed"
[ ! -s "$T/dlq.txt" ] || fail "good records were dead-lettered"
pass "200,000 JSON records round trip equal (ints stay ints)"

# Good and bad records interleaved; remember which are which.
python3 - "$T" <<'PY'
import sys
t = sys.argv[1]
good, bad = [], []
bads = [b'{"id": 1, "truncated": ', b'{"bad_utf8": "\xff\xfe"}', b'[' * 100000,
        b'{"a":1} trailing', b'', b'{"unterminated": "abc', b'nul\x00l', b'{"x":' + b'9' * 400 + b'}x']
with open(f"{t}/mixed.jsonl", "wb") as f:
    for i in range(50000):
        if i % 997 == 0:
            b = bads[(i // 997) % len(bads)]
            bad.append(b)
            f.write(b + b"\n")
        else:
            g = b'{"id":%d,"v":"ok"}' % i
            good.append(g)
            f.write(g + b"\n")
open(f"{t}/want_good.jsonl", "wb").write(b"".join(g + b"\n" for g in good))
open(f"{t}/want_bad.txt", "wb").write(b"".join(b + b"\n" for b in bad))
PY
cat > "$T/mixed.conf" <<CONF
inputs = ( { type = "file"; path = "$T/mixed.jsonl"; codec = "json"; } );
outputs = ( { type = "file"; path = "$T/good.jsonl"; codec = "json"; append = false; } );
dead_letter = { type = "file"; path = "$T/bad.txt"; append = false; };
CONF
"$SLUICE" -c "$T/mixed.conf" 2> "$T/log" || { cat "$T/log"; fail "mixed run exited non-zero"; }
cmp "$T/want_good.jsonl" "$T/good.jsonl" || fail "good records missing or changed"
cmp "$T/want_bad.txt" "$T/bad.txt" || fail "dead_letter does not hold exactly the bad lines"
grep -q "dead-lettered" "$T/log" || fail "no summary of dead letters in the log"
pass "$(wc -l < "$T/want_bad.txt") malformed records dead-lettered byte for byte, $(wc -l < "$T/good.jsonl") good ones delivered"

# Oversize lines: the file input's max_line sends them to dead_letter too.
{ echo '{"id":1}'; head -c 5000 /dev/zero | tr '\0' 'a'; echo; echo '{"id":2}'; } > "$T/big.jsonl"
cat > "$T/big.conf" <<CONF
inputs = ( { type = "file"; path = "$T/big.jsonl"; codec = "json"; max_line = 1000; } );
outputs = ( { type = "file"; path = "$T/big_out.jsonl"; codec = "json"; append = false; } );
dead_letter = { type = "file"; path = "$T/big_dlq.txt"; append = false; };
CONF
"$SLUICE" -c "$T/big.conf" 2> "$T/log" || fail "oversize run failed"
[ "$(cat "$T/big_out.jsonl")" = $'{"id":1}\n{"id":2}' ] || fail "good records around an oversize line were lost"
[ "$(wc -l < "$T/big_dlq.txt")" = 1 ] || fail "oversize line not dead-lettered"
grep -q "over max_line" "$T/log" || fail "no error naming the oversize line"
pass "oversize line dead-lettered, neighbours delivered"

# No dead_letter configured: failures are logged and counted, never silent,
# and the run exits 2 (not everything was delivered).
cat > "$T/nodlq.conf" <<CONF
inputs = ( { type = "file"; path = "$T/mixed.jsonl"; codec = "json"; } );
outputs = ( { type = "null"; } );
CONF
rc=0; "$SLUICE" -c "$T/nodlq.conf" 2> "$T/log" || rc=$?
[ $rc = 2 ] || fail "run without dead_letter that discarded messages: exit $rc (want 2)"
n=$(wc -l < "$T/want_bad.txt")
[ "$(grep -c 'discarded (no dead_letter configured)' "$T/log")" = "$n" ] || fail "not every failure was logged"
grep -q "$n discarded" "$T/log" || fail "discarded count missing from the summary"
pass "without dead_letter every failure is logged and counted"

# Memory flat with JSON records too.
python3 tests/integration/gen_lines.py json 100000 > "$T/s.jsonl"
for i in 1 2 3 4 5 6 7 8; do cat "$T/s.jsonl"; done > "$T/b.jsonl"
for f in s b; do
  cat > "$T/$f.conf" <<CONF
inputs = ( { type = "file"; path = "$T/$f.jsonl"; codec = "json"; } );
outputs = ( { type = "null"; codec = "json"; } );
CONF
done
small=$(peak_rss_kb "$SLUICE" -c "$T/s.conf" 2>/dev/null)
big=$(peak_rss_kb "$SLUICE" -c "$T/b.conf" 2>/dev/null)
echo "peak RSS: 100k records ${small} KB, 800k records ${big} KB"
[ "$big" -lt $((small * 3 / 2 + 4096)) ] || fail "memory grew with the input: $small KB -> $big KB"
pass "memory flat as JSON input grows 8x"

# The envelope codec: a dead letter with its reason, source and bytes, as JSON.
printf '{"a":1}\n\xff\xfe not json\n{"b":2}\n' > "$T/env.txt"
cat > "$T/env.conf" <<CONF
inputs = ( { type = "file"; path = "$T/env.txt"; codec = "json"; } );
outputs = ( { type = "null"; } );
dead_letter = { type = "file"; path = "$T/env.jsonl"; codec = "envelope"; append = false; };
CONF
"$SLUICE" -c "$T/env.conf" 2> "$T/log" || fail "envelope run failed"
python3 - "$T/env.jsonl" <<'PY' || fail "envelope dead letter wrong"
import base64, json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert len(recs) == 1, recs
r = recs[0]
assert base64.b64decode(r["payload_base64"]) == b"\xff\xfe not json"
assert r["headers"]["x-sluice-error"].startswith("json: parse error")
assert r["headers"]["x-sluice-stage"] == "file.decode"
assert r["headers"]["x-sluice-attempts"] == "1"
assert r["source"]["offset"] == 2 and r["source"]["name"].endswith("env.txt")
assert r["traceparent"].startswith("00-")
PY
pass "envelope codec: the dead letter carries its bytes, error, stage and source"
