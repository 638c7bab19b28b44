#!/usr/bin/env python3
"""Compare `wsfp pcap --frames` with tshark's WebSocket dissection of a capture.

Usage: scripts/pcap_vs_tshark.py WSFP_BINARY CAPTURE

Per TCP direction (source ip:port) the sequences of frames must agree:
opcode, FIN, mask bit, payload length. tshark only dissects HTTP on ports it
knows, so every server port wsfp found a handshake on is passed to tshark
with `-d tcp.port==P,http`. Prints a summary; exit 1 on any difference.
"""
import json
import subprocess
import sys
from collections import defaultdict


def ours(wsfp, cap):
    out = subprocess.run([wsfp, "pcap", "--frames", "--no-fingerprint", "--payload-bytes", "0", cap],
                         check=False, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"wsfp pcap failed ({out.returncode}): {out.stderr}")
    frames, ports, truncated = defaultdict(list), set(), 0
    for line in out.stdout.splitlines():
        r = json.loads(line)
        if r["log"] == "websocket_handshake":
            ports.add(r["id.resp_p"])
        if r["log"] == "websocket_frame" and r["truncated"]:
            truncated += 1  # cut off by the end of the connection: tshark shows no frame
        elif r["log"] == "websocket_frame":
            side = "orig" if r["direction"] == "c2s" else "resp"
            key = f'{r[f"id.{side}_h"]}:{r[f"id.{side}_p"]}'
            frames[key].append((r["opcode"], r["fin"], r["masked"], r["length"]))
    return frames, ports, truncated


def theirs(cap, ports):
    args = ["tshark", "-o", "tcp.reassemble_out_of_order:TRUE", "-r", cap, "-Y", "websocket",
            "-T", "json", "--no-duplicate-keys"]
    for p in sorted(ports):
        args += ["-d", f"tcp.port=={p},http"]
    out = subprocess.run(args, check=True, capture_output=True, text=True)
    frames = defaultdict(list)
    for p in json.loads(out.stdout or "[]"):
        layers = p["_source"]["layers"]
        src = (layers.get("ip") or {}).get("ip.src") or layers["ipv6"]["ipv6.src"]
        key = f'{src}:{layers["tcp"]["tcp.srcport"]}'
        ws = layers["websocket"]
        for w in ws if isinstance(ws, list) else [ws]:
            n = w.get("websocket.payload_length_ext_64") or w.get("websocket.payload_length_ext_16") \
                or w["websocket.payload_length"]
            frames[key].append((int(w["websocket.opcode"]), w["websocket.fin"] == "1",
                                w["websocket.mask"] == "1", int(n)))
    return frames


def main():
    wsfp, cap = sys.argv[1], sys.argv[2]
    a, ports, truncated = ours(wsfp, cap)
    b = theirs(cap, ports)
    bad = 0
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            bad += 1
            print(f"DIFF {key}: wsfp {len(a.get(key, []))} frames, tshark {len(b.get(key, []))}")
    n = sum(len(v) for v in b.values())
    print(f"{cap}: {len(ports)} server ports, {len(b)} directions, {n} tshark frames, "
          f"{sum(len(v) for v in a.values())} wsfp frames (+{truncated} cut off by the connection's end), "
          f"{bad} differing directions")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
