# daphne (autobahn + Twisted inside) serving a raw ASGI app of asgi_v.py. usage: py_daphne_v.py PORT [MODE]
#   MODE: echo (default) | silent | push | close3 (the attribute of asgi_v that daphne loads)
import os, sys
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from daphne.cli import CommandLineInterface
mode = sys.argv[2] if len(sys.argv) > 2 else "echo"
if mode not in ("echo", "silent", "push", "close3"): sys.exit(f"unknown mode {mode!r}")
CommandLineInterface().run(["-b", "127.0.0.1", "-p", sys.argv[1] if len(sys.argv) > 1 else "9001", "-v", "0", f"asgi_v:{mode}"])
