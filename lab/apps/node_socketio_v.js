// Variant app for socket.io, any release 1.x-4.x (1.x/2.x: EIO=3 path /socket.io/?EIO=3&transport=websocket;
// 3.x/4.x: EIO=4). Echo re-emits every event to its sender (as node_socketio.js; onAny before 3.x is emulated).
// usage: node node_socketio_v.js PORT [echo|silent|push|close3] [OPTION ...]
//   echo | silent (read, never send an event) | push (never echo, an event every 100 ms)
//   close3 (echo 3 events, then socket.disconnect(true): the server closes the connection)
//   OPTIONs (socket.io/engine.io options; default: the library's): deflate (perMessageDeflate: true),
//   nodeflate (perMessageDeflate: false), pinginterval=MS, pingtimeout=MS, maxbuffer=N (maxHttpBufferSize)
// Prints the loaded versions to stderr (the run log), nothing on the wire.
const http = require('http');
const sio = require('socket.io');
const port = +(process.argv[2] || 9001);
const mode = process.argv[3] || 'echo';
if (!['echo', 'silent', 'push', 'close3'].includes(mode)) { console.error(`unknown mode ${mode}`); process.exit(2); }
const opts = {};
for (const o of process.argv.slice(4)) {
  const [k, v] = o.split('=');
  if (k === 'deflate') opts.perMessageDeflate = true;
  else if (k === 'nodeflate') opts.perMessageDeflate = false;
  else if (k === 'pinginterval') opts.pingInterval = +v;
  else if (k === 'pingtimeout') opts.pingTimeout = +v;
  else if (k === 'maxbuffer') opts.maxHttpBufferSize = +v;
  else { console.error(`unknown option ${o}`); process.exit(2); }
}
// pkgDir(p, from): the dir package p resolves to (from the app, or from inside package dir `from`); ver: its version
const pkgDir = (p, from) => {
  const r = from ? require('module').createRequire(`${from}/package.json`) : require;
  for (const d of r.resolve.paths(p) || []) if (require('fs').existsSync(`${d}/${p}/package.json`)) return `${d}/${p}`;
  return null;
};
const ver = (p, from) => { const d = pkgDir(p, from); return d ? JSON.parse(require('fs').readFileSync(`${d}/package.json`)).version : null; };
console.error(`socket.io ${ver('socket.io')} engine.io ${ver('engine.io', pkgDir('socket.io'))} ws ${ver('ws', pkgDir('engine.io', pkgDir('socket.io')))} mode=${mode} options=${JSON.stringify(opts)}`);
const server = http.createServer();
const io = typeof sio.Server === 'function' && sio.Server !== sio ? new sio.Server(server, opts) : sio(server, opts);
const onAny = (s, fn) => {
  if (typeof s.onAny === 'function') return s.onAny(fn);
  const orig = s.onevent; // socket.io 1.x/2.x
  s.onevent = function (packet) { fn(...(packet.data || [])); return orig.call(this, packet); };
};
io.on('connection', (s) => {
  let n = 0;
  if (mode === 'echo' || mode === 'close3') {
    onAny(s, (ev, ...args) => {
      s.emit(ev, ...args);
      if (mode === 'close3' && ++n === 3) s.disconnect(true);
    });
  }
  if (mode === 'push') {
    let seq = 0;
    const t = setInterval(() => s.emit('message', { seq: ++seq, uptime: process.uptime() }), 100);
    s.on('disconnect', () => clearInterval(t));
  }
});
server.listen(port, '127.0.0.1');
