/** The broker keeps working, and keeps refusing, when its peers misbehave. */
import { exportJWK, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { createBroker } from '../../src/broker/app.js';
import { silentLogger } from '../../src/broker/audit.js';
import { parseConfig } from '../../src/broker/policy/config.js';
import { loadSigningKeys } from '../../src/broker/credential/credential.js';
import { createGitHubKeySet, createTokenVerifier } from '../../src/broker/oidc/verify.js';
import { MemoryReplayStore } from '../../src/broker/store/memory.js';
import type { ReplayStore } from '../../src/broker/store/store.js';
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
afterEach(() => {
  issuer.setJwksAvailable(true);
  issuer.setJwksDelay(0);
});

async function broker(
  options: {
    cacheMaxAgeMs?: number;
    timeoutMs?: number;
    maxStaleMs?: number;
    replay?: ReplayStore;
    extra?: string;
  } = {},
) {
  const { config } = parseConfig(
    brokerYaml({ issuer: issuer.issuer, jwksUrl: issuer.jwksUrl, vercelApiUrl: fake.url }, options.extra),
    'b.yaml',
  );
  const stale: string[] = [];
  const keySet = createGitHubKeySet(config.jwksUrl, {
    ...options,
    onStale: (_age, reason) => void stale.push(reason),
  });
  const app = createBroker({
    config,
    keys: await loadSigningKeys(SIGNING_KEY, 'K'),
    verifyToken: createTokenVerifier({ issuer: config.issuer, audience: config.audience, keySet }),
    replay: options.replay ?? new MemoryReplayStore(),
    logger: silentLogger,
    upstreamToken: () => UPSTREAM_TOKEN,
  });
  const exchange = async () =>
    app.fetch(
      new Request('https://broker.test/v1/exchange', {
        method: 'POST',
        body: JSON.stringify({
          token: await issuer.mint(AUDIENCE),
          project: 'marketing-site',
          target: 'preview',
        }),
      }),
    );
  return { app, exchange, stale };
}

test('JWKS down after warm-up: exchanges continue from the last good keys, and it is reported', async () => {
  const { exchange, stale } = await broker({ cacheMaxAgeMs: 1 });
  expect((await exchange()).status).toBe(200);
  issuer.setJwksAvailable(false);
  await new Promise((r) => setTimeout(r, 20));
  expect((await exchange()).status).toBe(200);
  expect(stale.length).toBeGreaterThan(0);
});

test('after a key rotation, the last good keys are the new set: its tokens verify while the issuer is down, the old set is gone', async () => {
  const pairs = [await generateKeyPair('RS256'), await generateKeyPair('RS256')];
  const sets = await Promise.all(
    pairs.map(async (pair, i) => ({
      keys: [{ ...(await exportJWK(pair.publicKey)), kid: `k${i}`, alg: 'RS256', use: 'sig' }],
    })),
  );
  let serving: number | undefined = 0;
  // The fallback is taken from a set still fresh after the verification that fetched it: a cache
  // age of a few hundred ms keeps that true on a loaded machine, and expires between the steps.
  const keySet = createGitHubKeySet('https://issuer.test/.well-known/jwks', {
    cacheMaxAgeMs: 300,
    fetch: async () => {
      if (serving === undefined) throw new TypeError('fetch failed');
      return new Response(JSON.stringify(sets[serving]), { headers: { 'content-type': 'application/json' } });
    },
  });
  const token = (i: number) =>
    new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: `k${i}` }).sign(pairs[i]!.privateKey);
  const settle = () => new Promise((r) => setTimeout(r, 350));
  await expect(jwtVerify(await token(0), keySet)).resolves.toBeDefined();
  serving = 1;
  await settle();
  await expect(jwtVerify(await token(1), keySet)).resolves.toBeDefined();
  serving = undefined;
  await settle();
  await expect(jwtVerify(await token(1), keySet)).resolves.toBeDefined();
  await expect(jwtVerify(await token(0), keySet)).rejects.toThrow();
});

test('JWKS down past the staleness bound, or never reached: a clear 503, not a 401', async () => {
  const { exchange } = await broker({ cacheMaxAgeMs: 1, maxStaleMs: 5 });
  expect((await exchange()).status).toBe(200);
  issuer.setJwksAvailable(false);
  await new Promise((r) => setTimeout(r, 20));
  const stale = await exchange();
  expect(stale.status).toBe(503);
  expect(stale.headers.get('retry-after')).toBe('5');
  const cold = await broker();
  const response = await cold.exchange();
  expect(response.status).toBe(503);
  expect(((await response.json()) as { error: { code: string } }).error.code).toBe('unavailable');
});

test('a slow JWKS is waited for a bounded time, then 503', async () => {
  issuer.setJwksDelay(2_000);
  const { exchange } = await broker({ timeoutMs: 200 });
  const started = Date.now();
  const response = await exchange();
  expect(response.status).toBe(503);
  expect(Date.now() - started).toBeLessThan(1_500);
});

test('a replay store that fails makes exchanges fail closed with 503', async () => {
  const broken: ReplayStore = {
    reserve: () => Promise.reject(new Error('connection refused')),
    release: () => Promise.resolve(),
    get: () => Promise.resolve(undefined),
    put: () => Promise.resolve(),
    take: () => Promise.reject(new Error('connection refused')),
  };
  const { exchange } = await broker({ replay: broken });
  const response = await exchange();
  expect(response.status).toBe(503);
  expect(await response.text()).not.toMatch(/connection refused/);
});

test('a slow upstream times out into a clean 504 with Retry-After', async () => {
  const { app, exchange } = await broker({ extra: 'limits:\n  upstream_timeout_seconds: 1\n' });
  const { credential } = (await (await exchange()).json()) as { credential: string };
  fake.inject({ kind: 'slow', path: '/v13/deployments/', delayMs: 3_000 });
  const started = Date.now();
  const response = await app.fetch(
    new Request('https://broker.test/v13/deployments/dpl_x', {
      headers: { authorization: `Bearer ${credential}` },
    }),
  );
  expect(response.status).toBe(504);
  expect(response.headers.get('retry-after')).toBe('2');
  expect(Date.now() - started).toBeLessThan(2_500);
});

test('an unreachable upstream is a clean 502', async () => {
  const { config } = parseConfig(
    brokerYaml({ issuer: issuer.issuer, jwksUrl: issuer.jwksUrl, vercelApiUrl: 'http://127.0.0.1:1' }),
    'b.yaml',
  );
  const app = createBroker({
    config,
    keys: await loadSigningKeys(SIGNING_KEY, 'K'),
    verifyToken: createTokenVerifier({
      issuer: config.issuer,
      audience: config.audience,
      keySet: createGitHubKeySet(config.jwksUrl),
    }),
    replay: new MemoryReplayStore(),
    logger: silentLogger,
    upstreamToken: () => UPSTREAM_TOKEN,
  });
  const exchanged = await app.fetch(
    new Request('https://b/v1/exchange', {
      method: 'POST',
      body: JSON.stringify({
        token: await issuer.mint(AUDIENCE),
        project: 'marketing-site',
        target: 'preview',
      }),
    }),
  );
  const { credential } = (await exchanged.json()) as { credential: string };
  const response = await app.fetch(
    new Request('https://b/v13/deployments/dpl_x', { headers: { authorization: `Bearer ${credential}` } }),
  );
  expect(response.status).toBe(502);
  expect(((await response.json()) as { error: { code: string } }).error.code).toBe('upstream_error');
});
