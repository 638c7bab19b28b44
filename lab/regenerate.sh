#!/bin/bash
# Regenerate fingerprints/*.toml from the lab: one `wsfp generate --runs 3` per server in
# lab/identity.tsv (name, library, family, language, versions) that is running.
# usage: lab/regenerate.sh [--subset ci|all] [id ...]
# Env: WSFP (default <repo>/target/release/wsfp), BASE_PORT (9001), WSFP_LAB (/tmp/wsfp-lab), OUT_DIR (fingerprints).
# Uses the lab running on BASE_PORT, or starts the selected servers and stops them afterwards.
set -u
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
REPO="$(cd "$LAB_DIR/.." && pwd)"
WSFP=${WSFP:-$REPO/target/release/wsfp}
OUT_DIR=${OUT_DIR:-$REPO/fingerprints}
SUBSET=""; IDS="${ONLY:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --subset) SUBSET=${2:-}; shift 2 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    -*) echo "regenerate: unknown option $1" >&2; exit 2 ;;
    *) IDS="$IDS $1"; shift ;;
  esac
done
[ -z "$SUBSET" ] && [ -z "${IDS// /}" ] && SUBSET=all
load_manifest
SEL=$(select_ids "$SUBSET" "$IDS") || exit 2
[ -x "$WSFP" ] || { echo "regenerate: $WSFP not found (cargo build --release, or set WSFP)" >&2; exit 2; }
RUN=$WSFP_LAB_RUN
STARTED=0
cleanup() { [ $STARTED -eq 1 ] && "$LAB_DIR/stop.sh"; }
trap cleanup EXIT
if ! [ -s "$RUN/ports.tsv" ] || ! [ -s "$RUN/pids.tsv" ]; then
  STARTED=1
  ONLY="$(echo $SEL)" "$LAB_DIR/start.sh" || echo "regenerate: some servers did not start" >&2
fi
python3 - "$WSFP" "$RUN/ports.tsv" "$LAB_DIR/identity.tsv" "$OUT_DIR" $SEL <<'PY'
import csv, subprocess, sys, concurrent.futures as cf
wsfp, ports_tsv, identity, out_dir, *sel = sys.argv[1:]
ports = {r["id"]: r for r in csv.DictReader(open(ports_tsv), delimiter="\t")}
rows = [l.rstrip("\n").split("\t") for l in open(identity) if l.strip() and not l.startswith("#")]
def gen(row):
    id_, name, lib, fam, lang, vers = row[:6]
    layer = row[6] if len(row) > 6 and row[6] else None
    p = ports.get(id_)
    if p is None:
        return f"{id_}: not running, skipped"
    path = ""
    for kv in p["probe"].split(";"):
        if kv.startswith("path="):
            path = kv[5:]
    cmd = [wsfp, "generate", "-n", "-u", f"127.0.0.1:{p['port']}{path}", "--id", id_, "--name", name,
           "--library", lib, "--family", fam, "--language", lang, "--lab-id", id_, "--runs", "3", "--out-dir", out_dir]
    for v in vers.split(";"):
        cmd += ["--version", v]
    if layer:
        cmd += ["--layer", layer]
    r = subprocess.run(cmd, capture_output=True, text=True)
    return f"{id_}: {r.stderr.strip()}"
todo = [r for r in rows if r[0] in sel]
failed = 0
with cf.ThreadPoolExecutor(4) as ex:
    for line in ex.map(gen, todo):
        print(line)
        failed += "wrote" not in line
sys.exit(1 if failed else 0)
PY
