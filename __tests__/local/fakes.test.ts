/** The local peers behave like the real ones, as judged by clients nobody here wrote. */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as core from '@actions/core';
import { VercelCore } from '@vercel/sdk/core.js';
import { deploymentsGetDeployment } from '@vercel/sdk/funcs/deploymentsGetDeployment.js';
import { deploymentsUploadFile } from '@vercel/sdk/funcs/deploymentsUploadFile.js';
import { createEmulator } from 'emulate';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { startGitHubIssuer } from '../../src/local/github-oidc.js';
import { startWorld, UPSTREAM_TOKEN } from '../../src/local/world.js';
import { startVercelFake, type VercelFake } from '../../src/local/vercel/index.js';

const sha1 = (data: string | Buffer) => createHash('sha1').update(data).digest('hex');

const trees: string[] = [];
afterAll(() => trees.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'keyhole-tree-'));
  trees.push(dir);
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), content);
  }
  return dir;
}

/** @vercel/client's createDeployment is an async generator of events; run it to its end. */
async function clientDeploy(
  apiUrl: string,
  token: string,
  dir: string,
  options: Record<string, unknown>,
  teamId?: string,
) {
  const client = (await import('@vercel/client')) as unknown as {
    createDeployment: (c: object, d: object) => AsyncIterable<{ type: string; payload: unknown }>;
  };
  const events: string[] = [];
  let last: { type: string; payload: unknown } | undefined;
  for await (const event of client.createDeployment(
    { token, path: dir, apiUrl, ...(teamId ? { teamId } : {}), userAgent: 'keyhole-tests' },
    { version: 2, ...options },
  )) {
    events.push(event.type);
    last = event;
    if (['ready', 'alias-assigned', 'error', 'canceled'].includes(event.type) && event.type !== 'ready')
      break;
  }
  return { events, last };
}

describe('GitHub OIDC issuer', () => {
  test('the real @actions/core getIDToken obtains a token that jose verifies against the served JWKS', async () => {
    const issuer = await startGitHubIssuer();
    const saved = {
      url: process.env.ACTIONS_ID_TOKEN_REQUEST_URL,
      token: process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN,
    };
    process.env.ACTIONS_ID_TOKEN_REQUEST_URL = issuer.requestUrl;
    process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN = issuer.requestToken;
    // @actions/core writes its workflow commands (::debug::, ::add-mask::<token>) to stdout: kept
    // out of the test output, and the mask is asserted rather than printed.
    const commands: string[] = [];
    const write = process.stdout.write;
    process.stdout.write = ((chunk: string | Uint8Array) => commands.push(String(chunk)) > 0) as typeof write;
    try {
      issuer.setJob({ ref: 'refs/heads/release/1.0', environment: 'production' });
      const token = await core.getIDToken('https://keyhole.example.com');
      const { payload, protectedHeader } = await jwtVerify(
        token,
        createRemoteJWKSet(new URL(issuer.jwksUrl)),
        { issuer: issuer.issuer, audience: 'https://keyhole.example.com', algorithms: ['RS256'], typ: 'JWT' },
      );
      expect(protectedHeader).toMatchObject({ alg: 'RS256', typ: 'JWT' });
      expect(payload).toMatchObject({
        ref: 'refs/heads/release/1.0',
        environment: 'production',
        repository_id: '123456789',
        runner_environment: 'github-hosted',
      });
      // GitHub's shape: nbf back-dated ten minutes, five minutes of life, a unique jti.
      expect(payload.iat! - payload.nbf!).toBe(600);
      expect(payload.exp! - payload.iat!).toBe(300);
      const again = await core.getIDToken('https://keyhole.example.com');
      expect((await jwtVerify(again, createRemoteJWKSet(new URL(issuer.jwksUrl)))).payload.jti).not.toBe(
        payload.jti,
      );
      expect(commands).toContain(`::add-mask::${token}\n`);
    } finally {
      process.stdout.write = write;
      process.env.ACTIONS_ID_TOKEN_REQUEST_URL = saved.url;
      process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN = saved.token;
      await issuer.close();
    }
  });
});

