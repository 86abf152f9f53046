/** The gateway refuses everything a deploy of the pinned project does not need, and proves nothing went upstream. */
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { mintCredential } from '../../src/broker/credential/credential.js';
import { startWorld, UPSTREAM_TOKEN, type World } from '../../src/local/world.js';

let world: World;
let credential: string;
let billing: string;

beforeAll(async () => {
  world = await startWorld({ extraConfig: 'limits:\n  max_deployments: 3\n  max_files: 50\n' });
  credential = await world.credential({ ref: 'refs/heads/feature' });
  billing = await world.credential(
    { repository: 'acme/billing', repository_id: '555' },
    'billing',
    'preview',
  );
});
afterAll(() => world.close());
beforeEach(() => world.fake.clearRecord());

const sha1 = (data: string | Buffer) => createHash('sha1').update(data).digest('hex');

/** A credential signed by the broker's key with test claims (what an exchange would mint). */
const mintFor = (overrides: Partial<Parameters<typeof mintCredential>[1]>) =>
  mintCredential(world.keys, {
    pn: 'marketing-site',
    prj: 'prj_marketing',
    team: 'team_abc123',
    tgt: 'preview',
    rid: '1',
    repo: 'a/b',
    ref: 'refs/heads/main',
    sha: 'x',
    run: '1',
    att: '1',
    wf: 'w',
    iat: Date.now(),
    exp: Date.now() + 60_000,
    ...overrides,
  });

const errorOf = async (response: Response) =>
  ((await response.json()) as { error: { code: string; message: string } }).error;

async function upload(cred: string, content: string) {
  const data = Buffer.from(content);
  return world.call(cred, 'POST', '/v2/files', {
    body: data,
    headers: {
      'x-now-digest': sha1(data),
      'x-now-size': String(data.length),
      'content-type': 'application/octet-stream',
    },
  });
}

let deployCount = 0;
/** A create with a body of its own each time (identical bodies are answered idempotently). */
async function deploy(cred: string, body: Record<string, unknown> = {}) {
  const data = 'hello world';
  await upload(cred, data);
  return world.call(cred, 'POST', '/v13/deployments', {
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'anything',
      files: [{ file: `index-${deployCount++}.html`, sha: sha1(data), size: data.length, mode: 33188 }],
      ...body,
    }),
  });
}

