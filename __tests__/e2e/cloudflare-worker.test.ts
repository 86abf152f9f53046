/**
 * The Worker entry (src/broker/host/worker.ts) bundled to one ES module as wrangler does, run in workerd
 * through Miniflare with the settings of deploy/cloudflare/wrangler.toml: the bundled action deploys
 * through it against the strict fake, and a token used at one isolate is refused at another because
 * both share the Durable Object replay store.
 *
 * Miniflare lets workerd reach loopback addresses (its default network allows "private", a superset
 * of "local"), so the Worker's fetch reaches the issuer and the fake in this process unchanged; on
 * Cloudflare the same fetch goes to GitHub and api.vercel.com.
 */
import { build } from 'esbuild';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { Miniflare } from 'miniflare';
import { parse } from 'smol-toml';
import { parseConfig } from '../../src/broker/policy/config.js';
import {
  DurableObjectReplayStore,
  type DurableObjectNamespaceBinding,
} from '../../src/broker/store/durable-object.js';
import { startGitHubIssuer, type GitHubIssuer } from '../../src/local/github-oidc.js';
import { REPO_ROOT, runActionBundle } from '../../src/local/runner.js';
import { startVercelFake, type VercelFake } from '../../src/local/vercel/index.js';
import { withoutMaskCommands } from '../../src/local/bundled.js';
import { AUDIENCE, brokerYaml } from '../../src/local/config.js';
import { SIGNING_KEY, UPSTREAM_TOKEN } from '../../src/local/world.js';

interface WranglerToml {
  main: string;
  compatibility_date: string;
  durable_objects: { bindings: { name: string; class_name: string }[] };
  migrations: { new_sqlite_classes: string[] }[];
  vars: { KEYHOLE_CONFIG: string };
}

const wranglerDir = path.join(REPO_ROOT, 'deploy', 'cloudflare');
const wrangler = parse(
  readFileSync(path.join(wranglerDir, 'wrangler.toml'), 'utf8'),
) as unknown as WranglerToml;
const [binding] = wrangler.durable_objects.bindings;

let issuer: GitHubIssuer;
let fake: VercelFake;
let mf: Miniflare;
let url: URL;
let dir: string;
let logs = '';

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'keyhole-worker-'));
  issuer = await startGitHubIssuer();
  fake = await startVercelFake({ tokens: [UPSTREAM_TOKEN], buildMs: 100 });
  // What `wrangler deploy` does: esbuild (a direct devDependency, pinned), one ES module, the
  // workerd export conditions.
  await build({
    entryPoints: [path.join(wranglerDir, wrangler.main)],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    conditions: ['workerd', 'worker', 'browser'],
    mainFields: ['module', 'main'],
    external: ['cloudflare:*'],
    target: 'es2023',
    outfile: path.join(dir, 'worker.js'),
    logLevel: 'warning',
  });
  const bindings = {
    KEYHOLE_CONFIG: brokerYaml({ issuer: issuer.issuer, jwksUrl: issuer.jwksUrl, vercelApiUrl: fake.url }),
    KEYHOLE_SIGNING_KEY: SIGNING_KEY,
    VERCEL_TOKEN_MARKETING: UPSTREAM_TOKEN,
  };
  // Two Workers are two isolates; the second binds the first one's Durable Object class, as every
  // isolate of one deployed Worker shares its namespace.
  const worker = (name: string, owner?: string, vars: Record<string, string> = bindings) => ({
    name,
    modules: true,
    modulesRoot: dir,
    scriptPath: path.join(dir, 'worker.js'),
    compatibilityDate: wrangler.compatibility_date,
    bindings: vars,
    durableObjects: {
      [binding!.name]: {
        className: binding!.class_name,
        useSQLite: wrangler.migrations[0]!.new_sqlite_classes.includes(binding!.class_name),
        ...(owner ? { scriptName: owner } : {}),
      },
    },
  });
  mf = new Miniflare({
    workers: [
      worker('broker-a'),
      worker('broker-b', 'broker-a'),
      worker('no-signing-key', 'broker-a', { ...bindings, KEYHOLE_SIGNING_KEY: '' }),
    ],
    durableObjectsPersist: path.join(dir, 'durable-objects'),
    handleRuntimeStdio: (stdout: Readable, stderr: Readable) => {
      stdout.on('data', (chunk: Buffer) => (logs += chunk.toString()));
      stderr.on('data', (chunk: Buffer) => (logs += chunk.toString()));
    },
  });
  url = await mf.ready;
});

afterAll(async () => {
  await mf?.dispose();
  await fake?.close();
  await issuer?.close();
  rmSync(dir, { recursive: true, force: true });
});

const exchangeAt = async (worker: string, token: string) => {
  // Miniflare's own Request/Response types; the web ones describe the same objects.
  const fetcher = (await mf.getWorker(worker)) as unknown as { fetch: typeof fetch };
  const response = await fetcher.fetch('https://keyhole.example.com/v1/exchange', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, project: 'marketing-site', target: 'preview' }),
  });
  return {
    status: response.status,
    requestId: response.headers.get('x-request-id') ?? '',
    body: (await response.json()) as { credential?: string; error?: { code: string } },
  };
};

test('the wrangler.toml example configures a valid broker and the Durable Object class', () => {
  expect(binding).toEqual({ name: 'KEYHOLE_REPLAY', class_name: 'KeyholeReplayStore' });
  expect(() => parseConfig(wrangler.vars.KEYHOLE_CONFIG, 'wrangler.toml')).not.toThrow();
  expect(parseConfig(wrangler.vars.KEYHOLE_CONFIG, 'wrangler.toml').config.signingKeyEnv).toBe(
    'KEYHOLE_SIGNING_KEY',
  );
});

