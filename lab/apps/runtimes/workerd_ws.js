// workerd WebSocket app (Cloudflare Workers runtime; the WebSocket protocol is Cap'n Proto KJ's kj-http, C++):
// a module worker that answers an upgrade with a WebSocketPair. Loaded by workerd_{echo,silent,push,path}.capnp (bindings env.MODE, env.PATHS).
//   MODE echo: echo every message, text as text, binary as binary   silent: read, never send
//        push: never echo, a text message every 100 ms
//   PATHS: comma-separated upgrade paths (/ws,/ by default)
// The upgrade paths answer a request that is not a WebSocket upgrade with 426 "Upgrade Required", any other path
// with 404 "Not Found" (the app's responses).
export default {
  async fetch(req, env) {
    const paths = (env.PATHS || '/ws,/').split(',');
    const mode = env.MODE || 'echo';
    const path = new URL(req.url).pathname;
    if (!paths.includes(path)) return new Response('Not Found', { status: 404 });
    if ((req.headers.get('Upgrade') || '').toLowerCase() !== 'websocket') {
      return new Response('Upgrade Required', { status: 426 });
    }
    const [client, server] = Object.values(new WebSocketPair());
    server.accept();
    let timer = null;
    if (mode === 'push') {
      let seq = 0;
      const t0 = Date.now();
      timer = setInterval(() => {
        try { server.send(JSON.stringify({ seq: ++seq, uptime: (Date.now() - t0) / 1000 })); } catch { clearInterval(timer); }
      }, 100);
    }
    server.addEventListener('message', (e) => { if (mode === 'echo') server.send(e.data); });
    server.addEventListener('close', (e) => {
      if (timer) clearInterval(timer);
      try { server.close(e.code === 1005 || e.code === 1006 ? 1000 : e.code, e.reason); } catch {}
    });
    server.addEventListener('error', () => { if (timer) clearInterval(timer); });
    return new Response(null, { status: 101, webSocket: client });
  },
};
