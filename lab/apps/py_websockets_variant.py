# Variant app for python `websockets` (same library as py_websockets.py, different app behaviour).
# usage: py_websockets_variant.py PORT silent|push
#   silent: accept, read and discard every message, never send a data message
#   push:   accept, never echo (reads and discards), send a text message every 100 ms (like STEWS's ws server-stats app)
import asyncio, json, sys, time
from websockets.asyncio.server import serve

MODE = sys.argv[2] if len(sys.argv) > 2 else "silent"
if MODE not in ("silent", "push"):
    sys.exit(f"unknown mode {MODE!r} (silent|push)")

async def pusher(ws):
    n = 0
    while True:
        await asyncio.sleep(0.1)
        n += 1
        await ws.send(json.dumps({"seq": n, "uptime": round(time.monotonic(), 3)}))

async def handler(ws):
    task = asyncio.create_task(pusher(ws)) if MODE == "push" else None
    try:
        async for _ in ws:
            pass
    finally:
        if task:
            task.cancel()

async def main(port):
    async with serve(handler, "127.0.0.1", port) as server:
        await server.serve_forever()
asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 9001))
