/**
 * The issuer key set is fetched with node:http (host/node/fetch.ts, `keySetFetch`), not Node's global
 * fetch, whose WebAssembly parser cost 10–15 MB of peak RSS. It keeps fetch's contract, which the key
 * set's fallback (oidc/keys.ts) and /readyz's causes (runtime.ts) read: a network failure is a
 * TypeError naming its cause, an abort rejects with the signal's reason.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { keySetFetch } from '../../src/broker/host/node/fetch.js';

let server: Server;
let url: string;
beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/slow') return void setTimeout(() => res.end('{}'), 2_000);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [{ kid: 'k1' }] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

test('a key set answer is read as JSON', async () => {
  const response = await keySetFetch(`${url}/jwks`, { headers: { accept: 'application/json' } });
  expect(response.status).toBe(200);
  expect(await response.json()).toEqual({ keys: [{ kid: 'k1' }] });
});

test('a refused connection is a TypeError whose cause names ECONNREFUSED', async () => {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const closedPort = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  const failure = await keySetFetch(`http://127.0.0.1:${closedPort}/jwks`).catch((error: unknown) => error);
  expect(failure).toBeInstanceOf(TypeError);
  expect(((failure as Error).cause as { code?: string }).code).toBe('ECONNREFUSED');
});

test("a timed-out fetch rejects with the signal's reason (jose turns a TimeoutError into JWKSTimeout)", async () => {
  const failure = await keySetFetch(`${url}/slow`, { signal: AbortSignal.timeout(50) }).catch(
    (error: unknown) => error,
  );
  expect((failure as Error).name).toBe('TimeoutError');
});
