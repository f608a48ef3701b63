#!/usr/bin/env bash
# Installs the Debian packages sluice needs to build, test and run, only those
# missing. Idempotent: a second run installs nothing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang libclang-rt-14-dev clang-format
  libconfig-dev libcmocka-dev liblua5.4-dev libyajl-dev librdkafka-dev
  libmicrohttpd-dev libsimdjson-dev libjansson-dev libjson-c-dev
  libprotobuf-c-dev protobuf-c-compiler libprotobuf-dev protobuf-compiler
  python3-protobuf libmsgpack-dev python3-msgpack
  kcat valgrind procps psmisc curl bc python3 python3-prometheus-client time
  libsystemd-dev systemd scdoc dpkg-dev file man-db groff-base graphviz
  librabbitmq-dev amqp-tools rabbitmq-server
  libcurl4-openssl-dev zlib1g-dev gnuplot-nox
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
