#!/usr/bin/env python3
"""Stdlib WebSocket client for the stacks group: handshake (optional subprotocol), send text messages, print all
that the server sends (what it volunteers unasked, then the answers), so each row's app protocol can be checked.
usage: talk.py PORT PATH [--proto P] [--wait S] [MSG ...]   (a MSG is sent after the previous reads went quiet)
prints the 101 response headers, then one line per frame received: opcode, payload (close: code + reason).
"""
import argparse, base64, os, socket, struct, time

ap = argparse.ArgumentParser()
ap.add_argument("port", type=int); ap.add_argument("path")
ap.add_argument("--proto"); ap.add_argument("--wait", type=float, default=1.5)
ap.add_argument("msgs", nargs="*")
a = ap.parse_intermixed_args()
s = socket.create_connection(("127.0.0.1", a.port), timeout=5)
key = base64.b64encode(os.urandom(16)).decode()
req = (f"GET {a.path} HTTP/1.1\r\nHost: 127.0.0.1:{a.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
       + (f"Sec-WebSocket-Protocol: {a.proto}\r\n" if a.proto else "") + "\r\n")
s.sendall(req.encode())
buf = b""
while b"\r\n\r\n" not in buf:
    d = s.recv(4096)
    if not d: break
    buf += d
head, _, buf = buf.partition(b"\r\n\r\n")
print(head.decode("latin1")); print("--")

def send(txt, op=1):
    p = txt.encode(); m = os.urandom(4)
    hdr = bytes([0x80 | op]) + (bytes([0x80 | len(p)]) if len(p) < 126 else bytes([0xFE]) + struct.pack(">H", len(p)))
    s.sendall(hdr + m + bytes(b ^ m[i % 4] for i, b in enumerate(p)))

def read_for(secs):
    global buf
    t0 = time.time(); s.settimeout(0.2)
    while time.time() - t0 < secs:
        while len(buf) >= 2:
            op, ln = buf[0] & 15, buf[1] & 127; o = 2
            if ln == 126:
                if len(buf) < 4: break
                ln = struct.unpack(">H", buf[2:4])[0]; o = 4
            elif ln == 127:
                if len(buf) < 10: break
                ln = struct.unpack(">Q", buf[2:10])[0]; o = 10
            if len(buf) < o + ln: break
            p = buf[o:o + ln]; buf = buf[o + ln:]
            if op == 8:
                print(f"{time.time() - t0:5.2f}s close", struct.unpack(">H", p[:2])[0] if len(p) >= 2 else "-", p[2:].decode(errors="replace")); return False
            if op == 9: send(p.decode("latin1"), 10)  # pong
            print(f"{time.time() - t0:5.2f}s op={op}", p[:300])
        try:
            d = s.recv(65536)
            if not d: print("EOF"); return False
            buf += d
        except socket.timeout: pass
    return True

ok = read_for(a.wait)
for m in a.msgs:
    if not ok: break
    print(">>", m); send(m); ok = read_for(a.wait)
