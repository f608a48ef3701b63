#!/usr/bin/env bash
# kill -9 sluice twice mid-stream (kafka -> kafka); a restarted instance resumes from
# the committed offsets and every input message reaches the output at least once.
. "${SLUICE_SOURCE_DIR:-.}/tests/tools/kafka_lib.sh"
kafka_setup
mock_start -b 1 -t in:8 -t out:8

N=200000
gen_json $N 0 >"$T/in"
kcat -b "$BROKERS" -P -t in -K '	' -X batch.num.messages=50 <"$T/in" || fail "kcat produce"
[ "$(topic_count in)" = "$N" ] || fail "input topic incomplete"
# Slow the stream down (small fetches, slow broker) so the kills land mid-stream.
# A killed member stays in the group until its session times out (the restarted
# one waits for that rebalance): hence the short session.timeout.ms.
mock_cmd "rtt 1 40"

cat >"$T/c.conf" <<EOF
inputs = ( { type = "kafka"; name = "kin"; brokers = "$BROKERS"; topics = [ "in" ]; group = "t-crash";
             exit_on_eof = true; commit_interval_ms = 200;
             properties = [ "fetch.message.max.bytes=4096", "session.timeout.ms=6000",
                            "heartbeat.interval.ms=500" ]; } );
outputs = ( { type = "kafka"; name = "kout"; brokers = "$BROKERS"; topic = "out"; } );
EOF

out_count() { topic_count out; }
for round in 1 2; do
    before=$(out_count)
    sluice_bg run$round "$T/c.conf"
    pid=$(eval echo "\$PID_run$round")
    # Kill once this run has moved at least 15 k messages.
    wait_until 60 count_ge out $((before + 15000)) ||
        fail "round $round: no progress ($(out_count) in out); log: $(tail -n 5 "$T/run$round.log")"
    kill -0 "$pid" 2>/dev/null || fail "round $round: sluice ended before the kill"
    kill -9 "$pid"
    wait "$pid" 2>/dev/null
    now=$(out_count)
    [ "$now" -lt "$N" ] || fail "round $round: the stream was over before the kill"
    echo "round $round: killed with $now messages in out (at ${SECONDS}s)"
done

mock_cmd "rtt 1 0"
echo "final run from ${SECONDS}s"
timeout 120 "$SLUICE" -c "$T/c.conf" 2>"$T/final.log"
rc=$?
[ $rc -eq 0 ] || { tail -n 20 "$T/final.log"; fail "final run exited $rc"; }

echo "final run done at ${SECONDS}s"
kcat -b "$BROKERS" -C -t out -e -q -f '%k\t%s\n' >"$T/got" || fail "kcat consume"
total=$(wc -l <"$T/got")
LC_ALL=C sort -u "$T/got" >"$T/got.u"
LC_ALL=C sort -u "$T/in" >"$T/in.u"
missing=$(LC_ALL=C comm -23 "$T/in.u" "$T/got.u" | wc -l)
extra=$(LC_ALL=C comm -13 "$T/in.u" "$T/got.u" | wc -l)
[ "$missing" -eq 0 ] || fail "$missing input messages missing from the output"
[ "$extra" -eq 0 ] || fail "$extra output messages that were never input"
"$OFFSETS_BIN" "$BROKERS" t-crash in | grep -q '^total 0$' || fail "offsets not committed to the end"
echo "ok: $N messages, all delivered; $((total - N)) redelivered after the kills"
