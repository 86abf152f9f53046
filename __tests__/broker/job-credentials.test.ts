/** Credentials that die with their job: one per job (retries included), revocation shared by every instance. */
import { createHash } from 'node:crypto';
import { MemoryReplayStore } from '../../src/broker/store/memory.js';
import type { ReplayStore } from '../../src/broker/store/store.js';
import type { JobClaims } from '../../src/local/github-oidc.js';
import type { ConfigOverrides, Overrides, ProjectInput } from '../../src/local/config.js';
import { startWorld, type World } from '../../src/local/world.js';

const JOB = { check_run_id: '555000111' };
const JOB_B = { check_run_id: '555000222' };
const worlds: World[] = [];
afterAll(async () => {
  for (const world of worlds) await world.close();
});

/** A broker instance on `store` with its own clock; several may share one store. */
async function instance(
  options: { store?: ReplayStore; project?: Overrides<ProjectInput>; clock?: { now: number } } = {},
) {
  const world = await startWorld({
    ...(options.store ? { replay: options.store } : {}),
    ...(options.project ? { config: { projects: { 'marketing-site': options.project } } } : {}),
    ...(options.clock ? { now: () => options.clock!.now } : {}),
  });
  worlds.push(world);
  const exchange = (claims: JobClaims = {}, headers: Record<string, string> = {}) =>
    world.exchange(claims, 'marketing-site', 'preview', headers);
  const call = (credential: string) => world.call(credential, 'GET', '/v9/projects/prj_marketing');
  const revoke = (credential: string) =>
    fetch(`${world.url}/v1/revoke`, { method: 'POST', headers: { authorization: `Bearer ${credential}` } });
  return { world, exchange, call, revoke, audit: world.audit };
}

const json = async <T = Record<string, unknown>>(response: Response) => (await response.json()) as T;
const codeOf = async (response: Response) => (await json<{ error: { code: string } }>(response)).error.code;

test('a second exchange from one job is refused 403 job_limit, and the refusal names the job', async () => {
  const { exchange, audit } = await instance();
  expect((await exchange(JOB)).status).toBe(200);
  const second = await exchange(JOB);
  expect(second.status).toBe(403);
  const { error } = await json<{ error: { code: string; message: string } }>(second);
  expect(error.code).toBe('job_limit');
  expect(error.message).toMatch(/max_credentials_per_job/);
  const refusal = audit().find((a) => a.decision === 'deny');
  expect(refusal).toMatchObject({
    event: 'exchange',
    run_url: 'https://github.com/acme/marketing/actions/runs/7000000001/job/555000111',
  });
  expect(String(refusal!.reason)).toMatch(/^job_limit/);
  // Another job of the same run (its own check run) is another job.
  expect((await exchange({ check_run_id: '555000112' })).status).toBe(200);
  // A re-run attempt is a new job.
  expect((await exchange({ ...JOB, run_attempt: '2' })).status).toBe(200);
});

test('max_credentials_per_job raises the bound per project', async () => {
  const { exchange } = await instance({ project: { max_credentials_per_job: 2 } });
  expect((await exchange(JOB)).status).toBe(200);
  expect((await exchange(JOB)).status).toBe(200);
  expect(await codeOf(await exchange(JOB))).toBe('job_limit');
});

test('a retry with the same idempotency key gets the same credential back and spends no slot', async () => {
  const { exchange, audit } = await instance();
  const key = { 'idempotency-key': 'k'.repeat(32) };
  const first = await json<{ credential: string; expires_at: number }>(await exchange(JOB, key));
  // The answer was lost: the action asks GitHub for a fresh token and sends the same key.
  const retry = await json<{ credential: string; expires_at: number }>(await exchange(JOB, key));
  expect(retry.credential).toBe(first.credential);
  expect(retry.expires_at).toBe(first.expires_at);
  expect(audit().at(-1)!.reason).toMatch(/retry of the same exchange/);
  // Without the key (another process in the job), the job's one slot is spent.
  expect(await codeOf(await exchange(JOB))).toBe('job_limit');
  expect(await codeOf(await exchange(JOB, { 'idempotency-key': 'z'.repeat(32) }))).toBe('job_limit');
  expect(await codeOf(await exchange(JOB, { 'idempotency-key': 'short' }))).toBe('bad_request');
});

