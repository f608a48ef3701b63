#!/usr/bin/env bash
# The sluice binary exports exactly the SDK to its plugins: every function
# the public headers declare, and no engine internal (sl__*) or other symbol.
source "$(dirname "$0")/lib.sh"

src=${SLUICE_SOURCE_DIR:-.}
nm -D --defined-only "$SLUICE" | awk '$2 ~ /^[TtDdBbRrWwVv]$/ {print $3}' | sed 's/@.*//' |
  grep -v -x -E '_edata|_end|__bss_start|_IO_stdin_used' | sort -u > "$T/exported"
grep -E '^sl__' "$T/exported" > "$T/internal" && { cat "$T/internal"; fail "internal sl__ symbols exported"; }
grep -v -E '^sl_' "$T/exported" | grep -v -x -E 'optarg|optind|stderr|stdout|stdin' > "$T/other" &&
  { cat "$T/other"; fail "non-SDK symbols exported"; }
# functions declared in the SDK headers (static inline ones are not symbols, nor the
# sl__ helpers such inline functions and their macros call)
cat "$src"/core/include/sluice/*.h | grep -v 'static inline' |
  grep -oE '\bsl_[a-z0-9][a-z0-9_]*\(' | tr -d '(' | sort -u > "$T/declared"
comm -23 "$T/declared" <(grep '^sl_' "$T/exported") > "$T/missing"
[ -s "$T/missing" ] && { cat "$T/missing"; fail "SDK functions the binary does not export"; }
comm -13 "$T/declared" <(grep '^sl_' "$T/exported") > "$T/undeclared"
[ -s "$T/undeclared" ] && { cat "$T/undeclared"; fail "exported sl_ symbols no header declares"; }
pass "exports: $(wc -l < "$T/declared") SDK functions, no internals"
