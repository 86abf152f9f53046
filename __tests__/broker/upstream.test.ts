/**
 * `uploadToVercel`, the batch's upstream request for a file already in memory: through the Node
 * adapter's lean `postWhole` and through a plain fetch, the same request reaches Vercel and the
 * same refusals come back (redirects not followed, deadlines and dead upstreams told apart).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createNodeFetch, ownedBodyPieces } from '../../src/broker/host/node/fetch.js';
import { createMetrics } from '../../src/broker/host/node/metrics.js';
import { uploadToVercel, type Upstream, type UpstreamFetch } from '../../src/broker/gateway/forward.js';

interface Seen {
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

let server: Server;
let baseUrl: string;
const seen: Seen[] = [];
let answer: (res: ServerResponse) => void = (res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end('{}');
};

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString() });
      answer(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  seen.length = 0;
  answer = (res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
  };
});

const upstreamWith = (fetchImpl: UpstreamFetch, url = baseUrl, timeoutMs = 5_000): Upstream => ({
  baseUrl: url,
  token: 'upstream-secret',
  fetch: fetchImpl,
  timeoutMs,
  userAgent: 'keyhole-test',
});
const pieces = [Buffer.from('hello, '), Buffer.from('batched '), Buffer.from('world')];
const SHA = 'a'.repeat(40);

const lean = createNodeFetch(2);
// A fetch without `postWhole` (as on Workers and Vercel Functions): the fallback path.
const plain: UpstreamFetch = (input, init) => fetch(input, init);

describe.each([
  ['the Node adapter (postWhole)', lean],
  ['a plain fetch', plain],
])('uploadToVercel through %s', (_name, fetchImpl) => {
  test('one POST /v2/files with the pieces as one body, the pinned team, the token and the digests', async () => {
    const result = await uploadToVercel(upstreamWith(fetchImpl), 'team_pinned', SHA, pieces);
    expect(result.status).toBe(200);
    expect(new TextDecoder().decode(result.body)).toBe('{}');
    expect(seen).toHaveLength(1);
    const [request] = seen;
    expect(request!.url).toBe('/v2/files?teamId=team_pinned');
    expect(request!.body).toBe('hello, batched world');
    expect(request!.headers).toMatchObject({
      authorization: 'Bearer upstream-secret',
      'content-length': '20',
      'content-type': 'application/octet-stream',
      'x-vercel-digest': SHA,
      'x-now-digest': SHA,
      'x-now-size': '20',
    });
    expect(request!.headers['transfer-encoding']).toBeUndefined();
  });

  test("an error answer comes back whole, with its media type, for the batch's per-file report", async () => {
    answer = (res) => {
      res.writeHead(429, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify({ error: { code: 'rate_limited', message: 'slow down' } }));
    };
    const result = await uploadToVercel(upstreamWith(fetchImpl), 'team_pinned', SHA, pieces);
    expect(result.status).toBe(429);
    expect(result.contentType).toMatch(/^application\/json/);
    expect(JSON.parse(new TextDecoder().decode(result.body))).toEqual({
      error: { code: 'rate_limited', message: 'slow down' },
    });
  });

  test('a redirect is refused (502), never followed with the token', async () => {
    answer = (res) => {
      res.writeHead(307, { location: 'http://127.0.0.1:9/steal' });
      res.end();
    };
    await expect(uploadToVercel(upstreamWith(fetchImpl), 'team_pinned', SHA, pieces)).rejects.toMatchObject({
      status: 502,
      message: 'Vercel answered with a redirect (307); not followed.',
    });
    expect(seen).toHaveLength(1);
  });

  test('an upstream that does not answer in time is a 504; one that cannot be reached is a 502', async () => {
    answer = () => undefined; // never answers
    await expect(
      uploadToVercel(upstreamWith(fetchImpl, baseUrl, 200), 'team_pinned', SHA, pieces),
    ).rejects.toMatchObject({ status: 504, message: 'Vercel did not answer in time; retry.' });
    // A port that was just free (a server opened on it and closed again) has no listener.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await expect(
      uploadToVercel(upstreamWith(fetchImpl, `http://127.0.0.1:${deadPort}`), 'team_pinned', SHA, pieces),
    ).rejects.toMatchObject({ status: 502, message: 'Vercel could not be reached; retry.' });
  });
});

test('the metrics wrapper keeps what the Node fetch adds (streamed bodies as they are, postWhole) and times both', async () => {
  const metrics = createMetrics();
  const instrumented = metrics.instrumentFetch(createNodeFetch(2));
  expect(instrumented.acceptsAsyncIterable).toBe(true);
  expect(typeof instrumented.postWhole).toBe('function');
  await uploadToVercel(upstreamWith(instrumented), 'team_pinned', SHA, pieces);
  expect(await metrics.render()).toMatch(
    /^keyhole_upstream_request_duration_seconds_count\{method="POST",path="\/v2\/files",outcome="2xx"\} 1$/m,
  );
});

describe('the Node fetch hands answers over whole or as streams', () => {
  const nodeFetch = createNodeFetch(2);

  test('a chunked JSON answer is collected whole and carries its length', async () => {
    answer = (res) => {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }); // no length: chunked
      res.write('{"ok":');
      res.end('true}');
    };
    const response = await nodeFetch(`${baseUrl}/v2/files`, { method: 'POST', body: 'x' });
    expect(response.headers.get('content-length')).toBe('11');
    expect(await response.json()).toEqual({ ok: true });
  });

  test('a chunked JSON answer larger than the buffer limit still arrives whole, as a stream', async () => {
    const big = JSON.stringify({ items: 'y'.repeat(3 * 1024 * 1024) });
    answer = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      for (let i = 0; i < big.length; i += 256 * 1024) res.write(big.slice(i, i + 256 * 1024));
      res.end();
    };
    const response = await nodeFetch(`${baseUrl}/v6/deployments`);
    expect(response.headers.get('content-length')).toBeNull();
    expect(await response.text()).toBe(big);
  });

  test('an event stream without a length stays a stream', async () => {
    let finish: () => void = () => undefined;
    answer = (res) => {
      res.writeHead(200, { 'content-type': 'application/stream+json' });
      res.write('{"type":"stdout"}\n');
      finish = () => res.end('{"type":"done"}\n');
    };
    const response = await nodeFetch(`${baseUrl}/v3/deployments/dpl_1/events`);
    // The first line is readable before the upstream finishes: nothing waited for the end.
    const reader = response.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('{"type":"stdout"}\n');
    finish();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('{"type":"done"}\n');
  });
});

test("the Node fetch's postStream frees the server's own body pieces once the socket has them, and leaves others alone", async () => {
  // 64 pieces of 64 KiB, distinct content; every other one marked as the server's own (server.ts).
  const all = Array.from({ length: 64 }, (_, i) => Buffer.alloc(64 * 1024, i));
  const expected = Buffer.concat(all).toString();
  for (const [i, piece] of all.entries()) if (i % 2 === 0) ownedBodyPieces.add(piece);
  async function* body() {
    for (const piece of all) yield piece;
  }
  const result = await lean.postStream!(
    `${baseUrl}/v2/files`,
    { 'content-length': String(64 * 64 * 1024) },
    body(),
    5_000,
  );
  expect(result.status).toBe(200);
  // The bytes reached the upstream whole and in order: nothing was freed before it was written.
  expect(seen.at(-1)!.body === expected).toBe(true);
  expect(all.filter((_, i) => i % 2 === 0).every((piece) => piece.byteLength === 0)).toBe(true);
  expect(all.filter((_, i) => i % 2 === 1).every((piece) => piece.byteLength === 64 * 1024)).toBe(true);
});
