#!/usr/bin/env bash
# Running sluice as a service: sd_notify READY/RELOADING/STOPPING reach the
# notify socket, `make install DESTDIR=` stages everything under DESTDIR, the
# systemd unit verifies, and `make deb` builds a package that installs, runs
# the quickstart from its installed files and removes cleanly.
source "$(dirname "$0")/lib.sh"
SRC=${SLUICE_SOURCE_DIR:-$PWD}

# --- sd_notify, with a python stand-in for systemd's notify socket
python3 "$SRC/tests/tools/notify_listen.py" "$T/notify.sock" "$T/notify.log" &
PIDS+=($!)
for _ in $(seq 50); do [ -S "$T/notify.sock" ] && break; sleep 0.1; done
echo 'function process(msg) return msg end' > "$T/pass.lua"
cat > "$T/gen.conf" <<CONF
inputs = ( { type = "generator"; count = 0; rate = 1000; } );
handlers = ( { type = "lua"; script = "$T/pass.lua"; } );
outputs = ( { type = "null"; } );
CONF
NOTIFY_SOCKET="$T/notify.sock" "$SLUICE" -c "$T/gen.conf" 2> "$T/log" &
pid=$!; PIDS+=($pid)
wait_notify() {
  for _ in $(seq 100); do grep -q "$1" "$T/notify.log" && return 0; sleep 0.1; done
  cat "$T/notify.log" "$T/log"; fail "no '$1' on the notify socket"
}
wait_notify READY=1
kill -HUP $pid
wait_notify RELOADING=1
kill -TERM $pid
wait_notify STOPPING=1
rc=0; wait $pid || rc=$?
[ $rc = 0 ] || fail "exit $rc after SIGTERM"
got=$(grep -o 'READY=1\|RELOADING=1\|STOPPING=1' "$T/notify.log" | tr '\n' ' ')
[ "$got" = "READY=1 RELOADING=1 READY=1 STOPPING=1 " ] || fail "notify order: $got"
pass "sd_notify: READY=1, RELOADING=1 + READY=1 on SIGHUP, STOPPING=1 on SIGTERM"

# --- make install DESTDIR=: nothing outside DESTDIR, everything inside it
BUILD_DIR=${SLUICE_BUILD_DIR:-build}
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$BUILD_DIR/CMakeCache.txt")
make -s -C "$SRC" install BUILD="$(realpath "$BUILD_DIR")" PREFIX="$prefix" DESTDIR="$T/root" JOBS=2 \
  | grep '^-- ' > "$T/install.log"
for f in bin/sluice include/sluice/plugin.h share/man/man1/sluice.1 share/man/man5/sluice.conf.5 \
          share/sluice/configs/quickstart.conf \
         share/sluice/lua/quickstart.lua lib/systemd/system/sluice@.service; do
  [ -e "$T/root$prefix/$f" ] || fail "make install DESTDIR= did not install $f"
done
ls "$T"/root$prefix/lib*/sluice/out_stdout.so > /dev/null || fail "no plugins installed"
# every file cmake --install reports lies under DESTDIR
grep -q "^-- Installing: " "$T/install.log" || fail "make install reported no file"
if grep "^-- Installing: \|^-- Up-to-date: " "$T/install.log" | grep -v ": $T/root/"; then
  fail "install wrote outside DESTDIR"
fi
pass "install with DESTDIR stages every file under DESTDIR"

unit="$T/root$prefix/lib/systemd/system/sluice@.service"
grep -q '^Type=notify' "$unit" && grep -q '^ExecReload=/bin/kill -HUP \$MAINPID' "$unit" \
  || fail "unit is not Type=notify with a SIGHUP reload"
grep -q "^ExecStart=$prefix/bin/sluice -c /etc/sluice/%i.conf$" "$unit" \
  || fail "unit does not run the installed binary"
# systemd-analyze verify wants the binary where the unit says it is.
sed "s|$prefix/bin/sluice|$T/root$prefix/bin/sluice|" "$unit" > "$T/sluice@.service"
cp "$T/sluice@.service" "$T/sluice@test.service"
MANPATH="$T/root$prefix/share/man" systemd-analyze verify "$T/sluice@test.service" 2>&1 | grep -v "^$" > "$T/verify.log" || true
if grep -v "Cannot add dependency job\|Failed to create\|Unit is bound to inactive\|network-online" \
     "$T/verify.log"; then fail "systemd-analyze verify complained"; fi
