#!/usr/bin/env bash
# bench/plot.sh turns benchmark output lines into an SVG bar chart: one bar
# per figure with a *_per_s field (a repeated name told apart by its first
# key, a key=value name shown as its bench and value), a KEY=VALUE line whose
# key ends in _per_s or _rps named after its bench, figures without a rate
# left out, the machine line naming the CPU as the subtitle.
source "$(dirname "$0")/lib.sh"
cat > "$T/bench.txt" <<'OUT'
== bench/core.sh
machine: 2 cpu, Test CPU @ 2.80GHz, Debian GNU/Linux 12 (bookworm)
generator_to_null msgs=20000000 msgs_per_s=12800000 peak_rss_kb=9000
json_file_to_file workers=1 records=2000000 records_per_s=1420000 mb_per_s=185.0 peak_rss_kb=30000 fraction_of_copy=0.280
json_file_to_file workers=2 records=2000000 records_per_s=1900000 mb_per_s=247.0 peak_rss_kb=31000 fraction_of_copy=0.330
json_rss_growth records_small=1 peak_rss_kb_small=2 records_big=3 peak_rss_kb_big=4
== bench/codecs.sh
codec=msgpack records=1000000 records_per_s=2500000 cpu_s=0.50
== bench/rabbitmq.sh
machine: 2 cpu, load 1.7
sluice_msgs_per_s=13280
== bench/lua.sh
lua.add_rps=1098901
lua.add_ratio=0.51
OUT
bash bench/plot.sh "$T/bench.txt" "$T/t.svg" > /dev/null || fail "plot.sh failed"
python3 - "$T/t.svg" <<'PY' || fail "svg content"
import sys, xml.etree.ElementTree as ET
svg = open(sys.argv[1]).read()
ET.fromstring(svg)                                    # well-formed
for label in ("generator to null", "json file to file", "json file to file (workers=2)",
              "12.8", "1.42", "1.9", "Test CPU", "codecs: msgpack", "2.5",
              "rabbitmq: sluice", "0.0133", "lua: add", "1.1"):
    assert label in svg, label
assert "rss growth" not in svg                        # no rate, no bar
assert "ratio" not in svg and "load 1.7" not in svg
PY
printf 'json_rss_growth records_small=1\n' > "$T/none.txt"
if bash bench/plot.sh "$T/none.txt" "$T/n.svg" 2> /dev/null; then fail "no figures should fail"; fi
pass "bench/plot.sh draws one bar per throughput figure"
