#!/bin/bash
# Install the pinned lab servers into $WSFP_LAB (default /tmp/wsfp-lab). Debian 12, root.
# usage: lab/install.sh [--subset ci|all] [--ids "id ..."]      (default: --subset all)
#   ci  = py-websockets py-tornado node-ws node-faye-websocket go-gorilla (a couple of minutes on a fresh machine)
#   all = every server in lab/manifest.tsv (Rust crates, JVM, nginx modules...; ~20 min the first time)
# Pins come from the manifest's pin column plus lab/pip-lock.txt, lab/node/{ci,all}/package-lock.json and
# lab/apps/rust/Cargo.lock. Idempotent: a step whose pins are already satisfied is skipped.
# Each step prints "ok|skip|WARN|FAIL name (N s)"; logs in $WSFP_LAB/logs/. A failing step never stops the others.
# Exit: with --subset all always 0 (failures are reported); otherwise 1 if any step failed.
set -u
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
SUBSET=all; IDS_ARG=""
while [ $# -gt 0 ]; do
  case "$1" in
    --subset) SUBSET=${2:-}; shift 2 ;;
    --subset=*) SUBSET=${1#*=}; shift ;;
    --ids) IDS_ARG=${2:-}; SUBSET=""; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "install: unknown argument $1" >&2; exit 2 ;;
  esac
done
load_manifest
SEL=$(select_ids "$SUBSET" "$IDS_ARG") || exit 2
mkdir -p "$WSFP_LAB/logs"
LOG="$WSFP_LAB/logs"
export DEBIAN_FRONTEND=noninteractive
T0=$SECONDS; FAILED=(); WARNED=()
echo "install: subset=${SUBSET:-ids} into $WSFP_LAB: $(echo $SEL)"

# step NAME CMD... : run, time and report one step (output to $LOG/NAME.log)
step() {
  local n=$1; shift; local t=$SECONDS
  if "$@" > "$LOG/$n.log" 2>&1; then echo "ok   $n ($((SECONDS - t)) s)"
  else echo "FAIL $n ($((SECONDS - t)) s) see $LOG/$n.log"; tail -n 5 "$LOG/$n.log" | sed 's/^/     | /'; FAILED+=("$n"); return 1; fi
}
skip() { echo "skip $1 ($2)"; }

# ---- collect pins of the selected servers
DEB=(); PIP=(); NPM=(); BUILDS=()
declare -A SEEN=()
for id in $SEL; do
  i=${M_IDX[$id]}
  for p in ${M_PIN[$i]}; do
    [[ -n "${SEEN[$p]+x}" ]] && continue; SEEN[$p]=1
    case "$p" in deb:*) DEB+=("${p#deb:}") ;; pip:*) PIP+=("${p#pip:}") ;; npm:*) NPM+=("${p#npm:}") ;; esac
  done
  c=${M_CMD[$i]}
  case "$c" in
    "{BIN}/go/"*|"{BIN}/c/"*|"{BIN}/cpp/"*|"{BIN}/rs/target/debug/"*) b=${c%% *}; BUILDS+=("${b#\{BIN\}/}") ;;
  esac
