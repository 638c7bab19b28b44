// Variant app for koa + koa-websocket (ws inside), koa-websocket 4.x-7.x (ws 2-8).
// usage: node node_koa_websocket_v.js PORT [echo|silent|push|close3] [OPTION ...]
//   echo | silent (read, never send) | push (never echo, text every 100 ms) | close3 (echo 3 messages, then close 1000)
//   OPTIONs (wsOptions passed to ws; default: the library's): deflate (perMessageDeflate: true), maxpayload=N
// Prints the loaded versions to stderr (the run log), nothing on the wire.
const Koa = require('koa');
const websockify = require('koa-websocket');
const port = +(process.argv[2] || 9001);
const mode = process.argv[3] || 'echo';
if (!['echo', 'silent', 'push', 'close3'].includes(mode)) { console.error(`unknown mode ${mode}`); process.exit(2); }
const wsOptions = {};
for (const o of process.argv.slice(4)) {
  const [k, v] = o.split('=');
  if (k === 'deflate') wsOptions.perMessageDeflate = true;
  else if (k === 'maxpayload') wsOptions.maxPayload = +v;
  else { console.error(`unknown option ${o}`); process.exit(2); }
}
// pkgDir(p, from): the dir package p resolves to (from the app, or from inside package dir `from`); ver: its version
const pkgDir = (p, from) => {
  const r = from ? require('module').createRequire(`${from}/package.json`) : require;
  for (const d of r.resolve.paths(p) || []) if (require('fs').existsSync(`${d}/${p}/package.json`)) return `${d}/${p}`;
  return null;
};
const ver = (p, from) => { const d = pkgDir(p, from); return d ? JSON.parse(require('fs').readFileSync(`${d}/package.json`)).version : null; };
console.error(`koa-websocket ${ver('koa-websocket')} koa ${ver('koa')} ws ${ver('ws', pkgDir('koa-websocket'))} mode=${mode} options=${JSON.stringify(wsOptions)}`);
const app = websockify(new Koa(), Object.keys(wsOptions).length ? wsOptions : undefined);
app.ws.use((ctx) => {
  const ws = ctx.websocket;
  let n = 0;
  ws.on('message', (m, second) => {
    if (mode === 'silent' || mode === 'push') return;
    const o = {}; // ws 8: second = isBinary; ws 2-7: none (a string is text, a Buffer binary)
    if (typeof second === 'boolean') o.binary = second;
    ws.send(m, o);
    if (mode === 'close3' && ++n === 3) ws.close(1000);
  });
  if (mode === 'push') {
    let seq = 0;
    const t = setInterval(() => { if (ws.readyState === 1) ws.send(JSON.stringify({ seq: ++seq, uptime: process.uptime() })); }, 100);
    ws.on('close', () => clearInterval(t));
  }
});
app.listen(port, '127.0.0.1');
