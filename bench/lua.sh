#!/usr/bin/env bash
# Lua handler throughput: N JSON records (default 1 M, ~106 bytes each)
# file -> json -> lua (add one field) -> json -> file, handler workers = 2,
# against the same pipeline without the handler, measured in the same run.
# Variants: process(msg) adding a field, process_batch(msgs) adding a field,
# process(msg) passing msg on untouched (record never converted).
# Prints key=value lines; rates are the best of RUNS (default 3) runs.
#   SLUICE=build/bin/sluice SLUICE_PLUGIN_PATH=build/plugins bash bench/lua.sh
set -euo pipefail
SLUICE=${SLUICE:-build/bin/sluice}
export SLUICE_PLUGIN_PATH=${SLUICE_PLUGIN_PATH:-build/plugins}
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

best_rate() { # conf -> "rate cpu_s" of the fastest run
  local best=0 best_cpu=0
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -f "%e %U %S" -o time.txt "$SLUICE" -c "$1.conf" 2> log.txt ||
      { cat log.txt; exit 1; }
    [ "$(wc -l < out.jsonl)" -eq "$N" ] || { echo "$1: lost records" >&2; exit 1; }
    read -r wall user sys < time.txt
    local rate cpu
    rate=$(python3 -c "print(int($N / max($wall, 0.001)))")
    cpu=$(python3 -c "print(round($user + $sys, 2))")
    if [ "$rate" -gt "$best" ]; then best=$rate best_cpu=$cpu; fi
  done
  echo "$best $best_cpu"
}

read -r base base_cpu < <(best_rate base)
echo "lua.records=$N"
echo "lua.base_rps=$base"
echo "lua.base_cpu_s=$base_cpu"
for v in add batch pass; do
  read -r rate cpu < <(best_rate "$v")
  echo "lua.${v}_rps=$rate"
  echo "lua.${v}_cpu_s=$cpu"
  echo "lua.${v}_ratio=$(python3 -c "print(round($rate / $base, 2))")"
done
head -c 200 out.jsonl | head -1 >&2
