/**
 * Vercel's own limits through the bundles. A soak: deploy traffic with 10 % of Vercel's answers a
 * 429 (with `Retry-After` and `X-RateLimit-*`, scaled to 1 s so the run stays bounded) and 2 %
 * connection resets (half before Vercel processed the request, half after) on every route: every
 * deploy READY exactly once, the broker never repeats a create upstream on its own, counts the
 * 429s in /metrics, and the action says which limit it waits for. And a limit that outlasts
 * `timeout-minutes`: the action gives up at once with a clear error, Vercel's `Retry-After` intact.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';

const METRICS_TOKEN = 'metrics-token-limits-5e1';
const DEPLOYS = 8;
const FILES = 60;
let world: BundledWorld;

beforeAll(async () => {
  world = await startBundledWorld({
    fake: { buildMs: 200, seed: 26 },
    extraConfig: 'metrics_token_env: KEYHOLE_METRICS_TOKEN\n',
    env: { KEYHOLE_METRICS_TOKEN: METRICS_TOKEN },
  });
});
afterAll(() => world.close());

function workspaceFor(index: number): string {
  const workspace = mkdtempSync(path.join(world.dir, `limits-${index}-`));
  for (let i = 0; i < FILES; i++) {
    const dir = path.join(workspace, 'site', `d${i % 6}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, `page-${i}.html`), `<p>soak deploy ${index}, page ${i}</p>`);
  }
  return workspace;
}

async function metric(name: string, labels: string): Promise<number> {
  const text = await (
    await fetch(`${world.broker.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
  ).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) && line.includes(labels))
    .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
}

test(`soak: ${DEPLOYS} deploys under 10 % 429s and 2 % resets on every route, each READY exactly once`, async () => {
  const started = Date.now();
  const before = world.fake.deployments.size;
  world.fake.clearRecord();
  world.fake.setFaultMix({ 429: 0.1, reset: 0.01, 'reset-after': 0.01 }, 1);
  const results = [];
  try {
    // Two waves of four concurrent deploys: a busy team's afternoon, compressed.
    for (let wave = 0; wave < DEPLOYS / 4; wave++)
      results.push(
        ...(await Promise.all(
          [0, 1, 2, 3].map((i) => world.run({ path: 'site' }, { workspace: workspaceFor(wave * 4 + i) })),
        )),
      );
  } finally {
    world.fake.setFaultMix(undefined);
  }
  const upstreamCreates = world.fake.requests.filter(
    (r) => r.method === 'POST' && /^\/v1[03]\/deployments$/.test(r.path),
  ).length;
  const clientCreates = world.broker.auditLines().filter((l) => l.route === 'create-deployment').length;
  const throttled = await metric('keyhole_upstream_errors_total', 'status="429"');
  const unreachable = await metric('keyhole_upstream_errors_total', 'status="unreachable"');
  process.stdout.write(
    `\n[vercel limits soak] ${DEPLOYS} deploys x ${FILES} files in ${((Date.now() - started) / 1000).toFixed(0)} s: ` +
      `${world.fake.requests.length} upstream requests, ${throttled} answered 429, ${unreachable} without an answer; ` +
      `${results.filter((r) => r.outputs['ready-state'] === 'READY').length} READY, ` +
      `${world.fake.deployments.size - before} deployments; creates: ${clientCreates} from clients, ${upstreamCreates} upstream\n`,
  );

  expect(
    results.map((run) => ({
      code: run.code,
      state: run.outputs['ready-state'],
      error: /::error::(.*)/.exec(run.stdout)?.[1],
    })),
  ).toEqual(results.map(() => ({ code: 0, state: 'READY', error: undefined })));
  expect(world.fake.deployments.size - before).toBe(DEPLOYS);
  // The broker forwards a create once per client attempt, never more: its own retries would be
  // new deployments on Vercel.
  expect(upstreamCreates).toBeLessThanOrEqual(clientCreates);
  expect(throttled).toBeGreaterThan(0);
  // One line per wait, naming Vercel's limit from the headers the broker passed through.
  const waits = results.flatMap((run) =>
    run.stdout
      .split('\n')
      .filter((line) =>
        /: HTTP 429: Vercel's rate limit \(100 requests, 0 left, resets \d\d:\d\d:\d\d UTC\); retry \d+ in [\d.]+ s$/.test(
          line,
        ),
      ),
  );
  expect(waits.length).toBeGreaterThan(0);
}, 300_000);

test('a rate limit that outlasts timeout-minutes: the action gives up at once, with Vercel’s Retry-After intact', async () => {
  world.fake.inject({
    kind: 429,
    method: 'POST',
    path: '/v13/deployments',
    retryAfterSeconds: 3600,
    times: 3,
  });
  const run = await world.run({ path: 'site', 'timeout-minutes': '5' }, { workspace: workspaceFor(99) });
  expect(run.code).toBe(1);
  const error = /::error::(.*)/.exec(run.stdout)?.[1] ?? '';
  expect(error).toContain(
    "create deployment: gave up after 1 attempt(s): HTTP 429: Vercel's rate limit (100 requests, 0 left, resets ",
  );
  // 3600 s: what Vercel said, unchanged by the broker, past the step's 5 minutes.
  expect(error).toContain('waiting 3600 s more would pass timeout-minutes');
}, 120_000);
