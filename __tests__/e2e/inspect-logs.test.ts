/**
 * `vercel inspect`, `vercel inspect --logs`, `vercel logs` and `vercel promote status` (the official
 * CLI, pinned) through the bundled broker against the strict fake: the pinned project's deployments
 * of the credential's own target only, runtime logs only where `runtime_logs: true`.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';
import { RUNTIME_LOG_SECRET } from '../../src/local/vercel/logs.js';
import { PINNED_VERCEL_CLI, runVercel } from '../../src/local/vercel-cli.js';
import { UPSTREAM_TOKEN } from '../../src/local/world.js';

let world: BundledWorld;
const dirs: string[] = [];
const tempDir = (prefix: string) => {
  dirs.push(mkdtempSync(path.join(tmpdir(), prefix)));
  return dirs.at(-1)!;
};
const PRODUCTION = { claims: { environment: 'production' } };

beforeAll(async () => {
  world = await startBundledWorld({ config: { projects: { 'marketing-site': { runtime_logs: true } } } });
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

/** Deploys with the action and keeps the job's credential (credential-only mode in a second step is another job here). */
async function deployed(target: string, options: { claims?: Record<string, string> } = {}) {
  const run = await world.run({ path: 'site', target }, { workspace: site(), ...options });
  expect(run.code).toBe(0);
  const credential = await world.run({ target, deploy: 'false' }, { workspace: site(), ...options });
  expect(credential.code).toBe(0);
  return {
    id: run.outputs['deployment-id']!,
    url: run.outputs['deployment-url']!.replace('https://', ''),
    credential: credential.outputs.credential!,
  };
}

const vercel = (target: BundledWorld, credential: string, ...args: string[]) =>
  runVercel(
    {
      cli: PINNED_VERCEL_CLI,
      cwd: tempDir('keyhole-cli-'),
      home: tempDir('keyhole-home-'),
      api: target.broker.url,
      credential,
      projectId: 'prj_marketing',
      yes: false,
      // `logs --follow` streams (and reconnects) until stopped, as it does against Vercel.
      ...(args.includes('--follow') ? { timeoutMs: 8000 } : {}),
    },
    ...args,
  );

const upstreamPaths = (from = world) => from.fake.requests.map((r) => r.path);

test('vercel inspect <url> shows the pinned project’s own preview; the scope calls never reach Vercel', async () => {
  const own = await deployed('preview');
  world.fake.clearRecord();
  const result = await vercel(world, own.credential, 'inspect', own.url);
  expect(result.output).toContain(own.id);
  expect(result.code).toBe(0);
  expect(upstreamPaths()).toEqual(expect.arrayContaining([`/v11/deployments/${own.id}/builds`]));
  expect(upstreamPaths()).not.toContain('/v2/user');
  expect(upstreamPaths().some((p) => p.startsWith('/teams/'))).toBe(false);
  expect(world.fake.requests.every((r) => r.headers.authorization === `Bearer ${UPSTREAM_TOKEN}`)).toBe(true);
});

test('vercel inspect --logs prints the build log of the credential’s own deployment', async () => {
  const own = await deployed('preview');
  const result = await vercel(world, own.credential, 'inspect', own.id, '--logs');
  expect(result.output).toMatch(/Build Completed/);
  expect(result.code).toBe(0);
});

test('a preview credential inspects no production deployment and reads none of its logs or builds', async () => {
  const production = await deployed('production', PRODUCTION);
  const preview = await deployed('preview');
  world.fake.clearRecord();
  for (const args of [
    ['inspect', production.id],
    ['inspect', production.id, '--logs'],
    ['logs', production.id],
  ]) {
    const result = await vercel(world, preview.credential, ...args);
    expect({ args, code: result.code }).toEqual({ args, code: 1 });
    // The CLI words the 403 its own way ("You don't have access to the deployment"); nothing was read.
    expect(result.output).not.toMatch(/Build Completed|Ready/);
  }
  const direct = (p: string) =>
    fetch(`${world.broker.url}${p}`, { headers: { authorization: `Bearer ${preview.credential}` } });
  expect((await direct(`/v11/deployments/${production.id}/builds`)).status).toBe(403);
  expect(
    (await direct(`/v1/projects/prj_marketing/deployments/${production.id}/runtime-logs?format=lines`))
      .status,
  ).toBe(403);
  expect(upstreamPaths().filter((p) => /builds|events|logs/.test(p))).toEqual([]);
  // The production credential reads its own.
  const own = await vercel(world, production.credential, 'inspect', production.id, '--logs');
  expect(own.code).toBe(0);
});

