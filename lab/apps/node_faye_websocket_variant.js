// Variant app for faye-websocket (same library as node_faye_websocket.js, different app behaviour).
// usage: node node_faye_websocket_variant.js PORT silent|push
//   silent: accept, discard every message, never send a data message
//   push:   accept, never echo, send a text message every 100 ms (like STEWS's ws server-stats app)
const http = require('http');
const WebSocket = require('faye-websocket');
const port = +(process.argv[2] || 9001);
const mode = process.argv[3] || 'silent';
if (mode !== 'silent' && mode !== 'push') { console.error(`unknown mode ${mode} (silent|push)`); process.exit(2); }
const server = http.createServer((req, res) => { res.end('websocket variant lab\n'); });
server.on('upgrade', (req, socket, body) => {
  if (!WebSocket.isWebSocket(req)) return socket.destroy();
  const ws = new WebSocket(req, socket, body);
  ws.on('message', () => {}); // read and discard
  if (mode === 'push') {
    let seq = 0;
    const t = setInterval(() => ws.send(JSON.stringify({ seq: ++seq, uptime: process.uptime() })), 100);
    ws.on('close', () => clearInterval(t));
  }
});
server.listen(port, '127.0.0.1');
