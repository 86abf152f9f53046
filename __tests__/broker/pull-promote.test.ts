/** Gated `vercel pull` and build-once-then-promote, through the gateway against the strict fake. */
import { mintCredential } from '../../src/broker/credential/credential.js';
import { WEB_ENV, WEB_FAKE_PROJECTS, WEB_PROJECT, WEB_SECRETS } from '../../src/local/web-project.js';
import { startWorld, UPSTREAM_TOKEN, type World } from '../../src/local/world.js';

const SHA = 'a3f1c0d2e4b5a6978899aabbccddeeff00112233';
const OTHER_SHA = 'ffffffffffffffffffffffffffffffffffffffff';
let world: World;

beforeAll(async () => {
  world = await startWorld({
    config: {
      projects: { web: WEB_PROJECT, 'web-gated': { ...WEB_PROJECT, promote_environments: ['Production'] } },
    },
    fake: { projects: WEB_FAKE_PROJECTS, env: WEB_ENV },
  });
});
afterAll(() => world.close());
beforeEach(() => world.fake.clearRecord());

const credentialFor = async (overrides: Partial<Parameters<typeof mintCredential>[1]> = {}) =>
  (
    await mintCredential(world.keys, {
      pn: 'web',
      prj: 'prj_web',
      team: 'team_abc123',
      tgt: 'preview',
      rid: '123456789',
      repo: 'acme/marketing',
      ref: 'refs/heads/main',
      sha: SHA,
      run: '7000000001',
      att: '1',
      wf: 'acme/marketing/.github/workflows/deploy.yml@refs/heads/main',
      iat: Date.now(),
      exp: Date.now() + 60_000,
      ...overrides,
    })
  ).credential;

const errorOf = async (response: Response) =>
  ((await response.json()) as { error: { code: string; message: string } }).error;
const upstreamCalls = (pattern: RegExp) => world.fake.requests.filter((r) => pattern.test(r.path));

