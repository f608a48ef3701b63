#!/usr/bin/env bash
# /metrics histograms (batch sizes, time per stage batch, read-to-confirm
# latency per output, read-to-finished per input) parsed with the real Prometheus text parser
# (python3-prometheus-client) and checked against exact message counts;
# /readyz is 200 while the pipeline runs and 503 once it is draining.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3 # Debian's python has python3-prometheus-client
[ -x $PY ] || PY=python3
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkfifo "$T/fifo"
echo 'function process(m) if m.record.i % 10 == 0 then return nil end return m end' > "$T/drop.lua"
cat > "$T/m.conf" <<CONF
name = "hist";
queue = { batch_size = 64; };
inputs = ( { type = "file"; name = "in"; path = "$T/fifo"; codec = "json"; } );
handlers = ( { type = "lua"; name = "drop"; script = "$T/drop.lua"; workers = 2; } );
outputs = ( { type = "file"; name = "a"; path = "$T/a.txt"; codec = "json"; append = false; },
            { type = "null"; name = "b"; } );
metrics = { listen = "127.0.0.1:$port"; };
CONF
N=5000
"$SLUICE" -c "$T/m.conf" 2> "$T/log" &
pid=$!; PIDS+=($pid)
( for i in $(seq $N); do echo "{\"i\":$i}"; done; sleep 30 ) > "$T/fifo" &
PIDS+=($!)
for _ in $(seq 100); do
  [ -f "$T/a.txt" ] && [ "$(wc -l < "$T/a.txt")" -ge $((N * 9 / 10)) ] && break; sleep 0.1
done
sleep 0.3 # the last confirmations reach the counters once per batch
[ "$(curl -s -o /dev/null -w '%{http_code}' "127.0.0.1:$port/readyz")" = 200 ] || fail "/readyz not 200 while running"
curl -sf "127.0.0.1:$port/metrics" > "$T/metrics" || fail "scrape"
$PY - "$T/metrics" $N <<'PY' || fail "metrics"
import sys
from prometheus_client.parser import text_string_to_metric_families
n = int(sys.argv[2])
fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
def hist(name):
    out = {}
    for s in fams[name].samples:
        out.setdefault(s.labels["stage"], {}).setdefault(s.name, []).append(s)
    return out
bs = hist("sluice_batch_size")
kept = n - n // 10
want = {"in.decode": n, "drop": n, "a": kept, "b": kept}
for stage, msgs in want.items():
    sums = bs[stage]["sluice_batch_size_sum"][0].value
    assert sums == msgs, (stage, sums, msgs)        # every message ran in exactly one batch
    buckets = bs[stage]["sluice_batch_size_bucket"]
    cum = [b.value for b in buckets]
    assert cum == sorted(cum), cum                  # cumulative
    total = bs[stage]["sluice_batch_size_count"][0].value
    assert buckets[-1].labels["le"] == "+Inf" and cum[-1] == total, (cum[-1], total)
    over = [b for b in buckets if float(b.labels["le"]) >= 64]
    assert over[0].value == total, "a batch larger than batch_size 64"
    assert total >= msgs / 64, (stage, total)
st = hist("sluice_stage_seconds")
for stage in want:
    assert st[stage]["sluice_stage_seconds_count"][0].value == bs[stage]["sluice_batch_size_count"][0].value
lat = hist("sluice_delivery_latency_seconds")
assert set(lat) == {"a", "b"}, set(lat)             # outputs only
for stage in ("a", "b"):
    c = lat[stage]["sluice_delivery_latency_seconds_count"][0].value
    assert c == kept, (stage, c, kept)              # one per confirmed message
    s = lat[stage]["sluice_delivery_latency_seconds_sum"][0].value
    assert 0 <= s / c < 5, s / c
inp = hist("sluice_input_delivery_latency_seconds")
c = inp["in"]["sluice_input_delivery_latency_seconds_count"][0].value
assert c == n, (c, n)                               # every message read, dropped ones too
outs = {s.labels["stage"]: s.value for s in fams["sluice_messages_out"].samples}
assert outs["a"] == kept and outs["b"] == kept and outs["in"] == n, outs
print(f"{n} messages: batch sizes, stage times and {kept} latencies per output add up")
PY
kill -TERM $pid
code=$(curl -s -o /dev/null -w '%{http_code}' "127.0.0.1:$port/readyz" || true)
[ "$code" = 503 ] || [ "$code" = 000 ] || fail "/readyz is $code while draining (want 503, or gone)"
wait $pid || fail "exit after SIGTERM"
pass "histograms agree with exact counts (prometheus_client parser); /readyz 200 running, not 200 draining"
