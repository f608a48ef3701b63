#!/usr/bin/env bash
# failure = "discard" | "stop" with no dead_letter: discard logs, counts and acknowledges
# (exit 0, the choice was made); stop ends the run with exit 2 and does not acknowledge
# the failed message, so a checkpointed file input resumes before it and delivers it
# once the handler is fixed; neither set: --check warns. A bad value is FILE:LINE.
. "${SLUICE_SOURCE_DIR:-.}/tests/integration/lib.sh"

seq 1 2000 >"$T/in"
cat >"$T/picky.lua" <<'LUA'
function process(msg)
  if msg.payload == "1500" then error("no 1500 please") end
  return msg
end
LUA
echo 'function process(msg) return msg end' >"$T/fixed.lua"
conf() { # failure-line script -> $T/p.conf
    cat >"$T/p.conf" <<CONF
$1
inputs = ( { type = "file"; path = "$T/in"; state_file = "$T/in.pos"; checkpoint_ms = 10; } );
handlers = ( { type = "lua"; script = "$2"; } );
outputs = ( { type = "file"; path = "$T/out"; } );
CONF
}

conf 'failure = "discard";' "$T/picky.lua"
"$SLUICE" -c "$T/p.conf" 2>"$T/discard.log" || { cat "$T/discard.log"; fail "discard: exit $?"; }
grep -q '1 discarded' "$T/discard.log" || { cat "$T/discard.log"; fail "discard: not counted"; }
[ "$(wc -l <"$T/out")" -eq 1999 ] && ! grep -qx 1500 "$T/out" || fail "discard: wrong output"
pass "failure = discard: logged, counted, acknowledged, exit 0"

rm -f "$T/out" "$T/in.pos"
conf 'failure = "stop";' "$T/picky.lua"
rc=0
"$SLUICE" -c "$T/p.conf" 2>"$T/stop.log" || rc=$?
[ $rc -eq 2 ] || { cat "$T/stop.log"; fail "stop: exit $rc, wanted 2"; }
grep -q 'failure = "stop": stopping the pipeline without acknowledging it' "$T/stop.log" ||
    { cat "$T/stop.log"; fail "stop: no log line"; }
grep -qx 1500 "$T/out" && fail "stop: the failed line was written"
offset=$(sed -n 's/.*offset=\([0-9]*\).*/\1/p' "$T/in.pos")
[ "$offset" -le "$(head -n 1499 "$T/in" | wc -c)" ] ||
    { cat "$T/in.pos"; fail "stop: the checkpoint went past the failed line"; }
# Fixed: the restart resumes before line 1500 and delivers it.
conf 'failure = "stop";' "$T/fixed.lua"
"$SLUICE" -c "$T/p.conf" 2>"$T/fixed.log" || { cat "$T/fixed.log"; fail "fixed run: exit $?"; }
[ "$(grep -cx 1500 "$T/out")" -eq 1 ] || fail "line 1500 not delivered once after the fix"
[ "$(sort -un "$T/out" | wc -l)" -eq 2000 ] || fail "lines missing after the fix"
pass "failure = stop: exit 2, not acknowledged (checkpoint before it), delivered after the fix"

conf '' "$T/picky.lua"
"$SLUICE" -c "$T/p.conf" --check 2>"$T/check.log" || { cat "$T/check.log"; fail "--check failed"; }
grep -q 'warning: no dead_letter and no failure' "$T/check.log" || { cat "$T/check.log"; fail "no --check warning"; }
conf 'failure = "discard";' "$T/picky.lua"
"$SLUICE" -c "$T/p.conf" --check 2>"$T/check2.log" || fail "--check failed"
grep -q 'warning' "$T/check2.log" && fail "--check warns although failure is set"
conf 'failure = "ignore";' "$T/picky.lua"
if "$SLUICE" -c "$T/p.conf" --check 2>"$T/check3.log"; then fail "--check accepted failure = ignore"; fi
grep -q "p.conf:1: failure must be \"discard\" or \"stop\"" "$T/check3.log" || { cat "$T/check3.log"; fail "no FILE:LINE"; }
pass "--check warns when neither dead_letter nor failure is set; a bad value is FILE:LINE"
