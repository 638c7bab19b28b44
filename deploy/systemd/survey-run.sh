#!/usr/bin/env bash
# One survey run (used by wsfp-survey.service, or by cron): scan into
# $RESULTS/scan-<UTC timestamp>.ndjson, then write
#   $RESULTS/scan-<ts>.diff.ndjson  what changed since the previous run
#   $RESULTS/scan-<ts>.report.html  prevalence of this run
# and point $RESULTS/latest.ndjson at the new scan. A run whose scan fails
# leaves no result file behind, so the next run diffs against the last good one.
set -euo pipefail
WSFP=${WSFP:-wsfp}
TARGETS=${TARGETS:?set TARGETS to the target list}
RESULTS=${RESULTS:?set RESULTS to the results directory}
# Extra scan options, word-split (e.g. "-n --safety safe --per-host 4").
SCAN_OPTS=${SCAN_OPTS:-}
mkdir -p "$RESULTS"
ts=$(date -u +%Y%m%dT%H%M%SZ)
new="$RESULTS/scan-$ts.ndjson"
prev=$(readlink -f "$RESULTS/latest.ndjson" 2>/dev/null || true)

# shellcheck disable=SC2086
"$WSFP" scan $SCAN_OPTS -f "$TARGETS" --format ndjson --out "$new.part"
mv "$new.part" "$new"
"$WSFP" report "$new" --format html --out "$RESULTS/scan-$ts.report.html"

if [ -n "$prev" ] && [ -f "$prev" ]; then
  # diff exits 1 when something changed: that is news, not a failure.
  rc=0
  "$WSFP" diff "$prev" "$new" --format ndjson > "$RESULTS/scan-$ts.diff.ndjson" || rc=$?
  case $rc in
    0) echo "wsfp survey $ts: no change since $(basename "$prev")" ;;
    1) echo "wsfp survey $ts: $(wc -l < "$RESULTS/scan-$ts.diff.ndjson") change(s) since $(basename "$prev")" ;;
    *) echo "wsfp survey $ts: diff failed (exit $rc)" >&2; exit "$rc" ;;
  esac
fi
ln -sfn "$(basename "$new")" "$RESULTS/latest.ndjson"
