#!/usr/bin/env bash
# Two sluice instances in one consumer group on a 4-partition topic: both get
# partitions, together they deliver everything, and nothing twice in a clean run.
# Instance a runs alone first and delivers half the data; b then joins, so a
# rebalance takes partitions away from a running instance (what a committed on
# revoke must not be read again). Run with the eager (range) and the cooperative
# (cooperative-sticky) rebalance protocols. The mock rejects commits while the
# group rebalances (a real broker takes them until the join completes) and
# waits most of session.timeout.ms for members to rejoin, hence the wait for
# a's commits before b starts and the short session timeout.
. "${SLUICE_SOURCE_DIR:-.}/tests/tools/kafka_lib.sh"
kafka_setup
mock_start -b 1

# Partitions an instance owns, from its assigned/revoked/lost log lines.
owned() {
    grep -E 'worker [0-9]+ (assigned|revoked|lost) [0-9]+ partitions' "$T/$1.log" |
        awk '{ for (i = 1; i < NF; i++) if ($i == "worker") { op = $(i + 2); n = $(i + 3) }
               if (op == "assigned") c += n; else c -= n } END { print c + 0 }'
}
owns() { [ "$(owned "$1")" = "$2" ]; }
settled() { owns a 2 && owns b 2; }
committed_all() { "$OFFSETS_BIN" "$BROKERS" "$1" "$2" 2>/dev/null | grep -q '^total 0$'; }
lines() { cat "$T/a.out" "$T/b.out" 2>/dev/null | wc -l; }
lines_ge() { [ "$(lines)" -ge "$1" ]; }

run_group() {
    local strategy=$1 x rc
    T=$KAFKA_TMP/$strategy
    mkdir -p "$T"
    mock_cmd "topic in-$strategy 4"
    for x in a b; do
        cat >"$T/$x.conf" <<EOF
inputs = ( { type = "kafka"; name = "kin"; brokers = "$BROKERS"; topics = [ "in-$strategy" ];
             group = "t-group-$strategy";
             properties = [ "partition.assignment.strategy=$strategy",
                            "session.timeout.ms=6000", "heartbeat.interval.ms=500" ]; } );
outputs = ( { type = "file"; name = "fout"; path = "$T/$x.out"; } );
EOF
    done
    N=40000
    gen_json $N 0 >"$T/in"
    head -n $((N / 2)) "$T/in" >"$T/in.1"
    tail -n $((N / 2)) "$T/in" >"$T/in.2"

    sluice_bg a "$T/a.conf" --log-level info
    wait_until 30 owns a 4 || fail "$strategy: a got no partitions"
    kcat -b "$BROKERS" -P -t "in-$strategy" -K '	' <"$T/in.1" || fail "kcat produce"
    wait_until 60 lines_ge $((N / 2)) || fail "$strategy: a delivered only $(lines)"
    wait_until 30 committed_all "t-group-$strategy" "in-$strategy" || fail "$strategy: a did not commit"

    sluice_bg b "$T/b.conf" --log-level info
    wait_until 60 settled ||
        fail "$strategy: the group did not settle: $(grep -h partitions "$T/a.log" "$T/b.log")"
    kcat -b "$BROKERS" -P -t "in-$strategy" -K '	' <"$T/in.2" || fail "kcat produce"
    wait_until 60 lines_ge $N || fail "$strategy: only $(lines) of $N delivered"
    sleep 1 # anything delivered twice would show up now

    for x in a b; do
        kill -TERM "$(eval echo "\$PID_$x")"
    done
    for x in a b; do
        wait "$(eval echo "\$PID_$x")"
        rc=$?
        [ $rc -eq 0 ] || { tail -n 5 "$T/$x.log"; fail "$strategy: instance $x exited $rc"; }
    done

    na=$(wc -l <"$T/a.out")
    nb=$(wc -l <"$T/b.out")
    [ "$nb" -gt 0 ] || fail "$strategy: b got nothing"
    cut -f2 "$T/in" | LC_ALL=C sort >"$T/want"
    cat "$T/a.out" "$T/b.out" | LC_ALL=C sort >"$T/got"
    dups=$(uniq -d "$T/got" | wc -l)
    [ "$dups" -eq 0 ] || fail "$strategy: $dups messages delivered twice in a clean run"
    cmp -s "$T/want" "$T/got" || fail "$strategy: delivered set differs from the input"
    "$OFFSETS_BIN" "$BROKERS" "t-group-$strategy" "in-$strategy" | grep -q '^total 0$' ||
        fail "$strategy: offsets not committed to the end"
    echo "ok ($strategy): a=$na b=$nb (b got $(grep -c . "$T/b.out") of the second half), all $N delivered once"
}

run_group range
run_group cooperative-sticky
