#!/usr/bin/env python3
"""Helpers for lab/check_variants.sh (stdlib only).

usage: variants_report.py app-check PORT silent|push|echo [PATH]
         Checks that a variant app behaves as it says, with a raw RFC 6455 client on 127.0.0.1:PORT:
         silent = no data frame within 0.6 s (after a text and a binary message); push = >= 3 text frames
         in 0.6 s and none of them an echo of what we sent; echo = our text comes back. Prints one line
         "ok ..." or "BAD ...", exit 0/1.
       variants_report.py report RUNS.tsv [PROBES.txt]
         RUNS.tsv (written by check_variants.sh): kind (base|base2|variant), id, base, target, exit code, wall ms,
         alive after the scan (yes|no), stdout file, stderr file, app check. Prints the table (variant, base id,
         base verdict, variant verdict, same?) and, for each variant, the probes whose observations differ
         from the base's, field by field (data frames are app traffic and not scored; probes that also differ
         between the two scans of the base, kind base2, are marked as noise). PROBES.txt: `wsfp probes --all`. Exit 1 if a verdict differs, a scan failed or an app misbehaved.
"""
import base64
import hashlib
import json
import os
import socket
import sys
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# fields that change from run to run whatever the server: not compared
VOLATILE = {"latency_ms"}


# ---------------------------------------------------------------- app-check
def frame(opcode, payload):
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    else:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def read_frames(sock, buf, seconds):
    """-> list of (opcode, payload) received within `seconds` (unmasked server frames)."""
    out = []
    end = time.monotonic() + seconds
    while True:
        while len(buf) >= 2:
            op, ln = buf[0] & 0x0F, buf[1] & 0x7F
            off = 2
            if ln == 126:
                if len(buf) < 4:
                    break
                ln, off = int.from_bytes(buf[2:4], "big"), 4
            elif ln == 127:
                if len(buf) < 10:
                    break
                ln, off = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < off + ln:
                break
            out.append((op, bytes(buf[off:off + ln])))
            del buf[:off + ln]
        left = end - time.monotonic()
        if left <= 0:
            return out
        sock.settimeout(left)
        try:
            d = sock.recv(65536)
        except socket.timeout:
            return out
        if not d:
            return out
        buf += d


def app_check(port, mode, path="/"):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = base64.b64encode(os.urandom(16))
    s.sendall((f"GET {path or '/'} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:{port}\r\n\r\n").encode())
    buf = bytearray()
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            return False, "BAD connection closed during the handshake"
        buf += d
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    if b" 101 " not in head.split(b"\r\n")[0] + b" ":
        return False, "BAD no 101: " + head.split(b"\r\n")[0].decode("latin1")
    buf = bytearray(rest)
    probe = b"lab-variant-check"
    s.sendall(frame(1, probe) + frame(2, probe))
    frames = read_frames(s, buf, 0.6)
    data = [(op, p) for op, p in frames if op in (0, 1, 2)]
    echoed = [p for op, p in data if p == probe]
    s.sendall(frame(8, (1000).to_bytes(2, "big")))
    s.close()
    if mode == "silent":
        return (not data), f"{'ok' if not data else 'BAD'} silent: {len(data)} data frames in 0.6 s"
    if mode == "push":
        texts = [p for op, p in data if op == 1]
        ok = len(texts) >= 3 and not echoed
        return ok, f"{'ok' if ok else 'BAD'} push: {len(texts)} text frames in 0.6 s, {len(echoed)} echoes"
    ok = bool(echoed)
    return ok, f"{'ok' if ok else 'BAD'} echo: {len(echoed)} echoes"


# ---------------------------------------------------------------- report
def load(path):
    try:
        with open(path) as fh:
            for line in fh:
                line = line.strip()
                if line.startswith("{"):
                    try:
                        o = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(o, dict) and "implementation" in o:
                        return o
    except OSError:
        pass
    return None


def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if k not in VOLATILE}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v


def short(v, n=160):
    s = json.dumps(v, sort_keys=True) if not isinstance(v, str) else json.dumps(v)
    return s if len(s) <= n else s[:n - 3] + "..."


def control_frames(frames):
    """The frames the scanner scores (control frames, reserved opcodes): data frames (0, 1, 2) are app traffic."""
    return [f for f in (frames or []) if isinstance(f, dict) and not (f.get("opcode") in (0, 1, 2))]


