# sanic (websockets protocol inside) for the variant groups; works from sanic 22.12 to 25.x (21.12 fails on Python 3.11).
# usage: py_sanic_v.py PORT [MODE] [KEY=VALUE ...]
#   MODE: echo (default) | silent | push (never echo; text every 100 ms) | close3 (echo 3 messages, close 1000)
#   KEY=VALUE: sanic config values, e.g. WEBSOCKET_PING_INTERVAL=1 WEBSOCKET_MAX_SIZE=1024.
import asyncio, json, sys, time
from sanic import Sanic, __version__ as SANIC_VERSION

def value(v):
    for t in (int, float):
        try: return t(v)
        except ValueError: pass
    return v

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 9001
REST = sys.argv[2:]
MODE = REST.pop(0) if REST and "=" not in REST[0] else "echo"
if MODE not in ("echo", "silent", "push", "close3"): sys.exit(f"unknown mode {MODE!r}")

app = Sanic("app")
for k, v in (a.split("=", 1) for a in REST):
    app.config[k] = value(v)

@app.websocket("/")
async def handler(request, ws):
    async def pusher():
        seq = 0
        while True:
            await asyncio.sleep(0.1)
            seq += 1
            await ws.send(json.dumps({"seq": seq, "uptime": round(time.monotonic(), 3)}))
    task = asyncio.ensure_future(pusher()) if MODE == "push" else None
    n = 0
    try:
        while True:
            msg = await ws.recv()
            if msg is None: break
            if MODE == "echo": await ws.send(msg)
            elif MODE == "close3":
                await ws.send(msg); n += 1
                if n >= 3:
                    await ws.close(1000); break
    finally:
        if task: task.cancel()

if __name__ == "__main__":
    major, minor = (int(x) for x in SANIC_VERSION.split(".")[:2])
    kw = {"single_process": True} if (major, minor) >= (22, 9) else {}  # older sanic: no worker manager, runs in-process
    app.run(host="127.0.0.1", port=PORT, access_log=False, motd=False, **kw)
