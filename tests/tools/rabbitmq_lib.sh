# rabbitmq_lib.sh - a private RabbitMQ broker per test, for
# tests/integration/test_rabbitmq_*.sh and bench/rabbitmq.sh. Source it.
#
#   rabbit_setup                 temp dir in $T, EXIT trap, tools found
#   broker_start                 start a broker on free ports (node name, AMQP,
#                                distribution and epmd ports, data dir of its
#                                own); waits until it accepts AMQP; sets
#                                AMQP_PORT and URL (amqp://guest:guest@...)
#   broker_stop                  stop the broker (and its epmd); data kept
#   broker_restart               broker_stop + broker_start on the same ports
#   rmqctl ARGS...               rabbitmqctl against this broker
#   queue_count QUEUE            messages ready in QUEUE
#   sluice_bg NAME CONF [args]   sluice in the background; PID_<NAME>, log $T/NAME.log
#   wait_until SECS CMD...       retry CMD every 0.2 s until it succeeds
#   fail MSG                     print and exit 1
# The trap kills what sluice_bg started and stops the broker and its epmd,
# also when the test fails.

set -u
. "$(dirname "${BASH_SOURCE[0]}")/bg_lib.sh"

rabbit_setup() {
    SRC=${SLUICE_SOURCE_DIR:-$(pwd)}
    BUILD=${SLUICE_BUILD_DIR:-$SRC/build}
    SLUICE=${SLUICE:-$BUILD/bin/sluice}
    export SLUICE_PLUGIN_PATH=${SLUICE_PLUGIN_PATH:-$BUILD/plugins}
    RABBIT_SERVER=/usr/lib/rabbitmq/bin/rabbitmq-server
    RABBIT_CTL=/usr/lib/rabbitmq/bin/rabbitmqctl
    [ -x "$SLUICE" ] || fail "no sluice binary at $SLUICE"
    [ -x "$RABBIT_SERVER" ] || fail "rabbitmq-server is not installed"
    command -v amqp-publish >/dev/null || fail "amqp-tools is not installed"
    T=$(mktemp -d /tmp/sluice-rabbit.XXXXXX)
    RABBIT_TMP=$T
    BROKER_PID=""
    AMQP_PORT=""
    trap rabbit_cleanup EXIT
}

rabbit_cleanup() {
    bg_stop_all
    broker_stop
    if [ -n "${KEEP_TMP:-}" ]; then
        echo "kept $RABBIT_TMP" >&2
    else
        rm -rf "$RABBIT_TMP"
    fi
}

# A TCP port nobody listens on, as the kernel hands them out.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Runs CMD with the broker's environment.
broker_env() {
    env HOME="$RABBIT_TMP/home" \
        RABBITMQ_NODENAME="$NODE" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
        RABBITMQ_NODE_PORT="$AMQP_PORT" RABBITMQ_DIST_PORT="$DIST_PORT" \
        ERL_EPMD_PORT="$EPMD_PORT" ERL_EPMD_ADDRESS=127.0.0.1 \
        RABBITMQ_MNESIA_BASE="$RABBIT_TMP/mnesia" RABBITMQ_LOG_BASE="$RABBIT_TMP/rlog" \
        RABBITMQ_PID_FILE="$RABBIT_TMP/broker.pid" \
        RABBITMQ_ENABLED_PLUGINS_FILE="$RABBIT_TMP/enabled_plugins" \
        RABBITMQ_CONFIG_FILE="$RABBIT_TMP/rabbitmq" "$@"
}

rmqctl() {
    broker_env "$RABBIT_CTL" -n "$NODE" -q "$@"
}

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Picks a node name and free ports for a new broker, and writes its config.
broker_pick() {
    NODE="sluice$$-$RANDOM@localhost"
    AMQP_PORT=$(free_port)
    DIST_PORT=$(free_port)
    EPMD_PORT=$(free_port)
    URL="amqp://guest:guest@127.0.0.1:$AMQP_PORT"
    rm -rf "$RABBIT_TMP/mnesia"
    mkdir -p "$RABBIT_TMP/home" "$RABBIT_TMP/mnesia" "$RABBIT_TMP/rlog"
    echo '[].' >"$RABBIT_TMP/enabled_plugins"
    # Small but not test-hostile defaults; RABBIT_CONF adds lines.
    {
        echo "loopback_users = none"
        echo "vm_memory_high_watermark.relative = 0.8"
        echo "disk_free_limit.absolute = 50MB"
        echo "${RABBIT_CONF:-}"
    } >"$RABBIT_TMP/rabbitmq.conf"
}

# Starts the broker on the ports picked; false (with why in START_ERR) when it
# does not come up.
broker_launch() {
    START_ERR=""
    port_open "$AMQP_PORT" && { START_ERR="AMQP port $AMQP_PORT is taken by someone else"; return 1; }
    broker_env "$RABBIT_SERVER" >>"$RABBIT_TMP/broker.out" 2>&1 &
    BROKER_PID=$!
    local i
    for i in $(seq 1 300); do
        port_open "$AMQP_PORT" && break
        kill -0 "$BROKER_PID" 2>/dev/null ||
            { START_ERR="broker died: $(tail -n 20 "$RABBIT_TMP/broker.out")"; return 1; }
        sleep 0.1
    done
    rmqctl await_startup >/dev/null 2>&1 ||
        { START_ERR="broker did not start: $(tail -n 20 "$RABBIT_TMP/broker.out")"; return 1; }
}

broker_start() {
    # A new broker whose ports another test's broker took in the meantime
    # (free ports are picked, then released to the broker: two tests running
    # at once can pick the same) tries again on new ports; a restart keeps its.
    local fresh=0 try
    [ -z "$AMQP_PORT" ] && fresh=1
    for try in 1 2 3; do
        [ $fresh = 1 ] && broker_pick
        broker_launch && return 0
        [ $fresh = 1 ] || break
        echo "broker start $try failed on port $AMQP_PORT (${START_ERR%%:*}); new ports" >&2
        broker_stop
    done
    fail "$START_ERR"
}

# The Erlang VM's pid: the server script does not exec into it.
beam_pid() {
    cat "$RABBIT_TMP/broker.pid" 2>/dev/null
}

broker_stop() {
    [ -n "$BROKER_PID" ] || return 0
    local beam i
    beam=$(beam_pid)
    [ -n "$beam" ] && kill -TERM "$beam" 2>/dev/null
    for i in $(seq 1 100); do
        [ -n "$beam" ] && kill -0 "$beam" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$beam" ] && kill -9 "$beam" 2>/dev/null
    kill -9 "$BROKER_PID" 2>/dev/null
    wait "$BROKER_PID" 2>/dev/null
    rm -f "$RABBIT_TMP/broker.pid"
    BROKER_PID=""
    ERL_EPMD_PORT="$EPMD_PORT" epmd -kill >/dev/null 2>&1
    return 0
}

broker_restart() {
    broker_stop
    broker_start
}

# Messages ready in a queue (0 when it does not exist).
queue_count() {
    rmqctl list_queues name messages_ready 2>/dev/null | awk -v q="$1" '$1 == q { print $2; f = 1 } END { if (!f) print 0 }'
}

# Messages ready + unacked.
queue_total() {
    rmqctl list_queues name messages 2>/dev/null | awk -v q="$1" '$1 == q { print $2; f = 1 } END { if (!f) print 0 }'
}

declare_queue() {
    amqp-declare-queue --url "$URL" -d -q "$1" >/dev/null || fail "declare queue $1"
}