def diff_obs(a, b):
    """a, b: observations objects (probe id -> dict).
    -> list of (probe, field, base value, variant value, data_only); data_only: only data frames differ."""
    out = []
    for probe in sorted(set(a) | set(b), key=lambda k: (len(k), k)):
        x, y = strip(a.get(probe)), strip(b.get(probe))
        if x == y:
            continue
        if not isinstance(x, dict) or not isinstance(y, dict):
            out.append((probe, "(whole probe)", x, y, False))
            continue
        for f in sorted(set(x) | set(y)):
            if x.get(f) != y.get(f):
                data_only = f == "frames" and control_frames(x.get(f)) == control_frames(y.get(f))
                out.append((probe, f, x.get(f, "<absent>"), y.get(f, "<absent>"), data_only))
    return out


def protocol_probes(d):
    """probes with a difference beyond data frames"""
    return {p for p, f, x, y, data_only in d if not data_only}


def frames_str(frames):
    if not isinstance(frames, list):
        return short(frames, 80)
    names = {0: "cont", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}
    parts = []
    for f in frames:
        n = names.get(f.get("opcode"), f"op{f.get('opcode')}") + f"/{f.get('len')}"
        if f.get("close_code") is not None:
            n += f" {f['close_code']}"
        if f.get("close_reason"):
            n += f" {f['close_reason']!r}"
        parts.append(n)
    return "[" + ", ".join(parts) + "]"


def summary(o):
    if not isinstance(o, dict):
        return short(o, 80)
    s = str(o.get("outcome"))
    if o.get("status") is not None:
        s += f" {o['status']}"
    if o.get("end"):
        s += f" end={o['end']}"
    if o.get("frames"):
        s += " frames=" + frames_str(o["frames"])
    if o.get("error"):
        s += f" ({o['error']})"
    return s


def load_probe_names(path):
    names = {}
    try:
        with open(path) as fh:
            for line in fh:
                p = line.split(None, 4)
                if len(p) == 5 and p[0].isdigit():
                    names[p[0]] = p[4].strip()
    except OSError:
        pass
    return names


def print_diff(d, a, b, names, noise, indent="   "):
    """one line per probe: if the outcome differs, both summaries; else field: base -> variant"""
    by = {}
    for probe, f, x, y, data_only in d:
        by.setdefault(probe, []).append((f, x, y, data_only))
    for probe, fs in by.items():
        tag = f"probe {probe}" + (f" ({names[probe]})" if probe in names else "")
        notes = []
        if all(data_only for *_, data_only in fs):
            notes.append("data frames only: not scored")
        if probe in noise:
            notes.append("also differs between two scans of the base: noise")
        note = f"  [{'; '.join(notes)}]" if notes else ""
        if any(f == "outcome" or f == "(whole probe)" for f, *_ in fs):
            print(f"{indent}{tag}: {summary(a.get(probe))}  ->  {summary(b.get(probe))}{note}")
            continue
        parts = []
        for f, x, y, _ in fs:
            if f == "frames":
                parts.append(f"frames {frames_str(x) if x != '<absent>' else '-'} -> {frames_str(y) if y != '<absent>' else '-'}")
            else:
                parts.append(f"{f} {short(x, 60)} -> {short(y, 60)}")
        print(f"{indent}{tag}: " + "; ".join(parts) + note)