/** A request with a raw, un-normalised target: fetch would resolve dot segments before sending. */
function rawRequest(
  method: string,
  target: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  const url = new URL(world.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method,
        path: target,
        headers: { authorization: `Bearer ${credential}`, ...headers },
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('credentials', () => {
  test.each([
    ['no credential', undefined],
    ['a malformed credential', 'not-a-credential'],
    ['a GitHub-style token', 'ghp_abcdefghijklmnopqrstuvwxyz0123456789'],
    ['a forged MAC', () => credential.replace(/[0-9a-f]$/, (c) => (c === '0' ? '1' : '0'))],
    [
      'a tampered payload',
      () =>
        credential.replace(
          /_([0-9a-z])([0-9a-z]+)_([0-9a-f]{64})$/,
          (_m, a: string, rest: string, mac: string) => `_${a === 'z' ? 'y' : 'z'}${rest}_${mac}`,
        ),
    ],
  ])('%s answers 401 invalid_credential with no upstream call', async (_name, value) => {
    const token = typeof value === 'function' ? value() : value;
    const response = await fetch(`${world.url}/v13/deployments/dpl_x`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
    expect(response.status).toBe(401);
    expect((await errorOf(response)).code).toBe('invalid_credential');
    expect(world.fake.requests).toHaveLength(0);
  });

  test('a credential for a project no longer in the config stops working at once (§7.2 #17)', async () => {
    const { credential: retired } = await mintFor({ pn: 'retired-site', prj: 'prj_retired' });
    const response = await world.call(retired, 'GET', '/v13/deployments/dpl_x');
    expect(response.status).toBe(401);
    expect((await errorOf(response)).message).toMatch(/no longer serves/);
    expect(world.fake.requests).toHaveLength(0);
  });

  test('an expired credential answers 401', async () => {
    const { credential: expired } = await mintFor({ iat: Date.now() - 10_000, exp: Date.now() - 1 });
    const response = await world.call(expired, 'GET', '/v13/deployments/dpl_x');
    expect(response.status).toBe(401);
    expect(world.fake.requests).toHaveLength(0);
  });
});

describe('custom environments', () => {
  test('a credential whose target the config no longer declares stops at once (401), with nothing upstream', async () => {
    const { credential: qa } = await mintFor({ tgt: 'qa' });
    const response = await world.call(qa, 'GET', '/v13/deployments/dpl_x');
    expect(response.status).toBe(401);
    expect((await errorOf(response)).message).toMatch(/target \(qa\) this broker no longer serves/);
    // staging is declared in the local world's config: the same call reaches the ownership read.
    const { credential: staging } = await mintFor({ tgt: 'staging' });
    expect((await world.call(staging, 'GET', '/v13/deployments/dpl_x')).status).toBe(404);
    expect(world.fake.requests.map((r) => r.path)).toEqual(['/v13/deployments/dpl_x']);
  });
});

describe('route allow-list', () => {
  test.each([
    ['GET', '/v10/projects/prj_marketing/env', 'reading decrypted env vars'],
    ['GET', '/v3/env/pull/prj_marketing/production', 'pulling env vars'],
    ['GET', '/v9/projects', 'listing projects'],
    ['PATCH', '/v9/projects/prj_marketing', 'changing project settings'],
    ['DELETE', '/v13/deployments/dpl_x', 'deleting a deployment'],
    ['GET', '/v6/deployments', 'listing deployments'],
    ['POST', '/v10/projects/prj_marketing/domains', 'adding a domain'],
    ['POST', '/v2/now/files', 'the legacy upload alias'],
    ['POST', '/v3/user/tokens', 'minting a Vercel token'],
    ['GET', '/v13/deployments', 'a listing at the create path'],
    ['PUT', '/v2/files', 'another method on an allowed path'],
  ])('%s %s (%s) is forbidden and never forwarded', async (method, path) => {
    const response = await world.call(credential, method, path);
    expect(response.status).toBe(403);
    const error = await errorOf(response);
    expect(error.code).toBe('forbidden');
    expect(error.message).toContain(path);
    expect(world.fake.requests).toHaveLength(0);
  });

  test.each([
    ['dot segments', '/v13/deployments/../../v10/projects/prj_marketing/env'],
    ['an encoded slash', '/v13/deployments/dpl_x%2F..%2F..%2Fv10'],
    ['an encoded character', '/v13/deployments/%64pl_x'],
    ['a doubled slash', '/v2//files'],
    ['odd casing', '/V13/deployments/dpl_x'],
    ['a trailing slash', '/v13/deployments/dpl_x/'],
    ['a backslash', '/v13/deployments/dpl_x\\..\\x'],
  ])('%s in the raw path is refused', async (_name, target) => {
    const { status, body } = await rawRequest('GET', target);
    // Node's HTTP parser itself answers 400 to some targets (a backslash) before the broker sees them.
    expect([400, 403]).toContain(status);
    if (status === 403) expect(JSON.parse(body).error.code).toBe('forbidden');
    expect(world.fake.requests).toHaveLength(0);
  });

  test('method-override headers are refused', async () => {
    const { status } = await rawRequest('GET', '/v13/deployments/dpl_x', {
      'x-http-method-override': 'DELETE',
    });
    expect(status).toBe(403);
    expect(world.fake.requests).toHaveLength(0);
  });

  test('duplicate and unknown query keys are refused', async () => {
    expect((await world.call(credential, 'GET', '/v13/deployments/dpl_x?teamId=a&teamId=b')).status).toBe(
      403,
    );
    expect((await world.call(credential, 'GET', '/v13/deployments/dpl_x?until=1')).status).toBe(403);
    expect(
      (await world.call(credential, 'POST', '/v13/deployments?prebuilt=yes', { body: '{}' })).status,
    ).toBe(403);
    expect(world.fake.requests).toHaveLength(0);
  });

  test('GET /v2/user and GET /teams/:id are answered by the broker with the pinned team only, never forwarded', async () => {
    const user = await world.call(credential, 'GET', '/v2/user');
    expect(user.status).toBe(200);
    expect(await user.json()).toEqual({
      user: {
        id: 'keyhole',
        username: 'keyhole',
        email: null,
        name: 'Keyhole',
        defaultTeamId: 'team_abc123',
        version: 'northstar',
      },
    });
    const team = await world.call(credential, 'GET', '/teams/team_abc123?teamId=team_abc123');
    expect(team.status).toBe(200);
    expect(await team.json()).toEqual({ id: 'team_abc123', slug: 'team_abc123', name: 'team_abc123' });
    const other = await world.call(credential, 'GET', '/teams/team_other');
    expect(other.status).toBe(403);
    expect((await errorOf(other)).code).toBe('team_unauthorized');
    expect(world.fake.requests).toHaveLength(0);
  });
});

describe('create-deployment body rules', () => {
  const files = [{ file: 'index.html', sha: sha1('hello world'), size: 11 }];
  test.each([
    ['deploymentId', { deploymentId: 'dpl_other' }, /deploymentId is not allowed/],
    ['withLatestCommit', { withLatestCommit: true }, /withLatestCommit/],
    [
      'gitSource',
      { gitSource: { type: 'github', org: 'acme', repo: 'billing', ref: 'main' } },
      /gitSource is not allowed/,
    ],
    ['gitAccessToken', { gitAccessToken: 'x' }, /gitAccessToken/],
    ['alias', { alias: ['billing.acme.com'] }, /alias is not allowed/],
    ['an unknown field', { superpowers: true }, /superpowers is not allowed/],
    ['an env secret reference', { env: { DB: '@billing-db' } }, /env\.DB starts with "@"/],
    [
      'a build-env secret reference',
      { build: { env: { DB: '@billing-db' } } },
      /build\.env\.DB starts with "@"/,
    ],
    ['an absolute file path', { files: [{ ...files[0], file: '/etc/passwd' }] }, /relative POSIX path/],
    [
      'a parent-directory file path',
      { files: [{ ...files[0], file: 'a/../../b' }] },
      /must not contain "\.\."/,
    ],
    ['an unknown file key', { files: [{ ...files[0], url: 'https://x' }] }, /files\[0\]\.url is not allowed/],
    [
      'production with a preview credential',
      { target: 'production' },
      /target production is not allowed: this credential deploys to preview only/,
    ],
    [
      'a custom environment with a preview credential',
      { customEnvironmentSlugOrId: 'staging' },
      /target staging is not allowed/,
    ],
    ['a reserved meta key', { meta: { githubCommitSha: 'spoofed' } }, /meta\.githubCommitSha is not allowed/],
    [
      'a reserved meta key in any case',
      { meta: { KeyHoleStaged: '1' } },
      /meta\.KeyHoleStaged is not allowed.*reserved/,
    ],
    [
      'archive parts mixed with files',
      { files: [files[0], { file: '.vercel/source.tgz.part1', sha: sha1('x'), size: 1 }] },
      /lists only its parts/,
    ],
    [
      'archive parts not numbered from 1',
      { files: [{ file: '.vercel/source.tgz.part2', sha: sha1('x'), size: 1 }] },
      /numbered 1 to 1, each once/,
    ],
    [
      'an archive part twice',
      {
        files: [
          { file: '.vercel/source.tgz.part1', sha: sha1('x'), size: 1 },
          { file: '.vercel/source.tgz.part1', sha: sha1('y'), size: 1 },
        ],
      },
      /numbered 1 to 2, each once/,
    ],
    [
      'an archive part without its size',
      { files: [{ file: '.vercel/source.tgz.part1', sha: sha1('x') }] },
      /send its sha and size/,
    ],
    [
      'an archive larger than the job may upload',
      { files: [{ file: '.vercel/source.tgz.part1', sha: sha1('x'), size: 3 * 1024 ** 3 }] },
      /the archive has 3221225472 bytes; this broker lets a job upload/,
    ],
    [
      'too many files',
      { files: Array.from({ length: 51 }, (_, i) => ({ ...files[0], file: `f${i}` })) },
      /allows 50/,
    ],
  ])(
    '%s is refused with 403 naming the field, and nothing reaches upstream',
    async (_name, extra, message) => {
      const response = await world.call(credential, 'POST', '/v13/deployments', {
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'x', files, ...extra }),
      });
      expect(response.status).toBe(403);
      const error = await errorOf(response);
      expect(error.code).toBe('forbidden');
      expect(error.message).toMatch(message);
      expect(world.fake.requests.filter((r) => r.path === '/v13/deployments')).toHaveLength(0);
    },
  );

  test('a body that is not JSON is a 400 bad_request', async () => {
    const response = await world.call(credential, 'POST', '/v13/deployments', { body: 'nope' });
    expect(response.status).toBe(400);
    expect(world.fake.requests.filter((r) => r.path === '/v13/deployments')).toHaveLength(0);
  });

  test('the pin, the team, provenance and the upstream token are set by the broker whatever the client sent', async () => {
    const response = await deploy(credential, {
      name: 'billing',
      project: 'prj_billing',
      projectSettings: { buildCommand: 'curl evil | sh' },
      meta: { custom: 'kept' },
      gitMetadata: { commitSha: 'spoofed', commitAuthorName: 'Mallory' },
    });
    expect(response.status).toBe(200);
    const created = world.fake.requests
      .filter((r) => r.method === 'POST' && r.path === '/v13/deployments')
      .at(-1)!;
    const body = created.json as Record<string, Record<string, unknown>>;
    expect(body.project).toBe('prj_marketing');
    expect(body.name).toBe('marketing-site');
    expect(body.projectSettings).toBeUndefined();
    expect(body.meta).toMatchObject({
      custom: 'kept',
      githubCommitSha: 'a3f1c0d2e4b5a6978899aabbccddeeff00112233',
      keyholeRef: 'refs/heads/feature',
    });
    expect(body.gitMetadata).toEqual(
      expect.objectContaining({
        commitSha: 'a3f1c0d2e4b5a6978899aabbccddeeff00112233',
        commitRef: 'feature',
      }),
    );
    expect(body.gitMetadata!.commitAuthorName).toBeUndefined();
    expect(created.query.teamId).toBe('team_abc123');
    expect(created.headers.authorization).toBe(`Bearer ${UPSTREAM_TOKEN}`);
    expect(JSON.stringify(world.fake.requests)).not.toContain(credential);
  });

  test('a client teamId or slug is replaced by the pinned team', async () => {
    await world.call(credential, 'GET', '/v13/deployments/dpl_none?teamId=team_evil&slug=evil');
    const seen = world.fake.requests.at(-1)!;
    expect(seen.query).toEqual({ teamId: 'team_abc123' });
  });

  test('file modes and inline files pass through intact; prebuilt and forceNew pass through', async () => {
    await upload(credential, 'hello world');
    const response = await world.call(
      credential,
      'POST',
      '/v13/deployments?prebuilt=1&forceNew=1&skipAutoDetectionConfirmation=1',
      {
        body: JSON.stringify({
          name: 'x',
          files: [
            { file: 'bin/run', sha: sha1('hello world'), size: 11, mode: 33261 },
            { file: 'link', sha: sha1('hello world'), size: 11, mode: 41471 },
            { file: 'README.md', data: 'aGk=', encoding: 'base64' },
          ],
        }),
      },
    );
    expect(response.status).toBe(200);
    const created = world.fake.requests.at(-1)!;
    expect(created.query).toEqual({
      prebuilt: '1',
      forceNew: '1',
      skipAutoDetectionConfirmation: '1',
      teamId: 'team_abc123',
    });
    expect((created.json as { files: unknown[] }).files).toEqual([
      { file: 'bin/run', sha: sha1('hello world'), size: 11, mode: 33261 },
      { file: 'link', sha: sha1('hello world'), size: 11, mode: 41471 },
      { file: 'README.md', data: 'aGk=', encoding: 'base64' },
    ]);
  });
});

describe('reads are limited to the pinned project', () => {
  let foreign: string;
  beforeAll(async () => {
    const response = await deploy(billing);
    foreign = ((await response.json()) as { id: string }).id;
  });

  test('a foreign deployment answers 404 exactly like an unknown one', async () => {
    const a = await world.call(credential, 'GET', `/v13/deployments/${foreign}`);
    const b = await world.call(credential, 'GET', '/v13/deployments/dpl_doesnotexist');
    expect(a.status).toBe(404);
    expect(b.status).toBe(404);
    const strip = (e: { code: string; message: string }) => ({ code: e.code, message: e.message });
    expect(strip(await errorOf(a))).toEqual(strip(await errorOf(b)));
  });

  test("another team's deployment, which Vercel may answer 403, also answers 404 like an unknown one", async () => {
    world.fake.inject({ kind: 403, method: 'GET', path: '/v13/deployments/dpl_otherteam' });
    const a = await world.call(credential, 'GET', '/v13/deployments/dpl_otherteam');
    const b = await world.call(credential, 'GET', '/v13/deployments/dpl_doesnotexist');
    expect(a.status).toBe(404);
    const strip = (e: { code: string; message: string }) => ({ code: e.code, message: e.message });
    expect(strip(await errorOf(a))).toEqual(strip(await errorOf(b)));
  });

  test('events of a foreign deployment are refused before the stream is requested', async () => {
    for (const path of [
      `/v3/deployments/${foreign}/events?follow=1`,
      `/v3/now/deployments/${foreign}/events?follow=1&format=lines`,
    ]) {
      const response = await world.call(credential, 'GET', path);
      expect(response.status).toBe(404);
    }
    expect(world.fake.requests.filter((r) => r.path.endsWith('/events'))).toHaveLength(0);
  });

  test('cancelling a foreign deployment is refused and never forwarded', async () => {
    const response = await world.call(credential, 'PATCH', `/v12/deployments/${foreign}/cancel`);
    expect(response.status).toBe(404);
    expect(world.fake.requests.filter((r) => r.method === 'PATCH')).toHaveLength(0);
    expect(world.fake.deployments.get(foreign)!.canceled).toBe(false);
  });

  test('another project by id or name is not found; the pinned one returns settings only', async () => {
    expect((await world.call(credential, 'GET', '/v9/projects/prj_billing')).status).toBe(404);
    expect((await world.call(credential, 'GET', '/v9/projects/billing')).status).toBe(404);
    expect(world.fake.requests.some((r) => r.path.includes('billing'))).toBe(false);
    for (const idOrName of ['prj_marketing', 'marketing-site']) {
      const response = await world.call(credential, 'GET', `/v9/projects/${idOrName}`);
      expect(response.status).toBe(200);
      const body = (await response.json()) as Record<string, unknown>;
      expect(body).toMatchObject({ id: 'prj_marketing', name: 'marketing-site', nodeVersion: '24.x' });
      expect(body.env).toBeUndefined();
      expect(body.link).toBeUndefined();
      expect(JSON.stringify(body)).not.toMatch(/secret/);
    }
  });

  test('the build log of an owned deployment streams through as NDJSON', async () => {
    const created = (await (await deploy(credential)).json()) as { id: string };
    const response = await world.call(
      credential,
      'GET',
      `/v3/now/deployments/${created.id}/events?direction=forward&follow=1&format=lines`,
    );
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('application/stream+json');
    const lines = (await response.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string });
    expect(lines.at(-1)!.type).toBe('alias-assigned');
    expect(lines.some((l) => l.type === 'stdout')).toBe(true);
    const upstreamEvents = world.fake.requests.find((r) => r.path.endsWith('/events'))!;
    expect(upstreamEvents.path).toBe(`/v3/deployments/${created.id}/events`);
  });
});

