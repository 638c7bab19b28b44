// Variant app for express + express-ws (ws inside), express-ws 2.x-5.x.
// usage: node node_express_ws_v.js PORT [echo|silent|push|close3] [OPTION ...]
//   echo | silent (read, never send) | push (never echo, text every 100 ms) | close3 (echo 3 messages, then close 1000)
//   OPTIONs (wsOptions passed to ws; default: the library's): deflate (perMessageDeflate: true), maxpayload=N
// Prints the loaded versions to stderr (the run log), nothing on the wire.
const express = require('express');
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
console.error(`express-ws ${ver('express-ws')} express ${ver('express')} ws ${ver('ws', pkgDir('express-ws'))} mode=${mode} options=${JSON.stringify(wsOptions)}`);
const app = express();
require('express-ws')(app, null, { wsOptions });
app.ws('/', (ws) => {
  ws.on('error', () => {}); // as node_express_ws.js: survive bad frames
  let n = 0;
  ws.on('message', (m, second) => {
    if (mode === 'silent' || mode === 'push') return;
    const o = {}; // ws 8: second = isBinary; ws 1: flags {binary}; ws 2-7: none
    if (typeof second === 'boolean') o.binary = second;
    else if (second && typeof second === 'object' && 'binary' in second) o.binary = !!second.binary;
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
