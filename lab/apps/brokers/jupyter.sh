#!/bin/bash
# Jupyter Server on 127.0.0.1:PORT, token and password disabled, for the wsfp lab.
# usage: jupyter.sh PORT VENV [VARIANT]
#   VARIANT: base (default): the server's defaults (tornado WebSocket handlers, no compression), plus one python3 kernel
#              started at boot with a fixed id (wsfp_fixed_kernel.py), so both WebSockets have stable paths:
#              /api/kernels/00000000-0000-4000-8000-000000000001/channels  kernel channels (needs ipykernel)
#              /api/events/subscribe                                        the event bus (jupyter_server >= 2.0; 1.x: 404)
#            compress: tornado's permessage-deflate on (ServerApp.websocket_compression_options = {})
# Both WebSockets answer without auth here (token disabled); with a token, both need it.
# Config, data and runtime dirs are a temp dir (nothing is written under ~), removed when the server exits.
set -eu
PORT=$1; VENV=$2; VARIANT=${3:-base}
HERE="$(cd "$(dirname "$0")" && pwd)"
DIR=$(mktemp -d "${TMPDIR:-/tmp}/wsfp-jupyter-$PORT.XXXXXX")
trap 'rm -rf "$DIR"' EXIT
mkdir -p "$DIR/root" "$DIR/config" "$DIR/data" "$DIR/runtime" "$DIR/ipython"
export JUPYTER_CONFIG_DIR="$DIR/config" JUPYTER_DATA_DIR="$DIR/data" JUPYTER_RUNTIME_DIR="$DIR/runtime" IPYTHONDIR="$DIR/ipython"
export JUPYTER_PLATFORM_DIRS=0 PYTHONPATH="$HERE${PYTHONPATH:+:$PYTHONPATH}"
EXTRA=()
case "$VARIANT" in
  base) ;;
  compress) echo 'c.ServerApp.websocket_compression_options = {}' > "$DIR/config/jupyter_server_config.py" ;;
  *) echo "jupyter.sh: unknown variant $VARIANT" >&2; exit 2 ;;
esac
# jupyter_server 1.x has no IdentityProvider: its token is ServerApp.token (2.x still reads that, with a warning)
case "$("$VENV/bin/jupyter-server" --version 2>/dev/null)" in 1.*) TOKEN=--ServerApp.token= ;; *) TOKEN=--IdentityProvider.token= ;; esac
"$VENV/bin/jupyter-server" --ServerApp.ip=127.0.0.1 --ServerApp.port="$PORT" --ServerApp.port_retries=0 \
  "$TOKEN" --ServerApp.password= --ServerApp.open_browser=False --ServerApp.allow_root=True --ServerApp.root_dir="$DIR/root" \
  --ServerApp.jpserver_extensions="{'wsfp_fixed_kernel': True}" "${EXTRA[@]}" &
wait $!
