# kafka_lib.sh - shared helpers for tests/integration/test_kafka_*.sh and bench/kafka.sh.
# Source it; it sets up a temp dir, a cleanup trap, and finds the binaries.
#
#   kafka_setup                    temp dir in $T, trap, tools found
#   mock_start [kafka_mock args]   start the mock cluster; sets BROKERS, MOCK_PID
#   mock_cmd "down 0"              send a control command to the mock
#   conf_from FILE OUT [sed args]  copy a config replacing 127.0.0.1:9092 by $BROKERS
#   sluice_bg NAME CONF [args]     start sluice in the background; sets PID_<NAME>
#   wait_until SECS CMD...         retry CMD every 0.2 s until it succeeds
#   topic_count TOPIC              messages in a topic (sum of high watermarks)
#   count_ge TOPIC N               topic holds at least N messages
#   fail MSG                       print and exit 1

set -u
. "$(dirname "${BASH_SOURCE[0]}")/bg_lib.sh"

kafka_setup() {
    SRC=${SLUICE_SOURCE_DIR:-$(pwd)}
    BUILD=${SLUICE_BUILD_DIR:-$SRC/build}
    SLUICE=${SLUICE:-$BUILD/bin/sluice}
    export SLUICE_PLUGIN_PATH=${SLUICE_PLUGIN_PATH:-$BUILD/plugins}
    MOCK_BIN=$BUILD/tests/tools/kafka_mock
    OFFSETS_BIN=$BUILD/tests/tools/kafka_offsets
    [ -x "$SLUICE" ] || fail "no sluice binary at $SLUICE"
    [ -x "$MOCK_BIN" ] || fail "no kafka_mock at $MOCK_BIN (build tests/tools)"
    command -v kcat >/dev/null || fail "kcat is not installed"
    T=$(mktemp -d /tmp/sluice-kafka.XXXXXX)
    KAFKA_TMP=$T # T may be pointed elsewhere by a test; this stays
    trap kafka_cleanup EXIT
}

kafka_cleanup() {
    bg_stop_all
    if [ -n "${KEEP_TMP:-}" ]; then
        echo "kept $KAFKA_TMP" >&2
    else
        rm -rf "$KAFKA_TMP"
    fi
}

mock_start() {
    mkfifo "$KAFKA_TMP/mock.ctl"
    "$MOCK_BIN" "$@" <"$KAFKA_TMP/mock.ctl" >"$KAFKA_TMP/mock.out" 2>"$KAFKA_TMP/mock.err" &
    MOCK_PID=$!
    bg_track "$MOCK_PID"
    exec 9>"$KAFKA_TMP/mock.ctl" # hold the control pipe open
    local i
    for i in $(seq 1 100); do
        BROKERS=$(head -n 1 "$KAFKA_TMP/mock.out" 2>/dev/null)
        [ -n "$BROKERS" ] && return 0
        sleep 0.05
    done
    fail "kafka_mock did not start: $(cat "$KAFKA_TMP/mock.err")"
}

mock_lines_gt() { [ "$(grep -c '' "$KAFKA_TMP/mock.out")" -gt "$1" ]; }
mock_cmd() {
    local before
    before=$(grep -c '' "$KAFKA_TMP/mock.out")
    echo "$*" >&9
    wait_until 5 mock_lines_gt "$before" || fail "mock: no answer to $*"
    tail -n 1 "$KAFKA_TMP/mock.out" | grep -q '^ok' || fail "mock: $* -> $(tail -n 1 "$KAFKA_TMP/mock.out")"
}

conf_from() {
    local in=$1 out=$2
    shift 2
    sed -e "s#127.0.0.1:9092#$BROKERS#g" "$@" "$in" >"$out"
}


topic_count() {
    "$OFFSETS_BIN" "$BROKERS" - "$1" 2>/dev/null | awk '$1 == "total" { print $2 }'
}

# True when TOPIC holds at least N messages (for wait_until: arguments are
# expanded once, so the count must happen inside the command).
count_ge() {
    local c
    c=$(topic_count "$1")
    [ -n "$c" ] && [ "$c" -ge "$2" ]
}

# Generates N JSON lines "key<TAB>payload" with keys k<batch>-<i>.
gen_json() {
    awk -v n="$1" -v b="${2:-0}" 'BEGIN { for (i = 1; i <= n; i++)
        printf "k%d-%d\t{\"id\":%d,\"batch\":%d,\"name\":\"user-%d\",\"tags\":[\"a\",\"b\"],\"ok\":true}\n", b, i, i, b, i }'
}
