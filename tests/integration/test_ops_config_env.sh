#!/usr/bin/env bash
# Config for deployments: ${VAR} and ${VAR:-default} in string values (lists
# and groups included), $$ for a literal $, unset variables as FILE:LINE
# errors; @include resolved against the main file's directory; --check
# --verbose prints the effective config, which is itself a valid config.
source "$(dirname "$0")/lib.sh"

mkdir -p "$T/etc/parts" "$T/elsewhere"
printf 'a\nb\nc\n' > "$T/in.txt"
cat > "$T/etc/parts/outputs.conf" <<'CONF'
outputs = (
  { type = "file"; name = "out-${STAGE:-dev}"; path = "${OUT_DIR}/out.txt"; append = false; }
);
CONF
cat > "$T/etc/main.conf" <<'CONF'
name = "${PIPELINE:-orders}";
plugin_path = [ "${NO_SUCH_DIR:-/nonexistent}" ];
inputs = ( { type = "file"; path = "${IN_FILE}"; } );
handlers = ( { type = "lua"; script = "${SCRIPT}"; } );
@include "parts/outputs.conf"
CONF
echo 'function process(msg) msg.payload = msg.payload .. " $5" return msg end' > "$T/price.lua"

# A real run from another directory: every variable and the include resolve.
(cd "$T/elsewhere" && IN_FILE="$T/in.txt" OUT_DIR="$T" SCRIPT="$T/price.lua" STAGE= \
   "$SLUICE" -c ../etc/main.conf 2> "$T/log") || { cat "$T/log"; fail "run with env failed"; }
[ "$(cat "$T/out.txt")" = "$(printf 'a $5\nb $5\nc $5')" ] || fail "output: $(cat "$T/out.txt")"
grep -q "pipeline 'orders' started" "$T/log" || fail "default name not used: $(head -2 "$T/log")"
pass "\${VAR} and \${VAR:-default} expand in strings, lists and an @include'd file"

# --check --verbose: the effective config on stdout, and it checks again.
IN_FILE="$T/in.txt" OUT_DIR="$T" SCRIPT="$T/price.lua" STAGE=prod \
  "$SLUICE" -c "$T/etc/main.conf" --check --verbose > "$T/effective.conf" 2> "$T/verdict" \
  || fail "--check --verbose failed"
grep -q "OK (1 inputs, 1 handlers, 1 outputs)" "$T/verdict" || fail "no verdict on stderr"
grep -q "name = \"out-prod\";" "$T/effective.conf" || fail "effective config lacks the expanded name"
grep -q "path = \"$T/out.txt\";" "$T/effective.conf" || fail "effective config lacks the expanded path"
if grep -q '\${\|@include' "$T/effective.conf"; then fail "effective config is not expanded"; fi
env -u IN_FILE -u OUT_DIR -u SCRIPT "$SLUICE" -c "$T/effective.conf" --check > /dev/null \
  || fail "the effective config does not check on its own"
rc=0; "$SLUICE" -c "$T/etc/main.conf" --verbose 2> "$T/err" || rc=$?
[ $rc = 1 ] && grep -q "goes with --check" "$T/err" || fail "--verbose without --check: exit $rc"
pass "--check --verbose prints the effective config, which checks on its own"

# $$ and a lone $ are literal (in a check-free string option); errors name FILE:LINE.
cat > "$T/lit.conf" <<'CONF'
inputs = ( { type = "generator"; payload = "$${HOME} costs $5"; } );
outputs = ( { type = "null"; } );
CONF
"$SLUICE" -c "$T/lit.conf" --check --verbose 2> /dev/null | grep -qF 'payload = "${HOME} costs $5";' \
  || fail "\$\$ or a lone \$ was not kept literally"
printf 'inputs = ( { type = "generator"; payload = "${TRICKY}"; } );\noutputs = ( { type = "null"; } );\n' > "$T/lit.conf"
TRICKY='${HOME}' "$SLUICE" -c "$T/lit.conf" --check --verbose 2> /dev/null | grep -qF 'payload = "${HOME}";' \
  || fail "a value from the environment was expanded again"
check_err() { # check_err WANT-REGEX [CONF] : CONF ($T/bad.conf) fails --check with that line
  local rc=0 conf=${2:-$T/bad.conf}
  env -u IN_FILE -u OUT_DIR "$SLUICE" -c "$conf" --check > /dev/null 2> "$T/err" || rc=$?
  [ $rc = 1 ] || fail "exit $rc (want 1) for: $(cat "$conf")"
  grep -qE "$1" "$T/err" || fail "want /$1/, got: $(cat "$T/err")"
}
printf 'inputs = ( { type = "file";\n  path = "${IN_FILE}"; } );\noutputs = ( { type = "null"; } );\n' > "$T/bad.conf"
check_err "^$T/bad.conf:2: environment variable IN_FILE is not set"
printf 'inputs = ( { type = "file"; path = "${IN_FILE"; } );\n' > "$T/bad.conf"
check_err "^$T/bad.conf:1: unterminated '\\$\\{IN_FILE'"
printf 'inputs = ( { type = "file"; path = "${1X}"; } );\n' > "$T/bad.conf"
check_err "^$T/bad.conf:1: '\\$\\{' must be followed by a variable name"
printf 'name = "x";\n@include "parts/outputs.conf"\ninputs = ( { type = "stdin"; } );\n' > "$T/etc/inc.conf"
check_err "parts/outputs.conf:2: environment variable OUT_DIR is not set" "$T/etc/inc.conf"
printf '@include "missing.conf"\n' > "$T/bad.conf"
check_err "^$T/bad.conf:1: cannot open include file"
pass "unset variables, bad syntax and missing includes fail --check as FILE:LINE, exit 1"
