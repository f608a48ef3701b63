#!/usr/bin/env bash
# OpenTelemetry traces over OTLP/HTTP, received by tests/tools/otlp_receiver.py
# (python3-protobuf parsing the same vendored protos):
#  - sample = 0: only traces sampled upstream (traceparent flag 01) and
#    failures are exported; hop spans are children of the incoming
#    traceparent; Kafka partition/offset on every span; the dead letter
#    carries the trace id (header) as does its log line;
#  - sample = 0.25: exactly the trace ids below the ratio are exported;
#  - a collector that accepts connections and never answers does not slow
#    the pipeline: spans are dropped and counted, exit stays prompt;
#  - bad tracing settings fail --check with FILE:LINE.
. "${SLUICE_SOURCE_DIR:-.}/tests/tools/kafka_lib.sh"
kafka_setup
PY=/usr/bin/python3 # python3-protobuf lives in Debian's python
[ -x $PY ] || PY=python3
P="$SRC/third_party/opentelemetry-proto/opentelemetry/proto"
mkdir -p "$T/py"
protoc --python_out="$T/py" -I"$SRC/third_party/opentelemetry-proto" "$P/common/v1/common.proto" \
  "$P/resource/v1/resource.proto" "$P/trace/v1/trace.proto" \
  "$P/collector/trace/v1/trace_service.proto" || fail "protoc --python_out"
receiver() { # receiver NAME [--status CODE]: start one; sets PORT
  $PY "$SRC/tests/tools/otlp_receiver.py" "$T/py" "$T/$1.port" "$T/$1.spans" "${@:2}" \
    2> "$T/$1.err" &
  bg_track $!
  wait_until 10 test -s "$T/$1.port" || fail "receiver $1 did not start: $(cat "$T/$1.err")"
  PORT=$(cat "$T/$1.port")
}
wait_until() { local n=$(( $1 * 5 )); shift; for _ in $(seq $n); do "$@" && return 0; sleep 0.2; done; return 1; }

# --- 1. Kafka in, sample = 0: upstream-sampled traces and failures only.
mock_start -b 1 -t orders:2
: > "$T/in"
for i in $(seq 1 30); do
  tid=$(printf '%032x' $((0x5a000000 + i)))
  case $((i % 3)) in
    0) printf 'k%d\t{"id":%d}\ttraceparent=00-%s-%016x-01\n' $i $i "$tid" $((0xbeef00 + i)) ;;
    1) printf 'k%d\t{"id":%d}\ttraceparent=00-%s-%016x-00\n' $i $i "$tid" $((0xbeef00 + i)) ;;
    2) printf 'k%d\t{"id":%d}\t\n' $i $i ;;
  esac >> "$T/in"
done
printf 'bad1\tnot json\ttraceparent=00-%032x-%016x-00\n' $((0x5b000001)) $((0xcafe01)) >> "$T/in"
printf 'bad2\tnot json either\t\n' >> "$T/in"
while IFS=$'\t' read -r k v h; do
  if [ -n "$h" ]; then printf '%s\t%s\n' "$k" "$v" | kcat -b "$BROKERS" -P -t orders -K $'\t' -H "$h"
  else printf '%s\t%s\n' "$k" "$v" | kcat -b "$BROKERS" -P -t orders -K $'\t'; fi
done < "$T/in" || fail "produce"
receiver one
echo 'function process(m) return m end' > "$T/pass.lua"
cat > "$T/k.conf" <<CONF
name = "traced";
inputs = ( { type = "kafka"; name = "orders"; brokers = "$BROKERS"; topics = [ "orders" ];
             group = "g"; codec = "json"; exit_on_eof = true; } );
handlers = ( { type = "lua"; name = "pass"; script = "$T/pass.lua"; } );
outputs = ( { type = "file"; name = "out"; path = "$T/out.jsonl"; codec = "json"; append = false; } );
dead_letter = { type = "file"; name = "dlq"; path = "$T/dlq.jsonl"; codec = "envelope"; append = false; };
tracing = { endpoint = "http://127.0.0.1:$PORT/"; sample = 0.0;
            headers = [ "Authorization=Bearer t0ken" ]; service_name = "orders-svc"; };
