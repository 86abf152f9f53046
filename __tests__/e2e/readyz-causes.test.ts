/**
 * A broker that starts against a Redis refusing its password: one warn line at start naming the
 * cause, and `/readyz` carrying the cause (WRONGPASS), never the password (issue 25 part 5).
 */
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { startBrokerProcess, type RunningBroker } from '../../src/local/runner.js';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';
import { eventually, startRedis, type TestRedis } from '../../src/local/redis.js';
import { SIGNING_KEY, UPSTREAM_TOKEN } from '../../src/local/world.js';

const PASSWORD = 'right-pw-5c1d9e';
const WRONG = 'wrong-pw-8a2f4b';
let world: BundledWorld;
let redis: TestRedis;
let broker: RunningBroker;

beforeAll(async () => {
  world = await startBundledWorld();
  redis = await startRedis({ password: PASSWORD });
  const config = path.join(world.dir, 'wrongpass.yaml');
  writeFileSync(config, world.configYaml({ replay_store_env: 'KEYHOLE_REDIS_URL' }));
  broker = await startBrokerProcess({
    configPath: config,
    env: {
      VERCEL_TOKEN_MARKETING: UPSTREAM_TOKEN,
      KEYHOLE_SIGNING_KEY: SIGNING_KEY,
      KEYHOLE_REDIS_URL: redis.url().replace(encodeURIComponent(PASSWORD), WRONG),
    },
  });
});
afterAll(async () => {
  await broker?.stop();
  await redis?.close();
  await world?.close();
});

test('a wrong Redis password: /readyz says WRONGPASS, and neither it nor the log holds the password', async () => {
  expect(redis.url()).toContain(PASSWORD);
  let body = '';
  await eventually(async () => {
    const response = await fetch(`${broker.url}/readyz`);
    body = await response.text();
    expect(response.status).toBe(503);
    expect(body).toMatch(/WRONGPASS/);
  });
  const check = (JSON.parse(body) as { checks: { name: string; reason?: string }[] }).checks.find(
    (c) => c.name === 'replay_store',
  );
  expect(check?.reason).toMatch(/WRONGPASS/);
  const output = broker.stdout() + broker.stderr();
  for (const text of [body, output]) {
    expect(text).not.toContain(WRONG);
    expect(text).not.toContain(PASSWORD);
  }
  const storeLines = output.split('\n').filter((l) => /replay store unreachable/.test(l));
  expect(storeLines).toHaveLength(1);
  expect(JSON.parse(storeLines[0]!)).toMatchObject({ level: expect.stringMatching(/warn|error/) });
  expect(storeLines[0]).toMatch(/WRONGPASS/);
});

test('issuer keys that cannot be fetched at start: one warn line with the cause, and /readyz carries it', async () => {
  // A port nobody listens on: the connection is refused, the cause an operator can act on.
  const closed = await new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
  const config = path.join(world.dir, 'nojwks.yaml');
  writeFileSync(config, world.configYaml({ jwks_url: `http://127.0.0.1:${closed}/.well-known/jwks` }));
  const lonely = await startBrokerProcess({
    configPath: config,
    env: { VERCEL_TOKEN_MARKETING: UPSTREAM_TOKEN, KEYHOLE_SIGNING_KEY: SIGNING_KEY },
  });
  try {
    let body = '';
    await eventually(async () => {
      const response = await fetch(`${lonely.url}/readyz`);
      body = await response.text();
      expect(response.status).toBe(503);
    });
    const check = (JSON.parse(body) as { checks: { name: string; reason?: string }[] }).checks.find(
      (c) => c.name === 'issuer_keys',
    );
    expect(check?.reason).toMatch(/ECONNREFUSED/);
    let lines: string[] = [];
    await eventually(async () => {
      lines = (lonely.stdout() + lonely.stderr())
        .split('\n')
        .filter((l) => /issuer keys unreachable at start/.test(l));
      expect(lines).toHaveLength(1);
    });
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: 'warn',
      cause: expect.stringMatching(/ECONNREFUSED/),
    });
  } finally {
    await lonely.stop();
  }
});
