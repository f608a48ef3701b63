#!/usr/bin/env bash
# Globs in the file input's path: every matching file is read (sorted, each to its
# end), msg.source.name says which; a glob with no match is an error without follow
# and fine with it; an output onto a file the glob matches is refused; with
# state_file each file resumes where it was (clean stop and kill -9), an entry for a
# file that is gone is dropped; with follow, a new file is picked up, a rotation
# (rename + new file, and copytruncate) of one file works, a deleted file is
# finished and dropped.
. "${SLUICE_SOURCE_DIR:-.}/tests/integration/lib.sh"

mkdir "$T/logs"
cat >"$T/tag.lua" <<'LUA'
function process(msg)
  msg.payload = msg.source.name:match("[^/]*$") .. " " .. msg.payload
  return msg
end
LUA
conf() { # follow -> $T/p.conf
    cat >"$T/p.conf" <<CONF
inputs = ( { type = "file"; path = "$T/logs/*.log"; state_file = "$T/state"; follow = $1;
             checkpoint_ms = 50; } );
handlers = ( { type = "lua"; script = "$T/tag.lua"; } );
outputs = ( { type = "file"; path = "$T/out"; } );
CONF
}
run() { "$SLUICE" -c "$T/p.conf" 2>>"$T/log" || { cat "$T/log"; fail "run exited $?"; }; }
lines() { for i in $(seq "$2" "$3"); do echo "$1 $i"; done; }

# Several files, without follow: sorted, each to its end, tagged with its name.
seq 1 3000 >"$T/logs/b.log"
seq 1 2000 >"$T/logs/a.log"
echo never >"$T/logs/skip.txt"
mkdir "$T/logs/dir.log" # a directory that matches is not a file to read
conf false
run
cmp -s "$T/out" <(lines a.log 1 2000; lines b.log 1 3000) ||
    { head "$T/out"; fail "several files: not a.log then b.log, each whole"; }
pass "glob without follow: matching files in sorted order, each whole, msg.source.name per file"

# Restart: nothing read twice; appended lines read.
run
[ "$(wc -l <"$T/out")" -eq 5000 ] || fail "a clean restart read lines again"
grep -q "a.log: resuming at byte" "$T/log" || { cat "$T/log"; fail "no resume line for a.log"; }
seq 3001 3002 >>"$T/logs/b.log"
run
cmp -s <(tail -n 2 "$T/out") <(lines b.log 3001 3002) || fail "appended lines not read once"
pass "restart with state_file: each file resumes, nothing read twice"

# A state file of the previous version (one file, on its header line) still resumes.
seq 1 10 >"$T/plain"
printf 'sluice-file-checkpoint 1 dev=%s ino=%s offset=10 line=5\n' $(stat -c '%d %i' "$T/plain") >"$T/plain.state"
cat >"$T/plain.conf" <<CONF
inputs = ( { type = "file"; path = "$T/plain"; state_file = "$T/plain.state"; } );
outputs = ( { type = "file"; path = "$T/plain.out"; } );
CONF
"$SLUICE" -c "$T/plain.conf" 2>>"$T/log" || { cat "$T/log"; fail "plain run exited $?"; }
cmp -s "$T/plain.out" <(seq 6 10) || fail "a version 1 state file did not resume"
pass "a version 1 state file still resumes"

# No match: an error naming the pattern without follow, fine with it.
sed 's#logs/\*\.log#logs/*.nothing#' "$T/p.conf" >"$T/none.conf"
"$SLUICE" -c "$T/none.conf" --check 2>"$T/check.err" && fail "--check accepted a glob with no match"
grep -q "none.conf:1: .*no file matches '$T/logs/\*.nothing'" "$T/check.err" ||
    { cat "$T/check.err"; fail "no FILE:LINE error naming the pattern"; }
sed -i 's#follow = false#follow = true#' "$T/none.conf"
"$SLUICE" -c "$T/none.conf" --check >/dev/null 2>"$T/check.err" || { cat "$T/check.err"; fail "--check refused a followed glob with no match"; }
pass "a glob with no match: an error naming it without follow, accepted with follow"

# An output onto a file the glob matches, existing or not yet: refused.
for target in "$T/logs/a.log" "$T/logs/new.log"; do
    sed "s#path = \"$T/out\"#path = \"$target\"#" "$T/p.conf" >"$T/loop.conf"
    "$SLUICE" -c "$T/loop.conf" --check 2>"$T/check.err" && fail "output onto $target accepted"
    grep -q "loop.conf:4: .*would write $target, which input 'file' reads" "$T/check.err" ||
        { cat "$T/check.err"; fail "no refusal naming $target"; }
