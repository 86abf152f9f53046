/**
 * Preview clean-up and rollback through the gateway against the strict fake: what is allowed acts,
 * and every hostile case is refused 403/404 with no upstream write in the fake's record.
 */
import { mintCredential, type CredentialClaims } from '../../src/broker/credential/credential.js';
import { localCredentialClaims } from '../../src/local/credentials.js';
import { startWorld, UPSTREAM_TOKEN, type World } from '../../src/local/world.js';

const SHA = 'a3f1c0d2e4b5a6978899aabbccddeeff00112233';
const PR = 'refs/pull/7/merge';
let world: World;

beforeAll(async () => {
  world = await startWorld({
    config: {
      projects: {
        'marketing-site': {
          cleanup_previews: true,
          preview_aliases: ['*.preview.acme.dev'],
          rollback_environments: ['Production'],
        },
        billing: { preview_aliases: ['*.billing.acme.dev'] },
      },
    },
  });
});
afterAll(() => world.close());

type Claims = Omit<CredentialClaims, 'v' | 'cid'>;
const credentialFor = async (overrides: Partial<Claims> = {}) =>
  (
    await mintCredential(
      world.keys,
      localCredentialClaims({
        ref: PR,
        sha: SHA,
        wf: 'acme/marketing/.github/workflows/preview.yml@refs/pull/7/merge',
        evt: 'pull_request',
        exp: Date.now() + 120_000,
        ...overrides,
      }),
    )
  ).credential;
const PRODUCTION: Partial<Claims> = {
  tgt: 'production',
  env: 'production',
  ref: 'refs/heads/main',
  evt: 'push',
};
const BILLING: Partial<Claims> = { pn: 'billing', prj: 'prj_billing' };

const json = { 'content-type': 'application/json' };
const errorOf = async (response: Response) =>
  ((await response.json()) as { error: { code: string; message: string } }).error;
const writes = () => world.fake.requests.filter((r) => r.method !== 'GET');
const settle = () => new Promise((resolve) => setTimeout(resolve, 150));

/** A deployment created through the broker (stamped), READY once `settle` has passed. */
async function deployed(credential: string, target = 'preview', file = 'index.html'): Promise<string> {
  const response = await world.call(credential, 'POST', '/v13/deployments', {
    headers: json,
    body: JSON.stringify({ name: 'x', target, files: [{ file, data: `<h1>${Math.random()}</h1>` }] }),
  });
  const body = (await response.json()) as { id: string };
  expect([response.status, body]).toEqual([200, expect.objectContaining({ id: expect.any(String) })]);
  return body.id;
}

/** A deployment made with the real Vercel token, its meta dressed up as Keyhole's. */
async function forged(target: 'production' | null, ref = PR): Promise<string> {
  const response = await fetch(`${world.fake.url}/v13/deployments?teamId=team_abc123`, {
    method: 'POST',
    headers: { ...json, authorization: `Bearer ${UPSTREAM_TOKEN}` },
    body: JSON.stringify({
      name: 'marketing-site',
      project: 'prj_marketing',
      ...(target ? { target } : {}),
      files: [{ file: 'index.html', data: 'forged' }],
      meta: {
        keyholeRef: ref,
        githubCommitSha: SHA,
        keyholeTarget: target ?? 'preview',
        keyholeCreateKey: 'c'.repeat(64),
        keyholeCredentialId: 'cred_forged',
        keyholeStamp: `v1.k1.${'ab'.repeat(32)}`,
      },
    }),
  });
  return ((await response.json()) as { id: string }).id;
}

async function aliased(credential: string, id: string, alias: string): Promise<void> {
  const response = await world.call(credential, 'POST', `/v2/deployments/${id}/aliases`, {
    headers: json,
    body: JSON.stringify({ alias }),
  });
  expect(response.status).toBe(200);
}

