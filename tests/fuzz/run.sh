#!/usr/bin/env bash
# run.sh - build a libFuzzer target tests/fuzz/fuzz_<name>.c with clang (ASan + UBSan) and
# run it for N seconds (default 30). Not part of ctest.
#   tests/fuzz/run.sh json [seconds] [extra libFuzzer args...]
# The target names what it needs in its header comment:
#   fuzz-sources: <files, relative to the source dir>   (the core is always linked)
#   fuzz-cflags:  <flags>                                fuzz-pkgs: <pkg-config names>
# Crashes land in $FUZZ_DIR (default build-fuzz/<name>/), with the growing corpus; a
# tests/fuzz/<name>.dict is used when present. Exit status is libFuzzer's (0: nothing found).
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
name=${1:?usage: run.sh <target> [seconds] [libFuzzer args...]}
secs=${2:-30}
shift $(( $# >= 2 ? 2 : 1 ))
target="$src/tests/fuzz/fuzz_$name.c"
[ -f "$target" ] || { echo "no such target: $target" >&2; exit 2; }
dir=${FUZZ_DIR:-$src/build-fuzz/$name}
mkdir -p "$dir/corpus"

field() { sed -n "s/^ \* $1: *//p" "$target" | sed 's|\*/||' | tr '\n' ' '; }
cd "$src"
# The whole core, as the unit tests link it, with the libraries the top CMakeLists finds.
core=()
for f in core/*.c; do [ "$f" = core/main.c ] || core+=("$f"); done
core_pkgs=$(sed -n 's/^pkg_check_modules([A-Z_]* REQUIRED IMPORTED_TARGET \([^ )]*\).*/\1/p' CMakeLists.txt)
set -f # the fields are split into words, never globbed
sources=($(field fuzz-sources))
cflags=($(field fuzz-cflags))
pkgs=$(field fuzz-pkgs)
pcflags=()
libs=()
if [ -n "${pkgs// /}" ]; then
    pcflags=($(pkg-config --cflags $pkgs $core_pkgs))
    libs=($(pkg-config --libs $pkgs))
fi

flags=(-g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -Icore/include -Icore "${cflags[@]}" -DSLUICE_INSTALL_PLUGIN_DIR=\"/nonexistent\"
       -DSLUICE_BUILD_PLUGIN_DIR=\"/nonexistent\")
mkdir -p "$dir/obj"
objs=()
for f in "$target" "${sources[@]}" "${core[@]}"; do
    o="$dir/obj/$(echo "$f" | tr / _).o"
    case "$f" in
    *.cpp) clang++ -std=c++17 "${flags[@]}" -c "$f" -o "$o" ${pcflags[@]+"${pcflags[@]}"} ;;
    *) clang -std=c11 "${flags[@]}" -c "$f" -o "$o" ${pcflags[@]+"${pcflags[@]}"} ;;
    esac
    objs+=("$o")
done
# clang++ links: some targets have C++ sources (simdjson).
clang++ -fsanitize=fuzzer,address,undefined -o "$dir/fuzz_$name" "${objs[@]}" \
    ${libs[@]+"${libs[@]}"} $(pkg-config --libs $core_pkgs) -lpthread -ldl -lm

args=(-max_total_time="$secs" -max_len=4096 -timeout=10 -rss_limit_mb=2048
      -artifact_prefix="$dir/")
[ -f "$src/tests/fuzz/$name.dict" ] && args+=(-dict="$src/tests/fuzz/$name.dict")
seeds=()
[ -d "$src/tests/fuzz/seeds_$name" ] && seeds+=("$src/tests/fuzz/seeds_$name")
echo "fuzz_$name: ${secs}s, corpus $dir/corpus"
exec "$dir/fuzz_$name" "${args[@]}" "$@" "$dir/corpus" "${seeds[@]}"
