#!/usr/bin/env bash
# Codec benchmark: the same N (default 1 M) log records, ~100 bytes each, in a u32be-framed
# file as JSON, protobuf (shop.v1.LogLine) and msgpack; each is run through
# file -> decode -> encode -> file with its own codec. Prints per codec the best of 3
# interleaved runs: records/s (wall), CPU seconds (user+sys) and records per CPU second,
# peak RSS, and the ratio to JSON (target >= 1.5 for both binary codecs). Then mallocs per
# record in steady state, counted by an LD_PRELOAD shim over runs of 200 k and 400 k
# records: (mallocs(400k) - mallocs(200k)) / 200k. Last, instructions per record under
# callgrind (50 k records; independent of the machine's load), with the framed passthrough
# (no codec) as the floor.
# Usage: bench/codecs.sh [BUILD_DIR]     (N=... to change the count)
set -euo pipefail
B=${1:-${SLUICE_BUILD_DIR:-build}}
S=${SLUICE:-$B/bin/sluice}
export SLUICE_PLUGIN_PATH=${SLUICE_PLUGIN_PATH:-$B/plugins}
SRC=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-1000000}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

echo "machine: $(nproc) cpu, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(. /etc/os-release; echo "$PRETTY_NAME")"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at start"

# N records shaped like shop.v1.LogLine: ts, level, host, msg, ms, tags, user {sku, qty}.
awk -v n="$N" 'BEGIN { split("info warn error debug", lv, " ");
  for (i = 0; i < n; i++)
    printf "{\"ts\":%d,\"level\":\"%s\",\"host\":\"web-%02d\",\"msg\":\"GET /orders/%d\",\"ms\":%d.%02d,\"tags\":[\"api\",\"v%d\"],\"user\":{\"sku\":\"u-%d\",\"qty\":%d}}\n",
      1732579200000 + i, lv[i % 4 + 1], i % 16, i, i % 500, i % 100, i % 3, i % 10000, i % 7 }' >"$T/in.jsonl"
protoc --include_imports --descriptor_set_out="$T/shop.desc" -I"$SRC/tests/data/proto" shop.proto
codec() { # name -> the codec setting
  case $1 in
  json) echo '"json"' ;;
  msgpack) echo '"msgpack"' ;;
  protobuf) echo "{ type = \"protobuf\"; descriptor_set = \"$T/shop.desc\"; message = \"shop.v1.LogLine\"; }" ;;
  esac
}
prepare() { # codec in out: JSON lines -> u32be frames of that codec
  cat >"$T/prep.conf" <<CONF
inputs = ( { type = "file"; path = "$1"; codec = "json"; } );
outputs = ( { type = "file"; path = "$3"; append = false; framing = "u32be"; codec = $(codec "$2"); } );
CONF
  "$S" -c "$T/prep.conf" 2>/dev/null
}
conf() { # codec in out -> config file path
  cat >"$T/$1.conf" <<CONF
inputs = ( { type = "file"; path = "$2"; framing = "u32be"; codec = $(codec "$1"); } );
outputs = ( { type = "file"; path = "$3"; append = false; framing = "u32be"; codec = $(codec "$1"); } );
CONF
  echo "$T/$1.conf"
}
CODECS="json protobuf msgpack"
for c in $CODECS; do
  prepare "$T/in.jsonl" "$c" "$T/in.$c"
done

# Best of 3 interleaved runs per codec (by wall time).
for run in 1 2 3; do
  for c in $CODECS; do
    /usr/bin/time -f "%e %U %S %M" -o "$T/time" "$S" -c "$(conf "$c" "$T/in.$c" "$T/out.$c")" 2>/dev/null
    cmp -s "$T/in.$c" "$T/out.$c" || { echo "$c: output differs from input" >&2; exit 1; }
    echo "$c $(cat "$T/time")" >>"$T/runs"
  done