test('GHES without check_run_id: the job falls back to run, attempt and workflow file', async () => {
  const { exchange } = await instance();
  const ghes = { check_run_id: undefined, run_id: '8000000001' };
  expect((await exchange(ghes)).status).toBe(200);
  expect(await codeOf(await exchange(ghes))).toBe('job_limit');
  const otherWorkflow = 'acme/marketing/.github/workflows/other.yml@refs/heads/main';
  expect((await exchange({ ...ghes, job_workflow_ref: otherWorkflow })).status).toBe(200);
});

test('POST /v1/revoke ends a credential: 200 {"revoked": true}, then 401 with an audit line naming the job', async () => {
  const { world, exchange, call, revoke, audit } = await instance();
  const { credential } = await json<{ credential: string }>(await exchange(JOB));
  expect((await call(credential)).status).toBe(200);
  const revoked = await revoke(credential);
  expect(revoked.status).toBe(200);
  expect(await revoked.json()).toEqual({ revoked: true });
  expect(audit().at(-1)).toMatchObject({ event: 'revoke', decision: 'allow' });
  const after = await call(credential);
  expect(after.status).toBe(401);
  const { error } = await json<{ error: { code: string; message: string } }>(after);
  expect(error).toMatchObject({ code: 'invalid_credential', message: expect.stringMatching(/revoked/) });
  expect(audit().at(-1)).toMatchObject({
    event: 'gateway',
    decision: 'deny',
    reason: 'credential revoked',
    run_url: 'https://github.com/acme/marketing/actions/runs/7000000001/job/555000111',
  });
  // Revoking again still answers 200 (the post step may follow the main step's own revocation).
  expect((await revoke(credential)).status).toBe(200);
  const anonymous = await fetch(`${world.url}/v1/revoke`, { method: 'POST' });
  expect(await codeOf(anonymous)).toBe('invalid_credential');
  expect((await revoke(`${credential.slice(0, -4)}0000`)).status).toBe(401);
});

test('an instance that just saw the credential valid refuses it at most one second after a revocation elsewhere', async () => {
  const store = new MemoryReplayStore();
  const clock = { now: Date.now() };
  const a = await instance({ store, clock });
  const b = await instance({ store, clock });
  const { credential } = await json<{ credential: string }>(await a.exchange(JOB));
  expect((await b.call(credential)).status).toBe(200);
  expect((await a.revoke(credential)).status).toBe(200);
  expect((await a.call(credential)).status).toBe(401);
  clock.now += 1_000;
  expect((await b.call(credential)).status).toBe(401);
});

test('revocations are refused closed when the store cannot answer', async () => {
  const store = new MemoryReplayStore();
  const { exchange, call } = await instance({ store });
  const { credential } = await json<{ credential: string }>(await exchange(JOB));
  store.get = () => Promise.reject(new Error('store down'));
  const response = await call(credential);
  expect(response.status).toBe(503);
  expect(await codeOf(response)).toBe('unavailable');
});

