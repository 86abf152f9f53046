/**
 * The deploy code (@vercel/sdk) loads once the exchange request is on the wire, not before it:
 * `loadDeployOnceSent` waits for undici's `bodySent` report of a request to the broker's origin.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadDeployOnceSent } from '../../src/action/deploy-step.js';

const servers: Server[] = [];
async function origin(): Promise<string> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('{}'));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
afterAll(() => Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve)))));

test("loads once a request to the broker's origin has been sent, not for another origin, and only once", async () => {
  const [broker, elsewhere] = [await origin(), await origin()];
  const loads: number[] = [];
  loadDeployOnceSent(broker, () => loads.push(Date.now()));
  expect(loads).toHaveLength(0);
  await (await fetch(`${elsewhere}/repos/acme/marketing/pulls`)).text();
  expect(loads).toHaveLength(0);
  await (await fetch(`${broker}/v1/exchange`, { method: 'POST', body: '{"token":"t"}' })).text();
  expect(loads).toHaveLength(1);
  await (await fetch(`${broker}/v1/exchange`, { method: 'POST', body: '{"token":"t"}' })).text();
  expect(loads).toHaveLength(1);
});
