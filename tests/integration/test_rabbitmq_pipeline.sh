#!/usr/bin/env bash
# 100 k messages with AMQP properties and headers through rabbitmq -> json ->
# lua -> rabbitmq, every one compared (properties, headers, body, order); then
# W3C traceparent carried in and out.
. "${SLUICE_SOURCE_DIR:-.}/tests/tools/rabbitmq_lib.sh"
rabbit_setup
IO=$BUILD/tests/tools/amqp_io
[ -x "$IO" ] || fail "no amqp_io at $IO"
broker_start
declare_queue src
declare_queue dst

N=${N:-100000}
# Input lines in amqp_io's format; the expected output adds what the Lua
# script adds (record.seen, x-lua, x-rk from the delivery facts) and keeps
# every property and header.
awk -v n="$N" 'BEGIN { for (i = 1; i <= n; i++) {
    printf "content_type=application/json\tcontent_encoding=utf-8\tdelivery_mode=2\tpriority=%d\t", i % 10
    printf "correlation_id=c-%d\treply_to=replies\tmessage_id=m-%d\ttimestamp=%d\ttype=order\tapp_id=gen\t", i, i, 1700000000 + i
    printf "h.x-i=%d\th.x-tenant=t-%d\tbody={\"id\":%d,\"name\":\"user-%d\",\"tags\":[\"a\",\"b\"]}\n", i, i % 7, i, i } }' >"$T/in"
awk -F'\t' -v OFS='\t' '{ body = $NF; sub(/}$/, ",\"seen\":true}", body); $NF = "h.x-lua=1"; print $0, "h.x-rk=src", body }' "$T/in" >"$T/want"

# msg.source carries the delivery: queue, tag, exchange, routing key,
# redelivered (a boolean), consumer tag. The bulk comes through the default
# exchange; the traced message below through the "events" topic exchange.
cat >"$T/tag.lua" <<'LUA'
function process(msg)
  local s = msg.source
  local want_rk = ({[""] = "src", events = "orders.eu"})[s.exchange]
  if s.name ~= "src" or s.queue ~= "src" or s.offset < 1 or s.redelivered ~= false
     or s.routing_key ~= want_rk or type(s.consumer_tag) ~= "string" or s.consumer_tag == "" then
    error(string.format("bad source %s/%s tag %s exchange %s rk %s redelivered %s ctag %s",
      tostring(s.name), tostring(s.queue), tostring(s.offset), tostring(s.exchange),
      tostring(s.routing_key), tostring(s.redelivered), tostring(s.consumer_tag)))
  end
  msg.record.seen = true
  msg.headers["x-lua"] = "1"
  msg.headers["x-rk"] = s.routing_key
  return msg
end
LUA
cat >"$T/p.conf" <<EOF2
inputs = ( { type = "rabbitmq"; url = "$URL"; queue = "src"; codec = "json"; exit_when_idle_ms = 2000;
             declare = { exchange = { name = "events"; type = "topic"; };
                         bindings = ( { routing_key = "orders.#"; } ); }; } );
handlers = ( { type = "lua"; script = "$T/tag.lua"; } );
outputs = ( { type = "rabbitmq"; url = "$URL"; routing_key = "dst"; codec = "json"; trace_header = false; } );
EOF2
"$SLUICE" -c "$T/p.conf" --check >/dev/null || fail "--check"

"$IO" publish "$URL" "" src <"$T/in" || fail "publish"
[ "$(queue_count src)" = "$N" ] || fail "src holds $(queue_count src), not $N"
start=$SECONDS
timeout 300 "$SLUICE" -c "$T/p.conf" 2>"$T/run.log" || { rc=$?; tail "$T/run.log"; fail "sluice exited $rc"; }
echo "relayed $N in $((SECONDS - start)) s (idle exit included)"
grep -q "dead-lettered" "$T/run.log" && grep -q " 0 dead-lettered" "$T/run.log" || fail "dead letters: $(tail -n 1 "$T/run.log")"
[ "$(queue_total src)" = "0" ] || fail "src still holds $(queue_total src) (not all acked)"
"$IO" dump "$URL" dst "$N" >"$T/got" || fail "dump: only $(wc -l <"$T/got") messages"
# amqp_io prints headers sorted by name: sort the expected fields the same way.
awk -F'\t' -v OFS='\t' '{ n = 0; for (i = 1; i < NF; i++) if ($i ~ /^h\./) h[++n] = $i; else p = p $i OFS;
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (h[j] < h[i]) { x = h[i]; h[i] = h[j]; h[j] = x }
    s = p; for (i = 1; i <= n; i++) s = s h[i] OFS; print s $NF; p = "" }' "$T/want" >"$T/want.sorted"
if ! cmp -s "$T/want.sorted" "$T/got"; then
    diff "$T/want.sorted" "$T/got" | head -n 6
    fail "output differs from the input (+ the Lua changes)"
fi
echo "ok: $N messages, properties, headers and bodies equal, in order"

# traceparent: the trace id comes in through the AMQP header and goes out in
# it. Published to the exchange the first run declared: msg.source shows it.
TP=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
printf 'h.traceparent=%s\tbody={"id":1}\n' "$TP" | "$IO" publish "$URL" events orders.eu || fail "publish traced"
sed -i 's/trace_header = false/trace_header = true/' "$T/p.conf"
timeout 60 "$SLUICE" -c "$T/p.conf" 2>"$T/trace.log" || fail "traced run exited $?"
"$IO" dump "$URL" dst 1 >"$T/traced" || fail "no traced message"
grep -q 'h.traceparent=00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]\{16\}-01' "$T/traced" ||
    fail "trace id not carried: $(cat "$T/traced")"
grep -q "$TP" "$T/traced" && fail "the span id was not renewed"
grep -q 'h.x-rk=orders.eu' "$T/traced" || fail "msg.source.routing_key not orders.eu: $(cat "$T/traced")"
echo "ok: traceparent carried through, msg.source names the exchange's routing key"
