// Bun.serve WebSocket app (Bun's server is uWebSockets, vendored in the bun binary), any Bun 1.x.
// usage: bun bun_ws.js PORT [echo|silent|push] [OPTION ...]
//   echo: echo every message, text as text, binary as binary   silent: read, never send
//   push: never echo, a text message every 100 ms
//   OPTIONs (Bun.serve's `websocket` options; default: Bun's): deflate (perMessageDeflate: true),
//   maxpayload=N (maxPayloadLength), idle=N (idleTimeout, s), nopings (sendPings: false),
//   path=/x (upgrade on /x only; default: /ws and /)
// The upgrade paths answer a request that is not a WebSocket upgrade with 426 "Upgrade Required", any other path
// with 404 "Not Found" (the app's responses; Bun adds Date, Content-Length, Content-Type).
// Prints Bun's version and the options to stderr (the run log), nothing on the wire.
const args = process.argv.slice(2);
const port = +(args[0] || 9001);
const mode = args[1] || 'echo';
if (!['echo', 'silent', 'push'].includes(mode)) { console.error(`unknown mode ${mode}`); process.exit(2); }
const ws = {};
let paths = ['/ws', '/'];
for (const o of args.slice(2)) {
  const [k, v] = o.split('=');
  if (k === 'deflate') ws.perMessageDeflate = true;
  else if (k === 'maxpayload') ws.maxPayloadLength = +v;
  else if (k === 'idle') ws.idleTimeout = +v;
  else if (k === 'nopings') ws.sendPings = false;
  else if (k === 'path') paths = [v];
  else { console.error(`unknown option ${o}`); process.exit(2); }
}
console.error(`bun ${Bun.version} mode=${mode} paths=${paths.join(',')} websocket options=${JSON.stringify(ws)}`);
Bun.serve({
  hostname: '127.0.0.1',
  port,
  fetch(req, server) {
    const path = new URL(req.url).pathname;
    if (!paths.includes(path)) return new Response('Not Found', { status: 404 });
    if (server.upgrade(req)) return undefined; // 101 sent by Bun
    return new Response('Upgrade Required', { status: 426 });
  },
  websocket: {
    ...ws,
    open(sock) {
      if (mode !== 'push') return;
      let seq = 0;
      sock.data = setInterval(() => sock.send(JSON.stringify({ seq: ++seq, uptime: process.uptime() })), 100);
    },
    message(sock, msg) {
      if (mode === 'echo') sock.send(msg); // string -> text frame, Buffer -> binary frame
    },
    close(sock) {
      if (sock.data) clearInterval(sock.data);
    },
  },
});
