#!/usr/bin/env bash
# --log-format text|json|logfmt: every line parses, names its instance (and
# for plugin lines its kind and plugin); a call site that floods is cut to 20
# lines per 10 s and the rest are counted in one summary line.
source "$(dirname "$0")/lib.sh"

cat > "$T/chatty.lua" <<'LUA'
function process(msg)
  sluice.log("warn", "odd \"record\"\t= " .. msg.payload)
  if msg.payload == "7" then error("boom") end
  if msg.payload == "9" then sluice.log("info", "not utf-8: \255\254 ok") end
  return msg
end
LUA
cat > "$T/p.conf" <<CONF
inputs = ( { type = "generator"; name = "gen"; count = 100; payload = "{seq}"; } );
handlers = ( { type = "lua"; name = "chatty"; script = "$T/chatty.lua"; } );
outputs = ( { type = "null"; name = "sink"; } );
dead_letter = { type = "null"; name = "dlq"; };
CONF
for fmt in text json logfmt; do
  "$SLUICE" -c "$T/p.conf" --log-format $fmt 2> "$T/$fmt.log" || fail "$fmt run failed"
done
python3 - "$T" <<'PY' || fail "log lines"
import json, re, sys
t = sys.argv[1]
def logfmt(line):
    out = {}
    for m in re.finditer(r'(\w+)=("((?:[^"\\]|\\.)*)"|\S*)', line):
        v = m.group(3) if m.group(3) is not None else m.group(2)
        out[m.group(1)] = re.sub(r'\\(.)', lambda e: {"n": "\n", "t": "\t"}.get(e.group(1), e.group(1)), v)
    return out
def text(line):
    m = re.match(r'(\S+Z) (debug|info|warn|error) ([^:]+): (.*)$', line)
    assert m, line
    return {"ts": m.group(1), "level": m.group(2), "instance": m.group(3), "msg": m.group(4)}
for fmt, parse in (("text", text), ("json", json.loads), ("logfmt", logfmt)):
    raw = open(f"{t}/{fmt}.log", encoding="utf-8", errors="replace" if fmt == "text" else "strict")
    recs = [parse(l) for l in raw.read().splitlines()]
    for r in recs:
        assert {"ts", "level", "instance", "msg"} <= r.keys(), (fmt, r)
    chatty = [r for r in recs if r["instance"] == "chatty"]
    warns = [r for r in chatty if r["msg"].startswith('odd "record"\t= ')]
    assert len(warns) == 20, (fmt, len(warns))
    summary = [r for r in chatty if "more lines like this were suppressed" in r["msg"]]
    assert len(summary) == 1 and summary[0]["msg"].startswith("80 more lines"), (fmt, summary)
    failed = [r for r in recs if "boom" in r["msg"]]
    assert len(failed) == 1 and "dead-lettered" in failed[0]["msg"], (fmt, failed)
    if fmt != "text":
        assert any(r["msg"] == "not utf-8: \ufffd\ufffd ok" for r in chatty), fmt
        for r in chatty:
            assert r["kind"] == "handler" and r["plugin"] == "lua", (fmt, r)
        core = [r for r in recs if r["instance"] == "sluice"]
        assert core and all("plugin" not in r for r in core), (fmt, core)
PY
pass "text, json and logfmt lines parse, name their instance/kind/plugin; 80 of 100 repeats counted, not printed"

rc=0; "$SLUICE" -c "$T/p.conf" --log-format xml 2> "$T/err" || rc=$?
[ $rc = 1 ] && grep -q "unknown log format 'xml'" "$T/err" || fail "--log-format xml: exit $rc"
pass "an unknown --log-format is a usage error"
