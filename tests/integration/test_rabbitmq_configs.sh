#!/usr/bin/env bash
# The example configs configs/file_to_rabbitmq.conf, configs/kafka_to_rabbitmq.conf
# and configs/rabbitmq_to_kafka_lua.conf, against a private broker and the
# Kafka mock cluster ($RABBITMQ_URL and $KAFKA_BROKERS are what they read; file
# paths substituted with sed).
. "${SLUICE_SOURCE_DIR:-.}/tests/tools/kafka_lib.sh"
. "${SLUICE_SOURCE_DIR:-.}/tests/tools/rabbitmq_lib.sh"
kafka_setup
rabbit_setup
trap 'rabbit_cleanup; kafka_cleanup' EXIT
IO=$BUILD/tests/tools/amqp_io
[ -x "$IO" ] || fail "no amqp_io at $IO"
mock_start -b 1 -t events:4 -t orders-tagged:4
broker_start
export KAFKA_BROKERS="$BROKERS" RABBITMQ_URL="$URL/"

N=2000
awk -v n=$N 'BEGIN { for (i = 1; i <= n; i++) printf "{\"id\":%d,\"kind\":\"k%d\",\"msg\":\"event %d\"}\n", i, i % 3, i }' \
    >"$T/events.jsonl"
bodies() { sed 's/.*body=//' | LC_ALL=C sort; }

# file -> rabbitmq
sed -e "s#\"configs/data/events.jsonl\"#\"$T/events.jsonl\"#" configs/file_to_rabbitmq.conf >"$T/f2r.conf"
"$SLUICE" -c "$T/f2r.conf" --check >/dev/null || fail "file_to_rabbitmq.conf --check"
timeout 60 "$SLUICE" -c "$T/f2r.conf" 2>"$T/f2r.log" || { tail "$T/f2r.log"; fail "file_to_rabbitmq run"; }
"$IO" dump "$URL" events $N >"$T/f2r.got" || fail "queue events: $(wc -l <"$T/f2r.got") messages"
bodies <"$T/f2r.got" | cmp -s - <(LC_ALL=C sort "$T/events.jsonl") || fail "file_to_rabbitmq: bodies differ"
grep -vq "content_type=application/json	delivery_mode=2" "$T/f2r.got" && fail "content_type or persistence missing"
echo "file_to_rabbitmq: ok"

# kafka -> rabbitmq (exit_on_eof), routed by record.kind through a topic exchange
kcat -b "$BROKERS" -P -t events <"$T/events.jsonl" || fail "kcat produce"
sed -e "s#\"kafka_rabbit_dlq.jsonl\"#\"$T/k2r_dlq.jsonl\"#" configs/kafka_to_rabbitmq.conf >"$T/k2r.conf"
timeout 60 "$SLUICE" -c "$T/k2r.conf" 2>"$T/k2r.log" || { tail "$T/k2r.log"; fail "kafka_to_rabbitmq run"; }
"$IO" dump "$URL" events-all $N >"$T/k2r.got" || fail "queue events-all: $(wc -l <"$T/k2r.got") messages"
bodies <"$T/k2r.got" | cmp -s - <(LC_ALL=C sort "$T/events.jsonl") || fail "kafka_to_rabbitmq: bodies differ"
grep -vq "app_id=sluice" "$T/k2r.got" && fail "default properties missing"
[ -s "$T/k2r_dlq.jsonl" ] && fail "dead letters: $(head -n 2 "$T/k2r_dlq.jsonl")"
echo "kafka_to_rabbitmq: ok"

# rabbitmq -> lua -> kafka
sed -e "s#\"rabbit_dlq.jsonl\"#\"$T/r2k_dlq.jsonl\"#" configs/rabbitmq_to_kafka_lua.conf >"$T/r2k.conf"
"$SLUICE" -c "$T/r2k.conf" --check >/dev/null || fail "rabbitmq_to_kafka_lua.conf --check"
sluice_bg r2k "$T/r2k.conf"
wait_until 30 grep -q "consuming" "$T/r2k.log" || fail "not consuming: $(cat "$T/r2k.log")"
head -n 500 "$T/events.jsonl" | awk '{ printf "message_id=m-%d\tbody=%s\n", NR, $0 }' |
    "$IO" publish "$URL" "" orders || fail "publish orders"
wait_until 60 count_ge orders-tagged 500 || fail "only $(topic_count orders-tagged) tagged"
kill -TERM "$PID_r2k"
wait "$PID_r2k" || fail "rabbitmq_to_kafka_lua exited $?"
[ "$(queue_total orders)" = 0 ] || fail "orders not acked: $(queue_total orders) left"
kcat -b "$BROKERS" -C -t orders-tagged -e -q -f '%k\t%s\t%h\n' >"$T/tagged"
[ "$(wc -l <"$T/tagged")" -eq 500 ] || fail "tagged has $(wc -l <"$T/tagged")"
awk -F'\t' '$2 !~ "\"message_id\":\"m-" $1 "\"" || $2 !~ /"routing_key":"orders"/ ||
    $2 !~ /"queue":"orders"/ || $2 !~ /"tagged_by":"sluice"/ { bad++ } END { exit bad > 0 }' "$T/tagged" || fail "records not tagged from the AMQP message: $(head -n 1 "$T/tagged")"
grep -vq 'x-tagged=1' "$T/tagged" && fail "header set in Lua lost"
echo "rabbitmq_to_kafka_lua: ok"
