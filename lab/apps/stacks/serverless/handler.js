// serverless-offline WebSocket handlers (AWS API Gateway WebSocket API emulation), one per MODE (env WSFP_SLS_MODE):
//   echo (default): $connect / $disconnect return 200; $default returns the message as its body, which
//        serverless-offline sends back to the client (routeResponseSelectionExpression: $default in serverless.yml)
//   silent: $default returns no body (reads, never sends)
//   push: never echoes; from $connect on, POSTs a text message every 100 ms to the emulated management API
//        (POST /@connections/{connectionId} on the websocket port) until it answers 410 Gone (serverless_offline.sh runs
//        the lambdas in-process, so the timer outlives the $connect invocation)
'use strict';
const mode = process.env.WSFP_SLS_MODE || 'echo';
const port = process.env.WSFP_SLS_PORT;

const timers = new Map(); // connectionId -> push timer (in-process lambdas share this module)

exports.connect = async (event) => {
  if (mode === 'push') {
    const id = event.requestContext.connectionId;
    // the client is registered only after $connect returns: a 410 before the first delivered message is not the end
    let n = 0, sent = 0, early = 0;
    const stop = () => { clearInterval(timers.get(id)); timers.delete(id); };
    timers.set(id, setInterval(async () => {
      try {
        const r = await fetch(`http://127.0.0.1:${port}/@connections/${id}`, { method: 'POST', body: `push ${n}` });
        if (r.ok) { n++; sent++; } else if (sent > 0 || ++early > 20) stop();
      } catch (e) { stop(); }
    }, 100));
  }
  return { statusCode: 200 };
};
exports.disconnect = async (event) => {
  const id = event.requestContext.connectionId;
  clearInterval(timers.get(id)); timers.delete(id);
  return { statusCode: 200 };
};
exports.message = async (event) => (mode === 'echo' ? { statusCode: 200, body: event.body } : { statusCode: 200 });
