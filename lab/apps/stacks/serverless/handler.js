// serverless-offline WebSocket handlers (AWS API Gateway WebSocket API emulation), one per MODE (env WSFP_SLS_MODE):
//   echo (default): $connect / $disconnect return 200; $default returns the message as its body, which
//        serverless-offline sends back to the client (routeResponseSelectionExpression: $default in serverless.yml)
//   silent: $default returns no body (reads, never sends)
//   push: never echoes; from $connect on, POSTs a text message every 100 ms to the emulated management API
//        (POST /@connections/{connectionId} on the websocket port) until it answers 410 Gone (lambdas run in-process)
'use strict';
const mode = process.env.WSFP_SLS_MODE || 'echo';
const port = process.env.WSFP_SLS_PORT;

exports.connect = async (event) => {
  if (mode === 'push') {
    const id = event.requestContext.connectionId;
    let n = 0;
    const t = setInterval(async () => {
      try {
        const r = await fetch(`http://127.0.0.1:${port}/@connections/${id}`, { method: 'POST', body: `push ${n++}` });
        if (r.status === 410 || r.status === 404) clearInterval(t);
      } catch (e) { clearInterval(t); }
    }, 100);
  }
  return { statusCode: 200 };
};
exports.disconnect = async () => ({ statusCode: 200 });
exports.message = async (event) => (mode === 'echo' ? { statusCode: 200, body: event.body } : { statusCode: 200 });
