#!/bin/bash
# granian (Rust ASGI server, hyper + tungstenite inside) serving raw ASGI echo app ; usage: PORT
cd "$(dirname "$0")"; exec "${VENV:-${WSFP_LAB:-/tmp/wsfp-lab}/venv}/bin/granian" --interface asgi --host 127.0.0.1 --port "${1:-9001}" --workers 1 --log-level warning asgi_echo:app
