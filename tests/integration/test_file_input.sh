#!/usr/bin/env bash
# The file and stdin inputs against hostile input and a hostile environment:
# fds 0/1 closed at start, max_line exactly met and exceeded (the error gives
# the line's real length), NUL bytes, CRLF, no newline at the end, a path that
# is a directory, missing or unreadable. Each ends in the bytes expected or a
# clear error; none hangs.
source "$(dirname "$0")/lib.sh"

cat > "$T/stdio.conf" <<CONF
inputs = ( { type = "stdin"; } );
outputs = ( { type = "stdout"; } );
CONF

# fd 0 closed: an internal eventfd used to take fd 0 and the stdin input read
# it forever. Now the core holds 0-2 and stdin refuses to start.
rc=0; timeout -k 2 10 "$SLUICE" -c "$T/stdio.conf" <&- > "$T/out" 2> "$T/log" || rc=$?
[ "$rc" = 1 ] || { cat "$T/log"; fail "stdin closed: exit $rc, want 1 (124 = hung)"; }
grep -q "standard input is closed" "$T/log" || fail "stdin closed: no clear error"
pass "stdin started closed (<&-): exit 1, 'standard input is closed'"

rc=0; printf 'a\n' | timeout -k 2 10 "$SLUICE" -c "$T/stdio.conf" >&- 2> "$T/log" || rc=$?
[ "$rc" = 1 ] || { cat "$T/log"; fail "stdout closed: exit $rc, want 1"; }
grep -q "standard output is closed" "$T/log" || fail "stdout closed: no clear error"
pass "stdout started closed (>&-): exit 1, 'standard output is closed'"

rc=0; timeout -k 2 10 "$SLUICE" -c "$T/stdio.conf" < / > "$T/out" 2> "$T/log" || rc=$?
[ "$rc" = 1 ] && grep -q "standard input is a directory" "$T/log" || { cat "$T/log"; fail "stdin a directory: exit $rc"; }
pass "stdin a directory (< /): exit 1, 'standard input is a directory'"

# stderr closed: the run goes on, logging nowhere.
printf 'a\nb\n' | timeout -k 2 10 "$SLUICE" -c "$T/stdio.conf" > "$T/out" 2>&- || fail "stderr closed: exit $?"
printf 'a\nb\n' | cmp - "$T/out" || fail "stderr closed: output changed"
pass "stderr started closed (2>&-): output intact"

# max_line = 10: 10 bytes pass, 11 are refused with their length; a 3 MB
# line (longer than one read) is refused with its real length, not what was
# buffered; the next line passes; a long last line without a newline too.
python3 - "$T/long.txt" <<'PY'
import sys
with open(sys.argv[1], "wb") as f:
    f.write(b"0123456789\n0123456789A\n" + b"y" * 3000000 + b"\nafter\n" + b"z" * 2500000)
PY
cat > "$T/max.conf" <<CONF
inputs = ( { type = "file"; path = "$T/long.txt"; max_line = 10; } );
outputs = ( { type = "file"; path = "$T/max_out.txt"; append = false; } );
dead_letter = { type = "file"; path = "$T/max_dlq.txt"; append = false; };
CONF
"$SLUICE" -c "$T/max.conf" 2> "$T/log" || { cat "$T/log"; fail "max_line run exited $?"; }
printf '0123456789\nafter\n' | cmp - "$T/max_out.txt" || fail "max_line: wrong lines delivered"
printf '0123456789\nyyyyyyyyyy\nzzzzzzzzzz\n' | cmp - "$T/max_dlq.txt" || fail "max_line: dead_letter should hold the heads"
for want in "long.txt:2: line of 11 bytes is over max_line (10)" \
            "long.txt:3: line of 3000000 bytes is over max_line (10)" \
            "long.txt:5: line of 2500000 bytes is over max_line (10)"; do
  grep -qF "$want" "$T/log" || { grep max_line "$T/log"; fail "max_line: no '$want'"; }
done
pass "max_line: exactly 10 passes; 11, 3,000,000 and 2,500,000 (no newline) reported with their real length"

