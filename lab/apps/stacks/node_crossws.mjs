// crossws (unjs) with its Node.js adapter (crossws/adapters/node) on a plain node:http server; echo on /ws.
// usage: node node_crossws.mjs PORT [MODE]   (NODE_PATH selects the crossws release: the adapter is an ES module, so
//   it is imported by file from the first NODE_PATH entry, where bare ESM imports would ignore NODE_PATH)
//   MODE echo (default): echo text as text, binary as binary
//   MODE silent: reads, never sends.  MODE push: never echoes; sends a text message every 100 ms
//   MODE idle1: echo, with idleTimeout 1 s (crossws >= 0.4: its heartbeat sweep pings every live socket with
//   `crossws-ping` each second and terminates one that did not answer since the last sweep; default 30 s, one timer
//   for all sockets, so whether a connection sees the ping depends on the timer's phase)
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
const port = +(process.argv[2] || 9001);
const mode = process.argv[3] || 'echo';
const root = join((process.env.NODE_PATH || '').split(':')[0], 'crossws');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
let ent = pkg.exports['./adapters/node'];
while (typeof ent === 'object') ent = ent.import || ent.default || ent.node;
const adapter = (await import(pathToFileURL(join(root, ent)).href)).default;
const timers = new Map();
const hooks = {
  open(peer) {
    if (mode === 'push') { let n = 0; timers.set(peer, setInterval(() => peer.send(`push ${n++}`), 100)); }
  },
  message(peer, message) {
    if (mode !== 'echo' && mode !== 'idle1') return;
    // text frames back as text, binary as binary (message.rawData: the adapter's Buffer / ArrayBuffer)
    peer.send(message.isBinary ? message.rawData : message.text(), message.isBinary ? { binary: true } : undefined);
  },
  close(peer) { clearInterval(timers.get(peer)); timers.delete(peer); },
  error(peer) { clearInterval(timers.get(peer)); timers.delete(peer); },
};
const ws = adapter(mode === 'idle1' ? { hooks, idleTimeout: 1 } : { hooks });
const server = createServer((req, res) => { res.writeHead(404); res.end('not found'); });
server.on('upgrade', (req, socket, head) => {
  if (new URL(req.url, 'http://x').pathname !== '/ws') { socket.end('HTTP/1.1 404 Not Found\r\n\r\n'); return; }
  ws.handleUpgrade(req, socket, head);
});
server.listen(port, '127.0.0.1');
