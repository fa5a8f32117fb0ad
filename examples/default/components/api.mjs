// An HTTP API on loopback: GET /greeting reads through the cache (or the store), GET /stats.
import { createServer } from 'node:http';
import { once } from 'node:events';

export default {
  async start(ctx) {
    const { store, cache } = ctx.deps;
    const [host, port] = String(ctx.config?.listen ?? '127.0.0.1:0').split(':');
    const server = createServer((req, res) => {
      if (req.url === '/greeting') return res.end(`${(cache ?? store).get('greeting')}\n`);
      if (req.url === '/stats') return res.end(`${JSON.stringify(cache?.stats() ?? {})}\n`);
      res.statusCode = 404;
      res.end('not found\n');
    });
    server.listen(Number(port), host);
    await once(server, 'listening', { signal: ctx.signal });
    const address = server.address();
    if (!ctx.config?.quiet) ctx.log.info(`listening on http://${address.address}:${address.port}`);
    return { server, url: `http://${address.address}:${address.port}` };
  },
  async stop({ server }) {
    server.closeAllConnections?.();
    await new Promise((resolve) => server.close(resolve));
  },
};
