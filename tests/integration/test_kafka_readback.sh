#!/usr/bin/env bash
# The Kafka output's read-back (state_file): kafka -> dedup(state_file) -> kafka.
# A kill -9 after the broker appended a batch and before dedup logged its keys is
# played out exactly: dedup's state is removed (its log never got the keys) and the
# output's state file rewound (it had not moved yet), then the source sends
# everything again (a new consumer group). The output reads back what it wrote,
# finds each message's recovery mark and hands it to dedup: nothing is written
# twice. The same replay with the state file left at the end (no read-back) writes
# everything twice, which is what the read-back prevents. Also: the marks written
# (one per message, the dedup's cookie), a mark that came in with a message not
# passed on, a state file for another topic or not a state file (warned, nothing
# read back), state_file refused with a topic taken from the record, a broker down
# during the read-back (the start fails within readback_timeout_s), and real kills
# with three output workers.
. "${SLUICE_SOURCE_DIR:-.}/tests/tools/kafka_lib.sh"
kafka_setup
mock_start -b 1 -t in:2 -t out:2 -t in2:2 -t out2:2

N=500
awk -v n="$N" 'BEGIN { for (i = 1; i <= n; i++) printf "k%d\t{\"id\":%d}\n", i, i }' |
    kcat -b "$BROKERS" -P -t in -K '	' || fail "kcat produce"
# One more, carrying a mark of an upstream pipeline's: never to be passed on.
printf 'k0\t{"id":0}\n' |
    kcat -b "$BROKERS" -P -t in -K '	' -H "x-sluice-mark.dedup=ffffffffffffffff" || fail "kcat produce"
TOTAL=$((N + 1))

conf() { # GROUP
    cat >"$T/$1.conf" <<EOF
inputs = ( { type = "kafka"; brokers = "$BROKERS"; topics = [ "in" ]; group = "$1";
             exit_on_eof = true; codec = "json"; } );
handlers = ( { type = "dedup"; key = "record.id"; state_file = "$T/d.state"; } );
outputs = ( { type = "kafka"; brokers = "$BROKERS"; topic = "out"; codec = "json";
              state_file = "$T/out.state"; } );
EOF
}
run() { # GROUP: run to the end of the input
    conf "$1"
    timeout 60 "$SLUICE" -c "$T/$1.conf" 2>"$T/$1.log" || { tail -n 20 "$T/$1.log"; fail "run $1 exited $?"; }
}
forget_keys() { rm -f "$T/d.state" "$T/d.state.log"; }

run g1
[ "$(topic_count out)" = "$TOTAL" ] || fail "run 1: $(topic_count out) messages in out, want $TOTAL"
kcat -b "$BROKERS" -C -t out -e -q -f '%h\n' >"$T/headers" || fail "kcat consume"
marks=$(grep -Eoc 'x-sluice-mark\.dedup=[0-9a-f]{16}(,|$)' "$T/headers")
[ "$marks" = "$TOTAL" ] || fail "$marks of $TOTAL messages carry a mark: $(head -n 2 "$T/headers")"
! grep -q ffffffffffffffff "$T/headers" || fail "the mark that came in was passed on"
[ "$(sort -u "$T/headers" | wc -l)" = "$TOTAL" ] || fail "marks are not one per message"
head -n 1 "$T/out.state" | grep -qx 'sluice kafka read-back 1' || fail "state file: $(cat "$T/out.state")"
ends=$(awk 'NR > 2 { s += $2 } END { print s }' "$T/out.state")
[ "$ends" = "$TOTAL" ] || fail "state file does not end at the topic's end: $(cat "$T/out.state")"
echo "ok: run 1 wrote $TOTAL messages, each with its mark; the state file is at the end"

# The kill, played out: keys never logged, the state file not yet moved.
forget_keys
printf 'sluice kafka read-back 1\ntopic out\n0 0\n1 0\n' >"$T/out.state"
run g2
[ "$(topic_count out)" = "$TOTAL" ] ||
    fail "replay after read-back wrote $(($(topic_count out) - TOTAL)) messages again (want 0)"
grep -q "read back $TOTAL messages of out written before the restart: $TOTAL recovery marks" "$T/g2.log" ||
    fail "no read-back line: $(grep -i kafka "$T/g2.log" | head -n 5)"
grep -q "$TOTAL keys read back from an output" "$T/g2.log" || fail "dedup did not take the keys"
echo "ok: replayed after a read-back of $TOTAL messages: nothing written twice"

# The same replay without a read-back (the state file at the end): all twice.
forget_keys
run g3
[ "$(topic_count out)" = "$((2 * TOTAL))" ] ||
    fail "replay without read-back: $(topic_count out) messages in out, want $((2 * TOTAL))"
echo "ok: the same replay without the read-back writes all $TOTAL again"