done
# The app variants of lab/variants.tsv (silent/push apps) are second binaries of the same builds: with
# --subset all they are built too, so lab/corpus.py can scan the apps group on a fresh install.
if [ "$SUBSET" = all ]; then
  while IFS=$'\t' read -r vid _ _ _ _ _ vcmd _; do
    case "$vid" in ''|\#*) continue ;; esac
    case "$vcmd" in
      "{BIN}/go/"*|"{BIN}/rs/target/debug/"*) b=${vcmd%% *}; b=${b#\{BIN\}/}
        [[ " ${BUILDS[*]} " == *" $b "* ]] || BUILDS+=("$b") ;;
    esac
  done < "$LAB_DIR/variants.tsv"
fi
# Debian tools the builds themselves need (beside what the pins bring)
for b in "${BUILDS[@]}"; do case "$b" in c/*|cpp/*) command -v g++ >/dev/null || DEB+=(g++) ;; esac; done

# ---- 1. Debian packages: pinned; if a pin is no longer in the archive (Debian point release), install the
#         archive's version and WARN (fingerprints from the lab must then be checked again).
deb_installed_version() { dpkg-query -W -f='${db:Status-Abbrev}|${Version}' "$1" 2>/dev/null | sed -n 's/^ii *|//p'; }
install_deb() {
  local need=() p name ver have
  for p in "${DEB[@]}"; do
    name=${p%%=*}; ver=${p#*=}; [ "$name" = "$p" ] && ver=""
    have=$(deb_installed_version "$name")
    if [ -z "$have" ] || { [ -n "$ver" ] && [ "$have" != "$ver" ]; }; then need+=("$p"); fi
  done
  if [ ${#need[@]} -eq 0 ]; then skip apt "${#DEB[@]} Debian pins already installed"; return; fi
  echo "     apt: ${need[*]}"
  local APT=(apt-get -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 install)
  step apt-update apt-get -q -o DPkg::Lock::Timeout=600 update || true
  if step apt "${APT[@]}" "${need[@]}"; then return; fi
  # whole transaction failed: retry one by one, pinned then unpinned, so one missing package doesn't block the rest
  unset 'FAILED[${#FAILED[@]}-1]'
  for p in "${need[@]}"; do
    name=${p%%=*}
    if "${APT[@]}" "$p" >> "$LOG/apt.log" 2>&1; then echo "ok   apt $p"
    elif "${APT[@]}" "$name" >> "$LOG/apt.log" 2>&1; then
      echo "WARN apt $name: pinned ${p#*=} not installable, got $(deb_installed_version "$name")"; WARNED+=("deb:$p")
    else echo "FAIL apt $name (see $LOG/apt.log)"; FAILED+=("apt:$name"); fi
  done
}
[ ${#DEB[@]} -gt 0 ] && install_deb

# ---- 2. Python venv + pip (exact pins, constrained by lab/pip-lock.txt so transitive versions are pinned too)
norm() { awk -F'==' '{ n = tolower($1); gsub(/[_.]/, "-", n); print n (NF > 1 ? "==" $2 : "") }'; }  # PEP 503 names
pip_missing() { # prints the pins not satisfied by the venv
  local frozen; frozen=$("$VENV/bin/python" -m pip freeze --disable-pip-version-check 2>/dev/null | norm)
  local p; for p in "$@"; do
    local n=${p%%==*}; n=${n%%\[*}; local v=${p##*==}
    grep -qx "$(echo "$n" | norm)==$v" <<< "$frozen" || echo "$p"
  done
}
if [ ${#PIP[@]} -gt 0 ]; then
  PY=${PYTHON:-python3}
  if [ -x "$VENV/bin/python" ]; then skip venv "$VENV exists, $("$VENV/bin/python" --version 2>&1)"
  else step venv "$PY" -m venv "$VENV"; fi
  if [ -x "$VENV/bin/python" ]; then
    if [ "$SUBSET" = all ]; then mapfile -t WANT < <(grep -v '^#' "$LAB_DIR/pip-lock.txt" | grep .); WANT+=("${PIP[@]}")
    else WANT=("${PIP[@]}"); fi
    miss=$(pip_missing "${WANT[@]}")
    if [ -z "$miss" ]; then skip pip "${#WANT[@]} pins satisfied"
    else
      REQ=("${PIP[@]}"); [ "$SUBSET" = all ] && REQ+=(-r "$LAB_DIR/pip-lock.txt")
      step pip "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -c "$LAB_DIR/pip-lock.txt" "${REQ[@]}"
    fi
  fi
fi

# ---- 3. npm: `npm ci` from the committed lockfile (ci subset: lab/node/ci, otherwise lab/node/all)
npm_satisfied() { # every package of the lockfile present in $WSFP_LAB/node at the locked version
  node -e '
    const fs = require("fs"), path = require("path"), [lock, dir] = process.argv.slice(1);
    const pk = JSON.parse(fs.readFileSync(lock)).packages; let bad = 0;
    for (const [p, m] of Object.entries(pk)) { if (!p || m.optional || m.dev) continue;
      try { if (JSON.parse(fs.readFileSync(path.join(dir, p, "package.json"))).version !== m.version) bad++; } catch (e) { bad++; } }
    process.exit(bad ? 1 : 0);' "$1" "$WSFP_LAB/node"
}
if [ ${#NPM[@]} -gt 0 ]; then
  if [ "$SUBSET" = ci ]; then NL="$LAB_DIR/node/ci"; else NL="$LAB_DIR/node/all"; fi
  mkdir -p "$WSFP_LAB/node"
  if npm_satisfied "$NL/package-lock.json" 2>/dev/null; then skip npm "lockfile ${NL#$LAB_DIR/}/package-lock.json satisfied"
  else
    cp "$NL/package.json" "$NL/package-lock.json" "$WSFP_LAB/node/"
    step npm bash -c "cd '$WSFP_LAB/node' && npm ci --no-audit --no-fund"
  fi
fi

# ---- 4. builds (Go from Debian's GOPATH packages, C/C++ against Debian's headers, Rust with the committed Cargo.lock)
CARGO_PKGS=(); CARGO_BINS=()
for b in "${BUILDS[@]}"; do
  out="$WSFP_LAB/$b"; name=${b##*/}; mkdir -p "$(dirname "$out")"
  case "$b" in
    go/*) src="$APPS/$name.go"
      if [ -x "$out" ] && [ "$out" -nt "$src" ]; then skip "build-$name" "up to date"; continue; fi
      step "build-$name" env GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$WSFP_LAB/go/cache" GOFLAGS= GOTOOLCHAIN=local \
        go build -o "$out" "$src" ;;
    c/*) src="$APPS/$name.c"
      if [ -x "$out" ] && [ "$out" -nt "$src" ]; then skip "build-$name" "up to date"; continue; fi
      step "build-$name" gcc -O1 -o "$out" "$src" -lcivetweb ;;
    cpp/*) src="$APPS/$name.cpp"
      if [ -x "$out" ] && [ "$out" -nt "$src" ]; then skip "build-$name" "up to date"; continue; fi
      step "build-$name" g++ -O1 -std=c++17 -o "$out" "$src" -lpthread ;;
    rs/target/debug/*)
      # A package's first binary has the package's name; a second one (src/bin/NAME.rs) is built by name.
      if [ -d "$APPS/rust/$name" ]; then CARGO_PKGS+=(-p "$name")
      else srcf=$(ls "$APPS"/rust/*/src/bin/"$name".rs 2>/dev/null | head -1); pkg=${srcf#$APPS/rust/}; pkg=${pkg%%/*}
        [ -n "$srcf" ] && CARGO_BINS+=("$pkg:$name"); fi ;;
  esac
done
if [ ${#CARGO_PKGS[@]} -gt 0 ]; then
  mkdir -p "$WSFP_LAB/rs" && cp -r "$APPS/rust/." "$WSFP_LAB/rs/"
  step cargo bash -c "cd '$WSFP_LAB/rs' && CARGO_TARGET_DIR='$WSFP_LAB/rs/target' cargo build --locked ${CARGO_PKGS[*]}"
fi
for pb in "${CARGO_BINS[@]}"; do
  mkdir -p "$WSFP_LAB/rs" && cp -r "$APPS/rust/." "$WSFP_LAB/rs/"
  step "cargo-${pb#*:}" bash -c "cd '$WSFP_LAB/rs' && CARGO_TARGET_DIR='$WSFP_LAB/rs/target' cargo build --locked -p '${pb%%:*}' --bin '${pb#*:}'"
done

# ---- 5. verify every pin of the selected servers against what is really installed
verify() {
  local p n v have bad=0 frozen="" npmv=""
  [ -x "$VENV/bin/python" ] && frozen=$("$VENV/bin/python" -m pip freeze --disable-pip-version-check 2>/dev/null | norm)
  [ -d "$WSFP_LAB/node/node_modules" ] && npmv=$(node -e '
    // every installed package, nested ones too, as NAME@VERSION
    const fs = require("fs"), path = require("path");
    const walk = (dir, scope) => { for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory() || e.name.startsWith(".")) continue;
      const p = path.join(dir, e.name);
      if (!scope && e.name.startsWith("@")) { walk(p, e.name + "/"); continue; }
      try { console.log(scope + e.name + "@" + JSON.parse(fs.readFileSync(path.join(p, "package.json"))).version); } catch (err) {}
      if (fs.existsSync(path.join(p, "node_modules"))) walk(path.join(p, "node_modules"), ""); } };
    walk(process.argv[1], "");' "$WSFP_LAB/node/node_modules" 2>/dev/null | sort -u)
  for p in "${!SEEN[@]}"; do
    case "$p" in
      deb:*) n=${p#deb:}; v=${n#*=}; n=${n%%=*}; have=$(deb_installed_version "$n") ;;
      pip:*) n=${p#pip:}; v=${n##*==}; n=${n%%==*}; n=${n%%\[*}
             have=$(sed -n "s/^$(echo "$n" | norm)==//p" <<< "$frozen") ;;
      npm:*) n=${p#npm:}; v=${n##*@}; n=${n%@*}
             have=$(sed -n "s|^$n@||p" <<< "$npmv" | grep -x -m1 "$v" || sed -n "s|^$n@||p" <<< "$npmv" | head -1) ;;
      cargo:*) n=${p#cargo:}; v=${n#*=}; n=${n%%=*}
             have=$(grep -A1 -x "name = \"$n\"" "$WSFP_LAB/rs/Cargo.lock" 2>/dev/null | sed -n 's/^version = "\(.*\)"/\1/p' | grep -x -m1 "$v") ;;
      *) continue ;;
    esac
    if [ "$have" != "$v" ]; then echo "     pin mismatch: $p (installed: ${have:-none})"; bad=$((bad + 1)); fi
  done
  return $bad
}
t=$SECONDS
if verify; then echo "ok   verify (all ${#SEEN[@]} pins of the selection installed exactly) ($((SECONDS - t)) s)"
else echo "WARN verify: some pins differ from what is installed (see above)"; WARNED+=(verify); fi

# ---- 6. variant groups (lab/variants/install_GROUP.sh: version ladders, configurations, proxy pairs),
#         only with --subset all or --variants; each installs its own pins into $WSFP_LAB and is idempotent.
if [ "$SUBSET" = all ] || [ "${WSFP_VARIANTS:-0}" = 1 ]; then
  for inst in "$LAB_DIR"/variants/install_*.sh; do
    [ -f "$inst" ] || continue
    g=${inst##*/install_}; g=${g%.sh}
    step "variants-$g" bash "$inst" || true
  done
fi

echo "install: done in $((SECONDS - T0)) s; ${#FAILED[@]} failed${FAILED[*]:+: ${FAILED[*]}}; ${#WARNED[@]} warnings${WARNED[*]:+: ${WARNED[*]}}"
[ "$SUBSET" = all ] && exit 0
[ ${#FAILED[@]} -eq 0 ]
