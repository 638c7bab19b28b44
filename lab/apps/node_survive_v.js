// Preload (node -r) for old library releases that throw on some inputs under current Node.js (e.g. websocket-driver
// < 0.7.4: `new Buffer(undefined)` in its draft-75 parser): log the exception to stderr and keep serving, as
// node_sockjs.js does for sockjs. Nothing on the wire.
process.on('uncaughtException', (e) => { console.error(`uncaught exception (survived): ${e && e.stack ? e.stack.split('\n').slice(0, 3).join(' | ') : e}`); });
