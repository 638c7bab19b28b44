// Variant app for ws, any release 1.x-8.x (old APIs: require('ws').Server, message (data, flags) before 8).
// usage: node node_ws_v.js PORT [echo|silent|push|close3] [OPTION ...]
//   echo: echo every message (as node_ws.js)   silent: read, never send   push: never echo, text every 100 ms
//   close3: echo 3 messages, then close 1000
//   OPTIONs (ws server options; default: the library's): deflate (perMessageDeflate: true), maxpayload=N,
//   skiputf8 (skipUTF8Validation: true), noautopong (autoPong: false), noclienttracking (clientTracking: false)
// Prints the loaded ws version to stderr (the run log), nothing on the wire.
const WS = require('ws');
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
const opts = { host: '127.0.0.1', port };
for (const o of process.argv.slice(4)) {
  const [k, v] = o.split('=');
  if (k === 'deflate') opts.perMessageDeflate = true;
  else if (k === 'maxpayload') opts.maxPayload = +v;
  else if (k === 'skiputf8') opts.skipUTF8Validation = true;
  else if (k === 'noautopong') opts.autoPong = false;
  else if (k === 'noclienttracking') opts.clientTracking = false;
  else { console.error(`unknown option ${o}`); process.exit(2); }
}
console.error(`ws ${ver('ws')} mode=${mode} options=${JSON.stringify(opts)}`);
const Server = WS.WebSocketServer || WS.Server;
const wss = new Server(opts);
wss.on('connection', (ws) => {
  ws.on('error', () => {}); // as node_ws.js: survive bad frames
  let n = 0;
  ws.on('message', (data, second) => {
    if (mode === 'silent' || mode === 'push') return;
    const o = {}; // ws 8: second = isBinary; ws 1: flags {binary}; ws 2-7: none (a string is text, a Buffer binary)
    if (typeof second === 'boolean') o.binary = second;
    else if (second && typeof second === 'object' && 'binary' in second) o.binary = !!second.binary;
    ws.send(data, o);
    if (mode === 'close3' && ++n === 3) ws.close(1000);
  });
  if (mode === 'push') {
    let seq = 0;
    const t = setInterval(() => {
      if (ws.readyState === 1) ws.send(JSON.stringify({ seq: ++seq, uptime: process.uptime() }));
    }, 100);
    ws.on('close', () => clearInterval(t));
  }
});
