#!/usr/bin/env bash
# json_libs.sh - JSON library measurement: parse and parse+re-encode rates for jansson,
# json-c, yajl (tree and callbacks), simdjson, and the json codec's own paths (simdjson or
# yajl callbacks -> sl_value -> encoder), on ~2 M generated ~118-byte JSON lines, best of 3
# runs, in messages per second of one thread's CPU time.
# Needs libyajl-dev libsimdjson-dev libjansson-dev libjson-c-dev libconfig-dev.
# Usage: bench/json_libs.sh [lines] [runs]     (env JSON_LIBS_ONLY=<substring> picks cases)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
lines=${1:-2000000}
runs=${2:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cflags=(-std=c11 -O2 -D_GNU_SOURCE -Wall -Wextra -I"$src/core/include" -I"$src/core"
        -I"$src/plugins/codec_json" -I"$src/plugins/common" -DSLUICE_INSTALL_PLUGIN_DIR=\"/nonexistent\"
        -DSLUICE_BUILD_PLUGIN_DIR=\"/nonexistent\")
bench="$src/bench/json_libs/json_libs.c"

# The codec needs the core's arena and buffers: link the core objects the build made (as
# the unit tests do), with the libraries core/CMakeLists.txt links them to.
build=${SLUICE_BUILD_DIR:-$src/build}
mapfile -t core < <(find "$build/core/CMakeFiles/sluice_core.dir" -name '*.c.o')
[ "${#core[@]}" -gt 0 ] || { echo "json_libs.sh: build sluice first (make build)" >&2; exit 1; }
core_libs=$(pkg-config --libs libconfig libmicrohttpd libprotobuf-c libcurl zlib)
pkg-config --exists libsystemd && core_libs="$core_libs $(pkg-config --libs libsystemd)"
json="$src/plugins/codec_json"
g++ -std=c++17 -O2 -D_GNU_SOURCE -I"$src/core/include" -I"$json" -I"$src/plugins/common" -DJSON_HAVE_SIMDJSON \
    $(pkg-config --cflags simdjson) -c "$json/simd.cpp" -o "$tmp/simd.o"
(cd "$tmp" && gcc "${cflags[@]}" -DJSON_HAVE_SIMDJSON -c "$bench" "$json"/{decode,encode,scratch}.c \
    "$src"/plugins/common/{utf8,json_space,base64}.c)
g++ -o "$tmp/yajl" "$tmp"/*.o "${core[@]}" $(pkg-config --libs yajl simdjson) $core_libs -lpthread -ldl -lm
g++ -std=c++17 -O2 -o "$tmp/simdjson" "$src/bench/json_libs/simdjson.cpp" $(pkg-config --cflags --libs simdjson)
gcc "${cflags[@]}" -DWITH_JANSSON -o "$tmp/jansson" "$bench" $(pkg-config --cflags --libs jansson)
gcc "${cflags[@]}" -DWITH_JSONC -o "$tmp/jsonc" "$bench" $(pkg-config --cflags --libs json-c)

echo "# $(uname -m), $(nproc) vCPU, $(. /etc/os-release && echo "$PRETTY_NAME"), $(date -u +%F)"
JSON_LIBS_HEADER=1 "$tmp/jansson" "$lines" "$runs"
"$tmp/jsonc" "$lines" "$runs"
"$tmp/simdjson" "$lines" "$runs"
"$tmp/yajl" "$lines" "$runs"
