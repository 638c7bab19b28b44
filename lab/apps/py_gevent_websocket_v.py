# gevent-websocket (WebSocketHandler on gevent.pywsgi) for the variant groups; works with gevent-websocket 0.10 and 0.10.1.
# usage: py_gevent_websocket_v.py PORT [MODE]   MODE: echo (default) | silent | push (text every 100 ms) | close3
# Plain HTTP requests get a bare 404 "Not Found".
import json, sys, time
import gevent
from gevent import pywsgi
from geventwebsocket.handler import WebSocketHandler

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 9001
MODE = sys.argv[2] if len(sys.argv) > 2 else "echo"
if MODE not in ("echo", "silent", "push", "close3"): sys.exit(f"unknown mode {MODE!r}")

def app(environ, start_response):
    ws = environ.get("wsgi.websocket")
    if ws is None:
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")]); return [b"Not Found"]
    def pusher():
        seq = 0
        while not ws.closed:
            gevent.sleep(0.1)
            seq += 1
            try: ws.send(json.dumps({"seq": seq, "uptime": round(time.monotonic(), 3)}))
            except Exception: return
    g = gevent.spawn(pusher) if MODE == "push" else None
    n = 0
    try:
        while True:
            m = ws.receive()
            if m is None: break
            if MODE in ("silent", "push"): continue
            ws.send(m, binary=isinstance(m, (bytes, bytearray))); n += 1
            if MODE == "close3" and n >= 3:
                ws.close(1000); break
    finally:
        if g: g.kill(block=False)
    return []

pywsgi.WSGIServer(("127.0.0.1", PORT), app, handler_class=WebSocketHandler, log=None).serve_forever()
