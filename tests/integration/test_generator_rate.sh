#!/usr/bin/env bash
# generator: `rate` paces every message (a low rate used to emit 256 at once,
# then sleep 256/rate seconds without looking at stop(), so SIGTERM waited
# that long); a stop ends a paced run at once.
source "$(dirname "$0")/lib.sh"

cat > "$T/g.conf" <<CONF
inputs = ( { type = "generator"; count = 0; rate = 4; payload = "{seq}"; } );
outputs = ( { type = "stdout"; } );
CONF
"$SLUICE" -c "$T/g.conf" > "$T/out" 2> "$T/log" &
pid=$!; PIDS+=($pid)
sleep 1.1
n=$(wc -l < "$T/out")
# 4 or 5 on an idle machine; the bound leaves room for a loaded one, not for a burst
[ "$n" -ge 2 ] && [ "$n" -le 20 ] || fail "rate = 4: $n messages after 1.1 s (want about 5)"
start=$(date +%s%N)
kill -TERM $pid
rc=0; wait $pid || rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ $rc = 0 ] || { cat "$T/log"; fail "exit $rc after SIGTERM"; }
[ $ms -lt 1500 ] || fail "SIGTERM took $ms ms to end a paced generator"
[ "$(head -1 "$T/out")" = 0 ] || fail "first message is not seq 0"
pass "rate = 4: $n messages in 1.1 s, stopped in $ms ms"
