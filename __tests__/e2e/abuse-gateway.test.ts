/**
 * Availability of the gateway, attacked through the bundled broker on real sockets (issue 13,
 * docs/threat-model.md "Availability"): one credential cannot take another project's upstream
 * sockets, buffered bodies are budgeted, quotas hold under concurrency, body rules cannot crash it.
 */
import { createHash } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { defaultClaims } from '../../src/local/github-oidc.js';
import { AUDIENCE } from '../../src/local/config.js';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';

const KiB = 1024;
let world: BundledWorld;
beforeAll(async () => {
  world = await startBundledWorld({
    extraConfig: `limits:
  max_inflight_uploads: 2
  max_inflight_creates: 25
  max_deployments: 5
  max_body_bytes: ${512 * KiB}
  max_buffered_body_bytes: ${1024 * KiB}
  # Both projects are one owner's: these tests hold the job's share and the whole budget, so the
  # repository's and owner's shares (abuse-fairness.test.ts) are the whole budget here.
  max_buffered_body_bytes_per_repository: ${1024 * KiB}
  max_buffered_body_bytes_per_owner: ${1024 * KiB}
  upstream_sockets_per_project: 2
  body_timeout_seconds: 3
  min_body_bytes_per_second: 1000
`,
  });
});
afterAll(() => world.close());
beforeEach(() => world.fake.clearRecord());

let run = 0;
async function credential(project: 'marketing-site' | 'billing' = 'marketing-site'): Promise<string> {
  const claims =
    project === 'billing'
      ? { repository: 'acme/billing', repository_id: '555' }
      : { ref: 'refs/heads/feature' };
  const token = await world.issuer.mint(
    AUDIENCE,
    defaultClaims({ run_id: String(9_000_000 + run++), ...claims }),
  );
  const response = await fetch(`${world.broker.url}/v1/exchange`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, project, target: 'preview' }),
  });
  const body = (await response.json()) as { credential: string };
  expect(response.status).toBe(200);
  return body.credential;
}

const call = (credential: string, method: string, path: string, init: RequestInit = {}) =>
  fetch(`${world.broker.url}${path}`, {
    ...init,
    method,
    headers: { authorization: `Bearer ${credential}`, ...Object.fromEntries(new Headers(init.headers)) },
  });

