#!/bin/bash
# Eclipse Mosquitto (MQTT broker, C) with one WebSocket listener on 127.0.0.1:PORT, for the wsfp lab.
# usage: mosquitto.sh PORT MOSQUITTO_BINARY [VARIANT]
#   VARIANT: base (default): `listener PORT 127.0.0.1` + `protocol websockets`, anonymous, no persistence
#            httpdir: the same listener also serves static files (http_dir): a plain GET gets a file, not lws's 403
# Mosquitto's WebSocket layer is libwebsockets (lws protocols "mqtt" and "mqttv3.1"; it answers with the one the client
# offers). MQTT is client-first: the broker volunteers nothing until the client's CONNECT (then CONNACK).
# Run as a user process with its own config (never the system service); as root it drops to the user `mosquitto`
# (or `nobody`), so the config and http_dir live in a world-readable temp dir, removed when the broker exits.
set -eu
PORT=$1; BIN=$2; VARIANT=${3:-base}
DIR=$(mktemp -d "${TMPDIR:-/tmp}/wsfp-mosquitto-$PORT.XXXXXX"); chmod 755 "$DIR"
trap 'rm -rf "$DIR"' EXIT
{ echo "# written by lab/apps/brokers/mosquitto.sh ($VARIANT)"
  echo "listener $PORT 127.0.0.1"
  echo "protocol websockets"
  echo "allow_anonymous true"
  echo "persistence false"
  echo "log_dest stdout"
  echo "log_type error"
  echo "log_type warning"
  echo "log_type notice"
  case "$VARIANT" in
    base) ;;
    httpdir) mkdir -p "$DIR/www"; echo '<html><body>mqtt over websockets</body></html>' > "$DIR/www/index.html"
             chmod -R a+rX "$DIR/www"; echo "http_dir $DIR/www" ;;
    *) echo "mosquitto.sh: unknown variant $VARIANT" >&2; exit 2 ;;
  esac
} > "$DIR/mosquitto.conf"
chmod 644 "$DIR/mosquitto.conf"
"$BIN" -c "$DIR/mosquitto.conf" &
wait $!
