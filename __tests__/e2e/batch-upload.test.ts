/**
 * The batched upload (`POST /v1/files/batch`, docs/batch-upload.md) through the bundled broker:
 * honest batches reach Vercel file by file with per-file answers; every lie in a batch (digest,
 * sizes, truncation, counts, sizes over the caps) is refused whole, and no mislabelled or partial
 * file reaches Vercel.
 */
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createProof, createProofKey, withProofs } from '../../src/action/dpop.js';
import { defaultClaims } from '../../src/local/github-oidc.js';
import { runActionBundle, startBrokerProcess, type RunningBroker } from '../../src/local/runner.js';
import { BATCH_CONTENT_TYPE, BATCH_FILES_HEADER, BATCH_PATH } from '../../src/shared/wire.js';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';
import { AUDIENCE } from '../../src/local/config.js';
import { freePort } from '../../src/local/redis.js';
import { SIGNING_KEY, UPSTREAM_TOKEN } from '../../src/local/world.js';

const KiB = 1024;
const MiB = 1024 * KiB;
let world: BundledWorld;
beforeAll(async () => {
  world = await startBundledWorld({ config: { limits: { max_upload_bytes: 4 * MiB } } });
});
afterAll(() => world.close());
beforeEach(() => world.fake.clearRecord());

let run = 0;
/** A credential of a job of its own, so each test starts with the whole job quota. */
async function exchange(brokerUrl = world.broker.url, headers: Record<string, string> = {}) {
  const token = await world.issuer.mint(
    AUDIENCE,
    defaultClaims({ run_id: String(7_000_000 + run++), ref: 'refs/heads/feature' }),
  );
  const response = await fetch(`${brokerUrl}/v1/exchange`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ token, project: 'marketing-site', target: 'preview' }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as { credential: string; upload_batch?: Record<string, unknown> };
}
const credential = async () => (await exchange()).credential;

const sha1 = (data: Uint8Array | string) => createHash('sha1').update(data).digest('hex');

interface Frame {
  data: Buffer;
  /** Defaults to the data's own digest and size: set them to lie. */
  sha?: string;
  size?: number;
}
function frames(list: Frame[]): Uint8Array<ArrayBuffer> {
  return new Uint8Array(
    Buffer.concat(
      list.flatMap((f) => {
        const size = Buffer.alloc(4);
        size.writeUInt32BE(f.size ?? f.data.byteLength);
        return [Buffer.from(f.sha ?? sha1(f.data), 'latin1'), size, f.data];
      }),
    ),
  );
}