def report(runs_path, probes_path=""):
    names = load_probe_names(probes_path) if probes_path else {}
    rows = []
    with open(runs_path) as fh:
        for line in fh:
            p = line.rstrip("\n").split("\t")
            if len(p) >= 10:
                rows.append(dict(kind=p[0], id=p[1], base=p[2], target=p[3], rc=int(p[4]), ms=int(p[5]),
                                 alive=p[6], out=p[7], err=p[8], app=p[9]))
    for r in rows:
        r["rec"] = load(r["out"]) if r["rc"] != -1 else None
    base = {r["id"]: r for r in rows if r["kind"] == "base"}
    base2 = {r["id"]: r for r in rows if r["kind"] == "base2"}
    noise = {}
    for k, r in base.items():
        r2 = base2.get(k)
        if r["rec"] and r2 and r2["rec"]:
            noise[k] = protocol_probes(diff_obs(r["rec"].get("observations") or {}, r2["rec"].get("observations") or {}))
    bad = 0

    def verdict(r):
        if r is None:
            return "(no base scan)"
        if r["rc"] == -1:
            return "(not running)"
        if r["rec"] is None:
            return f"(scan failed, exit {r['rc']})"
        return str(r["rec"].get("implementation"))

    def conf(r):
        return f"{r['rec'].get('confidence', 0):.2f}" if r and r.get("rec") else "-"

    table = [("variant", "base id", "base verdict", "variant verdict", "same?", "conf b/v", "probes diff (proto)",
              "scan ms", "alive after", "app check")]
    details = []
    for r in rows:
        if r["kind"] != "variant":
            continue
        b = base.get(r["base"])
        bv, vv = verdict(r=b), verdict(r)
        ok_scan = b is not None and b["rec"] is not None and r["rec"] is not None
        same = ok_scan and bv == vv
        nd = "-"
        if ok_scan:
            d = diff_obs(b["rec"].get("observations") or {}, r["rec"].get("observations") or {})
            nd = f"{len({p for p, *_ in d})} ({len(protocol_probes(d))})"
            if d:
                details.append((r, b, d, same))
        if not same or not r["app"].startswith("ok") or r["rc"] != 0 or (b is not None and b["rc"] != 0):
            bad += 1
        table.append((r["id"], r["base"], bv, vv, "yes" if same else "NO", f"{conf(b)}/{conf(r)}", nd, str(r["ms"]),
                      r["alive"], r["app"]))
    w = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for i, row in enumerate(table):
        print("  ".join(c.ljust(w[j]) for j, c in enumerate(row)).rstrip())
        if i == 0:
            print("  ".join("-" * w[j] for j in range(len(w))))
    print()
    print("probes diff (proto): probes whose observations differ from the base's / of those, probes with a difference "
          "beyond data frames (echoes, pushes: not scored)")
    for k, v in base.items():
        v2 = base2.get(k)
        print(f"base {k}: {verdict(v)} ({conf(v)}, {v['ms']} ms, alive after: {v['alive']}); rescan: "
              f"{verdict(v2) if v2 else '-'} ({conf(v2)}), probes differing between the two scans: "
              f"{' '.join(sorted(noise.get(k, ()), key=lambda x: (len(x), x))) or 'none'}")
    for r, b, d, same in details:
        print()
        probes = sorted({p for p, *_ in d}, key=lambda k: (len(k), k))
        proto = sorted(protocol_probes(d), key=lambda k: (len(k), k))
        head = "SAME verdict" if same else "DIFFERENT verdict"
        print(f"== {r['id']}: {head}: {verdict(r)} ({conf(r)}) vs base {b['id']}: {verdict(b)} ({conf(b)}); "
              f"{len(probes)} probes differ, beyond data frames: {' '.join(proto) or 'none'}")
        if not same:
            cand = r["rec"].get("candidates") or []
            if cand:
                print("   variant candidates: " + ", ".join(
                    f"{c.get('id')} {c.get('score')} ({c.get('matched')}/{c.get('compared')})" for c in cand[:4]))
        print_diff(d, b["rec"].get("observations") or {}, r["rec"].get("observations") or {}, names,
                   noise.get(b["id"], set()))
    vrows = table[1:]
    same_n = sum(1 for t in vrows if t[4] == "yes")
    diff_n = sum(1 for t in vrows if t[4] == "NO" and not t[2].startswith("(") and not t[3].startswith("("))
    print()
    print(f"variants: {len(vrows)}, same verdict as base: {same_n}, differing verdict: {diff_n}, "
          f"no verdict to compare: {len(vrows) - same_n - diff_n}; problems (differ / scan failed / app misbehaves): {bad}")
    return 1 if bad else 0


def main(argv):
    if len(argv) >= 3 and argv[0] == "app-check":
        try:
            ok, msg = app_check(int(argv[1]), argv[2], argv[3] if len(argv) > 3 else "/")
        except OSError as e:
            ok, msg = False, f"BAD {type(e).__name__}: {e}"
        print(msg)
        return 0 if ok else 1
    if len(argv) in (2, 3) and argv[0] == "report":
        return report(*argv[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
