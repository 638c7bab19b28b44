// Variant app for fastify + fastify-websocket / @fastify/websocket (ws inside), any release: before @fastify/websocket
// 11 the handler gets a stream whose .socket is the ws socket; fastify < 4 listens with listen(port, host).
// usage: node node_fastify_websocket_v.js PORT [echo|silent|push|close3] [OPTION ...]
//   echo | silent (read, never send) | push (never echo, text every 100 ms) | close3 (echo 3 messages, then close 1000)
//   OPTIONs (ws options given to the plugin; default: the library's): deflate (perMessageDeflate: true), maxpayload=N
// Prints the loaded versions to stderr (the run log), nothing on the wire.
const port = +(process.argv[2] || 9001);
const mode = process.argv[3] || 'echo';
if (!['echo', 'silent', 'push', 'close3'].includes(mode)) { console.error(`unknown mode ${mode}`); process.exit(2); }
const options = {};
for (const o of process.argv.slice(4)) {
  const [k, v] = o.split('=');
  if (k === 'deflate') options.perMessageDeflate = true;
  else if (k === 'maxpayload') options.maxPayload = +v;
  else { console.error(`unknown option ${o}`); process.exit(2); }
}
// pkgDir(p, from): the dir package p resolves to (from the app, or from inside package dir `from`); ver: its version
const pkgDir = (p, from) => {
  const r = from ? require('module').createRequire(`${from}/package.json`) : require;
  for (const d of r.resolve.paths(p) || []) if (require('fs').existsSync(`${d}/${p}/package.json`)) return `${d}/${p}`;
  return null;
};
const ver = (p, from) => { const d = pkgDir(p, from); return d ? JSON.parse(require('fs').readFileSync(`${d}/package.json`)).version : null; };
const plugin = ver('@fastify/websocket') ? '@fastify/websocket' : 'fastify-websocket';
console.error(`${plugin} ${ver(plugin)} fastify ${ver('fastify')} ws ${ver('ws', pkgDir(plugin))} mode=${mode} options=${JSON.stringify(options)}`);
const fastify = require('fastify')();
fastify.register(require(plugin), Object.keys(options).length ? { options } : {});
fastify.register(async (f) => {
  f.get('/', { websocket: true }, (conn) => {
    const ws = conn.socket && typeof conn.socket.send === 'function' ? conn.socket : conn;
    ws.on('error', () => {});
    if (conn !== ws) conn.on('error', () => {}); // old plugins hand over a stream: survive its errors too
    let n = 0;
    ws.on('message', (m, isBinary) => {
      if (mode === 'silent' || mode === 'push') return;
      const o = {};
      if (typeof isBinary === 'boolean') o.binary = isBinary;
      ws.send(m, o);
      if (mode === 'close3' && ++n === 3) ws.close(1000);
    });
    if (mode === 'push') {
      let seq = 0;
      const t = setInterval(() => { if (ws.readyState === 1) ws.send(JSON.stringify({ seq: ++seq, uptime: process.uptime() })); }, 100);
      ws.on('close', () => clearInterval(t));
    }
  });
});
if (+ver('fastify').split('.')[0] < 4) fastify.listen(port, '127.0.0.1');
else fastify.listen({ host: '127.0.0.1', port });
