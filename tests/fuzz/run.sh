#!/usr/bin/env bash
# run.sh - build a libFuzzer target tests/fuzz/fuzz_<name>.c with clang (ASan + UBSan) and
# run it for N seconds (default 30).
#   tests/fuzz/run.sh json [seconds] [extra libFuzzer args...]
#   FUZZ_BUILD_ONLY=1 tests/fuzz/run.sh json     build, do not run
# The target names what it needs in its header comment:
#   fuzz-sources: <files, relative to the source dir>   (the core is always linked)
#   fuzz-cflags:  <flags>                                fuzz-pkgs: <pkg-config names>
#   fuzz-gen:     <a command run in the source dir before building>
# In those lines $GEN is the target's directory for generated files. Objects are kept in
# $FUZZ_ROOT/obj (default build-fuzz/obj), shared by the targets, and rebuilt when their
# source or a header beside it, in core/ or in plugins/common/ is newer.
# Crashes land in $FUZZ_DIR (default $FUZZ_ROOT/<name>/), with the growing corpus; a
# tests/fuzz/<name>.dict is used when present, tests/fuzz/seeds_<name>/ as seed corpus.
# Exit status is libFuzzer's (0: nothing found).
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
name=${1:?usage: run.sh <target> [seconds] [libFuzzer args...]}
secs=${2:-30}
shift $(( $# >= 2 ? 2 : 1 ))
target="$src/tests/fuzz/fuzz_$name.c"
[ -f "$target" ] || { echo "no such target: $target" >&2; exit 2; }
root=${FUZZ_ROOT:-$src/build-fuzz}
dir=${FUZZ_DIR:-$root/$name}
GEN="$dir/gen"
mkdir -p "$dir/corpus" "$GEN" "$root/obj"

field() { # name [gen dir]
    sed -n "s/^ \* $1: *//p" "$target" | sed 's|\*/||; s|\$GEN|'"${2:-$GEN}"'|g'
}
cd "$src"
# The whole core, as the unit tests link it, with the libraries the top CMakeLists finds.
core=()
for f in core/*.c; do [ "$f" = core/main.c ] || core+=("$f"); done
core_pkgs=$(sed -n 's/^pkg_check_modules([A-Z_]* REQUIRED IMPORTED_TARGET \([^ )]*\).*/\1/p' CMakeLists.txt)
# The core's OTLP trace export: C generated from the vendored protos as core/CMakeLists.txt
# does (optional rewritten, then protoc-c), copied over only when it changed.
otlp=$root/otlp
otlp_protos=(common/v1/common resource/v1/resource trace/v1/trace collector/trace/v1/trace_service)
rm -rf "$otlp.new" && mkdir -p "$otlp.new/proto"
for p in "${otlp_protos[@]}"; do
    mkdir -p "$otlp.new/proto/opentelemetry/proto/$(dirname "$p")"
    python3 third_party/opentelemetry-proto/rewrite_optional.py \
        "third_party/opentelemetry-proto/opentelemetry/proto/$p.proto" \
        "$otlp.new/proto/opentelemetry/proto/$p.proto"
done
(cd "$otlp.new/proto" && protoc-c --c_out=.. $(for p in "${otlp_protos[@]}"; do
    echo "opentelemetry/proto/$p.proto"; done))
(cd "$otlp.new" && find . -name '*.pb-c.*') | while IFS= read -r f; do
    cmp -s "$otlp.new/$f" "$otlp/$f" || { mkdir -p "$(dirname "$otlp/$f")"; cp "$otlp.new/$f" "$otlp/$f"; }
done
rm -rf "$otlp.new"
for p in "${otlp_protos[@]}"; do core+=("$otlp/opentelemetry/proto/$p.pb-c.c"); done
core_pkgs="$core_pkgs libprotobuf-c libcurl zlib"
# Generated files are made in a staging dir and copied over only when they changed, so
# their objects are not rebuilt every time.
rm -rf "$GEN.new" && mkdir -p "$GEN.new"
while IFS= read -r cmd; do
    [ -n "$cmd" ] && bash -c "$cmd"
done < <(field fuzz-gen "$GEN.new")
(cd "$GEN.new" && find . -type f) | while IFS= read -r f; do
    cmp -s "$GEN.new/$f" "$GEN/$f" || { mkdir -p "$(dirname "$GEN/$f")"; cp "$GEN.new/$f" "$GEN/$f"; }
done
rm -rf "$GEN.new"
set -f # the fields are split into words, never globbed
sources=($(field fuzz-sources | tr '\n' ' '))
cflags=($(field fuzz-cflags | tr '\n' ' '))
pkgs=$(field fuzz-pkgs | tr '\n' ' ')
pcflags=()
libs=()
if [ -n "${pkgs// /}" ]; then
    pcflags=($(pkg-config --cflags $pkgs $core_pkgs))
    libs=($(pkg-config --libs $pkgs))
fi
set +f

base=(-g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
      -Icore/include -Icore -I"$otlp" -DSLUICE_INSTALL_PLUGIN_DIR=\"/nonexistent\"
      -DSLUICE_BUILD_PLUGIN_DIR=\"/nonexistent\")
core_cflags=($(pkg-config --cflags $core_pkgs))
stale() { # object source: true when the object must be (re)built
    [ -f "$1" ] || return 0
    [ "$2" -nt "$1" ] && return 0
    local h
    for h in "$(dirname "$2")"/*.h core/*.h core/include/sluice/*.h plugins/common/*.h; do
        [ -e "$h" ] && [ "$h" -nt "$1" ] && return 0
    done
    return 1
}
objs=()
compile() { # source flags...: one object per source and set of flags, shared by the targets
    local f=$1; shift
    local tag; tag=$(printf '%s ' "$@" | md5sum | cut -c1-8)
    local o="$root/obj/$(echo "${f#$src/}" | tr / _).$tag.o"
    if stale "$o" "$f"; then
        case "$f" in
        *.cpp) clang++ -std=c++17 "$@" -c "$f" -o "$o" ;;
        *) clang -std=c11 "$@" -c "$f" -o "$o" ;;
        esac
    fi
    objs+=("$o")
}
for f in "$target" "${sources[@]}"; do
    compile "$f" "${base[@]}" "${cflags[@]}" ${pcflags[@]+"${pcflags[@]}"}
done
for f in "${core[@]}"; do # the core the same for every target
    compile "$f" "${base[@]}" ${core_cflags[@]+"${core_cflags[@]}"}
done
# clang++ links: some targets have C++ sources (simdjson).
clang++ -fsanitize=fuzzer,address,undefined -o "$dir/fuzz_$name" "${objs[@]}" \
    ${libs[@]+"${libs[@]}"} $(pkg-config --libs $core_pkgs) -lpthread -ldl -lm
[ -n "${FUZZ_BUILD_ONLY:-}" ] && exit 0

args=(-max_total_time="$secs" -max_len=4096 -timeout=10 -rss_limit_mb=2048
      -artifact_prefix="$dir/")
[ -f "$src/tests/fuzz/$name.dict" ] && args+=(-dict="$src/tests/fuzz/$name.dict")
seeds=()
[ -d "$src/tests/fuzz/seeds_$name" ] && seeds+=("$src/tests/fuzz/seeds_$name")
echo "fuzz_$name: ${secs}s, corpus $dir/corpus"
exec "$dir/fuzz_$name" "${args[@]}" "$@" "$dir/corpus" ${seeds[@]+"${seeds[@]}"}
