// subscriptions-transport-ws (Apollo's legacy protocol, subprotocol `graphql-ws`): SubscriptionServer on its bundled
// `ws` (7.x), path /graphql.
// usage: node node_subscriptions_transport_ws.js PORT [MODE]   (NODE_PATH selects the release)
//   MODE echo (default): no keepAlive.  MODE ka: keepAlive 1000 ms ({"type":"ka"} every second after connection_init)
// The schema: Query.hello, Subscription.echo(msg) (yields msg once).
const http = require('http');
const { execute, subscribe, buildSchema } = require('graphql');
const { SubscriptionServer } = require('subscriptions-transport-ws');
const port = +(process.argv[2] || 9001);
const mode = process.argv[3] || 'echo';
const schema = buildSchema(`
  type Query { hello: String }
  type Subscription { echo(msg: String!): String }
`);
const rootValue = {
  hello: () => 'world',
  echo: ({ msg }) => (async function* () { yield { echo: msg }; })(),
};
const server = http.createServer((req, res) => { res.writeHead(404); res.end(); });
SubscriptionServer.create({ schema, rootValue, execute, subscribe, ...(mode === 'ka' ? { keepAlive: 1000 } : {}) },
  { server, path: '/graphql' });
server.listen(port, '127.0.0.1');
