/**
 * Several bundled broker instances on one Redis, as production runs them: TLS (a CA trusted through
 * NODE_EXTRA_CA_CERTS), a least-privilege ACL user, a db, the URL in replay_store_env. Replay
 * refusals, credentials and idempotency are shared; an outage answers 503 and heals by itself.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startBrokerProcess, type RunningBroker } from '../../src/local/runner.js';
import { AUDIENCE } from '../../src/local/config.js';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';
import { startRedis, type TestRedis } from '../../src/local/redis.js';
import { SIGNING_KEY, UPSTREAM_TOKEN } from '../../src/local/world.js';

const REDIS_USER = { name: 'keyhole', password: 'redis-pw-5b8e0d2a' };
let world: BundledWorld;
let redis: TestRedis;
const brokers: RunningBroker[] = [];
const sha1 = (data: string) => createHash('sha1').update(data).digest('hex');

async function startInstance(env: NodeJS.ProcessEnv = {}): Promise<RunningBroker> {
  const broker = await startBrokerProcess({
    configPath: path.join(world.dir, 'redis.yaml'),
    env: {
      VERCEL_TOKEN_MARKETING: UPSTREAM_TOKEN,
      VERCEL_TOKEN_BILLING: UPSTREAM_TOKEN,
      KEYHOLE_SIGNING_KEY: SIGNING_KEY,
      KEYHOLE_REDIS_URL: redis.url(2),
      NODE_EXTRA_CA_CERTS: redis.caFile,
      ...env,
    },
  });
  brokers.push(broker);
  return broker;
}

beforeAll(async () => {
  world = await startBundledWorld();
  redis = await startRedis({ tls: true, user: REDIS_USER });
  writeFileSync(
    path.join(world.dir, 'redis.yaml'),
    `${readFileSync(world.configPath, 'utf8')}replay_store_env: KEYHOLE_REDIS_URL\n`,
  );
});
afterAll(async () => {
  for (const broker of brokers) await broker.stop();
  await redis?.close();
  await world.close();
});

/** The store connects in the background after start: wait until the instance reports ready. */
async function ready(
  broker: RunningBroker,
): Promise<{ status: number; body: { checks: { name: string; ok: boolean; reason?: string }[] } }> {
  let last = { status: 0, body: { checks: [] as { name: string; ok: boolean; reason?: string }[] } };
  for (let i = 0; i < 100; i++) {
    const response = await fetch(`${broker.url}/readyz`);
    last = { status: response.status, body: (await response.json()) as typeof last.body };
    if (last.status === 200) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return last;
}

const exchange = (broker: RunningBroker, token: string) =>
  fetch(`${broker.url}/v1/exchange`, {
    method: 'POST',
    body: JSON.stringify({ token, project: 'marketing-site', target: 'preview' }),
  });

test('a token exchanged at one instance is refused at the other; a credential minted by one works at the other', async () => {
  const [a, b] = [await startInstance(), await startInstance()];
  expect((await ready(a!)).status).toBe(200);
  expect((await ready(b!)).status).toBe(200);
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

test('a credential revoked at one instance is refused at the other', async () => {
  const [a, b] = brokers;
  world.issuer.setJob({ ref: 'refs/heads/revoke' });
  const { credential } = (await (await exchange(a!, await world.issuer.mint(AUDIENCE))).json()) as {
    credential: string;
  };
  const auth = { authorization: `Bearer ${credential}` };
  const revoked = await fetch(`${a!.url}/v1/revoke`, { method: 'POST', headers: auth });
  expect(revoked.status).toBe(200);
  const refused = await fetch(`${b!.url}/v9/projects/prj_marketing`, { headers: auth });
  expect(refused.status).toBe(401);
  expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('invalid_credential');
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
  expect((await ready(restarted)).status).toBe(200);
  const body = JSON.stringify({ name: 'x', files: [{ file: 'index.html', sha: sha1('restart'), size: 7 }] });
  const created = await fetch(`${restarted.url}/v13/deployments`, { method: 'POST', headers: auth, body });
  expect(created.status).toBe(200);
});

test('Redis unreachable: exchanges fail closed with a clear 503, /readyz says why; when it returns, both recover', async () => {
  const b = brokers[1]!;
  await redis.stop();
  world.issuer.setJob({});
  const response = await exchange(b, await world.issuer.mint(AUDIENCE));
  expect(response.status).toBe(503);
  const error = ((await response.json()) as { error: { code: string; message: string } }).error;
  expect(error.code).toBe('unavailable');
  expect(error.message).toMatch(/cannot record token use/);
  const notReady = await fetch(`${b.url}/readyz`);
  expect(notReady.status).toBe(503);
  const checks = ((await notReady.json()) as { checks: { name: string; ok: boolean }[] }).checks;
  expect(checks).toEqual([
    expect.objectContaining({ name: 'replay_store', ok: false }),
    { name: 'issuer_keys', ok: true },
  ]);

  await redis.restart();
  expect((await ready(b)).status).toBe(200);
  world.issuer.setJob({ ref: 'refs/heads/after-outage' });
  expect((await exchange(b, await world.issuer.mint(AUDIENCE))).status).toBe(200);
});

test('TLS trust comes from NODE_EXTRA_CA_CERTS: without it the instance cannot use the store (503), never plain text', async () => {
  const untrusting = await startInstance({ NODE_EXTRA_CA_CERTS: '' });
  const readiness = await fetch(`${untrusting.url}/readyz`);
  expect(readiness.status).toBe(503);
  world.issuer.setJob({ ref: 'refs/heads/untrusted' });
  expect((await exchange(untrusting, await world.issuer.mint(AUDIENCE))).status).toBe(503);
  expect(untrusting.stdout()).toMatch(/replay store unreachable.*certificate/i);
});

test("no instance ever printed the store's password; the URL is logged redacted", () => {
  for (const broker of brokers) {
    expect(broker.stdout() + broker.stderr()).not.toContain(REDIS_USER.password);
  }
  expect(brokers[0]!.stdout()).toContain(`rediss://keyhole:***@127.0.0.1:${redis.port}/2`);
});
