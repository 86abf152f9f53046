/**
 * check-path end to end: the bundled action GETs a protected preview with the job's own OIDC token
 * (x-vercel-trusted-oidc-idp-token), as Vercel's Trusted Sources accept it. The strict fake reports
 * every deployment at a local server that plays the protected site and verifies the token against
 * the local issuer's JWKS, for the audience the docs name, as a Trusted Sources rule would.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { parse } from 'yaml';
import { githubOidcToken, TRUSTED_OIDC_HEADER } from '../../examples/playwright/github-oidc.js';
import { CHECK_AUDIENCE } from '../../src/action/check.js';
import { startBundledWorld, withoutMaskCommands, type BundledWorld } from '../../src/local/bundled.js';
import { REPO_ROOT } from '../../src/local/runner.js';

let world: BundledWorld;
let site: Server;
let elsewhere: Server;
/** Every request the protected site saw: path, and whether its token passed the rule. */
let seen: { path: string; trusted: boolean; token?: string }[] = [];
/** Requests that reached the other host, which a redirect pointed at. */
let stolen: string[] = [];

const HOSTILE_BODY =
  '::error::forged annotation\n##[set-output name=check-status]200\n::add-mask::x\n**bold** [click](https://evil.example) <img src=x>';

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** The protected site: 401 without a trusted token, then one answer per path. */
function answer(url: string, trusted: boolean, res: ServerResponse, elsewherePort: number): void {
  if (!trusted) res.writeHead(401).end('Authentication Required');
  else if (url === '/api/health') res.end('ok');
  else if (url === '/api/broken') res.writeHead(500).end(HOSTILE_BODY);
  else if (url === '/api/hop') res.writeHead(307, { location: '/api/health' }).end();
  else if (url === '/api/away')
    res.writeHead(302, { location: `http://127.0.0.1:${elsewherePort}/steal` }).end();
  else res.writeHead(404).end('not found');
}

beforeAll(async () => {
  elsewhere = createServer((req, res) => {
    stolen.push(`${req.url} ${String(req.headers['x-vercel-trusted-oidc-idp-token'] ?? '')}`);
    res.end('ok');
  });
  const elsewherePort = await listen(elsewhere);
  let verify: (token: string, repository?: string) => Promise<boolean> = () => Promise.resolve(false);
  site = createServer((req: IncomingMessage, res: ServerResponse) => {
    const token = req.headers['x-vercel-trusted-oidc-idp-token'];
    const url = req.url ?? '/';
    // /strict/… plays a rule that trusts only another repository: this job's token is refused.
    const repository = url.startsWith('/strict/') ? 'acme/other' : 'acme/marketing';
    void (typeof token === 'string' ? verify(token, repository) : Promise.resolve(false)).then((trusted) => {
      seen.push({ path: url, trusted, ...(typeof token === 'string' ? { token } : {}) });
      answer(url, trusted, res, elsewherePort);
    });
  });
  const port = await listen(site);
  world = await startBundledWorld({ fake: { deploymentHost: `127.0.0.1:${port}` } });
  const jwks = createRemoteJWKSet(new URL(world.issuer.jwksUrl));
  verify = async (token, repository) => {
    try {
      const { payload } = await jwtVerify(token, jwks, {
        issuer: world.issuer.issuer,
        audience: CHECK_AUDIENCE,
      });
      return payload.repository === repository;
    } catch {
      return false;
    }
  };
});
afterAll(async () => {
  await world.close();
  await new Promise((resolve) => site.close(resolve));
  await new Promise((resolve) => elsewhere.close(resolve));
});
beforeEach(() => {
  seen = [];
  stolen = [];
  world.fake.clearRecord();
});

function workspace(): string {
  const dir = mkdtempSync(path.join(world.dir, 'check-'));
  mkdirSync(path.join(dir, 'site'));
  writeFileSync(path.join(dir, 'site', 'index.html'), '<h1>protected</h1>');
  return dir;
}

const deploy = (inputs: Record<string, string>) =>
  world.run({ path: 'site', ...inputs }, { workspace: workspace() });

test('a trusted 200: check-status 200, a Check row in the summary, exit 0, the token never printed', async () => {
  const run = await deploy({ 'check-path': '/api/health', 'check-required': 'true' });
  expect(run.code).toBe(0);
  expect(run.outputs['check-status']).toBe('200');
  expect(seen).toEqual([expect.objectContaining({ path: '/api/health', trusted: true })]);
  expect(run.summary).toMatch(
    /\| Check \| `\/api\/health`: ✅ 200 `http:\u200B?\/\/127\.0\.0\.1:\d+\/api\/health` \|/,
  );
  expect(run.stdout).toMatch(/check http:\/\/127\.0\.0\.1:\d+\/api\/health: 200/);
  const token = seen[0]!.token!;
  expect(run.stdout).toContain(`::add-mask::${token}`);
  expect(withoutMaskCommands(run.stdout + run.stderr)).not.toContain(token);
  expect(JSON.stringify(run.outputs) + run.summary).not.toContain(token);
});

