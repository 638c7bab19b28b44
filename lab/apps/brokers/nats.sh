#!/bin/bash
# NATS server (nats-server, Go) with its WebSocket listener on 127.0.0.1:PORT (plain ws, no_tls), for the wsfp lab.
# usage: nats.sh PORT NATS_SERVER_BINARY [VARIANT]
#   VARIANT: base (default: websocket compression false, max_payload 1 MB, the server's defaults)
#            compress  (websocket { compression: true }: permessage-deflate offered back to a client that asks)
#            smallpay  (max_payload: 4096: the INFO it pushes says "max_payload":4096)
# The NATS client port (TCP, not WebSocket) is needed by nats-server; it is bound to 127.0.0.1 on a port the kernel
# picks (port: -1), so it never clashes with the lab's ports. No monitoring port, no cluster, no JetStream.
# Every WebSocket connection is a NATS client: the server sends `INFO {...}` first, unasked, then answers PING with PONG.
set -eu
PORT=$1; BIN=$2; VARIANT=${3:-base}
DIR=$(mktemp -d "${TMPDIR:-/tmp}/wsfp-nats-$PORT.XXXXXX")
trap 'rm -rf "$DIR"' EXIT
COMP=false; PAY=1048576
case "$VARIANT" in
  base) ;;
  compress) COMP=true ;;
  smallpay) PAY=4096 ;;
  *) echo "nats.sh: unknown variant $VARIANT" >&2; exit 2 ;;
esac
cat > "$DIR/nats.conf" <<CONF
# written by lab/apps/brokers/nats.sh ($VARIANT)
host: 127.0.0.1
port: -1
max_payload: $PAY
websocket {
  host: 127.0.0.1
  port: $PORT
  no_tls: true
  compression: $COMP
}
CONF
# not exec: the trap removes the config dir when the server exits (stop.sh kills the whole process group)
"$BIN" -c "$DIR/nats.conf" &
wait $!
