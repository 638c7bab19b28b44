#!/bin/bash
# HAProxy (Debian) as WebSocket reverse proxy (HTTP mode): 127.0.0.1:PORT -> 127.0.0.1:BACKEND_PORT ; usage: PORT BACKEND_PORT
PORT=${1:-9001}; BACKEND=${2:-9002}; D=${WSFP_LAB_RUN:-${WSFP_LAB:-/tmp/wsfp-lab}/run}/haproxy-$PORT
mkdir -p $D
cat > $D/haproxy.cfg <<CONF
global
  maxconn 256
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout tunnel 1h
frontend fe
  bind 127.0.0.1:$PORT
  default_backend be
backend be
  server s1 127.0.0.1:$BACKEND
CONF
exec /usr/sbin/haproxy -db -f $D/haproxy.cfg
