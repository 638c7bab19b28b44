#!/bin/bash
# Yaws 2.1.1 (Erlang/OTP) websocket echo via appmod yaws_echo.erl, 127.0.0.1 only, foreground ; usage: PORT
PORT=${1:-9001}; D=${WSFP_LAB_RUN:-${WSFP_LAB:-/tmp/wsfp-lab}/run}/yaws-$PORT; SRC="$(cd "$(dirname "$0")" && pwd)"
mkdir -p $D/ebin $D/logs $D/www
erlc -o $D/ebin "$SRC/yaws_echo.erl" || exit 1
cat > $D/yaws.conf <<CONF
logdir = $D/logs
ebin_dir = $D/ebin
<server localhost>
  port = $PORT
  listen = 127.0.0.1
  docroot = $D/www
  appmods = <"/", yaws_echo>
</server>
CONF
exec /usr/bin/yaws -i --erlarg -noinput --id lab$PORT --conf $D/yaws.conf < /dev/null
