/**
 * Two bundled broker instances on one Redis Cluster (three masters, a password, the seed URL in
 * replay_store_env): a token exchanged at one is refused at the other, and an instance whose
 * cluster is unreachable fails closed (503).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startBrokerProcess, type RunningBroker } from '../../src/local/runner.js';
import { AUDIENCE } from '../../src/local/config.js';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';
import { freePort, startRedisCluster, type TestRedisCluster } from '../../src/local/redis.js';
import { SIGNING_KEY, UPSTREAM_TOKEN } from '../../src/local/world.js';

const PASSWORD = 'cluster-pw-9d4e1b';
let world: BundledWorld;
let cluster: TestRedisCluster;
const brokers: RunningBroker[] = [];

async function startInstance(url: string): Promise<RunningBroker> {
  const broker = await startBrokerProcess({
    configPath: path.join(world.dir, 'cluster.yaml'),
    env: {
      VERCEL_TOKEN_MARKETING: UPSTREAM_TOKEN,
      VERCEL_TOKEN_BILLING: UPSTREAM_TOKEN,
      KEYHOLE_SIGNING_KEY: SIGNING_KEY,
      KEYHOLE_REDIS_URL: url,
    },
  });
  brokers.push(broker);
  return broker;
}

beforeAll(async () => {
  world = await startBundledWorld();
  cluster = await startRedisCluster({ password: PASSWORD });
  writeFileSync(
    path.join(world.dir, 'cluster.yaml'),
    `${readFileSync(world.configPath, 'utf8')}replay_store_env: KEYHOLE_REDIS_URL\n`,
  );
});
afterAll(async () => {
  for (const broker of brokers) await broker.stop();
  await cluster?.close();
  await world.close();
});

async function readyStatus(broker: RunningBroker): Promise<number> {
  let status = 0;
  for (let i = 0; i < 100 && status !== 200; i++) {
    status = (await fetch(`${broker.url}/readyz`)).status;
    if (status !== 200) await new Promise((r) => setTimeout(r, 50));
  }
  return status;
}

const exchange = (broker: RunningBroker, token: string) =>
  fetch(`${broker.url}/v1/exchange`, {
    method: 'POST',
    body: JSON.stringify({ token, project: 'marketing-site', target: 'preview' }),
  });

test('a token exchanged at one instance is refused at the other, through the cluster', async () => {
  const [a, b] = [await startInstance(cluster.url()), await startInstance(cluster.url())];
  expect(await readyStatus(a)).toBe(200);
  expect(await readyStatus(b)).toBe(200);
  for (const ref of ['refs/heads/one', 'refs/heads/two', 'refs/heads/three']) {
    world.issuer.setJob({ ref });
    const token = await world.issuer.mint(AUDIENCE);
    const first = await exchange(a, token);
    expect(first.status).toBe(200);
    const replay = await exchange(b, token);
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as { error: { code: string } }).error.code).toBe('token_replayed');
  }
});

test('an instance whose cluster is unreachable fails closed with 503', async () => {
  const broker = await startInstance(
    `redis+cluster://:${PASSWORD}@127.0.0.1:${await freePort()},127.0.0.1:${await freePort()}`,
  );
  world.issuer.setJob({ ref: 'refs/heads/down' });
  const response = await exchange(broker, await world.issuer.mint(AUDIENCE));
  expect(response.status).toBe(503);
  expect(((await response.json()) as { error: { code: string } }).error.code).toBe('unavailable');
  expect((await fetch(`${broker.url}/readyz`)).status).toBe(503);
});
