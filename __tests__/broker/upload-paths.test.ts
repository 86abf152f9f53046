/**
 * `POST /v2/files` has two ways into the gateway: the web path (`broker.fetch`, what Vercel
 * Functions and Workers run) and the Node adapter's lean path (server.ts → `broker.upload`, no web
 * Request/Response), which streams upstream through the global fetch or the Node fetch's
 * `postStream`. Every check must hold the same on all three: each case runs through each and the
 * answers, what reached Vercel and the audit lines must agree.
 */
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { createNodeFetch } from '../../src/broker/host/node/fetch.js';
import { startWorld, UPSTREAM_TOKEN, type World } from '../../src/local/world.js';

const sha1 = (data: string) => createHash('sha1').update(data).digest('hex');

interface Case {
  name: string;
  target?: string;
  headers: (content: string) => Record<string, string>;
  /** The body as sent, in pieces (chunked unless the headers carry Content-Length). */
  chunks: string[];
  /** Whose credential: the default, none, or one sent with the DPoP scheme while unbound. */
  auth?: 'none' | 'dpop';
  /**
   * Refused for its body, once it streams: whether the upstream request had started by then is
   * timing (only that nothing is stored is the contract), so `forwarded` is not compared.
   */
  bodyRefused?: boolean;
}

interface Outcome {
  status: number;
  code: string | undefined;
  retryAfter: string | null;
  stored: boolean;
  /** An upstream request for this content was started (for the cases refused before the body: never). */
  forwarded: boolean;
  audit: Record<string, unknown> | undefined;
}

/** Each case's content is unique per path, so one path's stored blob never answers another's. */
const CASES: Case[] = [
  {
    name: 'a valid upload',
    headers: (c) => ({ 'x-vercel-digest': sha1(c), 'content-length': String(c.length) }),
    chunks: ['valid upload'],
  },
  {
    name: 'both digest spellings and both sizes, agreeing',
    headers: (c) => ({
      'x-vercel-digest': sha1(c),
      'x-now-digest': sha1(c).toUpperCase(),
      'content-length': String(c.length),
      'x-now-size': String(c.length),
    }),
    chunks: ['both spellings'],
  },
  {
    name: 'a chunked body with x-now-size',
    headers: (c) => ({ 'x-now-digest': sha1(c), 'x-now-size': String(c.length) }),
    chunks: ['chunk one, ', 'chunk two'],
  },
  { name: 'no digest', headers: (c) => ({ 'content-length': String(c.length) }), chunks: ['no digest'] },
  {
    name: 'a digest that is not 40 hex digits',
    headers: (c) => ({ 'x-vercel-digest': 'abc', 'content-length': String(c.length) }),
    chunks: ['short digest'],
  },
  {
    name: 'two digests that disagree',
    headers: (c) => ({
      'x-vercel-digest': sha1(c),
      'x-now-digest': sha1('other'),
      'content-length': String(c.length),
    }),
    chunks: ['two digests'],
  },
  {
    name: 'Content-Length and x-now-size that disagree',
    headers: (c) => ({
      'x-vercel-digest': sha1(c),
      'content-length': String(c.length),
      'x-now-size': String(c.length + 1),
    }),
    chunks: ['two sizes'],
  },
  {
    name: 'a size that is not a number',
    headers: (c) => ({ 'x-vercel-digest': sha1(c), 'x-now-size': '1e3' }),
    chunks: ['odd size'],
  },
  {
    name: 'no length at all',
    headers: (c) => ({ 'x-vercel-digest': sha1(c) }),
    chunks: ['no length'],
  },
  {
    name: 'a size over max_file_bytes',
    headers: (c) => ({ 'x-vercel-digest': sha1(c), 'x-now-size': '4096' }),
    chunks: ['too large'],
  },
  {
    name: 'a chunked body shorter than x-now-size',
    headers: (c) => ({ 'x-vercel-digest': sha1(c), 'x-now-size': String(c.length + 5) }),
    chunks: ['short ', 'body'],
    bodyRefused: true,
  },
  {
    name: 'a chunked body longer than x-now-size',
    headers: (c) => ({ 'x-vercel-digest': sha1(c), 'x-now-size': String(c.length - 3) }),
    chunks: ['long ', 'body'],
    bodyRefused: true,
  },
  {
    name: 'a digest Vercel finds wrong (relayed in Vercel shape)',
    headers: (c) => ({ 'x-vercel-digest': sha1(`${c}!`), 'content-length': String(c.length) }),
    chunks: ['wrong digest'],
  },
  {
    name: 'a query parameter the route does not take',
    target: '/v2/files?force=1',
    headers: (c) => ({ 'x-vercel-digest': sha1(c), 'content-length': String(c.length) }),
    chunks: ['query'],
  },
  {
    name: "the client's own teamId (dropped, the credential's team is used)",
    target: '/v2/files?teamId=team_other',
    headers: (c) => ({ 'x-vercel-digest': sha1(c), 'content-length': String(c.length) }),
    chunks: ['team'],
  },
  {
    name: 'a method override header',
    headers: (c) => ({
      'x-vercel-digest': sha1(c),
      'content-length': String(c.length),
      'x-http-method-override': 'DELETE',
    }),
    chunks: ['override'],
  },
  {
    name: 'no credential',
    headers: (c) => ({ 'x-vercel-digest': sha1(c), 'content-length': String(c.length) }),
    chunks: ['anonymous'],
    auth: 'none',
  },
  {
    name: 'an unbound credential sent with the DPoP scheme',
    headers: (c) => ({ 'x-vercel-digest': sha1(c), 'content-length': String(c.length) }),
    chunks: ['dpop scheme'],
    auth: 'dpop',
  },
];

