/**
 * The official CLI's `vercel rollback` and `vercel rollback status` through the bundled broker, with
 * a production credential of a job in `rollback_environments`: its own requests, in the fake's
 * record, are the ones research.md lists; a deployment the broker did not make stays refused.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';
import { AUDIENCE } from '../../src/local/config.js';
import { PINNED_VERCEL_CLI, runVercel } from '../../src/local/vercel-cli.js';
import { UPSTREAM_TOKEN } from '../../src/local/world.js';

let world: BundledWorld;
const dirs: string[] = [];
const tempDir = (prefix: string) => {
  dirs.push(mkdtempSync(path.join(tmpdir(), prefix)));
  return dirs.at(-1)!;
};
const PRODUCTION = { environment: 'production' };
const MARKETING = { repository: 'acme/marketing', repository_id: '123456789', repository_owner_id: '987654' };

beforeAll(async () => {
  world = await startBundledWorld({
    config: {
      projects: {
        'marketing-site': {
          rollback_environments: ['production'],
          // Jobs in staging may deploy production here, but never roll it back.
          allow: [{ ...MARKETING, targets: ['production'], environments: ['production', 'staging'] }],
        },
      },
    },
  });
});
afterAll(async () => {
  await world.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function credentialFor(claims: Record<string, string>): Promise<string> {
  world.issuer.setJob(claims);
  const token = await world.issuer.mint(AUDIENCE);
  const response = await fetch(`${world.broker.url}/v1/exchange`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, project: 'marketing-site', target: 'production' }),
  });
  const body = (await response.json()) as { credential?: string };
  if (!body.credential) throw new Error(`exchange refused: ${JSON.stringify(body)}`);
  return body.credential;
}

const vercel = (credential: string, ...args: string[]) =>
  runVercel(
    {
      cli: PINNED_VERCEL_CLI,
      cwd: tempDir('keyhole-rollback-'),
      home: tempDir('keyhole-home-'),
      api: world.broker.url,
      credential,
      projectId: 'prj_marketing',
    },
    ...args,
  );

async function production(): Promise<string> {
  const workspace = tempDir('keyhole-site-');
  writeFileSync(path.join(workspace, 'index.html'), `<h1>${path.basename(workspace)}</h1>`);
  const run = await world.run({ target: 'production' }, { workspace, claims: PRODUCTION });
  expect([run.code, run.stdout.match(/::error::.*/)?.[0]]).toEqual([0, undefined]);
  return run.outputs['deployment-id']!;
}

test('vercel rollback <id> and vercel rollback status through the broker', async () => {
  const older = await production();
  const newer = await production();
  expect(world.fake.productionOf('prj_marketing')).toBe(newer);
  world.fake.clearRecord();
  const credential = await credentialFor(PRODUCTION);

  const result = await vercel(credential, 'rollback', older, '--timeout', '30s');
  expect(result.output).toMatch(/Success! marketing-site was rolled back to/);
  expect(result.code).toBe(0);
  expect(world.fake.productionOf('prj_marketing')).toBe(older);
  // The CLI's own calls as the broker forwarded them: scope answers never reach Vercel.
  const calls = world.fake.requests.map((r) => `${r.method} ${r.path}`);
  expect(calls).toContain(`POST /v9/projects/prj_marketing/rollback/${older}`);
  expect(calls).not.toContain('GET /v2/user');
  expect(world.fake.requests.filter((r) => r.method !== 'GET')).toHaveLength(1);
  expect(world.fake.requests.every((r) => r.headers.authorization === `Bearer ${UPSTREAM_TOKEN}`)).toBe(true);
  expect(world.fake.requests.some((r) => r.query.rollbackInfo === 'true')).toBe(true);

  const status = await vercel(credential, 'rollback', 'status', '--timeout', '30s');
  expect(status.output).toMatch(/was rolled back to/);
  expect(status.code).toBe(0);
});

test('vercel rollback to a deployment the broker did not make, or from another environment, is refused', async () => {
  const forged = await fetch(`${world.fake.url}/v13/deployments?teamId=team_abc123`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${UPSTREAM_TOKEN}` },
    body: JSON.stringify({
      name: 'marketing-site',
      project: 'prj_marketing',
      target: 'production',
      files: [{ file: 'index.html', data: 'made with the real token' }],
      meta: { keyholeStamp: `v1.k1.${'0'.repeat(64)}`, keyholeTarget: 'production' },
    }),
  });
  const { id } = (await forged.json()) as { id: string };
  await new Promise((resolve) => setTimeout(resolve, 200));
  const before = world.fake.productionOf('prj_marketing');
  world.fake.clearRecord();
  const refused = await vercel(await credentialFor(PRODUCTION), 'rollback', id, '--timeout', '5s');
  expect(refused.code).not.toBe(0);
  expect(refused.output).toMatch(/keyholeStamp does not verify/);

  const older = [...world.fake.deployments.values()].find(
    (d) => d.target === 'production' && d.id !== before,
  )!;
  const staging = await vercel(
    await credentialFor({ environment: 'staging' }),
    'rollback',
    older.id,
    '--timeout',
    '5s',
  );
  expect(staging.code).not.toBe(0);
  expect(staging.output).toMatch(
    /rolled back only from jobs in the GitHub environment production; this job's environment is staging/,
  );
  expect(world.fake.requests.filter((r) => r.method !== 'GET')).toEqual([]);
  expect(world.fake.productionOf('prj_marketing')).toBe(before);
});

test('vercel remove <url> and vercel remove <project> are refused; nothing is deleted', async () => {
  const id = await production();
  const url = world.fake.deployments.get(id)!.url;
  world.fake.clearRecord();
  const credential = await credentialFor(PRODUCTION);
  for (const target of [url, 'marketing-site']) {
    const result = await vercel(credential, 'remove', target);
    expect(result.code).not.toBe(0);
  }
  expect(world.fake.requests.filter((r) => r.method !== 'GET')).toEqual([]);
  expect(world.fake.deployments.has(id)).toBe(true);
});