describe('gated env pull', () => {
  test('answers only the listed names of the credential’s own target, from env and buildEnv', async () => {
    const credential = await credentialFor();
    const response = await world.call(
      credential,
      'GET',
      '/v3/env/pull/prj_web/preview?source=vercel-cli%3Apull&teamId=team_evil',
    );
    const text = await response.text();
    expect(response.status).toBe(200);
    expect(JSON.parse(text)).toEqual({
      env: { NEXT_PUBLIC_API_URL: 'https://api.preview.acme.example' },
      buildEnv: { NEXT_PUBLIC_API_URL: 'https://api.preview.acme.example' },
    });
    for (const hidden of [...WEB_SECRETS, 'DATABASE_URL', 'STRIPE_SECRET_KEY', 'VERCEL_OIDC_TOKEN'])
      expect(text).not.toContain(hidden);
    // The audit line says which names left the broker (never a value).
    const audit = world.logs
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .findLast((l) => l.route === 'env-pull');
    expect(audit).toMatchObject({ decision: 'allow', env_names: ['NEXT_PUBLIC_API_URL'] });
    const [call] = upstreamCalls(/^\/v3\/env\/pull\//);
    expect(call).toMatchObject({
      path: '/v3/env/pull/prj_web/preview',
      query: { teamId: 'team_abc123', source: 'vercel-cli:pull' },
    });
  });

  test('the project may be named by its Vercel name; production reads production values', async () => {
    const credential = await credentialFor({ tgt: 'production', env: 'production' });
    const response = await world.call(credential, 'GET', '/v3/env/pull/web/production');
    expect(await response.json()).toEqual({
      env: { NEXT_PUBLIC_API_URL: 'https://api.acme.example', NEXT_PUBLIC_FEATURE_SEED: '' },
      buildEnv: { NEXT_PUBLIC_API_URL: 'https://api.acme.example', NEXT_PUBLIC_FEATURE_SEED: '' },
    });
  });

  test('a branch override is read only for the credential’s own branch', async () => {
    const feature = await credentialFor({ ref: 'refs/heads/feature/x' });
    const own = await world.call(feature, 'GET', '/v3/env/pull/prj_web/preview/feature%2Fx');
    expect(await own.json()).toEqual({
      env: {
        NEXT_PUBLIC_API_URL: 'https://api.preview.acme.example',
        NEXT_PUBLIC_BRANCH_FLAG: 'feature-x-on',
      },
      buildEnv: {
        NEXT_PUBLIC_API_URL: 'https://api.preview.acme.example',
        NEXT_PUBLIC_BRANCH_FLAG: 'feature-x-on',
      },
    });
    world.fake.clearRecord();
    const main = await credentialFor();
    const other = await world.call(main, 'GET', '/v3/env/pull/prj_web/preview/feature%2Fx');
    expect(other.status).toBe(403);
    expect((await errorOf(other)).message).toMatch(/branch overrides of main only/);
    expect(upstreamCalls(/^\/v3\/env\/pull\//)).toHaveLength(0);
  });

  test('the team lookup of CLI < 64 is answered with the pinned team id only, for every project', async () => {
    const response = await world.call(await credentialFor(), 'GET', '/teams/team_abc123');
    expect(await response.json()).toEqual({ id: 'team_abc123', slug: 'team_abc123', name: 'team_abc123' });
    expect((await world.call(await credentialFor(), 'GET', '/teams/team_other')).status).toBe(403);
    // Projects without env_pull get the same answer (wave 3: `inspect`, `rollback` read the team too).
    const marketing = await credentialFor({ pn: 'marketing-site', prj: 'prj_marketing' });
    expect((await world.call(marketing, 'GET', '/teams/team_abc123')).status).toBe(200);
    expect(world.fake.requests).toHaveLength(0);
  });

  test.each([
    [
      'another target',
      { tgt: 'preview' },
      '/v3/env/pull/prj_web/production',
      403,
      /preview environment only/,
    ],
    ['development', { tgt: 'preview' }, '/v3/env/pull/prj_web/development', 403, /preview environment only/],
    ['no target', { tgt: 'preview' }, '/v3/env/pull/prj_web', 403, /not an allowed call/],
    [
      'a project without env_pull',
      { pn: 'marketing-site', prj: 'prj_marketing' },
      '/v3/env/pull/prj_marketing/preview',
      403,
      /lets builds read no variables/,
    ],
    ['another project', {}, '/v3/env/pull/prj_billing/preview', 404, /not found/],
    ['a deployment id instead of a project', {}, '/v3/env/pull/dpl_abc/preview', 404, /not found/],
    ['an encoded character outside the branch', {}, '/v3/env/pull/prj%5Fweb/preview', 403, /encoded/],
  ])('%s is refused without an upstream env read', async (_name, claims, path, status, message) => {
    const credential = await credentialFor(claims);
    const response = await world.call(credential, 'GET', path);
    expect(response.status).toBe(status);
    expect((await errorOf(response)).message).toMatch(message);
    expect(upstreamCalls(/\/env/)).toHaveLength(0);
  });
});

async function waitUntilDone(credential: string, id: string) {
  for (;;) {
    const body = (await (await world.call(credential, 'GET', `/v13/deployments/${id}`)).json()) as {
      readyState: string;
    };
    if (['READY', 'ERROR', 'CANCELED'].includes(body.readyState)) return body.readyState;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

let creates = 0;
/** Creates (and waits for) a deployment of prj_web through the gateway; returns its id. */
async function deploy(credential: string, body: Record<string, unknown>, files = ['index.html']) {
  creates += 1;
  const response = await world.call(credential, 'POST', '/v13/deployments', {
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'web',
      files: files.map((file) => ({ file, data: Buffer.from(`page ${creates}`).toString('base64') })),
      ...body,
    }),
  });
  const created = (await response.json()) as { id: string; error?: unknown };
  expect(response.status).toBe(200);
  await waitUntilDone(credential, created.id);
  return created.id;
}

describe('build once, then promote', () => {
  const production = () => credentialFor({ tgt: 'production', env: 'production' });
  const stage = async (sha = SHA, files?: string[]) =>
    deploy(
      await credentialFor({ tgt: 'production', env: 'production', sha }),
      { target: 'production', autoAssignCustomDomains: false },
      files,
    );
  const promoteCalls = () => upstreamCalls(/\/promote\//);

  test('a staged deployment is stamped by the broker, never by the client', async () => {
    const id = await stage();
    const staged = world.fake.deployments.get(id)!;
    expect(staged.body).toMatchObject({ autoAssignCustomDomains: false, target: 'production' });
    expect((staged.body.meta as Record<string, string>).keyholeStaged).toBe('1');
    expect(world.fake.productionOf('prj_web')).not.toBe(id);

    // Client meta starting with "keyhole" is refused outright (it was silently dropped before issue 23.4).
    const forged = await world.call(await production(), 'POST', '/v13/deployments', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'web', target: 'production', files: [], meta: { keyholeStaged: '1' } }),
    });
    expect(forged.status).toBe(403);
    expect(JSON.stringify(await forged.json())).toMatch(/meta\.keyholeStaged is not allowed/);
  });

  test('autoAssignCustomDomains: false is refused on a preview deploy', async () => {
    const response = await world.call(await credentialFor(), 'POST', '/v13/deployments', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'web', files: [], autoAssignCustomDomains: false }),
    });
    expect(response.status).toBe(403);
    expect((await errorOf(response)).message).toMatch(/needs target production/);
    expect(upstreamCalls(/^\/v13\/deployments$/)).toHaveLength(0);
  });

  test('a production credential of the same commit promotes the staged deployment', async () => {
    const id = await stage();
    world.fake.clearRecord();
    const credential = await production();
    const response = await world.call(credential, 'POST', `/v10/projects/prj_web/promote/${id}`, {
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(response.status).toBe(201);
    expect(
      world.logs.map((l) => JSON.parse(l) as Record<string, unknown>).findLast((l) => l.route === 'promote'),
    ).toMatchObject({ decision: 'allow', promoted_deployment: id, promoted_sha: SHA, upstream_status: 201 });
    expect(promoteCalls()).toEqual([
      expect.objectContaining({ method: 'POST', path: `/v10/projects/prj_web/promote/${id}` }),
    ]);
    expect(promoteCalls()[0]!.headers.authorization).toBe(`Bearer ${UPSTREAM_TOKEN}`);
    let project: { targets?: { production?: { id: string } }; lastAliasRequest?: { jobStatus: string } };
    do {
      await new Promise((resolve) => setTimeout(resolve, 20));
      project = (await (
        await world.call(credential, 'GET', '/v9/projects/prj_web')
      ).json()) as typeof project;
    } while (project.lastAliasRequest?.jobStatus !== 'succeeded');
    expect(project.targets?.production?.id).toBe(id);
    expect(world.fake.productionOf('prj_web')).toBe(id);
  });

  test.each<[string, () => Promise<{ credential: string; path: string }>, number, RegExp]>([
    [
      'a preview credential',
      async () => ({
        credential: await credentialFor(),
        path: `/v10/projects/prj_web/promote/${await stage()}`,
      }),
      403,
      /needs a production credential/,
    ],
    [
      'a deployment of another commit',
      async () => ({
        credential: await production(),
        path: `/v10/projects/prj_web/promote/${await stage(OTHER_SHA)}`,
      }),
      403,
      /built from commit ffffffffffff/,
    ],
    [
      'a deployment that is not READY',
      async () => ({
        credential: await production(),
        path: `/v10/projects/prj_web/promote/${await stage(SHA, ['index.html', 'FAIL_BUILD'])}`,
      }),
      403,
      /is ERROR; only a READY deployment/,
    ],
    [
      'a production deployment that was not staged',
      async () => {
        const credential = await production();
        return {
          credential,
          path: `/v10/projects/prj_web/promote/${await deploy(credential, { target: 'production' })}`,
        };
      },
      403,
      /was not staged through Keyhole/,
    ],
    [
      'a preview deployment (a rebuild for production)',
      async () => ({
        credential: await production(),
        path: `/v10/projects/prj_web/promote/${await deploy(await credentialFor(), {})}`,
      }),
      403,
      /not a production deployment/,
    ],
    [
      'another project’s deployment, even with Keyhole-looking stamps',
      async () => {
        const response = await fetch(`${world.fake.url}/v13/deployments?teamId=team_abc123`, {
          method: 'POST',
          headers: { authorization: `Bearer ${UPSTREAM_TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            name: 'billing',
            project: 'prj_billing',
            target: 'production',
            autoAssignCustomDomains: false,
            meta: { keyholeStaged: '1', keyholeCredentialId: 'x', githubCommitSha: SHA },
            files: [{ file: 'index.html', data: 'aGk=' }],
          }),
        });
        const { id } = (await response.json()) as { id: string };
        return { credential: await production(), path: `/v10/projects/prj_web/promote/${id}` };
      },
      404,
      /not found/,
    ],
    [
      'another project in the path',
      async () => ({
        credential: await production(),
        path: `/v10/projects/prj_billing/promote/${await stage()}`,
      }),
      404,
      /project was not found/,
    ],
  ])('%s is refused and nothing reaches the promote route', async (_name, setup, status, message) => {
    const { credential, path } = await setup();
    world.fake.clearRecord();
    const response = await world.call(credential, 'POST', path, { body: '{}' });
    expect(response.status).toBe(status);
    expect((await errorOf(response)).message).toMatch(message);
    expect(promoteCalls()).toHaveLength(0);
  });

  test('promote_environments: only a job in a listed GitHub environment promotes', async () => {
    const gated = (env: string) => credentialFor({ pn: 'web-gated', tgt: 'production', env });
    const id = await stage();
    world.fake.clearRecord();
    const build = await world.call(
      await gated('production-build'),
      'POST',
      `/v10/projects/prj_web/promote/${id}`,
    );
    expect(build.status).toBe(403);
    expect((await errorOf(build)).message).toMatch(
      /promoted only from jobs in the GitHub environment production; this job's environment is production-build/,
    );
    expect(world.fake.requests).toHaveLength(0);
    const approved = await world.call(
      await gated('production'),
      'POST',
      `/v10/projects/prj_web/promote/${id}`,
    );
    expect(approved.status).toBe(201);
    expect(promoteCalls()).toHaveLength(1);
  });

  test('promote_environments: a job outside the list may create production only staged', async () => {
    const gated = (env?: string) =>
      credentialFor({ pn: 'web-gated', tgt: 'production', ...(env === undefined ? {} : { env }) });
    const create = async (credential: string, body: Record<string, unknown>) =>
      world.call(credential, 'POST', '/v13/deployments', {
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'web', target: 'production', files: [], ...body }),
      });
    // Serving production from production-build (no reviewers) would bypass the promotion gate.
    for (const credential of [await gated('production-build'), await gated()]) {
      const refused = await create(credential, {});
      expect(refused.status).toBe(403);
      expect((await errorOf(refused)).message).toMatch(
        /serves production only through a promotion from the GitHub environment production; a job in (environment production-build|no environment) may only stage it/,
      );
    }
    expect(upstreamCalls(/^\/v13\/deployments/)).toHaveLength(0);

    // Staging (stage: true sends autoAssignCustomDomains: false) builds without taking the domains.
    const staged = await deploy(await gated('production-build'), {
      target: 'production',
      autoAssignCustomDomains: false,
    });
    expect((world.fake.deployments.get(staged)!.body.meta as Record<string, string>).keyholeStaged).toBe('1');
    expect(world.fake.productionOf('prj_web')).not.toBe(staged);

    // A listed environment (matched case-insensitively: the config says Production) deploys as before.
    const served = await deploy(await gated('production'), { target: 'production' });
    expect(world.fake.deployments.get(served)!.body).not.toHaveProperty('autoAssignCustomDomains');
  });

  test('a rebuild of a preview for production (create with deploymentId) stays refused', async () => {
    const preview = await deploy(await credentialFor(), {});
    world.fake.clearRecord();
    const response = await world.call(await production(), 'POST', '/v13/deployments', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        deploymentId: preview,
        name: 'web',
        target: 'production',
        meta: { action: 'promote' },
      }),
    });
    expect(response.status).toBe(403);
    expect((await errorOf(response)).message).toMatch(/deploymentId is not allowed/);
    expect(world.fake.requests).toHaveLength(0);
  });
});
