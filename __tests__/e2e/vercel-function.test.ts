/**
 * The built Vercel Function (deploy/vercel/api/broker.js, as the folder ships it) driven with web
 * Requests as Vercel's Node.js runtime calls it: the rewrite's query parameter, a full exchange and
 * deploy by the action bundle against the strict fake, and the store on a real redis-server over
 * rediss:// shared by two instances of the function.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { pathToFileURL } from 'node:url';
import { getRequestListener } from '@hono/node-server';
import { REPO_ROOT, runActionBundle } from '../../src/local/runner.js';
import { startGitHubIssuer, type GitHubIssuer } from '../../src/local/github-oidc.js';
import { startVercelFake, type VercelFake } from '../../src/local/vercel/index.js';
import { AUDIENCE, brokerYaml } from '../../src/local/config.js';
import { startRedis, type TestRedis } from '../../src/local/redis.js';
import { SIGNING_KEY, UPSTREAM_TOKEN } from '../../src/local/world.js';

type Handler = { fetch(request: Request): Promise<Response> };
type FunctionModule = { default: Handler; close(): Promise<void> };
const FUNCTION = path.join(REPO_ROOT, 'deploy', 'vercel', 'api', 'broker.js');
const BUNDLE = path.join(REPO_ROOT, 'deploy', 'vercel', 'lib', 'index.js');
const REDIS_PASSWORD = 'vercel-redis-pw-19f0c3';

let issuer: GitHubIssuer;
let fake: VercelFake;
let redis: TestRedis;
let server: Server;
let url: string;
const handlers: Handler[] = [];
const modules: FunctionModule[] = [];
const workspaces: string[] = [];

/**
 * The first instance loads the function file as Vercel does; later ones load the bundle under
 * another URL, which gives a fresh module (its own broker and Redis client): another instance.
 */
async function loadInstance(n: number): Promise<Handler> {
  const bundle = `${pathToFileURL(BUNDLE).href}${n === 1 ? '' : `?instance=${n}`}`;
  const module = (await import(bundle)) as FunctionModule;
  modules.push(module);
  const handler =
    n === 1 ? ((await import(pathToFileURL(FUNCTION).href)) as { default: Handler }).default : module.default;
  // The function file re-exports the bundle's handler: the same object, not a copy.
  if (n === 1) expect(handler).toBe(module.default);
  handlers.push(handler);
  return handler;
}

beforeAll(async () => {
  issuer = await startGitHubIssuer();
  fake = await startVercelFake({ tokens: [UPSTREAM_TOKEN] });
  redis = await startRedis({ tls: true, user: { name: 'keyhole', password: REDIS_PASSWORD } });
  // The function's environment, as the Vercel project's variables would hold it.
  Object.assign(process.env, {
    KEYHOLE_CONFIG: `${brokerYaml({ issuer: issuer.issuer, jwksUrl: issuer.jwksUrl, vercelApiUrl: fake.url })}replay_store_env: KEYHOLE_REDIS_URL\n`,
    KEYHOLE_SIGNING_KEY: SIGNING_KEY,
    VERCEL_TOKEN_MARKETING: UPSTREAM_TOKEN,
    KEYHOLE_REDIS_URL: redis.url(1),
  });
  // Vercel's marketplace Redis presents a publicly trusted certificate; the test's own CA joins
  // this process's default CA store the way NODE_EXTRA_CA_CERTS would at start.
  tls.setDefaultCACertificates([...tls.getCACertificates('default'), readFileSync(redis.caFile!, 'utf8')]);

  const first = await loadInstance(1);
  // Vercel's runtime: a Node request becomes a web Request for the function's fetch handler.
  server = createServer(getRequestListener((request) => first.fetch(request)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  for (const module of modules) await module.close();
  await fake.close();
  await issuer.close();
  await redis.close();
  for (const dir of workspaces) rmSync(dir, { recursive: true, force: true });
});

test('the action deploys through the built function; the rewrite parameter is dropped before the allow-list', async () => {
  const workspace = mkdtempSync(path.join(tmpdir(), 'keyhole-vercel-ws-'));
  workspaces.push(workspace);
  mkdirSync(path.join(workspace, 'site'));
  writeFileSync(path.join(workspace, 'site', 'index.html'), '<h1>from a Vercel Function</h1>');
  issuer.setJob({ ref: 'refs/heads/vercel-function' });
  const run = await runActionBundle({
    workspace,
    oidc: issuer,
    inputs: { 'broker-url': url, audience: AUDIENCE, project: 'marketing-site', path: 'site' },
  });
  expect(run.code).toBe(0);
  expect(run.outputs['ready-state']).toBe('READY');
  expect(fake.deployments.size).toBe(1);

  // What Vercel's rewrite `/:keyholePath*` hands the function: the matched path appended.
  issuer.setJob({ ref: 'refs/heads/rewrite' });
  const exchange = await handlers[0]!.fetch(
    new Request('https://keyhole.example.com/v1/exchange?keyholePath=v1%2Fexchange', {
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
  const project = await handlers[0]!.fetch(
    new Request(
      'https://keyhole.example.com/v9/projects/prj_marketing?keyholePath=v9%2Fprojects%2Fprj_marketing',
      {
        headers: { authorization: `Bearer ${credential}` },
      },
    ),
  );
  expect(project.status).toBe(200);
  const other = await handlers[0]!.fetch(
    new Request('https://keyhole.example.com/v9/projects/prj_marketing?keyholePath=x&debug=1', {
      headers: { authorization: `Bearer ${credential}` },
    }),
  );
  expect(other.status).toBe(403);
});

test('two instances of the function share the rediss:// store: a token used at one is refused at the other', async () => {
  const second = await loadInstance(2);
  expect(second).not.toBe(handlers[0]);
  issuer.setJob({ ref: 'refs/heads/two-instances' });
  const token = await issuer.mint(AUDIENCE);
  const body = JSON.stringify({ token, project: 'marketing-site', target: 'preview' });
  const first = await handlers[0]!.fetch(new Request(`${url}/v1/exchange`, { method: 'POST', body }));
  expect(first.status).toBe(200);
  const replayed = await second.fetch(new Request(`${url}/v1/exchange`, { method: 'POST', body }));
  expect(replayed.status).toBe(401);
  expect(((await replayed.json()) as { error: { code: string } }).error.code).toBe('token_replayed');
});

test('without a shared store the function answers 503 and logs what to set', async () => {
  const saved = process.env.KEYHOLE_REDIS_URL;
  delete process.env.KEYHOLE_REDIS_URL;
  const logs: string[] = [];
  const log = console.log;
  console.log = (line: string) => void logs.push(line);
  try {
    const third = await loadInstance(3);
    const response = await third.fetch(new Request(`${url}/healthz`));
    expect(response.status).toBe(503);
    expect(logs.join('\n')).toMatch(/KEYHOLE_REDIS_URL must name a shared store \(rediss:\/\//);
  } finally {
    console.log = log;
    process.env.KEYHOLE_REDIS_URL = saved;
  }
});
