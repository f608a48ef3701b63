#!/usr/bin/env bash
# The dedup handler end to end: configs/dedup.conf prints each order once and, with
# its state_file, nothing on a second run; two workers and 40000 messages over 15000
# ids pass each id once; a state file cut mid-record loads with a warning; bad
# options are FILE:LINE errors at --check.
. "${SLUICE_SOURCE_DIR:-.}/tests/integration/lib.sh"
SRC=${SLUICE_SOURCE_DIR:-$PWD}
ln -s "$SRC/tests" "$T/tests"

(cd "$T" && "$SLUICE" -c "$SRC/configs/dedup.conf" >"$T/first.out" 2>"$T/first.log") ||
    { cat "$T/first.log"; fail "configs/dedup.conf run 1"; }
ids=$(python3 -c 'import json,sys; print(" ".join(str(json.loads(l)["id"]) for l in open(sys.argv[1])))' "$T/first.out")
[ "$ids" = "1 2 3 4 5 6" ] || fail "run 1 printed ids '$ids'"
[ -f "$T/orders.dedup.log" ] || fail "no state file written"
(cd "$T" && "$SLUICE" -c "$SRC/configs/dedup.conf" >"$T/second.out" 2>"$T/second.log") ||
    { cat "$T/second.log"; fail "configs/dedup.conf run 2"; }
[ ! -s "$T/second.out" ] || fail "run 2 printed $(wc -l <"$T/second.out") orders, wanted none"
grep -q '6 committed keys loaded' "$T/second.log" || fail "run 2 did not load 6 keys"
pass "configs/dedup.conf: each order once; nothing again after a restart"

# A crash mid-append leaves a torn record: the next start warns and goes on.
printf 'torn' >>"$T/orders.dedup.log"
(cd "$T" && "$SLUICE" -c "$SRC/configs/dedup.conf" >"$T/third.out" 2>"$T/third.log") ||
    { cat "$T/third.log"; fail "run after a torn state file"; }
grep -q 'ignoring a torn tail of 4 bytes' "$T/third.log" || { cat "$T/third.log"; fail "no torn-tail warning"; }
[ ! -s "$T/third.out" ] || fail "keys lost with the torn tail"
pass "a torn state-file tail is cut off with a warning"

python3 - "$T/many.jsonl" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(40000):
        f.write('{"id":"order-%d","n":%d}\n' % ((i * 7919) % 15000, i))
PY
cat >"$T/many.conf" <<CONF
queue = { capacity = 4; batch_size = 64; };
inputs = ( { type = "file"; path = "$T/many.jsonl"; codec = "json"; } );
handlers = ( { type = "dedup"; key = "record.id"; workers = 2; } );
outputs = ( { type = "file"; path = "$T/many.out"; codec = "json"; } );
CONF
"$SLUICE" -c "$T/many.conf" --stats 1 2>"$T/many.log" || { cat "$T/many.log"; fail "workers = 2 run"; }
total=$(wc -l <"$T/many.out")
distinct=$(python3 -c 'import json,sys; print(len({json.loads(l)["id"] for l in open(sys.argv[1])}))' "$T/many.out")
[ "$total" -eq 15000 ] && [ "$distinct" -eq 15000 ] || fail "workers = 2: $total out, $distinct distinct"
grep -q 'duplicates_dropped=25000' "$T/many.log" || { tail -3 "$T/many.log"; fail "counter"; }
pass "two workers: 40000 in, each of 15000 ids once, 25000 duplicates counted"

bad() { # option-line expected-message
    printf 'inputs = ( { type = "stdin"; } );\nhandlers = (\n  { type = "dedup"; %s }\n);\noutputs = ( { type = "null"; } );\n' "$1" >"$T/bad.conf"
    if "$SLUICE" -c "$T/bad.conf" --check 2>"$T/bad.log"; then fail "--check accepted: $1"; fi
    grep -q "bad.conf:3: .*$2" "$T/bad.log" || { cat "$T/bad.log"; fail "no FILE:LINE error for: $1"; }
}
bad 'key = "record";' 'record.PATH'
bad 'key = "id";' 'key = "id": expected'
bad 'key = "key"; max_keys = 0;' "option 'max_keys' of handler 'dedup' must be between 1"
bad 'key = "key"; ttl_s = -1;' "option 'ttl_s' of handler 'dedup' must be between 0"
bad 'max_keys = 5;' 'key'
pass "bad dedup options are FILE:LINE errors at --check"
