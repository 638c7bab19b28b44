# Echo server for python `websockets` releases before the new asyncio implementation (websockets.asyncio, 13.0):
# the legacy `websockets.serve` API (websockets 10.x-13.x; 9.x does not run on Python >= 3.10). Same echo behaviour as py_websockets.py.
# usage: py_websockets_legacy_v.py PORT
import asyncio, sys
import websockets

async def echo(ws, path=None):  # websockets < 10.1 passes (ws, path); later releases call it with ws only
    async for msg in ws:
        await ws.send(msg)

async def main(port):
    async with websockets.serve(echo, "127.0.0.1", port):
        await asyncio.Future()
asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 9001))
