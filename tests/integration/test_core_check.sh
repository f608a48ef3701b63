#!/usr/bin/env bash
# Values that used to pass --check and then fail at run time (exit 2, no
# FILE:LINE) or misbehave: each is refused by --check AND at start with exit 1
# and exactly one line, "FILE:LINE: message".
source "$(dirname "$0")/lib.sh"

n=0
refused() { # line message config-text
  local line=$1 msg=$2 conf="$T/c$n.conf"; n=$((n + 1))
  printf '%s\n' "$3" > "$conf"
  for mode in --check run; do
    local rc=0 args=(-c "$conf")
    [ $mode = --check ] && args+=(--check)
    timeout 20 "$SLUICE" "${args[@]}" < /dev/null > "$T/out" 2> "$T/err" || rc=$?
    [ $rc = 1 ] || { cat "$T/err"; fail "$mode: exit $rc (want 1) for: $3"; }
    [ "$(cat "$T/err")" = "$conf:$line: $msg" ] ||
      { cat "$T/err"; fail "$mode: want exactly '$conf:$line: $msg'"; }
  done
}
IO=$'inputs = ( { type = "generator"; count = 1; } );\noutputs = ( { type = "null"; } );'

refused 1 "metrics.listen must be HOST:PORT or [IPV6]:PORT ('127.0.0.1:notaport': the port must be a number 1..65535)" \
  "metrics = { listen = \"127.0.0.1:notaport\"; };"$'\n'"$IO"
refused 1 "metrics.listen: 'metrics.example' is not an IPv4 address of this host" \
  "metrics = { listen = \"metrics.example:9464\"; };"$'\n'"$IO"
refused 2 "option 'topics' of input 'kafka' item 2 must be a valid regular expression ('^orders-(': Unmatched ( or \\()" \
  $'inputs = ( { type = "kafka"; brokers = "127.0.0.1:1";\n  topics = [ "a", "^orders-(" ]; } );\noutputs = ( { type = "null"; } );'
refused 2 "option 'drain_timeout_ms' of input 'kafka' must be between 0 and 3600000, not -1" \
  $'inputs = ( { type = "kafka"; brokers = "127.0.0.1:1"; topics = [ "t" ];\n  drain_timeout_ms = -1; } );\noutputs = ( { type = "null"; } );'
refused 1 "retry: 'backoff_ms' (500) must not exceed 'max_backoff_ms' (100)" \
  "retry = { backoff_ms = 500; max_backoff_ms = 100; };"$'\n'"$IO"
refused 2 "'match' must not be empty (\"*\" takes every route)" \
  $'inputs = ( { type = "generator"; count = 1; } );\noutputs = ( { type = "null"; match = ""; } );'
refused 1 "option 'path' of input 'file' must not be empty" \
  $'inputs = ( { type = "file"; path = ""; } );\noutputs = ( { type = "null"; } );'
refused 1 "option 'path' of input 'file' must be a readable file ('$T/missing.txt': No such file or directory)" \
  $'inputs = ( { type = "file"; path = "'"$T"$'/missing.txt"; } );\noutputs = ( { type = "null"; } );'
refused 3 "option 'path' of output 'file' must be a file to write (directory '$T/no/such' does not exist)" \
  $'inputs = ( { type = "generator"; count = 1; } );\noutputs = ( { type = "null"; } );\ndead_letter = { type = "file"; path = "'"$T"$'/no/such/dlq.txt"; };'
printf 'a\nb\n' > "$T/in.txt"
refused 2 "input 'file' runs at most 1 worker, not 2" \
  $'inputs = ( { type = "file"; path = "'"$T"$'/in.txt";\n  workers = 2; } );\noutputs = ( { type = "null"; } );'
refused 1 "input 'stdin' runs at most 1 worker, not 2" \
  $'inputs = ( { type = "stdin"; workers = 2; } );\noutputs = ( { type = "null"; } );'
# librdkafka settings that only clash when a client is made (rd_kafka_new)
refused 2 "kafka: librdkafka: \`acks\` must be set to \`all\` when \`enable.idempotence\` is true" \
  $'inputs = ( { type = "generator"; count = 1; } );\noutputs = ( { type = "kafka"; brokers = "127.0.0.1:1"; topic = "t";\n  properties = [ "acks=1" ]; } );'
