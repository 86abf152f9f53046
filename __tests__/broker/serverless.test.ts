/** The broker as a plain fetch handler, driven in-process with Request objects through a full deploy. */
import { createHash } from 'node:crypto';
import { createBrokerFromEnv } from '../../src/broker/host/compose.js';
import { MemoryReplayStore } from '../../src/broker/store/memory.js';
import { startGitHubIssuer, type GitHubIssuer } from '../../src/local/github-oidc.js';
import { startVercelFake, type VercelFake } from '../../src/local/vercel/index.js';
import { AUDIENCE, brokerYaml } from '../../src/local/config.js';
import { SIGNING_KEY, UPSTREAM_TOKEN } from '../../src/local/world.js';

let issuer: GitHubIssuer;
let fake: VercelFake;
beforeAll(async () => {
  issuer = await startGitHubIssuer();
  fake = await startVercelFake({ tokens: [UPSTREAM_TOKEN] });
});
afterAll(async () => {
  await fake.close();
  await issuer.close();
});

const env = () => ({
  KEYHOLE_CONFIG: brokerYaml({ issuer: issuer.issuer, jwksUrl: issuer.jwksUrl, vercelApiUrl: fake.url }),
  KEYHOLE_SIGNING_KEY: SIGNING_KEY,
  VERCEL_TOKEN_MARKETING: UPSTREAM_TOKEN,
});

test('exchange, upload, create and poll through fetch(Request) alone', async () => {
  const broker = await createBrokerFromEnv(env(), { replay: new MemoryReplayStore(), log: () => undefined });
  const origin = 'https://keyhole.example.com';
  const exchange = await broker.fetch(
    new Request(`${origin}/v1/exchange`, {
      method: 'POST',
      body: JSON.stringify({
        token: await issuer.mint(AUDIENCE),
        project: 'marketing-site',
        target: 'preview',
      }),
    }),
  );
  expect(exchange.status).toBe(200);
  const { credential } = (await exchange.json()) as { credential: string };
  const auth = { authorization: `Bearer ${credential}` };
  const data = new TextEncoder().encode('<h1>serverless</h1>');
  const sha = createHash('sha1').update(data).digest('hex');
  const upload = await broker.fetch(
    new Request(`${origin}/v2/files`, {
      method: 'POST',
      headers: { ...auth, 'x-now-digest': sha, 'content-length': String(data.length) },
      body: data,
    }),
  );
  expect(upload.status).toBe(200);
  const create = await broker.fetch(
    new Request(`${origin}/v13/deployments`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ name: 'x', files: [{ file: 'index.html', sha, size: data.length }] }),
    }),
  );
  expect(create.status).toBe(200);
  const { id } = (await create.json()) as { id: string };
  await new Promise((r) => setTimeout(r, 150));
  const get = await broker.fetch(new Request(`${origin}/v13/deployments/${id}`, { headers: auth }));
  expect(((await get.json()) as { readyState: string }).readyState).toBe('READY');
  const refused = await broker.fetch(
    new Request(`${origin}/v10/projects/prj_marketing/env`, { headers: auth }),
  );
  expect(refused.status).toBe(403);
});

test('refuses to start without a persistent signing key', async () => {
  const { KEYHOLE_SIGNING_KEY: _unused, ...withoutKey } = env();
  await expect(createBrokerFromEnv(withoutKey, { replay: new MemoryReplayStore() })).rejects.toThrow(
    /KEYHOLE_SIGNING_KEY must be set/,
  );
});

test('the broker core uses no Node-only API: every file outside src/broker/host/node/', async () => {
  const { readFileSync, readdirSync } = await import('node:fs');
  const path = await import('node:path');
  const root = path.join(process.cwd(), 'src', 'broker');
  // A folder rule, not a list of names: a new file anywhere else is read too.
  const nodeRoom = path.join('host', 'node') + path.sep;
  const all = readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  const files = all.filter((f) => !f.startsWith(nodeRoom));
  expect(files).toEqual(expect.arrayContaining([path.join('gateway', 'index.ts'), 'app.ts']));
  expect(files.length).toBeGreaterThan(all.length / 2);
  for (const file of files) {
    const text = readFileSync(path.join(root, file), 'utf8');
    expect({
      file,
      nodeImport: /from 'node:|import\('node:/.test(text),
      buffer: /\bBuffer\./.test(text),
      process: /\bprocess\./.test(text),
    }).toEqual({ file, nodeImport: false, buffer: false, process: false });
  }
});

test('Workers and Vercel Functions: a rotated Vercel token applies from the next cold start (a new isolate reads its bindings)', async () => {
  const rotated = 'vercel_upstream_token_after_cold_start';
  fake.tokens.add(rotated);
  const replay = new MemoryReplayStore();
  const origin = 'https://keyhole.example.com';
  const uploadWith = async (broker: Awaited<ReturnType<typeof createBrokerFromEnv>>, label: string) => {
    issuer.setJob({ ref: `refs/heads/${label}` });
    const exchange = await broker.fetch(
      new Request(`${origin}/v1/exchange`, {
        method: 'POST',
        body: JSON.stringify({ token: await issuer.mint(AUDIENCE), project: 'marketing-site' }),
      }),
    );
    const { credential } = (await exchange.json()) as { credential: string };
    const data = new TextEncoder().encode(`cold start ${label}`);
    const answer = await broker.fetch(
      new Request(`${origin}/v2/files`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${credential}`,
          'x-now-digest': createHash('sha1').update(data).digest('hex'),
          'content-length': String(data.length),
        },
        body: data,
      }),
    );
    return answer.status;
  };
  try {
    // The warm isolate keeps the token it started with; the platform's secret changes meanwhile.
    const warm = await createBrokerFromEnv(env(), { replay, log: () => undefined });
    const bindings = { ...env(), VERCEL_TOKEN_MARKETING: rotated };
    expect(await uploadWith(warm, 'warm')).toBe(200);
    // The old token is revoked in Vercel: the warm isolate fails, a cold one reads the new binding.
    fake.tokens.delete(UPSTREAM_TOKEN);
    expect(await uploadWith(warm, 'warm-revoked')).not.toBe(200);
    const cold = await createBrokerFromEnv(bindings, { replay, log: () => undefined });
    expect(await uploadWith(cold, 'cold')).toBe(200);
  } finally {
    fake.tokens.add(UPSTREAM_TOKEN);
    fake.tokens.delete(rotated);
  }
});
