/**
 * `vercel deploy --archive=tgz` through the bundled broker (issue 23.1), with the pinned CLI and
 * the newest one: the CLI's own requests are the ground truth, and each must be one the broker allows.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';
import { AUDIENCE } from '../../src/local/config.js';
import { defaultClaims } from '../../src/local/github-oidc.js';
import { newestVercelCliEntry, PINNED_VERCEL_CLI, runVercel } from '../../src/local/vercel-cli.js';
import { UPSTREAM_TOKEN } from '../../src/local/world.js';

let world: BundledWorld;
const dirs: string[] = [];
const tempDir = (prefix: string) => {
  dirs.push(mkdtempSync(path.join(tmpdir(), prefix)));
  return dirs.at(-1)!;
};
beforeAll(async () => {
  world = await startBundledWorld({ fake: { keepBytes: 64 * 1024 ** 2 } });
});
afterAll(async () => {
  await world.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

let job = 0;
async function credential(): Promise<string> {
  const token = await world.issuer.mint(
    AUDIENCE,
    defaultClaims({ run_id: String(9_300_000 + job++), ref: 'refs/heads/feature' }),
  );
  const response = await fetch(`${world.broker.url}/v1/exchange`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, project: 'marketing-site', target: 'preview' }),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { credential: string }).credential;
}

/** A static site of `count` pages: the CLI deploys its source. */
function site(count: number): string {
  const dir = tempDir('keyhole-cli-archive-');
  mkdirSync(path.join(dir, 'pages'));
  for (let i = 0; i < count; i++) writeFileSync(path.join(dir, 'pages', `p${i}.html`), `<p>${i}</p>`);
  writeFileSync(path.join(dir, 'index.html'), '<h1>archive</h1>');
  return dir;
}

/** Calls the broker forwards for a deploy: anything else in the record would be a gap in the allow-list. */
const ALLOWED = [
  /^GET \/v9\/projects\/prj_marketing$/,
  /^POST \/v2\/files$/,
  /^POST \/v13\/deployments$/,
  /^GET \/v13\/deployments\/dpl_[0-9a-f]+$/,
  /^GET \/v3\/(now\/)?deployments\/dpl_[0-9a-f]+\/events$/,
];

async function deployArchive(cli: string): Promise<void> {
  world.fake.clearRecord();
  const result = await runVercel(
    {
      cli,
      cwd: site(120),
      home: tempDir('keyhole-home-'),
      api: world.broker.url,
      credential: await credential(),
      projectId: 'prj_marketing',
    },
    'deploy',
    '--archive=tgz',
  );
  expect(result.output).toMatch(/Ready|Production|Preview/);
  expect(result.code).toBe(0);
  const deployment = [...world.fake.deployments.values()].at(-1)!;
  expect(deployment.projectId).toBe('prj_marketing');
  expect(deployment.archive).toEqual({ parts: 1, entries: 121 });
  const calls = world.fake.requests.map((r) => `${r.method} ${r.path}`);
  for (const call of calls) expect(ALLOWED.some((pattern) => pattern.test(call))).toBe(true);
  const upload = world.fake.requests.find((r) => r.path === '/v2/files')!;
  expect(upload.headers['x-now-digest']).toMatch(/^[0-9a-f]{40}$/);
  const create = world.fake.requests.find((r) => r.path === '/v13/deployments')!;
  expect((create.json as { files: { file: string }[] }).files.map((f) => f.file)).toEqual([
    '.vercel/source.tgz.part1',
  ]);
  expect(world.fake.requests.every((r) => r.headers.authorization === `Bearer ${UPSTREAM_TOKEN}`)).toBe(true);
}

test('vercel deploy --archive=tgz with the pinned CLI (58.1.0) deploys READY through the broker', () =>
  deployArchive(PINNED_VERCEL_CLI));

// The first run on a machine installs the newest CLI into the cache (vercel-cli.ts): minutes, not seconds.
test(
  'vercel deploy --archive=tgz with the newest CLI deploys READY through the broker',
  async () => deployArchive(await newestVercelCliEntry()),
  600_000,
);
