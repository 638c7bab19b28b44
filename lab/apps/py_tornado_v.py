# tornado for the variant groups. usage: py_tornado_v.py PORT [MODE] [KEY=VALUE ...]
#   MODE: echo (default) | silent | push (never echo; text every 100 ms) | close3 (echo 3 messages, close 1000)
#   KEY=VALUE: server=none (no Server header) | server=NAME (Server: NAME) | compression=on (permessage-deflate:
#   get_compression_options returns {}) | any other key: an Application setting, e.g. websocket_ping_interval=1
#   websocket_max_message_size=1024.
import asyncio, json, sys, time
import tornado.ioloop, tornado.web, tornado.websocket

def value(v):
    for t in (int, float):
        try: return t(v)
        except ValueError: pass
    return v

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 9001
REST = sys.argv[2:]
MODE = REST.pop(0) if REST and "=" not in REST[0] else "echo"
if MODE not in ("echo", "silent", "push", "close3"): sys.exit(f"unknown mode {MODE!r}")
OPTS = dict(a.split("=", 1) for a in REST)
SERVER = OPTS.pop("server", None)          # None: tornado's default Server header
COMPRESSION = OPTS.pop("compression", "off") == "on"
SETTINGS = {k: value(v) for k, v in OPTS.items()}

class Headers:
    def set_default_headers(self):
        if SERVER is None: return
        if SERVER.lower() == "none": self.clear_header("Server")
        else: self.set_header("Server", SERVER)

class NotFound(Headers, tornado.web.RequestHandler):
    def prepare(self):
        raise tornado.web.HTTPError(404)

class Handler(Headers, tornado.websocket.WebSocketHandler):
    def get_compression_options(self):
        return {} if COMPRESSION else None
    def open(self):
        self.seq = self.n = 0
        self.timer = None
        if MODE == "push":
            self.timer = tornado.ioloop.PeriodicCallback(self.push, 100)
            self.timer.start()
    def push(self):
        self.seq += 1
        try:
            self.write_message(json.dumps({"seq": self.seq, "uptime": round(time.monotonic(), 3)}))
        except tornado.websocket.WebSocketClosedError:
            self.stop()
    def stop(self):
        if self.timer:
            self.timer.stop(); self.timer = None
    def on_message(self, message):
        if MODE == "echo":
            self.write_message(message, binary=isinstance(message, bytes))
        elif MODE == "close3" and self.n < 3:
            self.write_message(message, binary=isinstance(message, bytes)); self.n += 1
            if self.n >= 3: self.close(1000)
    def on_close(self):
        self.stop()

async def main():
    extra = {"default_handler_class": NotFound} if SERVER is not None else {}
    tornado.web.Application([(r"/", Handler)], **extra, **SETTINGS).listen(PORT, address="127.0.0.1")
    await asyncio.Event().wait()
asyncio.run(main())
