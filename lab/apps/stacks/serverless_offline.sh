#!/bin/bash
# serverless-offline (Serverless Framework 3 plugin) emulating API Gateway WebSockets, app lab/apps/stacks/serverless/.
# usage: serverless_offline.sh NPMDIR PORT [MODE]   (NPMDIR holds node_modules/serverless + serverless-offline)
#   The WebSocket server listens on PORT (any path; API Gateway's would be /STAGE); serverless-offline also opens its
#   lambda invoke port, here PORT+50 (no HTTP events, so no httpPort server). MODE: echo | silent | push (handler.js).
# The service is copied to NPMDIR/service-PORT (serverless finds the plugin in NPMDIR/node_modules from there);
# --useInProcess: handlers run in the main thread (with worker threads, parallel connections each cold-start a worker
# and the echo sometimes came after the scanner's frame timeout: the evidence moved between runs).
# node_survive_ws.js (preload): serverless-offline sets no error listener on its sockets, a bad frame would end the process.
# HOME is that dir too (serverless writes its .serverlessrc there). Telemetry, notifications and AWS lookups are off.
set -eu
D="$(cd "$(dirname "$0")" && pwd)"; NPMDIR=$1; PORT=$2; MODE=${3:-echo}
S=$NPMDIR/service-$PORT
rm -rf "$S"; mkdir -p "$S"; cp "$D/serverless/serverless.yml" "$D/serverless/handler.js" "$S/"
cd "$S"
export HOME=$S WSFP_SLS_MODE=$MODE WSFP_SLS_PORT=$PORT
export SLS_TELEMETRY_DISABLED=1 SLS_TRACKING_DISABLED=1 SLS_NOTIFICATIONS_MODE=off SLS_INTERACTIVE_SETUP_DISABLE=1 \
  SLS_DEPRECATION_DISABLE='*' SLS_DISABLE_AUTO_UPDATE=1 AWS_ACCESS_KEY_ID=wsfplab AWS_SECRET_ACCESS_KEY=wsfplab \
  AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true CI=1
# --no-experimental-require-module: Node 20.19+ require()s ES modules, and serverless 3 then fails on serverless-offline
# 12.x (ERR_REQUIRE_ASYNC_MODULE) instead of falling back to import()
exec node --no-experimental-require-module -r "$D/node_survive_ws.js" "$NPMDIR/node_modules/serverless/bin/serverless.js" offline start --host 127.0.0.1 \
  --websocketPort "$PORT" --lambdaPort $((PORT + 50)) --noPrependStageInUrl --useInProcess
