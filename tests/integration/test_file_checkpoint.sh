#!/usr/bin/env bash
# The file input's state_file: a clean restart reads nothing twice and picks up
# appended lines; another file at the path (inode changed) or a truncated one starts
# over with a log line saying why; under follow, a rotation (rename + new file) is
# finished and then the new file read, and a restart resumes in the new file.
. "${SLUICE_SOURCE_DIR:-.}/tests/integration/lib.sh"

conf() { # follow -> $T/p.conf
    cat >"$T/p.conf" <<CONF
inputs = ( { type = "file"; path = "$T/in"; state_file = "$T/in.state"; follow = $1;
             checkpoint_ms = 50; } );
outputs = ( { type = "file"; path = "$T/out"; } );
CONF
}
conf false
seq 1 50000 >"$T/in"
"$SLUICE" -c "$T/p.conf" 2>"$T/log1" || { cat "$T/log1"; fail "run 1"; }
"$SLUICE" -c "$T/p.conf" 2>"$T/log2" || { cat "$T/log2"; fail "run 2"; }
grep -q 'resuming at byte 288894 (after line 50000)' "$T/log2" || { cat "$T/log2"; fail "no resume"; }
seq 50001 50010 >>"$T/in"
"$SLUICE" -c "$T/p.conf" 2>"$T/log3" || { cat "$T/log3"; fail "run 3"; }
cmp -s "$T/out" <(seq 1 50010) || fail "output is not lines 1..50010 exactly once"
pass "clean restarts: nothing read twice, appended lines picked up"

# Another file at the path: the saved offset means nothing there.
seq 1 5 >"$T/in.new" && mv "$T/in.new" "$T/in"
"$SLUICE" -c "$T/p.conf" 2>"$T/log4" || { cat "$T/log4"; fail "run 4"; }
grep -q 'state file is for another file (inode' "$T/log4" || { cat "$T/log4"; fail "no inode log line"; }
[ "$(tail -n 5 "$T/out" | tr '\n' ' ')" = "1 2 3 4 5 " ] || fail "the new file was not read from the start"
# The same file, now shorter than the checkpoint: copytruncate while stopped.
seq 1 100 >"$T/in" # same inode, 292 bytes > the 10 saved
"$SLUICE" -c "$T/p.conf" 2>"$T/log5" || { cat "$T/log5"; fail "run 5"; }
: >"$T/in"
seq 7 8 >>"$T/in"
"$SLUICE" -c "$T/p.conf" 2>"$T/log6" || { cat "$T/log6"; fail "run 6"; }
grep -q 'truncated): reading from the start' "$T/log6" || { cat "$T/log6"; fail "no truncation log line"; }
[ "$(tail -n 2 "$T/out" | tr '\n' ' ')" = "7 8 " ] || fail "the truncated file was not read again"
pass "inode changed or file truncated: read from the start, with a log line"

# Rotation while following: the old file is finished, then the new one read.
conf true
: >"$T/out"
rm -f "$T/in.state"
seq 1 1000 >"$T/in"
"$SLUICE" -c "$T/p.conf" 2>"$T/log7" &
pid=$!
PIDS+=("$pid")
wait_lines() { for _ in $(seq 1 100); do [ "$(wc -l <"$T/out")" -ge "$1" ] && return 0; sleep 0.1; done; return 1; }
wait_lines 1000 || fail "follow: first 1000 lines not read"
seq 1001 1500 >>"$T/in"
mv "$T/in" "$T/in.1"
seq 1501 2000 >"$T/in"
wait_lines 2000 || { cat "$T/log7"; fail "follow: rotation not followed ($(wc -l <"$T/out") lines)"; }
sleep 0.2 # one checkpoint interval
kill -TERM "$pid"
wait "$pid" || fail "follow run exited $?"
cmp -s "$T/out" <(seq 1 2000) || fail "rotation: output is not 1..2000 in order"
grep -q "ino=$(stat -c %i "$T/in") offset=$(stat -c %s "$T/in") line=500" "$T/in.state" ||
    { cat "$T/in.state"; fail "the checkpoint does not name the new file at its end"; }
seq 2001 2003 >>"$T/in"
conf false
"$SLUICE" -c "$T/p.conf" 2>"$T/log8" || { cat "$T/log8"; fail "run after rotation"; }
cmp -s "$T/out" <(seq 1 2003) || fail "restart after rotation read lines again or lost some"
pass "rotation under follow: old file finished, new one read, restart resumes in the new file"
