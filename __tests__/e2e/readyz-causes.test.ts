/**
 * A broker that starts against a Redis refusing its password: one warn line at start naming the
 * cause, and `/readyz` carrying the cause (WRONGPASS), never the password (issue 25 part 5).
 */
import { writeFileSync } from 'node:fs';
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
