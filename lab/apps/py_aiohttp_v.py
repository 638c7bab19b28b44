# aiohttp for the variant groups. usage: py_aiohttp_v.py PORT [MODE] [KEY=VALUE ...]
#   MODE: echo (default) | silent | push (never echo; text every 100 ms) | close3 (echo 3 messages, close 1000)
#   KEY=VALUE: server=none (no Server header on any response) | server=NAME (Server: NAME, set in on_response_prepare)
#   | any other key: a web.WebSocketResponse argument, e.g. compress=false heartbeat=1 max_msg_size=1024.
import asyncio, json, sys, time
from aiohttp import web, WSMsgType

def value(v):
    if v.lower() in ("true", "false"): return v.lower() == "true"
    for t in (int, float):
        try: return t(v)
        except ValueError: pass
    return v

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 9001
REST = sys.argv[2:]
MODE = REST.pop(0) if REST and "=" not in REST[0] else "echo"
if MODE not in ("echo", "silent", "push", "close3"): sys.exit(f"unknown mode {MODE!r}")
OPTS = dict(a.split("=", 1) for a in REST)
SERVER = OPTS.pop("server", None)
WSOPTS = {k: value(v) for k, v in OPTS.items()}

if SERVER is not None and SERVER.lower() == "none":
    # aiohttp adds "Server: Python/x aiohttp/y" with setdefault after on_response_prepare, so drop it just before
    # the status line and headers are written.
    _write_headers = web.StreamResponse._write_headers
    async def _write_headers_no_server(self):
        self._headers.popall("Server", None)
        await _write_headers(self)
    web.StreamResponse._write_headers = _write_headers_no_server

async def pusher(ws):
    n = 0
    while True:
        await asyncio.sleep(0.1)
        n += 1
        await ws.send_str(json.dumps({"seq": n, "uptime": round(time.monotonic(), 3)}))

async def handler(request):
    ws = web.WebSocketResponse(**WSOPTS)
    await ws.prepare(request)
    task = asyncio.ensure_future(pusher(ws)) if MODE == "push" else None
    n = 0
    try:
        async for msg in ws:
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY) or MODE in ("silent", "push"): continue
            if msg.type == WSMsgType.TEXT: await ws.send_str(msg.data)
            else: await ws.send_bytes(msg.data)
            n += 1
            if MODE == "close3" and n >= 3:
                await ws.close(code=1000); break
    finally:
        if task: task.cancel()
    return ws

app = web.Application(); app.router.add_get("/", handler)
if SERVER is not None and SERVER.lower() != "none":
    async def set_server(request, response): response.headers["Server"] = SERVER
    app.on_response_prepare.append(set_server)
web.run_app(app, host="127.0.0.1", port=PORT, print=None)
