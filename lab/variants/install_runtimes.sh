#!/bin/bash
# Installs the RUNTIMES group's pins (lab/variants/runtimes.tsv: Bun, Deno, workerd, crossws) into $WSFP_LAB/npm/runtimes.
# The npm packages `bun`, `deno` and `workerd` are only wrappers: their postinstall script picks one of a dozen
# optionalDependencies (one per platform) and links its binary. Here each release is instead ONE lock dir
# lab/variants/locks/runtimes/NAME/ (package.json + package-lock.json) that depends on the linux-x64 platform
# package alone (@oven/bun-linux-x64, @deno/linux-x64-glibc, @cloudflare/workerd-linux-64: the binary is inside
# the tarball, so nothing is downloaded by a script), installed with `npm ci --ignore-scripts` into
# $WSFP_LAB/npm/runtimes/NAME. The rows run the binary from there, e.g.
#   {NPM}/runtimes/bun-1.4.5/node_modules/@oven/bun-linux-x64/bin/bun
# crossws (plain JavaScript, run by the machine's node) has an ordinary lock dir crossws-VERSION the same way.
# Idempotent: a dir whose installed lock equals the committed one (stamp node_modules/.wsfp-lock.sha256) is
# skipped. One "ok|skip|FAIL step (N s)" line per dir, then a version check of every binary; logs in
# $WSFP_LAB/logs/runtimes-*.log. Always exits 0 (the FAIL lines say what failed).
# usage: [WSFP_LAB=/tmp/wsfp-lab] lab/variants/install_runtimes.sh [NAME ...]   (no NAME: every locks/runtimes/* dir)
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
WSFP_LAB=${WSFP_LAB:-/tmp/wsfp-lab}
DEST=$WSFP_LAB/npm/runtimes
LOCKS=$HERE/locks/runtimes
LOG=$WSFP_LAB/logs; mkdir -p "$LOG"
command -v npm >/dev/null 2>&1 || { echo "FAIL runtimes (npm not found; lab/install.sh installs Node.js) (0 s)"; exit 0; }
case "$(uname -m)" in x86_64) ;; *) echo "FAIL runtimes (the locks pin the linux-x64 binaries; this is $(uname -m)) (0 s)"; exit 0 ;; esac
mkdir -p "$DEST"
T0=$SECONDS
names=("$@")
if [ ${#names[@]} -eq 0 ]; then for d in "$LOCKS"/*/; do names+=("$(basename "$d")"); done; fi
nfail=0; nok=0; nskip=0
binary() { # NAME -> path of the binary of that lock dir
  case "$1" in
    bun-*) echo "$DEST/$1/node_modules/@oven/bun-linux-x64/bin/bun" ;;
    deno-*) echo "$DEST/$1/node_modules/@deno/linux-x64-glibc/deno" ;;
    workerd-*) echo "$DEST/$1/node_modules/@cloudflare/workerd-linux-64/bin/workerd" ;;
  esac
}
for name in "${names[@]}"; do
  t=$SECONDS; src=$LOCKS/$name; dst=$DEST/$name; log=$LOG/runtimes-$name.log
  if [ ! -f "$src/package.json" ] || [ ! -f "$src/package-lock.json" ]; then echo "FAIL $name (no lock in $src) (0 s)"; nfail=$((nfail + 1)); continue; fi
  want=$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -d' ' -f1)
  if [ -f "$dst/node_modules/.wsfp-lock.sha256" ] && [ "$(cat "$dst/node_modules/.wsfp-lock.sha256")" = "$want" ]; then
    b=$(binary "$name"); [ -z "$b" ] || [ -x "$b" ] || chmod 755 "$b"
    echo "skip $name ($((SECONDS - t)) s)"; nskip=$((nskip + 1)); continue
  fi
  mkdir -p "$dst"
  cp "$src/package.json" "$src/package-lock.json" "$dst/"
  # the wrappers' postinstall would also chmod the binary: some tarballs (deno 1.46.3) ship it without the exec bit
  if (cd "$dst" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) > "$log" 2>&1 \
     && { b=$(binary "$name"); [ -z "$b" ] || chmod 755 "$b"; }; then
    echo "$want" > "$dst/node_modules/.wsfp-lock.sha256"
    echo "ok   $name ($((SECONDS - t)) s)"; nok=$((nok + 1))
  else
    echo "FAIL $name ($((SECONDS - t)) s; see $log)"; tail -n 3 "$log" | sed 's/^/  | /'; nfail=$((nfail + 1))
  fi
done
# version check: each binary runs and reports the version its lock dir is named after (crossws: its package.json)
t=$SECONDS; bad=(); nchk=0; : > "$LOG/runtimes-verify.log"
for name in "${names[@]}"; do
  b=$(binary "$name"); v=${name#*-}; nchk=$((nchk + 1))
  if [ -n "$b" ]; then out=$("$b" --version 2>&1 | head -n 1)
  else out=$(node -p "require('$DEST/$name/node_modules/${name%%-*}/package.json').version" 2>&1); fi
  # the first line of --version exactly: bun "1.4.5", deno "deno 2.9.6 (stable, ...)", workerd 1.20261123.1
  # "workerd 2026-11-23", crossws's package.json version "0.4.17"
  case "$name" in
    deno-*) want="deno $v *" ;;
    workerd-*) w=${v#1.}; want="workerd ${w:0:4}-${w:4:2}-${w:6:2}" ;;
    *) want=$v ;;
  esac
  # shellcheck disable=SC2053  # $want is a glob on purpose
  [[ "$out" == $want ]] || { bad+=("$name"); echo "     $name: want '$want', got '${out:0:100}'" >> "$LOG/runtimes-verify.log"; }
done
if [ ${#bad[@]} -eq 0 ]; then echo "ok   verify ($nchk installs report their version) ($((SECONDS - t)) s)"
else echo "FAIL verify ($((SECONDS - t)) s): ${bad[*]} (see $LOG/runtimes-verify.log)"; nfail=$((nfail + 1)); fi
echo "install_runtimes: ${#names[@]} dirs: $nok installed, $nskip already there, $nfail failed in $((SECONDS - T0)) s (into $DEST)"
exit 0
