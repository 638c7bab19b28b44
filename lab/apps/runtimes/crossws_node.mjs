// crossws (unjs; cross-runtime WebSocket hooks) on Node's http server through its Node adapter
// (crossws/adapters/node), which runs a copy of `ws` bundled inside crossws. Any crossws 0.2.x-0.4.x.
// usage: node crossws_node.mjs CROSSWS_INSTALL_DIR PORT [echo|silent|push] [OPTION ...]
//   CROSSWS_INSTALL_DIR: an npm install dir holding node_modules/crossws (an ESM-only package: NODE_PATH does not
//   reach `import`, so the adapter is imported by path)
//   echo: echo every message, text as text, binary as binary   silent: read, never send
//   push: never echo, a text message every 100 ms
//   OPTIONs: deflate (serverOptions.perMessageDeflate: true; default off), idle=N (crossws >= 0.4 idleTimeout, s:
//   one sweep timer pings every open connection each N s, whenever it was opened, so a scan sees the ping or not by
//   chance (default 30: 2 of 15 lab scans caught one); 0: none), path=/x (upgrade on /x only; default:
//   /ws and /)
// Plain HTTP: 426 "Upgrade Required" on an upgrade path, 404 "Not Found" elsewhere (the app's, from node:http).
// Prints crossws's version and the options to stderr (the run log), nothing on the wire.
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
const [dir, portArg, modeArg, ...opts] = process.argv.slice(2);
const port = +(portArg || 9001);
const mode = modeArg || 'echo';
if (!dir || !['echo', 'silent', 'push'].includes(mode)) { console.error('usage: crossws_node.mjs DIR PORT [echo|silent|push] [OPTION ...]'); process.exit(2); }
const pkg = `${dir}/node_modules/crossws`;
const version = JSON.parse(readFileSync(`${pkg}/package.json`)).version;
const serverOptions = {};
const adapterOptions = {};
let paths = ['/ws', '/'];
for (const o of opts) {
  const [k, v] = o.split('=');
  if (k === 'deflate') serverOptions.perMessageDeflate = true;
  else if (k === 'idle') adapterOptions.idleTimeout = +v;
  else if (k === 'path') paths = [v];
  else { console.error(`unknown option ${o}`); process.exit(2); }
}
const crossws = (await import(pathToFileURL(`${pkg}/dist/adapters/node.mjs`).href)).default;
console.error(`crossws ${version} (node ${process.version}) mode=${mode} paths=${paths.join(',')} serverOptions=${JSON.stringify(serverOptions)} options=${JSON.stringify(adapterOptions)}`);
// the raw ws socket under a peer (crossws >= 0.3: peer._internal.ws; 0.2: peer.ctx.node.ws), only to learn whether a
// message was binary on 0.3.x, whose Message drops ws's isBinary (0.4 gives text as a string, 0.2 has isBinary)
const rawWs = (peer) => peer._internal?.ws || peer.ctx?.node?.ws;
const timers = new Map();
const lastBinary = new WeakMap();
const ws = crossws({
  ...adapterOptions,
  serverOptions,
  hooks: {
    open(peer) {
      const raw = rawWs(peer);
      if (raw) raw.on('message', (_d, isBinary) => lastBinary.set(peer, isBinary)); // registered before crossws's own
      if (mode !== 'push') return;
      let seq = 0;
      timers.set(peer, setInterval(() => peer.send(JSON.stringify({ seq: ++seq, uptime: process.uptime() })), 100));
    },
    message(peer, message) {
      if (mode !== 'echo') return;
      const d = message.rawData;
      const binary = typeof d === 'string' ? false : (message.isBinary ?? lastBinary.get(peer) ?? true);
      // binary named explicitly: crossws 0.2 passes `binary: options?.binary` to ws, so a Buffer went out as text
      peer.send(binary ? d : (typeof d === 'string' ? d : message.text()), { binary });
    },
    close(peer) { clearInterval(timers.get(peer)); timers.delete(peer); },
    error(peer) { clearInterval(timers.get(peer)); timers.delete(peer); },
  },
});
const server = createServer((req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  const [code, body] = paths.includes(path) ? [426, 'Upgrade Required'] : [404, 'Not Found'];
  res.writeHead(code, { 'Content-Type': 'text/plain' }).end(body);
});
server.on('upgrade', (req, socket, head) => {
  socket.on('error', () => {});
  const path = new URL(req.url, 'http://x').pathname;
  if (!paths.includes(path)) { socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nNot Found'); return; }
  ws.handleUpgrade(req, socket, head);
});
server.listen(port, '127.0.0.1');
