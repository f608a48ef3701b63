#!/usr/bin/env bash
# Messages larger than the output allows (message.max.bytes) and undecodable ones go
# to dead_letter (here a Kafka topic, so their headers can be checked) and the
# stream goes on.
. "${SLUICE_SOURCE_DIR:-.}/tests/tools/kafka_lib.sh"
kafka_setup
mock_start -b 1 -t in:4 -t out:4 -t dlq:1

CODEC=json
[ -f "$SLUICE_PLUGIN_PATH/codec_json.so" ] || {
    echo "codec_json not built: only the oversize case is tested" >&2
    CODEC=lines
}
big=$(head -c 6000 /dev/zero | tr '\0' x)
{
    for i in $(seq 1 3000); do
        printf 'good-%d\t{"id":%d}\n' "$i" "$i"
        if [ $((i % 300)) -eq 0 ]; then
            printf 'big-%d\t{"id":%d,"pad":"%s"}\n' "$i" "$i" "$big"
            [ $CODEC = json ] && printf 'bad-%d\t{"id":%d,oops\n' "$i" "$i"
        fi
    done
} >"$T/in"
kcat -b "$BROKERS" -P -t in -K '	' <"$T/in" || fail "kcat produce"
nbad=$(grep -c -v '^good' "$T/in")

cat >"$T/q.conf" <<EOF
inputs = ( { type = "kafka"; name = "kin"; brokers = "$BROKERS"; topics = [ "in" ]; group = "t-dlq";
             exit_on_eof = true; codec = "$CODEC"; } );
outputs = ( { type = "kafka"; name = "kout"; brokers = "$BROKERS"; topic = "out"; codec = "$CODEC";
              properties = [ "message.max.bytes=4096" ]; } );
dead_letter = { type = "kafka"; brokers = "$BROKERS"; topic = "dlq"; };
retry = { max_attempts = 2; backoff_ms = 10; };
EOF
timeout 120 "$SLUICE" -c "$T/q.conf" 2>"$T/sluice.log"
rc=$?
[ $rc -eq 0 ] || { tail -n 20 "$T/sluice.log"; fail "sluice exited $rc"; }

kcat -b "$BROKERS" -C -t out -e -q -f '%k\n' | sort >"$T/out.keys"
kcat -b "$BROKERS" -C -t dlq -e -q -f '%k\t%h\t%S\n' >"$T/dlq"
[ "$(wc -l <"$T/out.keys")" -eq 3000 ] || fail "out has $(wc -l <"$T/out.keys") messages, wanted 3000"
grep -qv '^good-' "$T/out.keys" && fail "a bad message reached the output"
[ "$(wc -l <"$T/dlq")" -eq "$nbad" ] || fail "dlq has $(wc -l <"$T/dlq") messages, wanted $nbad"
awk -F'\t' '$2 !~ /x-sluice-error=/ { exit 1 }' "$T/dlq" || fail "dlq message without x-sluice-error"
awk -F'\t' '$1 ~ /^big-/ && $3 < 6000 { exit 1 }' "$T/dlq" || fail "oversize message not kept whole"
grep '^big-' "$T/dlq" | head -n 1 | grep -q 'x-sluice-stage=' || fail "no x-sluice-stage header"
echo "ok: 3000 delivered, $nbad dead-lettered with their headers"