refused 1 "kafka: librdkafka: \`fetch.max.bytes\` must be >= \`message.max.bytes\`" \
  $'inputs = ( { type = "kafka"; brokers = "127.0.0.1:1"; topics = [ "t" ];\n  properties = [ "fetch.max.bytes=1000", "message.max.bytes=2000" ]; } );\noutputs = ( { type = "null"; } );'
# errors a plugin's init finds (sl_instance_error): one line, nothing added by the core
refused 2 "rabbitmq: tls is set but the url is not amqps://" \
  $'inputs = ( { type = "generator"; count = 1; } );\noutputs = ( { type = "rabbitmq"; url = "amqp://127.0.0.1:1/";\n  tls = { verify = false; }; } );'
# two writers of one file: each would corrupt what the other writes
refused 3 "dead_letter 'dead_letter': 'path' names the file output 'file' writes too ('state_file', $T/marks): two writers would corrupt it" \
  $'inputs = ( { type = "generator"; count = 1; } );\noutputs = ( { type = "file"; path = "'"$T"$'/o.txt"; state_file = "'"$T"$'/marks"; } );\ndead_letter = { type = "file"; path = "'"$T"$'/marks"; };'
refused 2 "output #1 'file': 'path' and 'state_file' name the same file ($T/o.txt): one would corrupt the other" \
  $'inputs = ( { type = "generator"; count = 1; } );\noutputs = ( { type = "file"; path = "'"$T"$'/o.txt"; state_file = "'"$T"$'/./o.txt"; } );'
refused 3 "output #2 'file-2': 'path' names the file output 'file' writes too ('path', $T/../$(basename "$T")/o.txt): two writers would corrupt it" \
  $'inputs = ( { type = "generator"; count = 1; } );\noutputs = ( { type = "file"; path = "'"$T"$'/o.txt"; },\n  { type = "file"; path = "'"$T"$'/../'"$(basename "$T")"$'/o.txt"; } );'
pass "$n refused configs: exit 1 and one FILE:LINE line, at --check and at start"
# a handler's state file and an output's: refused at --check (at start the handler,
# read first, has opened its file by then)
printf '%s\n' 'inputs = ( { type = "generator"; count = 1; } );' \
  "handlers = ( { type = \"dedup\"; key = \"payload\"; state_file = \"$T/keys\"; } );" \
  "outputs = ( { type = \"kafka\"; brokers = \"127.0.0.1:1\"; topic = \"t\"; state_file = \"$T/keys\"; } );" >"$T/clash.conf"
rc=0; "$SLUICE" -c "$T/clash.conf" --check > /dev/null 2> "$T/err" || rc=$?
[ $rc = 1 ] && grep -qx "$T/clash.conf:3: output #1 'kafka': 'state_file' names the file handler 'dedup' writes too ('state_file', $T/keys): two writers would corrupt it" "$T/err" ||
  { cat "$T/err"; fail "dedup and kafka state files on one file: exit $rc"; }
pass "a handler's and an output's state files on one file: refused at --check"
# a device takes any number of writers: two outputs on /dev/null are fine
printf '%s\n' 'inputs = ( { type = "generator"; count = 1; } );' \
  'outputs = ( { type = "file"; path = "/dev/null"; }, { type = "file"; path = "/dev/null"; } );' >"$T/null2.conf"
"$SLUICE" -c "$T/null2.conf" --check > /dev/null 2> "$T/err" || { cat "$T/err"; fail "two outputs on /dev/null refused"; }
"$SLUICE" -c "$T/null2.conf" 2> "$T/err" || { cat "$T/err"; fail "two outputs on /dev/null: run failed"; }
pass "two outputs on /dev/null: accepted"

# A plugin's own init error (here a Lua script that does not compile) is one
# line with FILE:LINE and the instance, not two.
printf 'function process(msg) return msg\n' > "$T/bad.lua"
printf '%s\n' "inputs = ( { type = \"generator\"; count = 1; } );" \
  "handlers = ( { type = \"lua\"; name = \"enrich\"; script = \"$T/bad.lua\"; } );" \
  "outputs = ( { type = \"null\"; } );" > "$T/lua.conf"
rc=0; "$SLUICE" -c "$T/lua.conf" --check > /dev/null 2> "$T/err" || rc=$?
[ $rc = 1 ] && [ "$(wc -l < "$T/err")" = 1 ] && grep -q "^$T/lua.conf:2: enrich: " "$T/err" ||
  { cat "$T/err"; fail "lua init error: exit $rc, want one line '$T/lua.conf:2: enrich: ...'"; }
pass "a plugin's init error: one FILE:LINE: NAME: line"