const create = (credential: string, body: unknown) =>
  call(credential, 'POST', '/v13/deployments', {
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

const errorOf = async (response: Response) =>
  ((await response.json()) as { error: { code: string; message: string } }).error;

/** A raw connection that sends `head` (and `body`) and then holds: the slow client of an attack. */
function held(head: string, body = ''): { socket: Socket; received: () => string; closed: Promise<void> } {
  const { hostname, port } = new URL(world.broker.url);
  const socket = connect(Number(port), hostname);
  let data = '';
  socket.on('data', (d: Buffer) => (data += d.toString()));
  socket.on('error', () => undefined);
  socket.write(head + body);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, received: () => data, closed };
}

const uploadHead = (credential: string, size: number, digest = 'a'.repeat(40)) =>
  `POST /v2/files HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${credential}\r\nx-vercel-digest: ${digest}\r\ncontent-length: ${size}\r\n\r\n`;
const createHead = (credential: string, size: number) =>
  `POST /v13/deployments HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${credential}\r\ncontent-type: application/json\r\ncontent-length: ${size}\r\n\r\n`;

const until = async (check: () => boolean) => {
  while (!check()) await new Promise((r) => setTimeout(r, 50));
};

describe('finding 2: one credential cannot starve other projects', () => {
  test('stalled uploads past max_inflight_uploads (and its queue) answer 429 with Retry-After, and open no upstream request', async () => {
    const flooder = await credential();
    const billing = await credential('billing');
    // Two in flight, two waiting their turn, the fifth refused at once.
    const sockets = Array.from({ length: 5 }, () => held(uploadHead(flooder, 14 * KiB * KiB)));
    const answered = () => sockets.filter((s) => s.received().includes('\r\n\r\n'));
    await until(() => answered().length > 0);
    expect(answered()).toHaveLength(1);
    expect(answered()[0]!.received()).toMatch(/^HTTP\/1\.1 429/);
    expect(answered()[0]!.received()).toMatch(/retry-after: \d+/i);
    // The upstream request starts with the body: none of them reached Vercel, and none holds one
    // of the project's two upstream sockets: another credential of the same project uploads at
    // once, while the stalled ones are still open.
    expect(world.fake.requests.filter((r) => r.path === '/v2/files')).toEqual([]);
    let closed = 0;
    const refused = answered()[0]!;
    for (const s of sockets) if (s !== refused) void s.closed.then(() => (closed += 1));
    const data = 'neighbour';
    const neighbour = await call(await credential(), 'POST', '/v2/files', {
      headers: { 'x-vercel-digest': createHash('sha1').update(data).digest('hex') },
      body: data,
    });
    expect(neighbour.status).toBe(200);
    expect(closed).toBe(0);
    // Another project is served meanwhile.
    const other = await call(billing, 'GET', '/v13/deployments/dpl_unknown');
    expect(other.status).toBe(404);
    for (const s of sockets) s.socket.destroy();
  });

  test('a body slower than min_body_bytes_per_second is cut off', async () => {
    const slow = held(uploadHead(await credential(), 100 * KiB), 'x');
    let sent = 1;
    const dribble = setInterval(() => {
      if (!slow.socket.destroyed) slow.socket.write('x');
      sent += 1;
    }, 200);
    await slow.closed;
    clearInterval(dribble);
    expect(sent).toBeLessThan(100 * KiB);
    expect([...world.fake.blobs.values()].filter((b) => b.size === 100 * KiB)).toEqual([]);
  }, 30_000);

  test("one project's uploads use at most upstream_sockets_per_project upstream sockets, and another project's calls pass them", async () => {
    // Vercel holds marketing's uploads for a while: they fill marketing's pool of 2 (and queue).
    const billing = await credential('billing');
    world.fake.inject({ kind: 'slow', path: '/v2/files', delayMs: 2_000, times: 4 });
    const uploads = [await credential(), await credential()].flatMap((c) =>
      [0, 1].map((i) => {
        const data = `file ${c.slice(-8)} ${i}`;
        return call(c, 'POST', '/v2/files', {
          headers: { 'x-vercel-digest': createHash('sha1').update(data).digest('hex') },
          body: data,
        });
      }),
    );
    await until(() => world.fake.requests.filter((r) => r.path === '/v2/files').length >= 2);
    const other = await call(billing, 'GET', '/v13/deployments/dpl_unknown');
    expect(other.status).toBe(404);
    // Answered while marketing's uploads were still held: only two of them had reached Vercel.
    expect(world.fake.requests.filter((r) => r.path === '/v2/files').length).toBe(2);
    expect((await Promise.all(uploads)).map((r) => r.status)).toEqual([200, 200, 200, 200]);
  });
});

/** A create of `size` bytes of (invalid) JSON: 400 once read, 503 when it may not be buffered. */
const createOf = (credential: string, size: number) =>
  call(credential, 'POST', '/v13/deployments', {
    headers: { 'content-type': 'application/json' },
    body: 'x'.repeat(size),
  });

/**
 * Creates until one is refused 503 (held bodies take their bytes as they arrive); that answer.
 * `beforeRetry` runs before each further attempt.
 */
async function refusedWhileHeld(
  credential: string,
  size: number,
  beforeRetry: () => void = () => undefined,
): Promise<Response> {
  let answer = await createOf(credential, size);
  for (let i = 0; i < 40 && answer.status !== 503; i++) {
    await new Promise((r) => setTimeout(r, 100));
    beforeRetry();
    answer = await createOf(credential, size);
  }
  expect(answer.status).toBe(503);
  expect(answer.headers.get('retry-after')).toMatch(/^\d+$/);
  return answer;
}

describe('finding 3: buffered create bodies are budgeted', () => {
  test('creates held back past max_buffered_body_bytes are refused 503 at once; the budget returns when they end', async () => {
    const size = 500 * KiB;
    // Every credential first: the holders' 3-second body deadline must not run out while a slow
    // (loaded) machine answers the third exchange.
    const [first, second, third] = [await credential(), await credential(), await credential()];
    const holding = [first, second];
    let holders = holding.map((c) => held(createHead(c, size), '{'));
    // Wait until both holders are buffering (their bytes taken), then a third create is refused.
    // The third's first create may reach the budget before a holder does (it reuses a kept-alive
    // connection, the holders open new ones); a holder refused 503 that way is started again.
    const answer = await refusedWhileHeld(third, size, () => {
      holders = holders.map((h, i) =>
        /^HTTP\/1\.1 503 /.test(h.received()) ? held(createHead(holding[i]!, size), '{') : h,
      );
    });
    expect((await errorOf(answer)).code).toBe('unavailable');
    // The holders are cut off by the body deadline, and their budget comes back.
    await Promise.all(holders.map((h) => h.closed));
    expect((await createOf(third, size)).status).toBe(400);
  }, 30_000);
});

describe('one job may buffer half the budget', () => {
  test("a job's second held create past its share is refused 503, while another job's create still buffers", async () => {
    const size = 300 * KiB; // the share is 512 KiB of the 1024 KiB budget
    const job = await credential();
    const holder = held(createHead(job, size), '{');
    const answer = await refusedWhileHeld(job, size);
    expect((await errorOf(answer)).message).toMatch(/This job's requests are buffering their share/);
    // The budget itself has room: another job's create of the same size is read (and refused as
    // the bad JSON it is, 400), not turned away.
    expect((await createOf(await credential(), size)).status).toBe(400);
    holder.socket.destroy();
    await holder.closed;
  }, 30_000);
});

describe('finding 4: the deployment quota holds under concurrency', () => {
  const inline = (i: number) => ({
    files: [{ file: 'index.html', data: `<p>${i}</p>` }],
    meta: { n: String(i) },
  });

  test('25 concurrent creates with different bodies and max_deployments 5 create exactly 5', async () => {
    const c = await credential();
    const responses = await Promise.all(Array.from({ length: 25 }, (_, i) => create(c, inline(i))));
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 200)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(20);
    expect(
      world.fake.requests.filter((r) => r.method === 'POST' && r.path === '/v13/deployments'),
    ).toHaveLength(5);
  });

  test('a create Vercel refuses (missing_files) gives its quota unit back', async () => {
    const c = await credential();
    const missing = { files: [{ file: 'a.html', sha: 'b'.repeat(40), size: 3 }] };
    for (let i = 0; i < 7; i++)
      expect((await create(c, { ...missing, meta: { n: String(i) } })).status).toBe(400);
    expect((await create(c, inline(1))).status).toBe(200);
  });
});

describe('body rules cannot be turned against the broker', () => {
  let c: string;
  beforeAll(async () => {
    c = await credential();
  });

  test.each([
    [40, '{"a":', '}'],
    [5_000, '{"a":', '}'],
    [80_000, '[', ']'],
  ])(
    'a pass-through field nested %i levels deep (%s) is 400 naming the field',
    async (depth, open, close) => {
      const deep = open.repeat(depth) + '1' + close.repeat(depth);
      const response = await call(c, 'POST', '/v13/deployments', {
        headers: { 'content-type': 'application/json' },
        body: `{"routes":[${deep}],"files":[]}`,
      });
      expect(response.status).toBe(400);
      expect((await errorOf(response)).message).toMatch(/field routes is nested more than \d+ levels/);
      expect(world.fake.requests.filter((r) => r.method === 'POST')).toEqual([]);
    },
  );

  test.each(['constructor', '__proto__', 'toString', 'hasOwnProperty'])(
    'a field named %s is refused as an unknown field',
    async (name) => {
      const response = await call(c, 'POST', '/v13/deployments', {
        headers: { 'content-type': 'application/json' },
        body: `{"${name}":{"x":1},"files":[]}`,
      });
      expect(response.status).toBe(403);
      expect((await errorOf(response)).message).toBe(
        `field ${name} is not allowed in a deployment through Keyhole`,
      );
    },
  );

  test.each([' @secret', '\t@secret', '\n@secret', '\u00a0@secret', '\ufeff@secret', '\u200b@secret'])(
    'an env value %j (a secret reference behind whitespace) is refused, in env and build.env',
    async (value) => {
      for (const body of [{ env: { A: value } }, { build: { env: { A: value } } }]) {
        const response = await create(c, { ...body, files: [] });
        expect(response.status).toBe(403);
        expect((await errorOf(response)).message).toMatch(/secret reference/);
      }
      expect(world.fake.requests.filter((r) => r.method === 'POST')).toEqual([]);
    },
  );

  test('events and cancel act on the dpl_ id the ownership answer resolved, not on the client id again', async () => {
    const made = await create(c, inline(99));
    const deployment = (await made.json()) as { id: string; url: string };
    world.fake.clearRecord();
    const events = await call(c, 'GET', `/v3/deployments/${deployment.url}/events`);
    expect(events.status).toBe(200);
    await events.arrayBuffer();
    const cancel = await call(c, 'PATCH', `/v12/deployments/${deployment.url}/cancel`);
    await cancel.arrayBuffer();
    const followUps = world.fake.requests.filter((r) => /events|cancel/.test(r.path)).map((r) => r.path);
    expect(followUps).toEqual([
      `/v3/deployments/${deployment.id}/events`,
      `/v12/deployments/${deployment.id}/cancel`,
    ]);
  });

  function inline(i: number) {
    return { files: [{ file: 'index.html', data: `<p>${i}</p>` }], meta: { n: String(i) } };
  }
});
