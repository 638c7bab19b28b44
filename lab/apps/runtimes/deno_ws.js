// Deno.serve + Deno.upgradeWebSocket app (Deno's ext/websocket, fastwebsockets underneath; HTTP by hyper), Deno 1.46 and 2.x.
// usage: deno run --no-config --allow-net deno_ws.js PORT [echo|silent|push] [OPTION ...]
//   echo: echo every message, text as text, binary as binary   silent: read, never send
//   push: never echo, a text message every 100 ms
//   OPTIONs: idle=N (upgradeWebSocket idleTimeout, s; 0: no idle pings; default: Deno's, 120 s),
//   path=/x (upgrade on /x only; default: /ws and /)
// The upgrade paths answer a request that is not a WebSocket upgrade (or one upgradeWebSocket refuses) with 426
// "Upgrade Required", any other path with 404 "Not Found" (the app's responses).
// Prints Deno's version and the options to stderr (the run log), nothing on the wire.
const args = Deno.args;
const port = +(args[0] || 9001);
const mode = args[1] || 'echo';
if (!['echo', 'silent', 'push'].includes(mode)) { console.error(`unknown mode ${mode}`); Deno.exit(2); }
const up = {};
let paths = ['/ws', '/'];
for (const o of args.slice(2)) {
  const [k, v] = o.split('=');
  if (k === 'idle') up.idleTimeout = +v;
  else if (k === 'path') paths = [v];
  else { console.error(`unknown option ${o}`); Deno.exit(2); }
}
console.error(`deno ${Deno.version.deno} mode=${mode} paths=${paths.join(',')} upgradeWebSocket options=${JSON.stringify(up)}`);
Deno.serve({ hostname: '127.0.0.1', port, onListen() {} }, (req) => {
  const path = new URL(req.url).pathname;
  if (!paths.includes(path)) return new Response('Not Found', { status: 404 });
  let r;
  try { r = Deno.upgradeWebSocket(req, up); } // throws on a request that is not a valid upgrade
  catch { return new Response('Upgrade Required', { status: 426 }); }
  const { socket, response } = r;
  let timer = null;
  socket.onopen = () => {
    if (mode !== 'push') return;
    let seq = 0;
    timer = setInterval(() => {
      if (socket.readyState === 1) socket.send(JSON.stringify({ seq: ++seq, uptime: performance.now() / 1000 }));
    }, 100);
  };
  socket.onmessage = (e) => { if (mode === 'echo') socket.send(e.data); }; // string -> text, ArrayBuffer -> binary
  socket.onerror = () => {};
  socket.onclose = () => { if (timer) clearInterval(timer); };
  return response;
});
