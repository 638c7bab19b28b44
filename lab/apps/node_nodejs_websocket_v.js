// Variant app for nodejs-websocket (sitegui).
// usage: node node_nodejs_websocket_v.js PORT [echo|silent|push|close3]
//   echo | silent (read, never send) | push (never echo, text every 100 ms) | close3 (echo 3 messages, then close 1000)
// Prints the loaded version to stderr (the run log), nothing on the wire.
const ws = require('nodejs-websocket');
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
console.error(`nodejs-websocket ${ver('nodejs-websocket')} mode=${mode}`);
ws.createServer((conn) => {
  let n = 0;
  const done = () => { if (mode === 'close3' && ++n === 3) conn.close(1000); };
  conn.on('text', (s) => { if (mode === 'echo' || mode === 'close3') { conn.sendText(s); done(); } });
  conn.on('binary', (inStream) => {
    const parts = [];
    inStream.on('data', (d) => parts.push(d));
    inStream.on('end', () => { if (mode === 'echo' || mode === 'close3') { conn.sendBinary(Buffer.concat(parts)); done(); } });
  });
  conn.on('error', () => {});
  if (mode === 'push') {
    let seq = 0;
    const t = setInterval(() => { if (conn.readyState === conn.OPEN) conn.sendText(JSON.stringify({ seq: ++seq, uptime: process.uptime() })); }, 100);
    conn.on('close', () => clearInterval(t));
  }
}).listen(port, '127.0.0.1');