CONF
timeout 60 "$SLUICE" -c "$T/k.conf" 2> "$T/k.log" || { cat "$T/k.log"; fail "traced kafka run"; }
grep -q "tracing: 34 spans exported, 0 dropped" "$T/k.log" || { cat "$T/k.log"; fail "span count in the log"; }
$PY - "$T" <<'PY' || fail "spans of the kafka run"
import json, sys
t = sys.argv[1]
spans = [json.loads(l) for l in open(f"{t}/one.spans")]
by_trace = {}
for s in spans:
    by_trace.setdefault(s["trace_id"], []).append(s)
# 10 sampled upstream: decode, handle, publish each; parent = their traceparent's span
sampled = {f"{0x5a000000 + i:032x}": f"{0xbeef00 + i:016x}" for i in range(3, 31, 3)}
for tid, parent in sampled.items():
    got = sorted(s["name"] for s in by_trace.pop(tid, []))
    assert got == ["decode orders", "handle pass", "publish out"], (tid, got)
for tid in sampled:
    pass
for s in spans:
    if s["trace_id"] in sampled:
        assert s["parent_span_id"] == sampled[s["trace_id"]], s
        assert s["status"] == 0 and s["attributes"]["sluice.route"] == "orders", s
        a = s["attributes"]
        assert a["sluice.source"] == "orders" and a["messaging.kafka.destination.partition"] in (0, 1), a
        assert a["messaging.kafka.message.offset"] >= 0, a
        assert s["resource"] == {"service.name": "orders-svc", "sluice.pipeline": "traced"}, s
        assert s["auth"] == "Bearer t0ken" and s["end"] >= s["start"] > 0, s
        assert s["kind"] == (4 if s["name"].startswith("publish") else 1), s   # PRODUCER / INTERNAL
# the two bad messages: the failed decode (ERROR) and the dead letter, whatever their sampling
assert len(by_trace) == 2, sorted(by_trace)
bad1 = by_trace.pop(f"{0x5b000001:032x}")
for group in (bad1, list(by_trace.values())[0]):
    names = sorted(s["name"] for s in group)
    assert names == ["dead-letter dlq", "decode orders"], names
    dec = [s for s in group if s["name"] == "decode orders"][0]
    assert dec["status"] == 2 and "json" in dec["status_message"], dec
    assert dec["attributes"]["error.message"] == dec["status_message"], dec
assert all(s["parent_span_id"] == f"{0xcafe01:016x}" for s in bad1), bad1
assert len(spans) == 34, len(spans)
# the trace id is on each dead letter and on its log line
dl = [json.loads(l) for l in open(f"{t}/dlq.jsonl")]
ids = {d["headers"]["x-sluice-trace-id"] for d in dl}
assert ids == {s["trace_id"] for s in spans if s["name"] == "dead-letter dlq"}, ids
log = open(f"{t}/k.log").read()
assert all(f"trace_id={i}" in log for i in ids), log
PY
echo "ok: sample 0: 10 upstream-sampled traces x 3 hops under their parents, 2 failures x 2 spans, trace ids on dead letters"

# --- 2. sample = 0.25 on a generator: exactly the trace ids below the ratio.
receiver two
cat > "$T/g.conf" <<CONF
inputs = ( { type = "generator"; count = 4000; } );
outputs = ( { type = "file"; name = "out"; path = "$T/g.out"; codec = "envelope"; append = false; } );
tracing = { endpoint = "http://127.0.0.1:$PORT"; sample = 0.25; };
CONF
"$SLUICE" -c "$T/g.conf" 2> "$T/g.log" || { cat "$T/g.log"; fail "generator run"; }
$PY - "$T" <<'PY' || fail "ratio sampling"
import json, sys
t = sys.argv[1]
all_ids = [json.loads(l)["traceparent"].split("-")[1] for l in open(f"{t}/g.out")]
want = {i for i in all_ids if int(i[16:], 16) < 0.25 * 2**64}
got = [json.loads(l) for l in open(f"{t}/two.spans")]
assert {s["trace_id"] for s in got} == want and len(got) == len(want), (len(got), len(want))
assert 800 < len(want) < 1200, len(want)
# what the output wrote downstream names the exported publish span
tp = {json.loads(l)["traceparent"].split("-")[1]: json.loads(l)["traceparent"].split("-")[2]
      for l in open(f"{t}/g.out")}
