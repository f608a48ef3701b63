#!/usr/bin/env bash
# Core engine benchmarks; prints one machine-readable line per figure.
#  1. generator -> null: engine overhead per message (target >= 5 M msgs/s)
#  2. 2 M JSON lines: file -> json -> json -> file, against a plain C
#     getline+fwrite copy of the same file in the same run (target >= 1/8,
#     aim 1/4), with peak RSS (target < 200 MB, flat as the input grows)
# Usage: bench/core.sh [BUILD_DIR]   (best of 3 runs each)
set -euo pipefail
B=${1:-build}
S=$B/bin/sluice
export SLUICE_PLUGIN_PATH=$B/plugins
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

best() { sort -g | tail -1; }
run() { # conf -> prints "seconds rss_kb"
  /usr/bin/time -f "%e %M" -o "$T/time" "$S" -c "$1" 2> /dev/null > /dev/null
  cat "$T/time"
}

echo "machine: $(nproc) cpu, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(. /etc/os-release; echo "$PRETTY_NAME")"

N=20000000
cat > "$T/gen.conf" <<CONF
inputs = ( { type = "generator"; count = $N; payload = "event {seq} hello sluice"; } );
outputs = ( { type = "null"; } );
CONF
rates=""
for _ in 1 2 3; do
  read -r secs rss < <(run "$T/gen.conf")
  rates+="$(echo "$N / $secs" | bc -l) $rss"$'\n'
done
read -r rate rss < <(printf '%s' "$rates" | sort -g | tail -1)
printf 'generator_to_null msgs=%d msgs_per_s=%.0f peak_rss_kb=%d\n' $N "$rate" "$rss"

M=2000000
python3 bench/gen_logs.py $M > "$T/in.jsonl" 2>/dev/null ||
  python3 "$(dirname "$0")/gen_logs.py" $M > "$T/in.jsonl"
bytes=$(stat -c %s "$T/in.jsonl")
base=$(for _ in 1 2 3; do "$B/bench/bench_copy_lines" "$T/in.jsonl" "$T/copy.jsonl" | sed 's/.*lines_per_s=\([0-9]*\).*/\1/'; done | best)
printf 'getline_fwrite_copy lines=%d lines_per_s=%d\n' $M "$base"
for workers in 1 2; do
  cat > "$T/json.conf" <<CONF
inputs = ( { type = "file"; path = "$T/in.jsonl"; codec = "json"; decode_workers = $workers; } );
outputs = ( { type = "file"; path = "$T/out.jsonl"; codec = "json"; append = false; workers = $workers; } );
CONF
  rates=""
  for _ in 1 2 3; do
    read -r secs rss < <(run "$T/json.conf")
    rates+="$(echo "$M / $secs" | bc -l) $rss"$'\n'
  done
  read -r rate rss < <(printf '%s' "$rates" | sort -g | tail -1)
  printf 'json_file_to_file workers=%d records=%d records_per_s=%.0f mb_per_s=%.1f peak_rss_kb=%d fraction_of_copy=%.3f\n' \
    $workers $M "$rate" "$(echo "$rate * $bytes / $M / 1000000" | bc -l)" "$rss" "$(echo "$rate / $base" | bc -l)"
done

# RSS as the input grows 8x (same pipeline, 1/8 of the records)
head -n $((M / 8)) "$T/in.jsonl" > "$T/small.jsonl"
sed "s|$T/in.jsonl|$T/small.jsonl|" "$T/json.conf" > "$T/small.conf"
read -r _ rss_small < <(run "$T/small.conf")
printf 'json_rss_growth records_small=%d peak_rss_kb_small=%d records_big=%d peak_rss_kb_big=%d\n' \
  $((M / 8)) "$rss_small" $M "$rss"
