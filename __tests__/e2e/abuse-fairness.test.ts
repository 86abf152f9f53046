/**
 * Fair shares through the bundled broker (issue 24, part 4; docs/threat-model.md "Wave 3: hostile
 * inputs", 4): one repository's (or one owner's) jobs trickling creates, batches and uploads hold
 * at most their share of what every repository shares, and another owner's deploy still gets in.
 */
import { createHash } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { defaultClaims } from '../../src/local/github-oidc.js';
import { AUDIENCE } from '../../src/local/config.js';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';

const KiB = 1024;
// Shares at these limits (docs/operations.md, "Fair shares"): an owner a quarter of 2 MiB (512 KiB),
// a repository an eighth (256 KiB, one create body), a job half (1 MiB).
const LIMITS = `limits:
  max_body_bytes: ${256 * KiB}
  max_buffered_body_bytes: ${2048 * KiB}
  max_inflight_uploads: 2
  max_inflight_uploads_per_repository: 4
  max_inflight_uploads_per_owner: 6
  body_timeout_seconds: 60
  min_body_bytes_per_second: 1
`;

/** acme/r1 … acme/r9: nine repositories of one owner, all allowed to deploy previews of one project. */
const MATRIX = Array.from({ length: 9 }, (_, i) => ({
  repository: `acme/r${i + 1}`,
  repository_id: String(9001 + i),
  repository_owner_id: '987654',
  targets: ['preview'],
}));

let world: BundledWorld;
beforeAll(async () => {
  world = await startBundledWorld({
    fake: {
      projects: [
        { id: 'prj_marketing', name: 'marketing-site', teamId: 'team_abc123', framework: null },
        { id: 'prj_billing', name: 'billing', teamId: 'team_abc123', framework: null },
        { id: 'prj_matrix', name: 'matrix', teamId: 'team_abc123', framework: null },
        { id: 'prj_globex', name: 'globex-site', teamId: 'team_abc123', framework: null },
      ],
    },
    config: {
      projects: {
        matrix: {
          team_id: 'team_abc123',
          project_id: 'prj_matrix',
          token_env: 'VERCEL_TOKEN_MARKETING',
          allow: MATRIX,
        },
        'globex-site': {
          team_id: 'team_abc123',
          project_id: 'prj_globex',
          token_env: 'VERCEL_TOKEN_BILLING',
          allow: [
            {
              repository: 'globex/site',
              repository_id: '4242',
              repository_owner_id: '777',
              targets: ['preview'],
            },
          ],
        },
      },
    },
    extraConfig: LIMITS,
  });
});
afterAll(() => world.close());

type Repo = 'acme/marketing' | 'acme/billing' | 'globex/site' | `acme/r${number}`;

let run = 0;
/** A credential of a fresh job (its own check run) in `repository`. */
async function jobIn(repository: Repo): Promise<string> {
  const [project, claims] =
    repository === 'acme/marketing'
      ? ['marketing-site', { ref: 'refs/heads/feature' }]
      : repository === 'acme/billing'
        ? ['billing', { repository, repository_id: '555' }]
        : repository === 'globex/site'
          ? ['globex-site', { repository, repository_id: '4242', repository_owner_id: '777' }]
          : ['matrix', { repository, repository_id: String(9000 + Number(repository.slice(6))) }];
  const token = await world.issuer.mint(
    AUDIENCE,
    defaultClaims({ run_id: String(6_100_000 + run++), ...claims }),
  );
  const response = await fetch(`${world.broker.url}/v1/exchange`, {
    method: 'POST',
    body: JSON.stringify({ token, project, target: 'preview' }),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { credential: string }).credential;
}

/** A raw connection that sends a request head (and a first body byte) and then holds: a trickling job. */
const opened: Socket[] = [];
function held(head: string, body = ''): { socket: Socket; received: () => string } {
  const { hostname, port } = new URL(world.broker.url);
  const socket = connect(Number(port), hostname);
  let data = '';
  socket.on('data', (d: Buffer) => (data += d.toString()));
  socket.on('error', () => undefined);
  socket.write(head + body);
  opened.push(socket);
  return { socket, received: () => data };
}
afterEach(() => {
  for (const socket of opened.splice(0)) socket.destroy();
});

const createHead = (credential: string, size: number) =>
  `POST /v13/deployments HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${credential}\r\ncontent-type: application/json\r\ncontent-length: ${size}\r\n\r\n`;
const uploadHead = (credential: string, size: number) =>
  `POST /v2/files HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${credential}\r\nx-vercel-digest: ${'a'.repeat(40)}\r\ncontent-length: ${size}\r\n\r\n`;

/** Creates of one byte from fresh jobs of `repository` until one is refused 503: its holders have taken their bytes. */
async function untilBufferingRefused(repository: Repo): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const answer = await fetch(`${world.broker.url}/v13/deployments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await jobIn(repository)}`, 'content-type': 'application/json' },
      body: 'x',
    });
    if (answer.status === 503) return ((await answer.json()) as { error: { message: string } }).error.message;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${repository}'s creates were never refused`);
}

/** A real create (inline file): what another owner's deploy sends. */
async function deploy(credential: string): Promise<Response> {
  return fetch(`${world.broker.url}/v13/deployments`, {
    method: 'POST',
    headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
    body: JSON.stringify({ files: [{ file: 'index.html', data: '<p>mine</p>' }] }),
  });
}

