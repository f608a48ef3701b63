#!/usr/bin/env bash
# 1,000,000 lines in -> identical bytes out (empty lines, 60 KB lines, UTF-8,
# tabs), through the file input, the lines codec and the file output; then the
# same through stdin -> stdout; and memory stays flat when the input grows 8x.
source "$(dirname "$0")/lib.sh"

python3 tests/integration/gen_lines.py lines 1000000 > "$T/in.txt"
cat > "$T/copy.conf" <<CONF
inputs = ( { type = "file"; path = "$T/in.txt"; } );
outputs = ( { type = "file"; path = "$T/out.txt"; append = false; } );
CONF
"$SLUICE" -c "$T/copy.conf" 2> "$T/log" || { cat "$T/log"; fail "file copy exited $?"; }
cmp "$T/in.txt" "$T/out.txt" || fail "file -> file changed the bytes"
pass "1,000,000 lines file -> file identical ($(stat -c %s "$T/in.txt") bytes)"

cat > "$T/pipe.conf" <<CONF
inputs = ( { type = "stdin"; } );
outputs = ( { type = "stdout"; } );
CONF
"$SLUICE" -c "$T/pipe.conf" < "$T/in.txt" > "$T/out2.txt" 2> "$T/log" || fail "stdin copy failed"
cmp "$T/in.txt" "$T/out2.txt" || fail "stdin -> stdout changed the bytes"
pass "stdin -> stdout identical"

# A tiny queue and batch size 1 "give bugs a chance": order and bytes still exact.
cat > "$T/tiny.conf" <<CONF
queue = { capacity = 1; batch_size = 1; linger_ms = 0; };
inputs = ( { type = "file"; path = "$T/in.txt"; } );
outputs = ( { type = "file"; path = "$T/out3.txt"; append = false; } );
CONF
head -c 20000000 "$T/in.txt" | head -n -1 > "$T/in_small.txt"
sed -i "s|$T/in.txt|$T/in_small.txt|" "$T/tiny.conf"
"$SLUICE" -c "$T/tiny.conf" 2> "$T/log" || fail "tiny-queue copy failed"
cmp "$T/in_small.txt" "$T/out3.txt" || fail "tiny queue changed order or bytes"
pass "capacity 1, batch 1: identical"

# Memory is bounded by the queues, not by the input: 8x the input, same RSS.
python3 tests/integration/gen_lines.py lines 250000 7 > "$T/small.txt"
for i in 1 2 3 4 5 6 7 8; do cat "$T/small.txt"; done > "$T/big.txt"
for f in small big; do
  cat > "$T/$f.conf" <<CONF
inputs = ( { type = "file"; path = "$T/$f.txt"; } );
outputs = ( { type = "null"; } );
CONF
done
small=$(peak_rss_kb "$SLUICE" -c "$T/small.conf" 2>/dev/null)
big=$(peak_rss_kb "$SLUICE" -c "$T/big.conf" 2>/dev/null)
echo "peak RSS: 250k lines ${small} KB, 2M lines ${big} KB"
[ "$big" -lt $((small * 3 / 2 + 4096)) ] || fail "memory grew with the input: $small KB -> $big KB"
pass "memory flat as input grows 8x"
