#!/usr/bin/env bash
# The broker is unreachable when sluice starts, and goes away again mid-run with
# messages in flight: sluice logs clear errors, keeps retrying, does not crash, and
# loses nothing once the broker is back.
. "${SLUICE_SOURCE_DIR:-.}/tests/tools/kafka_lib.sh"
kafka_setup
mock_start -b 1 -t in:4 -t out:4

N1=30000
gen_json $N1 1 >"$T/in"
kcat -b "$BROKERS" -P -t in -K '	' <"$T/in" || fail "kcat produce"

cat >"$T/d.conf" <<EOF
inputs = ( { type = "kafka"; name = "kin"; brokers = "$BROKERS"; topics = [ "in" ]; group = "t-down";
             properties = [ "fetch.message.max.bytes=4096" ]; } );
outputs = ( { type = "kafka"; name = "kout"; brokers = "$BROKERS"; topic = "out"; } );
EOF

# 1. Unreachable at start.
mock_cmd "down 0"
sluice_bg s "$T/d.conf"
sleep 4
kill -0 "$PID_s" 2>/dev/null || fail "sluice died while the broker was down: $(tail -n 5 "$T/s.log")"
grep -qiE 'refused|brokers are down|transport' "$T/s.log" ||
    fail "no clear error about the unreachable broker in the log"
[ "$(wc -l <"$T/s.log")" -lt 400 ] || fail "the log floods while the broker is down"
mock_cmd "up 0"
wait_until 60 count_ge out $N1 || fail "after up: $(topic_count out) of $N1"
echo "phase 1: $N1 delivered after the broker came up"

# 2. Broker goes away mid-run with messages in flight.
N2=60000
gen_json $N2 2 >"$T/in2"
# Small producer batches and a slow broker keep the stream going for a while
# (a fetch returns at least one whole batch, whatever its size limit).
kcat -b "$BROKERS" -P -t in -K '	' -X batch.num.messages=20 <"$T/in2" || fail "kcat produce"
mock_cmd "rtt 1 40"
wait_until 60 count_ge out $((N1 + 5000)) || fail "phase 2: no progress"
c=$(topic_count out)
mock_cmd "down 0"
[ "$c" -lt $((N1 + N2 - 5000)) ] || fail "phase 2: the stream was over before the outage"
echo "phase 2: broker down with $c of $((N1 + N2)) in out"
sleep 3
kill -0 "$PID_s" 2>/dev/null || fail "sluice died while the broker was down: $(tail -n 5 "$T/s.log")"
mock_cmd "rtt 1 0"
mock_cmd "up 0"
cat "$T/in2" >>"$T/in"
N=$((N1 + N2))
wait_until 90 count_ge out $N || fail "after the outage: $(topic_count out) of $N"

kill -TERM "$PID_s"
wait "$PID_s"
rc=$?
[ $rc -eq 0 ] || { tail -n 10 "$T/s.log"; fail "sluice exited $rc after SIGTERM"; }

kcat -b "$BROKERS" -C -t out -e -q -f '%k\t%s\n' >"$T/got" || fail "kcat consume"
LC_ALL=C sort -u "$T/got" >"$T/got.u"
LC_ALL=C sort -u "$T/in" >"$T/in.u"
missing=$(LC_ALL=C comm -23 "$T/in.u" "$T/got.u" | wc -l)
[ "$missing" -eq 0 ] || fail "$missing messages lost"
"$OFFSETS_BIN" "$BROKERS" t-down in | grep -q '^total 0$' || fail "offsets not committed to the end"
echo "ok: $N messages, none lost; $(($(wc -l <"$T/got") - N)) duplicates; errors logged:"
grep -iE 'refused|down|transport' "$T/s.log" | head -n 3
