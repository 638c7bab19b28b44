// crossws behind h3 1.x (unjs): an h3 app whose router serves defineWebSocketHandler on /ws, upgrades handed to the
// crossws Node adapter with the app's resolver (app.websocket), as h3's guide does without listhen; echo.
// usage: node node_crossws_h3.mjs PORT   (NODE_PATH: the install dir's node_modules; the ES modules are imported by file
//   from there, as bare ESM imports ignore NODE_PATH). GET /ws without an upgrade answers h3's own 426 / error JSON.
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
const port = +(process.argv[2] || 9001);
const nm = (process.env.NODE_PATH || '').split(':')[0];
async function load(pkgName, sub) { // import pkgName/sub by the file its package.json exports map names
  const root = join(nm, pkgName);
  let ent = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).exports[sub];
  while (typeof ent === 'object') ent = ent.import || ent.default || ent.node;
  return import(pathToFileURL(join(root, ent)).href);
}
const { createApp, createRouter, defineWebSocketHandler, toNodeListener } = await load('h3', '.');
const adapter = (await load('crossws', './adapters/node')).default;
const app = createApp();
const router = createRouter();
router.get('/ws', defineWebSocketHandler({
  message(peer, message) { peer.send(message.isBinary ? message.rawData : message.text(), message.isBinary ? { binary: true } : undefined); },
}));
app.use(router);
const server = createServer(toNodeListener(app));
const ws = adapter(app.websocket);
server.on('upgrade', (req, socket, head) => ws.handleUpgrade(req, socket, head));
server.listen(port, '127.0.0.1');
