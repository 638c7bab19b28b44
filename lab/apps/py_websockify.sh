#!/bin/bash
# websockify (noVNC project; Python http.server based WS->TCP bridge) in front of tcp_echo.py ; usage: PORT TCP_BACKEND_PORT
exec "${VENV:-${WSFP_LAB:-/tmp/wsfp-lab}/venv}/bin/websockify" 127.0.0.1:"${1:-9001}" 127.0.0.1:"${2:-9000}"
