#!/bin/bash
# ttyd (terminal over WebSocket, C on libwebsockets + libuv) on 127.0.0.1:PORT running a harmless command, for the wsfp lab.
# usage: ttyd.sh PORT TTYD_BINARY [VARIANT]
#   VARIANT: base (default): `ttyd -i 127.0.0.1 -p PORT cat` (read-only: client input is ignored), WebSocket at /ws
#            writable: -W (client input goes to the pty, so `cat` echoes it back) and -P 1 (WebSocket ping every 1 s)
#            basepath: -b /term (the WebSocket moves to /term/ws) and -m 1 (at most one client at a time)
# ttyd speaks its own protocol on subprotocol `tty`: it sends nothing until the client's first (JSON) message, then
# '1'+window title and '2'+preferences as binary frames, then '0'+pty output.
# The binary is ttyd 1.7.7 built like its release binaries (static libwebsockets 4.3.3 with libuv and extensions) less
# one line: upstream ttyd registers lws's permessage-deflate callback under two names ("permessage-deflate" and
# "deflate-frame"); a handshake offering both (wsfp's probe 400 does) gets both accepted and the process dies of a
# double free (munmap_chunk(): invalid pointer), so a scan kills it. The lab build drops the "deflate-frame" alias
# (lab/variants/install_brokers.sh; deflate-frame is a pre-RFC 7692 draft) and so survives the scan.
set -eu
PORT=$1; BIN=$2; VARIANT=${3:-base}
case "$VARIANT" in
  base) EXTRA=() ;;
  writable) EXTRA=(-W -P 1) ;;
  basepath) EXTRA=(-b /term -m 1) ;;
  *) echo "ttyd.sh: unknown variant $VARIANT" >&2; exit 2 ;;
esac
exec "$BIN" -i 127.0.0.1 -p "$PORT" "${EXTRA[@]}" cat