pass "systemd unit: Type=notify, ExecReload=SIGHUP, verifies"

# --- man pages: roff without warnings, and they name every option sluice takes
man1="$T/root$prefix/share/man/man1/sluice.1"
man5="$T/root$prefix/share/man/man5/sluice.conf.5"
for page in "$man1" "$man5"; do
  warn=$(groff -man -ww -z "$page" 2>&1) || fail "groff failed on $page"
  [ -z "$warn" ] || fail "groff warns on $page: $warn"
done
MANWIDTH=200 man -l "$man1" 2> /dev/null | col -b > "$T/sluice.1.txt"
MANWIDTH=200 man -l "$man5" 2> /dev/null | col -b > "$T/sluice.conf.5.txt"
for opt in $("$SLUICE" --help | grep -o -- '--[a-z-]*' | sort -u); do
  grep -q -- "$opt" "$T/sluice.1.txt" || fail "sluice(1) does not document $opt"
done
for opt in $(sed -n '/^OPTIONS/,/^EXIT STATUS/p' "$T/sluice.1.txt" | grep -o -- '--[a-z-]*' | sort -u); do
  "$SLUICE" --help | grep -q -- "$opt" || fail "sluice(1) documents $opt, which sluice --help does not know"
done
for key in $(sed -n '/top_keys\[\] =/,/NULL/p' "$SRC/core/config.c" | grep -o '"[a-z_]*"' | tr -d '"'); do
  grep -q "^       $key = " "$T/sluice.conf.5.txt" || fail "sluice.conf(5) does not document '$key'"
done
pass "man pages: sluice(1) and sluice.conf(5) render cleanly and cover every option and top-level key"

# --- make deb, then a real install on this Debian, the quickstart, removal
if [ "$(id -u)" != 0 ] || ! command -v dpkg > /dev/null; then
  echo "skip: the .deb install needs root and dpkg"; exit 0
fi
# One package test at a time on this machine (dpkg has one database): wait
# for any other run to finish before looking.
exec 8> /tmp/sluice-package-test.lock
flock -w 900 8 || fail "another package test held the lock for 15 minutes"
if dpkg-query -W -f='${Status}' sluice 2>/dev/null | grep -q "install ok"; then
  echo "skip: a sluice package is already installed here; not touching it"; exit 0
fi
make -C "$SRC" deb DEB_BUILD="$T/deb" JOBS=2 > "$T/deb.log" 2>&1 || { tail -20 "$T/deb.log"; fail "make deb"; }
deb=$(ls "$T"/deb/sluice_*.deb)
removed=0
remove_pkg() { [ $removed = 1 ] || dpkg -r sluice > /dev/null 2>&1 || true; }
trap 'remove_pkg; cleanup' EXIT
dpkg -i "$deb" > "$T/dpkg.log" 2>&1 || { cat "$T/dpkg.log"; fail "dpkg -i"; }
/usr/bin/sluice --version | grep -q "^sluice " || fail "installed sluice --version"
mkdir -p "$T/qs/build"
cp -r /usr/share/sluice/. "$T/qs/"
out=$(cd "$T/qs" && env -u SLUICE_PLUGIN_PATH /usr/bin/sluice -c configs/quickstart.conf 2> "$T/qs.log")
[ "$(printf '%s\n' "$out" | wc -l)" = 9 ] || { cat "$T/qs.log"; fail "installed quickstart: want 9 records"; }
grep -q "1 dead-lettered" "$T/qs.log" || fail "installed quickstart: the bad line is not dead-lettered"
plugins=$(env -u SLUICE_PLUGIN_PATH /usr/bin/sluice --list-plugins)
grep -q "^output *stdout" <<< "$plugins" || fail "installed plugins are not listed"
dpkg -r sluice > /dev/null; removed=1
[ ! -e /usr/bin/sluice ] || fail "dpkg -r left /usr/bin/sluice"
pass "make deb: $(basename "$deb") installs, runs the quickstart from /usr/share/sluice, removes"
