#!/usr/bin/env bash
# dedup handler cost: N distinct keys (default 10 M) through two JSON pipelines, with
# and without the dedup stage (best of ROUNDS, default 3, interleaved):
#   generator -> json decode -> [dedup key = record.id] -> json encode -> null
#     (an input without acks: the dedup stage brings the ack tokens it needs)
#   file (state_file: checkpointed, acked) -> json -> [dedup] -> json -> file
#     (a source that redelivers, which is what dedup is for), and the dedup one
#     again with the file output's state_file (its recovery marks, docs/files.md)
# Prints each rate ratio (target >= 0.8), the memory the held keys cost (peak RSS
# difference / N, target < 100 bytes per key), then the first with a state_file.
# Usage: bench/dedup.sh [BUILD_DIR] [N]
set -euo pipefail
B=${1:-${SLUICE_BUILD_DIR:-build}}
N=${2:-10000000}
S=${SLUICE:-$B/bin/sluice}
export SLUICE_PLUGIN_PATH=${SLUICE_PLUGIN_PATH:-$B/plugins}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

echo "machine: $(nproc) cpu, load $(cut -d' ' -f1-3 /proc/loadavg)"
payload='{\"id\":\"order-{seq}\",\"ts\":{ts},\"level\":\"info\",\"msg\":\"payment accepted for customer\",\"amount\":{seq}}'
conf() { # name handlers-line
    cat >"$T/$1.conf" <<CONF
inputs = ( { type = "generator"; count = $N; payload = "$payload"; codec = "json"; } );
$2
outputs = ( { type = "null"; codec = "json"; } );
CONF
}
dedup_stage="handlers = ( { type = \"dedup\"; key = \"record.id\"; max_keys = $N; } );"
conf plain ""
conf dedup "$dedup_stage"
conf state "handlers = ( { type = \"dedup\"; key = \"record.id\"; max_keys = $N; state_file = \"$T/keys\"; } );"
# The same records as lines of a file.
seq 1 "$N" | awk '{ printf "{\"id\":\"order-%d\",\"ts\":%d,\"level\":\"info\",\"msg\":\"payment accepted for customer\",\"amount\":%d}\n", $1, 1764500000 + $1, $1 }' >"$T/in.jsonl"
fconf() { # name handlers-line [output options]
    cat >"$T/$1.conf" <<CONF
inputs = ( { type = "file"; path = "$T/in.jsonl"; codec = "json"; state_file = "$T/in.pos"; } );
$2
outputs = ( { type = "file"; path = "$T/out.jsonl"; codec = "json"; append = false; ${3:-} } );
CONF
}
fconf fplain ""
fconf fdedup "$dedup_stage"
fconf fmarks "$dedup_stage" "state_file = \"$T/out.marks\";"

run() { # name -> "rate rss_kb"
    rm -f "$T/keys" "$T/keys.log" "$T/in.pos" "$T/out.jsonl" "$T/out.marks"
    /usr/bin/time -f "%e %M" -o "$T/time" "$S" -c "$T/$1.conf" >/dev/null 2>"$T/$1.log" ||
        { cat "$T/$1.log" >&2; exit 1; }
    read -r secs rss <"$T/time"
    echo "$(echo "$N / $secs" | bc -l) $rss"
}
for _ in $(seq 1 "${ROUNDS:-3}"); do
    run plain >>"$T/plain.r"
    run dedup >>"$T/dedup.r"
    run fplain >>"$T/fplain.r"
    run fdedup >>"$T/fdedup.r"
    run fmarks >>"$T/fmarks.r"
done
run state >>"$T/state.r"
best() { sort -g "$1" | tail -1; }
read -r plain_rate plain_rss < <(best "$T/plain.r")
read -r dedup_rate dedup_rss < <(best "$T/dedup.r")
read -r state_rate state_rss < <(best "$T/state.r")
read -r fplain_rate _ < <(best "$T/fplain.r")
read -r fdedup_rate _ < <(best "$T/fdedup.r")
read -r fmarks_rate _ < <(best "$T/fmarks.r")
printf 'json_no_dedup keys=%d records_per_s=%.0f peak_rss_kb=%d\n' "$N" "$plain_rate" "$plain_rss"
printf 'json_dedup keys=%d records_per_s=%.0f peak_rss_kb=%d fraction_of_no_dedup=%.3f bytes_per_key=%.1f\n' \
    "$N" "$dedup_rate" "$dedup_rss" "$(echo "$dedup_rate / $plain_rate" | bc -l)" \
    "$(echo "($dedup_rss - $plain_rss) * 1024 / $N" | bc -l)"
printf 'json_file_checkpointed_no_dedup keys=%d records_per_s=%.0f\n' "$N" "$fplain_rate"
printf 'json_file_checkpointed_dedup keys=%d records_per_s=%.0f fraction_of_no_dedup=%.3f\n' \
    "$N" "$fdedup_rate" "$(echo "$fdedup_rate / $fplain_rate" | bc -l)"
printf 'json_file_checkpointed_dedup_output_marks keys=%d records_per_s=%.0f fraction_of_dedup=%.3f\n' \
    "$N" "$fmarks_rate" "$(echo "$fmarks_rate / $fdedup_rate" | bc -l)"
printf 'json_dedup_state_file keys=%d records_per_s=%.0f fraction_of_no_dedup=%.3f\n' \
    "$N" "$state_rate" "$(echo "$state_rate / $plain_rate" | bc -l)"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