describe('uploads', () => {
  test('a digest is required', async () => {
    const response = await world.call(credential, 'POST', '/v2/files', {
      body: 'abc',
      headers: { 'content-length': '3' },
    });
    expect(response.status).toBe(400);
    expect(world.fake.requests).toHaveLength(0);
  });

  test('a body without a length is refused', async () => {
    const stream = new ReadableStream({
      start: (c) => (c.enqueue(new TextEncoder().encode('abc')), c.close()),
    });
    const response = await world.call(credential, 'POST', '/v2/files', {
      body: stream,
      headers: { 'x-now-digest': sha1('abc') },
      duplex: 'half',
    } as RequestInit);
    expect(response.status).toBe(400);
    expect((await errorOf(response)).message).toMatch(/Content-Length or x-now-size/);
    expect(world.fake.requests).toHaveLength(0);
  });

  test("a chunked body that disagrees with x-now-size is the client's 400, not an upstream failure", async () => {
    const stream = new ReadableStream({
      start: (c) => (c.enqueue(new TextEncoder().encode('abc')), c.close()),
    });
    const response = await world.call(credential, 'POST', '/v2/files', {
      body: stream,
      headers: { 'x-now-digest': sha1('abc'), 'x-now-size': '10' },
      duplex: 'half',
    } as RequestInit);
    expect(response.status).toBe(400);
    const error = await errorOf(response);
    expect(error.code).toBe('bad_request');
    expect(error.message).toMatch(/has 3 bytes, but Content-Length or x-now-size says 10/);
    expect(world.fake.blobs.has(sha1('abc'))).toBe(false);
  });

  test('a digest that does not match the body is rejected upstream and relayed in Vercel shape', async () => {
    const response = await world.call(credential, 'POST', '/v2/files', {
      body: 'abc',
      headers: { 'x-vercel-digest': sha1('xyz') },
    });
    expect(response.status).toBe(400);
    expect((await errorOf(response)).code).toBe('bad_request');
  });

  test('an upload streams through with the digest and length Vercel checks', async () => {
    const response = await upload(credential, 'streamed content');
    expect(response.status).toBe(200);
    const seen = world.fake.requests.at(-1)!;
    expect(seen.headers['x-vercel-digest']).toBe(sha1('streamed content'));
    expect(seen.headers['content-length']).toBe(String('streamed content'.length));
    expect(world.fake.blobs.get(sha1('streamed content'))?.data?.toString()).toBe('streamed content');
  });
});

describe('upstream behaviour', () => {
  test('a 429 comes back in Vercel shape with Retry-After preserved', async () => {
    world.fake.inject({ kind: 429, path: '/v13/deployments/', retryAfterSeconds: 7 });
    const response = await world.call(credential, 'GET', '/v13/deployments/dpl_any');
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('7');
    expect((await errorOf(response)).code).toBe('rate_limited');
  });

  test('an upstream connection reset is a clean 502', async () => {
    world.fake.inject({ kind: 'reset', path: '/v13/deployments/' });
    const response = await world.call(credential, 'GET', '/v13/deployments/dpl_any');
    expect(response.status).toBe(502);
    expect((await errorOf(response)).code).toBe('upstream_error');
  });

  test('the deployment quota per credential is enforced', async () => {
    const fresh = await world.credential({ ref: 'refs/heads/quota' });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await deploy(fresh)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
  });

  test('no response the client receives contains the upstream token', async () => {
    expect(world.logs.join('\n')).not.toContain(UPSTREAM_TOKEN);
    expect(world.logs.join('\n')).not.toContain(credential);
  });
});
