#!/usr/bin/env python3
"""json_equal.py A B: every line of A and B parses to the same JSON value,
with ints and floats kept apart (1 and 1.0 differ). Exit 1 on the first
difference, naming the line."""
import json, sys

def typed(v):
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        return ("int", v)
    if isinstance(v, float):
        return ("float", v)
    if isinstance(v, list):
        return [typed(x) for x in v]
    return [(k, typed(x)) for k, x in v.items()]

with open(sys.argv[1], "rb") as a, open(sys.argv[2], "rb") as b:
    n = 0
    for n, (la, lb) in enumerate(zip(a, b), 1):
        if typed(json.loads(la)) != typed(json.loads(lb)):
            print(f"line {n} differs:\n  {la[:200]!r}\n  {lb[:200]!r}")
            sys.exit(1)
    rest = a.read() or b.read()
    if rest:
        print(f"line counts differ after line {n}")
        sys.exit(1)
print(f"{n} records equal")
