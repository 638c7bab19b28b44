#!/bin/bash
# Apache httpd (Debian apache2) as WebSocket reverse proxy: mod_proxy + mod_proxy_http, ProxyPass ... upgrade=websocket,
# 127.0.0.1:PORT -> 127.0.0.1:BACKEND_PORT ; usage: PORT BACKEND_PORT
# Own config in the run dir (not /etc/apache2); mpm_event; the parent binds, the children run as www-data (User).
PORT=${1:-9001}; BACKEND=${2:-9002}; D=${WSFP_LAB_RUN:-${WSFP_LAB:-/tmp/wsfp-lab}/run}/apache-$PORT
mkdir -p $D
M=/usr/lib/apache2/modules
cat > $D/httpd.conf <<CONF
ServerRoot "$D"
DefaultRuntimeDir "$D"
PidFile "$D/httpd.pid"
Mutex file:$D default
ErrorLog "$D/error.log"
LogLevel warn
LoadModule mpm_event_module $M/mod_mpm_event.so
LoadModule authz_core_module $M/mod_authz_core.so
LoadModule proxy_module $M/mod_proxy.so
LoadModule proxy_http_module $M/mod_proxy_http.so
User www-data
Group www-data
ServerName 127.0.0.1
Listen 127.0.0.1:$PORT
StartServers 1
MinSpareThreads 5
MaxSpareThreads 50
ServerLimit 2
ThreadsPerChild 25
MaxRequestWorkers 50
ProxyPass / http://127.0.0.1:$BACKEND/ upgrade=websocket
CONF
exec /usr/sbin/apache2 -f $D/httpd.conf -DFOREGROUND
