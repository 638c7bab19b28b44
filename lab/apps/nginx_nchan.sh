#!/bin/bash
# nginx + Nchan pub/sub module (Debian libnginx-mod-nchan): nchan_pubsub over WebSocket; a client's own publish is echoed back ; usage: PORT
PORT=${1:-9001}; D=${WSFP_LAB_RUN:-${WSFP_LAB:-/tmp/wsfp-lab}/run}/nginx-nchan-$PORT
mkdir -p $D
cat > $D/nginx.conf <<CONF
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
daemon off;
master_process off;
worker_processes 1;
pid $D/nginx.pid;
error_log $D/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $D/body; proxy_temp_path $D/proxy; fastcgi_temp_path $D/fcgi; uwsgi_temp_path $D/uwsgi; scgi_temp_path $D/scgi;
  server {
    listen 127.0.0.1:$PORT;
    location / {
      nchan_pubsub websocket;
      nchan_channel_id "lab";
    }
  }
}
CONF
exec /usr/sbin/nginx -c $D/nginx.conf -e $D/error.log
