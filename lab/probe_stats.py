#!/usr/bin/env python3
"""How well each probe separates the fingerprint DB: for every probe, the number of distinct
behaviours (its features' values taken together) among the fingerprints, and the largest group.
usage: lab/probe_stats.py [fingerprints/] [probes/default.toml]  -> markdown table on stdout"""
import sys, tomllib, glob, os
from collections import defaultdict

fp_dir = sys.argv[1] if len(sys.argv) > 1 else "fingerprints"
probes = tomllib.load(open(sys.argv[2] if len(sys.argv) > 2 else "probes/default.toml", "rb"))["probe"]
fps = {}
for f in sorted(glob.glob(os.path.join(fp_dir, "*.toml"))):
    d = tomllib.load(open(f, "rb"))
    if d["id"].startswith("proxy-"):
        continue  # handshake-only proxy fingerprints say nothing about frame probes
    fps[d["id"]] = d["features"]
print("| id | risk | behaviours among %d fingerprints | largest group |" % len(fps))
print("|---|---|---|---|")
for p in probes:
    groups = defaultdict(list)
    for fid, feats in fps.items():
        sig = tuple(sorted((k, str(v)) for k, v in feats.items() if k.split(".")[0] == p["id"]))
        groups[sig].append(fid)
    largest = max(len(g) for g in groups.values())
    print(f"| {p['id']} | {p['risk']} | {len(groups)} | {largest} |")
