#!/usr/bin/env bash
# RabbitMQ -> RabbitMQ throughput on a private broker: N persistent 100-byte
# messages relayed from a durable queue to another with publisher confirms on,
# by sluice (rabbitmq -> rabbitmq, no codec, no handler) and by a minimal
# single-threaded librabbitmq program (tests/tools/amqp_relay.c: same prefetch,
# batches of the same size confirmed then acked with multiple), alternately in
# the same run on the same broker. Best of RUNS.
#
#   bench/rabbitmq.sh   (env: N=200000 RUNS=2 PREFETCH=1000 BATCH=256, and the
#                        SLUICE / SLUICE_BUILD_DIR variables of the tests)
# Prints key=value lines: rates, CPU seconds of the relay and of the broker
# during each run (user + sys; the broker's per message), sluice's peak RSS,
# and the machine's load average.
. "${SLUICE_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}/tests/tools/rabbitmq_lib.sh"
rabbit_setup
N=${N:-200000}
RUNS=${RUNS:-2}
PREFETCH=${PREFETCH:-1000}
BATCH=${BATCH:-256}
IO=$BUILD/tests/tools/amqp_io
RELAY=$BUILD/tests/tools/amqp_relay
[ -x "$IO" ] && [ -x "$RELAY" ] || fail "build tests/tools first (amqp_io, amqp_relay)"
broker_start
for q in src dst; do declare_queue $q; done
HZ=$(getconf CLK_TCK)

awk -v n="$N" 'BEGIN { pad = sprintf("%090d", 0); for (i = 1; i <= n; i++) printf "delivery_mode=2\tbody=%010d%s\n", i, pad }' >"$T/data"
load() {
    "$IO" publish "$URL" "" src <"$T/data" || fail "load"
    [ "$(queue_count src)" = "$N" ] || fail "src has $(queue_count src)"
}
purge_dst() { rmqctl purge_queue dst >/dev/null; }
# CPU seconds (user + sys) the broker has used so far.
broker_cpu() { awk -v hz="$HZ" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$(beam_pid)/stat"; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }
per_msg_us() { awk -v c="$1" -v n="$N" 'BEGIN { printf "%.1f", c * 1e6 / n }'; }
# Runs CMD under bash's `time`; sets WALL and CPU (user + sys).
timed() {
    local tf=$T/time.out u s rc
    TIMEFORMAT='%R %U %S'
    { time "$@"; } 2>"$tf"
    rc=$?
    read -r WALL u s < <(tail -n 1 "$tf")
    CPU=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
    return $rc
}

IDLE_MS=${IDLE_MS:-5000} # the broker may pause over a second under load
cat >"$T/s.conf" <<EOF2
queue = { batch_size = $BATCH; };
inputs = ( { type = "rabbitmq"; url = "$URL"; queue = "src"; prefetch = $PREFETCH;
             exit_when_idle_ms = $IDLE_MS; } );
outputs = ( { type = "rabbitmq"; url = "$URL"; routing_key = "dst"; trace_header = false; } );
EOF2
run_sluice() { /usr/bin/time -f "%M" -o "$T/rss" "$SLUICE" -c "$T/s.conf" 2>"$T/s.log"; }

best_bare=0 best_sluice=0
for run in $(seq 1 "$RUNS"); do
    load
    b0=$(broker_cpu)
    timed "$RELAY" "$URL" src dst "$N" "$PREFETCH" "$BATCH" >"$T/relay.out" || fail "relay"
    bare_cpu=$CPU
    bare_broker=$(sub "$(broker_cpu)" "$b0")
    r=$(sed -n 's/.*rate=\([0-9]*\).*/\1/p' "$T/relay.out")
    [ "$r" -gt "$best_bare" ] && best_bare=$r && bare_best_cpu=$bare_cpu && bare_best_broker=$bare_broker
    purge_dst

    load
    b0=$(broker_cpu)
    timed run_sluice || fail "sluice: $(tail -n 3 "$T/s.log")"
    sl_cpu=$CPU
    sl_broker=$(sub "$(broker_cpu)" "$b0")
    [ "$(queue_count dst)" = "$N" ] || fail "dst has $(queue_count dst) after sluice"
    [ "$(queue_total src)" = 0 ] || fail "src not drained by sluice"
    # the run ends after IDLE_MS of an empty queue: not part of the relay time
    s=$(rate "$N" "$(sub "$WALL" "$(awk -v m=$IDLE_MS 'BEGIN { print m / 1000 }')")")
    [ "$s" -gt "$best_sluice" ] && best_sluice=$s && sl_best_cpu=$sl_cpu && sl_best_broker=$sl_broker && rss=$(cat "$T/rss")
    purge_dst
    echo "run $run: bare=$r msgs/s sluice=$s msgs/s (sluice cpu ${sl_cpu}s, broker ${sl_broker}s; bare cpu ${bare_cpu}s, broker ${bare_broker}s)"
done

echo "messages=$N prefetch=$PREFETCH batch=$BATCH persistent=true confirms=true"
echo "bare_msgs_per_s=$best_bare"
echo "sluice_msgs_per_s=$best_sluice"
echo "ratio=$(awk -v a="$best_sluice" -v b="$best_bare" 'BEGIN { printf "%.2f", a / b }')"
echo "bare_cpu_s=$bare_best_cpu broker_cpu_s_during_bare=$bare_best_broker broker_us_per_msg_bare=$(per_msg_us "$bare_best_broker")"
echo "sluice_cpu_s=$sl_best_cpu broker_cpu_s_during_sluice=$sl_best_broker broker_us_per_msg_sluice=$(per_msg_us "$sl_best_broker")"
echo "sluice_us_per_msg=$(per_msg_us "$sl_best_cpu") bare_us_per_msg=$(per_msg_us "$bare_best_cpu")"
echo "sluice_peak_rss_kb=$rss"
echo "load_average=$(cut -d' ' -f1-3 /proc/loadavg) cpus=$(nproc)"