function send(
  token: string,
  body: Uint8Array<ArrayBuffer>,
  count: number,
  headers: Record<string, string> = {},
  fetchImpl: typeof fetch = fetch,
  brokerUrl = world.broker.url,
) {
  return fetchImpl(`${brokerUrl}${BATCH_PATH}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': BATCH_CONTENT_TYPE,
      [BATCH_FILES_HEADER]: String(count),
      ...headers,
    },
    body,
  });
}

const uploads = () => world.fake.requests.filter((r) => r.path === '/v2/files');
const uploadedShas = () => uploads().map((r) => r.headers['x-vercel-digest']);
const errorOf = async (response: Response) =>
  ((await response.json()) as { error: { code: string; message: string } }).error;
const file = (text: string) => Buffer.from(text);

test('the exchange announces the batch path and its caps', async () => {
  const { upload_batch } = await exchange();
  expect(upload_batch).toEqual({
    path: BATCH_PATH,
    max_files: 256,
    max_file_bytes: MiB,
    max_bytes: 16 * MiB,
  });
});

test('an honest batch reaches Vercel as one upload per file, with one result per file in frame order', async () => {
  const files = [file('alpha'), file(''), file('gamma'.repeat(10_000))];
  const response = await send(await credential(), frames(files.map((data) => ({ data }))), 3);
  expect(response.status).toBe(200);
  const { files: results } = (await response.json()) as { files: { sha: string; status: number }[] };
  expect(results).toEqual(files.map((f) => ({ sha: sha1(f), status: 200 })));
  for (const f of files) expect(world.fake.blobs.get(sha1(f))?.size).toBe(f.byteLength);
  expect(uploadedShas().sort()).toEqual(files.map((f) => sha1(f)).sort());
  // Upstream, each is an ordinary /v2/files upload with the broker's token.
  for (const r of uploads()) expect(r.headers.authorization).toBe(`Bearer ${UPSTREAM_TOKEN}`);
  // Audit lines are flushed once per event-loop turn, so the line may trail the answer a little.
  const audit = () => world.broker.auditLines().filter((l) => l.route === 'upload-batch' && l.files === 3);
  while (audit().length === 0) await new Promise((r) => setTimeout(r, 50));
  expect(audit().at(-1)).toMatchObject({ decision: 'allow', status: 200, upstream_status: 200 });
});

test('a frame whose bytes do not hash to its digest fails the batch with 400; the mislabelled file never reaches Vercel', async () => {
  const good = file('good file');
  const lying = file('not what the digest says');
  const claimed = sha1('something else');
  const response = await send(
    await credential(),
    frames([{ data: good }, { data: lying, sha: claimed }, { data: file('after') }]),
    3,
  );
  expect(response.status).toBe(400);
  const error = await errorOf(response);
  expect(error.code).toBe('bad_request');
  expect(error.message).toMatch(
    new RegExp(`frame 1 declares SHA-1 ${claimed}, but its \\d+ bytes hash to ${sha1(lying)}`),
  );
  // Only the verified file before it was forwarded; nothing after the lie was read or sent.
  expect(uploadedShas()).toEqual([sha1(good)]);
  expect(world.fake.blobs.has(claimed)).toBe(false);
  expect(world.fake.blobs.has(sha1(lying))).toBe(false);
});

test('lying sizes: a frame larger than the body left, and a body with bytes after the declared frames, are 400', async () => {
  const data = file('0123456789');
  // Declares 11 bytes where 10 follow: past the end of the body.
  const past = await send(await credential(), frames([{ data, size: 11 }]), 1);
  expect(past.status).toBe(400);
  expect((await errorOf(past)).message).toMatch(
    /frame 0 \(\w+\) declares 11 bytes, past the end of the \d+-byte batch/,
  );
  // Declares 5 bytes: the first five hash differently from the digest of all ten.
  const short = await send(await credential(), frames([{ data, size: 5 }]), 1);
  expect(short.status).toBe(400);
  expect((await errorOf(short)).message).toMatch(/frame 0 declares SHA-1 \w+, but its 5 bytes hash to/);
  // Two honest frames where the count header says one.
  const extra = await send(await credential(), frames([{ data }, { data: file('x') }]), 1);
  expect(extra.status).toBe(400);
  expect((await errorOf(extra)).message).toMatch(/bytes after its 1 declared frames/);
  expect(world.fake.blobs.has(sha1(data.subarray(0, 5)))).toBe(false);
  // The third batch's first frame was whole and verified before the excess was seen.
  expect(uploadedShas()).toEqual([sha1(data)]);
});

test('a body that ends inside a frame header is 400 and sends nothing of that frame', async () => {
  const first = file('complete');
  const body = frames([{ data: first }, { data: file('second file') }]);
  // Cut inside the second frame's header, but still 2 × 44 bytes long.
  const cut = body.subarray(0, 44 + first.byteLength + 40);
  const response = await send(await credential(), cut, 2);
  expect(response.status).toBe(400);
  expect((await errorOf(response)).message).toMatch(/ended inside the header of frame 1 \(40 of 44 bytes\)/);
  expect(uploadedShas()).toEqual([sha1(first)]);
});

test('a client that disconnects mid-frame gets nothing of that frame forwarded', async () => {
  const token = await credential();
  const whole = file('x'.repeat(64 * KiB));
  const body = frames([{ data: whole }]);
  const { hostname, port } = new URL(world.broker.url);
  const socket = connect(Number(port), hostname);
  socket.on('error', () => undefined);
  socket.write(
    `POST ${BATCH_PATH} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${token}\r\ncontent-type: ${BATCH_CONTENT_TYPE}\r\n${BATCH_FILES_HEADER}: 1\r\ncontent-length: ${body.byteLength}\r\n\r\n`,
  );
  // Written out before the socket is destroyed (destroy discards what is still queued).
  await new Promise((resolve) => socket.write(body.subarray(0, 44 + 1000), resolve));
  // The broker's audit line for the refused batch shows it has given up on the body.
  const refused = () =>
    world.broker
      .auditLines()
      .filter((l) => l.route === 'upload-batch' && l.decision === 'deny' && l.credential_id);
  const before = refused().length;
  socket.destroy();
  while (refused().length === before) await new Promise((r) => setTimeout(r, 50));
  expect(refused().at(-1)).toMatchObject({ status: 400, code: 'bad_request' });
  expect(uploads()).toEqual([]);
});

test('too many files and oversize bodies or frames are 413, refused before anything is forwarded', async () => {
  const token = await credential();
  const many = await send(token, frames([{ data: file('a') }]), 257);
  expect(many.status).toBe(413);
  expect((await errorOf(many)).message).toMatch(/at most 256 files; this one declares 257/);
  const big = Buffer.alloc(MiB + 1, 7);
  const oversizeFrame = await send(token, frames([{ data: big }]), 1);
  expect(oversizeFrame.status).toBe(413);
  expect((await errorOf(oversizeFrame)).message).toMatch(
    /declares 1048577 bytes; a batch carries files of at most 1048576 bytes, send larger ones to POST \/v2\/files/,
  );
  // Headers alone: the broker answers on the declared length, before reading a byte of the body.
  const { hostname, port } = new URL(world.broker.url);
  const socket = connect(Number(port), hostname);
  let answer = '';
  socket.on('data', (d: Buffer) => (answer += d.toString()));
  socket.write(
    `POST ${BATCH_PATH} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${token}\r\ncontent-type: ${BATCH_CONTENT_TYPE}\r\n${BATCH_FILES_HEADER}: 17\r\ncontent-length: ${16 * MiB + 1}\r\n\r\n`,
  );
  while (!answer.includes('}')) await new Promise((r) => setTimeout(r, 20));
  socket.destroy();
  expect(answer).toMatch(/^HTTP\/1\.1 413/);
  expect(answer).toMatch(/a batch may have at most 16777216 bytes; this one declares 16777217/);
  expect(uploads()).toEqual([]);
});

test('malformed requests are 400: no count, a wrong content type, a digest that is not hex', async () => {
  const token = await credential();
  const body = frames([{ data: file('a') }]);
  const noCount = await fetch(`${world.broker.url}${BATCH_PATH}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': BATCH_CONTENT_TYPE },
    body,
  });
  expect(noCount.status).toBe(400);
  expect((await errorOf(noCount)).message).toMatch(new RegExp(`number of frames in ${BATCH_FILES_HEADER}`));
  const wrongType = await send(token, body, 1, { 'content-type': 'application/octet-stream' });
  expect(wrongType.status).toBe(400);
  const notHex = await send(token, frames([{ data: file('a'), sha: 'Z'.repeat(40) }]), 1);
  expect(notHex.status).toBe(400);
  expect((await errorOf(notHex)).message).toMatch(
    /frame 0 does not start with a SHA-1 in 40 lowercase hex digits/,
  );
  expect(uploads()).toEqual([]);
});

