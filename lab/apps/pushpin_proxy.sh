#!/bin/bash
# Pushpin 1.36 (Debian pushpin: condure HTTP/WebSocket server + pushpin-proxy + pushpin-handler, backend connections
# through zurl) as plain WebSocket reverse proxy: 127.0.0.1:PORT -> 127.0.0.1:BACKEND_PORT ; usage: PORT BACKEND_PORT [default|wspath]
#   Route `* 127.0.0.1:BACKEND` (no over_http: WebSocket-over-HTTP needs a GRIP backend): pushpin-proxy opens a
#   WebSocket to the backend through zurl and relays messages (it does not copy bytes: frames are re-encoded).
#   Own config and routes in the run dir; every internal socket is ipc:// in the run dir (zurl too: the Debian
#   default points at a system zurl in /var/run/zurl), the handler's HTTP push port on 127.0.0.1:0 (a kernel-chosen port; empty = 0), so several
#   instances run side by side. Runs as root (binds nothing but 127.0.0.1:PORT).
#   wspath: only /ws is routed (`*,path_beg=/ws`: any other path gets Pushpin's own error), x_forwarded_for=append
#   and auto_cross_origin=true (CORS headers on answers to requests with an Origin).
PORT=${1:-9001}; BACKEND=${2:-9002}; MODE=${3:-default}; D=${WSFP_LAB_RUN:-${WSFP_LAB:-/tmp/wsfp-lab}/run}/pushpin-$PORT
mkdir -p $D/run $D/log
XFF=""; ACO=false; ROUTE="*"
[ "$MODE" = wspath ] && { XFF=append; ACO=true; ROUTE="*,path_beg=/ws"; }
echo "$ROUTE 127.0.0.1:$BACKEND" > $D/routes
cat > $D/pushpin.conf <<CONF
[global]
include={libdir}/internal.conf
rundir=$D/run
ipc_prefix=pp$PORT-
port_offset=0
stats_connection_ttl=120

[runner]
services=condure,zurl,pushpin-proxy,pushpin-handler
http_port=127.0.0.1:$PORT
logdir=$D/log
log_level=2
client_buffer_size=8192
client_maxconn=1000
condure_bin=condure
zurl_bin=zurl

[proxy]
routesfile=$D/routes
zurl_out_specs=ipc://$D/run/pp$PORT-zurl-in
zurl_out_stream_specs=ipc://$D/run/pp$PORT-zurl-in-stream
zurl_in_specs=ipc://$D/run/pp$PORT-zurl-out
debug=false
auto_cross_origin=$ACO
accept_x_forwarded_protocol=false
set_x_forwarded_protocol=proto-only
x_forwarded_for=$XFF
x_forwarded_for_trusted=
orig_headers_need_mark=
accept_pushpin_route=false
log_from=false
log_user_agent=false
sig_iss=pushpin
sig_key=changeme
upstream_key=
updates_check=off

[handler]
push_in_spec=ipc://$D/run/pp$PORT-push-in
push_in_sub_specs=ipc://$D/run/pp$PORT-push-in-sub
push_in_sub_connect=false
push_in_http_addr=127.0.0.1
push_in_http_port=
stats_spec=ipc://{rundir}/{ipc_prefix}stats
command_spec=ipc://$D/run/pp$PORT-command
message_rate=2500
message_hwm=25000
message_wait=5000
id_cache_ttl=60
connection_subscription_max=20
subscription_linger=60
stats_subscription_ttl=60
stats_report_interval=10
CONF
exec /usr/bin/pushpin --config $D/pushpin.conf --merge-output
