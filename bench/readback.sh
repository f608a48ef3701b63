#!/usr/bin/env bash
# What the Kafka output's read-back costs (out_kafka state_file, docs/kafka.md), on
# librdkafka's mock cluster: N keyed 100-byte messages through
# kafka -> dedup(key = "key", state_file) -> kafka, without and with the output's
# state_file (marks written, positions kept), runs interleaved, best of RUNS; then
# one run with state_file killed (SIGKILL) halfway and restarted: how many messages
# the restart read back, and how long from its start until the read-back was done.
#
#   bench/readback.sh         (env: N=500000 RUNS=3 PARTITIONS=16, and the SLUICE /
#                              SLUICE_BUILD_DIR variables of the tests)
# Prints key=value lines. Rates are from partition assignment to exit (the mock's
# consumer-group join is a fixed 3 s).
. "${SLUICE_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}/tests/tools/kafka_lib.sh"
kafka_setup
N=${N:-500000}
RUNS=${RUNS:-3}
PARTS=${PARTITIONS:-16}
mock_start -b 1 -t src:$PARTS -t dst:$PARTS

now() { date +%s.%N; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
log_time() { date -d "$(grep -m1 "$1" "$2" | cut -d' ' -f1)" +%s.%N; }

awk -v n="$N" 'BEGIN { pad = sprintf("%090d", 0);
    for (i = 1; i <= n; i++) printf "k%d\t%010d%s\n", i, i, pad }' |
    kcat -b "$BROKERS" -P -t src -K '	' -X linger.ms=50 || fail "load"
[ "$(topic_count src)" = "$N" ] || fail "source topic has $(topic_count src) messages"

conf() { # NAME GROUP OUT_STATE(empty: none)
    local state=""
    [ -n "$3" ] && state="state_file = \"$3\";"
    cat >"$T/$1.conf" <<EOF
inputs = ( { type = "kafka"; brokers = "$BROKERS"; topics = [ "src" ]; group = "$2";
             exit_on_eof = true; codec = "lines"; } );
handlers = ( { type = "dedup"; key = "key"; max_keys = $((2 * N)); state_file = "$T/$1.dedup"; } );
outputs = ( { type = "kafka"; brokers = "$BROKERS"; topic = "dst"; codec = "lines"; $state } );
EOF
    rm -f "$T/$1.dedup" "$T/$1.dedup.log"
}

# run NAME: sets R (msgs/s after assignment) and CPU (user + sys seconds)
run() {
    local log=$T/$1.log t1 ta u s
    TIMEFORMAT='%U %S'
    { time "$SLUICE" -c "$T/$1.conf" --log-level info 2>"$log"; } 2>"$T/time.out" ||
        fail "$1: $(tail -n 3 "$log")"
    t1=$(now)
    read -r u s < <(tail -n 1 "$T/time.out")
    CPU=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
    ta=$(log_time assigned "$log")
    R=$(rate "$N" "$(secs "$ta" "$t1")")
}

best_plain=0 best_marked=0 cpu_plain=999 cpu_marked=999
for r in $(seq 1 "$RUNS"); do
    conf plain$r gp$r ""
    run plain$r
    echo "run $r: without state_file $R/s (cpu ${CPU}s)" >&2
    [ "$R" -gt "$best_plain" ] && best_plain=$R
    cpu_plain=$(awk -v a="$cpu_plain" -v b="$CPU" 'BEGIN { print (b < a ? b : a) }')
    conf marked$r gm$r "$T/out$r.state"
    run marked$r
    echo "run $r: with state_file $R/s (cpu ${CPU}s)" >&2
    [ "$R" -gt "$best_marked" ] && best_marked=$R
    cpu_marked=$(awk -v a="$cpu_marked" -v b="$CPU" 'BEGIN { print (b < a ? b : a) }')
done

# A kill halfway, then the restart's read-back.
conf crash gc "$T/crash.state"
base=$(topic_count dst)
"$SLUICE" -c "$T/crash.conf" 2>"$T/crash1.log" &
pid=$!
bg_track "$pid"
wait_until 120 count_ge dst $((base + N / 2)) || fail "no progress: $(tail -n 3 "$T/crash1.log")"
kill -9 "$pid"
wait "$pid" 2>/dev/null
t0=$(now)
"$SLUICE" -c "$T/crash.conf" --log-level info 2>"$T/crash2.log" || fail "restart: $(tail -n 3 "$T/crash2.log")"
grep -q "recovery marks" "$T/crash2.log" || fail "no read-back: $(head -n 5 "$T/crash2.log")"
read_back=$(grep -m1 -o 'read back [0-9]* messages' "$T/crash2.log" | grep -o '[0-9]*')
done_at=$(log_time "recovery marks" "$T/crash2.log")
total=$(($(topic_count dst) - base))
echo "crash: killed at $((N / 2))+, restart read back $read_back messages; $total written in all" >&2

echo "readback_messages=$N"
echo "readback_partitions=$PARTS"
echo "dedup_kafka_msgs_per_s=$best_plain"
echo "dedup_kafka_state_file_msgs_per_s=$best_marked"
echo "state_file_rate_ratio=$(awk -v a="$best_marked" -v b="$best_plain" 'BEGIN { printf "%.3f", a / b }')"
echo "dedup_kafka_cpu_s=$cpu_plain"
echo "dedup_kafka_state_file_cpu_s=$cpu_marked"
echo "restart_read_back_messages=$read_back"
echo "restart_to_read_back_done_ms=$(awk -v a="$t0" -v b="$done_at" 'BEGIN { printf "%.0f", (b - a) * 1000 }')"
echo "crash_run_written=$total"
echo "crash_run_duplicated=$((total - N))"
