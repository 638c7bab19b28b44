# python `websockets` (new asyncio implementation, websockets >= 13.0) for the variant groups.
# usage: py_websockets_v.py PORT [MODE] [KEY=VALUE ...]
#   MODE: echo (default) | silent (read, never send data) | push (never echo; text every 100 ms) |
#         close3 (echo 3 messages, then close with code 1000)
#   KEY=VALUE: extra arguments of websockets.asyncio.server.serve, e.g. server_header=none server_header=Apache
#   compression=none ping_interval=1 max_size=1024 ("none" = None; numbers are converted).
import asyncio, json, sys, time
from websockets.asyncio.server import serve

def value(v):
    if v.lower() in ("none", "null"): return None
    for t in (int, float):
        try: return t(v)
        except ValueError: pass
    return v

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 9001
REST = sys.argv[2:]
MODE = REST.pop(0) if REST and "=" not in REST[0] else "echo"
if MODE not in ("echo", "silent", "push", "close3"): sys.exit(f"unknown mode {MODE!r}")
OPTS = {k: value(v) for k, v in (a.split("=", 1) for a in REST)}

async def pusher(ws):
    n = 0
    while True:
        await asyncio.sleep(0.1)
        n += 1
        await ws.send(json.dumps({"seq": n, "uptime": round(time.monotonic(), 3)}))

async def handler(ws):
    task = asyncio.create_task(pusher(ws)) if MODE == "push" else None
    n = 0
    try:
        async for msg in ws:
            if MODE == "echo": await ws.send(msg)
            elif MODE == "close3":
                await ws.send(msg); n += 1
                if n >= 3:
                    await ws.close(1000); break
    finally:
        if task: task.cancel()

async def main():
    async with serve(handler, "127.0.0.1", PORT, **OPTS) as server:
        await server.serve_forever()
asyncio.run(main())
