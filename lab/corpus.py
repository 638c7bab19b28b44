#!/usr/bin/env python3
"""Scan every lab server and variant and write the labelled corpus.

The corpus is what the DB is generated from (`wsfp generate --corpus`) and
what held-out evaluation scores (`wsfp evaluate --holdout`): one NDJSON
record per scan, and a labels file that says, per target, which fingerprint
it should be named as, behind which front, and which kind of variant it is.

usage: lab/corpus.py [--groups main,apps,GROUP...] [--runs N] [--out DIR] [--only ID,...]
  groups: main = lab/manifest.tsv (BASE_PORT, default 9001), apps = lab/variants.tsv
  (29101), and every lab/variants/GROUP.tsv (its GROUP.port); default: all of them.
Env: WSFP (default <repo>/target/release/wsfp), WSFP_LAB (/tmp/wsfp-lab),
     SCAN_ARGS (default "-a --exhaustive": every probe, so the DB has evidence for every scan mode), JOBS (scans at once, default 2),
     ALONE (row ids scanned one at a time after the rest of their group, default "c-uwsgi": uWSGI's
     four workers time out probes 304/305 when another scan shares the machine, and a corpus with
     those timeouts gave it a fingerprint the lab then did not match),
     GROUP_PORTS (base ports instead of the groups' own, e.g. "brokers=26001,stacks=26101": a second lab
     beside one already running on the usual ports; the main group's is BASE_PORT).
Writes DIR (default $WSFP_LAB/corpus): records.ndjson, labels.tsv, scans.tsv
(group, row id, target, run, exit code, ms). A group already running on its
base port is used as it is; otherwise it is started and stopped afterwards.
Exit 1 if any scan failed (the corpus is still written).
"""
import argparse
import concurrent.futures as cf
import csv
import json
import os
import re
import subprocess
import sys
import time

LAB = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(LAB)
WSFP = os.environ.get("WSFP", os.path.join(REPO, "target/release/wsfp"))
WSFP_LAB = os.environ.get("WSFP_LAB", "/tmp/wsfp-lab")

LABEL_HEADER = "# target\tfingerprint\tfront\tkind\tvariant\tversion\tgroup\n"


def rows_of(path):
    """The rows of a manifest-format file, with row index (the port offset)."""
    out = []
    for line in open(path):
        line = line.rstrip("\n")
        if not line.strip() or line.startswith("#"):
            continue
        c = line.split("\t")
        out.append(c)
    return out


def group_ports():
    """GROUP_PORTS="name=port,...": base ports that replace the groups' own."""
    out = {}
    for kv in filter(None, os.environ.get("GROUP_PORTS", "").replace(" ", ",").split(",")):
        name, sep, port = kv.partition("=")
        if not sep or not port.isdigit() or name == "main":
            sys.exit(f"corpus: GROUP_PORTS entry '{kv}' is not GROUP=PORT (the main group's is BASE_PORT)")
        out[name] = int(port)
    return out


def groups():
    """(name, manifest path, base port) of every group, main first."""
    g = [("main", os.path.join(LAB, "manifest.tsv"), int(os.environ.get("BASE_PORT", "9001"))),
         ("apps", os.path.join(LAB, "variants.tsv"), 29101)]
    vdir = os.path.join(LAB, "variants")
    for f in sorted(os.listdir(vdir)) if os.path.isdir(vdir) else []:
        if f.endswith(".tsv"):
            name = f[:-4]
            port_file = os.path.join(vdir, name + ".port")
            if not os.path.exists(port_file):
                print(f"corpus: {f} has no {name}.port, skipped", file=sys.stderr)
                continue
            g.append((name, os.path.join(vdir, f), int(open(port_file).read().strip())))
    over = group_ports()
    unknown = set(over) - {n for n, _, _ in g}
    if unknown:
        sys.exit(f"corpus: GROUP_PORTS names no group: {', '.join(sorted(unknown))}")
    return [(n, m, over.get(n, p)) for n, m, p in g]


def identity():
    """fingerprint id -> layer ('' or 'handshake') from lab/identity.tsv."""
    out = {}
    for c in rows_of(os.path.join(LAB, "identity.tsv")):
        out[c[0]] = c[6] if len(c) > 6 else ""
    return out


def label_of(group, row, ident):
    """(fingerprint, front, kind, version) for one row, or None for support rows."""
    rid, ver, cmd = row[0], row[3], row[6]
    if group == "main":
        if ident.get(rid) == "handshake":  # a reverse proxy in front of another main-lab entry
            m = re.search(r"\{PORT:([A-Za-z0-9-]+)\}", cmd)
            return (m.group(1) if m else "-", rid, "base", ver)
        return (rid, "-", "base", ver)
    base = row[7] if len(row) > 7 else rid
    kind = row[8] if len(row) > 8 and row[8] else "app"
    front = row[9] if len(row) > 9 and row[9] else "-"
    if kind == "support":
        return None
    return (base, front, kind, ver)


