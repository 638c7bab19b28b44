#!/bin/bash
# uvicorn (ws=wsproto backend) serving raw ASGI echo app asgi_echo.py ; usage: PORT
cd "$(dirname "$0")"; exec "${VENV:-${WSFP_LAB:-/tmp/wsfp-lab}/venv}/bin/uvicorn" asgi_echo:app --host 127.0.0.1 --port "${1:-9001}" --ws wsproto --log-level warning
