#!/usr/bin/env bash
# The file input's checkpoint cost: M lines (default 2 M, ~110-byte JSON log
# records) file -> file as raw lines, with and without state_file (interleaved,
# best of ROUNDS (3) each), then instructions per line under callgrind. Target:
# the checkpoint costs < 5 % of the rate.
# Usage: bench/checkpoint.sh [BUILD_DIR] [M]
set -euo pipefail
B=${1:-${SLUICE_BUILD_DIR:-build}}
M=${2:-2000000}
S=${SLUICE:-$B/bin/sluice}
export SLUICE_PLUGIN_PATH=${SLUICE_PLUGIN_PATH:-$B/plugins}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

echo "machine: $(nproc) cpu, load $(cut -d' ' -f1-3 /proc/loadavg)"
python3 "$(dirname "$0")/gen_logs.py" "$M" >"$T/in.jsonl"
for mode in plain checkpoint; do
    state=""
    [ $mode = checkpoint ] && state="state_file = \"$T/in.pos\";"
    cat >"$T/$mode.conf" <<CONF
inputs = ( { type = "file"; path = "$T/in.jsonl"; $state } );
outputs = ( { type = "file"; path = "$T/out.jsonl"; append = false; } );
CONF
done
run() { # mode -> rate
    rm -f "$T/in.pos"
    /usr/bin/time -f "%e" -o "$T/time" "$S" -c "$T/$1.conf" 2>/dev/null
    echo "$M / $(cat "$T/time")" | bc -l
}
for _ in $(seq 1 "${ROUNDS:-3}"); do
    run plain >>"$T/plain.r"
    run checkpoint >>"$T/checkpoint.r"
done
plain=$(sort -g "$T/plain.r" | tail -1)
cp=$(sort -g "$T/checkpoint.r" | tail -1)
printf 'file_to_file lines=%d lines_per_s=%.0f\n' "$M" "$plain"
printf 'file_to_file_checkpoint lines=%d lines_per_s=%.0f cost=%.3f\n' "$M" "$cp" \
    "$(echo "1 - $cp / $plain" | bc -l)"
# Instructions per line under callgrind (200 k lines): what the rates above
# show through the machine's noise, independent of its load.
if command -v valgrind >/dev/null; then
    head -n 200000 "$T/in.jsonl" >"$T/in200k.jsonl"
    sed -i "s#$T/in.jsonl#$T/in200k.jsonl#" "$T/plain.conf" "$T/checkpoint.conf"
    ir() { # mode -> instructions of the whole run
        rm -f "$T/in.pos"
        valgrind --tool=callgrind --callgrind-out-file="$T/cg" "$S" -c "$T/$1.conf" 2>&1 >/dev/null |
            sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
    }
    plain_ir=$(ir plain)
    cp_ir=$(ir checkpoint)
    printf 'file_to_file_instructions_per_line plain=%.0f checkpoint=%.0f cost=%.3f\n' \
        "$(echo "$plain_ir / 200000" | bc -l)" "$(echo "$cp_ir / 200000" | bc -l)" \
        "$(echo "$cp_ir / $plain_ir - 1" | bc -l)"
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