def path_of(row):
    for kv in row[4].split(";"):
        if kv.startswith("path="):
            return kv[5:]
    return ""


def headers_of(row):
    """-H arguments for the probe column's header=NAME:VALUE entries (a server that refuses a handshake without a
    header, e.g. Kamailio without `Sec-WebSocket-Protocol: sip`); rows without one scan as before."""
    out = []
    for kv in row[4].split(";"):
        if kv.startswith("header="):
            out += ["-H", kv[7:]]
    return out


def listening(port):
    import socket
    s = socket.socket()
    s.settimeout(0.5)
    try:
        return s.connect_ex(("127.0.0.1", port)) == 0
    finally:
        s.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--groups", default="")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(WSFP_LAB, "corpus"))
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    if not os.access(WSFP, os.X_OK):
        sys.exit(f"corpus: {WSFP} not found (cargo build --release, or set WSFP)")
    want = set(filter(None, a.groups.split(",")))
    only = set(filter(None, a.only.split(",")))
    ident = identity()
    os.makedirs(a.out, exist_ok=True)
    rec_f = open(os.path.join(a.out, "records.ndjson"), "w")
    lab_f = open(os.path.join(a.out, "labels.tsv"), "w")
    lab_f.write(LABEL_HEADER)
    scans = open(os.path.join(a.out, "scans.tsv"), "w")
    scan_args = os.environ.get("SCAN_ARGS", "-a --exhaustive").split()
    jobs = int(os.environ.get("JOBS", "2"))
    failed = 0
    for name, manifest, port in groups():
        if want and name not in want:
            continue
        rows = rows_of(manifest)
        todo = []
        for i, row in enumerate(rows):
            lab = label_of(name, row, ident)
            if lab is None or (only and row[0] not in only):
                continue
            todo.append((i, row, lab))
        if not todo:
            continue
        # Each group's run state is its own base port's: a WSFP_LAB_RUN inherited from a caller
        # (lab/lib.sh exports the main group's) would make start.sh see the main group's servers
        # and refuse to start this one (the CI's held-out step failed so).
        env = dict(os.environ, MANIFEST=manifest, BASE_PORT=str(port),
                   WSFP_LAB_RUN=os.path.join(WSFP_LAB, "run", str(port)))
        started = False
        if not all(listening(port + i) for i, _, _ in todo):
            ids = " ".join(r[0] for _, r, _ in todo)
            print(f"corpus: starting {name} ({len(todo)} rows) on base port {port}", flush=True)
            subprocess.run([os.path.join(LAB, "start.sh")], env=dict(env, ONLY=ids), stdout=subprocess.DEVNULL)
            started = True

        def scan(job):
            (i, row, lab), run = job
            target = f"127.0.0.1:{port + i}{path_of(row)}"
            t = time.time()
            p = subprocess.run([WSFP, "scan", "-n", *scan_args, *headers_of(row), "--format", "ndjson", "-u", target],
                               capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
            return (i, row, lab, run, target, p.returncode, int((time.time() - t) * 1000), p.stdout)

        t0 = time.time()
        alone = set(os.environ.get("ALONE", "c-uwsgi").replace(",", " ").split())
        pooled = [(j, r) for r in range(a.runs) for j in todo if j[1][0] not in alone]
        serial = [(j, r) for r in range(a.runs) for j in todo if j[1][0] in alone]

        def scans_of():
            with cf.ThreadPoolExecutor(jobs) as ex:
                yield from ex.map(scan, pooled)
            yield from map(scan, serial)

        for i, row, lab, run, target, rc, ms, out in scans_of():
            lines = [l for l in out.splitlines() if l.strip()]
            ok = rc == 0 and len(lines) == 1 and json.loads(lines[0]).get("status") == "ok"
            failed += not ok
            scans.write(f"{name}\t{row[0]}\t{target}\t{run}\t{rc}\t{ms}\t{'ok' if ok else 'FAILED'}\n")
            for l in lines:
                rec_f.write(l + "\n")
            if run == 0:
                fp, front, kind, ver = lab
                lab_f.write(f"{target}\t{fp}\t{front}\t{kind}\t{row[0]}\t{ver}\t{name}\n")
        print(f"corpus: {name}: {len(todo)} rows x {a.runs} runs in {time.time() - t0:.0f} s", flush=True)
        if started:
            subprocess.run([os.path.join(LAB, "stop.sh")], env=env, stdout=subprocess.DEVNULL)
    rec_f.close()
    lab_f.close()
    print(f"corpus: wrote {a.out}/records.ndjson and labels.tsv; {failed} scan(s) failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
