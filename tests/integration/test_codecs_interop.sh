#!/usr/bin/env bash
# The protobuf and msgpack codecs against other implementations, both directions:
# python3-protobuf (shop.proto, every feature) and python3-msgpack write framed files that
# sluice decodes to the records they must give (compared as JSON); sluice encodes them back
# and Python parses what it wrote equal to the originals. Then the framings' failure modes.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3 # python3-protobuf and python3-msgpack are Debian's
IO="$PY tests/tools/codec_interop.py"
N=2000
protoc --include_imports --descriptor_set_out="$T/shop.desc" -Itests/data/proto shop.proto ||
  fail "protoc"
PB="codec = { type = \"protobuf\"; descriptor_set = \"$T/shop.desc\"; message = \"shop.v1.Order\"; };"
run() { # name: run $T/name.conf, which must exit 0
  "$SLUICE" -c "$T/$1.conf" 2>"$T/$1.log" || { cat "$T/$1.log"; fail "$1: sluice exited $?"; }
}

# ---- protobuf: python -> sluice -> JSON, JSON -> sluice -> python ----
$IO proto-gen "$T" $N || fail "proto-gen"
cat >"$T/p2j.conf" <<CONF
inputs = ( { type = "file"; path = "$T/orders.bin"; framing = "varint"; $PB } );
outputs = ( { type = "file"; path = "$T/orders.jsonl"; append = false; codec = "json"; },
            { type = "file"; path = "$T/orders.again.bin"; append = false; framing = "varint"; $PB } );
dead_letter = { type = "file"; path = "$T/p2j.dlq"; append = false; codec = "envelope"; };
CONF
run p2j
[ ! -s "$T/p2j.dlq" ] || { head -c 500 "$T/p2j.dlq"; fail "orders were dead-lettered"; }
$IO json-equal "$T/orders.expect.jsonl" "$T/orders.jsonl" || fail "records differ from the mapping"
pass "$N python-written Orders decode to the records the mapping table says"
$IO proto-check "$T" "$T/orders.again.bin" || fail "protobuf -> protobuf"
pass "protobuf -> record -> protobuf: python parses all $N equal"
cat >"$T/j2p.conf" <<CONF
inputs = ( { type = "file"; path = "$T/orders.jsonl"; codec = "json"; } );
outputs = ( { type = "file"; path = "$T/orders.back.bin"; append = false; framing = "varint"; $PB } );
CONF
run j2p
$IO proto-check "$T" "$T/orders.back.bin" || fail "JSON -> protobuf"
pass "JSON records -> protobuf: python parses all $N equal to its originals"

# ---- msgpack ----
$IO mp-gen "$T" $N || fail "mp-gen"
cat >"$T/m.conf" <<CONF
inputs = ( { type = "file"; path = "$T/records.mp"; framing = "u32be"; codec = "msgpack"; } );
outputs = ( { type = "file"; path = "$T/records.back.mp"; append = false; framing = "u32be";
              codec = "msgpack"; },
            { type = "file"; path = "$T/records.jsonl"; append = false; codec = "json"; } );
CONF
run m
$IO json-equal "$T/records.expect.jsonl" "$T/records.jsonl" || fail "msgpack records"
pass "$N python-msgpack records (ext, bin, float 32, uint64, int keys) decode as documented"
$IO mp-check "$T" "$T/records.back.mp" || fail "msgpack -> msgpack"
pass "msgpack -> record -> msgpack: python unpacks all $N as documented"
cat >"$T/j2m.conf" <<CONF
inputs = ( { type = "file"; path = "$T/records.jsonl"; codec = "json"; } );
outputs = ( { type = "stdout"; framing = "u32be"; codec = "msgpack"; } );
CONF
"$SLUICE" -c "$T/j2m.conf" >"$T/fromjson.mp" 2>"$T/j2m.log" || fail "j2m"
$IO mp-check-json "$T" "$T/fromjson.mp" || fail "JSON -> msgpack"
pass "JSON -> msgpack on stdout: python unpacks the JSON records"
cat >"$T/ev.conf" <<CONF
inputs = ( { type = "stdin"; framing = "u32be"; codec = { type = "msgpack"; format = "fluent"; }; } );
outputs = ( { type = "file"; path = "$T/events.back.mp"; append = false; framing = "u32be";
              codec = { type = "msgpack"; format = "fluent"; }; } );
