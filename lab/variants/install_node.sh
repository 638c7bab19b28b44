#!/bin/bash
# Installs the Node.js variant groups' pins (lab/variants/node-versions.tsv, node-configs.tsv) into $WSFP_LAB/npm:
# one dir per lab/variants/locks/node-NAME/ (package.json + package-lock.json), installed with `npm ci` into
# $WSFP_LAB/npm/node-NAME (rows run `env NODE_PATH={BIN}/npm/node-NAME/node_modules node ...`).
# node-apps.tsv uses the main lab's install ($WSFP_LAB/node, lab/install.sh) and needs nothing here.
# Idempotent: a dir whose installed lock equals the committed one (stamp node_modules/.wsfp-lock.sha256) is skipped.
# Prints one "ok|skip|FAIL NAME (N s)" line per dir; exits 0 even if one fails (the FAIL lines say which).
# usage: [WSFP_LAB=/tmp/wsfp-lab] lab/variants/install_node.sh [NAME ...]   (no NAME: every locks/node-* dir)
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
WSFP_LAB=${WSFP_LAB:-/tmp/wsfp-lab}
DEST=$WSFP_LAB/npm
LOCKS=$HERE/locks
command -v npm >/dev/null 2>&1 || { echo "FAIL node-variants (npm not found; lab/install.sh installs Node.js) (0 s)"; exit 0; }
mkdir -p "$DEST"
export npm_config_jobs=1 JOBS=1  # native add-ons (old websocket releases) build on one core
T0=$SECONDS
names=("$@")
if [ ${#names[@]} -eq 0 ]; then for d in "$LOCKS"/node-*/; do names+=("$(basename "$d")"); done; fi
nfail=0; nok=0; nskip=0
for name in "${names[@]}"; do
  t=$SECONDS; src=$LOCKS/$name; dst=$DEST/$name
  if [ ! -f "$src/package.json" ] || [ ! -f "$src/package-lock.json" ]; then echo "FAIL $name (no lock in $src) (0 s)"; nfail=$((nfail + 1)); continue; fi
  want=$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -d' ' -f1)
  if [ -f "$dst/node_modules/.wsfp-lock.sha256" ] && [ "$(cat "$dst/node_modules/.wsfp-lock.sha256")" = "$want" ]; then
    echo "skip $name ($((SECONDS - t)) s)"; nskip=$((nskip + 1)); continue
  fi
  mkdir -p "$dst"
  cp "$src/package.json" "$src/package-lock.json" "$dst/"
  if (cd "$dst" && npm ci --no-audit --no-fund --loglevel=error > "$dst/install.log" 2>&1); then
    echo "$want" > "$dst/node_modules/.wsfp-lock.sha256"
    echo "ok   $name ($((SECONDS - t)) s)"; nok=$((nok + 1))
  else
    echo "FAIL $name ($((SECONDS - t)) s; see $dst/install.log)"; tail -n 3 "$dst/install.log" | sed 's/^/  | /'; nfail=$((nfail + 1))
  fi
done
echo "install_node: ${#names[@]} dirs: $nok installed, $nskip already there, $nfail failed in $((SECONDS - T0)) s (into $DEST)"
exit 0
