#!/usr/bin/env bash
# The file and stdout outputs never leave a torn line for the next write to be
# glued onto: a write that fails part-way on a full filesystem (a real tmpfs)
# is cut back to whole lines (file) or its torn line finished (stdout), and
# once space returns every line is there, whole; appending to a file whose
# last line was torn ends that line first; a permanently failing device
# dead-letters every message. Needs root for the tmpfs (skipped otherwise).
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || { echo "skip: mounting a tmpfs needs root"; exit 77; }
MNT="$T/mnt"
mkdir "$MNT"
umount_full() { umount "$MNT" 2>/dev/null || true; cleanup; }
trap umount_full EXIT
mount -t tmpfs -o size=64k tmpfs "$MNT"

# 500 lines of 100 bytes, in sorted order,: 50,000 bytes in two batches of 256 lines, on a
# 64 KiB filesystem with 32 KiB taken: the second batch fails part-way.
python3 -c 'for i in range(500): print("line %05d " % i + "x" * 88)' > "$T/in.txt"
retry='retry = { max_attempts = 1000; backoff_ms = 20; max_backoff_ms = 100; };'

# run_full NAME REDIRECT: runs the pipeline in $T/NAME.conf with the output
# full, waits for the failed write, frees the space, waits for the end.
run_full() {
  local name=$1 out=$2
  dd if=/dev/zero of="$MNT/filler" bs=1024 count=32 status=none
  if [ -n "$out" ]; then
    "$SLUICE" -c "$T/$name.conf" > "$out" 2> "$T/$name.log" & PIDS+=($!)
  else
    "$SLUICE" -c "$T/$name.conf" 2> "$T/$name.log" & PIDS+=($!)
  fi
  local pid=$! i
  for i in $(seq 200); do grep -q "write failed" "$T/$name.log" && break; sleep 0.05; done
  grep -q "No space left on device" "$T/$name.log" || { cat "$T/$name.log"; fail "$name: the disk never filled"; }
  sleep 0.2 # a few retries against the full disk
  rm "$MNT/filler"
  wait "$pid" || { cat "$T/$name.log"; fail "$name: sluice exited $?"; }
}

cat > "$T/file.conf" <<CONF
queue = { batch_size = 256; linger_ms = 50; };
inputs = ( { type = "file"; path = "$T/in.txt"; } );
outputs = ( { type = "file"; path = "$MNT/out.txt"; append = false; $retry } );
CONF
run_full file ""
grep -q "the line it cut short is removed" "$T/file.log" || { cat "$T/file.log"; fail "file: no torn line was cut"; }
n=$(grep -c "write failed" "$T/file.log")
[ "$n" -le 5 ] || fail "file: $n log lines for the failed writes of a second, not throttled"
# Retried messages may come back in another order (they wait out their backoff).
sort "$MNT/out.txt" | cmp - "$T/in.txt" || fail "file: after ENOSPC the output is not every line once, whole"
pass "file output: ENOSPC part-way through a batch, space returns: every line once, whole"
rm "$MNT/out.txt"

# stdout cannot be cut back (others may share it): the torn line is finished,
# then its message is written again whole. Every line is whole; one is twice.
cat > "$T/stdout.conf" <<CONF
queue = { batch_size = 256; linger_ms = 50; };
inputs = ( { type = "file"; path = "$T/in.txt"; } );
outputs = ( { type = "stdout"; $retry } );
CONF
run_full stdout "$MNT/out.txt"
grep -q "the line it cut short will be finished first" "$T/stdout.log" || { cat "$T/stdout.log"; fail "stdout: no torn line was finished"; }
lines=$(wc -l < "$MNT/out.txt")
[ "$lines" = 501 ] || fail "stdout: $lines lines, want 500 and the one finished line"
sort -u "$MNT/out.txt" | cmp - "$T/in.txt" || fail "stdout: a line is torn, merged or missing after ENOSPC"
pass "stdout on a full disk: the torn line finished, every line whole, one line twice"
rm "$MNT/out.txt"

# A file whose last line was torn by a crash: appending ends it first.
printf 'old 1\nold 2 torn' > "$T/torn.txt"
printf 'new 1\nnew 2\n' > "$T/new.txt"
cat > "$T/append.conf" <<CONF
inputs = ( { type = "file"; path = "$T/new.txt"; } );
outputs = ( { type = "file"; path = "$T/torn.txt"; } );
CONF
"$SLUICE" -c "$T/append.conf" 2> "$T/append.log" || { cat "$T/append.log"; fail "append exited $?"; }
printf 'old 1\nold 2 torn\nnew 1\nnew 2\n' | cmp - "$T/torn.txt" || fail "append: a new line was glued onto the torn one"
grep -q "torn.txt: its last line had no newline" "$T/append.log" || fail "append: the torn line was not logged"
"$SLUICE" -c "$T/append.conf" 2> "$T/append.log" || fail "second append exited $?"
printf 'old 1\nold 2 torn\nnew 1\nnew 2\nnew 1\nnew 2\n' | cmp - "$T/torn.txt" || fail "append to a whole file changed it"
! grep -q "no newline" "$T/append.log" || fail "append: a whole file was called torn"
pass "append onto a torn last line: ended with a newline, logged; a whole file untouched"

