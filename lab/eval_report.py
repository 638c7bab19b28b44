#!/usr/bin/env python3
"""Score wsfp scans of the lab (stdlib only). Called by lab/evaluate.sh.

usage: eval_report.py RUNS.tsv OUTDIR
RUNS.tsv columns: id, target, exit code, wall ms, stdout file, stderr file.
Each scan must print one NDJSON object with at least: implementation, confidence (0..1), status,
elapsed_ms, bytes_sent, connections, observations (object, one key per probe case id).
Expected implementation == lab id (or its library); for a reverse proxy of the lab (identity layer
`handshake`), the record's front must be the proxy and its implementation the backend the manifest
puts behind it ({PORT:id}) or that backend's library. Writes OUTDIR/results.ndjson and OUTDIR/summary.tsv,
prints a table and a confusion list, exits 1 if any server is misidentified or any scan failed.
"""
import json
import re
import sys
from collections import Counter

REQUIRED = ("implementation", "confidence", "status", "elapsed_ms", "bytes_sent", "connections", "observations")
FAILED_STATUS = re.compile(r"error|fail|timeout|unreachable|refused", re.I)


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check(lab_id, rc, out_text):
    """-> (record or None, list of problems)"""
    problems = []
    objs = []
    for line in out_text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            o = json.loads(line)
        except ValueError:
            problems.append("unparseable JSON line")
            continue
        if isinstance(o, dict):
            objs.append(o)
    if rc == -1:
        return None, ["server not running (lab/start.sh failed or id not started on this base port)"]
    if rc != 0:
        problems.append(f"exit code {rc}" + (" (timed out, SCAN_TIMEOUT)" if rc in (124, 137) else ""))
    if not objs:
        problems.append("no NDJSON object on stdout")
        return None, problems
    if len(objs) > 1:
        problems.append(f"{len(objs)} NDJSON objects (expected 1)")
    rec = next((o for o in objs if "implementation" in o), objs[0])
    missing = [k for k in REQUIRED if k not in rec]
    if missing:
        problems.append("missing " + ",".join(missing))
    c = rec.get("confidence")
    if "confidence" in rec and not (is_num(c) and 0.0 <= c <= 1.0):
        problems.append(f"confidence {c!r} not in 0..1")
    for k in ("elapsed_ms", "bytes_sent", "connections"):
        if k in rec and not (is_num(rec[k]) and rec[k] >= 0):
            problems.append(f"{k} {rec[k]!r} not a number >= 0")
    if "observations" in rec and not isinstance(rec["observations"], dict):
        problems.append("observations is not an object")
    st = rec.get("status")
    if isinstance(st, str) and FAILED_STATUS.search(st):
        problems.append(f"status {st!r}")
    return rec, problems


def libraries():
    """lab id -> library (lab/identity.tsv): naming the library of a wire-identical framework is correct."""
    return {cols[0]: cols[2] for cols in rows_of("identity.tsv")}


def fronts():
    """proxy lab id -> the backend lab id behind it (identity layer `handshake`, manifest {PORT:id})."""
    proxies = {cols[0] for cols in rows_of("identity.tsv") if len(cols) > 6 and cols[6] == "handshake"}
    out = {}
    for cols in rows_of("manifest.tsv"):
        m = re.search(r"\{PORT:([A-Za-z0-9-]+)\}", cols[6]) if len(cols) > 6 else None
        if cols[0] in proxies and m:
            out[cols[0]] = m.group(1)
    return out


def rows_of(name):
    import os
    for line in open(os.path.join(os.path.dirname(os.path.abspath(__file__)), name)):
        if line.strip() and not line.startswith("#"):
            yield line.rstrip("\n").split("\t")


