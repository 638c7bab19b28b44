// Variant app for ws (same library as node_ws.js, different app behaviour).
// usage: node node_ws_variant.js PORT silent|push
//   silent: accept, discard every message, never send a data message
//   push:   accept, never echo, send a text message every 100 ms (like STEWS's ws server-stats app)
const { WebSocketServer, WebSocket } = require('ws');
const port = +(process.argv[2] || 9001);
const mode = process.argv[3] || 'silent';
if (mode !== 'silent' && mode !== 'push') { console.error(`unknown mode ${mode} (silent|push)`); process.exit(2); }
const wss = new WebSocketServer({ host: '127.0.0.1', port });
wss.on('connection', (ws) => {
  ws.on('error', () => {}); // as node_ws.js: survive bad frames
  ws.on('message', () => {}); // read and discard
  if (mode === 'push') {
    let seq = 0;
    const t = setInterval(() => {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ seq: ++seq, uptime: process.uptime() }));
    }, 100);
    ws.on('close', () => clearInterval(t));
  }
});
