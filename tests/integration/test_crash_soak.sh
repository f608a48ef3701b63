#!/usr/bin/env bash
# Crash soak: sluice is killed with SIGKILL at random moments, restarted, and finally
# run to the end; then every input id is looked for in the outputs (dead letters
# included). Prints, per pipeline, the kills and the lost and duplicated counts.
#   file -> dedup(state_file) -> flaky output (retries, stalls, refusals), with a
#           flaky dead-letter output, the input checkpointed (state_file)
#   file -> flaky output, checkpoint only (no dedup: duplicates expected, none lost)
#   kafka -> dedup(state_file) -> lua -> kafka(state_file) (librdkafka's mock cluster)
# rabbitmq -> kafka: tests/integration/test_crash_soak_rabbitmq.sh.
# Short form (make test): SOAK_KILLS=3. Long form: make soak (SOAK_KILLS=20).
# Lost must be 0 in every run, and with dedup + state_file no id may be written twice:
# the outputs keep the recovery marks of what they are writing (the Kafka output
# reads back what it wrote, the file outputs keep the batch's marks beside the file;
# docs/dedup.md), so what a kill left written but unheard of is handed to dedup on
# restart. The only ids allowed twice are those in the dead letters and in the
# output: a dead-lettered message's key is not committed, by design, so when the
# kill comes before the input's checkpoint moved past it, it is read again and
# delivered. The counts are printed.
. "${SLUICE_SOURCE_DIR:-.}/tests/tools/kafka_lib.sh"
kafka_setup
KILLS=${SOAK_KILLS:-3}
N=${SOAK_LINES:-30000}
PLUGINS=$BUILD/tests/plugins
[ -f "$PLUGINS/out_flaky.so" ] || fail "out_flaky.so not built in $PLUGINS"
SEED=${SOAK_SEED:-$$}
RANDOM=$SEED
exec 3>&1
echo "soak: $KILLS kills per pipeline, seed $SEED"

. "$SRC/tests/tools/soak_lib.sh"
soak_started() { bg_track "$1"; }

python3 -c "
import sys
with open(sys.argv[1], 'w') as f:
    for i in range(1, int(sys.argv[2]) + 1):
        f.write('{\"id\":%d,\"msg\":\"order accepted for customer %d\"}\n' % (i, i % 977))
" "$T/in.jsonl" "$N"

# 1. file -> dedup -> flaky output, flaky dead-letter output, checkpointed input.
cat >"$T/file.conf" <<CONF
plugin_path = [ "$PLUGINS" ];
queue = { capacity = 8; batch_size = 64; };
inputs = ( { type = "file"; path = "$T/in.jsonl"; codec = "json"; state_file = "$T/in.pos";
             checkpoint_ms = 100; } );
handlers = ( { type = "dedup"; key = "record.id"; state_file = "$T/dedup.state"; } );
outputs = ( { type = "flaky"; path = "$T/out.jsonl"; codec = "json"; fail_every = 97;
              refuse_every = 5000; stall_every = 10; stall_ms = 20; state_file = "$T/out.marks"; } );
dead_letter = { type = "flaky"; path = "$T/dlq.jsonl"; fail_every = 3; };
retry = { max_attempts = 3; backoff_ms = 1; max_backoff_ms = 5; };
CONF
kill_loop "$T/file.conf" "$T/file.log" lines_in "$T/out.jsonl" "$T/dlq.jsonl"
check "$(count "file -> dedup -> file, $KILLED of $KILLS kills" "$N" "$T/out.jsonl" "$T/dlq.jsonl")" two-files

# 2. The same without dedup: the checkpoint alone bounds what is read again.
sed -e '/^handlers/d' -e "s#$T/out.jsonl#$T/out2.jsonl#; s#$T/dlq.jsonl#$T/dlq2.jsonl#; s#$T/in.pos#$T/in2.pos#; s#$T/out.marks#$T/out2.marks#" \
    "$T/file.conf" >"$T/file2.conf"
kill_loop "$T/file2.conf" "$T/file2.log" lines_in "$T/out2.jsonl" "$T/dlq2.jsonl"
check "$(count "file -> file (checkpoint, no dedup), $KILLED of $KILLS kills" "$N" "$T/out2.jsonl" "$T/dlq2.jsonl")" $((KILLS * N))

# 3. kafka -> dedup -> lua -> kafka on the mock cluster.
K=${SOAK_KAFKA_MESSAGES:-10000}
mock_start -b 1 -t in:4 -t out:4
# A slower broker, and kills soon after progress, so they land mid-stream: a run
# that gets going reads the topic's end within a second.
mock_cmd "rtt 1 50"
KILL_MAX_MS=150
awk -v n="$K" 'BEGIN { for (i = 1; i <= n; i++) printf "k%d\t{\"id\":%d,\"name\":\"user-%d\"}\n", i, i, i }' |
    kcat -b "$BROKERS" -P -t in -K '	' -X batch.num.messages=20 || fail "kcat produce"
cat >"$T/kafka.conf" <<CONF
queue = { capacity = 8; batch_size = 64; };
# A killed member stays in the group until its session times out: keep it short.
inputs = ( { type = "kafka"; brokers = "$BROKERS"; topics = [ "in" ]; group = "soak";
             exit_on_eof = true; codec = "json"; commit_interval_ms = 200;
             properties = [ "session.timeout.ms=6000", "heartbeat.interval.ms=500",
                            "fetch.message.max.bytes=4096" ]; } );
handlers = ( { type = "dedup"; key = "record.id"; state_file = "$T/kdedup.state"; },
             { type = "lua"; script = "$SRC/lua/examples/kafka_tag.lua"; } );
outputs = ( { type = "kafka"; brokers = "$BROKERS"; topic = "out"; codec = "json";
              state_file = "$T/kout.state"; } );
CONF
kill_loop "$T/kafka.conf" "$T/kafka.log" topic_count out
kcat -b "$BROKERS" -C -t out -e -q -f '%s\n' >"$T/kout.jsonl" || fail "kcat consume"
check "$(count "kafka -> dedup -> lua -> kafka, $KILLED of $KILLS kills" "$K" "$T/kout.jsonl")" 0
