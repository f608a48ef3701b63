#!/usr/bin/env bash
# Faulty outputs (tests/plugins/out_flaky.c): an output that asks for a retry of
# every 7th write, refuses every 50th for good and stalls now and then, and a
# dead-letter output that fails every 3rd write. Every line still ends up exactly
# once in the output or the dead-letter file, and the run exits 0.
. "${SLUICE_SOURCE_DIR:-.}/tests/integration/lib.sh"
BUILD=${SLUICE_BUILD_DIR:-build}
[ -f "$BUILD/tests/plugins/out_flaky.so" ] || fail "out_flaky.so not built in $BUILD/tests/plugins"

seq 1 5000 | sed 's/^/line-/' >"$T/in"
cat >"$T/p.conf" <<CONF
plugin_path = [ "$BUILD/tests/plugins" ];
queue = { capacity = 4; batch_size = 16; };
inputs = ( { type = "file"; path = "$T/in"; } );
outputs = ( { type = "flaky"; path = "$T/out"; fail_every = 7; refuse_every = 50;
              stall_every = 40; stall_ms = 20; } );
dead_letter = { type = "flaky"; path = "$T/dlq"; fail_every = 3; };
retry = { max_attempts = 3; backoff_ms = 1; max_backoff_ms = 4; };
CONF
timeout 120 "$SLUICE" -c "$T/p.conf" --stats 1 2>"$T/log" || { tail "$T/log"; fail "sluice exited $?"; }
cat "$T/out" "$T/dlq" | sort >"$T/all"
lost=$(comm -23 <(sort "$T/in") <(sort -u "$T/all") | wc -l)
dups=$(uniq -d "$T/all" | wc -l)
echo "out $(wc -l <"$T/out"), dead-lettered $(wc -l <"$T/dlq"), lost $lost, duplicated $dups"
[ "$lost" -eq 0 ] || fail "$lost lines lost"
[ "$dups" -eq 0 ] || fail "$dups lines duplicated"
[ -s "$T/dlq" ] || fail "nothing was refused: the fault injection did not run"
pass "faulty output and faulty dead-letter output: nothing lost, nothing doubled"
