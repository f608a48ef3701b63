# soak_lib.sh - the crash soak's parts shared by tests/integration/test_crash_soak*.sh:
# kill a pipeline at random moments, run it to the end, count lost and duplicated ids.
# Source it after the broker library; the caller defines soak_started PID (register a
# process for its cleanup trap), KILLS, SLUICE, and fd 3 (where results are printed).
# kill_loop CONF LOG PROGRESS...: KILLS runs, each killed at a random moment once
# PROGRESS (a command, run with the count before this run) says it has moved, up to
# KILL_MAX_MS (default 500) later; then one run to the end. KILLED: the kills that
# landed (a run that ends first stops them).
kill_loop() {
    local conf=$1 log=$2 k pid ms before rc
    shift 2
    KILLED=0
    for k in $(seq 1 "$KILLS"); do
        before=$("$@")
        "$SLUICE" -c "$conf" >>"$log" 2>&1 &
        pid=$!
        soak_started "$pid"
        wait_until 60 moved_or_ended "$pid" "$before" "$@" ||
            { tail -n 20 "$log"; fail "no progress in $conf"; }
        if ! kill -0 "$pid" 2>/dev/null; then # it finished first: no more to kill
            wait "$pid" || { tail -n 20 "$log"; fail "run of $conf exited $?"; }
            echo "  run $k finished before its kill" >>"$log"
            break
        fi
        ms=$((RANDOM % ${KILL_MAX_MS:-500}))
        sleep "$(printf '0.%03d' "$ms")"
        kill -9 "$pid" 2>/dev/null
        rc=0
        wait "$pid" 2>/dev/null || rc=$?
        [ "$rc" -eq 137 ] && KILLED=$((KILLED + 1)) # else it had ended on its own
        echo "  kill $k: ${ms} ms after progress (exit $rc)" >>"$log"
    done
    timeout 300 "$SLUICE" -c "$conf" >>"$log" 2>&1 || { tail -n 20 "$log"; fail "final run of $conf exited $?"; }
}
moved_or_ended() {
    local pid=$1 before=$2
    shift 2
    ! kill -0 "$pid" 2>/dev/null || [ "$("$@")" -gt "$before" ]
}
lines_in() { cat "$@" 2>/dev/null | wc -l; }

# count NAME N FILE...: ids 1..N looked for in JSON lines {"id":..} of the files.
count() {
    python3 - "$@" <<'PY'
import json, sys
name, n, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
seen, total, torn, where = {}, 0, 0, {}
for f in files:
    try:
        lines = open(f, encoding="utf-8", errors="replace").read().splitlines()
    except FileNotFoundError:
        continue
    for l in lines:
        try:
            i = json.loads(l)["id"]
        except Exception:
            torn += 1
            continue
        total += 1
        seen[i] = seen.get(i, 0) + 1
        where.setdefault(i, set()).add(f)
lost = sum(1 for i in range(1, n + 1) if i not in seen)
dups = total - len(seen)
# ids both in the output and in the dead letters: dead-lettered keys are
# never committed (so a replay passes), a redelivery of one passes as well
split = sum(1 for s in where.values() if len(s) > 1)
print("%s: lost %d duplicated %d (of %d, %d torn lines, %d ids in two files)" % (name, lost, dups, n, torn, split))
PY
}

check() { # line from count, max duplicates allowed ("two-files": only ids that are
    # in the dead letters and in the output, a dead-lettered message read again)
    echo "$1" >&3
    local lost dups max=$2
    lost=$(sed 's/.*lost \([0-9]*\).*/\1/' <<<"$1")
    dups=$(sed 's/.*duplicated \([0-9]*\).*/\1/' <<<"$1")
    [ "$max" = two-files ] && max=$(sed 's/.* \([0-9]*\) ids in two files.*/\1/' <<<"$1")
    [ "$lost" -eq 0 ] || fail "$1"
    [ "$dups" -le "$max" ] || fail "$1 (more than $max duplicates)"
}

