#!/bin/bash
# Install the Python variant venvs (groups py-versions, py-apps, py-configs) into $WSFP_LAB (default /tmp/wsfp-lab).
# usage: lab/variants/install_py.sh [--relock] [NAME ...]        (NAME: a lock of lab/variants/locks/, without .txt)
#   One venv per lock: lab/variants/locks/NAME.txt -> $WSFP_LAB/venvs/NAME (created with ${PYTHON:-python3}).
#   A lock is the `pip freeze` of its venv (every package pinned exactly); its header line `# requires: ...` holds the
#   top-level pins it was resolved from. Install: `pip install -r LOCK` (pip ignores the comment lines).
#   Idempotent: a venv whose installed distributions already match every pin of its lock is skipped.
#   --relock NAME...: rebuild those venvs from their `# requires:` line and rewrite the lock from pip freeze
#     (to add a venv: write locks/NAME.txt holding only the two header lines, then run --relock NAME).
#   py-apps and py-configs use the main lab venv ({VENV}, lab/install.sh); only py-versions needs these venvs.
# Prints one "ok|skip|FAIL name (N s)" line per venv; logs in $WSFP_LAB/logs/variants-NAME.log. Always exits 0.
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
LOCKS="$HERE/locks"
WSFP_LAB=${WSFP_LAB:-/tmp/wsfp-lab}
VENVS="$WSFP_LAB/venvs"
LOG="$WSFP_LAB/logs"
PY=${PYTHON:-python3}
RELOCK=0
NAMES=()
while [ $# -gt 0 ]; do
  case "$1" in
    --relock) RELOCK=1; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "install_py: unknown argument $1" >&2; exit 2 ;;
    *) NAMES+=("${1%.txt}"); shift ;;
  esac
done
if [ ${#NAMES[@]} -eq 0 ]; then
  [ $RELOCK -eq 1 ] && { echo "install_py: --relock needs the NAMEs to relock" >&2; exit 2; }
  for f in "$LOCKS"/py-*.txt; do [ -f "$f" ] && NAMES+=("$(basename "$f" .txt)"); done
fi
mkdir -p "$VENVS" "$LOG"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 MAKEFLAGS=-j1
T0=$SECONDS; FAILED=(); N_OK=0; N_SKIP=0
PYV=$("$PY" -c 'import platform; print(platform.python_implementation(), platform.python_version())' 2>/dev/null)
echo "install_py: ${#NAMES[@]} venvs into $VENVS ($PYV)"

# lock_satisfied VENV LOCK: every NAME==VERSION of LOCK is installed in VENV at exactly that version
lock_satisfied() {
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
requires_of() { sed -n 's/^# requires: *//p' "$1" | head -1; }

install_one() { # NAME -> 0 ok, 1 fail, 2 skip
  local n=$1 lock="$LOCKS/$1.txt" v="$VENVS/$1" req
  [ -f "$lock" ] || { echo "no lock $lock" >> "$LOG/variants-$n.log"; return 1; }
  if [ $RELOCK -eq 1 ]; then
    req=$(requires_of "$lock"); [ -n "$req" ] || { echo "no '# requires:' line in $lock"; return 1; }
    rm -rf "$v"
    "$PY" -m venv "$v" || return 1
    # shellcheck disable=SC2086
    "$v/bin/python" -m pip install $req || return 1
    { echo "# wsfp lab variant venv $n ($PYV): pip freeze, installed by lab/variants/install_py.sh"
      echo "# requires: $req"
      "$v/bin/python" -m pip freeze --all --exclude pip; } > "$lock.new" || return 1
    mv "$lock.new" "$lock"
    return 0
  fi
  if lock_satisfied "$v" "$lock"; then return 2; fi
  if [ ! -x "$v/bin/python" ]; then "$PY" -m venv "$v" || return 1; fi
  "$v/bin/python" -m pip install -r "$lock" || return 1
  lock_satisfied "$v" "$lock" || { echo "installed, but the venv does not match $lock"; return 1; }
}

for n in "${NAMES[@]}"; do
  t=$SECONDS
  install_one "$n" > "$LOG/variants-$n.log" 2>&1; rc=$?
  case $rc in
    0) echo "ok   $n ($((SECONDS - t)) s)"; N_OK=$((N_OK + 1)) ;;
    2) echo "skip $n (lock satisfied) ($((SECONDS - t)) s)"; N_SKIP=$((N_SKIP + 1)) ;;
    *) echo "FAIL $n ($((SECONDS - t)) s) see $LOG/variants-$n.log"; tail -n 3 "$LOG/variants-$n.log" | sed 's/^/     | /'; FAILED+=("$n") ;;
  esac
done
echo "install_py: done in $((SECONDS - T0)) s; ${N_OK} ok, ${N_SKIP} skipped, ${#FAILED[@]} failed${FAILED[*]:+: ${FAILED[*]}}"
exit 0
