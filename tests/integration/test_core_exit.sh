#!/usr/bin/env bash
# Exit 0 means every message was delivered or dead-lettered (or dropped on
# purpose, or unrouted). An output that keeps failing with no dead_letter
# configured discards messages: the summary says so (not "dead-lettered")
# and the run exits 2. The failure log (retries, discards) is throttled: the
# first 100 lines of each, then one in 1000 saying how many were suppressed.
source "$(dirname "$0")/lib.sh"

N=2500
cat > "$T/full.conf" <<CONF
inputs = ( { type = "generator"; count = $N; } );
outputs = ( { type = "file"; name = "full"; path = "/dev/full";
              retry = { max_attempts = 2; backoff_ms = 0; }; } );
CONF
rc=0; "$SLUICE" -c "$T/full.conf" 2> "$T/log" || rc=$?
[ $rc = 2 ] || fail "discarding run exit $rc (want 2)"
grep -q "done in .*: $N in, 0 out, 0 dead-lettered, 0 dropped, 0 unrouted, $N discarded;" "$T/log" ||
  { tail -2 "$T/log"; fail "summary does not say what happened"; }
grep -qF "not everything was delivered: $N failed messages were discarded, as no dead_letter is configured (exit 2" "$T/log" ||
  fail "no error line explaining exit 2"
lines=$(grep -c 'discarded (no dead_letter configured): No space left on device' "$T/log")
[ "$lines" = 102 ] || fail "$lines discard lines for $N failures (want 100 + 2 throttled)"
[ "$(grep -c 'discarded (no dead_letter configured).*(999 similar lines suppressed)' "$T/log")" = 2 ] ||
  fail "suppressed count missing"
# each failed once before: the retry lines are thinned out the same way
lines=$(grep -c 'failed (attempt 1 of 2), retrying: No space left on device' "$T/log")
[ "$lines" = 102 ] || fail "$lines retry lines for $N retries (want 100 + 2 throttled)"
pass "discarded messages: exit 2, summary says '$N discarded', $lines log lines"

cat >> "$T/full.conf" <<CONF
dead_letter = { type = "file"; path = "$T/dlq.txt"; append = false; };
CONF
rc=0; "$SLUICE" -c "$T/full.conf" 2> "$T/log" || rc=$?
[ $rc = 0 ] || fail "dead-lettering run exit $rc (want 0)"
grep -q "done in .*: $N in, 0 out, $N dead-lettered, 0 dropped, 0 unrouted, 0 discarded;" "$T/log" ||
  { tail -2 "$T/log"; fail "summary"; }
[ "$(wc -l < "$T/dlq.txt")" = $N ] || fail "dead letters missing"
lines=$(grep -c 'full: message .* dead-lettered: No space left on device' "$T/log")
[ "$lines" = 102 ] || fail "$lines dead-letter lines for $N failures (want 102)"
pass "everything dead-lettered: exit 0, $lines log lines"
