#!/bin/bash
# daphne (Django Channels ASGI server; autobahn+twisted inside) serving raw ASGI echo app ; usage: PORT
cd "$(dirname "$0")"; exec "${VENV:-${WSFP_LAB:-/tmp/wsfp-lab}/venv}/bin/daphne" -b 127.0.0.1 -p "${1:-9001}" -v 0 asgi_echo:app
