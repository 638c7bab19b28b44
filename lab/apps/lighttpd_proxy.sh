#!/bin/bash
# lighttpd (Debian) mod_proxy as WebSocket reverse proxy (proxy.header upgrade): 127.0.0.1:PORT -> 127.0.0.1:BACKEND_PORT ; usage: PORT BACKEND_PORT
PORT=${1:-9001}; BACKEND=${2:-9002}; D=${WSFP_LAB_RUN:-${WSFP_LAB:-/tmp/wsfp-lab}/run}/lighttpd-proxy-$PORT
mkdir -p $D/empty
cat > $D/lighttpd.conf <<CONF
server.document-root = "$D/empty"
server.bind = "127.0.0.1"
server.port = $PORT
server.errorlog = "$D/error.log"
server.modules = ( "mod_proxy" )
proxy.server = ( "" => (( "host" => "127.0.0.1", "port" => $BACKEND )) )
proxy.header = ( "upgrade" => "enable" )
CONF
exec /usr/sbin/lighttpd -D -f $D/lighttpd.conf