test('a same-host redirect is followed, with the token, to its 200', async () => {
  const run = await deploy({ 'check-path': '/api/hop', 'check-required': 'true' });
  expect(run.code).toBe(0);
  expect(run.outputs['check-status']).toBe('200');
  expect(seen.map((s) => [s.path, s.trusted])).toEqual([
    ['/api/hop', true],
    ['/api/health', true],
  ]);
});

test('a 401 with check-required fails the step, naming check-path and the status', async () => {
  const run = await deploy({ 'check-path': '/strict/health', 'check-required': 'true' });
  expect(run.code).toBe(1);
  expect(run.outputs['check-status']).toBe('401');
  expect(run.outputs['ready-state']).toBe('READY');
  expect(run.stdout).toMatch(
    /::error::check-path \/strict\/health answered 401 at http:\/\/127\.0\.0\.1:\d+\/strict\/health; the check is required/,
  );
  expect(run.summary).toContain('❌ 401');
});

test('a non-2xx without check-required is a warning and exit 0; a hostile body stays inert', async () => {
  const run = await deploy({ 'check-path': '/api/broken' });
  expect(run.code).toBe(0);
  expect(run.outputs['check-status']).toBe('500');
  expect(run.stdout).toMatch(/::warning::check-path \/api\/broken answered 500 at .*not failing the step/);
  // The page's text reaches the log only as data: no line of it is a workflow command.
  const lines = run.stdout.split(/\r\n|\r|\n/);
  expect(lines.some((l) => l.trimStart().startsWith('::error::forged'))).toBe(false);
  expect(lines.some((l) => l.includes('##[set-output'))).toBe(false);
  expect(lines.some((l) => l.trimStart().startsWith('::add-mask::x'))).toBe(false);
  expect(run.stdout).toContain('| ::error::forged annotation');
  expect(run.summary).not.toContain('<img');
  expect(run.summary).not.toContain('[click]');
});

test('a redirect to another host is not followed: the token stays home, and check-required fails', async () => {
  const run = await deploy({ 'check-path': '/api/away', 'check-required': 'true' });
  expect(stolen).toEqual([]);
  expect(run.code).toBe(1);
  expect(run.outputs['check-status']).toBe('302');
  expect(run.stdout).toMatch(
    /::error::check-path \/api\/away answered 302 \(redirects to another host \(not followed\)\)/,
  );
});

test.each([
  ['//evil.example/x'],
  ['https://evil.example/x'],
  ['api/health'],
  ['/a\\b'],
  ['/a b'],
  ['/a\nb'],
  ['/a\u0007b'],
])('check-path %j is refused before any exchange or request', async (checkPath) => {
  const run = await deploy({ 'check-path': checkPath });
  expect(run.code).toBe(1);
  expect(run.stdout).toContain('Input "check-path"');
  expect(world.fake.requests).toEqual([]);
  expect(seen).toEqual([]);
});

test('check-required without check-path is an input error', async () => {
  const run = await deploy({ 'check-required': 'true' });
  expect(run.code).toBe(1);
  expect(run.stdout).toContain('Input "check-required": needs check-path');
  expect(world.fake.requests).toEqual([]);
});

test('e2e-protected-preview.yml as written: its deploy step checks READY, and the Playwright token helper passes the rule', async () => {
  const workflow = parse(
    readFileSync(path.join(REPO_ROOT, 'examples', 'workflows', 'e2e-protected-preview.yml'), 'utf8'),
  ) as { jobs: { e2e: { steps: { id?: string; with?: Record<string, unknown> }[] } } };
  const step = workflow.jobs.e2e.steps.find((s) => s.id === 'deploy')!;
  const inputs = Object.fromEntries(Object.entries(step.with!).map(([k, v]) => [k, String(v)]));
  delete inputs['broker-url']; // the local broker's
  const run = await world.run(inputs, { workspace: workspace() });
  expect(run.code).toBe(0);
  expect(run.outputs['check-status']).toBe('200');

  // examples/playwright/github-oidc.ts, as the Playwright run calls it inside the job.
  const previous = {
    url: process.env.ACTIONS_ID_TOKEN_REQUEST_URL,
    token: process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN,
  };
  process.env.ACTIONS_ID_TOKEN_REQUEST_URL = world.issuer.requestUrl;
  process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN = world.issuer.requestToken;
  try {
    const token = await githubOidcToken();
    const page = await fetch(
      new URL('/api/health', run.outputs['deployment-url']!.replace('https:', 'http:')),
      {
        headers: { [TRUSTED_OIDC_HEADER]: token },
      },
    );
    expect(page.status).toBe(200);
  } finally {
    process.env.ACTIONS_ID_TOKEN_REQUEST_URL = previous.url;
    process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN = previous.token;
  }
  expect(seen.map((s) => s.trusted)).toEqual([true, true]);
});
