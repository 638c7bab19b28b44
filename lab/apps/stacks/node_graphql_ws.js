// graphql-ws (protocol graphql-transport-ws) served by useServer() on a `ws` WebSocketServer, path /graphql.
// usage: node node_graphql_ws.js PORT [MODE]   (NODE_PATH selects the graphql-ws / ws / graphql release)
//   MODE echo (default): useServer's defaults (keepAlive: a WebSocket ping every 12 s; connection_init within 3 s)
//   MODE ping: keepAlive 1000 ms (a WebSocket ping frame every second)
// The schema: Query.hello, Subscription.echo(msg) (yields msg once), Subscription.greetings (5 texts).
// graphql-ws is a protocol, not an echo: the client must send connection_init, then subscribe.
const { WebSocketServer } = require('ws');
const { buildSchema } = require('graphql');
let useServer;
try { ({ useServer } = require('graphql-ws/use/ws')); }          // 6.x
catch (e) { ({ useServer } = require('graphql-ws/lib/use/ws')); } // 5.x
const port = +(process.argv[2] || 9001);
const mode = process.argv[3] || 'echo';
const schema = buildSchema(`
  type Query { hello: String }
  type Subscription { echo(msg: String!): String greetings: String }
`);
const roots = {
  query: { hello: () => 'world' },
  subscription: {
    echo: async function* ({ msg }) { yield { echo: msg }; },
    greetings: async function* () { for (const hi of ['Hi', 'Bonjour', 'Hola', 'Ciao', 'Zdravo']) yield { greetings: hi }; },
  },
};
const wss = new WebSocketServer({ host: '127.0.0.1', port, path: '/graphql' });
wss.on('error', () => {});
useServer({ schema, roots }, wss, mode === 'ping' ? 1000 : 12000);
