#!/usr/bin/env bash
# Two sluice instances in one consumer group on a 4-partition topic: both get
# partitions, together they deliver everything, and nothing twice in a clean run.
. "${SLUICE_SOURCE_DIR:-.}/tests/tools/kafka_lib.sh"
kafka_setup
mock_start -b 1 -t in:4

for x in a b; do
    cat >"$T/$x.conf" <<EOF
inputs = ( { type = "kafka"; name = "kin"; brokers = "$BROKERS"; topics = [ "in" ]; group = "t-group"; } );
outputs = ( { type = "file"; name = "fout"; path = "$T/$x.out"; } );
EOF
done
sluice_bg a "$T/a.conf" --log-level info
sluice_bg b "$T/b.conf" --log-level info

# The last assignment event of each instance is "assigned 2 partitions".
settled() {
    local x
    for x in a b; do
        grep -E 'worker [0-9]+ (assigned|revoked|lost)' "$T/$x.log" | tail -n 1 |
            grep -q 'assigned 2 partitions' || return 1
    done
}
wait_until 60 settled || fail "the group did not settle: $(grep -h partitions "$T/a.log" "$T/b.log")"

N=40000
gen_json $N 0 >"$T/in"
kcat -b "$BROKERS" -P -t in -K '	' <"$T/in" || fail "kcat produce"
lines() { cat "$T/a.out" "$T/b.out" 2>/dev/null | wc -l; }
lines_ge() { [ "$(lines)" -ge "$1" ]; }
wait_until 60 lines_ge $N || fail "only $(lines) of $N delivered"

for x in a b; do
    kill -TERM "$(eval echo "\$PID_$x")"
done
for x in a b; do
    wait "$(eval echo "\$PID_$x")"
    rc=$?
    [ $rc -eq 0 ] || { tail -n 5 "$T/$x.log"; fail "instance $x exited $rc"; }
done

na=$(wc -l <"$T/a.out")
nb=$(wc -l <"$T/b.out")
[ "$na" -gt 0 ] && [ "$nb" -gt 0 ] || fail "one instance got nothing (a=$na b=$nb)"
cut -f2 "$T/in" | LC_ALL=C sort >"$T/want"
cat "$T/a.out" "$T/b.out" | LC_ALL=C sort >"$T/got"
dups=$(uniq -d "$T/got" | wc -l)
[ "$dups" -eq 0 ] || fail "$dups messages delivered twice in a clean run"
cmp -s "$T/want" "$T/got" || fail "delivered set differs from the input"
"$OFFSETS_BIN" "$BROKERS" t-group in | grep -q '^total 0$' || fail "offsets not committed to the end"
echo "ok: a=$na b=$nb, all $N delivered once"
