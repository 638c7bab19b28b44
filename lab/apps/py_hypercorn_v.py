# hypercorn (wsproto inside) serving a raw ASGI app of asgi_v.py. usage: py_hypercorn_v.py PORT [MODE] [KEY=VALUE ...]
#   MODE: echo (default) | silent | push | close3
#   KEY=VALUE: hypercorn Config attributes, e.g. include_server_header=false websocket_ping_interval=1
#   websocket_max_message_size=1024.
import asyncio, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hypercorn.config import Config
from hypercorn.asyncio import serve
import asgi_v

def value(v):
    if v.lower() in ("true", "false"): return v.lower() == "true"
    if v.lower() in ("none", "null"): return None
    for t in (int, float):
        try: return t(v)
        except ValueError: pass
    return v

rest = sys.argv[2:]
mode = rest.pop(0) if rest and "=" not in rest[0] else "echo"
c = Config(); c.bind = [f"127.0.0.1:{int(sys.argv[1]) if len(sys.argv) > 1 else 9001}"]
for k, v in (a.split("=", 1) for a in rest):
    if not hasattr(c, k): sys.exit(f"unknown hypercorn Config attribute {k!r}")
    setattr(c, k, value(v))
asyncio.run(serve(asgi_v.make(mode), c))
