#!/usr/bin/env bash
# Every log line about one message names its trace id, in each --log-format
# (text: " trace_id=HEX" at the end; json and logfmt: a trace_id field):
# a line that cannot be decoded, a Lua error (retried once, then
# dead-lettered), an output that refuses a message, and a script's
# sluice.log inside process(msg). Messages come with
# a traceparent (envelope codec), and the line names that trace id; the
# malformed one gets a new id, the one in its dead letter's x-sluice-trace-id.
. "${SLUICE_SOURCE_DIR:-.}/tests/integration/lib.sh"
BUILD=${SLUICE_BUILD_DIR:-build}
[ -f "$BUILD/tests/plugins/out_flaky.so" ] || fail "out_flaky.so not built in $BUILD/tests/plugins"

tp() { printf '{"payload":"{\\"n\\":%d}","traceparent":"00-%s-00f067aa0ba902b7-01"}\n' "$1" "$2"; }
T1=4bf92f3577b34da6a3ce929d0e0e4736
T2=0af7651916cd43dd8448eb211c80319c
T3=5b8efff798038103d269b633813fc60c
T4=ab42124a3c573678d4d8b21ba52df3bf
{ tp 1 $T1; tp 2 $T2; tp 3 $T3; echo 'not an envelope'; tp 4 $T4; } > "$T/in.jsonl"
cat > "$T/check.lua" <<'LUA'
function process(msg)
  if msg.record.n == 2 then error("n is two") end
  if msg.record.n == 4 then sluice.log("warn", "n is four") end
  return msg
end
LUA
cat > "$T/p.conf" <<CONF
plugin_path = [ "$BUILD/tests/plugins" ];
inputs = ( { type = "file"; name = "in"; path = "$T/in.jsonl";
             codec = { type = "envelope"; payload = "json"; }; } );
handlers = ( { type = "lua"; name = "check"; script = "$T/check.lua"; } );
outputs = ( { type = "flaky"; name = "out"; path = "$T/out.txt"; refuse_every = 2; } );
dead_letter = { type = "file"; name = "dlq"; path = "\$DLQ"; codec = "envelope"; };
retry = { max_attempts = 2; backoff_ms = 1; };
queue = { batch_size = 1; };
CONF
for fmt in text json logfmt; do
  sed "s|\$DLQ|$T/dlq.$fmt.jsonl|" "$T/p.conf" > "$T/$fmt.conf"
  "$SLUICE" -c "$T/$fmt.conf" --log-format $fmt 2> "$T/$fmt.log" || fail "$fmt run: $(cat "$T/$fmt.log")"
done
python3 - "$T" $T1 $T2 $T3 $T4 <<'PY' || fail "trace ids in the log lines"
import json, re, sys
t, t1, t2, t3, t4 = sys.argv[1:]
def logfmt(line):
    return {m.group(1): m.group(3) if m.group(3) is not None else m.group(2)
            for m in re.finditer(r'(\w+)=("((?:[^"\\]|\\.)*)"|\S*)', line)}
def text(line):
    m = re.match(r'\S+Z (\w+) ([^:]+): (.*?)(?: trace_id=([0-9a-f]{32}))?$', line)
    assert m, line
    r = {"level": m.group(1), "instance": m.group(2), "msg": m.group(3)}
    if m.group(4):
        r["trace_id"] = m.group(4)
    return r
for fmt, parse in (("text", text), ("json", json.loads), ("logfmt", logfmt)):
    recs = [parse(l) for l in open(f"{t}/{fmt}.log").read().splitlines()]
    dead = {d["payload"] if "payload" in d else d.get("payload_base64"): d
            for d in map(json.loads, open(f"{t}/dlq.{fmt}.jsonl"))}
    bad = dead["not an envelope"]["headers"]["x-sluice-trace-id"]
    assert bad not in (t1, t2, t3, t4) and re.fullmatch("[0-9a-f]{32}", bad), bad
    want = {  # what each line is about -> its instance, text, trace id, level
        "cannot decode": ("in.codec", "dead-lettered", bad, "warn"),
        "Lua error, retried": ("check", "(attempt 1 of 2), retrying: ", t2, "info"),
        "Lua error, given up": ("check", "dead-lettered: ", t2, "warn"),
        "output refused": ("out", "flaky: refused", t3, "warn"),
        "sluice.log": ("check", "n is four", t4, "warn"),
    }
    for what, (inst, text_in_msg, trace, level) in want.items():
        lines = [r for r in recs if r["instance"] == inst and text_in_msg in r["msg"]]
        assert len(lines) == 1, (fmt, what, lines, recs)
        assert lines[0].get("trace_id") == trace, (fmt, what, lines[0], trace)
        assert lines[0]["level"] == level, (fmt, what, lines[0])
    # the trace id is a field of its own, not in the message text
    assert not any(re.search("[0-9a-f]{32}", r["msg"]) for r in recs), fmt
    assert {r.get("trace_id") for r in recs} - {None} == {bad, t2, t3, t4}, fmt
    print(f"{fmt}: decode, Lua retry and error, output and sluice.log lines name their trace ids")
PY

# process_batch: sluice.log names the message given as its second argument.
cat > "$T/batch.lua" <<'LUA'
function process_batch(msgs)
  for _, m in ipairs(msgs) do
    if m.record.n == 4 then sluice.log("warn", m, "batch: n is", m.record.n) end
  end
  sluice.log("info", "batch of", #msgs)
  return msgs
end
LUA
sed -e "s|\$DLQ|$T/dlq.batch.jsonl|" -e "s|$T/check.lua|$T/batch.lua|" "$T/p.conf" > "$T/batch.conf"
"$SLUICE" -c "$T/batch.conf" 2> "$T/batch.log" || fail "process_batch run: $(cat "$T/batch.log")"
grep -q "warn check: batch: n is 4 trace_id=$T4\$" "$T/batch.log" ||
  { cat "$T/batch.log"; fail "process_batch: sluice.log(level, msg, ...) does not name msg's trace id"; }
grep "batch of" "$T/batch.log" | grep -q trace_id && fail "a line about no message names a trace id"
pass "process_batch: sluice.log(level, msg, ...) names that message's trace id"

pass "trace_id on every log line about a message, in text, json and logfmt"
