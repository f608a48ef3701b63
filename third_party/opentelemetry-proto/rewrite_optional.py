#!/usr/bin/env python3
"""Copy a .proto from argv[1] to argv[2], rewriting proto3 `optional` fields
into the equivalent one-member oneof, which protoc-c 1.4 accepts:
    optional T name = N [opts];   ->   oneof _name { T name = N [opts]; }
Same wire format; presence is kept (the oneof case says whether it is set)."""
import re
import sys

FIELD = re.compile(r'^(\s*)optional\s+([\w.]+)\s+(\w+)\s*=\s*(\d+)(\s*\[[^\]]*\])?\s*;(.*)$')

with open(sys.argv[1]) as f:
    lines = f.read().split("\n")
out = []
for line in lines:
    m = FIELD.match(line)
    if m:
        indent, typ, name, num, opts, rest = m.groups()
        line = f"{indent}oneof _{name} {{ {typ} {name} = {num}{opts or ''}; }}{rest}"
    out.append(line)
with open(sys.argv[2], "w") as f:
    f.write("\n".join(out))
