#!/usr/bin/env bash
# Read-to-delivery latency in /metrics, parsed with python3-prometheus-client:
# per input (sluice_input_delivery_latency_seconds: read -> every matched
# output confirmed) and per output (sluice_delivery_latency_seconds: read ->
# this output confirmed). Two inputs (a FIFO read by the file input, which
# tracks acks, and the generator, which does not) feed a fast output; the
# file input's messages also go to an output that stalls 300 ms per batch
# (tests/plugins/out_flaky.c). Counts are exact per input and per output,
# and the stall shows: no observation of the slow output, or of the input
# whose messages wait for it, is below the 0.25 s bucket.
. "${SLUICE_SOURCE_DIR:-.}/tests/integration/lib.sh"
BUILD=${SLUICE_BUILD_DIR:-build}
[ -f "$BUILD/tests/plugins/out_flaky.so" ] || fail "out_flaky.so not built in $BUILD/tests/plugins"
PY=/usr/bin/python3 # Debian's python has python3-prometheus-client
[ -x $PY ] || PY=python3
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkfifo "$T/fifo"
N_LINES=300
N_GEN=200
cat > "$T/l.conf" <<CONF
name = "lat";
plugin_path = [ "$BUILD/tests/plugins" ];
queue = { batch_size = 64; };
inputs = ( { type = "file"; name = "lines"; path = "$T/fifo"; },
           { type = "generator"; name = "gen"; count = $N_GEN; payload = "g {seq}"; } );
outputs = ( { type = "null"; name = "fast"; },
            { type = "flaky"; name = "slow"; match = "lines"; path = "$T/slow.txt";
              stall_every = 1; stall_ms = 300; } );
metrics = { listen = "127.0.0.1:$port"; };
CONF
"$SLUICE" -c "$T/l.conf" 2> "$T/log" &
pid=$!; PIDS+=($pid)
( seq $N_LINES; sleep 30 ) > "$T/fifo" &
PIDS+=($!)
for _ in $(seq 150); do
  [ -f "$T/slow.txt" ] && [ "$(wc -l < "$T/slow.txt")" -ge $N_LINES ] && break; sleep 0.1
done
[ "$(wc -l < "$T/slow.txt")" -eq $N_LINES ] || fail "slow output has $(wc -l < "$T/slow.txt") lines"
sleep 0.3 # the last confirmations reach the inputs once per batch
curl -sf "127.0.0.1:$port/metrics" > "$T/metrics" || fail "scrape"
$PY - "$T/metrics" $N_LINES $N_GEN <<'PY' || fail "metrics: $(grep latency "$T/metrics" | grep -v bucket)"
import sys
from prometheus_client.parser import text_string_to_metric_families
n_lines, n_gen = int(sys.argv[2]), int(sys.argv[3])
fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
def hist(name):
    out = {}
    for s in fams[name].samples:
        h = out.setdefault(s.labels["stage"], {"kind": s.labels["kind"], "le": {}})
        if s.name.endswith("_bucket"):
            h["le"][s.labels["le"]] = s.value
        else:
            h[s.name.rsplit("_", 1)[1]] = s.value
    return out
inp = hist("sluice_input_delivery_latency_seconds")
out = hist("sluice_delivery_latency_seconds")
assert set(inp) == {"lines", "gen"} and {h["kind"] for h in inp.values()} == {"input"}, inp.keys()
assert inp["lines"]["count"] == n_lines, inp["lines"]["count"]  # one per message read
assert inp["gen"]["count"] == n_gen, inp["gen"]["count"]
assert out["fast"]["count"] == n_lines + n_gen, out["fast"]["count"]
assert out["slow"]["count"] == n_lines, out["slow"]["count"]
for h in list(inp.values()) + list(out.values()):
    assert h["le"]["+Inf"] == h["count"]
# the 300 ms stall: nothing at or below 0.25 s for the slow output, nor for
# the input whose messages each wait for it to confirm
assert out["slow"]["le"]["0.25"] == 0, out["slow"]["le"]
assert inp["lines"]["le"]["0.25"] == 0, inp["lines"]["le"]
assert out["slow"]["sum"] / n_lines >= 0.29, out["slow"]["sum"]
assert inp["lines"]["sum"] >= out["slow"]["sum"] - 0.01 * n_lines  # finished after slow confirmed
assert inp["gen"]["sum"] / n_gen < inp["lines"]["sum"] / n_lines
print(f"input latency: lines {inp['lines']['sum'] / n_lines:.3f} s, gen {inp['gen']['sum'] / n_gen:.4f} s mean")
PY
kill -TERM $pid
wait $pid || fail "exit after SIGTERM: $(tail -3 "$T/log")"
pass "read-to-delivery latency per input and per output: exact counts, the stalled output shows"
