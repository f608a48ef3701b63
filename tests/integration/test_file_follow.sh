#!/usr/bin/env bash
# follow = true never loses lines silently: a copytruncate (the file cut to 0
# and written again) is read again from the start; a rename + recreate is
# noticed, the old file finished (lines written to it after the rename
# included) and the new one read from its start; a removed file or one
# replaced by a directory is logged and the old file still read. Lines
# written before and after each rotation all arrive, once.
source "$(dirname "$0")/lib.sh"

log="$T/app.log"
lines() { # from to: numbered 100-byte lines
  python3 -c "import sys
for i in range($1, $2 + 1): print('line %06d ' % i + 'x' * 88)"
}
# start_follow NAME: sluice following $log into $T/NAME.out
start_follow() {
  cat > "$T/$1.conf" <<CONF
queue = { linger_ms = 0; };
inputs = ( { type = "file"; path = "$log"; follow = true; } );
outputs = ( { type = "file"; path = "$T/$1.out"; append = false; } );
CONF
  "$SLUICE" -c "$T/$1.conf" 2> "$T/$1.log" & PIDS+=($!)
  pid=$!
}
# wait_lines NAME N: until $T/NAME.out has N lines (10 s at most)
wait_lines() {
  for _ in $(seq 200); do
    [ "$({ wc -l < "$T/$1.out"; } 2>/dev/null || echo 0)" -ge "$2" ] && return 0
    sleep 0.05
  done
  cat "$T/$1.log"; fail "$1: $(wc -l < "$T/$1.out") lines arrived, want $2"
}
# finish NAME FROM TO: stop sluice; its output must be lines FROM..TO once each
finish() {
  kill -TERM "$pid"; wait "$pid" || { cat "$T/$1.log"; fail "$1: sluice exited $?"; }
  lines "$2" "$3" | cmp - "$T/$1.out" || { cat "$T/$1.log"; fail "$1: lines lost, repeated or reordered"; }
}

# copytruncate: 100 lines of 101 bytes, then the file is copied and cut to 0, then 20 more
# lines (fewer bytes than were read before: the size tells).
lines 1 100 > "$log"
start_follow truncate
wait_lines truncate 100
cp "$log" "$log.1"; : > "$log"
lines 101 120 >> "$log"
wait_lines truncate 120
grep -qE "app.log: truncated \(now [0-9]+ bytes, 10100 were read\); reading it again from the start" "$T/truncate.log" \
  || { cat "$T/truncate.log"; fail "truncate: not logged"; }
finish truncate 1 120
pass "copytruncate: detected, logged, read again from the start; 120 lines once each"

# rename + recreate: the writer still appends to the renamed file for a
# while, then a new file appears at the path.
rm -f "$log" "$log.1"
lines 1 50 > "$log"
start_follow rename
wait_lines rename 50
mv "$log" "$log.1"
sleep 0.3 # sluice sees the path gone
lines 51 60 >> "$log.1"
lines 61 80 > "$log"
wait_lines rename 80
grep -q "app.log: No such file or directory; still reading the file that was there" "$T/rename.log" \
  || { cat "$T/rename.log"; fail "rename: the missing path was not logged"; }
grep -q "app.log: replaced (rotated): finished the old file after line 60; reading the new one from its start" "$T/rename.log" \
  || { cat "$T/rename.log"; fail "rename: the switch was not logged"; }
lines 81 90 >> "$log"
wait_lines rename 90
finish rename 1 90
pass "rename + recreate: old file finished (60 lines), new one read; 90 lines once each"

# rename + recreate at once (no gap), the old file's last line unfinished:
# it is delivered as read, with a warning.
rm -f "$log" "$log.1"
lines 1 10 > "$log"
start_follow swap
wait_lines swap 10
printf 'line 000011 unfinished' >> "$log"
mv "$log" "$log.1"; lines 12 20 > "$log"
wait_lines swap 20
grep -q "ended inside a line; its 22 bytes are delivered as read" "$T/swap.log" || { cat "$T/swap.log"; fail "swap: torn last line not logged"; }
kill -TERM "$pid"; wait "$pid" || fail "swap: exit $?"
{ lines 1 10; echo "line 000011 unfinished"; lines 12 20; } | cmp - "$T/swap.out" || fail "swap: lines lost"
pass "rename + recreate at once, old last line unfinished: delivered as read, logged"

# removed, then a directory at the path: logged once, the old file (still
# open, still written) read on.
rm -f "$log" "$log.1"
lines 1 10 > "$log"
start_follow removed
wait_lines removed 10
exec 4>> "$log"
rm "$log"
sleep 0.3
lines 11 20 >&4
wait_lines removed 20
mkdir "$log"
sleep 0.3
lines 21 25 >&4
exec 4>&-
wait_lines removed 25
[ "$(grep -c "still reading the file that was there" "$T/removed.log")" = 1 ] \
  || { cat "$T/removed.log"; fail "removed: want the disappearance logged once"; }
finish removed 1 25
pass "removed, then a directory at the path: logged once, the old file read on; 25 lines"
