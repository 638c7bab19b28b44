#!/bin/bash
# nginx (Debian) WebSocket reverse proxy, configuration variants of nginx_proxy.sh: 127.0.0.1:PORT -> 127.0.0.1:BACKEND_PORT
# usage: PORT BACKEND_PORT MODE   MODE: tokens-off (server_tokens off: `Server: nginx`, no version, also on error pages)
PORT=${1:-9001}; BACKEND=${2:-9002}; MODE=${3:-tokens-off}; D=${WSFP_LAB_RUN:-${WSFP_LAB:-/tmp/wsfp-lab}/run}/nginx-conf-$PORT
mkdir -p $D
case "$MODE" in
  tokens-off) EXTRA="server_tokens off;" ;;
  *) echo "nginx_conf_proxy: unknown mode $MODE" >&2; exit 2 ;;
esac
cat > $D/nginx.conf <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $D/nginx.pid;
error_log $D/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  $EXTRA
  client_body_temp_path $D/body; proxy_temp_path $D/proxy; fastcgi_temp_path $D/fcgi; uwsgi_temp_path $D/uwsgi; scgi_temp_path $D/scgi;
  map \$http_upgrade \$connection_upgrade { default upgrade; '' close; }
  server {
    listen 127.0.0.1:$PORT;
    location / {
      proxy_pass http://127.0.0.1:$BACKEND;
      proxy_http_version 1.1;
      proxy_set_header Upgrade \$http_upgrade;
      proxy_set_header Connection \$connection_upgrade;
      proxy_set_header Host \$host;
    }
  }
}
CONF
exec /usr/sbin/nginx -c $D/nginx.conf -e $D/error.log