def main():
    runs_tsv, outdir = sys.argv[1], sys.argv[2]
    libs = libraries()
    behind = fronts()
    labels = open(f"{outdir}/labels.tsv", "w")
    rows, confusions = [], Counter()
    n_ok = n_fail = 0
    with open(f"{outdir}/results.ndjson", "w") as allout:
        for line in open(runs_tsv):
            if not line.strip():
                continue
            lab_id, target, rc, wall_ms, out_f, err_f = line.rstrip("\n").split("\t")
            try:
                out_text = open(out_f, errors="replace").read()
            except OSError:
                out_text = ""
            rec, problems = check(lab_id, int(rc), out_text)
            verdict = str(rec.get("implementation")) if rec else "-"
            if lab_id in behind:
                backend = behind[lab_id]
                if rec is not None and rec.get("front"):
                    verdict = f"{rec['front']} -> {verdict}"
                correct = (rec is not None and rec.get("front") == lab_id
                           and rec.get("implementation") in (backend, libs.get(backend)))
                labels.write(f"{target}\t{backend}\t{lab_id}\n")
            else:
                correct = rec is not None and rec.get("implementation") in (lab_id, libs.get(lab_id))
                labels.write(f"{target}\t{lab_id}\n")
            if rec is not None and not correct:
                confusions[(lab_id, verdict)] += 1
                problems.append(f"misidentified as {verdict}")
            ok = correct and not problems
            n_ok += ok
            n_fail += not ok
            obs = rec.get("observations") if rec else None

            def fmt(k):
                v = rec.get(k) if rec else None
                return "-" if v is None else (f"{v:.3f}" if k == "confidence" and is_num(v) else str(v))

            row = {
                "id": lab_id, "target": target, "verdict": verdict, "confidence": fmt("confidence"),
                "correct": "yes" if correct else "NO", "status": fmt("status"), "elapsed_ms": fmt("elapsed_ms"),
                "bytes_sent": fmt("bytes_sent"), "connections": fmt("connections"),
                "obs_keys": str(len(obs)) if isinstance(obs, dict) else "-", "wall_ms": wall_ms,
                "problems": "; ".join(problems) or "-",
            }
            rows.append(row)
            allout.write(json.dumps({"lab_id": lab_id, "target": target, "exit_code": int(rc), "ok": ok,
                                     "problems": problems, "scan": rec}) + "\n")
            if problems:
                try:
                    err_tail = open(err_f, errors="replace").read().strip().splitlines()[-3:]
                except OSError:
                    err_tail = []
                row["stderr_tail"] = " | ".join(err_tail)

    cols = [("id", "lab id"), ("verdict", "verdict"), ("confidence", "conf"), ("correct", "correct"),
            ("status", "status"), ("elapsed_ms", "elapsed_ms"), ("bytes_sent", "bytes_sent"),
            ("connections", "conns"), ("obs_keys", "obs_keys"), ("wall_ms", "wall_ms")]
    with open(f"{outdir}/summary.tsv", "w") as f:
        keys = [k for k, _ in cols] + ["target", "problems"]
        f.write("\t".join(keys) + "\n")
        for r in rows:
            f.write("\t".join(r[k] for k in keys) + "\n")
    widths = [max(len(h), *(len(r[k]) for r in rows)) if rows else len(h) for k, h in cols]
    print("  ".join(h.ljust(w) for (_, h), w in zip(cols, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(r[k].ljust(w) for (k, _), w in zip(cols, widths)))
    bad = [r for r in rows if r["problems"] != "-"]
    if bad:
        print("\nproblems:")
        for r in bad:
            print(f"  {r['id']} ({r['target']}): {r['problems']}")
            if r.get("stderr_tail"):
                print(f"    stderr: {r['stderr_tail'][:300]}")
    print("\nconfusions (expected -> verdict):" if confusions else "\nconfusions: none")
    for (exp, got), n in sorted(confusions.items()):
        print(f"  {exp} -> {got}  x{n}")
    total = len(rows)
    print(f"\nidentified correctly: {sum(r['correct'] == 'yes' for r in rows)}/{total}; results in {outdir}")
    # plain closing line, counted as a test result by CI
    print(f"evaluate: {n_ok} passed, {n_fail} failed")
    return 0 if total and n_fail == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
