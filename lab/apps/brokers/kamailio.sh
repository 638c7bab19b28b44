#!/bin/bash
# Kamailio with SIP over WebSocket on 127.0.0.1:PORT (kamailio.cfg), in the foreground, for the wsfp lab.
# usage: kamailio.sh PORT [VARIANT]
#   VARIANT: base (default) | nosig (server_signature=no: no Server header) | ping (WebSocket keepalive Ping every ~2 s)
#            | msrp (subprotocols sip and msrp)
# Runs as the invoking user with its own runtime dir (never the system service, whose config is not read).
set -eu
PORT=$1; VARIANT=${2:-base}
HERE="$(cd "$(dirname "$0")" && pwd)"
DIR=$(mktemp -d "${TMPDIR:-/tmp}/wsfp-kamailio-$PORT.XXXXXX")
trap 'rm -rf "$DIR"' EXIT
case "$VARIANT" in
  base) DEF=() ;;
  nosig) DEF=(-A WSFP_NOSIG) ;;
  ping) DEF=(-A WSFP_PING) ;;
  msrp) DEF=(-A WSFP_MSRP) ;;
  *) echo "kamailio.sh: unknown variant $VARIANT" >&2; exit 2 ;;
esac
# -DD: no daemon (children stay in this process group), -E: log to stderr, -m/-M: small shared/private memory
/usr/sbin/kamailio -f "$HERE/kamailio.cfg" -A "WSFP_PORT=$PORT" "${DEF[@]}" -DD -E -m 32 -M 4 -Y "$DIR" -P "$DIR/kamailio.pid" &
wait $!
