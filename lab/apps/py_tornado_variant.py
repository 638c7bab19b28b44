# Variant app for tornado (same library as py_tornado.py, different app behaviour).
# usage: py_tornado_variant.py PORT silent|push
#   silent: accept, discard every message, never send a data message
#   push:   accept, never echo, send a text message every 100 ms (like STEWS's ws server-stats app)
import asyncio, json, sys, time
import tornado.ioloop, tornado.web, tornado.websocket

MODE = sys.argv[2] if len(sys.argv) > 2 else "silent"
if MODE not in ("silent", "push"):
    sys.exit(f"unknown mode {MODE!r} (silent|push)")

class Variant(tornado.websocket.WebSocketHandler):
    def open(self):
        self.seq = 0
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
            self.timer.stop()
            self.timer = None
    def on_message(self, message):
        pass
    def on_close(self):
        self.stop()

async def main(port):
    tornado.web.Application([(r"/", Variant)]).listen(port, address="127.0.0.1")
    await asyncio.Event().wait()
asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 9001))
