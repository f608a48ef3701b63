#!/usr/bin/env bash
# RabbitMQ errors and quiet times, on one private broker:
#  --check never connects; wrong password and a missing queue stop sluice
#  with a clear error (url shown without the password, queue named, exit 2);
#  unroutable publishes and undecodable messages go to dead_letter and are
#  still acked; an idle connection lives past two heartbeat intervals; a
#  broker memory alarm (connection.blocked) holds publishes without loss;
#  amqps:// with a CA that verifies the broker, and a clear stop with one that
#  does not.
. "${SLUICE_SOURCE_DIR:-.}/tests/tools/rabbitmq_lib.sh"
rabbit_setup
IO=$BUILD/tests/tools/amqp_io
[ -x "$IO" ] || fail "no amqp_io at $IO"

# --check never connects: nothing listens on this port, and --check is quick.
closed=$(free_port)
cat >"$T/check.conf" <<EOF2
inputs = ( { type = "rabbitmq"; url = "amqp://u:secret@127.0.0.1:$closed/"; queue = "q"; } );
outputs = ( { type = "rabbitmq"; url = "amqp://u:secret@127.0.0.1:$closed/"; routing_key = "q"; } );
EOF2
timeout 5 "$SLUICE" -c "$T/check.conf" --check >/dev/null || fail "--check tried the broker or failed"
sed -i 's/queue = "q";/queue = "q"; prefetch = 0;/' "$T/check.conf"
"$SLUICE" -c "$T/check.conf" --check 2>"$T/check.err" && fail "--check accepted prefetch = 0"
grep -q "check.conf:1:.*prefetch" "$T/check.err" || fail "no FILE:LINE for prefetch: $(cat "$T/check.err")"
echo "ok: --check"

# A CA and a broker certificate for 127.0.0.1 (librabbitmq 0.11 matches the host
# against DNS names only, hence DNS:127.0.0.1), and a TLS listener.
( cd "$T" &&
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=sluice-test-ca &&
  openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem -days 2 -subj /CN=other-ca &&
  openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 &&
  echo "subjectAltName=DNS:127.0.0.1,IP:127.0.0.1" >ext &&
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext
) >/dev/null 2>&1 || fail "openssl"
TLS_PORT=$(free_port)
RABBIT_CONF="listeners.ssl.1 = 127.0.0.1:$TLS_PORT
ssl_options.cacertfile = $T/ca.pem
ssl_options.certfile = $T/server.pem
ssl_options.keyfile = $T/server.key
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false"
broker_start
declare_queue src
PORT_URL="127.0.0.1:$AMQP_PORT"

# Wrong password: input and output, each alone.
for side in input output; do
    if [ $side = input ]; then
        io='inputs = ( { type = "rabbitmq"; url = "amqp://guest:hunter2@'$PORT_URL'"; queue = "src"; } );
            outputs = ( { type = "null"; } );'
    else
        io='inputs = ( { type = "generator"; count = 1; } );
            outputs = ( { type = "rabbitmq"; url = "amqp://guest:hunter2@'$PORT_URL'"; routing_key = "src"; } );'
    fi
    echo "$io" >"$T/pw.conf"
    timeout 30 "$SLUICE" -c "$T/pw.conf" 2>"$T/pw.log"
    rc=$?
    [ $rc -eq 2 ] || fail "wrong password ($side): exit $rc, not 2: $(tail -n 3 "$T/pw.log")"
    grep -q "amqp://guest:\*\*\*@$PORT_URL.*ACCESS_REFUSED" "$T/pw.log" || fail "no clear error ($side): $(cat "$T/pw.log")"
    grep -q hunter2 "$T/pw.log" && fail "the password is in the log ($side)"
done
echo "ok: wrong password"

# A queue that does not exist, without declare.
echo 'inputs = ( { type = "rabbitmq"; url = "'"$URL"'"; queue = "nope"; } ); outputs = ( { type = "null"; } );' >"$T/nq.conf"
timeout 30 "$SLUICE" -c "$T/nq.conf" 2>"$T/nq.log"
rc=$?
[ $rc -eq 2 ] || fail "missing queue: exit $rc, not 2"
grep -q "NOT_FOUND.*queue \"nope\"" "$T/nq.log" || fail "no clear error for the missing queue: $(cat "$T/nq.log")"
echo "ok: missing queue"

# Dead letters: records whose "rk" names no binding come back from the broker
# (mandatory) and fail; lines that are not JSON fail to decode. Both end in
# dead_letter, and every input message is acked.
awk 'BEGIN { for (i = 1; i <= 300; i++) {
    if (i % 3 == 0) printf "delivery_mode=2\tbody={\"id\":%d,\"rk\":\"nowhere\"}\n", i
    else if (i % 3 == 1) printf "delivery_mode=2\tbody={\"id\":%d,\"rk\":\"ok\"}\n", i
    else printf "delivery_mode=2\tbody=not json %d\n", i } }' >"$T/dl.in"
"$IO" publish "$URL" "" src <"$T/dl.in" || fail "publish"
cat >"$T/dl.conf" <<EOF2
retry = { max_attempts = 2; backoff_ms = 10; max_backoff_ms = 20; };
inputs = ( { type = "rabbitmq"; url = "$URL"; queue = "src"; codec = "json"; exit_when_idle_ms = 1500; } );
outputs = ( { type = "rabbitmq"; url = "$URL"; exchange = "amq.direct"; routing_key = "record.rk";
              codec = "json"; declare = { queue = { name = "dst_ok"; };
              bindings = ( { exchange = "amq.direct"; routing_key = "ok"; } ); }; } );
