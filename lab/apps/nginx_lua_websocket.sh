#!/bin/bash
# nginx + lua-nginx-module + lua-resty-websocket (Debian: libnginx-mod-http-lua, lua-nginx-websocket as nginx.websocket.server) ; usage: PORT
PORT=${1:-9001}; D=${WSFP_LAB_RUN:-${WSFP_LAB:-/tmp/wsfp-lab}/run}/nginx-lua-$PORT
mkdir -p $D
cat > $D/nginx.conf <<CONF
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
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
      content_by_lua_block {
        local server = require "nginx.websocket.server"
        local wb, err = server:new{ timeout = 60000, max_payload_len = 65535 }
        if not wb then ngx.log(ngx.ERR, "ws: ", err); return ngx.exit(444) end
        while true do
          local data, typ, err = wb:recv_frame()
          if not data then
            if not string.find(err or "", "timeout", 1, true) then return ngx.exit(444) end
          elseif typ == "close" then wb:send_close(); return
          elseif typ == "ping" then wb:send_pong(data)
          elseif typ == "text" then wb:send_text(data)
          elseif typ == "binary" then wb:send_binary(data)
          end
        end
      }
    }
  }
}
CONF
exec /usr/sbin/nginx -c $D/nginx.conf -e $D/error.log