test('the bundled action deploys through the Worker to READY against the strict fake', async () => {
  fake.clearRecord();
  const workspace = mkdtempSync(path.join(dir, 'ws-'));
  writeFileSync(path.join(workspace, 'index.html'), '<h1>from a Worker</h1>');
  issuer.setJob({});
  const run = await runActionBundle({
    workspace,
    oidc: issuer,
    inputs: {
      'broker-url': url.origin,
      audience: AUDIENCE,
      project: 'marketing-site',
      'timeout-minutes': '1',
    },
  });
  expect({ code: run.code, stdout: run.code ? withoutMaskCommands(run.stdout) : '' }).toEqual({
    code: 0,
    stdout: '',
  });
  expect(run.outputs['ready-state']).toBe('READY');
  expect(run.outputs['deployment-id']).toMatch(/^dpl_/);
  const creates = fake.requests.filter((r) => r.method === 'POST' && r.path === '/v13/deployments');
  expect(creates.length).toBeGreaterThan(0);
  expect(creates.every((r) => r.headers.authorization === `Bearer ${UPSTREAM_TOKEN}`)).toBe(true);
  expect(creates.every((r) => (r.json as { project?: string }).project === 'prj_marketing')).toBe(true);
  expect(fake.requests.some((r) => r.path === '/v2/files')).toBe(true);
  // The audit lines reach the Worker's log; no credential, no upstream token, no signing key.
  expect(logs).toMatch(/"event":"exchange","decision":"allow"/);
  expect(logs).toMatch(/"event":"gateway","decision":"allow"/);
  expect(logs).not.toMatch(/khd_/);
  expect(logs).not.toContain(UPSTREAM_TOKEN);
  expect(logs).not.toContain(SIGNING_KEY.split(':')[1]);
});

test('a token exchanged at one isolate is refused at the other', async () => {
  const token = await issuer.mint(AUDIENCE);
  const first = await exchangeAt('broker-a', token);
  const second = await exchangeAt('broker-b', token);
  expect(first.status).toBe(200);
  expect(first.body.credential).toMatch(/^khd_/);
  expect(second).toMatchObject({ status: 401, body: { error: { code: 'token_replayed' } } });
  // Request ids start with a per-isolate random prefix: two prefixes, two isolates.
  expect(first.requestId.slice(0, 16)).not.toBe(second.requestId.slice(0, 16));
});

test('the same token sent to both isolates at once gets exactly one credential', async () => {
  for (let round = 0; round < 5; round++) {
    const token = await issuer.mint(AUDIENCE);
    const answers = await Promise.all([exchangeAt('broker-a', token), exchangeAt('broker-b', token)]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 401]);
  }
});

test('every store operation is atomic in the Durable Object, seen from outside workerd', async () => {
  const namespace = (await mf.getDurableObjectNamespace(
    binding!.name,
    'broker-a',
  )) as unknown as DurableObjectNamespaceBinding;
  const store = new DurableObjectReplayStore(namespace);
  const other = new DurableObjectReplayStore(namespace);

  const reservations = await Promise.all(
    Array.from({ length: 10 }, (_, i) => (i % 2 ? store : other).reserve('jti-1', 60_000)),
  );
  expect(reservations.filter(Boolean)).toHaveLength(1);
  await store.release('jti-1');
  expect(await other.reserve('jti-1', 60_000)).toBe(true);

  expect(await store.get('record')).toBeUndefined();
  await store.put('record', 'dpl_123', 60_000);
  expect(await other.get('record')).toBe('dpl_123');

  // 20 takes of 1 against a limit of 7: exactly 7 pass, with the values 1..7 each once.
  const taken = await Promise.all(
    Array.from({ length: 20 }, (_, i) => (i % 2 ? store : other).take('quota', 1, 7, 60_000)),
  );
  expect(taken.filter((v) => v !== undefined).sort((a, b) => a! - b!)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  expect(await store.take('quota', -2, 7, 60_000)).toBe(5);
  expect(await store.take('quota', 3, 7, 60_000)).toBeUndefined();

  // Entries expire: a 1 ms reservation is free again once it has lapsed.
  expect(await store.reserve('short', 1)).toBe(true);
  await new Promise((resolve) => setTimeout(resolve, 20));
  expect(await other.reserve('short', 60_000)).toBe(true);
  expect(await store.take('short-counter', 1, 1, 1)).toBe(1);
  await new Promise((resolve) => setTimeout(resolve, 20));
  expect(await store.take('short-counter', 1, 1, 60_000)).toBe(1);
});

test("/readyz answers 404 saying it is not served on Workers, not the gateway's 401", async () => {
  const response = await fetch(new URL('/readyz', url));
  expect(response.status).toBe(404);
  const body = (await response.json()) as { error: { code: string; message: string } };
  expect(body.error.code).toBe('not_found');
  expect(body.error.message).toMatch(/^\/readyz is not served on Workers/);
});

test('a Worker without its signing key refuses to serve, and its log names the secret to set', async () => {
  const token = await issuer.mint(AUDIENCE);
  const answer = await exchangeAt('no-signing-key', token);
  expect(answer).toMatchObject({ status: 503, body: { error: { code: 'unavailable' } } });
  expect(logs).toMatch(/broker failed to start.*KEYHOLE_SIGNING_KEY must be set/);
});
