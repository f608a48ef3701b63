#!/usr/bin/env python3
"""gen_logs.py COUNT > file: ~110-byte JSON log records, the shape most
pipelines carry (timestamps, levels, short strings, a few numbers)."""
import random, sys

rnd = random.Random(1)
levels = ["info", "info", "info", "warn", "error", "debug"]
paths = ["/v1/orders", "/v1/users", "/healthz", "/v1/cart/items", "/login"]
out = sys.stdout
for i in range(int(sys.argv[1])):
    out.write('{"ts":"2026-11-25T10:%02d:%02d.%03dZ","level":"%s","svc":"api-%d","msg":"GET %s %d",'
              '"latency_ms":%.1f,"user":%d,"ok":%s}\n' % (
                  i // 60000 % 60, i // 1000 % 60, i % 1000, rnd.choice(levels), i % 7,
                  rnd.choice(paths), rnd.choice([200, 200, 201, 404, 500]),
                  rnd.random() * 250, rnd.randrange(1, 10**6), "true" if i % 5 else "false"))
