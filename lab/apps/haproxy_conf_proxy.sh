#!/bin/bash
# HAProxy (Debian) WebSocket reverse proxy (HTTP mode), configuration variants of haproxy_proxy.sh:
# 127.0.0.1:PORT -> 127.0.0.1:BACKEND_PORT ; usage: PORT BACKEND_PORT MODE
#   MODE: server-close (option http-server-close, shorter timeouts: client/server 20s, tunnel 10m, http-request 10s)
PORT=${1:-9001}; BACKEND=${2:-9002}; MODE=${3:-server-close}; D=${WSFP_LAB_RUN:-${WSFP_LAB:-/tmp/wsfp-lab}/run}/haproxy-conf-$PORT
mkdir -p $D
case "$MODE" in
  server-close) ;;
  *) echo "haproxy_conf_proxy: unknown mode $MODE" >&2; exit 2 ;;
esac
cat > $D/haproxy.cfg <<CONF
global
  maxconn 256
defaults
  mode http
  option http-server-close
  timeout connect 5s
  timeout client 20s
  timeout server 20s
  timeout http-request 10s
  timeout tunnel 10m
frontend fe
  bind 127.0.0.1:$PORT
  default_backend be
backend be
  server s1 127.0.0.1:$BACKEND
CONF
exec /usr/sbin/haproxy -db -f $D/haproxy.cfg
