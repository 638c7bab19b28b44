#!/bin/bash
# Evidence stability: scan every running lab server RUNS times with the full probe set (-a) and check that each
# run saw the same evidence as the first: every feature the scorer uses and every observation field apart from
# timing (`wsfp diff --evidence`), and the same verdict.
# usage: [RUNS=10] [BASE_PORT=9001] [WSFP=...] lab/stability.sh [id ...]     (no ids: every server in ports.tsv)
# Needs a lab already started on BASE_PORT (lab/start.sh). Env: WSFP_EXTRA_ARGS (appended to each scan),
#   WARMUP (default 1: scans first run once, unscored, so JIT compilers and lazy imports have run and a
#   server's per-thread state (CivetWeb's last subprotocol) is what it is in service, not fresh from start),
#   CONCURRENCY (default 16: connections in flight across the lab, --concurrency; four servers at a time. The lab
#   shares the machine with the scanner: all 60 at once on 2 cores made slow servers miss the 500 ms frame
#   timeout now and then, which measures the machine, not the scanner).
# Output: one line per server that ever differed (runs that differed, whether features (what the scorer reads)
#   or only raw observations moved, the keys that flapped); files in
#   $WSFP_LAB_RUN/stability/ (run-K.ndjson, diff-K.ndjson). Exit 0 when every run matched run 1, 1 otherwise,
#   2 on a usage problem.
set -u
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
REPO="$(cd "$LAB_DIR/.." && pwd)"
WSFP=${WSFP:-$REPO/target/release/wsfp}
RUNS=${RUNS:-10}
WARMUP=${WARMUP:-1}
CONCURRENCY=${CONCURRENCY:-16}
case "${1:-}" in -h|--help) sed -n '2,16p' "$0"; exit 0 ;; esac
[[ "$RUNS" =~ ^[0-9]+$ ]] && [ "$RUNS" -ge 2 ] || { echo "stability: RUNS must be an integer >= 2 (got '$RUNS')" >&2; exit 2; }
[[ "$CONCURRENCY" =~ ^[1-9][0-9]*$ ]] || { echo "stability: CONCURRENCY must be an integer >= 1 (got '$CONCURRENCY')" >&2; exit 2; }
[[ "$WARMUP" =~ ^[0-9]+$ ]] || { echo "stability: WARMUP must be a count >= 0 (got '$WARMUP')" >&2; exit 2; }
[ -x "$WSFP" ] || { echo "stability: wsfp binary $WSFP not found (cargo build --release, or set WSFP)" >&2; exit 2; }
load_manifest
RUN=$WSFP_LAB_RUN
[ -s "$RUN/ports.tsv" ] || { echo "stability: no lab running on base port $BASE_PORT ($RUN/ports.tsv missing): lab/start.sh first" >&2; exit 2; }
OUT=$RUN/stability; rm -rf "$OUT"; mkdir -p "$OUT"
declare -A WANT=(); for id in "$@"; do WANT[$id]=1; done
: > "$OUT/targets.txt"
while IFS=$'\t' read -r port impl ver id lang probe; do
  [ "$port" = port ] && continue
  [ "$probe" = none ] && continue                      # helpers (the plain TCP echo), not WebSocket servers
  [ $# -gt 0 ] && [ -z "${WANT[$id]+x}" ] && continue
  path=""; i=${M_IDX[$id]:-}
  if [ -n "$i" ]; then for kv in ${M_PROBE[$i]//;/ }; do case "$kv" in path=*) path=${kv#path=} ;; esac; done; fi
  echo "127.0.0.1:$port$path" >> "$OUT/targets.txt"
  echo "127.0.0.1:$port$path	$id" >> "$OUT/ids.tsv"
done < "$RUN/ports.tsv"
N=$(wc -l < "$OUT/targets.txt")
[ "$N" -gt 0 ] || { echo "stability: no server selected" >&2; exit 2; }
echo "stability: $N servers x $RUNS runs (after $WARMUP warm-up), $WSFP scan -a"
T0=$SECONDS
for k in $(seq 1 "$WARMUP"); do
  # shellcheck disable=SC2086
  "$WSFP" scan -n -a --format ndjson --concurrency "$CONCURRENCY" -f "$OUT/targets.txt" --out "$OUT/warmup-$k.ndjson" ${WSFP_EXTRA_ARGS:-} 2> "$OUT/warmup-$k.log" \
    || { echo "stability: warm-up $k failed (exit $?): $(tail -3 "$OUT/warmup-$k.log")" >&2; exit 1; }
done
for k in $(seq 1 "$RUNS"); do
  # shellcheck disable=SC2086
  "$WSFP" scan -n -a --format ndjson --concurrency "$CONCURRENCY" -f "$OUT/targets.txt" --out "$OUT/run-$k.ndjson" ${WSFP_EXTRA_ARGS:-} 2> "$OUT/run-$k.log" \
    || { echo "stability: run $k failed (exit $?): $(tail -3 "$OUT/run-$k.log")" >&2; exit 1; }
  if [ "$k" -gt 1 ]; then
    "$WSFP" diff --evidence --format ndjson "$OUT/run-1.ndjson" "$OUT/run-$k.ndjson" > "$OUT/diff-$k.ndjson" 2> "$OUT/diff-$k.log"
    rc=$?; [ $rc -le 1 ] || { echo "stability: diff of run $k failed: $(cat "$OUT/diff-$k.log")" >&2; exit 1; }
  fi
  echo "  run $k/$RUNS done ($((SECONDS - T0)) s)"
done
python3 - "$OUT" "$RUNS" <<'EOF'
import json, sys, collections
out, runs = sys.argv[1], int(sys.argv[2])
ids = dict(l.rstrip("\n").split("\t") for l in open(f"{out}/ids.tsv"))
runs_diff = collections.defaultdict(set); keys = collections.defaultdict(collections.Counter)
scored = set()  # endpoints whose features or verdict moved (not only raw observations)
for k in range(2, runs + 1):
    for line in open(f"{out}/diff-{k}.ndjson"):
        c = json.loads(line)
        ep = c["endpoint"]; runs_diff[ep].add(k)
        for f in c.get("fields", []):
            if f != "evidence": keys[ep][f"verdict:{f}"] += 1; scored.add(ep)
        for e in c.get("evidence", []):
            keys[ep][e["key"]] += 1
            if e["kind"] == "feature": scored.add(ep)
        if c["change"] != "changed": keys[ep][c["change"]] += 1
def ident(ep):
    for t, i in ids.items():
        if ep.rstrip("/").endswith(t.split(":", 1)[1].rstrip("/")) and t.split(":")[0] in ep: return i
    return ep
bad = sorted(runs_diff, key=ident)
for ep in bad:
    ks = ", ".join(f"{k}x{n}" for k, n in keys[ep].most_common(8))
    what = "features" if ep in scored else "observations only"
    print(f"  DIFFERS {ident(ep):28} {len(runs_diff[ep])}/{runs-1} runs ({what}): {ks}")
print(f"stability: {len(ids) - len(bad)}/{len(ids)} servers gave the same evidence in all {runs} runs; "
      f"{len([e for e in bad if e in scored])} differed in features or verdict, "
      f"{len([e for e in bad if e not in scored])} in raw observations only")
sys.exit(1 if bad else 0)
EOF
