// Variant app for sockjs-node (faye-websocket inside). Raw WebSocket path: /echo/websocket (as node_sockjs.js).
// usage: node node_sockjs_v.js PORT [echo|silent|push|close3] [OPTION ...]
//   echo | silent (read, never send) | push (never echo, a message every 100 ms) | close3 (echo 3, then close 1000)
//   OPTIONs (sockjs server options; default: the library's): heartbeat=MS (heartbeat_delay)
// Prints the loaded versions to stderr (the run log), nothing on the wire.
const http = require('http');
const sockjs = require('sockjs');
process.on('uncaughtException', () => {}); // as node_sockjs.js: sockjs can throw ECONNRESET on reset connections
const port = +(process.argv[2] || 9001);
const mode = process.argv[3] || 'echo';
if (!['echo', 'silent', 'push', 'close3'].includes(mode)) { console.error(`unknown mode ${mode}`); process.exit(2); }
const opts = { log: () => {} };
for (const o of process.argv.slice(4)) {
  const [k, v] = o.split('=');
  if (k === 'heartbeat') opts.heartbeat_delay = +v;
  else { console.error(`unknown option ${o}`); process.exit(2); }
}
// pkgDir(p, from): the dir package p resolves to (from the app, or from inside package dir `from`); ver: its version
const pkgDir = (p, from) => {
  const r = from ? require('module').createRequire(`${from}/package.json`) : require;
  for (const d of r.resolve.paths(p) || []) if (require('fs').existsSync(`${d}/${p}/package.json`)) return `${d}/${p}`;
  return null;
};
const ver = (p, from) => { const d = pkgDir(p, from); return d ? JSON.parse(require('fs').readFileSync(`${d}/package.json`)).version : null; };
console.error(`sockjs ${ver('sockjs')} faye-websocket ${ver('faye-websocket', pkgDir('sockjs'))} websocket-driver ${ver('websocket-driver', pkgDir('faye-websocket', pkgDir('sockjs')))} mode=${mode} options=${process.argv.slice(4).join(',')}`);
const echo = sockjs.createServer(opts);
echo.on('connection', (conn) => {
  let n = 0;
  conn.on('data', (m) => {
    if (mode === 'silent' || mode === 'push') return;
    conn.write(m);
    if (mode === 'close3' && ++n === 3) conn.close(1000, 'Normal closure');
  });
  if (mode === 'push') {
    let seq = 0;
    const t = setInterval(() => conn.write(JSON.stringify({ seq: ++seq, uptime: process.uptime() })), 100);
    conn.on('close', () => clearInterval(t));
  }
});
const server = http.createServer();
echo.installHandlers(server, { prefix: '/echo' });
server.listen(port, '127.0.0.1');