done
json_rate=0
for c in $CODECS; do
  read -r wall user sys rss < <(awk -v c="$c" '$1 == c { print $2, $3, $4, $5 }' "$T/runs" | sort -g | head -1)
  rate=$(echo "$N / $wall" | bc -l)
  cpu=$(echo "$user + $sys" | bc -l)
  [ "$c" = json ] && json_rate=$rate
  printf 'codec=%s records=%d bytes_per_record=%.1f records_per_s=%.0f cpu_s=%.2f records_per_cpu_s=%.0f peak_rss_kb=%d vs_json=%.2f\n' \
    "$c" "$N" "$(echo "$(stat -c %s "$T/in.$c") / $N - 4" | bc -l)" "$rate" "$cpu" \
    "$(echo "$N / $cpu" | bc -l)" "$rss" "$(echo "$rate / $json_rate" | bc -l)"
done

# Mallocs per record: a shim counts malloc/calloc/realloc of the whole process.
cat >"$T/count.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
extern void *__libc_malloc(size_t), *__libc_calloc(size_t, size_t), *__libc_realloc(void *, size_t);
static unsigned long n;
void *malloc(size_t s) { __atomic_fetch_add(&n, 1, __ATOMIC_RELAXED); return __libc_malloc(s); }
void *calloc(size_t a, size_t b) { __atomic_fetch_add(&n, 1, __ATOMIC_RELAXED); return __libc_calloc(a, b); }
void *realloc(void *p, size_t s) { __atomic_fetch_add(&n, 1, __ATOMIC_RELAXED); return __libc_realloc(p, s); }
__attribute__((destructor)) static void report(void)
{
    const char *f = getenv("MALLOC_COUNT_FILE");
    FILE *o = f ? fopen(f, "w") : NULL;
    if (o) { fprintf(o, "%lu\n", n); fclose(o); }
}
C
cc -O2 -shared -fPIC -o "$T/count.so" "$T/count.c"
for k in 200000 400000; do
  head -n $k "$T/in.jsonl" >"$T/in$k.jsonl"
done
for c in $CODECS; do
  m=()
  for k in 200000 400000; do
    prepare "$T/in$k.jsonl" "$c" "$T/in$k.$c"
    MALLOC_COUNT_FILE="$T/count" LD_PRELOAD="$T/count.so" "$S" -c "$(conf "$c" "$T/in$k.$c" "$T/out$k.$c")" 2>/dev/null
    m+=("$(cat "$T/count")")
  done
  printf 'codec=%s mallocs_200k=%d mallocs_400k=%d mallocs_per_record=%.4f\n' "$c" "${m[0]}" "${m[1]}" \
    "$(echo "(${m[1]} - ${m[0]}) / 200000" | bc -l)"
done
# Instructions per record (callgrind), the same for every load.
if command -v valgrind >/dev/null; then
  head -n 50000 "$T/in.jsonl" >"$T/in50k.jsonl"
  ir() { # config -> instructions of the whole run
    valgrind --tool=callgrind --callgrind-out-file="$T/cg" "$S" -c "$1" 2>&1 >/dev/null |
      sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
  }
  prepare "$T/in50k.jsonl" json "$T/in50k.json"
  cat >"$T/raw.conf" <<CONF
inputs = ( { type = "file"; path = "$T/in50k.json"; framing = "u32be"; } );
outputs = ( { type = "file"; path = "$T/out50k.raw"; append = false; framing = "u32be"; } );
CONF
  floor=$(ir "$T/raw.conf")
  printf 'codec=none instructions_per_record=%.0f (framed passthrough, the floor)\n' "$(echo "$floor / 50000" | bc -l)"
  for c in $CODECS; do
    prepare "$T/in50k.jsonl" "$c" "$T/in50k.$c"
    i=$(ir "$(conf "$c" "$T/in50k.$c" "$T/out50k.$c")")
    [ "$c" = json ] && json_ir=$i
    printf 'codec=%s instructions_per_record=%.0f codec_instructions_per_record=%.0f json_over_this=%.2f\n' "$c" \
      "$(echo "$i / 50000" | bc -l)" "$(echo "($i - $floor) / 50000" | bc -l)" "$(echo "$json_ir / $i" | bc -l)"
  done
fi
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at the end"