describe('preview clean-up', () => {
  test('lists only this branch’s stamped previews, with their preview aliases, then deletes them and the alias', async () => {
    const mine = await credentialFor();
    const other = await credentialFor({ ref: 'refs/pull/8/merge' });
    const [first, second, theirs] = [await deployed(mine), await deployed(mine), await deployed(other)];
    const fake = await forged(null);
    await settle();
    await aliased(mine, second, 'pr-7.preview.acme.dev');
    await aliased(other, theirs, 'pr-8.preview.acme.dev');

    const listing = await world.call(mine, 'GET', '/v6/deployments?projectId=prj_marketing&teamId=team_evil');
    expect(listing.status).toBe(200);
    const { deployments } = (await listing.json()) as {
      deployments: { uid: string; keyholeAliases: string[] }[];
    };
    expect(deployments.map((d) => d.uid)).toEqual([second, first]);
    expect(deployments[0]!.keyholeAliases).toEqual(['pr-7.preview.acme.dev']);
    expect(deployments.map((d) => d.uid)).not.toContain(fake);
    const listed = world.fake.requests.find((r) => r.path === '/v6/deployments')!;
    expect(listed.query).toMatchObject({
      projectId: 'prj_marketing',
      'meta-keyholeRef': PR,
      teamId: 'team_abc123',
    });

    world.fake.clearRecord();
    const alias = await world.call(mine, 'DELETE', '/v2/aliases/pr-7.preview.acme.dev');
    expect(alias.status).toBe(200);
    expect(await alias.json()).toEqual({ status: 'SUCCESS' });
    for (const id of [first, second]) {
      const response = await world.call(mine, 'DELETE', `/v13/deployments/${id}`);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ uid: id, state: 'DELETED' });
    }
    expect(writes().map((r) => `${r.method} ${r.path}`)).toEqual([
      'DELETE /v2/aliases/pr-7.preview.acme.dev',
      `DELETE /v13/deployments/${first}`,
      `DELETE /v13/deployments/${second}`,
    ]);
    expect(world.fake.deployments.has(theirs)).toBe(true);
    expect(world.fake.aliases.get('pr-8.preview.acme.dev')).toBe(theirs);
    expect(
      world
        .audit()
        .filter((a) => a.route === 'delete-deployment')
        .at(-1),
    ).toMatchObject({
      decision: 'allow',
      deleted_deployment: second,
      ref: PR,
    });
    expect(world.audit().find((a) => a.route === 'delete-alias')).toMatchObject({
      deleted_alias: 'pr-7.preview.acme.dev',
    });
  });

  test.each([
    [
      'another branch’s preview',
      async () => deployed(await credentialFor({ ref: 'refs/pull/8/merge' })),
      403,
      /another ref/,
    ],
    [
      'a production deployment',
      async () => deployed(await credentialFor(PRODUCTION), 'production'),
      403,
      /production deployment/,
    ],
    [
      'an unstamped deployment with forged keyhole meta',
      () => forged(null),
      403,
      /keyholeStamp does not verify/,
    ],
    ['a forged production deployment', () => forged('production'), 403, /production deployment/],
    ['another project’s preview', async () => deployed(await credentialFor(BILLING)), 404, /not found/],
    ['an unknown deployment', async () => 'dpl_doesnotexist', 404, /not found/],
  ])('deleting %s is refused with no upstream write', async (_, make, status, message) => {
    const id = await make();
    await settle();
    world.fake.clearRecord();
    const response = await world.call(await credentialFor(), 'DELETE', `/v13/deployments/${id}`);
    expect(response.status).toBe(status);
    expect((await errorOf(response)).message).toMatch(message);
    expect(writes()).toEqual([]);
    if (id.startsWith('dpl_') && id !== 'dpl_doesnotexist') expect(world.fake.deployments.has(id)).toBe(true);
  });

  test.each([
    [
      'a name outside preview_aliases',
      'www.acme.dev',
      async () => deployed(await credentialFor()),
      403,
      /does not match/,
    ],
    [
      'another branch’s alias',
      'pr-8b.preview.acme.dev',
      async () => deployed(await credentialFor({ ref: 'refs/pull/8/merge' })),
      403,
      /another ref/,
    ],
    ['an alias on a forged deployment', 'pr-7b.preview.acme.dev', () => forged(null), 403, /does not verify/],
    [
      'another project’s alias',
      'pr-7c.preview.acme.dev',
      async () => deployed(await credentialFor(BILLING)),
      404,
      /not found/,
    ],
  ])('removing %s is refused with no upstream write', async (_, alias, make, status, message) => {
    const id = await make();
    await settle();
    world.fake.aliases.set(alias, id);
    world.fake.clearRecord();
    const response = await world.call(await credentialFor(), 'DELETE', `/v2/aliases/${alias}`);
    expect(response.status).toBe(status);
    expect((await errorOf(response)).message).toMatch(message);
    expect(writes()).toEqual([]);
    expect(world.fake.aliases.get(alias)).toBe(id);
  });

  test.each([
    ['a production credential', PRODUCTION, /needs a preview credential/],
    ['a project without cleanup_previews', BILLING, /does not set cleanup_previews/],
    ['a workflow_run job (the base repository’s ref)', { evt: 'workflow_run' }, /base repository's ref/],
  ])('%s may neither list nor delete', async (_, claims, message) => {
    const id = await deployed(await credentialFor());
    await settle();
    world.fake.clearRecord();
    const credential = await credentialFor(claims);
    for (const [method, path] of [
      ['DELETE', `/v13/deployments/${id}`],
      ['DELETE', '/v2/aliases/pr-7.preview.acme.dev'],
      ['GET', '/v6/deployments'],
    ] as const) {
      const response = await world.call(credential, method, path);
      expect(response.status).toBe(403);
      expect((await errorOf(response)).message).toMatch(message);
    }
    expect(world.fake.requests).toEqual([]);
  });

  test('the list answers only its own target and project; `vercel remove` paths and project deletion stay refused', async () => {
    const credential = await credentialFor();
    world.fake.clearRecord();
    expect((await world.call(credential, 'GET', '/v6/deployments?target=production')).status).toBe(403);
    expect((await world.call(credential, 'GET', '/v6/deployments?projectId=prj_billing')).status).toBe(404);
    for (const [method, path] of [
      ['DELETE', '/now/deployments/dpl_abc?hard=1'],
      ['GET', '/now/deployments/dpl_abc/aliases'],
      ['DELETE', '/now/aliases/alias_abc'],
      ['DELETE', '/projects/prj_marketing'],
      ['DELETE', '/v9/projects/prj_marketing'],
    ] as const)
      expect((await world.call(credential, method, path)).status).toBe(403);
    expect(
      world.fake.requests.filter((r) => r.path !== '/v9/projects/prj_marketing' || r.method !== 'GET'),
    ).toEqual([]);
  });
});

