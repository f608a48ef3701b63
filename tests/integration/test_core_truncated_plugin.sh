#!/usr/bin/env bash
# A truncated copy of a real plugin on the search path is refused by name,
# before dlopen could take SIGBUS: --list-plugins, --check and a run all end
# with an error naming the file.
source "$(dirname "$0")/lib.sh"

mkdir "$T/plugins"
so=build/plugins/out_null.so
head -c $(( $(stat -c %s "$so") / 2 )) "$so" > "$T/plugins/out_null.so"
cat > "$T/p.conf" <<CONF
plugin_path = [ "$T/plugins" ];
inputs = ( { type = "generator"; count = 10; } );
outputs = ( { type = "null"; } );
CONF
want="$T/plugins/out_null.so: cannot load: truncated or damaged plugin file"

rc=0; SLUICE_PLUGIN_PATH="$T/plugins:build/plugins" "$SLUICE" --list-plugins > "$T/list" 2>&1 || rc=$?
[ $rc -lt 128 ] || fail "--list-plugins died with signal $((rc - 128))"
grep -q "(refused) $want" "$T/list" || { cat "$T/list"; fail "--list-plugins does not name the truncated file"; }
grep -q "^input .*generator" "$T/list" || fail "--list-plugins stopped listing the good plugins"
pass "--list-plugins: the truncated out_null.so is listed as refused, the rest listed"

for mode in --check run; do
  args=(-c "$T/p.conf"); [ $mode = --check ] && args+=(--check)
  rc=0; "$SLUICE" "${args[@]}" > "$T/out" 2>&1 || rc=$?
  [ $rc = 1 ] || { cat "$T/out"; fail "$mode: exit $rc (want 1)"; }
  grep -q "$want" "$T/out" || { cat "$T/out"; fail "$mode: the error does not name the file"; }
  pass "$mode: refused with the file named, exit 1"
done
