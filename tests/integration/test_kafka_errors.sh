#!/usr/bin/env bash
# Errors injected by the mock. Produce: a retriable one (not leader: librdkafka
# retries), a broken producer session (invalid epoch) and an idempotence fatal error
# (out of order sequence: out_kafka replaces the producer); each time every message
# arrives, none is dead-lettered or discarded, with the engine's default
# retry.max_attempts (1). OffsetCommit: 20 timeouts in a row; the offsets still get
# committed to the end before exit.
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
# Commit errors: periodic commits fail, the final synchronous one is retried.
mock_cmd "topic in-commit 4"
mock_cmd "topic out-commit 4"
kcat -b "$BROKERS" -P -t in-commit -K '	' <"$T/in" || fail "produce"
cat >"$T/c.conf" <<EOF2
inputs = ( { type = "kafka"; name = "kin"; brokers = "$BROKERS"; topics = [ "in-commit" ];
             group = "t-err-commit"; exit_on_eof = true; commit_interval_ms = 100; } );
outputs = ( { type = "kafka"; name = "kout"; brokers = "$BROKERS"; topic = "out-commit"; } );
EOF2
mock_cmd "errors 8 7 20"
timeout 60 "$SLUICE" -c "$T/c.conf" 2>"$T/c.log" || { tail -n 5 "$T/c.log"; fail "commit: sluice failed"; }
grep -q 'commit.*failed' "$T/c.log" || fail "commit: the injected errors did not show"
"$OFFSETS_BIN" "$BROKERS" t-err-commit in-commit | grep -q '^total 0$' ||
    fail "commit: offsets not committed to the end after commit errors"
echo "commit errors: $(grep -c 'commit.*failed' "$T/c.log") failed commits logged, offsets committed to the end"
echo "ok"