test('another project’s deployment is not found, with no builds or logs read', async () => {
  const other = await fetch(`${world.fake.url}/v13/deployments?teamId=team_abc123`, {
    method: 'POST',
    headers: { authorization: `Bearer ${UPSTREAM_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'billing', project: 'prj_billing', files: [{ file: 'a', data: 'x' }] }),
  }).then((r) => r.json() as Promise<{ id: string }>);
  const own = await deployed('preview');
  world.fake.clearRecord();
  const result = await vercel(world, own.credential, 'inspect', other.id, '--logs');
  expect(result.code).toBe(1);
  expect(upstreamPaths()).toEqual([`/v13/deployments/${other.id}`]);
  for (const p of [
    `/v11/deployments/${other.id}/builds`,
    `/api/logs/request-logs?projectId=prj_marketing&deploymentId=${other.id}`,
    `/api/logs/request-logs?projectId=prj_billing&deploymentId=${own.id}`,
    `/v1/projects/prj_billing/deployments/${other.id}/runtime-logs`,
  ]) {
    const response = await fetch(`${world.broker.url}${p}`, {
      headers: { authorization: `Bearer ${own.credential}` },
    });
    expect({ p, status: response.status }).toEqual({ p, status: 404 });
  }
});

test('vercel logs <deployment> reads request logs where runtime_logs: true, and --follow streams them', async () => {
  const own = await deployed('preview');
  const result = await vercel(world, own.credential, 'logs', own.id);
  expect(result.code).toBe(0);
  expect(result.output).toContain(RUNTIME_LOG_SECRET);
  const logsCall = world.fake.requests.find((r) => r.path === '/api/logs/request-logs')!;
  expect(logsCall.query).toMatchObject({
    projectId: 'prj_marketing',
    ownerId: 'team_abc123',
    deploymentId: own.id,
  });
  const follow = await vercel(world, own.credential, 'logs', own.id, '--follow');
  expect(follow.output).toContain(RUNTIME_LOG_SECRET);
});

test('the runtime-log stream is relayed as it arrives, and ends upstream when the client goes', async () => {
  const own = await deployed('preview');
  const response = await fetch(
    `${world.broker.url}/v1/projects/prj_marketing/deployments/${own.id}/runtime-logs?format=lines`,
    { headers: { authorization: `Bearer ${own.credential}` } },
  );
  expect(response.status).toBe(200);
  const reader = response.body!.getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  expect(first).toContain('"source":"serverless"');
  // The first line reached the client while Vercel was still writing: nothing waited for the end.
  expect(world.fake.openLogStreams()).toBe(1);
  await reader.cancel();
  for (let i = 0; i < 200 && world.fake.openLogStreams() > 0; i++)
    await new Promise((r) => setTimeout(r, 10));
  expect(world.fake.openLogStreams()).toBe(0);
});

test('vercel promote status works with a production credential', async () => {
  const production = await deployed('production', PRODUCTION);
  const result = await vercel(world, production.credential, 'promote', 'status');
  expect(result.output).toMatch(/No deployment promotion in progress|promot/i);
  expect(result.code).toBe(0);
  expect(upstreamPaths()).toContain('/v9/projects/prj_marketing');
});

test('without runtime_logs, vercel logs is refused with the setting to ask for, and no log line leaves Vercel', async () => {
  const closed = await startBundledWorld();
  try {
    const run = await closed.run({ path: 'site' }, { workspace: site() });
    const credential = await closed.run({ deploy: 'false' }, { workspace: site() });
    const id = run.outputs['deployment-id']!;
    closed.fake.clearRecord();
    for (const args of [
      ['logs', id],
      ['logs', id, '--follow'],
    ]) {
      const result = await vercel(closed, credential.outputs.credential!, ...args);
      expect({ args, code: result.code }).not.toEqual({ args, code: 0 });
      expect(result.output).toMatch(/runtime_logs: true/);
      expect(result.output).not.toContain(RUNTIME_LOG_SECRET);
    }
    expect(upstreamPaths(closed).filter((p) => /logs/.test(p))).toEqual([]);
    // Build logs stay readable.
    const inspect = await vercel(closed, credential.outputs.credential!, 'inspect', id, '--logs');
    expect(inspect.code).toBe(0);
  } finally {
    await closed.close();
  }
});
