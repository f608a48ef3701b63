#!/usr/bin/env bash
# File outputs' recovery marks (state_file): file -> dedup(state_file) -> file.
# 1. The crash window on demand: the test output (tests/plugins/out_flaky.c, which
#    keeps its marks as the file output does) kills the process with SIGKILL right
#    after a batch is written and before it is confirmed, so dedup never logs those
#    keys. The restart hands the batch's marks to dedup: every id once. The same
#    without state_file writes that batch twice (what the marks prevent).
# 2. The file output: after a full run, the keys are forgotten and the input read
#    again; the last batch's lines are found by their marks and not written again
#    (the rest are, their keys being gone: that is the control). Marks of an output
#    file that was replaced since, or a marks file that is not one, are not used.
. "${SLUICE_SOURCE_DIR:-.}/tests/integration/lib.sh"
PLUGINS=${SLUICE_BUILD_DIR:-build}/tests/plugins
[ -f "$PLUGINS/out_flaky.so" ] || fail "out_flaky.so not built in $PLUGINS"
N=2000
python3 -c '
import sys
with open(sys.argv[1], "w") as f:
    for i in range(1, int(sys.argv[2]) + 1):
        f.write("{\"id\":%d}\n" % i)' "$T/in.jsonl" "$N"

ids_once() { # FILE -> "written dups lost"
    python3 -c '
import json, sys
ids = [json.loads(l)["id"] for l in open(sys.argv[1]) if l.strip()]
n = int(sys.argv[2])
print(len(ids), len(ids) - len(set(ids)), n - len(set(ids) & set(range(1, n + 1))))' "$1" "$N"
}

flaky_conf() { # NAME KILL_AFTER MARKS(true/false)
    local marks=""
    [ "$3" = true ] && marks="state_file = \"$T/$1.marks\";"
    cat >"$T/$1.conf" <<EOF
plugin_path = [ "$(cd "$PLUGINS" && pwd)" ];
queue = { capacity = 4; batch_size = 64; };
inputs = ( { type = "file"; path = "$T/in.jsonl"; codec = "json"; state_file = "$T/$1.pos"; } );
handlers = ( { type = "dedup"; key = "record.id"; state_file = "$T/$1.dedup"; } );
outputs = ( { type = "flaky"; path = "$T/$1.out"; codec = "json"; kill_after_batch = $2; $marks } );
EOF
}

for marks in true false; do
    name=flaky_$marks
    flaky_conf "$name" 5 "$marks"
    rc=0
    "$SLUICE" -c "$T/$name.conf" 2>"$T/$name.1.log" || rc=$?
    [ "$rc" -eq 137 ] || fail "$name: run 1 exited $rc, wanted 137 (killed after batch 5)"
    flaky_conf "$name" 0 "$marks"
    "$SLUICE" -c "$T/$name.conf" 2>"$T/$name.2.log" || fail "$name: run 2 exited $?: $(tail -n 3 "$T/$name.2.log")"
    read -r written dups lost < <(ids_once "$T/$name.out")
    [ "$lost" -eq 0 ] || fail "$name: $lost ids lost"
    if [ "$marks" = true ]; then
        [ "$dups" -eq 0 ] || fail "with marks: $dups ids written twice after the kill"
        grep -q "handed back by their marks" "$T/$name.2.log" || fail "no marks handed back: $(cat "$T/$name.2.log")"
        pass "killed after a batch was written, before dedup heard: restarted, every id once ($written lines)"
    else
        [ "$dups" -gt 0 ] || fail "without marks the killed batch should come twice, got $dups"
        pass "the same without marks writes the killed batch twice ($dups ids)"
    fi
done

