#!/usr/bin/env bash
# Every run counter equals what happened, and says the same in the three
# places that show it: the final --stats line, the end-of-run summary and
# /metrics (parsed with prometheus_client's own text parser, every family
# checked). A Lua handler drops, replaces, splits in three and fails known
# messages; replaced and split ones are not "dropped". Script counter names
# with a quote, a newline and a backslash stay valid exposition text.
source "$(dirname "$0")/lib.sh"

N=1000
seq 0 $((N - 1)) > "$T/in.txt"
cat > "$T/h.lua" <<'LUA'
function process(msg)
  local n = tonumber(msg.payload)
  if n % 10 == 1 then return nil end                                -- dropped
  if n % 10 == 2 then return { payload = "new" } end                 -- replaced
  if n % 10 == 3 then return { msg, { payload = "a" }, { payload = "b" } } end -- split in 3
  if n % 10 == 4 then error("boom") end                              -- fails twice
  sluice.counter('a"b\nc', 1)
  sluice.counter('back\\slash', 2)
  return msg
end
LUA
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$T/c.conf" <<CONF
name = "count\"ing";
metrics = { listen = "127.0.0.1:$port"; };
inputs = ( { type = "file"; name = "src"; path = "$T/in.txt"; follow = true; } );
handlers = ( { type = "lua"; name = "h"; script = "$T/h.lua";
               retry = { max_attempts = 2; backoff_ms = 0; }; } );
outputs = ( { type = "null"; name = "sink"; } );
dead_letter = { type = "null"; name = "dlq"; };
CONF
"$SLUICE" -c "$T/c.conf" --stats 0.2 2> "$T/log" &
pid=$!; PIDS+=($pid)
# wait until every message is through (follow = true keeps the run open)
for _ in $(seq 300); do
  curl -sf "127.0.0.1:$port/metrics" > "$T/m" 2>/dev/null &&
    grep -q '^sluice_messages_out_total{.*stage="dlq".*} 100$' "$T/m" &&
    grep -q '^sluice_messages_out_total{.*stage="sink".*} 1000$' "$T/m" && break
  sleep 0.1
done
sleep 0.3 # nothing more may move
curl -sf "127.0.0.1:$port/metrics" > "$T/m" || fail "no /metrics"
/usr/bin/python3 - "$T/m" <<'PY' || fail "/metrics does not match the run (above)"
import sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
fams = {f.name: f for f in text_string_to_metric_families(text)}
# stage -> family -> count, for 1000 lines: 100 dropped, 100 replaced,
# 100 split in 3, 100 failing (retried once, then dead-lettered), 600 passed
stages = {
    "src":  dict(messages_in=1000, messages_out=1000),
    "h":    dict(messages_in=1000, messages_out=1000, dead_lettered=100, dropped=100, retried=100),
    "sink": dict(messages_in=1000, messages_out=1000),
    "dlq":  dict(messages_in=100, messages_out=100),
}
per_stage = ["messages_in", "messages_out", "dead_lettered", "discarded", "dropped", "retried"]
want_fams = set("sluice_" + f for f in per_stage) | {
    "sluice_queue_fill_ratio", "sluice_in_flight", "sluice_unrouted", "sluice_pooled_messages",
    "sluice_script_counter",
    # histograms, checked against exact counts by test_ops_histograms.sh
    "sluice_batch_size", "sluice_stage_seconds", "sluice_delivery_latency_seconds",
    "sluice_input_delivery_latency_seconds"}
bad = []
if set(fams) != want_fams:
    bad.append(f"families {sorted(set(fams) ^ want_fams)} unexpected or missing")
for f in per_stage:
    seen = {}
    for s in fams["sluice_" + f].samples:
        if s.labels["pipeline"] != 'count"ing':
            bad.append(f"{s.name}: pipeline label {s.labels['pipeline']!r}")
        seen[s.labels["stage"]] = s.value
    if set(seen) != set(stages):
        bad.append(f"{f}: stages {sorted(seen)}")
    for st, want in stages.items():
        if seen.get(st) != want.get(f, 0):
            bad.append(f"{f}{{stage={st}}} = {seen.get(st)}, want {want.get(f, 0)}")
for s in fams["sluice_queue_fill_ratio"].samples:
    if s.value != 0:
        bad.append(f"queue {s.labels['queue']} fill {s.value} after the run")
if len(fams["sluice_queue_fill_ratio"].samples) != 3:
    bad.append("queue_fill_ratio: want one per stage (h, sink, dlq)")
inf = [(s.labels["stage"], s.value) for s in fams["sluice_in_flight"].samples]
if inf != [("src", 0)]:
    bad.append(f"in_flight {inf}")
unr = [s.value for s in fams["sluice_unrouted"].samples]
if unr != [0]:
    bad.append(f"unrouted {unr}")
pooled = [s.value for s in fams["sluice_pooled_messages"].samples]
if len(pooled) != 1 or not 0 < pooled[0] <= 3000:
    bad.append(f"pooled_messages {pooled}")
ctr = {s.labels["name"]: (s.labels["stage"], s.value) for s in fams["sluice_script_counter"].samples}
if ctr != {'a"b\nc': ("h", 600), "back\\slash": ("h", 1200)}:
    bad.append(f"script counters {ctr}")
print("\n".join(bad) or "metrics ok")
sys.exit(1 if bad else 0)
PY
kill -TERM $pid
rc=0; wait $pid || rc=$?
[ $rc = 0 ] || { tail -5 "$T/log"; fail "exit $rc after SIGTERM"; }
grep -q "^stats: final in=1000 (.*) out=1000 (.*) dead_lettered=100 discarded=0 dropped=100 retried=100 unrouted=0 " "$T/log" ||
  { grep stats: "$T/log" | tail -2; fail "final --stats line"; }
grep -q "done in .*: 1000 in, 1000 out, 100 dead-lettered, 100 dropped, 0 unrouted, 0 discarded;" "$T/log" ||
  { tail -2 "$T/log"; fail "summary"; }
pass "exact counts in /metrics (every family), the final --stats line and the summary"

# The final --stats line gives the rate over the whole run: 3000 messages at
# 2000/s is about 2k/s (the last interval's count over the whole run, as it
# once was, is under 0.7k/s). The lower bound leaves room for a busy machine.
cat > "$T/r.conf" <<CONF
inputs = ( { type = "generator"; count = 3000; rate = 2000; } );
outputs = ( { type = "null"; } );
CONF
"$SLUICE" -c "$T/r.conf" --stats 0.4 2> "$T/log" || fail "rate run failed"
line=$(grep "^stats: final" "$T/log") || fail "no final stats line"
rate=$(sed -n 's/^stats: final in=3000 (\([0-9.]*k*\)\/s average).*/\1/p' <<< "$line")
python3 -c "import sys; r = '$rate'; v = float(r.rstrip('k')) * (1000 if r.endswith('k') else 1)
sys.exit(not 1000 <= v <= 2600)" || fail "final rate: $line"
pass "final --stats rate $rate/s for 2000/s"
