#!/bin/bash
# Check that wsfp's verdict rests on the library, not on the app: scan every app variant of lab/variants.tsv
# (silent / push / no-error-listener apps on the same libraries) and its base server of lab/manifest.tsv, and
# compare the verdicts (the `implementation` field). A differing verdict is a finding for the scanner/fingerprints.
# usage: lab/check_variants.sh [--subset ci|all] [variant-id ...]     (default --subset ci: variants of the CI servers)
# Env: WSFP (default <repo>/target/release/wsfp), WSFP_LAB (/tmp/wsfp-lab), SCAN_TIMEOUT (per scan, s, 120),
#      BASE_PORT (29001): base servers, main-manifest port order (BASE_PORT + row of lab/manifest.tsv),
#      VARIANT_BASE_PORT (BASE_PORT+100): variants (VARIANT_BASE_PORT + row of lab/variants.tsv),
#      RUN_ROOT ($WSFP_LAB/run): run state goes to $RUN_ROOT/$BASE_PORT and $RUN_ROOT/$VARIANT_BASE_PORT
#      (set it when WSFP_LAB is a shared, read-only install), WSFP_EXTRA_ARGS (appended to each scan).
# Starts the bases and the variants with lab/start.sh (refuses if a lab already runs on either base port), checks
# that each variant app behaves as it says (silent / push / echo), scans each base (twice: noise) and variant with
#   $WSFP scan -n -a --format ndjson -u 127.0.0.1:PORT[PATH]
# prints a table (variant, base id, base verdict, variant verdict, same?) and, for every differing verdict, the
# probes and fields whose observations differ; stops everything it started. Builds go_gorilla_variant and
# tungstenite_variant into $WSFP_LAB when missing or stale. Files: $RUN_ROOT/$VARIANT_BASE_PORT/variants/.
# Exit 1 if any verdict differs, a scan fails or a variant app misbehaves; 2 on a usage/setup error.
set -u
BASE_PORT=${BASE_PORT:-29001}
unset MANIFEST
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
REPO="$(cd "$LAB_DIR/.." && pwd)"
WSFP=${WSFP:-$REPO/target/release/wsfp}
VARIANT_BASE_PORT=${VARIANT_BASE_PORT:-$((BASE_PORT + 100))}
RUN_ROOT=${RUN_ROOT:-$WSFP_LAB/run}
BASE_RUN=$RUN_ROOT/$BASE_PORT
VAR_RUN=$RUN_ROOT/$VARIANT_BASE_PORT
MAIN_MANIFEST=$LAB_DIR/manifest.tsv
VAR_MANIFEST=$LAB_DIR/variants.tsv
SUBSET=""; IDS="${ONLY:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --subset) SUBSET=${2:-}; shift 2 ;;
    --subset=*) SUBSET=${1#*=}; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    -*) echo "check_variants: unknown option $1" >&2; exit 2 ;;
    *) IDS="$IDS $1"; shift ;;
  esac
done
[ -z "$SUBSET" ] && [ -z "${IDS// /}" ] && SUBSET=ci
if ! [ -x "$WSFP" ]; then echo "check_variants: wsfp binary $WSFP not found/executable (cargo build --release, or set WSFP)" >&2; exit 2; fi

# ---- the main manifest: row count (port range) and probe paths of the bases
MANIFEST=$MAIN_MANIFEST; load_manifest
N_MAIN=${#M_IDS[@]}
declare -A MAIN_PROBE=()
for i in "${!M_IDS[@]}"; do MAIN_PROBE[${M_IDS[$i]}]=${M_PROBE[$i]}; done
# ---- the variants
MANIFEST=$VAR_MANIFEST; load_manifest
N_VAR=${#M_IDS[@]}
declare -A BASE_OF=() VAR_PROBE=() VAR_CMD=()
for i in "${!M_IDS[@]}"; do
  id=${M_IDS[$i]}; b=${M_BASE[$i]}
  [[ -n "$b" && -n "${MAIN_PROBE[$b]+x}" ]] || { echo "check_variants: $id: base '$b' is not an id of lab/manifest.tsv" >&2; exit 2; }
  BASE_OF[$id]=$b; VAR_PROBE[$id]=${M_PROBE[$i]}; VAR_CMD[$id]=${M_CMD[$i]}
done
case "$SUBSET" in
  ci) SEL=""; for id in "${M_IDS[@]}"; do [[ " $CI_IDS " == *" ${BASE_OF[$id]} "* ]] && SEL="$SEL $id"; done
      for id in $IDS; do [[ -n "${BASE_OF[$id]+x}" ]] || { echo "check_variants: unknown variant '$id'" >&2; exit 2; }
        [[ " $SEL " == *" $id "* ]] || SEL="$SEL $id"; done ;;
  *) SEL=$(select_ids "$SUBSET" "$IDS") || exit 2 ;;
