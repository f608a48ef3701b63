#!/usr/bin/env bash
# sluice --graph: the DOT names every stage with its workers, every queue with
# its capacity (rounded up to whole batches, one per worker when ordered), the
# routes and the dead-letter paths; Graphviz accepts it, names with quotes
# included; a bad config is still FILE:LINE and exit 1.
source "$(dirname "$0")/lib.sh"

: > "$T/in.jsonl" # --check and --graph need a file input's file to exist
cat > "$T/g.conf" <<CONF
name = "fan\"out";
queue = { capacity = 1000; batch_size = 300; };
inputs = (
  { type = "file"; name = "orders"; path = "$T/in.jsonl"; codec = "json"; decode_workers = 3; },
  { type = "generator"; name = "synthetic"; count = 10; }
);
handlers = (
  { type = "lua"; name = "enrich"; script = "lua/quickstart.lua"; workers = 2; ordered = true; },
  { type = "lua"; name = "tag"; script = "lua/quickstart.lua"; }
);
outputs = (
  { type = "file"; name = "ar\"chive"; path = "$T/a"; codec = "json"; match = "orders*";
    batch = { size = 64; }; workers = 2; },
  { type = "stdout"; name = "console"; }
);
dead_letter = { type = "file"; name = "dlq"; path = "$T/dlq"; codec = "envelope"; };
CONF
"$SLUICE" -c "$T/g.conf" --graph > "$T/g.dot" || fail "--graph failed"
dot -Tsvg "$T/g.dot" > "$T/g.svg" || fail "dot -Tsvg rejected the graph"
grep -q "<svg" "$T/g.svg" || fail "no SVG"
dot -Tjson0 "$T/g.dot" > "$T/g.json" || fail "dot -Tjson0"
python3 - "$T/g.json" <<'PY' || fail "graph content"
import json, sys
g = json.load(open(sys.argv[1]))
assert g["name"] == 'fan"out', g["name"]
nodes = {o["_gvid"]: o for o in g["objects"]}
label = {o["name"]: o.get("label", "") for o in g["objects"]}
edges = {(nodes[e["tail"]]["name"], nodes[e["head"]]["name"]): e for e in g["edges"]}
def lines(n): return label[n].split("\\n")
want_nodes = {
    "input:orders": ["orders", "input file", "1 worker"],
    "decode:orders": ["orders", "decode json", "3 workers"],
    "input:synthetic": ["synthetic", "input generator | lines", "1 worker"],
    "handler:enrich": ["enrich", "handler lua", "2 workers, ordered by key"],
    "handler:tag": ["tag", "handler lua", "1 worker"],
    'output:ar"chive': ['ar"chive', "output file | json", "2 workers"],
    "output:console": ["console", "output stdout | lines", "1 worker"],
    "dead_letter:dlq": ["dlq", "dead_letter file | envelope", "1 worker"],
}
for n, want in want_nodes.items():
    assert n in label, f"no node {n}: {sorted(label)}"
    assert lines(n) == want, (n, lines(n))
def edge_label(a, b):
    assert (a, b) in edges, f"no edge {a} -> {b}"
    return edges[(a, b)].get("label", "").replace("\\n", " | ")
# capacity 1000 in batches of 300 -> 4 slots = 1200 messages per queue
x = edge_label("input:orders", "decode:orders"); assert x == "1200 msgs (4 x 300)", x
assert edge_label("decode:orders", "handler:enrich") == "per worker: 1200 msgs (4 x 300)"
assert edge_label("input:synthetic", "handler:enrich") == "per worker: 1200 msgs (4 x 300)"
assert edge_label("handler:enrich", "handler:tag") == "1200 msgs (4 x 300)"
assert ("handler:tag", "route:route") in edges
assert edge_label("route:route", 'output:ar"chive') == 'match "orders*" | 1024 msgs (16 x 64)'
assert edge_label("route:route", "output:console") == 'match "*" | 1200 msgs (4 x 300)'
failing = sorted(a for (a, b), e in edges.items() if b == "dead_letter:dlq" and e.get("style") == "dashed")
assert failing == sorted(["input:orders", "decode:orders", "input:synthetic", "handler:enrich",
                          "handler:tag", 'output:ar"chive', "output:console"]), failing
assert len(edges) == 7 + 7 + 1, len(edges)   # flow, dead-letter paths, the queue note
PY
pass "--graph: stages, workers, queue capacities, routes and dead-letter paths; dot accepts it"

# The pictured example pipeline renders, and a broken config fails as with --check.
"$SLUICE" -c docs/pipeline.conf --graph | dot -Tsvg > /dev/null || fail "docs/pipeline.conf does not render"
printf 'inputs = ( { type = "file"; path = "x"; bogus = 1; } );\noutputs = ( { type = "null"; } );\n' > "$T/bad.conf"
rc=0; "$SLUICE" -c "$T/bad.conf" --graph > "$T/out" 2> "$T/err" || rc=$?
[ $rc = 1 ] || fail "--graph on a bad config: exit $rc (want 1)"
grep -q "^$T/bad.conf:1: unknown option 'bogus'" "$T/err" || { cat "$T/err"; fail "no FILE:LINE error"; }
[ ! -s "$T/out" ] || fail "--graph printed a graph for a bad config"
pass "--graph on a bad config: FILE:LINE, exit 1, no graph"
