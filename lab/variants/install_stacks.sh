#!/bin/bash
# Install the pins of the STACKS group (lab/variants/stacks.tsv: app stacks that speak a protocol of their own over
# WebSocket: graphql-ws, subscriptions-transport-ws, Node-RED, serverless-offline, python-socketio, crossws)
# into $WSFP_LAB (default /tmp/wsfp-lab):
#   npm: one dir per lab/variants/locks/stacks/NAME/ (package.json + package-lock.json), `npm ci` into
#        $WSFP_LAB/npm/stacks/NAME (rows run `env NODE_PATH={NPM}/stacks/NAME/node_modules node ...`).
#   pip: one venv per lab/variants/locks/stacks/NAME.txt (a `pip freeze`, first lines `# requires: ...` = the
#        top-level pins it was resolved from) -> $WSFP_LAB/venvs/stacks/NAME, `pip install -r LOCK`.
# usage: [WSFP_LAB=/tmp/wsfp-lab] lab/variants/install_stacks.sh [ROW ... | --relock NAME.txt ...]
#   ROW: an id of stacks.tsv (e.g. `node-graphql-ws-6.4.2 node-graphql-ws-5.16.2`, as CI's lab/ci_new.sh does):
#     only the locks those rows name (pin column `lock:`) are installed and verified. No ROW: every lock of the group.
#   --relock: rebuild those venvs from their `# requires:` line and rewrite the lock from pip freeze.
# Idempotent: an npm dir whose installed lock equals the committed one (stamp node_modules/.wsfp-lock.sha256) and a
# venv whose distributions match every pin of its lock are skipped. One "ok|skip|WARN|FAIL NAME (N s)" line per step;
# logs in $WSFP_LAB/logs/stacks-NAME.log. Exits 0 (the FAIL lines say what failed), 2 on an unknown ROW.
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
LOCKS=$HERE/locks/stacks
WSFP_LAB=${WSFP_LAB:-/tmp/wsfp-lab}
NPMD=$WSFP_LAB/npm/stacks
VENVS=$WSFP_LAB/venvs/stacks
LOG=$WSFP_LAB/logs
PY=${PYTHON:-python3}
mkdir -p "$NPMD" "$VENVS" "$LOG"
renice -n 10 $$ > /dev/null 2>&1 || true  # 2 cores shared: installs run niced
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 MAKEFLAGS=-j1 npm_config_jobs=1 JOBS=1
T0=$SECONDS; FAILED=(); N_OK=0; N_SKIP=0
report() { # NAME RC T
  case $2 in
    0) echo "ok   $1 ($((SECONDS - $3)) s)"; N_OK=$((N_OK + 1)) ;;
    2) echo "skip $1 ($((SECONDS - $3)) s)"; N_SKIP=$((N_SKIP + 1)) ;;
    *) echo "FAIL $1 ($((SECONDS - $3)) s) see $LOG/stacks-$1.log"; tail -n 3 "$LOG/stacks-$1.log" | sed 's/^/     | /'; FAILED+=("$1") ;;
  esac
}