test('without a valid credential the batch is 401 and nothing is read or forwarded', async () => {
  const response = await send('khd_forged', frames([{ data: file('a') }]), 1);
  expect(response.status).toBe(401);
  expect((await errorOf(response)).code).toBe('invalid_credential');
  expect(uploads()).toEqual([]);
});

test('the job quota holds file by file: a file past max_upload_bytes answers 429 in its own result, the rest are stored', async () => {
  const token = await credential();
  const fill = Buffer.alloc(3 * MiB, 1);
  // Singly, to use most of the 4 MiB job budget.
  const single = await fetch(`${world.broker.url}/v2/files`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'x-vercel-digest': sha1(fill) },
    body: fill,
  });
  expect(single.status).toBe(200);
  const small = file('fits');
  const large = Buffer.alloc(MiB, 2);
  const response = await send(token, frames([{ data: small }, { data: large }]), 2);
  expect(response.status).toBe(200);
  const { files } = (await response.json()) as {
    files: { sha: string; status: number; error?: { code: string; message: string } }[];
  };
  expect(files[0]).toEqual({ sha: sha1(small), status: 200 });
  expect(files[1]).toMatchObject({ sha: sha1(large), status: 429, error: { code: 'quota_exceeded' } });
  expect(files[1]!.error!.message).toMatch(/at most 4194304 bytes/);
  expect(world.fake.blobs.has(sha1(large))).toBe(false);
});

test('an upstream refusal of one file is reported for that file only', async () => {
  world.fake.inject({ kind: 503, path: '/v2/files', times: 1, retryAfterSeconds: 1 });
  const files = [file('one'), file('two'), file('three')];
  const response = await send(await credential(), frames(files.map((data) => ({ data }))), 3);
  expect(response.status).toBe(200);
  const { files: results } = (await response.json()) as { files: { sha: string; status: number }[] };
  expect(results.filter((r) => r.status === 503)).toHaveLength(1);
  expect(results.filter((r) => r.status === 200)).toHaveLength(2);
  for (const r of results) expect(world.fake.blobs.has(r.sha)).toBe(r.status === 200);
});

