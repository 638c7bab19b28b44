#!/bin/bash
# Regenerate fingerprints/*.toml from the lab: scan every lab group (the main lab, the app variants and
# every lab/variants/ group: releases, configurations, proxy pairs) with lab/corpus.py, then learn one
# fingerprint per implementation of lab/identity.tsv from all its variants (wsfp generate --corpus).
# usage: lab/regenerate.sh [--groups main,apps,GROUP...] [--runs N] [--only ID,...]
# Env: WSFP (default <repo>/target/release/wsfp), WSFP_LAB (/tmp/wsfp-lab), OUT_DIR (fingerprints),
#      CORPUS (default $WSFP_LAB/corpus: where the scans are kept; `wsfp evaluate --holdout` reads them).
# Groups already running on their base ports are used; the others are started and stopped.
set -u
LAB_DIR="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$LAB_DIR/.." && pwd)"
export WSFP=${WSFP:-$REPO/target/release/wsfp}
WSFP_LAB=${WSFP_LAB:-/tmp/wsfp-lab}
OUT_DIR=${OUT_DIR:-$REPO/fingerprints}
CORPUS=${CORPUS:-$WSFP_LAB/corpus}
ARGS=(); ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --groups|--runs) ARGS+=("$1" "${2:-}"); shift 2 ;;
    --only) ONLY=${2:-}; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "regenerate: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$WSFP" ] || { echo "regenerate: $WSFP not found (cargo build --release, or set WSFP)" >&2; exit 2; }
python3 "$LAB_DIR/corpus.py" --out "$CORPUS" "${ARGS[@]}" || echo "regenerate: some scans failed (see $CORPUS/scans.tsv)" >&2
"$WSFP" generate --corpus "$CORPUS/records.ndjson" --labels "$CORPUS/labels.tsv" \
  --identity "$LAB_DIR/identity.tsv" --out-dir "$OUT_DIR" ${ONLY:+--only "$ONLY"}
