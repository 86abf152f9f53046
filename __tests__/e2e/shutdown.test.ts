/**
 * SIGTERM on the bundled broker: `/readyz` answers 503 from the first moment of the drain, requests
 * in flight finish (answered with `Connection: close`), a request longer than
 * `shutdown_grace_seconds` is cut at the grace, and the process always exits with one line saying
 * how, also when its store (a Redis Cluster, a single Redis) was never reachable.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startBrokerProcess, type RunningBroker } from '../../src/local/runner.js';
import { AUDIENCE } from '../../src/local/config.js';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';
import { freePort } from '../../src/local/redis.js';
import { SIGNING_KEY, UPSTREAM_TOKEN } from '../../src/local/world.js';

let world: BundledWorld;
const brokers: RunningBroker[] = [];

beforeAll(async () => {
  world = await startBundledWorld();
});
afterAll(async () => {
  for (const broker of brokers) await broker.stop();
  await world.close();
});

async function startInstance(extraConfig: string, env: NodeJS.ProcessEnv = {}): Promise<RunningBroker> {
  const configPath = path.join(world.dir, `shutdown-${brokers.length}.yaml`);
  writeFileSync(configPath, `${readFileSync(world.configPath, 'utf8')}${extraConfig}`);
  const broker = await startBrokerProcess({
    configPath,
    env: {
      VERCEL_TOKEN_MARKETING: UPSTREAM_TOKEN,
      VERCEL_TOKEN_BILLING: UPSTREAM_TOKEN,
      KEYHOLE_SIGNING_KEY: SIGNING_KEY,
      ...env,
    },
  });
  brokers.push(broker);
  return broker;
}

/** Sends SIGTERM and resolves with the exit code once the process is gone. */
function terminate(broker: RunningBroker): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => broker.process.once('exit', resolve));
  broker.process.kill('SIGTERM');
  return exited;
}

async function credentialAt(broker: RunningBroker, ref: string): Promise<string> {
  world.issuer.setJob({ ref });
  const response = await fetch(`${broker.url}/v1/exchange`, {
    method: 'POST',
    body: JSON.stringify({ token: await world.issuer.mint(AUDIENCE), project: 'marketing-site' }),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { credential: string }).credential;
}

/** Resolves once the Vercel fake has received a request for `pathPrefix` (the request is in flight). */
async function reachedUpstream(pathPrefix: string): Promise<void> {
  while (!world.fake.requests.some((r) => r.path.startsWith(pathPrefix)))
    await new Promise((r) => setTimeout(r, 20));
}

/** The stderr lines that are not the start line: what the process said on its way out. */
const exitLines = (broker: RunningBroker) =>
  broker
    .stderr()
    .split('\n')
    .filter((line) => line && !line.startsWith('keyhole-broker listening on'));

test('SIGTERM: /readyz answers 503 at once, the request in flight finishes with Connection: close, exit 0', async () => {
  const broker = await startInstance('shutdown_grace_seconds: 20\n');
  const credential = await credentialAt(broker, 'refs/heads/drain');
  // A load balancer's probe: every 100 ms, as a kubelet or a proxy's health check does.
  const probes: { status: number; draining?: boolean }[] = [];
  let probing = true;
  const prober = (async () => {
    while (probing) {
      const answer = await fetch(`${broker.url}/readyz`).catch(() => undefined);
      if (!answer) break; // the listener closed: the drain went on after the probe saw 503
      const body = (await answer.json()) as { draining?: boolean };
      probes.push({ status: answer.status, ...(body.draining ? { draining: true } : {}) });
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  while (probes.length < 3) await new Promise((r) => setTimeout(r, 20));

  world.fake.inject({ kind: 'slow', delayMs: 1500, path: '/v9/projects/prj_marketing' });
  const inFlight = fetch(`${broker.url}/v9/projects/prj_marketing`, {
    headers: { authorization: `Bearer ${credential}` },
  });
  await reachedUpstream('/v9/projects/prj_marketing');
  const exited = terminate(broker);
  const answer = await inFlight;
  const drainingSeenBeforeAnswer = probes.some((p) => p.status === 503 && p.draining);

  expect(answer.status).toBe(200);
  expect(answer.headers.get('connection')).toBe('close');
  expect(drainingSeenBeforeAnswer).toBe(true);
  expect(await exited).toBe(0);
  probing = false;
  await prober;
  // Ready until the signal, 503 (draining) after it: never ready again once draining.
  const firstDraining = probes.findIndex((p) => p.status === 503);
  expect(probes.slice(0, firstDraining).every((p) => p.status === 200)).toBe(true);
  expect(probes.slice(firstDraining).every((p) => p.status === 503 && p.draining)).toBe(true);
  expect(exitLines(broker)).toEqual([
    expect.stringMatching(/^keyhole-broker: stopped \(SIGTERM\): drained in [\d.]+ s, no request cut$/),
  ]);
  const log = broker.stdout();
  expect(log).toContain('"msg":"draining","signal":"SIGTERM","grace_seconds":20');
});

test('a request longer than shutdown_grace_seconds is cut at the grace and the process still exits 0', async () => {
  const broker = await startInstance('shutdown_grace_seconds: 1\n');
  const credential = await credentialAt(broker, 'refs/heads/cut');
  world.fake.inject({ kind: 'slow', delayMs: 8_000, path: '/v9/projects/prj_marketing' });
  world.fake.requests.length = 0;
  const inFlight = fetch(`${broker.url}/v9/projects/prj_marketing`, {
    headers: { authorization: `Bearer ${credential}` },
  }).then(
    (r) => r.status,
    () => 'connection closed',
  );
  await reachedUpstream('/v9/projects/prj_marketing');
  expect(await terminate(broker)).toBe(0);
  expect(await inFlight).toBe('connection closed');
  expect(exitLines(broker)).toEqual([
    expect.stringMatching(
      /^keyhole-broker: stopped \(SIGTERM\): drained in [\d.]+ s, 1 request\(s\) cut at the 1 s grace$/,
    ),
  ]);
  expect(broker.stdout()).toContain('"msg":"shutdown grace over; requests still in flight were cut"');
});

test.each([
  ['an unreachable Redis Cluster', 'redis+cluster'],
  ['an unreachable Redis', 'redis'],
])('SIGTERM ends a broker started with %s cleanly, with one line', async (_name, scheme) => {
  const [a, b] = [await freePort(), await freePort()];
  const url =
    scheme === 'redis+cluster'
      ? `redis+cluster://:secret-pw@127.0.0.1:${a},127.0.0.1:${b}`
      : `redis://:secret-pw@127.0.0.1:${a}/0`;
  const broker = await startInstance('replay_store_env: KEYHOLE_REDIS_URL\n', {
    KEYHOLE_REDIS_URL: url,
  });
  // Running long enough for the client to be between two reconnection attempts.
  expect((await fetch(`${broker.url}/readyz`)).status).toBe(503);
  await new Promise((r) => setTimeout(r, 500));
  expect(await terminate(broker)).toBe(0);
  const lines = exitLines(broker);
  expect(lines).toEqual([expect.stringMatching(/^keyhole-broker: stopped \(SIGTERM\): drained in [\d.]+ s/)]);
  expect(broker.stderr()).not.toContain('top-level await');
  expect(broker.stderr() + broker.stdout()).not.toContain('secret-pw');
});
