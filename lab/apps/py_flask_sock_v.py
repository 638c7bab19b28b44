# flask-sock (simple-websocket) on the werkzeug dev server, for the variant groups.
# usage: py_flask_sock_v.py PORT [MODE]   MODE: echo (default) | silent | push (text every 100 ms) | close3
import json, logging, sys, threading, time
from flask import Flask
from flask_sock import Sock

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 9001
MODE = sys.argv[2] if len(sys.argv) > 2 else "echo"
if MODE not in ("echo", "silent", "push", "close3"): sys.exit(f"unknown mode {MODE!r}")
app = Flask(__name__); sock = Sock(app)

@sock.route("/")
def handler(ws):
    stop = threading.Event()
    def pusher():
        seq = 0
        while not stop.wait(0.1):
            seq += 1
            try: ws.send(json.dumps({"seq": seq, "uptime": round(time.monotonic(), 3)}))
            except Exception: return
    if MODE == "push": threading.Thread(target=pusher, daemon=True).start()
    n = 0
    try:
        while True:
            m = ws.receive()
            if MODE in ("silent", "push"): continue
            ws.send(m); n += 1
            if MODE == "close3" and n >= 3:
                ws.close(reason=1000); return
    finally:
        stop.set()

logging.getLogger("werkzeug").setLevel(logging.ERROR)
app.run(host="127.0.0.1", port=PORT, threaded=True)
