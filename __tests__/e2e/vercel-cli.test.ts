/** The official Vercel CLI (pinned) deploys through the broker with only a Keyhole credential. */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startWorld, UPSTREAM_TOKEN, type World } from '../helpers/world.js';

const VERCEL_CLI = path.join(
  path.dirname(createRequire(import.meta.url).resolve('vercel/package.json')),
  'dist',
  'vc.js',
);
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

async function vercel(cwd: string, credential: string, ...args: string[]) {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [VERCEL_CLI, ...args, '--yes', '--api', world.url, '--token', credential],
      {
        cwd,
        timeout: 90_000,
        env: {
          PATH: process.env.PATH,
          HOME: tempDir('keyhole-home-'),
          VERCEL_ORG_ID: 'team_abc123',
          VERCEL_PROJECT_ID: 'prj_marketing',
          VERCEL_TELEMETRY_DISABLED: '1',
          NO_UPDATE_NOTIFIER: '1',
          CI: '1',
        },
      },
    );
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, output: e.stdout + e.stderr };
  }
}

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
