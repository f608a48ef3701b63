#!/usr/bin/env bash
# The command line: --version, --list-plugins, --check of every shipped config,
# config errors as FILE:LINE with exit 1, the quickstart run, and an
# out-of-tree plugin built against the installed SDK through pkg-config.
source "$(dirname "$0")/lib.sh"

"$SLUICE" --version | grep -q "plugin ABI 2\." || fail "--version"
"$SLUICE" --list-plugins > "$T/list" || fail "--list-plugins exited non-zero"
for p in "input *file" "input *stdin" "input *generator" "codec *lines" "codec *json" \
         "output *file" "output *stdout" "output *null"; do
  grep -Eq "^$p " "$T/list" || fail "--list-plugins lacks '$p'"
done
grep -q "path .*(required)" "$T/list" || fail "--list-plugins does not show options"
pass "--version, --list-plugins"

# --check needs a file input's file to exist: the replay recipe runs where the
# dead letters are (see its header), so it is checked from such a directory.
bin=$(realpath "$SLUICE")
mkdir "$T/replay" && ln -s "$PWD/lua" "$T/replay/lua" && : > "$T/replay/dlq.jsonl"
for c in configs/*.conf; do
  dir=.; [ "$c" = configs/replay_dead_letters.conf ] && dir=$T/replay
  (cd "$dir" && "$bin" -c "$OLDPWD/$c" --check) > "$T/out" 2>&1 ||
    { cat "$T/out"; fail "$c does not pass --check"; }
done
pass "every config in configs/ passes --check"

check_error() { # config-text expected-message
  printf '%s\n' "$1" > "$T/bad.conf"
  rc=0; "$SLUICE" -c "$T/bad.conf" --check > "$T/out" 2>&1 || rc=$?
  [ $rc = 1 ] || fail "exit $rc (want 1) for: $1"
  grep -qF "$2" "$T/out" || { cat "$T/out"; fail "want '$2' for: $1"; }
}
check_error 'inputs = ( { type = "file" ' "$T/bad.conf:2: syntax error"
check_error 'inputs = ( { type = "nosuch"; } ); outputs = ( { type = "null"; } );' \
  "$T/bad.conf:1: unknown input type 'nosuch'"
check_error $'inputs = ( { type = "generator"; } );\noutputs = ( { type = "file"; pth = "x"; } );' \
  "$T/bad.conf:2: unknown option 'pth' for output 'file'"
check_error $'inputs = ( { type = "generator"; } );\noutputs = ( { type = "file"; } );' \
  "$T/bad.conf:2: output 'file' needs option 'path'"
check_error $'inputs = (\n { type = "file"; path = "x";\n follow = "yes"; } );\noutputs = ( { type = "null"; } );' \
  "$T/bad.conf:3: option 'follow' of input 'file' must be a boolean"
check_error $'queue = { capacity = 0; };\ninputs = ( { type = "generator"; } ); outputs = ( { type = "null"; } );' \
  "$T/bad.conf:1: 'capacity' must be between"
check_error $'inputs = ( { type = "generator"; } ); outputs = ( { type = "null"; } );\nfoo = 1;' \
  "$T/bad.conf:2: unknown key 'foo' in the top level"
check_error $'inputs = ( { type = "generator"; codec = "nope"; } );\noutputs = ( { type = "null"; } );' \
  "unknown codec type 'nope'"
check_error 'outputs = ( { type = "null"; } );' "needs at least one input and one output"
rc=0; "$SLUICE" -c "$T/does-not-exist.conf" --check > "$T/out" 2>&1 || rc=$?
[ $rc = 1 ] && grep -q "cannot read the config file" "$T/out" || fail "missing file"
rc=0; "$SLUICE" --bogus > /dev/null 2>&1 || rc=$?
[ $rc = 1 ] || fail "unknown flag exit $rc"
pass "config errors: FILE:LINE: message, exit 1"

mkdir -p build
make_out=$("$SLUICE" -c configs/quickstart.conf 2> "$T/log")
[ "$(printf '%s\n' "$make_out" | wc -l)" = 9 ] || fail "quickstart should print 9 records"
grep -q "1 dead-lettered" "$T/log" || fail "quickstart should dead-letter its malformed line"
pass "quickstart pipeline runs"

# Out-of-tree plugin: install the SDK, build plugins/examples with pkg-config.
build_dir=${SLUICE_BUILD_DIR:-build}
cmake --install "$build_dir" --prefix "$T/prefix" > /dev/null
[ -f "$T/prefix/include/sluice/plugin.h" ] || fail "SDK headers not installed"
inc=$(PKG_CONFIG_PATH="$T/prefix/lib/pkgconfig" pkg-config --variable=includedir sluice)
[ -f "$inc/sluice/plugin.h" ] || fail "pkg-config sluice does not point at the installed headers"
PKG_CONFIG_PATH="$T/prefix/lib/pkgconfig" cmake -S plugins/examples -B "$T/ex" > "$T/cmake.log" 2>&1 ||
  { cat "$T/cmake.log"; fail "example plugin configure"; }
cmake --build "$T/ex" > "$T/build.log" 2>&1 || { cat "$T/build.log"; fail "example plugin build"; }
grep -q "warning" "$T/build.log" && fail "example plugin builds with warnings"
printf 'hello\nworld\n' > "$T/words.txt"
cat > "$T/ex.conf" <<CONF
plugin_path = [ "$T/ex" ];
inputs = ( { type = "file"; path = "$T/words.txt"; } );
handlers = ( { type = "upper"; tag = "t1"; } );
outputs = ( { type = "stdout"; } );
CONF
[ "$("$T/prefix/bin/sluice" -c "$T/ex.conf" 2>/dev/null)" = $'HELLO\nWORLD' ] || fail "example plugin output"
SLUICE_PLUGIN_PATH="$T/ex:$SLUICE_PLUGIN_PATH" "$SLUICE" --list-plugins > "$T/list2"
grep -q "handler *upper" "$T/list2" ||
  fail "--list-plugins does not see the example plugin"
pass "out-of-tree plugin builds with pkg-config sluice and runs"
