/**
 * Deploy options as action inputs through the bundles (issue 23.4): what each input sends reaches
 * Vercel as its REST reference names it (body `env`, `build.env`, `regions`, `meta`; query
 * `forceNew`, `withCache`), the broker's `build_env_names` allow-list holds, and `build: true`
 * runs the official `vercel build` and deploys its output in one step.
 */
import { jest } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';

// build: true runs `npm exec vercel@58.1.0` (fetched once into npm's cache).
jest.setTimeout(600_000);

let world: BundledWorld;
const dirs: string[] = [];
beforeAll(async () => {
  world = await startBundledWorld({
    config: { projects: { 'marketing-site': { build_env_names: ['NEXT_PUBLIC_FLAG', 'API_URL'] } } },
  });
});
afterAll(async () => {
  await world.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => world.fake.clearRecord());

function site(): string {
  const workspace = mkdtempSync(path.join(tmpdir(), 'keyhole-options-'));
  dirs.push(workspace);
  mkdirSync(path.join(workspace, 'site'));
  writeFileSync(path.join(workspace, 'site', 'index.html'), `<h1>options ${dirs.length}</h1>`);
  return workspace;
}

let job = 0;
const deploy = (inputs: Record<string, string>, workspace = site()) =>
  world.run(
    { path: 'site', ...inputs },
    { workspace, claims: { run_id: String(9_200_000 + job++), ref: 'refs/heads/feature' } },
  );
const creates = () => world.fake.requests.filter((r) => r.method === 'POST' && r.path === '/v13/deployments');
const output = (run: { stdout: string; stderr: string }) => run.stdout + run.stderr;

test('env, build-env, regions, meta, force and with-cache reach Vercel as its REST reference names them', async () => {
  const run = await deploy({
    env: 'API_URL=https://api.example.com/?a=b\n\nNEXT_PUBLIC_FLAG=on',
    'build-env': '# the flag the build reads\nNEXT_PUBLIC_FLAG=beta',
    regions: 'iad1, fra1',
    meta: 'team=web\nticket=WEB-42',
    force: 'true',
    'with-cache': 'true',
  });
  expect(output(run)).toMatch(/Ready/);
  expect(run.code).toBe(0);
  const create = creates().at(-1)!;
  const body = create.json as Record<string, unknown>;
  expect(body.env).toEqual({ API_URL: 'https://api.example.com/?a=b', NEXT_PUBLIC_FLAG: 'on' });
  expect(body.build).toEqual({ env: { NEXT_PUBLIC_FLAG: 'beta' } });
  expect(body.regions).toEqual(['iad1', 'fra1']);
  expect(body.meta).toMatchObject({ team: 'web', ticket: 'WEB-42', keyholeRef: 'refs/heads/feature' });
  expect(create.query).toMatchObject({ forceNew: '1', withCache: '1' });
  expect(world.fake.deployments.get(run.outputs['deployment-id']!)!.body.regions).toEqual(['iad1', 'fra1']);
});

test('without the options, none of them is sent', async () => {
  const run = await deploy({});
  expect(run.code).toBe(0);
  const create = creates().at(-1)!;
  const body = create.json as Record<string, unknown>;
  expect(body.env).toBeUndefined();
  expect(body.build).toBeUndefined();
  expect(body.regions).toBeUndefined();
  expect(create.query.forceNew).toBeUndefined();
  expect(create.query.withCache).toBeUndefined();
});

test.each([
  [
    'env',
    'DATABASE_URL=postgres://x',
    /env\.DATABASE_URL is not allowed: build_env_names of project marketing-site in the broker config/,
  ],
  ['build-env', 'SECRET_SAUCE=1', /build\.env\.SECRET_SAUCE is not allowed: build_env_names/],
])(
  'a name outside build_env_names in %s is refused by the broker, and nothing is created',
  async (input, value, message) => {
    const run = await deploy({ [input]: value });
    expect(run.code).not.toBe(0);
    expect(output(run)).toMatch(message);
    expect(output(run)).not.toContain('postgres://x');
    expect(creates()).toHaveLength(0);
  },
);

test.each([
  ['meta', 'githubCommitSha=forged', /Input "meta": line 1: githubCommitSha is reserved/],
  ['meta', 'KEYHOLEstaged=1', /KEYHOLEstaged is reserved/],
  ['env', 'API_URL=@team-secret', /Input "env": line 1: the value of API_URL starts with "@"/],
  ['regions', 'us-east-1', /Input "regions": "us-east-1" not a Vercel region id/],
  ['with-cache', 'true', /Input "with-cache": keeps the build cache of a forced build; set force: true/],
  ['build', 'true', /Input "vercel-version": is needed with build: true/],
  ['archive', 'zip', /Input "archive": must be auto, tgz or off/],
])('the input %s=%s is refused before any request, saying what to change', async (input, value, message) => {
  const run = await deploy({ [input]: value });
  expect(run.code).not.toBe(0);
  expect(output(run)).toMatch(message);
  expect(world.fake.requests).toHaveLength(0);
});

test('build: true pulls, runs the pinned vercel build and deploys its output prebuilt, READY', async () => {
  const run = await deploy({ build: 'true', 'vercel-version': '58.1.0', 'build-env': 'NEXT_PUBLIC_FLAG=1' });
  expect(output(run)).toMatch(/Running vercel build +with vercel@58\.1\.0/);
  expect(output(run)).toMatch(
    /env_pull lists no variables for marketing-site: building without pulled variables/,
  );
  expect(output(run)).toMatch(/Ready/);
  expect(run.code).toBe(0);
  const deployment = world.fake.deployments.get(run.outputs['deployment-id']!)!;
  expect(deployment.prebuilt).toBe(true);
  expect(deployment.files.map((f) => f.file)).toEqual(
    expect.arrayContaining(['.vercel/output/config.json', '.vercel/output/static/index.html']),
  );
  const calls = world.fake.requests.map((r) => `${r.method} ${r.path}`);
  expect(calls).toContain('GET /v9/projects/prj_marketing');
  expect(creates().at(-1)!.query.prebuilt).toBe('1');
});
