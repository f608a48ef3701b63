#!/usr/bin/env bash
# Produce errors injected by the mock: a retriable one (not leader: librdkafka retries),
# a broken producer session (invalid epoch) and an idempotence fatal error (out of
# order sequence: out_kafka replaces the producer). Each time every message arrives,
# none is dead-lettered or discarded, with the engine's default retry.max_attempts (1).
. "${SLUICE_SOURCE_DIR:-.}/tests/tools/kafka_lib.sh"
kafka_setup
mock_start -b 1

N=20000
gen_json $N 0 >"$T/in"
LC_ALL=C sort -u "$T/in" >"$T/in.u"
for code in 6 47 45; do
    mock_cmd "topic in-$code 4"
    mock_cmd "topic out-$code 4"
    kcat -b "$BROKERS" -P -t "in-$code" -K '	' <"$T/in" || fail "produce"
    cat >"$T/e$code.conf" <<EOF2
inputs = ( { type = "kafka"; name = "kin"; brokers = "$BROKERS"; topics = [ "in-$code" ];
             group = "t-err-$code"; exit_on_eof = true; } );
outputs = ( { type = "kafka"; name = "kout"; brokers = "$BROKERS"; topic = "out-$code"; } );
EOF2
    mock_cmd "errors 0 $code 3" # the next 3 produce requests fail
    timeout 60 "$SLUICE" -c "$T/e$code.conf" 2>"$T/e$code.log" ||
        { tail -n 5 "$T/e$code.log"; fail "error $code: sluice failed"; }
    grep -q ' 0 dead-lettered, .* 0 discarded' "$T/e$code.log" ||
        fail "error $code: $(grep 'done in' "$T/e$code.log")"
    kcat -b "$BROKERS" -C -t "out-$code" -e -q -f '%k\t%s\n' >"$T/got"
    LC_ALL=C sort -u "$T/got" >"$T/got.u"
    cmp -s "$T/in.u" "$T/got.u" || fail "error $code: output differs from input"
    echo "error $code: all $N delivered, $(($(wc -l <"$T/got") - N)) duplicates;" \
        "$(grep -c 'again after a producer failure' "$T/e$code.log") redo rounds"
done
echo "ok"
