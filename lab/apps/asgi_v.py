# Raw ASGI WebSocket apps for the variant groups (uvicorn / hypercorn / daphne launchers *_v.py), one per behaviour:
#   app (echo), silent (read, never send data), push (never echo; a text message every 100 ms), close3 (echo 3
#   messages, then close with code 1000). Plain HTTP requests get a bare 404 "Not Found" (no text of our own).
import asyncio, json, time

PUSH_INTERVAL = 0.1

async def _lifespan(receive, send):
    while True:
        m = await receive()
        if m["type"] == "lifespan.startup": await send({"type": "lifespan.startup.complete"})
        elif m["type"] == "lifespan.shutdown": await send({"type": "lifespan.shutdown.complete"}); return

async def _http(receive, send):
    await receive()
    await send({"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
    await send({"type": "http.response.body", "body": b"Not Found"})

def _reply(m):
    if m.get("text") is not None: return {"type": "websocket.send", "text": m["text"]}
    return {"type": "websocket.send", "bytes": m.get("bytes") or b""}

def make(mode):
    if mode not in ("echo", "silent", "push", "close3"):
        raise ValueError(f"unknown mode {mode!r} (echo|silent|push|close3)")
    async def application(scope, receive, send):
        if scope["type"] == "lifespan": return await _lifespan(receive, send)
        if scope["type"] == "http": return await _http(receive, send)
        if scope["type"] != "websocket": return
        task, n = None, 0
        async def pusher():
            seq = 0
            while True:
                await asyncio.sleep(PUSH_INTERVAL)
                seq += 1
                await send({"type": "websocket.send", "text": json.dumps({"seq": seq, "uptime": round(time.monotonic(), 3)})})
        try:
            while True:
                m = await receive()
                if m["type"] == "websocket.connect":
                    await send({"type": "websocket.accept"})
                    if mode == "push": task = asyncio.ensure_future(pusher())
                elif m["type"] == "websocket.receive":
                    if mode == "echo": await send(_reply(m))
                    elif mode == "close3":
                        await send(_reply(m)); n += 1
                        if n >= 3:
                            await send({"type": "websocket.close", "code": 1000}); return
                elif m["type"] == "websocket.disconnect": return
        finally:
            if task: task.cancel()
    return application

app = make("echo")
echo = app
silent = make("silent")
push = make("push")
close3 = make("close3")
