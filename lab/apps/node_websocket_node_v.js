// Variant app for websocket (WebSocket-Node by theturtle32).
// usage: node node_websocket_node_v.js PORT [echo|silent|push|close3] [OPTION ...]
//   echo | silent (read, never send) | push (never echo, text every 100 ms) | close3 (echo 3 messages, then close 1000)
//   OPTIONs (WebSocketServer config; default: the library's): maxframe=N (maxReceivedFrameSize), maxmessage=N
//   (maxReceivedMessageSize), keepalive=MS (keepaliveInterval; drop after keepaliveGracePeriod = MS),
//   nokeepalive (keepalive: false), fragment=N (fragmentationThreshold: outgoing messages over N bytes fragmented)
// Plain HTTP gets an empty 404 (as node_websocket_node.js). Prints the loaded version to stderr, nothing on the wire.
const http = require('http');
const WebSocketServer = require('websocket').server;
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
const server = http.createServer((req, res) => { res.writeHead(404); res.end(); });
const cfg = { httpServer: server, autoAcceptConnections: false };
for (const o of process.argv.slice(4)) {
  const [k, v] = o.split('=');
  if (k === 'maxframe') cfg.maxReceivedFrameSize = +v;
  else if (k === 'maxmessage') cfg.maxReceivedMessageSize = +v;
  else if (k === 'keepalive') { cfg.keepalive = true; cfg.keepaliveInterval = +v; cfg.keepaliveGracePeriod = +v; cfg.dropConnectionOnKeepaliveTimeout = true; }
  else if (k === 'nokeepalive') cfg.keepalive = false;
  else if (k === 'fragment') { cfg.fragmentOutgoingMessages = true; cfg.fragmentationThreshold = +v; }
  else { console.error(`unknown option ${o}`); process.exit(2); }
}
console.error(`websocket ${ver('websocket')} mode=${mode} options=${process.argv.slice(4).join(',')}`);
server.listen(port, '127.0.0.1');
const wss = new WebSocketServer(cfg);
wss.on('request', (request) => {
  const conn = request.accept(null, request.origin);
  let n = 0;
  conn.on('message', (m) => {
    if (mode === 'silent' || mode === 'push') return;
    if (m.type === 'utf8') conn.sendUTF(m.utf8Data); else conn.sendBytes(m.binaryData);
    if (mode === 'close3' && ++n === 3) conn.close(1000);
  });
  if (mode === 'push') {
    let seq = 0;
    const t = setInterval(() => { if (conn.connected) conn.sendUTF(JSON.stringify({ seq: ++seq, uptime: process.uptime() })); }, 100);
    conn.on('close', () => clearInterval(t));
  }
});
