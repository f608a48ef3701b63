#!/usr/bin/env bash
# Throughput plot from benchmark output (what `make bench` saves), one bar per
# figure, log scale, drawn by gnuplot as SVG. A figure is either a line
# "NAME key=value ..." with a *_per_s field (NAME may itself be key=value, as
# codec=json), or a line "KEY=VALUE" whose KEY ends in _per_s or _rps, named
# after its bench ("== bench/kafka.sh" -> "kafka: sluice after assign").
# Usage: bench/plot.sh BENCH_OUTPUT OUT.svg   (make bench writes both)
set -euo pipefail
in=$1 out=$2
data=$(mktemp)
trap 'rm -f "$data"' EXIT
# name, rate (M/s): first *_per_s field of each figure line; a name seen
# twice (several worker counts) gets its first extra key=value as a suffix.
awk '/^== bench\// { bench = $2; sub(/^bench\//, "", bench); sub(/\.sh$/, "", bench); next }
{
  rate = ""; extra = ""; name = $1
  if (NF == 1 && split($1, kv, "=") == 2 && kv[1] ~ /(_per_s|_rps)$/) {
    rate = kv[2]; name = kv[1]
    sub(/(_msgs_per_s|_per_s|_rps)$/, "", name); sub(/^lua\./, "", name)
    name = bench ": " name
  } else {
    for (i = 2; i <= NF; i++) {
      split($i, kv, "=")
      if (rate == "" && kv[1] ~ /_per_s$/) rate = kv[2]
      if (i == 2) extra = $i
    }
    if (split(name, kv, "=") == 2) name = bench ": " kv[2]
  }
  if (rate == "" || rate !~ /^[0-9.]+$/) next
  if (seen[name]++) name = name " (" extra ")"
  gsub(/_/, " ", name)
  printf "\"%s\" %.6f\n", name, rate / 1e6
}' "$in" > "$data"
[ -s "$data" ] || { echo "plot.sh: no *_per_s figures in $in" >&2; exit 1; }
n=$(wc -l < "$data")
# the most telling machine line: one naming the CPU model, else the first
machine=$( (grep -E '^machine: .*(Intel|AMD|ARM)' "$in" || grep '^machine: ' "$in") | head -1 | sed 's/^machine: //')
gnuplot <<GP
set terminal svg size 900,$((120 + 28 * n)) font "Helvetica,12" background "white"
set output "$out"
set title "sluice throughput, million messages per second (log scale)\n${machine}" noenhanced
set style fill solid 0.8 border -1
set logscale x 10
set xrange [0.005:*]
set grid xtics
unset key
set yrange [-0.7:$n - 0.3]
set ytics noenhanced
set offsets 0, 0, 0, 0
plot "$data" using (\$2 / 2):0:(0.005):(\$2):(\$0 - 0.35):(\$0 + 0.35):ytic(1) with boxxyerror lc rgb "#3b82f6", \
     "$data" using 2:0:(sprintf(" %.3g", \$2)) with labels left noenhanced
GP
echo "plot: $n figures -> $out"
