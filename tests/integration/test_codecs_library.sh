#!/usr/bin/env bash
# codec protobuf with `library =`: common.proto compiled by protoc-c into a shared library
# gives the same records as the descriptor set (proto2 required, optional presence, packed,
# a map), and what it encodes python3-protobuf parses equal to the originals.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
protoc-c --c_out="$T" -Itests/data/proto common.proto || fail "protoc-c"
cc -shared -fPIC -o "$T/libcommon_pb.so" "$T/common.pb-c.c" -I"$T" \
  $(pkg-config --cflags --libs libprotobuf-c) || fail "cc"
protoc --include_imports --descriptor_set_out="$T/common.desc" -Itests/data/proto common.proto ||
  fail "protoc"
protoc --python_out="$T" -Itests/data/proto common.proto || fail "protoc --python_out"
$PY - "$T" <<'PY' || fail "python"
import random, sys
sys.path.insert(0, sys.argv[1])
import common_pb2
r = random.Random(3)
with open(sys.argv[1] + "/money.bin", "wb") as f:
    for i in range(500):
        m = common_pb2.Money(currency=r.choice(["EUR", "USD", ""]))
        if r.random() < 0.5:
            m.units = r.randint(-5, 5)
        if r.random() < 0.5:
            m.nanos = r.randint(0, 999999999)
        m.history.extend(r.randint(-9, 300) for _ in range(r.randint(0, 3)))
        m.deltas.extend(r.randint(-2**40, 2**40) for _ in range(r.randint(0, 2)))
        for k in range(r.randint(0, 2)):
            m.rates["r%d" % k] = r.randint(-1, 1)
        b = m.SerializeToString()
        n = len(b)
        while n >= 0x80:
            f.write(bytes([n & 0x7f | 0x80])); n >>= 7
        f.write(bytes([n]) + b)
PY
for mode in desc lib; do
  if [ $mode = desc ]; then S="descriptor_set = \"$T/common.desc\";"; else S="library = \"$T/libcommon_pb.so\";"; fi
  cat >"$T/$mode.conf" <<CONF
inputs = ( { type = "file"; path = "$T/money.bin"; framing = "varint";
             codec = { type = "protobuf"; $S message = "common.v1.Money"; }; } );
outputs = ( { type = "file"; path = "$T/$mode.jsonl"; append = false; codec = "json"; },
            { type = "file"; path = "$T/$mode.bin"; append = false; framing = "varint";
              codec = { type = "protobuf"; $S message = "common.v1.Money"; }; } );
CONF
  "$SLUICE" -c "$T/$mode.conf" 2>"$T/$mode.log" || { cat "$T/$mode.log"; fail "$mode: sluice exited $?"; }
done
cmp "$T/desc.jsonl" "$T/lib.jsonl" || fail "records from the library differ from the descriptor set's"
cmp "$T/money.bin" "$T/lib.bin" || fail "the library's encoding differs from python's bytes"
[ "$(wc -l <"$T/lib.jsonl")" = 500 ] || fail "records missing"
pass "library = (protoc-c .so): 500 Money records equal to the descriptor set's, re-encoded byte for byte"
cat >"$T/bad.conf" <<CONF
inputs = ( { type = "file"; path = "$T/money.bin"; framing = "varint";
             codec = { type = "protobuf"; library = "$T/libcommon_pb.so"; message = "common.v1.Nope"; }; } );
outputs = ( { type = "null"; } );
CONF
"$SLUICE" -c "$T/bad.conf" --check 2>"$T/bad.log" && fail "--check accepted a message the library lacks"
grep -q 'bad.conf:2:.*has no message descriptor common__v1__nope__descriptor' "$T/bad.log" ||
  { cat "$T/bad.log"; fail "no FILE:LINE error naming the symbol"; }
pass "--check names the missing descriptor symbol with FILE:LINE"
