/**
 * Holes an independent review found in the bundled broker, each attacked the way an outsider or the
 * holder of one credential would: every refusal is proven with nothing reaching the fake.
 */
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import path from 'node:path';
import { defaultClaims } from '../../src/local/github-oidc.js';
import { startBrokerProcess } from '../../src/local/runner.js';
import { AUDIENCE } from '../../src/local/config.js';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';
import { freePort } from '../../src/local/redis.js';
import { SIGNING_KEY, UPSTREAM_TOKEN } from '../../src/local/world.js';

let world: BundledWorld;
beforeAll(async () => {
  // Production builds take a while here, so a preview credential has something in flight to attack.
  world = await startBundledWorld({ fake: { buildMs: 60_000 } });
});
afterAll(() => world.close());
beforeEach(() => world.fake.clearRecord());

let run = 0;
async function credential(target: string, claims: Record<string, string>): Promise<string> {
  const token = await world.issuer.mint(
    AUDIENCE,
    defaultClaims({ run_id: String(8_100_000 + run++), ...claims }),
  );
  const response = await fetch(`${world.broker.url}/v1/exchange`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, project: 'marketing-site', target }),
  });
  const body = (await response.json()) as { credential: string };
  expect(response.status).toBe(200);
  return body.credential;
}

const call = (credential: string, method: string, path: string, body?: unknown) =>
  fetch(`${world.broker.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

async function productionDeployment(): Promise<string> {
  const production = await credential('production', { environment: 'production' });
  const response = await call(production, 'POST', '/v13/deployments', {
    target: 'production',
    files: [{ file: 'index.html', data: '<h1>production</h1>' }],
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { id: string }).id;
}

describe('a preview credential and the same project production deployments', () => {
  test('cannot cancel a production deployment in flight (a feature branch would stop production deploys)', async () => {
    const id = await productionDeployment();
    const preview = await credential('preview', { ref: 'refs/heads/feature' });
    world.fake.clearRecord();
    const response = await call(preview, 'PATCH', `/v12/deployments/${id}/cancel`);
    expect(response.status).toBe(403);
    expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(
      /production deployment.*preview/,
    );
    expect(world.fake.requests.filter((r) => r.method === 'PATCH')).toEqual([]);
    expect(world.fake.deployments.get(id)!.canceled).toBe(false);
  });

  test("cannot read a production build's log stream (production builds print production values)", async () => {
    const id = await productionDeployment();
    const preview = await credential('preview', { ref: 'refs/heads/feature' });
    world.fake.clearRecord();
    const response = await call(preview, 'GET', `/v3/deployments/${id}/events`);
    expect(response.status).toBe(403);
    await response.arrayBuffer();
    expect(world.fake.requests.filter((r) => r.path.endsWith('/events'))).toEqual([]);
  });

  test('the production credential still cancels its own production deployment', async () => {
    const production = await credential('production', { environment: 'production' });
    const created = await call(production, 'POST', '/v13/deployments', {
      target: 'production',
      files: [{ file: 'index.html', data: '<h1>again</h1>' }],
    });
    const { id } = (await created.json()) as { id: string };
    const response = await call(production, 'PATCH', `/v12/deployments/${id}/cancel`);
    expect(response.status).toBe(200);
    expect(world.fake.deployments.get(id)!.canceled).toBe(true);
  });
});

test('turning require_dpop on (SIGHUP) stops the bearer credentials already handed out', async () => {
  const port = await freePort();
  const configPath = path.join(world.dir, 'dpop-later.yaml');
  const plain = world.configYaml({ public_url: `http://127.0.0.1:${port}` });
  writeFileSync(configPath, plain);
  const broker = await startBrokerProcess({
    configPath,
    port,
    env: { VERCEL_TOKEN_MARKETING: UPSTREAM_TOKEN, KEYHOLE_SIGNING_KEY: SIGNING_KEY },
  });
  try {
    const token = await world.issuer.mint(
      AUDIENCE,
      defaultClaims({ run_id: '8200001', ref: 'refs/heads/feature' }),
    );
    const exchanged = await fetch(`${broker.url}/v1/exchange`, {
      method: 'POST',
      body: JSON.stringify({ token, project: 'marketing-site', target: 'preview' }),
    });
    const { credential } = (await exchanged.json()) as { credential: string };
    const project = () =>
      fetch(`${broker.url}/v9/projects/prj_marketing`, {
        headers: { authorization: `Bearer ${credential}` },
      });
    expect((await project()).status).toBe(200);

    writeFileSync(
      configPath,
      world.configYaml({
        public_url: `http://127.0.0.1:${port}`,
        projects: { 'marketing-site': { require_dpop: true } },
      }),
    );
    const before = broker.stdout().length;
    broker.process.kill('SIGHUP');
    for (let i = 0; i < 200 && !/config reload/.test(broker.stdout().slice(before)); i++)
      await new Promise((resolve) => setTimeout(resolve, 25));
    expect(broker.stdout().slice(before)).toMatch(/"msg":"config reloaded"/);

    world.fake.clearRecord();
    const refused = await project();
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(/require_dpop/);
    expect(world.fake.requests).toEqual([]);
  } finally {
    await broker.stop();
  }
});

