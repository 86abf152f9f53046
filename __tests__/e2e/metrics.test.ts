/**
 * GET /metrics and GET /readyz on the bundled broker: Prometheus text behind the metrics token
 * (404 without it), bounded labels, and the Grafana dashboard built only from names it serves.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT, startBrokerProcess, type RunningBroker } from '../../src/local/runner.js';
import { METRIC_NAMES } from '../../src/broker/host/node/metrics.js';
import { AUDIENCE } from '../../src/local/config.js';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';
import { SIGNING_KEY, UPSTREAM_TOKEN } from '../../src/local/world.js';
import { BATCH_CONTENT_TYPE, BATCH_FILES_HEADER, BATCH_PATH } from '../../src/shared/wire.js';

const METRICS_TOKEN = 'metrics-token-3c9d41f0a7';
let world: BundledWorld;
let broker: RunningBroker;
const sha1 = (data: string) => createHash('sha1').update(data).digest('hex');

beforeAll(async () => {
  world = await startBundledWorld({ extraConfig: 'metrics_token_env: KEYHOLE_METRICS_TOKEN\n' });
  broker = await startBrokerProcess({
    configPath: world.configPath,
    env: {
      VERCEL_TOKEN_MARKETING: UPSTREAM_TOKEN,
      KEYHOLE_SIGNING_KEY: SIGNING_KEY,
      KEYHOLE_METRICS_TOKEN: METRICS_TOKEN,
    },
  });
});
afterAll(async () => {
  await broker?.stop();
  await world.close();
});

const scrape = (url: string, token?: string) =>
  fetch(`${url}/metrics`, token ? { headers: { authorization: `Bearer ${token}` } } : {});

async function traffic(): Promise<void> {
  const exchange = (token: string, target = 'preview') =>
    fetch(`${broker.url}/v1/exchange`, {
      method: 'POST',
      body: JSON.stringify({ token, project: 'marketing-site', target }),
    });
  world.issuer.setJob({ ref: 'refs/heads/metrics' });
  const token = await world.issuer.mint(AUDIENCE);
  const { credential } = (await (await exchange(token)).json()) as { credential: string };
  expect((await exchange(token)).status).toBe(401); // replayed
  world.issuer.setJob({ ref: 'refs/heads/feature' });
  expect((await exchange(await world.issuer.mint(AUDIENCE), 'production')).status).toBe(403);
  const auth = { authorization: `Bearer ${credential}` };
  const upload = await fetch(`${broker.url}/v2/files`, {
    method: 'POST',
    headers: { ...auth, 'x-now-digest': sha1('metrics!') },
    body: 'metrics!',
  });
  expect(upload.status).toBe(200);
  // Two files in one batch: each is its own upstream request, timed like the single upload.
  const frames = ['batched one', 'batched two'].map((content) => {
    const size = Buffer.alloc(4);
    size.writeUInt32BE(content.length);
    return Buffer.concat([Buffer.from(sha1(content)), size, Buffer.from(content)]);
  });
  const batch = await fetch(`${broker.url}${BATCH_PATH}`, {
    method: 'POST',
    headers: { ...auth, 'content-type': BATCH_CONTENT_TYPE, [BATCH_FILES_HEADER]: '2' },
    body: Buffer.concat(frames),
  });
  expect(batch.status).toBe(200);
  const secretPath = `${broker.url}/v10/projects/prj_marketing/env/credential-like-${credential.slice(4, 12)}`;
  expect((await fetch(secretPath, { headers: auth })).status).toBe(403);
}

test('/metrics: 404 without the token or with a wrong one; Prometheus text with the token', async () => {
  await traffic();
  expect((await scrape(broker.url)).status).toBe(404);
  expect((await scrape(broker.url, 'wrong-token')).status).toBe(404);
  const response = await scrape(broker.url, METRICS_TOKEN);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await response.text();
  for (const name of METRIC_NAMES) expect(text).toContain(`# TYPE ${name} `);
  expect(text).toMatch(/^keyhole_exchanges_total\{decision="allow",reason="allowed"\} 1$/m);
  expect(text).toMatch(/^keyhole_exchanges_total\{decision="deny",reason="token_replayed"\} 1$/m);
  expect(text).toMatch(/^keyhole_exchanges_total\{decision="deny",reason="policy_denied"\} 1$/m);
  expect(text).toMatch(/^keyhole_gateway_requests_total\{route="upload-file",status="200"\} 1$/m);
  expect(text).toMatch(/^keyhole_gateway_requests_total\{route="not-allowed",status="403"\} 1$/m);
  expect(text).toMatch(/^keyhole_gateway_requests_total\{route="upload-batch",status="200"\} 1$/m);
  expect(text).toMatch(/^keyhole_upload_bytes_total 30$/m); // 8 + 11 + 11
  expect(text).toMatch(/^keyhole_uploads_in_flight 0$/m);
  expect(text).toMatch(
    /^keyhole_upstream_request_duration_seconds_count\{method="POST",path="\/v2\/files",outcome="2xx"\} 3$/m,
  );
  expect(text).toMatch(/^keyhole_jwks_refreshes_total\{outcome="ok"\} [1-9]/m);
  expect(text).toMatch(/^keyhole_jwks_age_seconds [0-9.]+$/m);
  expect(text).toMatch(/^process_resident_memory_bytes [0-9]/m);
  // Bounded labels: no credential, repository, ref or raw path reaches a series.
  expect(text).not.toMatch(/khd_|credential-like|acme\/marketing|refs\/heads|prj_marketing|v10\/projects/);
});

test('/metrics is absent (404) when metrics_token_env is not configured', async () => {
  expect((await scrape(world.broker.url, METRICS_TOKEN)).status).toBe(404);
});

test('every metric in the Grafana dashboard is one the broker serves', async () => {
  const text = await (await scrape(broker.url, METRICS_TOKEN)).text();
  // Served: a sample line, or a `# TYPE` line (a labelled counter such as keyhole_upstream_errors_total
  // has no sample until its first event, yet Prometheus scrapes it from the first one on).
  const served = new Set(
    text
      .split('\n')
      .filter((line) => line && (!line.startsWith('#') || line.startsWith('# TYPE ')))
      .map((line) => /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line.replace(/^# TYPE /, ''))![0]),
  );
  const dashboard = JSON.parse(
    readFileSync(path.join(REPO_ROOT, 'examples', 'grafana-dashboard.json'), 'utf8'),
  ) as {
    panels: { targets: { expr: string }[] }[];
  };
  const used = dashboard.panels.flatMap((p) =>
    p.targets.flatMap((t) => t.expr.match(/\b(?:keyhole|process|nodejs)_[a-z0-9_]+/g) ?? []),
  );
  expect(used.length).toBeGreaterThan(10);
  expect(used.filter((name) => !served.has(name))).toEqual([]);
  // Every broker metric has a panel.
  expect(METRIC_NAMES.filter((name) => !used.some((u) => u.startsWith(name)))).toEqual([]);
});

test('/readyz: 200 when the store answers and the issuer keys load; 503 naming the issuer when they cannot', async () => {
  const ok = await fetch(`${broker.url}/readyz`);
  expect(ok.status).toBe(200);
  expect(await ok.json()).toEqual({
    ready: true,
    checks: [
      { name: 'replay_store', ok: true },
      { name: 'issuer_keys', ok: true },
    ],
  });
  const unreachable = path.join(world.dir, 'no-jwks.yaml');
  writeFileSync(unreachable, world.configYaml({ jwks_url: 'http://127.0.0.1:9/jwks' }));
  const blind = await startBrokerProcess({
    configPath: unreachable,
    env: { VERCEL_TOKEN_MARKETING: UPSTREAM_TOKEN, KEYHOLE_SIGNING_KEY: SIGNING_KEY },
  });
  try {
    const response = await fetch(`${blind.url}/readyz`);
    expect(response.status).toBe(503);
    const body = (await response.json()) as { checks: { name: string; ok: boolean; reason?: string }[] };
    expect(body.checks[1]).toEqual({
      name: 'issuer_keys',
      ok: false,
      reason: expect.stringContaining('http://127.0.0.1:9/jwks'),
    });
    expect((await fetch(`${blind.url}/healthz`)).status).toBe(200);
  } finally {
    await blind.stop();
  }
});
