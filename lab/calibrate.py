#!/usr/bin/env python3
"""Fit the evidence scale of wsfp's confidence calibration on held-out verdicts.

usage: lab/calibrate.py DUMP.tsv [DUMP.tsv ...]
  DUMP: `wsfp evaluate --holdout ... --dump FILE` (one per safety level / adaptive run).

The confidence of a named verdict is closed * (1 - exp(-matched_w / W)) * misfit (src/fingerprint/calibrate.rs):
the closed-world posterior, discounted by how much discriminating evidence matched, since a scan with
little evidence cannot tell a known implementation from one the DB lacks. This script finds the W that
minimises the log-loss of "the verdict is right" over every held-out verdict, then the smallest W' >= W
for which verdicts of confidence >= 0.9 are >= 98% right, and prints the reliability table at W'.
"""
import csv
import math
import sys


def load(paths):
    rows = []
    for p in paths:
        with open(p) as f:
            for r in csv.DictReader(f, delimiter="\t"):
                rows.append((float(r["closed"]), float(r["matched_w"]), int(r["right"]),
                             r.get("layers_disagree", "0") == "1", r["mode"],
                             misfit(float(r["score"]), float(r["compared_w"]))))
    return rows


# The misfit discount of src/fingerprint/calibrate.rs (MISFIT, MISFIT_SCALE), applied as is.
MISFIT, MISFIT_SCALE = 2.0, 30.0


def misfit(score, compared_w):
    scale = MISFIT_SCALE / compared_w if compared_w > MISFIT_SCALE else 1.0
    return math.exp(-MISFIT * min(max(1.0 - score, 0.0), 1.0) * scale)


def conf(closed, mw, disagree, w, d, m=1.0):
    c = closed * (1.0 - math.exp(-mw / w)) * m
    return c * d if disagree else c


def logloss(rows, w, d):
    s = 0.0
    for closed, mw, right, dis, _, m in rows:
        c = min(max(conf(closed, mw, dis, w, d, m), 1e-6), 1 - 1e-6)
        s -= math.log(c) if right else math.log(1 - c)
    return s / len(rows)


def table(rows, w, d):
    buckets = [0.0, 0.5, 0.7, 0.8, 0.9, 0.95]
    out = {}
    for closed, mw, right, dis, _, m in rows:
        c = round(conf(closed, mw, dis, w, d, m), 3)
        b = max(i for i, x in enumerate(buckets) if c >= x)
        n, r = out.get(b, (0, 0))
        out[b] = (n + 1, r + right)
    return buckets, out


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    rows = load(sys.argv[1:])
    grid = [x / 4 for x in range(1, 121)]
    d = 0.8
    best = min(grid, key=lambda w: logloss(rows, w, d))
    hi = [r for r in rows if conf(r[0], r[1], r[3], best, d, r[5]) >= 0.9]
    w = best
    for cand in [g for g in grid if g >= best]:
        hi = [r for r in rows if round(conf(r[0], r[1], r[3], cand, d, r[5]), 3) >= 0.9]
        if not hi or sum(r[2] for r in hi) / len(hi) >= 0.98:
            w = cand
            break
    print(f"verdicts: {len(rows)} ({sum(r[2] for r in rows)} right); log-loss minimum at W = {best}; "
          f"W for >= 98% right at confidence >= 0.9: {w}")
    buckets, t = table(rows, w, d)
    for b in sorted(t):
        n, r = t[b]
        hi_b = buckets[b + 1] if b + 1 < len(buckets) else 1.0
        print(f"  [{buckets[b]:.2f}, {hi_b:.2f}{']' if b + 1 == len(buckets) else ')'}  {n:5} verdicts  {100 * r / n:6.1f}% right")


if __name__ == "__main__":
    main()