describe('buffered body bytes: per job, per repository, per owner', () => {
  test("four matrix jobs of one repository trickling creates hold at most the repository's share; the owner's other repository and another owner deploy", async () => {
    // Each job holds two creates of one body's size: 2 MiB in all, every byte of the budget, were it not shared out.
    for (let job = 0; job < 4; job++) {
      const credential = await jobIn('acme/marketing');
      for (let i = 0; i < 2; i++) held(createHead(credential, 256 * KiB), '{');
    }
    const refusal = await untilBufferingRefused('acme/marketing');
    expect((await deploy(await jobIn('acme/billing'))).status).toBe(200);
    expect((await deploy(await jobIn('globex/site'))).status).toBe(200);
    expect(refusal).toMatch(/This repository's jobs' requests are buffering their share \(262144 bytes\)/);
  }, 30_000);

  test("an owner's jobs across eight repositories hold at most the owner's share; another owner's create is buffered and deployed", async () => {
    for (let r = 1; r <= 8; r++) held(createHead(await jobIn(`acme/r${r}`), 256 * KiB), '{');
    const refusal = await untilBufferingRefused('acme/r9');
    const answer = await deploy(await jobIn('globex/site'));
    expect(answer.status).toBe(200);
    expect(world.fake.requests.some((r) => r.method === 'POST' && r.path === '/v13/deployments')).toBe(true);
    expect(refusal).toMatch(/This repository owner's requests are buffering their share \(524288 bytes\)/);
  }, 30_000);

  test("stalled batches of one owner's jobs cannot take another owner's create's bytes", async () => {
    // Each batch's one frame declares a body's size and sends only its header: the broker holds its bytes.
    const stalledBatch = (credential: string) => {
      const size = Buffer.alloc(4);
      size.writeUInt32BE(256 * KiB);
      const batch = held(
        `POST /v1/files/batch HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${credential}\r\n` +
          `content-type: application/vnd.keyhole.file-batch\r\nx-keyhole-batch-files: 1\r\n` +
          `content-length: ${44 + 256 * KiB}\r\n\r\n${'a'.repeat(40)}`,
      );
      batch.socket.write(size);
    };
    for (let r = 1; r <= 8; r++) for (let i = 0; i < 2; i++) stalledBatch(await jobIn(`acme/r${r}`));
    const refusal = await untilBufferingRefused('acme/r9');
    expect((await deploy(await jobIn('globex/site'))).status).toBe(200);
    expect(refusal).toMatch(/This repository owner's requests/);
  }, 30_000);
});

describe('calls held in flight: per job, per repository, per owner', () => {
  test("one repository's jobs hold at most max_inflight_uploads_per_repository uploads, one owner's at most max_inflight_uploads_per_owner; past them 429 at once, and another owner uploads", async () => {
    // Four jobs of acme/marketing, each opening its two slots and its two waiting places.
    const uploads: ReturnType<typeof held>[] = [];
    for (let job = 0; job < 4; job++) {
      const credential = await jobIn('acme/marketing');
      for (let i = 0; i < 4; i++) uploads.push(held(uploadHead(credential, 64 * KiB)));
    }
    const refused = () => uploads.filter((u) => u.received().startsWith('HTTP/1.1 429'));
    for (let i = 0; i < 100 && refused().length < 12; i++) await new Promise((r) => setTimeout(r, 50));
    // Four held (whichever jobs they belong to), twelve refused at once, naming the repository.
    expect(refused()).toHaveLength(12);
    expect(refused()[0]!.received()).toMatch(
      /this repository's jobs \(acme\/marketing\) already hold 4 uploads/,
    );
    expect(refused()[0]!.received()).toMatch(/retry-after: \d+/i);

    // The owner's other repository takes the owner's last two; past them, the owner is refused.
    const billing = await jobIn('acme/billing');
    const more = [held(uploadHead(billing, 64 * KiB)), held(uploadHead(billing, 64 * KiB))];
    // A probe below that reaches the broker before one of these takes its slot gets that slot, and
    // this one is refused instead: hold it again, so the owner's six are taken when a probe comes.
    const holdMore = () => {
      for (const [i, m] of more.entries())
        if (m.received().startsWith('HTTP/1.1 429')) more[i] = held(uploadHead(billing, 64 * KiB));
    };
    const data = 'another owner';
    const upload = (credential: string) =>
      fetch(`${world.broker.url}/v2/files`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${credential}`,
          'x-vercel-digest': createHash('sha1').update(data).digest('hex'),
        },
        body: data,
      });
    let ownerRefusal: Response | undefined;
    for (let i = 0; i < 100 && !ownerRefusal; i++) {
      holdMore();
      const answer = await upload(await jobIn('acme/r1'));
      if (answer.status === 429) ownerRefusal = answer;
      else await new Promise((r) => setTimeout(r, 50));
    }
    expect(((await ownerRefusal!.json()) as { error: { message: string } }).error.message).toMatch(
      /this repository owner's repositories already hold 6 uploads/,
    );
    expect(more.every((m) => m.received() === '')).toBe(true);
    expect((await upload(await jobIn('globex/site'))).status).toBe(200);
  }, 30_000);
});