RELOCK=()
if [ "${1:-}" = --relock ]; then shift; RELOCK=("$@"); set --; fi
case "${1:-}" in -h|--help) sed -n '2,15p' "$0"; exit 0 ;; -*) echo "install_stacks: unknown argument $1" >&2; exit 2 ;; esac
# the locks to install: every lock of the group, or those the ROWs name
VENV_LOCKS=(); NPM_LOCKS=()
if [ $# -eq 0 ]; then
  for f in "$LOCKS"/*.txt; do [ -f "$f" ] && VENV_LOCKS+=("$(basename "$f" .txt)"); done
  for d in "$LOCKS"/*/; do [ -d "$d" ] && NPM_LOCKS+=("$(basename "$d")"); done
else
  declare -A SEEN=()
  for r in "$@"; do
    pin=$(awk -F'\t' -v r="$r" '$1 == r {print $6; exit}' "$HERE/stacks.tsv")
    [ -n "$pin" ] || { echo "install_stacks: unknown row '$r' (not an id of $HERE/stacks.tsv)" >&2; exit 2; }
    n=0
    for p in $pin; do
      case "$p" in
        lock:variants/locks/stacks/*/package-lock.json) l=${p#lock:variants/locks/stacks/}; l=${l%/package-lock.json}
          [[ -z "${SEEN[$l]+x}" ]] && NPM_LOCKS+=("$l"); SEEN[$l]=1; n=1 ;;
        lock:variants/locks/stacks/*.txt) l=${p#lock:variants/locks/stacks/}; l=${l%.txt}
          [[ -z "${SEEN[$l]+x}" ]] && VENV_LOCKS+=("$l"); SEEN[$l]=1; n=1 ;;
      esac
    done
    [ $n = 1 ] || { echo "install_stacks: row '$r' names no lock of lab/variants/locks/stacks/ in its pin column" >&2; exit 2; }
  done
  echo "install_stacks: $# rows of stacks.tsv ($*): ${#NPM_LOCKS[@]} npm dirs, ${#VENV_LOCKS[@]} venvs"
fi

# ---- pip venvs
lock_satisfied() { # VENV LOCK: every NAME==VERSION of LOCK is installed in VENV at exactly that version
  [ -x "$1/bin/python" ] || return 1
  "$1/bin/python" - "$2" <<'EOF' 2>/dev/null
import sys, re
from importlib import metadata
norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
have = {norm(d.metadata["Name"]): d.version for d in metadata.distributions()}
bad = 0
for line in open(sys.argv[1]):
    line = line.strip()
    if not line or line.startswith("#"): continue
    name, _, ver = line.partition("==")
    if have.get(norm(name.split("[")[0])) != ver: bad += 1
sys.exit(1 if bad else 0)
EOF
}
venv_one() { # NAME RELOCK(0|1) -> 0 ok, 1 fail, 2 skip
  local n=$1 lock="$LOCKS/$1.txt" v="$VENVS/$1" req pyv
  if [ "$2" = 1 ]; then
    req=$(sed -n 's/^# requires: *//p' "$lock" | head -1); [ -n "$req" ] || { echo "no '# requires:' line in $lock"; return 1; }
    rm -rf "$v"; "$PY" -m venv "$v" || return 1
    # shellcheck disable=SC2086
    "$v/bin/python" -m pip install $req || return 1
    pyv=$("$v/bin/python" -c 'import platform; print(platform.python_implementation(), platform.python_version())')
    { echo "# wsfp lab group stacks venv $n ($pyv): pip freeze, installed by lab/variants/install_stacks.sh"
      echo "# requires: $req"
      "$v/bin/python" -m pip freeze --all --exclude pip; } > "$lock.new" || return 1
    mv "$lock.new" "$lock"; return 0
  fi
  lock_satisfied "$v" "$lock" && return 2
  [ -x "$v/bin/python" ] || "$PY" -m venv "$v" || return 1
  "$v/bin/python" -m pip install -r "$lock" || return 1
  lock_satisfied "$v" "$lock" || { echo "installed, but the venv does not match $lock"; return 1; }
}
for n in "${VENV_LOCKS[@]}"; do
  t=$SECONDS; rl=0
  for r in "${RELOCK[@]}"; do [ "${r%.txt}" = "$n" ] && rl=1; done
  [ ${#RELOCK[@]} -gt 0 ] && [ $rl = 0 ] && continue
  venv_one "$n" $rl > "$LOG/stacks-$n.log" 2>&1; report "$n" $? $t
done
[ ${#RELOCK[@]} -gt 0 ] && { echo "install_stacks: relocked ${RELOCK[*]}"; exit 0; }

# ---- npm dirs
npm_one() { # NAME -> 0 ok, 1 fail, 2 skip
  local n=$1 src=$LOCKS/$1 dst=$NPMD/$1 want
  want=$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -d' ' -f1)
  [ -f "$dst/node_modules/.wsfp-lock.sha256" ] && [ "$(cat "$dst/node_modules/.wsfp-lock.sha256")" = "$want" ] && return 2
  mkdir -p "$dst"; cp "$src/package.json" "$src/package-lock.json" "$dst/"
  (cd "$dst" && npm ci --no-audit --no-fund --loglevel=error) || return 1
  echo "$want" > "$dst/node_modules/.wsfp-lock.sha256"
}
if [ ${#NPM_LOCKS[@]} -eq 0 ]; then :
elif command -v npm > /dev/null 2>&1; then
  for n in "${NPM_LOCKS[@]}"; do
    d=$LOCKS/$n; t=$SECONDS
    [ -f "$d/package-lock.json" ] || { echo "FAIL $n (no package-lock.json in $d) (0 s)"; FAILED+=("$n"); continue; }
    npm_one "$n" > "$LOG/stacks-$n.log" 2>&1; report "$n" $? $t
  done
else echo "FAIL npm (npm not found; lab/install.sh installs Node.js) (0 s)"; FAILED+=(npm); fi

# ---- verify: each dir/venv holds the pinned version of its main package
verify() {
  local bad=0 d n pkg want got
  for n in "${NPM_LOCKS[@]}"; do
    d=$LOCKS/$n
    for pkg in graphql-ws subscriptions-transport-ws node-red serverless-offline crossws; do
      want=$(sed -n "s/^ *\"$pkg\": \"\([^\"]*\)\".*/\1/p" "$d/package.json" | head -1); [ -n "$want" ] || continue
      got=$(sed -n 's/^ *"version": "\([^"]*\)".*/\1/p' "$NPMD/$n/node_modules/$pkg/package.json" 2>/dev/null | head -1)
      [ "$got" = "$want" ] || { echo "     $n: $pkg want $want, got '${got}'"; bad=1; }
    done
  done
  for n in "${VENV_LOCKS[@]}"; do
    f=$LOCKS/$n.txt
    lock_satisfied "$VENVS/$n" "$f" || { echo "     $n: venv does not match its lock"; bad=1; }
  done
  return $bad
}
t=$SECONDS
if out=$(verify); then echo "ok   verify (every dir and venv holds its pins) ($((SECONDS - t)) s)"
else echo "FAIL verify ($((SECONDS - t)) s)"; echo "$out"; FAILED+=(verify); fi
echo "install_stacks: $N_OK installed, $N_SKIP already there, ${#FAILED[@]} failed${FAILED[*]:+: ${FAILED[*]}} in $((SECONDS - T0)) s"
exit 0
