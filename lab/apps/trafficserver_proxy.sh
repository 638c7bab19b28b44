#!/bin/bash
# Apache Traffic Server 9.2 (Debian trafficserver) as WebSocket reverse proxy: 127.0.0.1:PORT -> 127.0.0.1:BACKEND_PORT ;
# usage: PORT BACKEND_PORT [default|noserver]
#   remap.config maps ws:// (the WebSocket tunnel) and http:// of 127.0.0.1:PORT and localhost:PORT to the backend;
#   reverse proxy only (remap_required), cache off, no logs, one exec thread. Own runroot in the run dir (runroot.yaml:
#   config, runtime, log, cache dirs there, binaries from /usr), owned by the Debian user trafficserver, and
#   traffic_server runs as that user from the start (setpriv; admin.user_id #-1: no user switch), without traffic_manager.
#   noserver: response_server_enabled 0 (no Server header from ATS) and websocket.no_activity_timeout 5 s (default 600).
PORT=${1:-9001}; BACKEND=${2:-9002}; MODE=${3:-default}; D=${WSFP_LAB_RUN:-${WSFP_LAB:-/tmp/wsfp-lab}/run}/trafficserver-$PORT
U=trafficserver
mkdir -p $D/etc $D/run $D/log $D/cache $D/var/trafficserver
cp -r /etc/trafficserver/body_factory $D/etc/ 2>/dev/null
cat > $D/runroot.yaml <<CONF
prefix: /usr
exec_prefix: /usr
bindir: /usr/bin
sbindir: /usr/bin
sysconfdir: $D/etc
datadir: $D/cache
includedir: /usr/include
libdir: /usr/lib/trafficserver
libexecdir: /usr/lib/trafficserver/modules
localstatedir: $D/var
runtimedir: $D/run
logdir: $D/log
cachedir: $D/cache
CONF
EXTRA=""
[ "$MODE" = noserver ] && EXTRA="CONFIG proxy.config.http.response_server_enabled INT 0
CONFIG proxy.config.websocket.no_activity_timeout INT 5"
cat > $D/etc/records.config <<CONF
CONFIG proxy.config.http.server_ports STRING $PORT:ipv4:ip-in=127.0.0.1
CONFIG proxy.config.admin.user_id STRING #-1
CONFIG proxy.config.reverse_proxy.enabled INT 1
CONFIG proxy.config.url_remap.remap_required INT 1
CONFIG proxy.config.url_remap.pristine_host_hdr INT 1
CONFIG proxy.config.http.cache.http INT 0
CONFIG proxy.config.exec_thread.autoconfig INT 0
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.accept_threads INT 1
CONFIG proxy.config.task_threads INT 1
CONFIG proxy.config.cache.threads_per_disk INT 1
CONFIG proxy.config.log.logging_enabled INT 0
CONFIG proxy.config.diags.debug.enabled INT 0
CONFIG proxy.config.body_factory.template_sets_dir STRING $D/etc/body_factory
$EXTRA
CONF
cat > $D/etc/remap.config <<CONF
map ws://127.0.0.1:$PORT/ ws://127.0.0.1:$BACKEND/
map http://127.0.0.1:$PORT/ http://127.0.0.1:$BACKEND/
map ws://localhost:$PORT/ ws://127.0.0.1:$BACKEND/
map http://localhost:$PORT/ http://127.0.0.1:$BACKEND/
CONF
cat > $D/etc/ip_allow.yaml <<CONF
ip_allow:
  - apply: in
    ip_addrs: 127.0.0.0/8
    action: allow
    methods: ALL
  - apply: out
    ip_addrs: 127.0.0.0/8
    action: allow
    methods: ALL
CONF
: > $D/etc/storage.config
for f in plugin.config hosting.config volume.config parent.config cache.config splitdns.config socks.config ssl_multicert.config sni.yaml logging.yaml strategies.yaml; do : > $D/etc/$f; done
chown -R $U:$U $D
exec setpriv --reuid=$U --regid=$U --init-groups /usr/bin/traffic_server --run-root=$D/runroot.yaml