# A device that always fails (/dev/full): every message is retried, then
# dead-lettered; nothing is lost.
cat > "$T/devfull.conf" <<CONF
inputs = ( { type = "file"; path = "$T/in.txt"; } );
outputs = ( { type = "stdout"; retry = { max_attempts = 2; backoff_ms = 1; max_backoff_ms = 2; }; } );
dead_letter = { type = "file"; path = "$T/dlq.txt"; append = false; };
CONF
"$SLUICE" -c "$T/devfull.conf" > /dev/full 2> "$T/devfull.log" || true
sort "$T/dlq.txt" | cmp - "$T/in.txt" || { tail -3 "$T/devfull.log"; fail "/dev/full: not every message dead-lettered"; }
pass "/dev/full: every message dead-lettered"

# Errors that retrying cannot mend go to dead_letter at once (a retry every
# 10 s would make these runs time out). The reader of stdout goes away:
retry_slow='retry = { max_attempts = 100; backoff_ms = 10000; max_backoff_ms = 10000; };'
seq 1 100000 > "$T/seq.txt"
cat > "$T/epipe.conf" <<CONF
inputs = ( { type = "file"; path = "$T/seq.txt"; } );
outputs = ( { type = "stdout"; $retry_slow } );
dead_letter = { type = "file"; path = "$T/epipe_dlq.txt"; append = false; };
CONF
rc=0
{ timeout -k 2 20 "$SLUICE" -c "$T/epipe.conf" 2> "$T/epipe.log" || rc=$?; } | head -n 1 > "$T/epipe_out.txt"
[ "$rc" = 0 ] || { tail -3 "$T/epipe.log"; fail "broken pipe: exit $rc (124: retried a pipe with no reader)"; }
grep -q "Broken pipe; .* the rest dead-lettered" "$T/epipe.log" || fail "broken pipe: not logged as dead-lettered"
[ "$(head -n 1 "$T/epipe_dlq.txt")" -gt 1 ] && [ "$(tail -n 1 "$T/epipe_dlq.txt")" = 100000 ] \
  || fail "broken pipe: dead_letter does not hold the rest"
pass "stdout reader gone (| head -1): the rest dead-lettered at once"

# A file that may not grow (RLIMIT_FSIZE, EFBIG): whole lines up to the limit,
# the rest dead-lettered; SIGXFSZ does not kill the run. The limit (40 KiB of
# the 50,000 bytes) holds for the dead-letter file too, which needs less.
cat > "$T/fsize.conf" <<CONF
inputs = ( { type = "file"; path = "$T/in.txt"; } );
outputs = ( { type = "file"; path = "$T/fsize_out.txt"; append = false; $retry_slow } );
dead_letter = { type = "stdout"; };
CONF
rc=0; ( ulimit -f 40; exec timeout -k 2 20 "$SLUICE" -c "$T/fsize.conf" > "$T/fsize_dlq.txt" 2> "$T/fsize.log" ) || rc=$?
[ "$rc" = 0 ] || { tail -3 "$T/fsize.log"; fail "file size limit: exit $rc (153: killed by SIGXFSZ)"; }
[ "$(stat -c %s "$T/fsize_out.txt")" -le 40960 ] || fail "file size limit: file past the limit"
cat "$T/fsize_out.txt" "$T/fsize_dlq.txt" | cmp - "$T/in.txt" || fail "file size limit: lines torn or lost"
pass "file size limit (EFBIG): whole lines up to it, the rest dead-lettered, no SIGXFSZ"

# Paths an output cannot write: a clear error at start, exit 1, no hang.
mkdir "$T/adir"; mkfifo "$T/fifo"
for what in "adir:is a directory" "fifo:a FIFO with no reader; start its reader first"; do
  cat > "$T/bad.conf" <<CONF
inputs = ( { type = "file"; path = "$T/in.txt"; } );
outputs = ( { type = "file"; path = "$T/${what%%:*}"; } );
CONF
  rc=0; timeout -k 2 10 "$SLUICE" -c "$T/bad.conf" 2> "$T/bad.log" || rc=$?
  [ "$rc" = 1 ] && grep -F "$T/${what%%:*}" "$T/bad.log" | grep -qiF "${what#*:}" \
    || { cat "$T/bad.log"; fail "output to a ${what%%:*}: exit $rc (124: hung)"; }
done
pass "output path a directory or a FIFO with no reader: exit 1 with the reason"

# An output (or dead_letter) writing the file an input reads, even through a
# symlink: the input would read its own output without end (200 MB in 5 s on
# a 15 MB file before). Refused at --check and at start, the file untouched.
seq 1 10 > "$T/self.txt"; ln -s self.txt "$T/self_link.txt"
for where in "outputs = ( { type = \"file\"; path = \"$T/self_link.txt\"; append = false; } );" \
             "outputs = ( { type = \"null\"; } ); dead_letter = { type = \"file\"; path = \"$T/self.txt\"; };"; do
  printf 'inputs = ( { type = "file"; name = "src"; path = "%s"; } );\n%s\n' "$T/self.txt" "$where" > "$T/self.conf"
  for mode in --check ""; do
    rc=0; timeout -k 2 10 "$SLUICE" -c "$T/self.conf" $mode 2> "$T/self.log" || rc=$?
    [ "$rc" = 1 ] && grep -qE "self.conf:2: .* would write $T/self(_link)?.txt, which input 'src' reads" "$T/self.log" \
      || { cat "$T/self.log"; fail "output onto its own input (${mode:-run}): exit $rc"; }
  done
done
seq 1 10 | cmp - "$T/self.txt" || fail "output onto its own input: the file was changed"
pass "an output or dead_letter onto the input's own file (or a symlink to it): refused at --check and start"
