#!/usr/bin/env bash
# kcat -> Kafka "in" -> sluice (kafka, json) -> Kafka "out" -> kcat: 100 k keyed JSON
# messages with headers come out equal (record, key, headers), keep their trace id,
# and the group's committed offsets cover every input message after exit.
. "${SLUICE_SOURCE_DIR:-.}/tests/tools/kafka_lib.sh"
kafka_setup
mock_start -b 1 -t in:8 -t out:8

CODEC=json
[ -f "$SLUICE_PLUGIN_PATH/codec_json.so" ] || {
    echo "codec_json not built: using the lines codec" >&2
    CODEC=lines
}

# Four batches, each with its own trace id; traceparent goes last so the header
# order on output (traceparent re-written last) is the same.
PER=25000
N=$((PER * 4))
for b in 1 2 3 4; do
    tid=$(printf '4bf92f3577b34da6a3ce929d0e0e47%02d' "$b")
    gen_json $PER $b >"$T/in.$b"
    kcat -b "$BROKERS" -P -t in -K '	' -H "x-batch=$b" -H "x-empty=" \
        -H "traceparent=00-$tid-00f067aa0ba902b7-01" <"$T/in.$b" || fail "kcat produce"
    awk -F'\t' -v b="$b" -v tid="$tid" '{ print $1 "\t" $2 "\tx-batch=" b ",x-empty=,trace=" tid }' \
        "$T/in.$b" >>"$T/expected"
done
[ "$(topic_count in)" = "$N" ] || fail "input topic has $(topic_count in) messages, wanted $N"

cat >"$T/p.conf" <<EOF
inputs = ( { type = "kafka"; name = "kin"; brokers = "$BROKERS"; topics = [ "in" ];
             group = "t-pipe"; exit_on_eof = true; codec = "$CODEC"; } );
outputs = ( { type = "kafka"; name = "kout"; brokers = "$BROKERS"; topic = "out";
              codec = "$CODEC"; } );
EOF
start=$(date +%s.%N)
timeout 120 "$SLUICE" -c "$T/p.conf" 2>"$T/sluice.log"
rc=$?
[ $rc -eq 0 ] || { tail -n 20 "$T/sluice.log"; fail "sluice exited $rc"; }
echo "sluice: $N messages in $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s (includes the 3 s group join)"

# Read back; keep only the trace id of the traceparent header.
kcat -b "$BROKERS" -C -t out -e -q -f '%k\t%s\t%h\n' >"$T/raw" || fail "kcat consume"
awk -F'\t' '{ n = split($3, h, ","); out = "";
              for (i = 1; i <= n; i++) {
                  if (h[i] ~ /^traceparent=/) { split(h[i], tp, "-"); h[i] = "trace=" tp[2] }
                  out = out (i > 1 ? "," : "") h[i] }
              print $1 "\t" $2 "\t" out }' "$T/raw" >"$T/got"
[ "$(wc -l <"$T/got")" -eq "$N" ] || fail "out has $(wc -l <"$T/got") messages, wanted $N"
LC_ALL=C sort "$T/expected" >"$T/expected.s"
LC_ALL=C sort "$T/got" >"$T/got.s"
if ! cmp -s "$T/expected.s" "$T/got.s"; then
    diff "$T/expected.s" "$T/got.s" | head -n 10
    fail "output differs from input (records, keys, headers or trace ids)"
fi

# Every input message is covered by a commit.
"$OFFSETS_BIN" "$BROKERS" t-pipe in >"$T/offsets" || fail "kafka_offsets"
awk '$1 != "total" && $2 != $3 { bad = 1 } $1 == "total" && $2 != 0 { bad = 1 } END { exit bad }' \
    "$T/offsets" || { cat "$T/offsets"; fail "committed offsets do not cover the input"; }
echo "ok: $N messages equal, trace ids kept, offsets committed"
