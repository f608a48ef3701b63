#!/usr/bin/python3
"""codec_interop.py - the other side of the codec interop tests: python3-protobuf and
python3-msgpack write messages for sluice to read, and read what sluice writes.

  codec_interop.py proto-gen DIR N      Orders (every feature of shop.proto) into DIR:
                                        orders.bin (varint-framed), orders.expect.jsonl
                                        (the records sluice must make of them, as JSON)
  codec_interop.py proto-check DIR FILE FILE (varint-framed, from sluice) parses to the
                                        Orders of proto-gen, in order, equal
  codec_interop.py mp-gen DIR N         records.mp (u32be-framed msgpack), records.expect.jsonl,
                                        events.mp (Fluent Bit events, EventTime)
  codec_interop.py mp-check DIR FILE    FILE (u32be msgpack from sluice) unpacks to the
                                        records msgpack itself wrote, as the mapping says
  codec_interop.py mp-check-json DIR FILE   the same for a file sluice encoded from JSON
  codec_interop.py events-check DIR FILE    Fluent events: times and records kept
  codec_interop.py json-equal A B       two JSON-lines files hold equal records
  codec_interop.py split FILE FMT OUT   one file per frame of FILE (varint or u32be) in OUT/
  codec_interop.py add-field A B KEY JSON   JSON lines A with KEY = JSON added to each
                                        record equal those of B (order ignored)
"""
import base64
import json
import os
import random
import struct
import subprocess
import sys

import msgpack

SRC = os.path.dirname(os.path.abspath(__file__)) + "/../.."


def frames(path, fmt):
    data = open(path, "rb").read()
    i, out = 0, []
    while i < len(data):
        if fmt == "u32be":
            (n,) = struct.unpack(">I", data[i:i + 4])
            i += 4
        else:
            n, shift = 0, 0
            while True:
                b = data[i]
                i += 1
                n |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
        out.append(data[i:i + n])
        i += n
    return out


def write_frames(path, msgs, fmt):
    with open(path, "wb") as f:
        for m in msgs:
            if fmt == "u32be":
                f.write(struct.pack(">I", len(m)))
            else:
                n = len(m)
                while n >= 0x80:
                    f.write(bytes([n & 0x7F | 0x80]))
                    n >>= 7
                f.write(bytes([n]))
            f.write(m)


# ---- protobuf ----

def proto_modules(d):
    subprocess.check_call(["protoc", "--python_out=" + d, "-I" + SRC + "/tests/data/proto",
                           "shop.proto", "common.proto"])
    sys.path.insert(0, d)
    import shop_pb2
    return shop_pb2


def make_order(pb, r, i):
    o = pb.Order()
    o.i32 = r.randint(-2**31, 2**31 - 1)
    o.i64 = r.randint(-2**63, 2**63 - 1)
    o.u32 = r.randint(0, 2**32 - 1)
    o.u64 = r.choice([0, 1, 2**63 - 1, 2**63, 2**64 - 1, r.randint(0, 2**64 - 1)])
    o.s32 = r.randint(-2**31, 2**31 - 1)
    o.s64 = r.randint(-2**63, 2**63 - 1)
    o.f32 = r.randint(0, 2**32 - 1)
    o.f64 = r.randint(0, 2**64 - 1)
    o.sf32 = r.randint(-2**31, 2**31 - 1)
    o.sf64 = r.randint(-2**63, 2**63 - 1)
    o.fl = r.randint(-10**6, 10**6) / 8.0  # exact in a float
    o.db = r.random() * 10**r.randint(-5, 5)
    o.flag = r.random() < 0.5
    o.name = r.choice(["", "héllo", "日本語", "a\tb", "plain %d" % i])
    o.blob = bytes(r.randint(0, 255) for _ in range(r.randint(0, 8)))
    o.status = r.choice([0, 1, 2])
    if r.random() < 0.7:
        o.first_item.sku = "sku-%d" % i
        o.first_item.qty = r.randint(0, 5)
        if r.random() < 0.5:
            o.first_item.price.currency = "EUR"
            if r.random() < 0.5:
                o.first_item.price.units = r.randint(-5, 5)  # proto2 optional: 0 is present
            o.first_item.price.history.extend(r.randint(-3, 300) for _ in range(r.randint(0, 3)))
            o.first_item.price.deltas.extend(r.randint(-2**40, 2**40) for _ in range(r.randint(0, 2)))
            for k in range(r.randint(0, 2)):
                o.first_item.price.rates["r%d" % k] = r.randint(-1, 1)
    for k in range(r.randint(0, 3)):
        o.items.add(sku="i%d" % k, qty=k)
    o.packed_ints.extend(r.randint(-2**31, 2**31 - 1) for _ in range(r.randint(0, 4)))
    o.unpacked_ints.extend(r.randint(-5, 500) for _ in range(r.randint(0, 3)))
    o.tags.extend(r.choice(["x", "", "ü"]) for _ in range(r.randint(0, 3)))
    for k in range(r.randint(0, 3)):
        o.counts["k%d" % k] = r.randint(-2**63, 2**63 - 1)
    for k in range(r.randint(0, 2)):
        o.by_id[r.randint(-9, 9)].sku = "b%d" % k
    if r.random() < 0.5:
        o.flags[r.random() < 0.5] = "f"
    which = r.choice([None, "card", "voucher", "gift"])
    if which == "card":
        o.card = "4111"
    elif which == "voucher":
        o.voucher = r.randint(-3, 3)
    elif which == "gift":
        o.gift.sku = "g"
    if r.random() < 0.5:
        o.maybe = r.choice([0, 7])
    if r.random() < 0.5:
        o.maybe_text = r.choice(["", "t"])
    o.statuses.extend(r.choice([0, 1, 2, 9]) for _ in range(r.randint(0, 3)))
    o.ratios.extend(r.randint(-100, 100) / 4.0 for _ in range(r.randint(0, 2)))
    if r.random() < 0.2:
        o.parent.name = "parent"
        o.parent.parent.i32 = 1
    return o


