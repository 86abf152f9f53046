/** Several bundled broker instances on one Redis: replay refusals, credentials and idempotency are shared. */
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startBrokerProcess, type RunningBroker } from '../../src/local/runner.js';
import { AUDIENCE } from '../helpers/config.js';
import { startBundledWorld, type BundledWorld } from '../helpers/bundled.js';
import { startRedis } from '../helpers/redis.js';
import { SIGNING_KEY, UPSTREAM_TOKEN } from '../helpers/world.js';

let world: BundledWorld;
let redis: ChildProcess;
let redisUrl: string;
const brokers: RunningBroker[] = [];
const sha1 = (data: string) => createHash('sha1').update(data).digest('hex');

async function startInstance(): Promise<RunningBroker> {
  const broker = await startBrokerProcess({
    configPath: path.join(world.dir, 'redis.yaml'),
    env: {
      VERCEL_TOKEN_MARKETING: UPSTREAM_TOKEN,
      VERCEL_TOKEN_BILLING: UPSTREAM_TOKEN,
      KEYHOLE_SIGNING_KEY: SIGNING_KEY,
    },
  });
  brokers.push(broker);
  return broker;
}

beforeAll(async () => {
  world = await startBundledWorld();
  ({ process: redis, url: redisUrl } = await startRedis());
  const { readFileSync } = await import('node:fs');
  writeFileSync(
    path.join(world.dir, 'redis.yaml'),
    `${readFileSync(world.configPath, 'utf8')}replay_store: ${redisUrl}\n`,
  );
});
afterAll(async () => {
  for (const broker of brokers) await broker.stop();
  redis?.kill();
  await world.close();
});

const exchange = (broker: RunningBroker, token: string) =>
  fetch(`${broker.url}/v1/exchange`, {
    method: 'POST',
    body: JSON.stringify({ token, project: 'marketing-site', target: 'preview' }),
  });

test('a token exchanged at one instance is refused at the other; a credential minted by one works at the other', async () => {
  const [a, b] = [await startInstance(), await startInstance()];
  world.issuer.setJob({});
  const token = await world.issuer.mint(AUDIENCE);
  const first = await exchange(a!, token);
  expect(first.status).toBe(200);
  const replay = await exchange(b!, token);
  expect(replay.status).toBe(401);
  expect(((await replay.json()) as { error: { code: string } }).error.code).toBe('token_replayed');
  const { credential } = (await first.json()) as { credential: string };
  const project = await fetch(`${b!.url}/v9/projects/prj_marketing`, {
    headers: { authorization: `Bearer ${credential}` },
  });
  expect(project.status).toBe(200);
});

test('a create repeated at the other instance returns the same deployment', async () => {
  const [a, b] = brokers;
  world.issuer.setJob({ ref: 'refs/heads/idempotent' });
  const { credential } = (await (await exchange(a!, await world.issuer.mint(AUDIENCE))).json()) as {
    credential: string;
  };
  const auth = { authorization: `Bearer ${credential}` };
  await fetch(`${a!.url}/v2/files`, {
    method: 'POST',
    headers: { ...auth, 'x-now-digest': sha1('scale') },
    body: 'scale',
  });
  const body = JSON.stringify({ name: 'x', files: [{ file: 'index.html', sha: sha1('scale'), size: 5 }] });
  const before = world.fake.deployments.size;
  const atA = (await (
    await fetch(`${a!.url}/v13/deployments`, { method: 'POST', headers: auth, body })
  ).json()) as { id: string };
  const atB = (await (
    await fetch(`${b!.url}/v13/deployments`, { method: 'POST', headers: auth, body })
  ).json()) as { id: string };
  expect(atB.id).toBe(atA.id);
  expect(world.fake.deployments.size).toBe(before + 1);
});

test('a broker restarted mid-deploy accepts the same credential (persistent signing key)', async () => {
  const a = brokers[0]!;
  world.issuer.setJob({ ref: 'refs/heads/restart' });
  const { credential } = (await (await exchange(a, await world.issuer.mint(AUDIENCE))).json()) as {
    credential: string;
  };
  const auth = { authorization: `Bearer ${credential}` };
  expect(
    (
      await fetch(`${a.url}/v2/files`, {
        method: 'POST',
        headers: { ...auth, 'x-now-digest': sha1('restart') },
        body: 'restart',
      })
    ).status,
  ).toBe(200);
  expect(await a.stop()).toBe(0);
  const restarted = await startInstance();
  const body = JSON.stringify({ name: 'x', files: [{ file: 'index.html', sha: sha1('restart'), size: 7 }] });
  const created = await fetch(`${restarted.url}/v13/deployments`, { method: 'POST', headers: auth, body });
  expect(created.status).toBe(200);
});

test('Redis unreachable: exchanges fail closed with a clear 503', async () => {
  const b = brokers[1]!;
  redis.kill();
  await new Promise((resolve) => redis.once('exit', resolve));
  world.issuer.setJob({});
  const response = await exchange(b, await world.issuer.mint(AUDIENCE));
  expect(response.status).toBe(503);
  const error = ((await response.json()) as { error: { code: string; message: string } }).error;
  expect(error.code).toBe('unavailable');
  expect(error.message).toMatch(/cannot record token use/);
});
