# Shared helpers for lab/*.sh (sourced, not run). Reads lab/manifest.tsv (or $MANIFEST).
# Env: WSFP_LAB (install/run root, default /tmp/wsfp-lab), BASE_PORT (default 9001),
#      WSFP_LAB_RUN (run state dir, default $WSFP_LAB/run/$BASE_PORT: one dir per base port, so a
#      CI lab on 19001 and a developer lab on 9001 never share pid files),
#      MANIFEST (default lab/manifest.tsv; e.g. MANIFEST=lab/variants.tsv for the app variants: ports are
#      then BASE_PORT + row index of THAT file, so give it its own BASE_PORT, clear of the main lab's).
LAB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
APPS="$LAB_DIR/apps"
MANIFEST=${MANIFEST:-$LAB_DIR/manifest.tsv}
# a relative MANIFEST is taken from the current directory, else from the repo root, else from lab/
if [[ "$MANIFEST" != /* && ! -f "$MANIFEST" ]]; then
  if [ -f "$LAB_DIR/../$MANIFEST" ]; then MANIFEST="$LAB_DIR/../$MANIFEST"; elif [ -f "$LAB_DIR/$MANIFEST" ]; then MANIFEST="$LAB_DIR/$MANIFEST"; fi
fi
[ -f "$MANIFEST" ] || { echo "lab: manifest $MANIFEST not found" >&2; return 2 2>/dev/null || exit 2; }
WSFP_LAB=${WSFP_LAB:-/tmp/wsfp-lab}
BASE_PORT=${BASE_PORT:-9001}
WSFP_LAB_RUN=${WSFP_LAB_RUN:-$WSFP_LAB/run/$BASE_PORT}
VENV=${VENV:-$WSFP_LAB/venv}
export WSFP_LAB WSFP_LAB_RUN VENV
export NODE_PATH="$WSFP_LAB/node/node_modules"

# The CI subset: fast to install, five different stacks (Python x2, Node.js x2, Go).
CI_IDS="py-websockets py-tornado node-ws node-faye-websocket go-gorilla"
# The CI held-out corpus (lab/ci_holdout.sh; lab/ci_new.sh scans it again with its new rows): three CI servers of the
# main group, five websockets releases (group py-versions) and nginx/HAProxy in front of the three (group proxies).
CI_HOLDOUT_MAIN="py-websockets node-ws go-gorilla"
CI_HOLDOUT_LADDER="py-websockets-10.4 py-websockets-12.0 py-websockets-13.1 py-websockets-14.2 py-websockets-16.0"
CI_HOLDOUT_PAIRS="nginx-py-websockets nginx-node-ws nginx-go-gorilla haproxy-py-websockets haproxy-node-ws haproxy-go-gorilla"

# ci_proxy_pins: Debian's nginx and HAProxy at the pins of lab/manifest.tsv's proxy rows (NAME=VERSION, one a line)
ci_proxy_pins() {
  awk -F'\t' '$1=="proxy-nginx" || $1=="proxy-haproxy" {print $6}' "$LAB_DIR/manifest.tsv" | tr ' ' '\n' \
    | sed -n 's/^deb://p' | grep -E '^(nginx|nginx-common|haproxy)=' | sort -u
}
# ci_install_proxies: installs ci_proxy_pins as lab/install.sh installs Debian pins: skipped when installed at the pin;
# a pin a Debian point release took out of the archive gets the archive's version and a WARN line (check the
# fingerprints again then). One line per step. Returns 1 when a package could not be installed at all.
ci_install_proxies() {
  local p have need=() APT=(apt-get -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 install)
  for p in $(ci_proxy_pins); do
    have=$(dpkg-query -W -f='${db:Status-Abbrev}|${Version}' "${p%%=*}" 2>/dev/null | sed -n 's/^ii *|//p')
    [ "$have" = "${p#*=}" ] || need+=("$p")
  done
  [ ${#need[@]} -eq 0 ] && { echo "skip apt (nginx/HAProxy installed at their pins)"; return 0; }
  DEBIAN_FRONTEND=noninteractive "${APT[@]}" "${need[@]}" > /dev/null 2>&1 && { echo "ok   apt ${need[*]}"; return 0; }
  for p in "${need[@]}"; do  # one by one, pinned then the archive's version
    if DEBIAN_FRONTEND=noninteractive "${APT[@]}" "$p" > /dev/null 2>&1; then echo "ok   apt $p"
    elif DEBIAN_FRONTEND=noninteractive "${APT[@]}" "${p%%=*}" > /dev/null 2>&1; then
      echo "WARN apt ${p%%=*}: pinned ${p#*=} not installable, got $(dpkg-query -W -f='${Version}' "${p%%=*}")"
    else echo "FAIL apt ${p%%=*}"; return 1; fi
  done
}

# load_manifest: fills M_IDS, M_IMPL, M_LANG, M_VER, M_PROBE, M_PIN, M_CMD, M_BASE (indexed in manifest order) and M_IDX[id]
# M_BASE: the optional 8th column (lab/variants.tsv: the main-manifest id whose library the variant runs), else "".
load_manifest() {
  M_IDS=(); M_IMPL=(); M_LANG=(); M_VER=(); M_PROBE=(); M_PIN=(); M_CMD=(); M_BASE=()
  declare -gA M_IDX=()
  local id impl lang ver probe pin cmd base
  while IFS=$'\t' read -r id impl lang ver probe pin cmd base; do
    [[ -z "$id" || "$id" == \#* ]] && continue
    M_IDX[$id]=${#M_IDS[@]}
    M_IDS+=("$id"); M_IMPL+=("$impl"); M_LANG+=("$lang"); M_VER+=("$ver"); M_PROBE+=("$probe"); M_PIN+=("$pin"); M_CMD+=("$cmd"); M_BASE+=("${base%%$'\t'*}")
  done < "$MANIFEST"
}

# select_ids SUBSET "ID ...": prints the chosen ids (manifest order), one per line. SUBSET: ci|all|"" (""+no ids = all).
# Unknown ids are an error (return 1).
select_ids() {
  local subset=$1 want=" ${2:-} " id bad=0
  case "$subset" in
    ci) want=" $CI_IDS ${2:-} " ;;
    all) want="" ;;
    "") [[ -z "${2// /}" ]] && want="" ;;
    *) echo "lab: unknown subset '$subset' (ci|all)" >&2; return 1 ;;
  esac
  for id in $want; do [[ -n "${M_IDX[$id]+x}" ]] || { echo "lab: unknown id '$id' (not in $MANIFEST)" >&2; bad=1; }; done
  [ $bad -eq 0 ] || return 1
  for id in "${M_IDS[@]}"; do
    if [[ -z "$want" || "$want" == *" $id "* ]]; then echo "$id"; fi
  done
}

# port_listening PORT: is something listening on 127.0.0.1:PORT (ss if present, else a bash /dev/tcp connect)
port_listening() {
  if command -v ss >/dev/null 2>&1; then ss -Hltn "sport = :$1" | grep -q .
  else (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; fi
}

# proc_starttime PID: field 22 of /proc/PID/stat (clock ticks since boot), empty if gone. Guards against PID reuse.
proc_starttime() {
  local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  s=${s##*) }; set -- $s; echo "${20}"
}
