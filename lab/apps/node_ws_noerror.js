// Echo server: ws, like node_ws.js but WITHOUT an 'error' listener on the socket (as many real apps).
// ws emits 'error' on a protocol violation (e.g. an orphan continuation frame); with no listener Node
// throws it and the whole process exits. Kept for the scanner's safety checks: do not add the listener.
const { WebSocketServer } = require('ws');
const port = +(process.argv[2] || 9001);
const wss = new WebSocketServer({ host: '127.0.0.1', port });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
