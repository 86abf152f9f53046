/**
 * Credentials that die with their job, through the bundles: the action's post step revokes, another
 * broker instance on the same Redis refuses the credential, and one job gets one credential.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { runActionBundle, startBrokerProcess, type RunningBroker } from '../../src/local/runner.js';
import {
  auditLine,
  deploymentFollowed,
  startBundledWorld,
  type BundledWorld,
} from '../../src/local/bundled.js';
import { AUDIENCE } from '../../src/local/config.js';
import { startRedis, type TestRedis } from '../../src/local/redis.js';
import { SIGNING_KEY, UPSTREAM_TOKEN } from '../../src/local/world.js';

let world: BundledWorld;
let redis: TestRedis;
let a: RunningBroker;
let b: RunningBroker;
let workspace: string;

const brokerEnv = {
  VERCEL_TOKEN_MARKETING: UPSTREAM_TOKEN,
  VERCEL_TOKEN_BILLING: UPSTREAM_TOKEN,
  KEYHOLE_SIGNING_KEY: SIGNING_KEY,
};

beforeAll(async () => {
  world = await startBundledWorld();
  redis = await startRedis();
  const config = path.join(world.dir, 'redis.yaml');
  writeFileSync(config, `${readFileSync(world.configPath, 'utf8')}replay_store: ${redis.url()}\n`);
  [a, b] = await Promise.all([
    startBrokerProcess({ configPath: config, env: brokerEnv }),
    startBrokerProcess({ configPath: config, env: brokerEnv }),
  ]);
  workspace = mkdtempSync(path.join(world.dir, 'ws-'));
  mkdirSync(path.join(workspace, 'site'));
  writeFileSync(path.join(workspace, 'site', 'index.html'), '<h1>job-bound</h1>');
});
afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await redis?.close();
  await world.close();
});

/** One job of acme/marketing running the action against `brokerUrl`. */
function runJob(brokerUrl: string, inputs: Record<string, string>, claims: Record<string, string> = {}) {
  world.issuer.setJob(claims);
  return runActionBundle({
    workspace,
    oidc: world.issuer,
    inputs: { 'broker-url': brokerUrl, audience: AUDIENCE, project: 'marketing-site', ...inputs },
  });
}

const projectCall = (broker: RunningBroker, credential: string) =>
  fetch(`${broker.url}/v9/projects/prj_marketing`, { headers: { authorization: `Bearer ${credential}` } });

/** A revocation is honoured everywhere within a second: ask until then, never longer than 3 s. */
async function statusWithin(broker: RunningBroker, credential: string, expected: number) {
  let status = 0;
  for (let i = 0; i < 30 && status !== expected; i++) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, 100));
    status = (await projectCall(broker, credential)).status;
  }
  return status;
}

test("the action's post step revokes the credential, and a later call at another instance answers 401", async () => {
  const run = await runJob(a.url, { deploy: 'false' });
  expect(run.code).toBe(0);
  const credential = run.exported.VERCEL_TOKEN!;
  expect((await projectCall(b, credential)).status).toBe(200);
  const post = await run.post();
  expect(post.code).toBe(0);
  expect(post.stdout).toMatch(/Keyhole: credential revoked/);
  expect(await statusWithin(b, credential, 401)).toBe(401);
  const refusal = await auditLine(
    b,
    (line) => line.decision === 'deny' && line.reason === 'credential revoked',
  );
  expect(refusal).toMatchObject({
    event: 'gateway',
    run_url: expect.stringMatching(
      /^https:\/\/github\.com\/acme\/marketing\/actions\/runs\/7000000001\/job\/\d+$/,
    ),
  });
});

test('a deploy revokes its credential as soon as it is done; the post step then has nothing left', async () => {
  const run = await runJob(a.url, { path: 'site' });
  expect(run.code).toBe(0);
  const credential = /::add-mask::(khd_\S+)/.exec(run.stdout)![1]!;
  const revoked = await auditLine(a, (l) => l.event === 'revoke');
  const exchanged = a.auditLines().findLast((l) => l.event === 'exchange' && l.decision === 'allow');
  expect(revoked?.credential_id).toBe(exchanged?.credential_id);
  expect(await statusWithin(b, credential, 401)).toBe(401);
  const post = await run.post();
  expect(post.code).toBe(0);
  expect(post.stdout).toMatch(/no credential left to revoke/);
});