describe('the action', () => {
  let salt = 0;
  /** 40 scripts, a page and one file over the batch cap, with contents no earlier test uploaded. */
  function site(dir: string) {
    const root = path.join(dir, 'site');
    const tag = `${Date.now()}-${salt++}`;
    mkdirSync(path.join(root, 'assets'), { recursive: true });
    for (let i = 0; i < 40; i++)
      writeFileSync(path.join(root, 'assets', `a${i}.js`), `console.log(${i}, '${tag}');\n`);
    writeFileSync(path.join(root, 'index.html'), `<h1>batched ${tag}</h1>`);
    // Over the batch cap: streamed singly to /v2/files.
    writeFileSync(path.join(root, 'video.bin'), Buffer.concat([Buffer.alloc(MiB + 10, 9), Buffer.from(tag)]));
    return root;
  }

  test('uploads small files in batches and large ones singly, and the deploy is READY', async () => {
    const workspace = mkdtempSync(path.join(world.dir, 'ws-'));
    site(workspace);
    const seen = world.broker.auditLines().length;
    const deployed = await world.run({ path: 'site' }, { workspace });
    expect(deployed.code).toBe(0);
    expect(deployed.outputs['ready-state']).toBe('READY');
    expect(deployed.stdout).toMatch(/The broker takes small files in batches/);
    const lines = world.broker.auditLines().slice(seen);
    // This run's own calls: earlier tests' lines may still have been arriving when it started.
    const own = lines.filter((l) => l.event === 'exchange' && l.decision === 'allow').at(-1)!.credential_id;
    const batches = lines.filter(
      (l) => l.route === 'upload-batch' && l.decision === 'allow' && l.credential_id === own,
    );
    expect(batches.reduce((n, l) => n + Number(l.files), 0)).toBe(41);
    expect(
      lines.filter((l) => l.route === 'upload-file' && l.decision === 'allow' && l.credential_id === own),
    ).toHaveLength(1);
    // Vercel holds all 42 distinct contents (40 scripts, the page, the large file).
    expect(uploads()).toHaveLength(42);
  });

  test('retries only the files a batch answer refused', async () => {
    const workspace = mkdtempSync(path.join(world.dir, 'ws-'));
    site(workspace);
    world.fake.inject({ kind: 502, path: '/v2/files', times: 2 });
    const deployed = await world.run({ path: 'site' }, { workspace });
    expect(deployed.code).toBe(0);
    expect(deployed.outputs['ready-state']).toBe('READY');
    // 42 stored, plus exactly the 2 refused ones sent again.
    expect(uploads()).toHaveLength(44);
  });

  test('with a require_dpop project, every batch carries its own proof', async () => {
    const port = await freePort();
    const config = path.join(world.dir, 'dpop-batch.yaml');
    writeFileSync(
      config,
      world.configYaml({
        public_url: `http://127.0.0.1:${port}`,
        projects: { 'marketing-site': { require_dpop: true } },
      }),
    );
    let broker: RunningBroker | undefined;
    try {
      broker = await startBrokerProcess({
        configPath: config,
        port,
        env: { VERCEL_TOKEN_MARKETING: UPSTREAM_TOKEN, KEYHOLE_SIGNING_KEY: SIGNING_KEY },
      });
      const workspace = mkdtempSync(path.join(world.dir, 'ws-'));
      site(workspace);
      world.issuer.setJob({});
      const deployed = await runActionBundle({
        workspace,
        oidc: world.issuer,
        inputs: { 'broker-url': broker.url, audience: AUDIENCE, project: 'marketing-site', path: 'site' },
      });
      expect(deployed.code).toBe(0);
      expect(deployed.stdout).toMatch(/key-bound \(DPoP\) deploy credential/);
      const batches = broker.auditLines().filter((l) => l.route === 'upload-batch' && l.decision === 'allow');
      expect(batches.length).toBeGreaterThan(0);
      // By hand: a proof per batch request makes it through; the bound credential as a bearer does not.
      const key = await createProofKey();
      const { credential: bound } = await exchange(broker.url, {
        dpop: await createProof(key, 'POST', `${broker.url}/v1/exchange`),
      });
      world.fake.clearRecord();
      const proved = withProofs(fetch, key, bound);
      for (const text of ['first batch', 'second batch']) {
        const response = await send(bound, frames([{ data: file(text) }]), 1, {}, proved, broker.url);
        expect(response.status).toBe(200);
      }
      const asBearer = await send(bound, frames([{ data: file('bearer') }]), 1, {}, fetch, broker.url);
      expect(asBearer.status).toBe(401);
      expect(uploadedShas()).toEqual([sha1('first batch'), sha1('second batch')]);
    } finally {
      await broker?.stop();
    }
  });
});
