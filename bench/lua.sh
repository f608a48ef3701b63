#!/usr/bin/env bash
# Lua handler throughput: N JSON records (default 1 M, ~106 bytes each)
# file -> json -> lua (add one field) -> json -> file, handler workers = 2,
# against the same pipeline without the handler, measured in the same run.
# Variants: process(msg) adding a field (lazy msg.record, the default),
# the same with lazy_record = false (the record becomes a plain table),
# process_batch(msgs) adding a field, process(msg) passing msg on untouched.
# Prints key=value lines; rates are the best of RUNS (default 3) rounds, each
# round running every variant once (so load from elsewhere hits all alike).
#   SLUICE=build/bin/sluice SLUICE_PLUGIN_PATH=build/plugins bash bench/lua.sh
set -euo pipefail
# Absolute paths: the script works in a temp dir. SLUICE_BUILD_DIR is what `make bench` sets.
B=$(realpath "${SLUICE_BUILD_DIR:-build}")
SLUICE=$(realpath "${SLUICE:-$B/bin/sluice}")
SLUICE_PLUGIN_PATH=$(realpath "${SLUICE_PLUGIN_PATH:-$B/plugins}")
export SLUICE_PLUGIN_PATH
N=${N:-1000000}
RUNS=${RUNS:-3}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T"

python3 - "$N" <<'EOF'
import random, sys
n = int(sys.argv[1]); r = random.Random(1); lv = ["info", "warn", "error", "debug"]
with open("in.jsonl", "w") as f:
    for i in range(n):
        f.write('{"id":%d,"ts":%d,"level":"%s","user":"u%05d","latency_ms":%.2f,"msg":"request served from cache"}\n'
                % (i, 1700000000000 + i, lv[i % 4], r.randrange(100000), r.random() * 100))
EOF
echo 'function process(msg) msg.record.processed = true return msg end' > add.lua
cat > batch.lua <<'EOF'
function process_batch(msgs)
  for i = 1, #msgs do msgs[i].record.processed = true end
  return msgs
end
EOF
echo 'function process(msg) return msg end' > pass.lua
conf() { # name handler-line
  cat > "$1.conf" <<EOF
inputs = ( { type = "file"; name = "in"; path = "in.jsonl"; codec = "json"; } );
$2
outputs = ( { type = "file"; name = "out"; path = "out.jsonl"; codec = "json"; append = false; fsync = false; } );
EOF
}
conf base ""
for v in add batch pass; do
  conf "$v" "handlers = ( { type = \"lua\"; name = \"lua\"; script = \"$v.lua\"; workers = 2; } );"
done
conf add_table 'handlers = ( { type = "lua"; name = "lua"; script = "add.lua"; workers = 2; lazy_record = false; } );'

variants="base add add_table batch pass"
declare -A best cpu
for v in $variants; do best[$v]=0; cpu[$v]=0; done
for _ in $(seq "$RUNS"); do
  for v in $variants; do
    /usr/bin/time -f "%e %U %S" -o time.txt "$SLUICE" -c "$v.conf" 2> log.txt ||
      { cat log.txt; exit 1; }
    [ "$(wc -l < out.jsonl)" -eq "$N" ] || { echo "$v: lost records" >&2; exit 1; }
    read -r wall user sys < time.txt
    rate=$(python3 -c "print(int($N / max($wall, 0.001)))")
    if [ "$rate" -gt "${best[$v]}" ]; then
      best[$v]=$rate
      cpu[$v]=$(python3 -c "print(round($user + $sys, 2))")
    fi
  done
done
echo "lua.records=$N"
for v in $variants; do
  echo "lua.${v}_rps=${best[$v]}"
  echo "lua.${v}_cpu_s=${cpu[$v]}"
  [ "$v" = base ] || echo "lua.${v}_ratio=$(python3 -c "print(round(${best[$v]} / ${best[base]}, 2))")"
done
echo "lua.load_avg=$(cut -d' ' -f1 /proc/loadavg)"
