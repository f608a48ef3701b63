#!/usr/bin/env bash
# rabbitmq -> rabbitmq under failures, on one private broker:
#  1. two sluice instances on one queue: both get work, together everything;
#  2. the broker stopped and restarted mid-stream: sluice reconnects by itself
#     and nothing is lost;
#  3. kill -9 of sluice mid-stream, then a restart: every message at least once.
. "${SLUICE_SOURCE_DIR:-.}/tests/tools/rabbitmq_lib.sh"
rabbit_setup
IO=$BUILD/tests/tools/amqp_io
[ -x "$IO" ] || fail "no amqp_io at $IO"
broker_start

gen() { awk -v n="$1" -v p="$2" 'BEGIN { for (i = 1; i <= n; i++) printf "delivery_mode=2\th.x-i=%d\tbody=%s-%d\n", i, p, i }'; }
# conf NAME SRC DST BATCH [extra input options]: small output batches with as
# few unconfirmed slow the stream down (a confirm round trip per BATCH
# messages) so failures land mid-stream.
conf() {
    cat >"$T/$1.conf" <<EOF2
queue = { batch_size = $4; };
inputs = ( { type = "rabbitmq"; url = "$URL"; queue = "$2"; exit_when_idle_ms = 3000;
             reconnect_backoff_ms = 100; reconnect_max_backoff_ms = 1000; ${5:-} } );
outputs = ( { type = "rabbitmq"; url = "$URL"; routing_key = "$3"; max_unconfirmed = $4;
              reconnect_backoff_ms = 100; reconnect_max_backoff_ms = 1000; } );
EOF2
}
# every_once SRC_LINES DST: each input body is in DST at least once, nothing else is.
every_once() {
    "$IO" dump "$URL" "$2" 0 2000 | sed 's/.*body=//' | LC_ALL=C sort -u >"$T/got.u"
    sed 's/.*body=//' "$1" | LC_ALL=C sort -u >"$T/in.u"
    local missing extra
    missing=$(LC_ALL=C comm -23 "$T/in.u" "$T/got.u" | wc -l)
    extra=$(LC_ALL=C comm -13 "$T/in.u" "$T/got.u" | wc -l)
    [ "$missing" -eq 0 ] || fail "$missing messages missing from $2"
    [ "$extra" -eq 0 ] || fail "$extra messages in $2 that were never sent"
}
in_count() { sed -n 's/.*done in [^:]*: \([0-9]*\) in,.*/\1/p' "$1"; }
total_ge() { [ "$(queue_total "$1")" -ge "$2" ]; }

N=10000
for q in a b c; do declare_queue src_$q; declare_queue dst_$q; done
PARTS=${PARTS:-123}

# 1. competing consumers
if [[ $PARTS == *1* ]]; then
gen $N a >"$T/a.in"
"$IO" publish "$URL" "" src_a <"$T/a.in" || fail "publish a"
conf a src_a dst_a 256 "prefetch = 50;"
sluice_bg a1 "$T/a.conf"
sluice_bg a2 "$T/a.conf"
wait "$PID_a1" || fail "instance 1 exited $?: $(tail -n 3 "$T/a1.log")"
wait "$PID_a2" || fail "instance 2 exited $?: $(tail -n 3 "$T/a2.log")"
n1=$(in_count "$T/a1.log")
n2=$(in_count "$T/a2.log")
[ "${n1:-0}" -gt 0 ] && [ "${n2:-0}" -gt 0 ] || fail "one instance got nothing ($n1 / $n2)"
[ $((n1 + n2)) -ge $N ] || fail "together only $((n1 + n2)) of $N"
[ "$(queue_total src_a)" = 0 ] || fail "src_a not drained"
every_once "$T/a.in" dst_a
echo "ok (${SECONDS}s): two instances split $N messages $n1 / $n2, nothing lost"
fi

# 2. broker stop and restart mid-stream
if [[ $PARTS == *2* ]]; then
N=6000
gen $N b >"$T/b.in"
"$IO" publish "$URL" "" src_b <"$T/b.in" || fail "publish b"
conf b src_b dst_b 16
sluice_bg b "$T/b.conf"
wait_until 60 total_ge dst_b 2000 || fail "no progress: $(tail -n 3 "$T/b.log")"
broker_stop
echo "broker stopped with $(grep -c . "$T/b.log") log lines; restarting"
sleep 1
broker_start
wait "$PID_b" || fail "sluice exited $? after the restart: $(tail -n 5 "$T/b.log")"
grep -q "reconnected" "$T/b.log" || fail "no reconnect logged"
[ "$(queue_total src_b)" = 0 ] || fail "src_b not drained after the restart"
every_once "$T/b.in" dst_b
echo "ok (${SECONDS}s): broker restart mid-stream, sluice reconnected, nothing lost"
fi

# 3. kill -9 mid-stream, then a restart
if [[ $PARTS == *3* ]]; then
N=12000 # enough that the kill, seen through rabbitmqctl (~1 s a call on a busy machine), lands mid-stream
gen $N c >"$T/c.in"
"$IO" publish "$URL" "" src_c <"$T/c.in" || fail "publish c"
conf c src_c dst_c 16
sluice_bg c1 "$T/c.conf"
wait_until 60 total_ge dst_c 1000 || fail "no progress: $(tail -n 3 "$T/c1.log")"
kill -9 "$PID_c1"
wait "$PID_c1" 2>/dev/null
left=$(queue_total src_c)
[ "$left" -gt 0 ] || fail "the stream was over before the kill"
echo "killed with $left messages left in src_c"
timeout 120 "$SLUICE" -c "$T/c.conf" 2>"$T/c2.log" || fail "restart exited $?: $(tail -n 3 "$T/c2.log")"
[ "$(queue_total src_c)" = 0 ] || fail "src_c not drained after the restart"
every_once "$T/c.in" dst_c
echo "ok (${SECONDS}s): kill -9 and restart, every message delivered at least once"
fi