def record(msg):
    """The record sluice's protobuf codec makes of msg, as its json codec writes it."""
    from google.protobuf.descriptor import FieldDescriptor as F
    out = {}
    for f in sorted(msg.DESCRIPTOR.fields, key=lambda f: f.number):
        v = getattr(msg, f.name)
        is_map = f.type == F.TYPE_MESSAGE and f.message_type.GetOptions().map_entry
        if is_map:
            vf = f.message_type.fields_by_name["value"]
            out[f.name] = {key_text(k): value(vf, v[k]) for k in v}
        elif f.label == F.LABEL_REPEATED:
            out[f.name] = [value(f, x) for x in v]
        elif (f.containing_oneof is not None or f.has_presence) and not msg.HasField(f.name):
            continue
        else:
            out[f.name] = value(f, v)
    return out


def key_text(k):
    return ("true" if k else "false") if isinstance(k, bool) else str(k)


def value(f, v):
    from google.protobuf.descriptor import FieldDescriptor as F
    if f.type == F.TYPE_MESSAGE:
        return record(v)
    if f.type == F.TYPE_ENUM:
        ev = f.enum_type.values_by_number.get(v)
        return ev.name if ev else v
    if f.type == F.TYPE_BYTES:
        return base64.b64encode(v).decode()
    if f.type in (F.TYPE_UINT64, F.TYPE_FIXED64) and v > 2**63 - 1:
        return str(v)
    return v


def proto_gen(d, n):
    pb = proto_modules(d)
    r = random.Random(7)
    orders = [make_order(pb, r, i) for i in range(n)]
    write_frames(d + "/orders.bin", [o.SerializeToString() for o in orders], "varint")
    with open(d + "/orders.expect.jsonl", "w") as f:
        for o in orders:
            f.write(json.dumps(record(o), ensure_ascii=False) + "\n")


def proto_check(d, path):
    pb = proto_modules(d)
    want = [pb.Order.FromString(m) for m in frames(d + "/orders.bin", "varint")]
    got = frames(path, "varint")
    if len(got) != len(want):
        sys.exit("proto-check: %d messages, want %d" % (len(got), len(want)))
    for i, (g, w) in enumerate(zip(got, want)):
        m = pb.Order.FromString(g)
        if m != w:
            sys.exit("proto-check: message %d differs:\n%s\nwant\n%s" % (i, m, w))


# ---- msgpack ----

def mp_records(n):
    r = random.Random(11)
    out = []
    for i in range(n):
        out.append({
            "i": i, "neg": -r.randint(0, 2**63), "u": r.choice([0, 127, 128, 2**32, 2**63 - 1]),
            "big": r.choice([2**63, 2**64 - 1]), "f": r.random(), "f32": 1.5, "s": "héllo %d" % i,
            "b": bytes(r.randint(0, 255) for _ in range(r.randint(0, 6))), "nil": None,
            "t": r.random() < 0.5, "a": [1, "x", [None, {}]], "m": {"k": {"deep": [1.25]}},
            7: "int key", "ext": msgpack.ExtType(r.randint(1, 127), b"\x01\x02"),
        })
    return out


def mp_expect(rec):
    """What sluice's record (then written as JSON) is for a msgpack record."""
    if isinstance(rec, dict):
        return {str(k): mp_expect(v) for k, v in rec.items()}
    if isinstance(rec, list):
        return [mp_expect(v) for v in rec]
    if isinstance(rec, bytes):
        return base64.b64encode(rec).decode()
    if isinstance(rec, msgpack.ExtType):
        return {"$ext": rec.code, "$data": base64.b64encode(rec.data).decode()}
    if isinstance(rec, int) and not isinstance(rec, bool) and rec > 2**63 - 1:
        return str(rec)
    return rec


