/** The official Vercel CLI (pinned) deploys through the broker with only a Keyhole credential. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PINNED_VERCEL_CLI, runVercel } from '../../src/local/vercel-cli.js';
import { startWorld, UPSTREAM_TOKEN, type World } from '../../src/local/world.js';

let world: World;
const dirs: string[] = [];
const tempDir = (prefix: string) => {
  dirs.push(mkdtempSync(path.join(tmpdir(), prefix)));
  return dirs.at(-1)!;
};

beforeAll(async () => {
  world = await startWorld();
});
afterAll(async () => {
  await world.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function prebuiltProject(target: string): string {
  const dir = tempDir('keyhole-cli-');
  const out = path.join(dir, '.vercel', 'output');
  mkdirSync(path.join(out, 'static'), { recursive: true });
  writeFileSync(path.join(out, 'config.json'), '{"version":3}');
  writeFileSync(path.join(out, 'builds.json'), JSON.stringify({ target, builds: [] }));
  writeFileSync(path.join(out, 'static', 'index.html'), '<h1>deployed by the official CLI</h1>');
  return dir;
}

const vercel = (cwd: string, credential: string, ...args: string[]) =>
  runVercel(
    {
      cli: PINNED_VERCEL_CLI,
      cwd,
      home: tempDir('keyhole-home-'),
      api: world.url,
      credential,
      projectId: 'prj_marketing',
    },
    ...args,
  );

test('vercel deploy --prebuilt --api <broker> --token khd_… deploys the pinned project', async () => {
  world.fake.clearRecord();
  const credential = await world.credential();
  const result = await vercel(prebuiltProject('preview'), credential, 'deploy', '--prebuilt');
  expect(result.output).toMatch(/Ready in/);
  expect(result.code).toBe(0);
  const [deployment] = [...world.fake.deployments.values()].slice(-1);
  expect(deployment).toMatchObject({ projectId: 'prj_marketing', teamId: 'team_abc123', prebuilt: true });
  expect(world.fake.requests.every((r) => r.headers.authorization === `Bearer ${UPSTREAM_TOKEN}`)).toBe(true);
});

test('vercel deploy --prod with a preview credential is refused before anything reaches Vercel', async () => {
  world.fake.clearRecord();
  const credential = await world.credential();
  const result = await vercel(prebuiltProject('production'), credential, 'deploy', '--prebuilt', '--prod');
  expect(result.code).not.toBe(0);
  expect(result.output).toMatch(/target production is not allowed/);
  expect(world.fake.requests.filter((r) => r.path === '/v13/deployments')).toHaveLength(0);
});