esac
SEL=$(echo $SEL)
BASES=""; for id in $SEL; do [[ " $BASES " == *" ${BASE_OF[$id]} "* ]] || BASES="$BASES ${BASE_OF[$id]}"; done
BASES=$(echo $BASES)

# ---- port ranges must not overlap: bases use BASE_PORT..BASE_PORT+N_MAIN (the last one: tcp echo)
lo1=$BASE_PORT; hi1=$((BASE_PORT + N_MAIN)); lo2=$VARIANT_BASE_PORT; hi2=$((VARIANT_BASE_PORT + N_VAR))
if [ "$lo2" -le "$hi1" ] && [ "$lo1" -le "$hi2" ]; then
  echo "check_variants: port ranges overlap (bases $lo1-$hi1, variants $lo2-$hi2): choose another VARIANT_BASE_PORT" >&2; exit 2
fi
if [ "$lo1" -lt 1024 ] || [ "$lo2" -lt 1024 ] || [ "$hi1" -gt 65535 ] || [ "$hi2" -gt 65535 ]; then echo "check_variants: ports out of range" >&2; exit 2; fi

running() { # RUN_DIR: any live group in its pids.tsv?
  [ -s "$1/pids.tsv" ] || return 1
  local pid id port st; while IFS=$'\t' read -r pid id port st; do kill -0 -- "-$pid" 2>/dev/null && return 0; done < "$1/pids.tsv"
  return 1
}
for r in "$BASE_RUN" "$VAR_RUN"; do
  if running "$r"; then echo "check_variants: a lab already runs with state in $r; stop it (BASE_PORT=${r##*/} lab/stop.sh) or choose other ports" >&2; exit 2; fi
done

echo "check_variants: variants: $SEL"
echo "check_variants: bases:    $BASES"
echo "check_variants: ports: bases $BASE_PORT+row (lab/manifest.tsv), variants $VARIANT_BASE_PORT+row (lab/variants.tsv); WSFP_LAB=$WSFP_LAB"
T_ALL=$SECONDS

