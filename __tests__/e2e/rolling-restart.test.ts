/**
 * A rolling restart under load: two bundled broker processes on one real redis-server behind a
 * loopback load balancer that routes by `/readyz` (src/local/balancer.ts), 30 deploys of 200 files
 * each running through it, and each instance restarted in turn (SIGTERM → drain → start on the same
 * port). Every deploy ends READY with exactly one deployment; whatever the clients saw in between
 * (a refused connection, a 503) the action's retries absorbed.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startBalancer, type Balancer } from '../../src/local/balancer.js';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';
import { freePort, startRedis, type TestRedis } from '../../src/local/redis.js';
import { startBrokerProcess, type ActionRun, type RunningBroker } from '../../src/local/runner.js';
import { SIGNING_KEY, UPSTREAM_TOKEN } from '../../src/local/world.js';

const DEPLOYS = 30;
const FILES = 200;
let world: BundledWorld;
let redis: TestRedis;
let balancer: Balancer | undefined;
const running = new Set<RunningBroker>();

beforeAll(async () => {
  world = await startBundledWorld({ fake: { buildMs: 2_000 } });
  redis = await startRedis();
  writeFileSync(
    path.join(world.dir, 'rolling.yaml'),
    `${readFileSync(world.configPath, 'utf8')}replay_store_env: KEYHOLE_REDIS_URL\nshutdown_grace_seconds: 20\n`,
  );
});
afterAll(async () => {
  await balancer?.close();
  for (const broker of running) await broker.stop();
  await redis?.close();
  await world.close();
});

async function startInstance(port: number): Promise<RunningBroker> {
  const broker = await startBrokerProcess({
    configPath: path.join(world.dir, 'rolling.yaml'),
    port,
    env: {
      VERCEL_TOKEN_MARKETING: UPSTREAM_TOKEN,
      VERCEL_TOKEN_BILLING: UPSTREAM_TOKEN,
      KEYHOLE_SIGNING_KEY: SIGNING_KEY,
      KEYHOLE_REDIS_URL: redis.url(1),
    },
  });
  running.add(broker);
  return broker;
}

async function untilReady(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const status = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the instance on ${port} never became ready`);
}

/** SIGTERM, the drain, the exit; then the new process on the same port, ready. */
async function restart(broker: RunningBroker, port: number): Promise<{ exit: number | null; line: string }> {
  const exit = await broker.stop();
  running.delete(broker);
  const line = broker.stderr().trim().split('\n').pop() ?? '';
  const next = await startInstance(port);
  await untilReady(port);
  instances.set(port, next);
  return { exit, line };
}

const instances = new Map<number, RunningBroker>();

function workspaceFor(index: number): string {
  const workspace = mkdtempSync(path.join(world.dir, `rolling-${index}-`));
  for (let i = 0; i < FILES; i++) {
    const dir = path.join(workspace, 'site', `d${i % 8}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, `page-${i}.html`), `<p>deploy ${index}, page ${i}</p>`);
  }
  return workspace;
}

test(`${DEPLOYS} deploys of ${FILES} files through two instances restarted in turn: all READY, one deployment each`, async () => {
  const ports = [await freePort(), await freePort()];
  for (const port of ports) instances.set(port, await startInstance(port));
  for (const port of ports) await untilReady(port);
  balancer = await startBalancer(ports.map((port) => ({ host: '127.0.0.1', port })));
  const workspaces = Array.from({ length: DEPLOYS }, (_, i) => workspaceFor(i));
  const deploymentsBefore = world.fake.deployments.size;

  const runs: Promise<ActionRun>[] = workspaces.map((workspace) =>
    world.run({ path: 'site', 'broker-url': balancer!.url }, { workspace }),
  );
  // Restart once the deploys are under way: the first uploads have reached Vercel.
  while (world.fake.requests.filter((r) => r.path.startsWith('/v2/files')).length < DEPLOYS)
    await new Promise((r) => setTimeout(r, 50));
  const restarts = [];
  for (const port of ports) restarts.push(await restart(instances.get(port)!, port));
  const results = await Promise.all(runs);

  const summary = results.map((run) => ({
    code: run.code,
    state: run.outputs['ready-state'],
    error: /::error::(.*)/.exec(run.stdout)?.[1],
  }));
  const retried = results.map((run) => (run.stdout.match(/retry \d+ in/g) ?? []).length);
  process.stdout.write(
    `\n[rolling restart] ${DEPLOYS} deploys x ${FILES} files, 2 instances restarted in turn: ` +
      `${summary.filter((s) => s.state === 'READY').length} READY, ` +
      `${world.fake.deployments.size - deploymentsBefore} deployments, ` +
      `${retried.reduce((a, b) => a + b, 0)} retries absorbed by the action; ` +
      `connections per instance ${JSON.stringify(Object.fromEntries(balancer.connections))}; ` +
      `exits: ${restarts.map((r) => r.line).join(' | ')}\n`,
  );
  expect(summary).toEqual(
    Array.from({ length: DEPLOYS }, () => ({ code: 0, state: 'READY', error: undefined })),
  );
  // Exactly one deployment per deploy: the fake's own record.
  expect(world.fake.deployments.size - deploymentsBefore).toBe(DEPLOYS);
  const ids = results.map((run) => run.outputs['deployment-id']);
  expect(new Set(ids).size).toBe(DEPLOYS);
  for (const r of restarts) {
    expect(r.exit).toBe(0);
    expect(r.line).toMatch(/^keyhole-broker: stopped \(SIGTERM\): drained in [\d.]+ s, no request cut$/);
  }
}, 600_000);
