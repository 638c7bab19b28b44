#!/bin/bash
# Node-RED with the echo flow node_red_flow.json (websocket in -> websocket out, listener path /ws/echo).
# usage: node_red.sh NPMDIR PORT [MODE]   NPMDIR = the install dir holding node_modules/node-red; MODE see node_red_settings.js
# userDir: NPMDIR/userdir-PORT (fresh flows.json + settings.js each start; Node-RED writes its .config.*.json there).
set -eu
D="$(cd "$(dirname "$0")" && pwd)"; NPMDIR=$1; PORT=$2; MODE=${3:-echo}
U=$NPMDIR/userdir-$PORT
mkdir -p "$U"; cp "$D/node_red_flow.json" "$U/flows.json"; cp "$D/node_red_settings.js" "$U/settings.js"
export WSFP_RED_PORT=$PORT WSFP_RED_MODE=$MODE NODE_RED_ENABLE_PROJECTS=false
exec node "$NPMDIR/node_modules/node-red/red.js" --userDir "$U" --settings "$U/settings.js" flows.json
