#!/bin/bash
# Held-out checks for CI: a version ladder and proxy pairs, each scored with a DB learned without it.
# usage: lab/ci_holdout.sh            (after lab/install.sh --subset ci, with the CI lab running on BASE_PORT)
# Installs five more websockets releases (lab/variants/install_py.sh, pinned locks) and Debian's pinned nginx and
# HAProxy (the pins of lab/manifest.tsv's proxy rows), scans the CI servers of the main group, those releases and
# nginx/HAProxy in front of three CI backends (lab/corpus.py, one run, -a --exhaustive), then runs
#   wsfp evaluate --holdout version,pair,implementation --min-library 0.9
# Exit: that evaluation's (1 when a split names the library under 90% of the time, is confidently wrong over 1%,
# or names a held-out implementation wrongly); 2 on a setup error. Env: WSFP, WSFP_LAB, BASE_PORT (main group).
set -u
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
REPO="$(cd "$LAB_DIR/.." && pwd)"
export WSFP=${WSFP:-$REPO/target/release/wsfp}
OUT=${OUT:-$WSFP_LAB/ci-holdout}
MAIN_IDS=$CI_HOLDOUT_MAIN; LADDER=$CI_HOLDOUT_LADDER; PAIRS=$CI_HOLDOUT_PAIRS  # lab/lib.sh
[ -x "$WSFP" ] || { echo "ci_holdout: $WSFP not found" >&2; exit 2; }
bash "$LAB_DIR/variants/install_py.sh" $LADDER || exit 2
# nginx and HAProxy at the pins of the main lab's proxy rows (a pin gone from the archive: its version there, WARN)
[ -n "$(ci_proxy_pins)" ] || { echo "ci_holdout: no nginx/haproxy pins in lab/manifest.tsv" >&2; exit 2; }
ci_install_proxies || exit 2
# lighttpd/apache etc. are not needed: only nginx and HAProxy rows are started
rm -rf "$OUT"
python3 "$LAB_DIR/corpus.py" --groups main,py-versions,proxies --runs 1 --out "$OUT" \
  --only "$(echo $MAIN_IDS $LADDER $PAIRS | tr ' ' ',')" || { echo "ci_holdout: scans failed (see $OUT/scans.tsv)" >&2; exit 2; }
"$WSFP" evaluate "$OUT/records.ndjson" --labels "$OUT/labels.tsv" --identity "$LAB_DIR/identity.tsv" \
  --holdout version,pair,implementation --min-library 0.9 --verbose