CONF
"$SLUICE" -c "$T/ev.conf" <"$T/events.mp" 2>"$T/ev.log" || fail "events"
$IO events-check "$T" "$T/events.back.mp" || fail "fluent events"
pass "Fluent Bit events (EventTime, int time, [[time, metadata], record]) from stdin keep time and record"

# ---- framing failures: oversize frames are skipped in step, a truncated one and a
# bad header are dead-lettered with their offsets; a bad header stops the input ----
$PY - "$T" <<'PY'
import struct, sys
t = sys.argv[1]
good = lambda i: b'\x92\x01' + bytes([0xa0 | 3]) + b'%03d' % i  # [1, "NNN"]
def v(n):
    out = b''
    while n >= 0x80:
        out += bytes([n & 0x7f | 0x80]); n >>= 7
    return out + bytes([n])
with open(t + "/frames.u32", "wb") as f:
    f.write(struct.pack(">I", 6) + good(1))
    f.write(struct.pack(">I", 5000) + b'\x00' * 5000)   # over max_line: skipped
    f.write(struct.pack(">I", 6) + good(2))
    f.write(struct.pack(">I", 100) + b'\x93')          # truncated at the end
with open(t + "/frames.var", "wb") as f:
    f.write(v(6) + good(3) + b'\xff' * 11 + v(6) + good(4))  # a header that is not one
PY
cat >"$T/fr.conf" <<CONF
inputs = ( { type = "file"; path = "$T/frames.u32"; framing = "u32be"; max_line = 1000;
             codec = "msgpack"; } );
outputs = ( { type = "file"; path = "$T/fr.jsonl"; append = false; codec = "json"; } );
dead_letter = { type = "file"; path = "$T/fr.dlq"; append = false; codec = "envelope"; };
CONF
run fr
[ "$(cat "$T/fr.jsonl")" = $'[1,"001"]\n[1,"002"]' ] || fail "frames around an oversize one were lost"
grep -q 'frame of 5000 bytes at offset 10 is over max_line (1000); skipped' "$T/fr.dlq" ||
  fail "no dead letter for the oversize frame"
grep -q 'truncated frame at offset 5024' "$T/fr.dlq" || fail "no dead letter for the truncated frame"
pass "u32be: an oversize frame is skipped in step, a truncated one dead-lettered, with offsets"
cat >"$T/bad.conf" <<CONF
inputs = ( { type = "file"; path = "$T/frames.var"; framing = "varint"; codec = "msgpack"; } );
outputs = ( { type = "file"; path = "$T/bad.jsonl"; append = false; codec = "json"; } );
dead_letter = { type = "file"; path = "$T/bad.dlq"; append = false; codec = "envelope"; };
CONF
rc=0
"$SLUICE" -c "$T/bad.conf" 2>"$T/bad.log" || rc=$?
[ $rc -eq 2 ] || fail "a bad frame header: exit $rc, want 2 (input failed)"
[ "$(cat "$T/bad.jsonl")" = '[1,"003"]' ] || fail "the frame before the bad header was lost"
grep -q 'bad frame header at offset 7; input stopped' "$T/bad.dlq" || fail "no dead letter for it"
pass "varint: a header that is not one is dead-lettered and stops the input (exit 2)"
cat >"$T/follow.conf" <<CONF
inputs = ( { type = "file"; path = "$T/frames.var"; framing = "varint"; follow = true; } );
outputs = ( { type = "null"; } );
CONF
"$SLUICE" -c "$T/follow.conf" --check 2>"$T/follow.log" && fail "follow with framing accepted"
grep -q 'follow.conf:1:.*follow reads lines only' "$T/follow.log" || { cat "$T/follow.log"; fail "no FILE:LINE error"; }
pass "--check refuses follow with a length-prefixed framing, naming FILE:LINE"
