# Echo server for tornado 5.x on Python >= 3.10: tornado 5 still imports collections.MutableMapping (moved to
# collections.abc in 3.3, the alias removed in 3.10), so restore that alias, then run the same echo app as py_tornado.py.
# usage: py_tornado5_v.py PORT
import collections, collections.abc
for _n in ("MutableMapping", "Mapping", "Callable", "Iterable"):
    if not hasattr(collections, _n):
        setattr(collections, _n, getattr(collections.abc, _n))
import asyncio, sys
import tornado.web, tornado.websocket

class Echo(tornado.websocket.WebSocketHandler):
    def on_message(self, message):
        self.write_message(message, binary=isinstance(message, bytes))

async def main(port):
    tornado.web.Application([(r"/", Echo)]).listen(port, address="127.0.0.1")
    await asyncio.Event().wait()
asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 9001))
