#!/bin/bash
# H2O 2.2 (Debian h2o) as WebSocket reverse proxy: 127.0.0.1:PORT -> 127.0.0.1:BACKEND_PORT ; usage: PORT BACKEND_PORT [default|noserver]
#   proxy.reverse.url + proxy.websocket: ON (h2o 2.2 passes the Upgrade only with it). One thread, own config
#   and error log in the run dir (no pid file: h2o writes it after dropping to nobody). Run as root, h2o binds and then drops to `nobody` (its default for `user`).
#   noserver: `send-server-name: OFF` (no Server header from h2o) and a 5 s proxy.websocket.timeout (default 300 s).
PORT=${1:-9001}; BACKEND=${2:-9002}; MODE=${3:-default}; D=${WSFP_LAB_RUN:-${WSFP_LAB:-/tmp/wsfp-lab}/run}/h2o-$PORT
mkdir -p $D; chmod 755 $D
EXTRA=""; WSEXTRA=""
[ "$MODE" = noserver ] && { EXTRA="send-server-name: OFF"; WSEXTRA="        proxy.websocket.timeout: 5000"; }
cat > $D/h2o.conf <<CONF
listen:
  host: 127.0.0.1
  port: $PORT
num-threads: 1
error-log: $D/error.log
$EXTRA
hosts:
  default:
    paths:
      /:
        proxy.reverse.url: http://127.0.0.1:$BACKEND/
        proxy.websocket: ON
$WSEXTRA
CONF
exec /usr/bin/h2o -m worker -c $D/h2o.conf
