#!/usr/bin/env python3
# Seeds for the `runner` fuzz target: python3 seed_runner.py corpus/runner
# (byte 0 picks the probe, byte 1 the flags, byte 2 = 0 read sizes, then
# what the server sends; `{accept}` becomes the right Accept).
import os, struct, sys
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
def frame(op, payload, fin=True, rsv=0):
    b0 = (0x80 if fin else 0) | (rsv << 4) | op
    n = len(payload)
    if n < 126: h = bytes([b0, n])
    elif n < 65536: h = bytes([b0, 126]) + struct.pack(">H", n)
    else: h = bytes([b0, 127]) + struct.pack(">Q", n)
    return h + payload
up = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
up_pmd = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Extensions: permessage-deflate\r\nServer: fuzz/1.0\r\n\r\n"
responses = {
 "close": up + frame(1, b"hi") + frame(8, b"\x03\xe8bye"),
 "alive": up + frame(10, b"wsfp-live") + frame(10, b"wsfp-live1") + frame(10, b"wsfp-live2"),
 "echo": up + frame(1, b"hello") + frame(10, b"wsfp-live") + frame(8, b"\x03\xeaprotocol error"),
 "badclose": up + frame(9, b"p") + frame(2, b"\x00\x01") + frame(8, b"\x03\xef\xff\xfe"),
 "pmd": up_pmd + frame(1, b"\xf2\x48\xcd\xc9\xc9\x07\x00", rsv=4) + frame(8, b"\x03\xe8"),
 "frag": up + frame(1, b"ab", fin=False) + frame(0, b"cd") + frame(8, b"\x0f\xa0" + b"x" * 200),
 "http": b"HTTP/1.1 400 Bad Request\r\nContent-Length: 11\r\nServer: nginx\r\n\r\nbad request",
 "bigbody": b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n" + b"line one\n" * 400,
 "malformed": b"SSH-2.0-OpenSSH_9.6\r\n",
 "partial": up + frame(2, b"z" * 300)[:50],
}
n = 0
for name, body in responses.items():
    for pick in (0, 9, 17, 33, 48, 61):
        for flags in (0, 1):
            with open(os.path.join(out, f"{name}-{pick}-{flags}"), "wb") as f:
                f.write(bytes([pick, flags, 0]) + body)
            n += 1
    # chunked reads
    with open(os.path.join(out, f"{name}-chunked"), "wb") as f:
        f.write(bytes([5, 0, 3, 0, 6, 30]) + body)
    n += 1
print(n, "seeds")
