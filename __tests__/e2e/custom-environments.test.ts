/**
 * Vercel custom environments (`custom_environments: [staging]`) through the bundled action and broker
 * and the official CLI, against the strict fake: each its own target, never another's.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';
import { PINNED_VERCEL_CLI, runVercel } from '../../src/local/vercel-cli.js';

let world: BundledWorld;
const dirs: string[] = [];

beforeAll(async () => {
  world = await startBundledWorld({
    config: {
      projects: {
        'marketing-site': {
          env_pull: ['NEXT_PUBLIC_API_URL'],
          custom_environment_aliases: { staging: ['staging-*.acme.dev'] },
          preview_aliases: ['*.preview.acme.dev'],
        },
      },
    },
  });
});
afterAll(async () => {
  await world.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => world.fake.clearRecord());

function site(): string {
  const dir = mkdtempSync(path.join(world.dir, 'ws-'));
  mkdirSync(path.join(dir, 'site'));
  writeFileSync(path.join(dir, 'site', 'index.html'), `<h1>${path.basename(dir)}</h1>`);
  return dir;
}

const creates = () => world.fake.requests.filter((r) => r.method === 'POST' && r.path === '/v13/deployments');

/** A credential of `target` from the action's credential-only mode (the step's post is never run). */
async function credentialFor(target: string): Promise<string> {
  const run = await world.run({ target, deploy: 'false' }, { workspace: site() });
  expect(run.code).toBe(0);
  return run.outputs.credential!;
}

const call = (credential: string, method: string, pathAndQuery: string, body?: unknown) =>
  fetch(`${world.broker.url}${pathAndQuery}`, {
    method,
    headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

test('target: staging deploys to the custom environment: the create names it and no target, and the alias comes from its patterns', async () => {
  const run = await world.run(
    { path: 'site', target: 'staging', alias: 'staging-{branch}.acme.dev' },
    { workspace: site(), env: { GITHUB_REF: 'refs/heads/main', GITHUB_REF_NAME: 'main' } },
  );
  expect(run.code).toBe(0);
  expect(run.outputs['ready-state']).toBe('READY');
  expect(run.outputs['alias-url']).toBe('https://staging-main.acme.dev');
  const body = creates().at(-1)!.json as Record<string, unknown>;
  expect(body.customEnvironmentSlugOrId).toBe('staging');
  expect(body).not.toHaveProperty('target');
  const deployment = world.fake.deployments.get(run.outputs['deployment-id']!)!;
  expect(deployment.customEnvironment).toEqual({ id: 'env_staging0marketing', slug: 'staging' });
  expect(world.fake.aliases.get('staging-main.acme.dev')).toBe(deployment.id);
  expect(run.summary).toMatch(/staging/);
});

test('a credential for one target never creates for another: preview ↔ staging ↔ production, 403 and nothing upstream', async () => {
  const staging = await credentialFor('staging');
  const preview = await credentialFor('preview');
  const attempts: [string, Record<string, unknown>][] = [
    [staging, { target: 'production' }],
    [staging, { target: 'preview' }],
    [staging, {}], // no target at all is a preview
    [staging, { customEnvironmentSlugOrId: 'env_staging0marketing' }], // the same environment by id: not what the policy granted
    [preview, { customEnvironmentSlugOrId: 'staging' }],
    [preview, { target: 'staging' }],
  ];
  for (const [credential, fields] of attempts) {
    const response = await call(credential, 'POST', '/v13/deployments', { name: 'x', files: [], ...fields });
    expect({ fields, status: response.status }).toEqual({ fields, status: 403 });
  }
  expect(creates()).toHaveLength(0);
});

test('a staging credential may alias only within custom_environment_aliases.staging, never the preview patterns', async () => {
  const run = await world.run(
    { path: 'site', target: 'staging', alias: 'pr-1.preview.acme.dev' },
    { workspace: site() },
  );
  expect(run.code).not.toBe(0);
  expect(run.stdout).toMatch(/custom_environment_aliases\.staging \(staging-\*\.acme\.dev\)/);
  expect(world.fake.aliases.has('pr-1.preview.acme.dev')).toBe(false);
  const preview = await world.run({ path: 'site', alias: 'staging-x.acme.dev' }, { workspace: site() });
  expect(preview.code).not.toBe(0);
  expect(world.fake.aliases.has('staging-x.acme.dev')).toBe(false);
});

test('pull: true with target staging reads the staging environment, only the listed names', async () => {
  const dir = site();
  const run = await world.run(
    { path: 'site', target: 'staging', pull: 'true', deploy: 'false' },
    { workspace: dir },
  );
  expect(run.code).toBe(0);
  expect(world.fake.requests.map((r) => r.path)).toContain('/v3/env/pull/prj_marketing/staging');
  const pulled = readFileSync(path.join(dir, 'site', '.vercel', '.env.staging.local'), 'utf8');
  expect(pulled).toContain('NEXT_PUBLIC_API_URL="https://api.staging.acme.example"');
  expect(pulled).not.toContain('STAGING_DATABASE_URL');
  expect(pulled).not.toContain('staging-secret');
  // The staging credential reads no other environment, the preview credential not staging's.
  const staging = await credentialFor('staging');
  expect((await call(staging, 'GET', '/v3/env/pull/prj_marketing/preview')).status).toBe(403);
  const preview = await credentialFor('preview');
  expect((await call(preview, 'GET', '/v3/env/pull/prj_marketing/staging')).status).toBe(403);
});

test('a target the project does not declare is refused at the exchange, with the policy reason', async () => {
  const run = await world.run({ path: 'site', target: 'qa' }, { workspace: site() });
  expect(run.code).not.toBe(0);
  expect(run.stdout).toMatch(/target qa is not allowed/);
  expect(world.fake.requests).toHaveLength(0);
});

test('vercel deploy --target=staging (the official CLI) deploys the custom environment through the broker', async () => {
  const credential = await credentialFor('staging');
  const cwd = mkdtempSync(path.join(tmpdir(), 'keyhole-cli-'));
  const home = mkdtempSync(path.join(tmpdir(), 'keyhole-home-'));
  dirs.push(cwd, home);
  writeFileSync(path.join(cwd, 'index.html'), '<h1>staging by the official CLI</h1>');
  const result = await runVercel(
    { cli: PINNED_VERCEL_CLI, cwd, home, api: world.broker.url, credential, projectId: 'prj_marketing' },
    'deploy',
    '--target=staging',
  );
  expect(result.output).toMatch(/Ready|Preview|Staging/i);
  expect(result.code).toBe(0);
  const body = creates().at(-1)!.json as Record<string, unknown>;
  expect(body.customEnvironmentSlugOrId).toBe('staging');
  expect(body).not.toHaveProperty('target');
  const prod = await runVercel(
    { cli: PINNED_VERCEL_CLI, cwd, home, api: world.broker.url, credential, projectId: 'prj_marketing' },
    'deploy',
    '--prod',
  );
  expect(prod.code).not.toBe(0);
  expect(prod.output).toMatch(/target production is not allowed: this credential deploys to staging only/);
});