# ---- builds (same toolchains and flags as lab/install.sh)
build_fail=0
for id in $SEL; do
  c=${VAR_CMD[$id]}; exe=${c%% *}
  case "$exe" in
    "{BIN}/go/"*) name=${exe##*/}; out="$WSFP_LAB/go/$name"; src="$APPS/$name.go"
      [ -x "$out" ] && [ "$out" -nt "$src" ] && continue
      echo "check_variants: building $name (go)"; mkdir -p "$WSFP_LAB/go"
      env GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$WSFP_LAB/go/cache" GOFLAGS= GOTOOLCHAIN=local \
        go build -o "$out" "$src" || build_fail=1 ;;
    "{BIN}/rs/target/debug/"*) name=${exe##*/}; out="$WSFP_LAB/rs/target/debug/$name"
      srcf=$(ls "$APPS"/rust/*/src/bin/"$name".rs 2>/dev/null | head -1)
      [ -n "$srcf" ] || { echo "check_variants: no source for $name under $APPS/rust/*/src/bin/" >&2; build_fail=1; continue; }
      [ -x "$out" ] && [ "$out" -nt "$srcf" ] && continue
      pkg=${srcf#$APPS/rust/}; pkg=${pkg%%/*}
      echo "check_variants: building $name (cargo --locked, package $pkg)"
      mkdir -p "$WSFP_LAB/rs" && cp -r "$APPS/rust/." "$WSFP_LAB/rs/" && \
        (cd "$WSFP_LAB/rs" && CARGO_TARGET_DIR="$WSFP_LAB/rs/target" cargo build --locked -q -p "$pkg" --bin "$name") || build_fail=1 ;;
  esac
done
[ $build_fail -eq 0 ] || echo "check_variants: a build failed; those variants will not start" >&2
T_BUILD=$((SECONDS - T_ALL))

# ---- start bases and variants (in parallel), stop them on exit
STARTED=0
cleanup() {
  [ $STARTED -eq 1 ] || return
  MANIFEST=$MAIN_MANIFEST BASE_PORT=$BASE_PORT WSFP_LAB_RUN=$BASE_RUN "$LAB_DIR/stop.sh" &
  MANIFEST=$VAR_MANIFEST BASE_PORT=$VARIANT_BASE_PORT WSFP_LAB_RUN=$VAR_RUN "$LAB_DIR/stop.sh" &
  wait
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$BASE_RUN" "$VAR_RUN"
OUT="$VAR_RUN/variants"; rm -rf "$OUT"; mkdir -p "$OUT"
STARTED=1
T_START=$SECONDS
MANIFEST=$MAIN_MANIFEST BASE_PORT=$BASE_PORT WSFP_LAB_RUN=$BASE_RUN ONLY="$BASES" "$LAB_DIR/start.sh" > "$OUT/start-bases.log" 2>&1 &
p1=$!
MANIFEST=$VAR_MANIFEST BASE_PORT=$VARIANT_BASE_PORT WSFP_LAB_RUN=$VAR_RUN ONLY="$SEL" "$LAB_DIR/start.sh" > "$OUT/start-variants.log" 2>&1 &
p2=$!
wait $p1 || true; wait $p2 || true
sed 's/^/  [bases]    /' "$OUT/start-bases.log"; sed 's/^/  [variants] /' "$OUT/start-variants.log"
T_START=$((SECONDS - T_START))

declare -A PORT=()
while IFS=$'\t' read -r port impl ver id lang probe; do [ "$port" = port ] || PORT[base:$id]=$port; done < "$BASE_RUN/ports.tsv"
while IFS=$'\t' read -r port impl ver id lang probe; do [ "$port" = port ] || PORT[var:$id]=$port; done < "$VAR_RUN/ports.tsv"
path_of() { local kv; for kv in ${1//;/ }; do case "$kv" in path=*) echo "${kv#path=}"; return ;; esac; done; }
group_alive() { # RUN_DIR ID: the process group start.sh recorded for ID still exists
  local pid id port st; while IFS=$'\t' read -r pid id port st; do [ "$id" = "$2" ] && kill -0 -- "-$pid" 2>/dev/null && return 0; done < "$1/pids.tsv"
  return 1
}

# ---- does each variant app behave as it says? (stdlib client; before the scans)
T_APP=$SECONDS
declare -A APP=()
for id in $SEL; do  # in parallel: each check waits ~0.6 s
  port=${PORT[var:$id]:-}
  case "$id" in *-silent) mode=silent ;; *-push) mode=push ;; *) mode=echo ;; esac
  if [ -z "$port" ] || ! port_listening "$port"; then echo "not running" > "$OUT/app-$id.txt"; continue; fi
  python3 "$LAB_DIR/variants_report.py" app-check "$port" "$mode" "$(path_of "${VAR_PROBE[$id]}")" > "$OUT/app-$id.txt" 2>&1 &
done
wait
for id in $SEL; do APP[$id]=$(tail -n 1 "$OUT/app-$id.txt"); done
T_APP=$((SECONDS - T_APP))

# ---- scans: each base once, then each variant
: > "$OUT/runs.tsv"
T_SCAN=$SECONDS
scan() { # kind id base run_dir port path
  local kind=$1 id=$2 base=$3 run=$4 port=$5 path=$6 rc ms t alive target f
  f="$OUT/$kind-$id"
  if [ -z "$port" ] || ! port_listening "$port"; then
    echo "  $kind $id: not running"
    printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$kind" "$id" "$base" "-" -1 0 no /dev/null /dev/null "${APP[$id]:--}" >> "$OUT/runs.tsv"
    return
  fi
  target="127.0.0.1:$port$path"
  t=$(date +%s%N)
  # shellcheck disable=SC2086
  timeout -k 5 "${SCAN_TIMEOUT:-120}" "$WSFP" scan -n -a --format ndjson -u "$target" ${WSFP_EXTRA_ARGS:-} > "$f.ndjson" 2> "$f.stderr" < /dev/null
  rc=$?
  ms=$(( ($(date +%s%N) - t) / 1000000 ))
  sleep 0.2  # a process that dies on the scan's last frames has exited by now
  if port_listening "$port" && group_alive "$run" "$id"; then alive=yes; else alive=no; fi
  echo "  $kind $id: $target exit $rc, ${ms} ms, server alive after: $alive"
  printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$kind" "$id" "$base" "$target" "$rc" "$ms" "$alive" "$f.ndjson" "$f.stderr" "${APP[$id]:--}" >> "$OUT/runs.tsv"
}
"$WSFP" probes --all > "$OUT/probes.txt" 2>/dev/null || true   # probe names for the report
# each base twice: what differs between two scans of the same server is noise, not the app
for b in $BASES; do scan base "$b" "$b" "$BASE_RUN" "${PORT[base:$b]:-}" "$(path_of "${MAIN_PROBE[$b]}")"; done
for id in $SEL; do scan variant "$id" "${BASE_OF[$id]}" "$VAR_RUN" "${PORT[var:$id]:-}" "$(path_of "${VAR_PROBE[$id]}")"; done
for b in $BASES; do scan base2 "$b" "$b" "$BASE_RUN" "${PORT[base:$b]:-}" "$(path_of "${MAIN_PROBE[$b]}")"; done
T_SCAN=$((SECONDS - T_SCAN))

echo
python3 "$LAB_DIR/variants_report.py" report "$OUT/runs.tsv" "$OUT/probes.txt"
rc=$?
echo
echo "check_variants: build ${T_BUILD} s, start ${T_START} s, app checks ${T_APP} s, scans ${T_SCAN} s, total $((SECONDS - T_ALL)) s (before stop); files in $OUT"
exit $rc