describe('batched uploads and the buffered-bytes budget every project shares', () => {
  const MiB = 1024 * 1024;
  let limited: BundledWorld;
  beforeAll(async () => {
    limited = await startBundledWorld({
      extraConfig: `limits:
  max_buffered_body_bytes: ${8 * MiB}
  body_timeout_seconds: 20
`,
    });
  });
  afterAll(() => limited.close());

  async function credentialOf(project: 'marketing-site' | 'billing'): Promise<string> {
    const claims =
      project === 'billing'
        ? { repository: 'acme/billing', repository_id: '555' }
        : { ref: 'refs/heads/feature' };
    const token = await limited.issuer.mint(
      AUDIENCE,
      defaultClaims({ run_id: String(8_300_000 + run++), ...claims }),
    );
    const response = await fetch(`${limited.broker.url}/v1/exchange`, {
      method: 'POST',
      body: JSON.stringify({ token, project, target: 'preview' }),
    });
    expect(response.status).toBe(200);
    return ((await response.json()) as { credential: string }).credential;
  }

  /** A batch whose one frame declares 1 MiB, of which only the header is sent: the broker waits for the rest. */
  function stalledBatch(credential: string): { socket: Socket; received: () => string } {
    const { hostname, port } = new URL(limited.broker.url);
    const socket = connect(Number(port), hostname);
    let data = '';
    socket.on('data', (d: Buffer) => (data += d.toString()));
    socket.on('error', () => undefined);
    const size = Buffer.alloc(4);
    size.writeUInt32BE(MiB);
    socket.write(
      `POST /v1/files/batch HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${credential}\r\n` +
        `content-type: application/vnd.keyhole.file-batch\r\nx-keyhole-batch-files: 1\r\n` +
        `content-length: ${44 + MiB}\r\n\r\n${'a'.repeat(40)}`,
    );
    socket.write(size);
    return { socket, received: () => data };
  }

  test("one credential cannot fill it with stalled batches and starve another project's create", async () => {
    const flooder = await credentialOf('marketing-site');
    const victim = await credentialOf('billing');
    const batches = Array.from({ length: 12 }, () => stalledBatch(flooder));
    try {
      // The broker has read them all once one of them is answered (a refusal past the credential's share).
      for (let i = 0; i < 100 && !batches.some((b) => b.received().startsWith('HTTP/1.1 429')); i++)
        await new Promise((resolve) => setTimeout(resolve, 50));
      expect(batches.some((b) => b.received().startsWith('HTTP/1.1 429'))).toBe(true);

      const create = await fetch(`${limited.broker.url}/v13/deployments`, {
        method: 'POST',
        headers: { authorization: `Bearer ${victim}`, 'content-type': 'application/json' },
        body: JSON.stringify({ files: [{ file: 'index.html', data: 'x'.repeat(1024 * 1024) }] }),
      });
      expect(create.status).toBe(200);
    } finally {
      for (const batch of batches) batch.socket.destroy();
    }
  }, 30_000);
});
