/**
 * The exchange through the bundled broker's Node adapter, which reads the body from its own stream
 * (not a web `Request`): the 16 KiB limit holds for declared and chunked bodies alike, a body split
 * across chunks is read whole, and the answer carries the request id its audit line names.
 */
import { request } from 'node:http';
import { AUDIENCE } from '../../src/local/config.js';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';

let world: BundledWorld;
beforeAll(async () => {
  world = await startBundledWorld();
});
afterAll(() => world.close());

interface Answer {
  status: number;
  requestId: string | undefined;
  body: { credential?: string; error?: { code: string; request_id: string } };
}

/** POSTs the body in the given pieces (chunked unless a length is declared), 20 ms apart. */
function post(pieces: string[], headers: Record<string, string | number>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${world.broker.url}/v1/exchange`, { method: 'POST', headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          requestId: res.headers['x-request-id'] as string | undefined,
          body: JSON.parse(text) as Answer['body'],
        }),
      );
    });
    req.on('error', reject);
    void (async () => {
      for (const piece of pieces) {
        req.write(piece);
        await new Promise((r) => setTimeout(r, 20));
      }
      req.end();
    })();
  });
}

const oversized = JSON.stringify({ token: 'x'.repeat(20_000), project: 'marketing-site' });

test('a body past 16 KiB is refused with 413 payload_too_large, declared or chunked without a length', async () => {
  const declared = await post([oversized], { 'content-length': Buffer.byteLength(oversized) });
  expect(declared.status).toBe(413);
  expect(declared.body.error?.code).toBe('payload_too_large');
  const chunked = await post([oversized.slice(0, 10_000), oversized.slice(10_000)], {
    'transfer-encoding': 'chunked',
  });
  expect(chunked.status).toBe(413);
  expect(chunked.body.error?.code).toBe('payload_too_large');
});

test('a valid body split across chunks is read whole; the answer and its audit line share the request id', async () => {
  const body = JSON.stringify({
    token: await world.issuer.mint(AUDIENCE),
    project: 'marketing-site',
    target: 'preview',
  });
  const answer = await post([body.slice(0, 100), body.slice(100)], { 'transfer-encoding': 'chunked' });
  expect(answer.status).toBe(200);
  expect(answer.body.credential).toMatch(/^khd_/);
  expect(answer.requestId).toMatch(/^req_/);
  // Audit lines are flushed once per event-loop turn: wait for this one.
  let line: Record<string, unknown> | undefined;
  for (let i = 0; i < 50 && !line; i++) {
    line = world.broker.auditLines().find((l) => l.request_id === answer.requestId);
    if (!line) await new Promise((r) => setTimeout(r, 20));
  }
  expect(line).toMatchObject({ event: 'exchange', decision: 'allow', request_id: answer.requestId });
});

test('a refused exchange carries its request id in the header and the error body alike', async () => {
  const answer = await post(['{"tok'], { 'content-type': 'application/json' });
  expect(answer.status).toBe(400);
  expect(answer.requestId).toMatch(/^req_/);
  expect(answer.body.error?.request_id).toBe(answer.requestId);
});
