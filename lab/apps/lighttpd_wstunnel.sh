#!/bin/bash
# lighttpd mod_wstunnel: terminates WebSocket itself, tunnels payload to a plain TCP backend (tcp_echo.py) ; usage: PORT TCP_BACKEND_PORT
PORT=${1:-9001}; BACKEND=${2:-9000}; D=${WSFP_LAB_RUN:-${WSFP_LAB:-/tmp/wsfp-lab}/run}/lighttpd-$PORT
mkdir -p $D
cat > $D/lighttpd.conf <<CONF
server.document-root = "$D"
server.bind = "127.0.0.1"
server.port = $PORT
server.modules = ( "mod_wstunnel" )
wstunnel.server = ( "" => (( "host" => "127.0.0.1", "port" => $BACKEND )) )
wstunnel.frame-type = "text"
CONF
exec /usr/sbin/lighttpd -D -f $D/lighttpd.conf