done
pass "an output onto a file the glob matches (or will) is refused"

# Following: a new file is picked up, a.log rotates (rename + new file), b.log is
# copytruncated, c.log deleted; kill -9 then restart; then a clean stop.
rm -rf "$T/logs/"* "$T/state" "$T/out"
: >"$T/log"
seq 1 20000 >"$T/logs/a.log"
seq 1 20000 >"$T/logs/b.log"
conf true
has() { grep -qxF "$1" "$T/out" 2>/dev/null; }
wait_for() { for _ in $(seq 1 100); do has "$1" && return 0; sleep 0.1; done; cat "$T/log"; fail "never saw '$1'"; }
"$SLUICE" -c "$T/p.conf" 2>>"$T/log" &
pid=$!
PIDS+=("$pid")
wait_for "b.log 20000"
seq 1 100 >"$T/logs/c.log"
wait_for "c.log 100"
seq 20001 20010 >>"$T/logs/a.log"
mv "$T/logs/a.log" "$T/logs/a.log.1"
seq 20011 20020 >>"$T/logs/a.log.1" # written after the rename: still read
seq 1 5 | sed 's/^/new /' >"$T/logs/a.log"
wait_for "a.log new 5"
wait_for "a.log 20020"
: >"$T/logs/b.log" # copytruncate
sleep 0.5
seq 1 3 | sed 's/^/again /' >>"$T/logs/b.log"
wait_for "b.log again 3"
c_ino=$(stat -c %i "$T/logs/c.log")
rm "$T/logs/c.log"
wait_log() { for _ in $(seq 1 50); do grep -q "$1" "$T/log" && return 0; sleep 0.1; done; cat "$T/log"; fail "$2"; }
wait_log "c.log: deleted; finished after line 100" "deleted file not finished"
# renamed away: finished after its grace second, its late lines included
wait_log "a.log: no longer matched (renamed); finished after line 20020" "rotated file not finished"
grep -q "b.log: truncated" "$T/log" || { cat "$T/log"; fail "copytruncate not seen"; }
sleep 0.3 # a checkpoint interval
grep -q "ino=$c_ino " "$T/state" && { cat "$T/state"; fail "the deleted file's entry stayed"; }
seq 1 30000 | sed 's/^/more /' >>"$T/logs/a.log"
sleep 0.1
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
# Restart after kill -9: every line at least once, each file resumed (not reread).
before=$(wc -l <"$T/out")
"$SLUICE" -c "$T/p.conf" 2>>"$T/log" &
pid=$!
PIDS+=("$pid")
wait_for "a.log more 30000"
# The first run may have written the last line already: wait for the restart's word.
wait_log "a.log: resuming at byte" "a.log not resumed after kill -9"
wait_log "b.log: resuming at byte" "b.log not resumed after kill -9"
kill -TERM "$pid"
wait "$pid" || fail "clean stop exited $?"
expect() {
    lines a.log 1 20020
    seq 1 5 | sed 's/^/a.log new /'
    seq 1 30000 | sed 's/^/a.log more /'
    lines b.log 1 20000
    seq 1 3 | sed 's/^/b.log again /'
    lines c.log 1 100
}
missing=$(comm -13 <(sort -u "$T/out") <(expect | sort -u) | wc -l)
[ "$missing" -eq 0 ] || fail "$missing lines lost across kill -9"
again=$(($(wc -l <"$T/out") - $(sort -u "$T/out" | wc -l)))
[ "$again" -lt 30000 ] || fail "$again lines read twice: the restart did not resume"
echo "  kill -9 at $before lines: $again read again (in flight)"
# A clean stop then a restart reads nothing again.
total=$(wc -l <"$T/out")
"$SLUICE" -c "$T/p.conf" 2>>"$T/log" &
pid=$!
PIDS+=("$pid")
sleep 1
kill -TERM "$pid"
wait "$pid" || fail "clean stop exited $?"
[ "$(wc -l <"$T/out")" -eq "$total" ] || fail "a restart after a clean stop read lines again"
pass "follow: new file, rotation, copytruncate, deletion; restart after kill -9 and clean stop"
