#!/usr/bin/env bash
# Print docs/options.md: every built-in plugin's options with the checks the
# core makes at --check, from `sluice --list-plugins=markdown` itself (the
# plugins built in BUILD/plugins only, not others on the search path).
# Usage: scripts/options-doc.sh [BUILD]   (make docs-options writes the file)
set -euo pipefail
build=${1:-build}
cat <<'HEAD'
# Plugin options

Every option of every built-in plugin, with what `sluice --check` (and every start) checks
in it; a value outside these is refused with `FILE:LINE: message` and exit 1. Generated
by `make docs-options` from `sluice --list-plugins=markdown`; a test fails when it differs.
The keys every stage takes (`workers`, `codec`, `match`, `batch`, `retry`, ...) are in
[Configuration](configuration.md#what---check-checks).

Checks: `a..b` an inclusive range, `>= a` a lower bound, `ms` a duration in
milliseconds, `one of:` the accepted values; `a readable file` must exist and be readable
(a relative path is taken from the working directory), `a file to write` must be in an
existing directory; `HOST:PORT` takes `[IPv6]:PORT` too; a regex must compile (POSIX
extended, as librdkafka uses). `not empty` and every string check refuse `""`.
HEAD
SLUICE_PLUGIN_PATH="$build/plugins" "$build/bin/sluice" --list-plugins=markdown |
  awk -v dir="$build/plugins" '
    BEGIN { pre["input"] = "in"; pre["codec"] = "codec"; pre["handler"] = "handler"; pre["output"] = "out" }
    /^## / { name = $3; gsub(/[`:]/, "", name); keep = system("test -f " dir "/" pre[$2] "_" name ".so") == 0 }
    keep || !started { print }
    /^## / { started = 1 }'
