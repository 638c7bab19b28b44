# autobahn on asyncio for the variant groups. usage: py_autobahn_asyncio_v.py PORT [MODE] [KEY=VALUE ...]
#   MODE: echo (default) | silent | push (never echo; text every 100 ms) | close3 (echo 3 messages, close 1000)
#   KEY=VALUE: server=none (no Server header) | server=NAME | compression=on (accept permessage-deflate offers)
#   | any other key: a factory.setProtocolOptions argument, e.g. autoPingInterval=1 maxMessagePayloadSize=1024.
import asyncio, json, sys, time
import autobahn
from autobahn.asyncio.websocket import WebSocketServerProtocol, WebSocketServerFactory
from autobahn.websocket.compress import PerMessageDeflateOffer, PerMessageDeflateOfferAccept

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
SERVER = OPTS.pop("server", None)
COMPRESSION = OPTS.pop("compression", "off") == "on"
PROTO_OPTS = {k: value(v) for k, v in OPTS.items()}

class Handler(WebSocketServerProtocol):
    def onOpen(self):
        self.n = 0
        self.task = asyncio.ensure_future(self.pusher()) if MODE == "push" else None
    async def pusher(self):
        seq = 0
        while True:
            await asyncio.sleep(0.1)
            seq += 1
            self.sendMessage(json.dumps({"seq": seq, "uptime": round(time.monotonic(), 3)}).encode(), False)
    def onMessage(self, payload, isBinary):
        if MODE == "echo":
            self.sendMessage(payload, isBinary)
        elif MODE == "close3":
            self.sendMessage(payload, isBinary); self.n += 1
            if self.n >= 3: self.sendClose(code=1000)
    def onClose(self, wasClean, code, reason):
        if getattr(self, "task", None): self.task.cancel()

def accept_deflate(offers):
    for offer in offers:
        if isinstance(offer, PerMessageDeflateOffer):
            return PerMessageDeflateOfferAccept(offer)

async def main():
    kw = {}
    if SERVER is not None: kw["server"] = None if SERVER.lower() == "none" else SERVER
    factory = WebSocketServerFactory(f"ws://127.0.0.1:{PORT}", **kw)
    factory.protocol = Handler
    if COMPRESSION: PROTO_OPTS["perMessageCompressionAccept"] = accept_deflate
    if PROTO_OPTS: factory.setProtocolOptions(**PROTO_OPTS)
    server = await asyncio.get_running_loop().create_server(factory, "127.0.0.1", PORT)
    await server.serve_forever()
asyncio.run(main())