type Path = 'web' | 'lean, global fetch' | 'lean, Node fetch';
const PATHS: Path[] = ['web', 'lean, global fetch', 'lean, Node fetch'];

let plain: World;
let node: World;
const credentials = new Map<Path, string>();

beforeAll(async () => {
  const extraConfig = 'limits:\n  max_file_bytes: 1024\n  max_files: 40\n';
  plain = await startWorld({ extraConfig });
  node = await startWorld({ extraConfig, fetch: createNodeFetch(4) });
  for (const path of PATHS)
    credentials.set(path, await (path === 'lean, Node fetch' ? node : plain).credential());
});
afterAll(async () => {
  await plain?.close();
  await node?.close();
});

const worldOf = (path: Path) => (path === 'lean, Node fetch' ? node : plain);

/** A raw HTTP request to the broker's server: the lean path, with the exact headers and pieces given. */
function viaServer(world: World, target: string, headers: Record<string, string>, chunks: string[]) {
  return new Promise<{ status: number; body: string; retryAfter: string | null }>((resolve, reject) => {
    const url = new URL(world.url);
    const req = httpRequest(
      { host: url.hostname, port: url.port, method: 'POST', path: target, headers },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            body,
            retryAfter: (res.headers['retry-after'] as string) ?? null,
          }),
        );
      },
    );
    req.on('error', reject);
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

/** The web path: a Request handed to `broker.fetch`, as a serverless platform would. */
async function viaFetch(world: World, target: string, headers: Record<string, string>, chunks: string[]) {
  const encoder = new TextEncoder();
  const pieces = [...chunks];
  const body = new ReadableStream<Uint8Array>({
    pull: (c) => (pieces.length ? c.enqueue(encoder.encode(pieces.shift()!)) : c.close()),
  });
  const request = new Request(`${world.url}${target}`, {
    method: 'POST',
    headers,
    body,
    duplex: 'half',
  } as RequestInit);
  const response = await world.broker.fetch(request, target);
  return {
    status: response.status,
    body: await response.text(),
    retryAfter: response.headers.get('retry-after'),
  };
}

async function run(path: Path, test: Case, tag: string, auth = credentials.get(path)!): Promise<Outcome> {
  const world = worldOf(path);
  const chunks = test.chunks.map((c, i) => (i === 0 ? `${tag}:${c}` : c));
  const content = chunks.join('');
  const authorization: Record<string, string> =
    test.auth === 'none' ? {} : { authorization: `${test.auth === 'dpop' ? 'DPoP' : 'Bearer'} ${auth}` };
  const headers = { 'content-type': 'application/octet-stream', ...test.headers(content), ...authorization };
  const target = test.target ?? '/v2/files';
  world.fake.clearRecord();
  const audits = world.audit().length;
  const answer =
    path === 'web'
      ? await viaFetch(world, target, headers, chunks)
      : await viaServer(world, target, headers, chunks);
  const parsed = JSON.parse(answer.body || '{}') as { error?: { code?: string } };
  const audit = world.audit().slice(audits).at(-1);
  return {
    status: answer.status,
    code: parsed.error?.code,
    retryAfter: answer.retryAfter,
    stored: world.fake.blobs.has(sha1(content)),
    forwarded: world.fake.requests.some((r) => r.headers['x-vercel-digest'] === sha1(content)),
    // Fields that differ by design (ids, timing, which credential) are left out.
    audit: audit && {
      event: audit.event,
      decision: audit.decision,
      route: audit.route,
      status: audit.status,
      code: audit.code,
      reason: audit.reason,
      bytes: audit.bytes,
    },
  };
}

describe.each(CASES)('$name', (upload) => {
  test('answers, reaches Vercel and is audited alike on the web path and both lean paths', async () => {
    // One at a time: two of the paths share a world, and each reads what reached its fake.
    const outcomes: Outcome[] = [];
    for (const path of PATHS) outcomes.push(await run(path, upload, path));
    const [web, ...lean] = outcomes;
    // Reasons and byte counts name the case's own content length, which the tag changes per path.
    const comparable = ({ audit, forwarded, ...rest }: Outcome) => ({
      ...rest,
      forwarded: upload.bodyRefused ? undefined : forwarded,
      audit: { ...audit, reason: undefined, bytes: undefined },
    });
    for (const outcome of lean) expect(comparable(outcome)).toEqual(comparable(web!));
    expect(web!.audit).toBeDefined();
  });
});