test('upload and deployment quotas count per job, across credentials and instances', async () => {
  const store = new MemoryReplayStore();
  const config: ConfigOverrides = {
    projects: { 'marketing-site': { max_credentials_per_job: 2 } },
    limits: { max_upload_bytes: 10, max_deployments: 1 },
  };
  const [a, b] = [await startWorld({ replay: store, config }), await startWorld({ replay: store, config })];
  worlds.push(a, b);
  const job = { check_run_id: '555000999' };
  const first = await a.credential(job);
  const second = await b.credential(job);
  const upload = (w: World, credential: string, content: string) =>
    w.call(credential, 'POST', '/v2/files', {
      body: content,
      headers: { 'x-now-digest': createHash('sha1').update(content).digest('hex') },
    });
  expect((await upload(a, first, 'sixsix')).status).toBe(200);
  const over = await upload(b, second, 'fives');
  expect(over.status).toBe(429);
  expect(((await over.json()) as { error: { message: string } }).error.message).toMatch(
    /this job may upload at most 10 bytes/,
  );
  expect((await upload(b, second, 'four')).status).toBe(200);
  // Each instance here has its own Vercel fake: each creates from the file it received.
  const create = (w: World, credential: string, content: string) =>
    w.call(credential, 'POST', '/v13/deployments', {
      body: JSON.stringify({
        name: 'x',
        files: [
          { file: 'index.html', sha: createHash('sha1').update(content).digest('hex'), size: content.length },
        ],
      }),
    });
  expect((await create(a, first, 'sixsix')).status).toBe(200);
  const second429 = await create(b, second, 'four');
  expect(second429.status).toBe(429);
  expect(((await second429.json()) as { error: { code: string } }).error.code).toBe('quota_exceeded');
});

test('an exchange the store could not record answers 503 and gives the job its slot back', async () => {
  // The step composed from primitives (a Redis Cluster, the Durable Object store): the record's
  // write fails after the slot was taken.
  const store = new MemoryReplayStore();
  const composedStore = Object.assign(store, { exchange: undefined });
  const { exchange } = await instance({ store: composedStore });
  const put = store.put.bind(store);
  store.put = () => Promise.reject(new Error('store down'));
  const key = { 'idempotency-key': 'r'.repeat(32) };
  const failed = await exchange(JOB_B, key);
  expect(failed.status).toBe(503);
  store.put = put;
  const retry = await exchange(JOB_B, key);
  expect(retry.status).toBe(200);
});

test('an exchange whose one store step fails answers 503 and takes nothing: the retry gets the slot', async () => {
  const store = new MemoryReplayStore();
  const { exchange } = await instance({ store });
  const step = store.exchange.bind(store);
  store.exchange = () => Promise.reject(new Error('store down'));
  const key = { 'idempotency-key': 's'.repeat(32) };
  const failed = await exchange(JOB_B, key);
  expect(failed.status).toBe(503);
  expect(await codeOf(failed)).toBe('unavailable');
  store.exchange = step;
  expect((await exchange(JOB_B, key)).status).toBe(200);
});

test('a retried exchange whose credential was revoked since is refused, not handed a dead credential', async () => {
  const { exchange, revoke, audit } = await instance();
  const job = { check_run_id: '555000333' };
  const key = { 'idempotency-key': 'r'.repeat(32) };
  const { credential } = await json<{ credential: string }>(await exchange(job, key));
  expect((await revoke(credential)).status).toBe(200);
  const retry = await exchange(job, key);
  expect(retry.status).toBe(403);
  const { error } = await json<{ error: { code: string; message: string } }>(retry);
  expect(error).toMatchObject({ code: 'forbidden', message: expect.stringMatching(/was revoked/) });
  expect(audit().at(-1)).toMatchObject({
    event: 'exchange',
    decision: 'deny',
    reason: expect.stringMatching(/^retry of revoked credential /),
  });
});

test('a retried exchange is refused closed (503) when the store cannot say whether it was revoked', async () => {
  const store = new MemoryReplayStore();
  const { exchange } = await instance({ store });
  const job = { check_run_id: '555000444' };
  const key = { 'idempotency-key': 'q'.repeat(32) };
  expect((await exchange(job, key)).status).toBe(200);
  const get = store.get.bind(store);
  store.get = async (k: string) => {
    if (k.startsWith('revoked:')) throw new Error('store down');
    return get(k);
  };
  const retry = await exchange(job, key);
  expect(retry.status).toBe(503);
  expect(await codeOf(retry)).toBe('unavailable');
});
