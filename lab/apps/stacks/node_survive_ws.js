// Preload (node -r) for stacks that set no 'error' listener on their `ws` sockets (subscriptions-transport-ws,
// serverless-offline): ws sends its close frame (1002 / 1007 / 1009 ...) and only then emits 'error' on the
// WebSocket; with no listener that emit throws and the whole process exits (serverless also exits from its own
// uncaughtException handler). Here such an unheard 'error' of a ws WebSocket is logged and dropped instead, so the
// server keeps serving the next connection. Nothing on the wire changes (the close frame is already written).
const EventEmitter = require('events');
const emit = EventEmitter.prototype.emit;
EventEmitter.prototype.emit = function (ev, ...args) {
  if (ev === 'error' && this.listenerCount('error') === 0 && this.constructor && this.constructor.name === 'WebSocket'
      && '_receiver' in this) {
    const e = args[0];
    console.error(`ws error without a listener (survived): ${e && e.code ? e.code + ' ' : ''}${e && e.message}`);
    return false;
  }
  return emit.call(this, ev, ...args);
};