test('a failed deploy still ends its credential; a post step that cannot reach the broker only warns', async () => {
  const run = await runJob(a.url, { path: 'missing-dir' });
  expect(run.code).not.toBe(0);
  const credential = /::add-mask::(khd_\S+)/.exec(run.stdout)![1]!;
  expect(await statusWithin(b, credential, 401)).toBe(401);

  const exported = await runJob(a.url, { deploy: 'false' });
  const unreachable = await runActionBundle({
    workspace,
    inputs: {},
    env: Object.fromEntries(
      Object.entries(exported.state).map(([k, v]) => [
        `STATE_${k}`,
        k === 'broker-url' ? 'http://127.0.0.1:9' : v,
      ]),
    ),
  });
  expect(unreachable.code).toBe(0);
  expect(unreachable.stdout).toMatch(/::warning::Keyhole could not revoke the credential/);
  expect(unreachable.stdout).not.toContain(exported.exported.VERCEL_TOKEN!);
});

test('a second exchange from one job is refused 403 job_limit, and the log says what to do', async () => {
  const job = { check_run_id: '777000001' };
  expect((await runJob(a.url, { deploy: 'false' }, job)).code).toBe(0);
  const second = await runJob(b.url, { deploy: 'false' }, job);
  expect(second.code).not.toBe(0);
  expect(second.stdout).toMatch(/403 job_limit/);
  expect(second.stdout).toMatch(/Deploy once per job/);
  expect(await auditLine(b, (l) => l.decision === 'deny')).toMatchObject({
    event: 'exchange',
    run_url: 'https://github.com/acme/marketing/actions/runs/7000000001/job/777000001',
  });
});

test("the action's retry after a lost answer gets the same credential, not a job_limit refusal", async () => {
  // A proxy that lets the first exchange reach the broker, then drops its answer.
  let dropped = false;
  const proxy: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const headers = Object.fromEntries(
      Object.entries(req.headers).filter(([k]) => !['host', 'connection', 'content-length'].includes(k)),
    ) as Record<string, string>;
    const upstream = await fetch(`${a.url}${req.url}`, {
      method: req.method!,
      headers,
      ...(chunks.length ? { body: Buffer.concat(chunks) } : {}),
    });
    const body = Buffer.from(await upstream.arrayBuffer());
    if (req.url === '/v1/exchange' && !dropped) {
      dropped = true;
      req.socket.destroy();
      return;
    }
    res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'text/plain' });
    res.end(body);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const run = await runJob(url, { deploy: 'false' }, { check_run_id: '777000002' });
    expect(dropped).toBe(true);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/exchange: broker unreachable/);
    const exchanges = a
      .auditLines()
      .filter((l) => l.event === 'exchange' && String(l.run_url).endsWith('/777000002'));
    expect(exchanges.map((l) => l.reason)).toEqual([
      expect.stringMatching(/^allow\[\d\]$/),
      expect.stringMatching(/retry of the same exchange$/),
    ]);
    expect(exchanges[1]!.credential_id).toBe(exchanges[0]!.credential_id);
    expect((await projectCall(b, run.exported.VERCEL_TOKEN!)).status).toBe(200);
  } finally {
    proxy.closeAllConnections();
    await new Promise((resolve) => proxy.close(resolve));
  }
});

test('a cancelled job leaves the revocation to the post step, which still makes it', async () => {
  const slow = await startBundledWorld({ fake: { buildMs: 20_000 } });
  try {
    const dir = mkdtempSync(path.join(slow.dir, 'ws-'));
    mkdirSync(path.join(dir, 'site'));
    writeFileSync(path.join(dir, 'site', 'index.html'), 'x');
    // Cancelled once the deploy is under way, not after a delay a loaded machine may not meet.
    const run = await slow.run({ path: 'site' }, { workspace: dir, cancelWhen: deploymentFollowed(slow) });
    expect(run.code).not.toBe(0);
    const credential = /::add-mask::(khd_\S+)/.exec(run.stdout)![1]!;
    expect(slow.broker.auditLines().some((l) => l.event === 'revoke')).toBe(false);
    const post = await run.post();
    expect(post.stdout).toMatch(/Keyhole: credential revoked/);
    const after = await fetch(`${slow.broker.url}/v9/projects/prj_marketing`, {
      headers: { authorization: `Bearer ${credential}` },
    });
    expect(after.status).toBe(401);
  } finally {
    await slow.close();
  }
});

test('action.yml runs the same bundle as its post step, always', async () => {
  const { parse } = await import('yaml');
  const { REPO_ROOT } = await import('../../src/local/runner.js');
  const action = parse(readFileSync(path.join(REPO_ROOT, 'action.yml'), 'utf8')) as {
    runs: Record<string, string>;
  };
  expect(action.runs).toMatchObject({
    using: 'node24',
    main: 'dist/action/index.js',
    post: 'dist/action/index.js',
    'post-if': 'always()',
  });
});
