#!/usr/bin/env bash
# Crash soak, rabbitmq -> dedup(state_file) -> kafka(state_file): a private RabbitMQ
# broker feeds the pipeline, librdkafka's mock cluster takes its output; sluice is
# killed with SIGKILL at random moments, restarted, and finally run until the queue
# is idle. Every id must be in the Kafka topic (lost 0), and only once (the output
# reads back what it wrote and dedup never heard of: see test_crash_soak.sh). Short
# form in make test (SOAK_KILLS=3), long form with make soak (20).
. "${SLUICE_SOURCE_DIR:-.}/tests/tools/rabbitmq_lib.sh"
rabbit_setup
KILLS=${SOAK_KILLS:-3}
K=${SOAK_RABBIT_MESSAGES:-10000}
IO=$BUILD/tests/tools/amqp_io
MOCK_BIN=$BUILD/tests/tools/kafka_mock
OFFSETS_BIN=$BUILD/tests/tools/kafka_offsets
[ -x "$IO" ] && [ -x "$MOCK_BIN" ] && [ -x "$OFFSETS_BIN" ] || fail "test tools not built in $BUILD/tests/tools"
SEED=${SOAK_SEED:-$$}
RANDOM=$SEED
exec 3>&1
. "$SRC/tests/tools/soak_lib.sh"
soak_started() { bg_track "$1"; }

broker_start
declare_queue src
mkfifo "$T/mock.ctl"
"$MOCK_BIN" -b 1 -t out:4 <"$T/mock.ctl" >"$T/mock.out" 2>"$T/mock.err" &
soak_started $!
exec 9>"$T/mock.ctl"
wait_until 5 test -s "$T/mock.out" || fail "kafka_mock did not start: $(cat "$T/mock.err")"
BROKERS=$(head -n 1 "$T/mock.out")
echo "rtt 1 50" >&9 # a slower broker (with a small prefetch below), so the kills land mid-stream
topic_total() { "$OFFSETS_BIN" "$BROKERS" - out 2>/dev/null | awk '$1 == "total" { print $2 }'; }

awk -v n="$K" 'BEGIN { for (i = 1; i <= n; i++) printf "body={\"id\":%d,\"name\":\"user-%d\"}\n", i, i }' |
    "$IO" publish "$URL" "" src || fail "publish"
cat >"$T/p.conf" <<CONF
queue = { capacity = 8; batch_size = 64; };
inputs = ( { type = "rabbitmq"; url = "$URL"; queue = "src"; codec = "json"; prefetch = 64;
             exit_when_idle_ms = 2000; } );
handlers = ( { type = "dedup"; key = "record.id"; state_file = "$T/dedup.state"; } );
outputs = ( { type = "kafka"; brokers = "$BROKERS"; topic = "out"; codec = "json";
              state_file = "$T/out.state"; } );
CONF
echo "soak: $KILLS kills, seed $SEED"
# Kills soon after progress, so they land mid-stream (a run drains the queue fast).
KILL_MAX_MS=150
kill_loop "$T/p.conf" "$T/run.log" topic_total
[ "$(queue_total src)" = "0" ] || fail "src still holds $(queue_total src) (not all acked)"
kcat -b "$BROKERS" -C -t out -e -q -f '%s\n' >"$T/out.jsonl" || fail "kcat consume"
check "$(count "rabbitmq -> dedup -> kafka, $KILLED of $KILLS kills" "$K" "$T/out.jsonl")" 0