# A long line still being written when sluice is stopped: its length is not
# known, and the error says so.
mkfifo "$T/fifo"
cat > "$T/fifo.conf" <<CONF
inputs = ( { type = "file"; path = "$T/fifo"; max_line = 10; } );
outputs = ( { type = "null"; } );
dead_letter = { type = "file"; path = "$T/fifo_dlq.txt"; append = false; };
CONF
"$SLUICE" -c "$T/fifo.conf" 2> "$T/log" & PIDS+=($!); pid=$!
exec 3> "$T/fifo"
head -c 100000 /dev/zero | tr '\0' w >&3
sleep 0.5
kill -TERM "$pid"
wait "$pid" || { cat "$T/log"; fail "fifo run exited $?"; }
exec 3>&-
grep -qE "fifo:1: line of at least [0-9]+ bytes is over max_line \(10\); its end was not read" "$T/log" \
  || { cat "$T/log"; fail "stopped inside a long line: the error does not say 'at least'"; }
pass "stopped inside a long line: 'line of at least N bytes ... its end was not read'"

# NUL bytes, CRLF, and no newline at the end: bytes kept as they are (\r is
# part of the payload); the last line gets its newline on output.
printf 'nul\0in\0line\r\ncrlf\r\n\0\nno newline at end' > "$T/odd.txt"
cat > "$T/odd.conf" <<CONF
inputs = ( { type = "file"; path = "$T/odd.txt"; } );
outputs = ( { type = "file"; path = "$T/odd_out.txt"; append = false; } );
CONF
"$SLUICE" -c "$T/odd.conf" 2> "$T/log" || { cat "$T/log"; fail "odd bytes run exited $?"; }
printf 'nul\0in\0line\r\ncrlf\r\n\0\nno newline at end\n' | cmp - "$T/odd_out.txt" || fail "NUL/CRLF/last line changed"
"$SLUICE" -c "$T/stdio.conf" < "$T/odd.txt" > "$T/odd_out2.txt" 2> "$T/log" || fail "stdin odd bytes exited $?"
cmp "$T/odd_out.txt" "$T/odd_out2.txt" || fail "stdin: NUL/CRLF/last line changed"
pass "NUL bytes and CRLF pass unchanged; a last line without newline is delivered"

# Paths that cannot be read: a clear error naming the config line and the
# path (the options table checks it, at --check too), exit 1, no hang.
refused_text() { # path reason
  echo "$T/bad.conf:1: option 'path' of input 'file' must be a readable file ('$1'$2)"
}
check_refused() { # what path reason
  cat > "$T/bad.conf" <<CONF
inputs = ( { type = "file"; path = "$2"; } );
outputs = ( { type = "null"; } );
CONF
  local rc=0
  timeout -k 2 10 "$SLUICE" -c "$T/bad.conf" 2> "$T/log" || rc=$?
  [ "$rc" = 1 ] || { cat "$T/log"; fail "$1: exit $rc, want 1"; }
  grep -qxF "$(refused_text "$2" "$3")" "$T/log" || { cat "$T/log"; fail "$1: no '$(refused_text "$2" "$3")'"; }
  pass "$1: exit 1, '$3'"
}
mkdir "$T/adir"
check_refused "a directory" "$T/adir" " is a directory"
check_refused "a missing file" "$T/missing" ": No such file or directory"
# As root, the file is made unreadable to the user the test drops to; that user
# must be able to reach the binary and its plugins (a checkout under a 0700
# directory is not: then this check cannot run, and says so).
if [ "$(id -u)" = 0 ] && ! setpriv --reuid=nobody --regid=nogroup --clear-groups \
    test -r "$SLUICE_PLUGIN_PATH/in_file.so" -a -x "$SLUICE"; then
  echo "skip: an unreadable file: user nobody cannot reach $SLUICE_PLUGIN_PATH"
elif [ "$(id -u)" = 0 ]; then
  chmod 755 "$T"; echo secret > "$T/secret"; chmod 600 "$T/secret"
  cat > "$T/bad.conf" <<CONF
inputs = ( { type = "file"; path = "$T/secret"; } );
outputs = ( { type = "null"; } );
CONF
  chmod 644 "$T/bad.conf"
  rc=0; timeout -k 2 10 setpriv --reuid=nobody --regid=nogroup --clear-groups \
    "$SLUICE" -c "$T/bad.conf" 2> "$T/log" || rc=$?
  [ "$rc" = 1 ] && grep -qxF "$(refused_text "$T/secret" ": Permission denied")" "$T/log" \
    || { cat "$T/log"; fail "unreadable file: exit $rc"; }
  pass "an unreadable file: exit 1, 'Permission denied'"
fi
