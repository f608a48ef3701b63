#!/usr/bin/env bash
# The example configs configs/file_to_kafka.conf, configs/kafka_to_file.conf,
# configs/kafka_to_kafka_lua.conf and configs/kafka_dedup.conf, run against the mock
# cluster (brokers and file paths substituted with sed; the configs default to
# 127.0.0.1:9092 without $KAFKA_BROKERS).
. "${SLUICE_SOURCE_DIR:-.}/tests/tools/kafka_lib.sh"
kafka_setup
mock_start -b 1 -t events:4 -t orders:4 -t orders-tagged:4 -t payments:4 -t payments-once:4
export KAFKA_BROKERS="$BROKERS" # what the configs read; the sed below changes only their default

N=2000
awk -v n=$N 'BEGIN { for (i = 1; i <= n; i++) printf "{\"id\":%d,\"msg\":\"event %d\"}\n", i, i }' \
    >"$T/events.jsonl"

# file -> kafka, keyed by record.id
conf_from configs/file_to_kafka.conf "$T/f2k.conf" -e "s#\"configs/data/events.jsonl\"#\"$T/events.jsonl\"#"
"$SLUICE" -c "$T/f2k.conf" --check >/dev/null 2>&1 || fail "file_to_kafka.conf --check"
timeout 60 "$SLUICE" -c "$T/f2k.conf" 2>"$T/f2k.log" || { tail "$T/f2k.log"; fail "file_to_kafka run"; }
kcat -b "$BROKERS" -C -t events -e -q -f '%k\t%s\n' >"$T/events.kafka"
[ "$(wc -l <"$T/events.kafka")" -eq $N ] || fail "events topic has $(wc -l <"$T/events.kafka")"
awk -F'\t' '$2 !~ "^\\{\"id\":" $1 "," { bad++ } END { exit bad > 0 }' "$T/events.kafka" ||
    fail "key is not record.id"
echo "file_to_kafka: ok"

# kafka -> file (exit_on_eof)
conf_from configs/kafka_to_file.conf "$T/k2f.conf" -e "s#\"events.jsonl\"#\"$T/archive.jsonl\"#"
timeout 60 "$SLUICE" -c "$T/k2f.conf" 2>"$T/k2f.log" || { tail "$T/k2f.log"; fail "kafka_to_file run"; }
LC_ALL=C sort "$T/events.jsonl" >"$T/a"
LC_ALL=C sort "$T/archive.jsonl" >"$T/b"
cmp -s "$T/a" "$T/b" || fail "archive differs from the events"
echo "kafka_to_file: ok"

# kafka -> lua -> kafka
conf_from configs/kafka_to_kafka_lua.conf "$T/k2k.conf" -e "s#\"kafka_dlq.jsonl\"#\"$T/dlq.jsonl\"#"
if [ ! -f "$SLUICE_PLUGIN_PATH/handler_lua.so" ]; then
    echo "SKIP kafka_to_kafka_lua run: handler_lua not built; checking the kafka parts only"
    sed -i -e '/^handlers = (/,/^);/d' "$T/k2k.conf"
    "$SLUICE" -c "$T/k2k.conf" --check || fail "kafka_to_kafka_lua.conf --check"
    exit 0
fi
"$SLUICE" -c "$T/k2k.conf" --check || fail "kafka_to_kafka_lua.conf --check"
head -n 500 "$T/events.kafka" | kcat -b "$BROKERS" -P -t orders -K '	' -H x-from=test || fail "produce"
sluice_bg lua "$T/k2k.conf"
wait_until 60 count_ge orders-tagged 500 || fail "only $(topic_count orders-tagged) tagged"
kill -TERM "$PID_lua"
wait "$PID_lua" || fail "kafka_to_kafka_lua exited $?"
kcat -b "$BROKERS" -C -t orders-tagged -e -q -f '%k\t%s\t%h\n' >"$T/tagged"
[ "$(wc -l <"$T/tagged")" -eq 500 ] || fail "tagged has $(wc -l <"$T/tagged")"
grep -vq '"tagged_by":"sluice"' "$T/tagged" && fail "a record was not tagged"
grep -vq 'x-from=test' "$T/tagged" && fail "input header lost"
grep -vq 'x-tagged=1' "$T/tagged" && fail "header set in Lua lost"
echo "kafka_to_kafka_lua: ok"

# kafka -> dedup -> kafka: each payment id once, each message with its recovery mark;
# run again after the offsets are gone (a new group): nothing passes twice.
conf_from configs/kafka_dedup.conf "$T/kd.conf" -e "s#\"payments.dedup\"#\"$T/payments.dedup\"#" \
    -e "s#\"payments-once.readback\"#\"$T/payments.readback\"#" -e "s#\"payments_dlq.jsonl\"#\"$T/pdlq.jsonl\"#" \
    -e 's#topics = \[ "payments" \]; group = "sluice-dedup";#topics = [ "payments" ]; group = "sluice-dedup"; exit_on_eof = true;#'
"$SLUICE" -c "$T/kd.conf" --check || fail "kafka_dedup.conf --check"
awk 'BEGIN { for (i = 1; i <= 300; i++) printf "k%d\t{\"payment_id\":\"p-%d\",\"amount\":%d}\n", i, (i - 1) % 200, i }' |
    kcat -b "$BROKERS" -P -t payments -K '	' || fail "produce"
timeout 60 "$SLUICE" -c "$T/kd.conf" 2>"$T/kd.log" || { tail "$T/kd.log"; fail "kafka_dedup run"; }
[ "$(topic_count payments-once)" = 200 ] || fail "payments-once has $(topic_count payments-once), wanted 200"
kcat -b "$BROKERS" -C -t payments-once -e -q -f '%h\n' | grep -c 'x-sluice-mark.dedup=' | grep -qx 200 ||
    fail "not every payment carries its recovery mark"
sed -i 's#group = "sluice-dedup";#group = "sluice-dedup-2";#' "$T/kd.conf"
timeout 60 "$SLUICE" -c "$T/kd.conf" 2>"$T/kd2.log" || { tail "$T/kd2.log"; fail "kafka_dedup run 2"; }
[ "$(topic_count payments-once)" = 200 ] || fail "run 2 wrote $(($(topic_count payments-once) - 200)) again"
echo "kafka_dedup: ok"
