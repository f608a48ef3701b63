# Shared helpers for the integration tests (sourced, not run).
set -euo pipefail
: "${SLUICE:=build/bin/sluice}"
: "${SLUICE_PLUGIN_PATH:=build/plugins}"
export SLUICE_PLUGIN_PATH
T=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }
# peak_rss_kb CMD... : run CMD, print its peak RSS in KB on fd 3
peak_rss_kb() { /usr/bin/time -f "%M" -o "$T/rss" "$@"; cat "$T/rss"; }