describe('strict Vercel fake', () => {
  let fake: VercelFake;
  beforeAll(async () => {
    fake = await startVercelFake({ tokens: [UPSTREAM_TOKEN] });
  });
  afterAll(() => fake.close());

  test('@vercel/client deploys a directory end to end: missing_files → uploads → create → READY', async () => {
    const dir = tree({ 'index.html': '<h1>client</h1>', 'a/b.css': 'b{}', 'c.js': 'console.log(1)' });
    fake.clearRecord();
    const { events } = await clientDeploy(
      fake.url,
      UPSTREAM_TOKEN,
      dir,
      { name: 'marketing-site', project: 'prj_marketing' },
      'team_abc123',
    );
    expect(events).toEqual(
      expect.arrayContaining([
        'hashes-calculated',
        'file-uploaded',
        'all-files-uploaded',
        'created',
        'ready',
      ]),
    );
    const sequence = fake.requests.map((r) => `${r.method} ${r.path}`);
    expect(sequence.slice(0, 5)).toEqual([
      'POST /v13/deployments',
      'POST /v2/files',
      'POST /v2/files',
      'POST /v2/files',
      'POST /v13/deployments',
    ]);
    expect(fake.requests[0]!.bytes).toBeGreaterThan(0);
  });

  test("@vercel/sdk parses the fake's deployment into the full variant, not the 4-key fallback", async () => {
    const sdk = new VercelCore({ bearerToken: UPSTREAM_TOKEN, serverURL: fake.url });
    const data = Buffer.from('sdk');
    const uploaded = await deploymentsUploadFile(sdk, {
      contentLength: data.length,
      xVercelDigest: sha1(data),
      requestBody: new Uint8Array(data),
    });
    expect(uploaded.ok).toBe(true);
    const created = await fetch(`${fake.url}/v13/deployments?teamId=team_abc123`, {
      method: 'POST',
      headers: { authorization: `Bearer ${UPSTREAM_TOKEN}` },
      body: JSON.stringify({
        name: 'x',
        project: 'prj_marketing',
        files: [{ file: 'i.html', sha: sha1(data), size: 3 }],
      }),
    });
    const { id } = (await created.json()) as { id: string };
    await new Promise((r) => setTimeout(r, 150));
    const result = await deploymentsGetDeployment(sdk, { idOrUrl: id, teamId: 'team_abc123' });
    if (!result.ok) throw result.error;
    const value = result.value as Record<string, unknown>;
    expect(value).toMatchObject({ id, readyState: 'READY', projectId: 'prj_marketing', aliasAssigned: true });
    expect(value.url).toEqual(expect.stringContaining('.vercel.app'));
    expect(value.inspectorUrl).toEqual(expect.stringContaining('vercel.com'));
  });

  test('uploads are checked: digest and length must match the body', async () => {
    const post = (headers: Record<string, string>, body: string) =>
      fetch(`${fake.url}/v2/files`, {
        method: 'POST',
        headers: { authorization: `Bearer ${UPSTREAM_TOKEN}`, ...headers },
        body,
      });
    expect((await post({ 'x-vercel-digest': sha1('abc') }, 'abd')).status).toBe(400);
    expect((await post({ 'x-now-digest': sha1('abc'), 'x-now-size': '4' }, 'abc')).status).toBe(400);
    expect((await post({}, 'abc')).status).toBe(400);
    expect((await post({ 'x-now-digest': sha1('abc') }, 'abc')).status).toBe(200);
  });

  test('missing_files is answered exactly as Vercel does', async () => {
    const response = await fetch(`${fake.url}/v13/deployments?teamId=team_abc123`, {
      method: 'POST',
      headers: { authorization: `Bearer ${UPSTREAM_TOKEN}` },
      body: JSON.stringify({
        name: 'x',
        project: 'prj_marketing',
        files: [
          { file: 'a', sha: sha1('never uploaded'), size: 1 },
          { file: 'b', sha: sha1('never uploaded'), size: 1 },
        ],
      }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: { code: 'missing_files', message: 'Missing files', missing: [sha1('never uploaded')] },
    });
  });

  test('fault injection really makes a client see 429, 5xx, resets and slow answers', async () => {
    const get = () =>
      fetch(`${fake.url}/v2/user`, { headers: { authorization: `Bearer ${UPSTREAM_TOKEN}` } });
    fake.inject({ kind: 429, path: '/v2/user', retryAfterSeconds: 3 });
    const limited = await get();
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('3');
    expect(((await limited.json()) as { error: { code: string; limit: object } }).error).toMatchObject({
      code: 'rate_limited',
      limit: { remaining: 0 },
    });
    for (const status of [500, 502, 503] as const) {
      fake.inject({ kind: status, path: '/v2/user' });
      expect((await get()).status).toBe(status);
    }
    fake.inject({ kind: 'reset', path: '/v2/user' });
    await expect(get()).rejects.toThrow();
    fake.inject({ kind: 'slow', path: '/v2/user', delayMs: 300 });
    const started = Date.now();
    expect((await get()).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect((await get()).status).toBe(200);
  });

  test('a wrong token is refused like Vercel refuses it', async () => {
    const response = await fetch(`${fake.url}/v2/user`, { headers: { authorization: 'Bearer wrong' } });
    expect(response.status).toBe(403);
  });
});

describe('@vercel/client through the Keyhole gateway', () => {
  test('deploys the pinned project with only the credential, even when it names another project', async () => {
    const world = await startWorld();
    try {
      const credential = await world.credential();
      const dir = tree({ 'index.html': '<h1>through the gateway</h1>', 'x.css': 'x{}' });
      const { events } = await clientDeploy(world.url, credential, dir, {
        name: 'billing',
        project: 'prj_billing',
      });
      expect(events).toContain('ready');
      const [deployment] = [...world.fake.deployments.values()];
      expect(deployment).toMatchObject({
        projectId: 'prj_marketing',
        teamId: 'team_abc123',
        name: 'marketing-site',
      });
    } finally {
      await world.close();
    }
  });
});

describe("emulate (Vercel Labs' emulator)", () => {
  test('@vercel/client deploys a directory against it', async () => {
    const token = 'emulate_token_for_tests';
    const vercel = await createEmulator({
      service: 'vercel',
      port: 0,
      seed: {
        tokens: { [token]: { login: 'owner' } },
        vercel: {
          users: [{ username: 'owner', email: 'o@example.com' }],
          teams: [{ slug: 'acme', name: 'Acme' }],
          projects: [{ name: 'site', team: 'acme' }],
        },
      },
    });
    try {
      const project = (await (
        await fetch(`${vercel.url}/v9/projects/site?slug=acme`, {
          headers: { authorization: `Bearer ${token}` },
        })
      ).json()) as { id: string; accountId: string };
      const { events } = await clientDeploy(
        vercel.url,
        token,
        tree({ 'index.html': 'emulated' }),
        { name: 'site', project: project.id },
        project.accountId,
      );
      expect(events).toContain('ready');
    } finally {
      await vercel.close();
    }
  });
});
