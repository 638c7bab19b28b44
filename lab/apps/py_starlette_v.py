# starlette WebSocket route (served by uvicorn, websockets backend) for the variant groups.
# usage: py_starlette_v.py PORT [MODE]   MODE: echo (default) | silent | push (text every 100 ms) | close3
import asyncio, json, sys, time
import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 9001
MODE = sys.argv[2] if len(sys.argv) > 2 else "echo"
if MODE not in ("echo", "silent", "push", "close3"): sys.exit(f"unknown mode {MODE!r}")

async def handler(ws: WebSocket):
    await ws.accept()
    async def pusher():
        seq = 0
        while True:
            await asyncio.sleep(0.1)
            seq += 1
            await ws.send_text(json.dumps({"seq": seq, "uptime": round(time.monotonic(), 3)}))
    task = asyncio.ensure_future(pusher()) if MODE == "push" else None
    n = 0
    try:
        while True:
            m = await ws.receive()
            if m["type"] == "websocket.disconnect": return
            if MODE in ("silent", "push"): continue
            if m.get("text") is not None: await ws.send_text(m["text"])
            else: await ws.send_bytes(m.get("bytes") or b"")
            n += 1
            if MODE == "close3" and n >= 3:
                await ws.close(1000); return
    finally:
        if task: task.cancel()

app = Starlette(routes=[WebSocketRoute("/", handler)])
uvicorn.run(app, host="127.0.0.1", port=PORT, ws="websockets", log_level="warning")
