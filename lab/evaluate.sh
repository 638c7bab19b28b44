#!/bin/bash
# Scan lab servers with wsfp and score the verdicts (expected implementation id == lab id).
# usage: lab/evaluate.sh [--subset ci|all] [id ...]          (ids may also come from ONLY="id ...")
# Env: WSFP (default <repo>/target/release/wsfp), BASE_PORT (9001), WSFP_LAB (/tmp/wsfp-lab),
#      SCAN_TIMEOUT (per scan, s, default 120), WSFP_EXTRA_ARGS (appended to the scan command).
# Uses the lab already running on BASE_PORT if it serves every requested id; if no lab runs there, starts
# the requested ids with lab/start.sh and stops them on exit. Each scan is
#   $WSFP scan -n -a --format ndjson -u 127.0.0.1:PORT[PATH]      (PATH from the manifest's probe column, path=...)
# Output: table + confusions; files in $WSFP_LAB_RUN/eval/. Exit 1 if any server is misidentified or a scan fails.
set -u
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
REPO="$(cd "$LAB_DIR/.." && pwd)"
WSFP=${WSFP:-$REPO/target/release/wsfp}
SUBSET=""; IDS="${ONLY:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --subset) SUBSET=${2:-}; shift 2 ;;
    --subset=*) SUBSET=${1#*=}; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    -*) echo "evaluate: unknown option $1" >&2; exit 2 ;;
    *) IDS="$IDS $1"; shift ;;
  esac
done
[ -z "$SUBSET" ] && [ -z "${IDS// /}" ] && SUBSET=ci
load_manifest
SEL=$(select_ids "$SUBSET" "$IDS") || exit 2
if ! [ -x "$WSFP" ]; then echo "evaluate: wsfp binary $WSFP not found/executable (cargo build --release, or set WSFP)" >&2; exit 2; fi
RUN=$WSFP_LAB_RUN

lab_running() { # any live group in pids.tsv?
  [ -s "$RUN/pids.tsv" ] || return 1
  local pid id port st; while IFS=$'\t' read -r pid id port st; do kill -0 -- "-$pid" 2>/dev/null && return 0; done < "$RUN/pids.tsv"
  return 1
}
STARTED=0
cleanup() { [ $STARTED -eq 1 ] && "$LAB_DIR/stop.sh"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
if lab_running; then
  echo "evaluate: using the lab running on base port $BASE_PORT ($RUN)"
else
  echo "evaluate: no lab on base port $BASE_PORT, starting: $(echo $SEL)"
  STARTED=1
  ONLY="$(echo $SEL)" "$LAB_DIR/start.sh" || echo "evaluate: some servers did not start (scored as failures)" >&2
fi

declare -A PORT=()
while IFS=$'\t' read -r port impl ver id lang probe; do [ "$port" = port ] || PORT[$id]=$port; done < "$RUN/ports.tsv"
OUT="$RUN/eval"; rm -rf "$OUT"; mkdir -p "$OUT"
: > "$OUT/runs.tsv"
T0=$SECONDS
echo "evaluate: $WSFP, $(echo $SEL | wc -w) servers, timeout ${SCAN_TIMEOUT:-120} s each"
for id in $SEL; do
  i=${M_IDX[$id]}; path=""
  for kv in ${M_PROBE[$i]//;/ }; do case "$kv" in path=*) path=${kv#path=} ;; esac; done
  port=${PORT[$id]:-}
  if [ -z "$port" ] || ! port_listening "$port"; then
    echo "  $id: not running on base port $BASE_PORT"
    printf "%s\t%s\t%s\t%s\t%s\t%s\n" "$id" "127.0.0.1:${port:-?}$path" -1 0 /dev/null /dev/null >> "$OUT/runs.tsv"
    continue
  fi
  target="127.0.0.1:$port$path"
  t=$(date +%s%N)
  # shellcheck disable=SC2086
  timeout -k 5 "${SCAN_TIMEOUT:-120}" "$WSFP" scan -n -a --format ndjson -u "$target" ${WSFP_EXTRA_ARGS:-} \
    > "$OUT/$id.ndjson" 2> "$OUT/$id.stderr" < /dev/null
  rc=$?
  ms=$(( ($(date +%s%N) - t) / 1000000 ))
  echo "  $id: $target exit $rc, ${ms} ms"
  printf "%s\t%s\t%s\t%s\t%s\t%s\n" "$id" "$target" "$rc" "$ms" "$OUT/$id.ndjson" "$OUT/$id.stderr" >> "$OUT/runs.tsv"
done
echo "evaluate: scans took $((SECONDS - T0)) s"
echo
python3 "$LAB_DIR/eval_report.py" "$OUT/runs.tsv" "$OUT"
rc=$?
echo
echo "evaluate: confusion summary and leave-one-out (wsfp evaluate)"
cut -f5 "$OUT/runs.tsv" | while read -r f; do [ -f "$f" ] && cat "$f"; done > "$OUT/records.ndjson"
"$WSFP" evaluate "$OUT/records.ndjson" --labels "$OUT/labels.tsv" || rc=1
exit $rc