# 2. The file output itself.
cat >"$T/file.conf" <<EOF
queue = { capacity = 4; batch_size = 64; };
inputs = ( { type = "file"; path = "$T/in.jsonl"; codec = "json"; state_file = "$T/file.pos"; } );
handlers = ( { type = "dedup"; key = "record.id"; state_file = "$T/file.dedup"; } );
outputs = ( { type = "file"; path = "$T/file.out"; codec = "json"; state_file = "$T/file.marks"; } );
EOF
"$SLUICE" -c "$T/file.conf" 2>"$T/file.1.log" || fail "file run 1: $(tail -n 3 "$T/file.1.log")"
# The marks file (marks_file.c): header, names, entries (end | name << 56, cookie), seq.
read -r ino last last_end < <(python3 -c '
import struct, sys
d = open(sys.argv[1], "rb").read()
magic, dev, ino, seq, names_len, n = struct.unpack_from("<8sQQQII", d)
assert magic == b"SLMARKS2", magic
names = d[40:40 + names_len].split(b"\0")[0].decode()
assert names == "dedup", names
ents = [struct.unpack_from("<QQ", d, 40 + names_len + 16 * i) for i in range(n)]
(tail,) = struct.unpack_from("<Q", d, 40 + names_len + 16 * n)
assert tail == seq
print(ino, n, ents[-1][0] & ((1 << 56) - 1))' "$T/file.marks") || fail "marks file unreadable"
[ "$ino" = "$(stat -c %i "$T/file.out")" ] || fail "marks name inode $ino, the output is $(stat -c %i "$T/file.out")"
[ "$last" -gt 0 ] || fail "no marks of the last batch"
[ "$last_end" = "$(stat -c %s "$T/file.out")" ] || fail "the last mark ends at $last_end, the file at $(stat -c %s "$T/file.out")"
# The crash, played out: keys forgotten, the input read again from the start.
rm -f "$T/file.dedup" "$T/file.dedup.log" "$T/file.pos"
"$SLUICE" -c "$T/file.conf" 2>"$T/file.2.log" || fail "file run 2: $(tail -n 3 "$T/file.2.log")"
grep -q "$last lines written before the restart whose keys were not yet recorded" "$T/file.2.log" ||
    fail "file: marks not handed back: $(cat "$T/file.2.log")"
read -r written dups lost < <(ids_once "$T/file.out")
[ "$written" -eq $((2 * N - last)) ] ||
    fail "file: $written lines, wanted $((2 * N - last)) (the last batch's $last found by their marks)"
pass "file output: the last batch's $last lines found by their marks, not written again"

# Marks of a replaced output file are not used.
mv "$T/file.out" "$T/file.old"
rm -f "$T/file.dedup" "$T/file.dedup.log" "$T/file.pos"
"$SLUICE" -c "$T/file.conf" 2>"$T/file.3.log" || fail "file run 3: $(tail -n 3 "$T/file.3.log")"
grep -q "marks of another output file" "$T/file.3.log" || fail "replaced file: $(cat "$T/file.3.log")"
[ "$(wc -l <"$T/file.out")" -eq "$N" ] || fail "replaced file: $(wc -l <"$T/file.out") lines, wanted $N"
pass "marks of an output file replaced since are not used"

# A marks file that is not one (damaged, or another program's): warned, not used.
echo "garbage" >"$T/file.marks"
rm -f "$T/file.dedup" "$T/file.dedup.log" "$T/file.pos"
"$SLUICE" -c "$T/file.conf" 2>"$T/file.4.log" || fail "file run 4: $(tail -n 3 "$T/file.4.log")"
grep -q "file.marks: not a marks file; nothing read from it" "$T/file.4.log" || fail "bad marks file: $(cat "$T/file.4.log")"
pass "a damaged marks file is warned about and not used"

# A marks file cut short (a kill inside its pwrite, before the batch was written): its
# closing batch number is missing, and nothing of it is used.
python3 -c '
import os, struct, sys
d = open(sys.argv[1], "rb").read()
_, _, _, _, names_len, n = struct.unpack_from("<8sQQQII", d)
os.truncate(sys.argv[1], 40 + names_len + 16 * n)' "$T/file.marks"
rm -f "$T/file.dedup" "$T/file.dedup.log" "$T/file.pos"
"$SLUICE" -c "$T/file.conf" 2>"$T/file.5.log" || fail "file run 5: $(tail -n 3 "$T/file.5.log")"
grep -q "file.marks: cut short" "$T/file.5.log" || fail "torn marks file: $(cat "$T/file.5.log")"
! grep -q "handed back by their marks" "$T/file.5.log" || fail "marks of a torn marks file were used"
pass "a marks file cut short is not used"
