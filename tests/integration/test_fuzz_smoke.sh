#!/usr/bin/env bash
# A short run of every libFuzzer target in tests/fuzz (ASan + UBSan): each is built and
# fed its seed corpus plus FUZZ_SMOKE_RUNS (default 3000) mutated inputs. Any crash, leak
# or UB report fails. Longer runs: make fuzz.
. "$(dirname "$0")/lib.sh"
src=${SLUICE_SOURCE_DIR:-$(pwd)}
root=${SLUICE_BUILD_DIR:-$src/build}/fuzz
runs=${FUZZ_SMOKE_RUNS:-3000}
command -v clang >/dev/null || fail "clang is needed (scripts/install-deps.sh installs it)"
n=0
for t in "$src"/tests/fuzz/fuzz_*.c; do
  name=$(basename "$t" .c); name=${name#fuzz_}
  log="$T/$name.log"
  if ! FUZZ_ROOT="$root" FUZZ_DIR="$T/$name" bash "$src/tests/fuzz/run.sh" "$name" 60 \
       -runs="$runs" -seed=1 >"$log" 2>&1; then
    tail -40 "$log" >&2
    fail "fuzz_$name found a problem (log above; reproduce with tests/fuzz/run.sh $name)"
  fi
  grep -q "Done $runs runs" "$log" || { tail -20 "$log" >&2; fail "fuzz_$name did not run"; }
  n=$((n + 1))
  pass "fuzz_$name: seeds + $runs runs, nothing found"
done
[ "$n" -ge 5 ] || fail "only $n fuzz targets found"