def mp_back(rec):
    """What sluice writes back as msgpack for a msgpack record it read."""
    if isinstance(rec, dict):
        return {str(k): mp_back(v) for k, v in rec.items()}
    if isinstance(rec, list):
        return [mp_back(v) for v in rec]
    if isinstance(rec, int) and not isinstance(rec, bool) and rec > 2**63 - 1:
        return str(rec)
    return rec


def pack(rec):
    return msgpack.packb(rec, use_bin_type=True, strict_types=False)


def event_time(sec, nsec):
    return msgpack.ExtType(0, struct.pack(">II", sec, nsec))


def mp_gen(d, n):
    recs = mp_records(n)
    # "f32": 1.5 as a float 32 (python packs floats as float 64)
    f64, f32 = b"\xa3f32\xcb\x3f\xf8" + b"\x00" * 6, b"\xa3f32\xca\x3f\xc0\x00\x00"
    msgs = [pack(x).replace(f64, f32) for x in recs]
    assert all(f32 in m for m in msgs)
    write_frames(d + "/records.mp", msgs, "u32be")
    with open(d + "/records.expect.jsonl", "w") as f:
        for x in recs:
            f.write(json.dumps(mp_expect(x), ensure_ascii=False) + "\n")
    evs = [pack([event_time(1700000000 + i, i * 1000), {"log": "line %d" % i, "n": i}])
           for i in range(n)]
    evs += [pack([[1700000000, {"meta": 1}], {"v2": True}]), pack([1700000001, {"int": "time"}])]
    write_frames(d + "/events.mp", evs, "u32be")


def unpack(b):
    return msgpack.unpackb(b, raw=False, strict_map_key=False)


def mp_check(d, path):
    want = [mp_back(unpack(m)) for m in frames(d + "/records.mp", "u32be")]
    got = [unpack(m) for m in frames(path, "u32be")]
    if got != want:
        for i, (g, w) in enumerate(zip(got, want)):
            if g != w:
                sys.exit("mp-check: record %d differs:\n%r\nwant\n%r" % (i, g, w))
        sys.exit("mp-check: %d records, want %d" % (len(got), len(want)))


def mp_check_json(d, path):
    want = [json.loads(line) for line in open(d + "/records.expect.jsonl", encoding="utf-8")]
    got = [unpack(m) for m in frames(path, "u32be")]
    if got != want:
        sys.exit("mp-check-json: msgpack from JSON differs from the JSON records")


def events_check(d, path):
    want = [unpack(m) for m in frames(d + "/events.mp", "u32be")]
    got = [unpack(m) for m in frames(path, "u32be")]
    if len(got) != len(want):
        sys.exit("events-check: %d events, want %d" % (len(got), len(want)))
    for i, (g, w) in enumerate(zip(got, want)):
        t = w[0][0] if isinstance(w[0], list) else w[0]
        if not isinstance(t, msgpack.ExtType):
            t = event_time(t, 0)
        if g != [t, w[1]]:
            sys.exit("events-check: event %d is %r, want %r" % (i, g, [t, w[1]]))


def json_equal(a, b):
    la = [json.loads(x) for x in open(a, encoding="utf-8")]
    lb = [json.loads(x) for x in open(b, encoding="utf-8")]
    if la != lb:
        for i, (x, y) in enumerate(zip(la, lb)):
            if x != y:
                sys.exit("json-equal: line %d differs:\n%s\n%s" % (i + 1, x, y))
        sys.exit("json-equal: %d lines, want %d" % (len(lb), len(la)))


def split(path, fmt, out):
    for i, m in enumerate(frames(path, fmt)):
        open("%s/%06d.bin" % (out, i), "wb").write(m)


def add_field(a, b, key, val):
    want = []
    for line in open(a, encoding="utf-8"):
        r = json.loads(line)
        r[key] = json.loads(val)
        want.append(json.dumps(r, sort_keys=True))
    got = [json.dumps(json.loads(x), sort_keys=True) for x in open(b, encoding="utf-8")]
    if sorted(want) != sorted(got):
        sys.exit("add-field: %d records, want %d; first difference: %s" % (
            len(got), len(want), next((w for w in sorted(want) if w not in set(got)), None)))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"proto-gen": lambda: proto_gen(args[0], int(args[1])),
     "proto-check": lambda: proto_check(args[0], args[1]),
     "mp-gen": lambda: mp_gen(args[0], int(args[1])),
     "mp-check": lambda: mp_check(args[0], args[1]),
     "mp-check-json": lambda: mp_check_json(args[0], args[1]),
     "events-check": lambda: events_check(args[0], args[1]),
     "json-equal": lambda: json_equal(args[0], args[1]),
     "split": lambda: split(args[0], args[1], args[2]),
     "add-field": lambda: add_field(args[0], args[1], args[2], args[3])}[cmd]()
