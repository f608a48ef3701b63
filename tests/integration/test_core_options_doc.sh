#!/usr/bin/env bash
# docs/options.md is what the built plugins declare: regenerated from
# `sluice --list-plugins=markdown`, it must not differ (make docs-options).
source "$(dirname "$0")/lib.sh"

build=${SLUICE_BUILD_DIR:-build}
bash scripts/options-doc.sh "$build" > "$T/options.md"
diff -u docs/options.md "$T/options.md" > "$T/diff" ||
  { cat "$T/diff"; fail "docs/options.md is stale: run make docs-options"; }
grep -q '^| `max_line` | int | `16777216` | 1..1073741824 |' docs/options.md ||
  fail "docs/options.md lacks the ranges"
pass "docs/options.md matches the plugins' options tables ($(grep -c '^## ' docs/options.md) plugins)"