dead_letter = { type = "file"; path = "$T/dlq.jsonl"; codec = "envelope"; };
EOF2
timeout 60 "$SLUICE" -c "$T/dl.conf" 2>"$T/dl.log" || fail "dead-letter run exited $?: $(tail -n 3 "$T/dl.log")"
[ "$(queue_total src)" = 0 ] || fail "src holds $(queue_total src): dead letters not acked"
[ "$(queue_count dst_ok)" = 100 ] || fail "dst_ok holds $(queue_count dst_ok), not 100"
[ "$(grep -c 'NO_ROUTE' "$T/dlq.jsonl")" = 100 ] || fail "$(grep -c NO_ROUTE "$T/dlq.jsonl") unroutable dead letters, not 100"
[ "$(grep -c 'not json' "$T/dlq.jsonl")" = 100 ] || fail "$(grep -c 'not json' "$T/dlq.jsonl") undecodable dead letters, not 100"
echo "ok: unroutable and undecodable messages dead-lettered and acked"

# Idle past two heartbeat intervals (2 s): the connections stay up (the broker
# drops a client silent for two intervals; sluice would log it and reconnect).
declare_queue dst_hb
cat >"$T/hb.conf" <<EOF2
inputs = ( { type = "rabbitmq"; url = "$URL"; queue = "src"; heartbeat_s = 2; } );
outputs = ( { type = "rabbitmq"; url = "$URL"; routing_key = "dst_hb"; heartbeat_s = 2; } );
EOF2
sluice_bg hb "$T/hb.conf"
wait_until 20 grep -q "worker 0 connected.*consuming" "$T/hb.log" || fail "not connected: $(cat "$T/hb.log")"
sleep 7
printf 'body=after the quiet\n' | "$IO" publish "$URL" "" src || fail "publish after idle"
dst_has() { [ "$(queue_count "$1")" -ge "$2" ]; }
wait_until 20 dst_has dst_hb 1 || fail "the message after the quiet did not arrive"
grep -Eq "lost|reconnect|heartbeat" "$T/hb.log" && fail "a connection dropped while idle: $(cat "$T/hb.log")"
kill -TERM "$PID_hb"
wait "$PID_hb" || fail "sluice exited $? after SIGTERM"
echo "ok: idle past two heartbeat intervals"

# A memory alarm blocks publishers (connection.blocked): sluice holds the
# messages and publishes them once the alarm clears. Default heartbeats: a
# broker in alarm on a busy machine can be late with its own.
# exit_when_idle_ms while the output is held: the input is not idle while
# deliveries are unacked (prefetch 5 of 20), so it must not stop early.
sed -i -e 's/heartbeat_s = 2;//' -e 's/queue = "src";/queue = "src"; prefetch = 5; exit_when_idle_ms = 1000;/' "$T/hb.conf"
for i in $(seq 1 20); do printf 'body=held %d\n' "$i"; done | "$IO" publish "$URL" "" src || fail "publish"
rmqctl set_vm_memory_high_watermark 0.000001 >/dev/null || fail "cannot raise the alarm"
sluice_bg al "$T/hb.conf"
wait_until 20 grep -q "worker 0 connected.*consuming" "$T/al.log" || fail "not connected: $(cat "$T/al.log")"
sleep 3
[ "$(queue_count dst_hb)" = 1 ] || fail "published during the alarm: $(queue_count dst_hb)"
[ "$(queue_total src)" = 20 ] || fail "src acked during the alarm: $(queue_total src) left"
rmqctl set_vm_memory_high_watermark 0.8 >/dev/null || fail "cannot clear the alarm"
wait_until 30 dst_has dst_hb 21 || fail "held messages not published after the alarm: $(queue_count dst_hb)"
wait "$PID_al" || fail "sluice exited $?: $(tail -n 3 "$T/al.log")"
[ "$(queue_total src)" = 0 ] || fail "stopped as idle with $(queue_total src) messages left"
grep -Eq "lost|reconnect" "$T/al.log" && fail "a connection dropped: $(cat "$T/al.log")"
echo "ok: blocked publishes held and sent after the alarm"

# amqps://: the broker's certificate verified against our CA (name 127.0.0.1);
# a CA that did not sign it stops sluice with a clear error, no retry loop.
printf 'body=over tls\n' | "$IO" publish "$URL" "" src || fail "publish for tls"
cat >"$T/tls.conf" <<EOF2
inputs = ( { type = "rabbitmq"; url = "amqps://guest:guest@127.0.0.1:$TLS_PORT/"; queue = "src";
             tls = { ca = "$T/ca.pem"; verify = true; }; exit_when_idle_ms = 1000; } );
outputs = ( { type = "file"; path = "$T/tls.out"; } );
EOF2
timeout 30 "$SLUICE" -c "$T/tls.conf" 2>"$T/tls.log" || fail "tls run exited $?: $(tail -n 3 "$T/tls.log")"
grep -qx "over tls" "$T/tls.out" || fail "nothing read over tls: $(cat "$T/tls.log")"
sed -i "s#$T/ca.pem#$T/other.pem#" "$T/tls.conf"
timeout 30 "$SLUICE" -c "$T/tls.conf" 2>"$T/tls2.log"
rc=$?
[ $rc -eq 2 ] || fail "unverified broker: exit $rc, not 2: $(tail -n 3 "$T/tls2.log")"
grep -q "amqps://guest:\*\*\*@127.0.0.1:$TLS_PORT.*verif" "$T/tls2.log" || fail "no clear tls error: $(cat "$T/tls2.log")"
echo "ok: amqps verified, and refused with a CA that did not sign the broker"
