# bg_lib.sh - background processes of a test, shared by kafka_lib.sh and
# rabbitmq_lib.sh (sourced by them, not by tests).
#
#   sluice_bg NAME CONF [args]   sluice in the background; PID_<NAME>, output
#                                in $T/NAME.out, log in $T/NAME.log
#   bg_track PID                 kill PID with the others at the end
#   bg_stop_all                  kill -9 and reap every tracked process
#   wait_until SECS CMD...       retry CMD every 0.2 s until it succeeds
#   fail MSG                     print and exit 1

BG_PIDS=""

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

bg_track() { BG_PIDS="$BG_PIDS $1"; }

bg_stop_all() {
    local p
    for p in $BG_PIDS; do
        kill -9 "$p" 2>/dev/null
    done
    for p in $BG_PIDS; do
        wait "$p" 2>/dev/null
    done
    BG_PIDS=""
}

sluice_bg() {
    local name=$1 conf=$2
    shift 2
    "$SLUICE" -c "$conf" "$@" >"$T/$name.out" 2>"$T/$name.log" &
    eval "PID_$name=$!"
    bg_track $!
}

wait_until() {
    local end=$((SECONDS + $1))
    shift
    while [ $SECONDS -lt $end ]; do
        "$@" 2>/dev/null && return 0
        sleep 0.2
    done
    "$@" 2>/dev/null
}