# A state file for another topic, and one that is not a state file: warned,
# nothing read back, the run goes on (and leaves a good file behind).
printf 'sluice kafka read-back 1\ntopic other\n0 0\n' >"$T/out.state"
run g4
grep -q "state_file $T/out.state is for topic other, not out: nothing read back" "$T/g4.log" ||
    fail "other topic not warned: $(grep -i state "$T/g4.log")"
echo "garbage" >"$T/out.state"
run g5
grep -q "not a Kafka output state file" "$T/g5.log" || fail "bad file not warned: $(grep -i state "$T/g5.log")"
head -n 1 "$T/out.state" | grep -qx 'sluice kafka read-back 1' || fail "bad file not replaced"
echo "ok: a state file for another topic or not one is warned about and replaced"

# The read-back reads the topic it writes: a topic from the record cannot be read back.
cat >"$T/dyn.conf" <<EOF
inputs = ( { type = "kafka"; brokers = "$BROKERS"; topics = [ "in" ]; group = "g6"; } );
outputs = ( { type = "kafka"; brokers = "$BROKERS"; topic = "record.t"; default_topic = "out";
              codec = "json"; state_file = "$T/dyn.state"; } );
EOF
"$SLUICE" --check -c "$T/dyn.conf" 2>"$T/dyn.err" && fail "--check accepted state_file with a record topic"
grep -q "state_file needs a static topic" "$T/dyn.err" || fail "dyn: $(cat "$T/dyn.err")"
echo "ok: state_file with a topic from the record is refused at --check"

# A broker that does not answer during the read-back: the start fails, naming the
# topic, within readback_timeout_s, rather than run without it.
cat >"$T/down.conf" <<EOF2
inputs = ( { type = "kafka"; brokers = "$BROKERS"; topics = [ "in" ]; group = "g7"; } );
handlers = ( { type = "dedup"; key = "key"; } );
outputs = ( { type = "kafka"; brokers = "127.0.0.1:1"; topic = "out"; state_file = "$T/down.state";
              readback_timeout_s = 2; } );
EOF2
start=$SECONDS
timeout 30 "$SLUICE" -c "$T/down.conf" 2>"$T/down.log"
rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "down broker: exit $rc: $(tail -n 3 "$T/down.log")"
[ $((SECONDS - start)) -le 10 ] || fail "down broker: took $((SECONDS - start)) s"
grep -q "kafka read-back: cannot learn the partitions of out" "$T/down.log" || fail "down: $(tail -n 3 "$T/down.log")"
[ ! -e "$T/down.state" ] || fail "down broker: a state file was written"
echo "ok: a broker down during the read-back fails the start (exit $rc) in $((SECONDS - start)) s"

# The real thing with three output workers (each with its own producer, the file
# taking the least of their positions, a rule test_kafka_positions checks step by
# step): kill -9 twice mid-stream on a slow broker, then a run to the end: every id
# once.
M=4000
mock_cmd "rtt 1 50"
awk -v n="$M" 'BEGIN { for (i = 1; i <= n; i++) printf "k%d\t{\"id\":%d}\n", i, i }' |
    kcat -b "$BROKERS" -P -t in2 -K '	' -X batch.num.messages=20 || fail "kcat produce"
cat >"$T/w3.conf" <<EOF2
queue = { capacity = 8; batch_size = 64; };
inputs = ( { type = "kafka"; brokers = "$BROKERS"; topics = [ "in2" ]; group = "w3";
             exit_on_eof = true; codec = "json"; commit_interval_ms = 200;
             properties = [ "session.timeout.ms=6000", "heartbeat.interval.ms=500",
                            "fetch.message.max.bytes=4096" ]; } );
handlers = ( { type = "dedup"; key = "record.id"; state_file = "$T/w3.dedup"; } );
outputs = ( { type = "kafka"; brokers = "$BROKERS"; topic = "out2"; codec = "json"; workers = 3;
              state_file = "$T/w3.state"; } );
EOF2
. "$SRC/tests/tools/soak_lib.sh"
soak_started() { bg_track "$1"; }
exec 3>&1
KILLS=2 KILL_MAX_MS=1000
kill_loop "$T/w3.conf" "$T/w3.log" topic_count out2
kcat -b "$BROKERS" -C -t out2 -e -q -f '%s\n' >"$T/w3.jsonl" || fail "kcat consume"
check "$(count "three output workers, $KILLED of $KILLS kills" "$M" "$T/w3.jsonl")" 0
# every start after the first read back (there was a state file by then)
starts=$(grep -c "pipeline '.*' started" "$T/w3.log")
grep -c "recovery marks" "$T/w3.log" | grep -qx $((starts - 1)) ||
    fail "w3: $(grep -c 'recovery marks' "$T/w3.log") read-backs in $starts starts"
echo "ok: three output workers, two kills: every id once ($(grep -o 'read back [0-9]* messages' "$T/w3.log" | tr '\n' ' '))"
