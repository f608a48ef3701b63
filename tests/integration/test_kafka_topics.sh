#!/usr/bin/env bash
# out_kafka's topic, key and header options, with two outputs getting every message:
#   A: topic = "record.dest" (no dest field -> dead_letter), key kept, headers kept
#   B: topic = "header:x-dest", default_topic = "fallback", key = "record.id",
#      keep_headers = false, trace_header = false
# and in_kafka subscribed to a topic regex (^logs-.*).
. "${SLUICE_SOURCE_DIR:-.}/tests/tools/kafka_lib.sh"
kafka_setup
[ -f "$SLUICE_PLUGIN_PATH/codec_json.so" ] || { echo "SKIP: codec_json not built"; exit 0; }
mock_start -b 1 -t in:4 -t t-a:2 -t t-b:2 -t h-a:2 -t fallback:2 -t dlq:1

awk 'BEGIN { for (i = 1; i <= 300; i++) printf "a%d\t{\"id\":%d,\"dest\":\"t-a\"}\n", i, i }' >"$T/in.1"
awk 'BEGIN { for (i = 1; i <= 300; i++) printf "b%d\t{\"id\":%d,\"dest\":\"t-b\"}\n", i, 1000 + i }' >"$T/in.2"
awk 'BEGIN { for (i = 1; i <= 100; i++) printf "c%d\t{\"id\":%d}\n", i, 2000 + i }' >"$T/in.3"
kcat -b "$BROKERS" -P -t in -K '	' -H x-dest=h-a <"$T/in.1" || fail "produce"
kcat -b "$BROKERS" -P -t in -K '	' <"$T/in.2" || fail "produce"
kcat -b "$BROKERS" -P -t in -K '	' -H x-dest=h-a <"$T/in.3" || fail "produce"

cat >"$T/t.conf" <<EOF
inputs = ( { type = "kafka"; name = "kin"; brokers = "$BROKERS"; topics = [ "in" ];
             group = "t-topics"; exit_on_eof = true; codec = "json"; } );
outputs = (
  { type = "kafka"; name = "by-field"; brokers = "$BROKERS"; topic = "record.dest";
    codec = "json"; },
  { type = "kafka"; name = "by-header"; brokers = "$BROKERS"; topic = "header:x-dest";
    default_topic = "fallback"; key = "record.id"; keep_headers = false;
    trace_header = false; codec = "json"; }
);
dead_letter = { type = "kafka"; brokers = "$BROKERS"; topic = "dlq"; };
retry = { max_attempts = 1; backoff_ms = 10; };
EOF
"$SLUICE" -c "$T/t.conf" --check >/dev/null || fail "--check"
timeout 120 "$SLUICE" -c "$T/t.conf" 2>"$T/sluice.log" || { tail "$T/sluice.log"; fail "sluice failed"; }

read_topic() { kcat -b "$BROKERS" -C -t "$1" -e -q -f '%k\t%s\t%h\n'; }
for t in t-a t-b h-a fallback dlq; do read_topic $t >"$T/$t"; done
[ "$(wc -l <"$T/t-a")" -eq 300 ] || fail "t-a has $(wc -l <"$T/t-a")"
[ "$(wc -l <"$T/t-b")" -eq 300 ] || fail "t-b has $(wc -l <"$T/t-b")"
[ "$(wc -l <"$T/h-a")" -eq 400 ] || fail "h-a has $(wc -l <"$T/h-a")"
[ "$(wc -l <"$T/fallback")" -eq 300 ] || fail "fallback has $(wc -l <"$T/fallback")"
[ "$(wc -l <"$T/dlq")" -eq 100 ] || fail "dlq has $(wc -l <"$T/dlq")"
# A keeps keys and headers and writes a traceparent.
awk -F'\t' '$1 !~ /^a[0-9]+$/ || $3 !~ /x-dest=h-a/ || $3 !~ /traceparent=00-/ { exit 1 }' "$T/t-a" ||
    fail "t-a: key or headers not kept"
# B keys by record.id and sends no headers at all.
awk -F'\t' '{ split($2, p, /[:,}]/); if ($1 != p[2] || $3 != "") exit 1 }' "$T/h-a" ||
    fail "h-a: key is not record.id, or headers were sent"
grep -q '^c[0-9]*	.*x-sluice-error=' "$T/dlq" || fail "dlq: no x-sluice-error on the messages without dest"

# in_kafka subscribed to a regex: every matching topic, no other.
for t in logs-a logs-b other re-out; do
    mock_cmd "topic $t 2"
done
b=0
for t in logs-a logs-b other; do # keys k1-*, k2-*, k3-*
    b=$((b + 1))
    gen_json 1000 $b | kcat -b "$BROKERS" -P -t "$t" -K '	' || fail "produce"
done
cat >"$T/re.conf" <<EOF
inputs = ( { type = "kafka"; name = "kin"; brokers = "$BROKERS"; topics = [ "^logs-.*" ];
             group = "t-regex"; exit_on_eof = true; } );
outputs = ( { type = "kafka"; name = "kout"; brokers = "$BROKERS"; topic = "re-out"; } );
EOF
timeout 60 "$SLUICE" -c "$T/re.conf" 2>"$T/re.log" || { tail "$T/re.log"; fail "regex run failed"; }
kcat -b "$BROKERS" -C -t re-out -e -q -f '%k\n' | sed 's/-[0-9]*$//' | sort | uniq -c >"$T/re.got"
printf '   1000 k1\n   1000 k2\n' | cmp -s - "$T/re.got" ||
    fail "regex subscription got: $(cat "$T/re.got")"
echo "ok: routing by field and header, default_topic, key from record, headers off, topic regex"
