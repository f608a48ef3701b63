#!/usr/bin/env python3
"""Test data: gen_lines.py KIND COUNT [SEED] > file.
KIND lines: raw lines with empty lines, 60 KB lines, UTF-8 and tabs.
KIND json: JSON records of varied shape (ints, floats, nesting, unicode, null)."""
import json, random, sys

kind, count = sys.argv[1], int(sys.argv[2])
rnd = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 42)
out = sys.stdout.buffer
words = ["alpha", "βeta", "γάμμα", "日本語", "emoji 🚀", "tab\there", "quote\"d", "back\\slash", ""]

for i in range(count):
    if kind == "lines":
        r = i % 1000
        if r == 0:
            line = b""
        elif r == 1:
            line = ("x" * 61440).encode()
        elif r == 2:
            line = "\t".join(words).encode()
        else:
            line = f"{i}\t{words[i % len(words)]}\tsome text {rnd.random()}".encode()
        out.write(line + b"\n")
    else:
        rec = {"id": i, "name": words[i % len(words)], "score": rnd.random() * 100,
               "big": 2**62 + i, "neg": -i, "ok": i % 2 == 0, "none": None,
               "tags": [words[(i + k) % len(words)] for k in range(i % 4)],
               "nested": {"a": {"b": [1, 2.5, {"c": "d"}]}, "empty": {}, "list": []}}
        if i % 7 == 0:
            rec["float_int"] = 3.0
        out.write(json.dumps(rec, ensure_ascii=(i % 3 == 0), separators=(",", ":")).encode() + b"\n")
