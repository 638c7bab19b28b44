# uvicorn serving a raw ASGI app of asgi_v.py. usage: py_uvicorn_v.py PORT WS [MODE] [KEY=VALUE ...]
#   WS: uvicorn's --ws backend (websockets | wsproto | websockets-sansio); MODE: echo (default) | silent | push | close3
#   KEY=VALUE: extra uvicorn.Config arguments, e.g. server_header=false ws_per_message_deflate=false ws_ping_interval=1
#   ws_max_size=1024 headers=server:Apache (a header list "name:value,name:value").
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import uvicorn, asgi_v

def value(k, v):
    if k == "headers": return [tuple(h.split(":", 1)) for h in v.split(",")]
    if v.lower() in ("none", "null"): return None
    if v.lower() in ("true", "false"): return v.lower() == "true"
    for t in (int, float):
        try: return t(v)
        except ValueError: pass
    return v

port = int(sys.argv[1]) if len(sys.argv) > 1 else 9001
ws = sys.argv[2] if len(sys.argv) > 2 else "websockets"
rest = sys.argv[3:]
mode = rest.pop(0) if rest and "=" not in rest[0] else "echo"
opts = dict((k, value(k, v)) for k, v in (a.split("=", 1) for a in rest))
uvicorn.run(asgi_v.make(mode), host="127.0.0.1", port=port, ws=ws, log_level="warning", **opts)
