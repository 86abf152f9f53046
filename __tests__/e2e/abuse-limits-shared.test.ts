/**
 * The availability limits at their defaults leave a real deploy untouched (20,000 files, the
 * official CLI's 50 parallel uploads), and the quota and the exchange rate hold across two bundled
 * instances sharing one Redis (issue 13, findings 1 and 4).
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { defaultClaims } from '../../src/local/github-oidc.js';
import { startBrokerProcess, type RunningBroker } from '../../src/local/runner.js';
import { AUDIENCE } from '../../src/local/config.js';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';
import { startRedis, type TestRedis } from '../../src/local/redis.js';
import { SIGNING_KEY, UPSTREAM_TOKEN } from '../../src/local/world.js';

let world: BundledWorld;
let redis: TestRedis;
const instances: RunningBroker[] = [];

beforeAll(async () => {
  world = await startBundledWorld();
  redis = await startRedis();
  // Two instances on one Redis, with a small quota and rate so the race fits in a test.
  const configPath = path.join(world.dir, 'shared.yaml');
  writeFileSync(
    configPath,
    `${readFileSync(world.configPath, 'utf8')}replay_store: ${redis.url()}\nlimits:\n  max_deployments: 5\n  max_inflight_creates: 25\n  exchange_rate_per_owner: 10\n`,
  );
  for (let i = 0; i < 2; i++) {
    instances.push(
      await startBrokerProcess({
        configPath,
        env: {
          VERCEL_TOKEN_MARKETING: UPSTREAM_TOKEN,
          VERCEL_TOKEN_BILLING: UPSTREAM_TOKEN,
          KEYHOLE_SIGNING_KEY: SIGNING_KEY,
        },
      }),
    );
  }
});
afterAll(async () => {
  for (const instance of instances) await instance.stop();
  await redis?.close();
  await world.close();
});
beforeEach(() => world.fake.clearRecord());

let run = 0;
async function exchangeAt(url: string, claims: Record<string, string> = {}) {
  const token = await world.issuer.mint(
    AUDIENCE,
    defaultClaims({ run_id: String(7_000_000 + run++), ...claims }),
  );
  return fetch(`${url}/v1/exchange`, {
    method: 'POST',
    body: JSON.stringify({ token, project: 'marketing-site', target: 'preview' }),
  });
}
async function credentialAt(url: string): Promise<string> {
  const response = await exchangeAt(url, { ref: 'refs/heads/feature' });
  expect(response.status).toBe(200);
  return ((await response.json()) as { credential: string }).credential;
}
const post = (
  url: string,
  credential: string,
  path: string,
  body: string,
  headers: Record<string, string> = {},
) =>
  fetch(`${url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json', ...headers },
    body,
  });

describe('defaults leave a real deploy untouched', () => {
  test("a 15,000-file manifest (Vercel's maximum) with long paths passes the default create cap and reaches Vercel", async () => {
    const credential = await credentialAt(world.broker.url);
    const files = Array.from({ length: 15_000 }, (_, i) => ({
      file: `_next/static/chunks/app/(marketing)/blog/[slug]/page-section-${i}-${'x'.repeat(24)}.js`,
      sha: createHash('sha1').update(String(i)).digest('hex'),
      size: 1000 + i,
      mode: 33188,
    }));
    const body = JSON.stringify({ files, meta: {}, version: 2 });
    expect(body.length).toBeGreaterThan(2_000_000);
    const response = await post(world.broker.url, credential, '/v13/deployments', body);
    // Vercel's answer, not the broker's: the whole manifest was accepted and forwarded.
    expect(response.status).toBe(400);
    const answer = (await response.json()) as { error: { code: string; missing: string[] } };
    expect(answer.error.code).toBe('missing_files');
    expect(answer.error.missing).toHaveLength(15_000);
  });

  test("the official CLI's 50 parallel uploads from one credential all succeed (32 in flight, the rest wait their turn)", async () => {
    const credential = await credentialAt(world.broker.url);
    const uploads = Array.from({ length: 50 }, (_, i) => {
      const data = `file ${i} `.repeat(2_000);
      return post(world.broker.url, credential, '/v2/files', data, {
        'content-type': 'application/octet-stream',
        'x-now-digest': createHash('sha1').update(data).digest('hex'),
      });
    });
    expect((await Promise.all(uploads)).map((r) => r.status)).toEqual(Array(50).fill(200));
  });
});

test('600 slow-loris exchanges from one address (past both connection caps) do not keep a legitimate exchange from that address out', async () => {
  const { hostname, port } = new URL(world.broker.url);
  const slow = Array.from({ length: 600 }, () => {
    const socket = connect(Number(port), hostname);
    socket.on('error', () => undefined);
    socket.write(
      'POST /v1/exchange HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 16000\r\n\r\n{',
    );
    return { socket, closed: new Promise((resolve) => socket.once('close', resolve)) };
  });
  // Let them stall; the legitimate exchange then takes the place of the most stalled one.
  await new Promise((r) => setTimeout(r, 2_500));
  expect((await exchangeAt(world.broker.url)).status).toBe(200);
  for (const s of slow) s.socket.destroy();
  await Promise.all(slow.map((s) => s.closed));
}, 40_000);

describe('two instances on one Redis', () => {
  test('25 concurrent creates split across both instances with max_deployments 5 create exactly 5', async () => {
    const credential = await credentialAt(instances[0]!.url);
    const responses = await Promise.all(
      Array.from({ length: 25 }, (_, i) =>
        post(
          instances[i % 2]!.url,
          credential,
          '/v13/deployments',
          JSON.stringify({ files: [{ file: 'index.html', data: `<p>${i}</p>` }], meta: { n: String(i) } }),
        ),
      ),
    );
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(20);
    expect(
      world.fake.requests.filter((r) => r.method === 'POST' && r.path === '/v13/deployments'),
    ).toHaveLength(5);
  });

  test("an owner's exchanges are counted once across instances", async () => {
    // 25 > two windows of 10 across both instances: some are refused even across a minute boundary.
    const owner = { repository_owner_id: '987654' };
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) statuses.push((await exchangeAt(instances[i % 2]!.url, owner)).status);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(5);
    expect(statuses.filter((s) => s !== 429).every((s) => s === 200)).toBe(true);
  });
});