test('every path answers the valid upload 200 and stores it, and refuses a short body with no blob stored', async () => {
  for (const path of PATHS) {
    expect(await run(path, CASES[0]!, `again ${path}`)).toMatchObject({
      status: 200,
      stored: true,
      forwarded: true,
    });
    expect(await run(path, CASES[10]!, `again ${path}`)).toMatchObject({
      status: 400,
      code: 'bad_request',
      stored: false,
    });
  }
});

test("a job's file quota refuses the same upload on every path, and refunds what Vercel did not store", async () => {
  const statuses: Record<string, number[]> = {};
  for (const path of PATHS) {
    const world = worldOf(path);
    const credential = await world.credential();
    statuses[path] = [];
    // A file Vercel refuses (wrong digest) is refunded: it does not count against max_files.
    statuses[path].push((await run(path, CASES[12]!, `quota ${path} refused`, credential)).status);
    for (let i = 0; i < 41; i++)
      statuses[path].push((await run(path, CASES[0]!, `quota ${path} ${i}`, credential)).status);
  }
  const expected = [400, ...Array<number>(40).fill(200), 429];
  for (const path of PATHS) expect(statuses[path]).toEqual(expected);
});

test('an upstream 429 is relayed with its Retry-After, and an upstream reset is a 502, on every path', async () => {
  for (const path of PATHS) {
    const world = worldOf(path);
    world.fake.inject({ kind: 429, path: '/v2/files', retryAfterSeconds: 7 });
    expect(await run(path, CASES[0]!, `429 ${path}`)).toMatchObject({
      status: 429,
      retryAfter: '7',
      stored: false,
    });
    world.fake.inject({ kind: 'reset', path: '/v2/files' });
    expect(await run(path, CASES[0]!, `reset ${path}`)).toMatchObject({
      status: 502,
      code: 'upstream_error',
    });
  }
});

test("the Node fetch's lean POST carries Host, the exact length, the broker's token and both digest spellings", async () => {
  node.fake.clearRecord();
  const content = 'headers of the lean post';
  const answer = await viaServer(
    node,
    '/v2/files',
    {
      authorization: `Bearer ${credentials.get('lean, Node fetch')!}`,
      'x-vercel-digest': sha1(content),
      'content-length': String(content.length),
    },
    [content],
  );
  expect(answer.status).toBe(200);
  const seen = node.fake.requests.at(-1)!;
  expect(seen.headers.host).toBe(new URL(node.fake.url).host);
  expect(seen.headers['content-length']).toBe(String(content.length));
  expect(seen.headers.authorization).toBe(`Bearer ${UPSTREAM_TOKEN}`);
  expect(seen.headers['x-vercel-digest']).toBe(sha1(content));
  expect(seen.headers['x-now-digest']).toBe(sha1(content));
  expect(seen.headers['transfer-encoding']).toBeUndefined();
  expect(seen.query.teamId).toBe('team_abc123');
});

test("a client that goes away mid-body on the Node adapter's pushed path: nothing is stored, the upstream request is abandoned and the job's upload slot comes back", async () => {
  const world = await startWorld({
    extraConfig: 'limits:\n  max_inflight_uploads: 1\n',
    fetch: createNodeFetch(4),
  });
  try {
    const credential = await world.credential();
    const content = 'x'.repeat(64 * 1024);
    const url = new URL(world.url);
    const socket = connect(Number(url.port), url.hostname);
    socket.write(
      `POST /v2/files HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${credential}\r\n` +
        `x-vercel-digest: ${sha1(content)}\r\ncontent-length: ${content.length}\r\n\r\n`,
    );
    socket.write(content.slice(0, 1000));
    // The first piece opened the upstream request; then the client is gone.
    const forwarded = () => world.fake.requests.some((r) => r.headers['x-vercel-digest'] === sha1(content));
    while (!forwarded()) await new Promise((r) => setTimeout(r, 10));
    socket.destroy();
    while (world.server.inFlight() > 0) await new Promise((r) => setTimeout(r, 10));
    expect(world.fake.blobs.has(sha1(content))).toBe(false);
    // The job's only upload slot is free again: the same job's next upload goes through.
    const next = 'after the abort';
    const answer = await viaServer(
      world,
      '/v2/files',
      {
        authorization: `Bearer ${credential}`,
        'x-vercel-digest': sha1(next),
        'content-length': String(next.length),
      },
      [next],
    );
    expect(answer.status).toBe(200);
    expect(world.fake.blobs.has(sha1(next))).toBe(true);
  } finally {
    await world.close();
  }
});

test("the web path with a Node stream as its body (the server's nodeBody, which has a push of its own) iterates it and stores the file", async () => {
  const content = 'a node stream through the web path';
  const request = new Request(`${node.url}/v2/files`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${credentials.get('lean, Node fetch')!}`,
      'x-vercel-digest': sha1(content),
      'content-length': String(content.length),
    },
  });
  const body = Readable.from([Buffer.from(content.slice(0, 10)), Buffer.from(content.slice(10))]);
  const response = await node.broker.fetch(request, '/v2/files', body);
  expect(response.status).toBe(200);
  expect(node.fake.blobs.get(sha1(content))?.size).toBe(content.length);
});