describe('rollback', () => {
  test('returns production to a stamped READY production deployment, `previous` to the one before; the audit names from→to', async () => {
    const production = await credentialFor(PRODUCTION);
    const old = await deployed(production, 'production');
    await settle();
    const current = await deployed(production, 'production');
    await settle();
    expect(world.fake.productionOf('prj_marketing')).toBe(current);

    world.fake.clearRecord();
    const response = await world.call(production, 'POST', '/v9/projects/prj_marketing/rollback/previous', {
      headers: json,
      body: '{}',
    });
    expect(response.status).toBe(201);
    expect(writes().map((r) => `${r.method} ${r.path}`)).toEqual([
      `POST /v9/projects/prj_marketing/rollback/${old}`,
    ]);
    await settle();
    expect(world.fake.productionOf('prj_marketing')).toBe(old);
    expect(world.audit().findLast((a) => a.route === 'rollback')).toMatchObject({
      decision: 'allow',
      rolled_back_from: current,
      rolled_back_to: old,
    });
    // The status poll of `vercel rollback status`.
    const status = await world.call(production, 'GET', '/v9/projects/prj_marketing?rollbackInfo=true');
    expect(await status.json()).toMatchObject({
      lastAliasRequest: { toDeploymentId: old, jobStatus: 'succeeded', type: 'rollback' },
    });

    // And forward again, by id.
    const back = await world.call(production, 'POST', `/v9/projects/marketing-site/rollback/${current}`);
    expect(back.status).toBe(201);
    await settle();
    expect(world.fake.productionOf('prj_marketing')).toBe(current);
  });

  test('`previous` skips a staged deployment that never served production', async () => {
    const production = await credentialFor(PRODUCTION);
    const stage = async () => {
      const response = await world.call(production, 'POST', '/v13/deployments', {
        headers: json,
        body: JSON.stringify({
          name: 'x',
          target: 'production',
          autoAssignCustomDomains: false,
          files: [{ file: 'index.html', data: `staged ${Math.random()}` }],
        }),
      });
      expect(response.status).toBe(200);
      return ((await response.json()) as { id: string }).id;
    };
    // A promotion ends the freeze the rollbacks above left: production builds take production again.
    const promoted = await stage();
    await settle();
    expect(
      (await world.call(production, 'POST', `/v10/projects/prj_marketing/promote/${promoted}`)).status,
    ).toBe(201);
    await settle();
    const served = await deployed(production, 'production');
    await settle();
    await stage(); // READY, stamped, production, but never served
    await settle();
    const current = await deployed(production, 'production');
    await settle();
    expect(world.fake.productionOf('prj_marketing')).toBe(current);
    world.fake.clearRecord();
    const response = await world.call(production, 'POST', '/v9/projects/prj_marketing/rollback/previous');
    expect(response.status).toBe(201);
    expect(writes().map((r) => r.path)).toEqual([`/v9/projects/prj_marketing/rollback/${served}`]);
    expect(world.fake.requests.find((r) => r.path === '/v6/deployments')?.query).toMatchObject({
      target: 'production',
      state: 'READY',
      rollbackCandidate: 'true',
    });
  });

  test.each([
    [
      'a preview deployment',
      async () => deployed(await credentialFor()),
      {},
      403,
      /not a production deployment/,
    ],
    [
      'another project’s deployment',
      async () => deployed(await credentialFor({ ...BILLING, tgt: 'preview' })),
      {},
      404,
      /not found/,
    ],
    [
      'an unstamped deployment with forged keyhole meta',
      () => forged('production', 'refs/heads/main'),
      {},
      403,
      /does not verify/,
    ],
    [
      'a failed deployment',
      async () => deployed(await credentialFor(PRODUCTION), 'production', 'FAIL_BUILD'),
      {},
      403,
      /ERROR; only a READY/,
    ],
    [
      'a stamped deployment, from a job outside rollback_environments',
      async () => deployed(await credentialFor(PRODUCTION), 'production'),
      { env: 'staging' },
      403,
      /environment is staging/,
    ],
    [
      'a stamped deployment, with a preview credential',
      async () => deployed(await credentialFor(PRODUCTION), 'production'),
      { tgt: 'preview', env: undefined },
      403,
      /needs a production credential/,
    ],
  ])('rolling back to %s is refused with no upstream write', async (_, make, claims, status, message) => {
    const id = await make();
    await settle();
    world.fake.clearRecord();
    const credential = await credentialFor({ ...PRODUCTION, ...claims });
    const response = await world.call(credential, 'POST', `/v9/projects/prj_marketing/rollback/${id}`);
    expect(response.status).toBe(status);
    expect((await errorOf(response)).message).toMatch(message);
    expect(writes()).toEqual([]);
  });

  test('a project without rollback_environments, or another project named in the path, is refused', async () => {
    const target = await deployed(await credentialFor(PRODUCTION), 'production');
    await settle();
    world.fake.clearRecord();
    const billing = await credentialFor({ ...PRODUCTION, ...BILLING });
    const refused = await world.call(billing, 'POST', `/v9/projects/prj_billing/rollback/${target}`);
    expect(refused.status).toBe(403);
    expect((await errorOf(refused)).message).toMatch(/sets no rollback_environments/);
    const production = await credentialFor(PRODUCTION);
    const elsewhere = await world.call(production, 'POST', `/v9/projects/prj_billing/rollback/${target}`);
    expect(elsewhere.status).toBe(404);
    expect(writes()).toEqual([]);
  });
});
