// Variant app for faye-websocket (websocket-driver inside) on node:http.
// usage: node node_faye_websocket_v.js PORT [echo|silent|push|close3] [OPTION ...]
//   echo | silent (read, never send) | push (never echo, text every 100 ms) | close3 (echo 3 messages, then close 1000)
//   OPTIONs (faye-websocket options; default: the library's): deflate (extensions: [permessage-deflate], npm
//   permessage-deflate), maxlength=N (maxLength), ping=S (server pings every S seconds)
// A plain HTTP request gets an empty 404. Prints the loaded versions to stderr (the run log), nothing on the wire.
const http = require('http');
const WebSocket = require('faye-websocket');
const port = +(process.argv[2] || 9001);
const mode = process.argv[3] || 'echo';
// pkgDir(p, from): the dir package p resolves to (from the app, or from inside package dir `from`); ver: its version
const pkgDir = (p, from) => {
  const r = from ? require('module').createRequire(`${from}/package.json`) : require;
  for (const d of r.resolve.paths(p) || []) if (require('fs').existsSync(`${d}/${p}/package.json`)) return `${d}/${p}`;
  return null;
};
const ver = (p, from) => { const d = pkgDir(p, from); return d ? JSON.parse(require('fs').readFileSync(`${d}/package.json`)).version : null; };
if (!['echo', 'silent', 'push', 'close3'].includes(mode)) { console.error(`unknown mode ${mode}`); process.exit(2); }
const opts = {};
for (const o of process.argv.slice(4)) {
  const [k, v] = o.split('=');
  if (k === 'deflate') opts.extensions = [require('permessage-deflate')];
  else if (k === 'maxlength') opts.maxLength = +v;
  else if (k === 'ping') opts.ping = +v;
  else { console.error(`unknown option ${o}`); process.exit(2); }
}
console.error(`faye-websocket ${ver('faye-websocket')} websocket-driver ${ver('websocket-driver', pkgDir('faye-websocket'))} mode=${mode} options=${process.argv.slice(4).join(',')}`);
const server = http.createServer((req, res) => { res.writeHead(404); res.end(); });
server.on('upgrade', (req, socket, body) => {
  if (!WebSocket.isWebSocket(req)) return socket.destroy();
  const ws = new WebSocket(req, socket, body, null, opts);
  let n = 0;
  ws.on('message', (ev) => {
    if (mode === 'silent' || mode === 'push') return;
    ws.send(ev.data);
    if (mode === 'close3' && ++n === 3) ws.close(1000);
  });
  if (mode === 'push') {
    let seq = 0;
    const t = setInterval(() => ws.send(JSON.stringify({ seq: ++seq, uptime: process.uptime() })), 100);
    ws.on('close', () => clearInterval(t));
  }
});
server.listen(port, '127.0.0.1');