assert all(tp[s["trace_id"]] == s["span_id"] for s in got)
# and its sampled flag is the decision: 01 for the exported traces, 00 for the rest
flags = {json.loads(l)["traceparent"].split("-")[1]: json.loads(l)["traceparent"].split("-")[3]
         for l in open(f"{t}/g.out")}
assert all((flags[i] == "01") == (i in want) for i in all_ids)
print(f"{len(got)} of {len(all_ids)} traces kept at sample 0.25")
PY
echo "ok: sample 0.25: exactly the trace ids under the ratio are exported; outgoing traceparent names the publish span"

# --- 3. A collector that accepts and never answers does not slow the pipeline.
$PY - "$T/hole.port" <<'PY' &
import socket, sys, time, os
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1024)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1])); os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(120)
PY
bg_track $!
wait_until 10 test -s "$T/hole.port" || fail "black hole did not start"
cat > "$T/fast.conf" <<CONF
queue = { capacity = 4096; };
inputs = ( { type = "generator"; count = 400000; } );
handlers = ( { type = "lua"; script = "$T/pass.lua"; } );
outputs = ( { type = "null"; } );
CONF
cp "$T/fast.conf" "$T/hole.conf"
echo "tracing = { endpoint = \"http://127.0.0.1:$(cat "$T/hole.port")\"; sample = 1.0; timeout_ms = 10000; };" >> "$T/hole.conf"
run_secs() { # run_secs CONF: the pipeline's own "done in" time
  timeout 60 "$SLUICE" -c "$1" 2> "$T/run.log" || { tail -5 "$T/run.log"; fail "run $1 failed or took over 60 s"; }
  sed -n 's/.*done in \([0-9.]*\)s.*/\1/p' "$T/run.log"
}
plain=$(run_secs "$T/fast.conf")
start=$(date +%s.%N)
hole=$(run_secs "$T/hole.conf")
wall=$(echo "$(date +%s.%N) - $start" | bc)
grep -q "tracing: 0 spans exported, [1-9][0-9]* dropped" "$T/run.log" || { cat "$T/run.log"; fail "no dropped count"; }
echo "pipeline ${plain}s without tracing, ${hole}s with a dead collector (${wall}s wall with the bounded flush)"
[ "$(echo "$hole < $plain * 3 + 1" | bc)" = 1 ] || fail "a dead collector slowed the pipeline: ${hole}s vs ${plain}s"
[ "$(echo "$wall < $hole + 5" | bc)" = 1 ] || fail "exit waited on the dead collector: ${wall}s"
echo "ok: a collector that never answers: spans dropped and counted, pipeline not slowed, exit within the 3 s budget"

# --- 4. --check validates the tracing group.
check_err() { # check_err 'GROUP' REGEX
  printf 'inputs = ( { type = "stdin"; } );\noutputs = ( { type = "null"; } );\ntracing = %s;\n' "$1" > "$T/bad.conf"
  local rc=0; "$SLUICE" -c "$T/bad.conf" --check > /dev/null 2> "$T/err" || rc=$?
  [ $rc = 1 ] && grep -qE "^$T/bad.conf:3: tracing: $2" "$T/err" || fail "want /$2/ for $1, got ($rc): $(cat "$T/err")"
}
check_err '{ sample = 0.1; }' "'endpoint' is required"
check_err '{ endpoint = "127.0.0.1:4318"; }' "endpoint '127.0.0.1:4318' is not an http"
check_err '{ endpoint = "http://h:4318"; sample = 1.5; }' "'sample' must be a number from 0 to 1"
check_err '{ endpoint = "http://h:4318"; headers = [ "no equals" ]; }' "header 'no equals' is not"
check_err '{ endpoint = "http://h:4318"; bogus = 1; }' "unknown key 'bogus'"
check_err '{ endpoint = "http://h:4318"; queue_spans = 1; }' "'queue_spans' must be an integer from 64"
echo "ok: bad tracing settings fail --check as FILE:LINE"
