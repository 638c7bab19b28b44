"""python-socketio AsyncServer echo: every event is emitted back to its sender (catch-all handler).
usage: python py_socketio.py PORT [MODE]
  MODE aiohttp (default): async_mode aiohttp, aiohttp's web server and WebSocket (aiohttp.web.WebSocketResponse)
  MODE ping: aiohttp, engine.io ping_interval 1 s (the server sends engine.io ping `2` every second)
  MODE uvicorn: socketio.ASGIApp on uvicorn (ws=websockets): uvicorn's websockets protocol answers the handshake
WebSocket path: /socket.io/?EIO=4&transport=websocket ; the server opens with the engine.io packet 0{"sid":...}.
"""
import sys

import socketio

port = int(sys.argv[1]) if len(sys.argv) > 1 else 9001
mode = sys.argv[2] if len(sys.argv) > 2 else "aiohttp"
kw = {"ping_interval": 1} if mode == "ping" else {}
sio = socketio.AsyncServer(async_mode="asgi" if mode == "uvicorn" else "aiohttp", **kw)


@sio.on("*")
async def catch_all(event, sid, data=None):
    await sio.emit(event, data, to=sid)


if mode == "uvicorn":
    import uvicorn
    uvicorn.run(socketio.ASGIApp(sio), host="127.0.0.1", port=port, ws="websockets", log_level="warning")
else:
    from aiohttp import web
    app = web.Application()
    sio.attach(app)
    web.run_app(app, host="127.0.0.1", port=port, print=None)
