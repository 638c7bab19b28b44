#!/bin/bash
# ttyd (terminal over WebSocket, C on libwebsockets + libuv) on 127.0.0.1:PORT running a harmless command, for the wsfp lab.
# usage: ttyd.sh PORT TTYD_BINARY [VARIANT]
#   VARIANT: base (default): `ttyd -i 127.0.0.1 -p PORT cat` (read-only: client input is ignored), WebSocket at /ws
#            writable: -W (client input goes to the pty, so `cat` echoes it back) and -P 1 (WebSocket ping every 1 s)
#            basepath: -b /term (the WebSocket moves to /term/ws) and -m 1 (at most one client at a time)
# ttyd speaks its own protocol on subprotocol `tty`: it sends nothing until the client's first (JSON) message, then
# '1'+window title and '2'+preferences as binary frames, then '0'+pty output.
set -eu
PORT=$1; BIN=$2; VARIANT=${3:-base}
case "$VARIANT" in
  base) EXTRA=() ;;
  writable) EXTRA=(-W -P 1) ;;
  basepath) EXTRA=(-b /term -m 1) ;;
  *) echo "ttyd.sh: unknown variant $VARIANT" >&2; exit 2 ;;
esac
exec "$BIN" -i 127.0.0.1 -p "$PORT" "${EXTRA[@]}" cat
