#!/usr/bin/env bash
# Time `wsfp match` end to end on a survey-shaped file.
#
#   scripts/bench_match.sh [LINES=200000] [EVERY=20] [RUNS=3] [WSFP=target/release/wsfp]
#
# Writes LINES records to a temporary file (deleted afterwards), shaped like benches/analytics.rs's
# `match/survey_mix`: one full WebSocket record of the lab scan (tests/data/analytics/
# lab-before.ndjson, ~130 observations, ~10 KB) in EVERY, the rest the lab scan's refused record.
# EVERY=1 gives full records only. Prints wall time and records/s of RUNS runs of
# `wsfp match FILE > /dev/null`. Build first (`cargo build --release`), or pass WSFP.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
LINES=${1:-200000}; EVERY=${2:-20}; RUNS=${3:-3}; WSFP=${4:-target/release/wsfp}
LAB=tests/data/analytics/lab-before.ndjson
FILE=$(mktemp /tmp/wsfp-bench-match-XXXXXX.ndjson)
trap 'rm -f "$FILE"' EXIT
awk -v lines="$LINES" -v every="$EVERY" '
  /"status":"refused"/ { refused = $0; next }
  /"status":"ok"/ { ok[n++] = $0 }
  END {
    for (i = 0; i < lines; i++)
      print (i % every == 0 ? ok[int(i / every) % n] : refused)
  }' "$LAB" > "$FILE"
echo "$(wc -l < "$FILE") lines, $(du -h "$FILE" | cut -f1), 1 full record in $EVERY"
for _ in $(seq "$RUNS"); do
  start=$(date +%s.%N)
  "$WSFP" match "$FILE" > /dev/null
  end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" -v n="$LINES" \
    'BEGIN { printf "%.2f s, %.0f records/s\n", e - s, n / (e - s) }'
done
