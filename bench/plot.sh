#!/usr/bin/env bash
# Throughput plot from benchmark output: every line "NAME key=value ..." with
# a *_per_s field becomes one bar (log scale), drawn by gnuplot as SVG.
# Usage: bench/plot.sh BENCH_OUTPUT OUT.svg   (make bench writes both)
set -euo pipefail
in=$1 out=$2
data=$(mktemp)
trap 'rm -f "$data"' EXIT
# name, rate (M/s): first *_per_s field of each figure line; a name seen
# twice (several worker counts) gets its first extra key=value as a suffix.
awk '{
  rate = ""; extra = ""
  for (i = 2; i <= NF; i++) {
    split($i, kv, "=")
    if (rate == "" && kv[1] ~ /_per_s$/) rate = kv[2]
    if (i == 2) extra = $i
  }
  if (rate == "") next
  name = $1; if (seen[name]++) name = name " (" extra ")"
  gsub(/_/, " ", name)
  printf "\"%s\" %.6f\n", name, rate / 1e6
}' "$in" > "$data"
[ -s "$data" ] || { echo "plot.sh: no *_per_s figures in $in" >&2; exit 1; }
n=$(wc -l < "$data")
machine=$(sed -n 's/^machine: //p' "$in" | head -1)
gnuplot <<GP
set terminal svg size 900,$((120 + 28 * n)) font "Helvetica,12" background "white"
set output "$out"
set title "sluice throughput, million messages per second (log scale)\n${machine}" noenhanced
set style fill solid 0.8 border -1
set logscale x 10
set xrange [0.01:*]
set grid xtics
unset key
set yrange [-0.7:$n - 0.3]
set ytics noenhanced
set offsets 0, 0, 0, 0
plot "$data" using (\$2 / 2):0:(0.01):(\$2):(\$0 - 0.35):(\$0 + 0.35):ytic(1) with boxxyerror lc rgb "#3b82f6", \
     "$data" using 2:0:(sprintf(" %.2f", \$2)) with labels left noenhanced
GP
echo "plot: $n figures -> $out"
