#!/usr/bin/env bash
# Kafka -> Kafka throughput on librdkafka's mock cluster: 1 M keyed 100-byte
# messages, sluice (kafka -> kafka, lines codec, no handler) against
# `kcat -C | kcat -P` over the same source topic in the same run. Best of RUNS.
#
#   bench/kafka.sh            (env: N=1000000 RUNS=3 PARTITIONS=64, TRACE=true
#                              (out_kafka trace_header), and the SLUICE /
#                              SLUICE_BUILD_DIR variables of the tests)
# Prints key=value lines. sluice's rate is given twice: over its whole run (which
# includes the mock's fixed 3 s consumer-group join) and from partition
# assignment to exit (kcat -C uses no group, so it has no join). CPU seconds
# (user + sys) are printed too: on a shared machine they vary less than rates.
. "${SLUICE_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}/tests/tools/kafka_lib.sh"
kafka_setup
N=${N:-1000000}
RUNS=${RUNS:-3}
PARTS=${PARTITIONS:-64} # the mock keeps ~5 MB per partition
TRACE=${TRACE:-true}
mock_start -b 1 -t src:$PARTS -t dst_kcat:$PARTS -t dst_sluice:$PARTS

now() { date +%s.%N; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
minf() { awk -v a="$1" -v b="$2" 'BEGIN { print (b < a ? b : a) }'; }

awk -v n="$N" 'BEGIN { pad = sprintf("%090d", 0);
    for (i = 1; i <= n; i++) printf "k%d\t%010d%s\n", i, i, pad }' >"$T/data"
kcat -b "$BROKERS" -P -t src -K '	' -X linger.ms=50 <"$T/data" || fail "load"
[ "$(topic_count src)" = "$N" ] || fail "source topic has $(topic_count src) messages"
rm -f "$T/data"

# Runs CMD under bash's `time`; sets WALL and CPU (user + sys, children included).
timed() {
    local tf=$T/time.out u s rc
    TIMEFORMAT='%R %U %S'
    { time "$@"; } 2>"$tf"
    rc=$?
    read -r WALL u s < <(tail -n 1 "$tf")
    CPU=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
    return $rc
}

kcat_pipe() {
    kcat -b "$BROKERS" -C -t src -e -q -f '%k\t%s\n' | kcat -b "$BROKERS" -P -t dst_kcat -K '	'
}

# sluice in the background; its peak RSS is read from /proc without forking.
run_sluice() {
    "$SLUICE" -c "$1" --log-level info 2>"$2" &
    local pid=$! k v rest
    HWM=0
    while kill -0 $pid 2>/dev/null; do
        while read -r k v rest; do
            [ "$k" = "VmHWM:" ] && HWM=$v
        done <"/proc/$pid/status" 2>/dev/null
        sleep 0.1
    done
    wait $pid
}

best_kcat=0 best_sluice=0 best_steady=0 rss_max=0 cpu_kcat=999 cpu_sluice=999
for run in $(seq 1 "$RUNS"); do
    timed kcat_pipe || fail "kcat pipe"
    kr=$(rate "$N" "$WALL")
    kc=$CPU
    [ "$kr" -gt "$best_kcat" ] && best_kcat=$kr
    cpu_kcat=$(minf "$cpu_kcat" "$kc")

    conf=$T/b$run.conf
    log=$T/b$run.log
    {
        echo "inputs = ( { type = \"kafka\"; name = \"kin\"; brokers = \"$BROKERS\";"
        echo "  topics = [ \"src\" ]; group = \"bench-$run\"; exit_on_eof = true; codec = \"lines\"; } );"
        echo "outputs = ( { type = \"kafka\"; name = \"kout\"; brokers = \"$BROKERS\";"
        echo "  topic = \"dst_sluice\"; codec = \"lines\"; trace_header = $TRACE; } );"
    } >"$conf"
    before=$(topic_count dst_sluice)
    t0=$(now)
    timed run_sluice "$conf" "$log" || fail "sluice run $run: $(tail -n 3 "$log")"
    t1=$(now)
    [ "$(topic_count dst_sluice)" -eq $((before + N)) ] || fail "run $run: not every message arrived"
    ta=$(date -d "$(grep -m1 'assigned' "$log" | cut -d' ' -f1)" +%s.%N)
    r=$(rate "$N" "$(secs "$t0" "$t1")")
    rs=$(rate "$N" "$(secs "$ta" "$t1")")
    echo "run $run: kcat pipe $kr/s (cpu ${kc}s); sluice $r/s whole, $rs/s after" \
        "assignment (cpu ${CPU}s), peak RSS $((HWM / 1024)) MB" >&2
    [ "$r" -gt "$best_sluice" ] && best_sluice=$r
    [ "$rs" -gt "$best_steady" ] && best_steady=$rs
    [ "$HWM" -gt "$rss_max" ] && rss_max=$HWM
    cpu_sluice=$(minf "$cpu_sluice" "$CPU")
done

echo "kafka_messages=$N"
echo "kafka_partitions=$PARTS"
echo "trace_header=$TRACE"
echo "kcat_pipe_msgs_per_s=$best_kcat"
echo "sluice_msgs_per_s=$best_sluice"
echo "sluice_after_assign_msgs_per_s=$best_steady"
echo "sluice_peak_rss_mb=$((rss_max / 1024))"
echo "kcat_pipe_cpu_s=$cpu_kcat"
echo "sluice_cpu_s=$cpu_sluice"
