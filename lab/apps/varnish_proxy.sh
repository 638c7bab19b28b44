#!/bin/bash
# Varnish Cache 7.1 (Debian varnish) as WebSocket reverse proxy: 127.0.0.1:PORT -> 127.0.0.1:BACKEND_PORT ;
# usage: PORT BACKEND_PORT [default|hide]
#   A request with `Upgrade: websocket` goes to vcl_pipe (Varnish then copies bytes both ways: the 101 and the frames
#   are the backend's); the Upgrade/Connection headers are copied onto the piped backend request. Every other request
#   (plain GET, HEAD, a refused handshake without Upgrade) takes Varnish's normal path (Via, X-Varnish, Age headers,
#   Varnish's own error pages). Own working dir (-n) in the run dir; varnishd runs in the foreground (-F), its
#   workers as the Debian users vcache/varnish; 16 MB malloc storage; the CLI on a unix socket only (-T none).
#   hide: Via, X-Varnish, Age removed in vcl_deliver, Server: set to "lab", and pipe_timeout 5 s (default 60 s).
PORT=${1:-9001}; BACKEND=${2:-9002}; MODE=${3:-default}; D=${WSFP_LAB_RUN:-${WSFP_LAB:-/tmp/wsfp-lab}/run}/varnish-$PORT
mkdir -p $D; chmod 755 $D
DELIVER=""; PARAMS=()
if [ "$MODE" = hide ]; then
  DELIVER='unset resp.http.Via; unset resp.http.X-Varnish; unset resp.http.Age; set resp.http.Server = "lab";'
  PARAMS=(-p pipe_timeout=5)
fi
cat > $D/default.vcl <<CONF
vcl 4.1;
backend default { .host = "127.0.0.1"; .port = "$BACKEND"; }
sub vcl_recv {
  if (req.http.Upgrade ~ "(?i)websocket") { return (pipe); }
}
sub vcl_pipe {
  if (req.http.Upgrade) {
    set bereq.http.Upgrade = req.http.Upgrade;
    set bereq.http.Connection = req.http.Connection;
  }
}
sub vcl_deliver { $DELIVER }
CONF
exec /usr/sbin/varnishd -F -n $D/work -a 127.0.0.1:$PORT -T none -f $D/default.vcl -s malloc,16m "${PARAMS[@]}"
