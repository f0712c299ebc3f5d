/**
 * The least an HTTP query can cost on this machine: a bare `node:http` server in this
 * process that parses the JSON body, searches the same view and writes the hits as JSON
 * (no routing, auth, validation, consistency checks or metrics). Measured with the same
 * load generator as the router, it separates what HTTP + JSON cost here from what the
 * router adds on top.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

interface Searchable {
  search(q: number[], o: { k: number; ef: number }): unknown[];
}

export async function startBareServer(
  view: Searchable,
): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        const q = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          vector: number[];
          k: number;
          ef: number;
        };
        const results = view.search(q.vector, { k: q.k, ef: q.ef });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ results }));
      } catch (err) {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: (err as Error).message } }));
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
