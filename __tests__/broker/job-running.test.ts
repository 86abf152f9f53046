/** With a github_app, credentials go only to running jobs and stop within check_cache_seconds of the job's end. */
import { createGitHubApp } from '../../src/broker/github/app.js';
import { startGitHubApi, type GitHubApiFake } from '../../src/local/github-api/index.js';
import type { Overrides, ProjectInput } from '../../src/local/config.js';
import { startWorld, type World } from '../../src/local/world.js';

let github: GitHubApiFake;
const worlds: World[] = [];
beforeAll(async () => {
  github = await startGitHubApi();
  github.setRepository({ owner: 'acme', name: 'marketing', id: 123456789, ownerId: 987654 });
});
afterAll(async () => {
  for (const world of worlds) await world.close();
  await github.close();
});
beforeEach(() => github.setAvailable(true));

let nextCheckRun = 9000;
/** A job of acme/marketing whose check run is in progress on the local GitHub. */
function runningJob(): { check_run_id: string } {
  const id = String(nextCheckRun++);
  github.setCheckRun('acme/marketing', id, 'in_progress');
  return { check_run_id: id };
}

async function world(
  options: { project?: Overrides<ProjectInput>; clock?: { now: number }; appId?: string } = {},
) {
  const started = await startWorld({
    extraConfig: `github_app:\n  app_id: "${github.appId}"\n  private_key_env: KEYHOLE_GITHUB_APP_KEY\n  api_url: ${github.url}\n`,
    ...(options.project ? { config: { projects: { 'marketing-site': options.project } } } : {}),
    ...(options.clock ? { now: () => options.clock!.now } : {}),
    githubApp: createGitHubApp({
      appId: options.appId ?? github.appId,
      privateKey: github.privateKey,
      apiUrl: github.url,
      fetch,
    }),
  });
  worlds.push(started);
  return started;
}

const errorOf = async (response: Response) =>
  ((await response.json()) as { error: { code: string; message: string } }).error;
const projectCall = (w: World, credential: string) => w.call(credential, 'GET', '/v9/projects/prj_marketing');

test('a running job gets a credential; a job whose check run completed gets 403 job_not_running', async () => {
  const w = await world();
  const before = github.requests.length;
  expect((await w.exchange(runningJob())).status).toBe(200);
  // The app authenticated as GitHub requires: its JWT for the installation, then an installation token.
  expect(github.requests.slice(before).map((r) => `${r.method} ${r.path}`)).toEqual([
    'GET /repos/acme/marketing/installation',
    expect.stringMatching(/^POST \/app\/installations\/\d+\/access_tokens$/),
    expect.stringMatching(/^GET \/repos\/acme\/marketing\/check-runs\/\d+$/),
  ]);
  const ended = runningJob();
  github.setCheckRun('acme/marketing', ended.check_run_id, 'completed');
  const refused = await w.exchange(ended);
  expect(refused.status).toBe(403);
  expect(await errorOf(refused)).toMatchObject({ code: 'job_not_running' });
  // The installation token is reused: no second access token for the second exchange.
  expect(github.requests.filter((r) => r.path.endsWith('/access_tokens'))).toHaveLength(1);
});

test('a credential of a job that ended answers 401 once the cached answer is 30 s old', async () => {
  const clock = { now: Date.now() };
  const w = await world({ clock });
  const job = runningJob();
  const credential = await w.credential(job);
  expect((await projectCall(w, credential)).status).toBe(200);
  github.setCheckRun('acme/marketing', job.check_run_id, 'completed');
  clock.now += 30_000;
  const after = await projectCall(w, credential);
  expect(after.status).toBe(401);
  expect(await errorOf(after)).toEqual(
    expect.objectContaining({
      code: 'invalid_credential',
      message: 'The job that obtained this credential has ended.',
    }),
  );
  expect(w.audit().at(-1)).toMatchObject({
    event: 'gateway',
    decision: 'deny',
    reason: 'job ended',
    run_url: `https://github.com/acme/marketing/actions/runs/7000000001/job/${job.check_run_id}`,
  });
});

test('GitHub unreachable at the exchange: fail closed by default, or the grace the project chose', async () => {
  const closed = await world();
  const job = runningJob();
  github.setAvailable(false);
  const refused = await closed.exchange(job);
  expect(refused.status).toBe(503);
  expect((await errorOf(refused)).message).toMatch(/cannot confirm with GitHub that this job is running/);
  const lenient = await world({ project: { github_unreachable: { exchange: 'grace' } } });
  expect((await lenient.exchange(runningJob())).status).toBe(200);
  expect(lenient.logs.some((l) => l.includes('allowed by github_unreachable.exchange: grace'))).toBe(true);
});

test('GitHub unreachable on calls: grace for grace_seconds after the last confirmation, then 503; or fail closed', async () => {
  const clock = { now: Date.now() };
  const w = await world({ clock, project: { github_unreachable: { grace_seconds: 120 } } });
  const credential = await w.credential(runningJob());
  github.setAvailable(false);
  clock.now += 60_000;
  expect((await projectCall(w, credential)).status).toBe(200);
  clock.now += 61_000;
  const beyond = await projectCall(w, credential);
  expect(beyond.status).toBe(503);
  expect((await errorOf(beyond)).message).toMatch(/cannot confirm with GitHub that the job is still running/);

  const strict = await world({ clock, project: { github_unreachable: { calls: 'fail_closed' } } });
  github.setAvailable(true);
  const strictCredential = await strict.credential(runningJob());
  github.setAvailable(false);
  clock.now += 31_000;
  expect((await projectCall(strict, strictCredential)).status).toBe(503);
});

test('a GitHub App that GitHub refuses fails closed, whatever grace the project allows', async () => {
  const w = await world({ project: { github_unreachable: { exchange: 'grace' } }, appId: '1' });
  const response = await w.exchange(runningJob());
  expect(response.status).toBe(503);
  expect(
    w.logs.some(
      (l) => l.includes('refused (fail_closed)') && l.includes("GitHub refused the App's JWT (401)"),
    ),
  ).toBe(true);
});

test('a require_dpop project refuses an exchange without a proof before asking GitHub anything', async () => {
  const w = await world({
    project: { require_dpop: true },
  });
  const before = github.requests.length;
  const refused = await w.exchange(runningJob());
  expect(refused.status).toBe(400);
  expect((await errorOf(refused)).message).toMatch(/requires DPoP-bound credentials/);
  expect(github.requests.slice(before)).toEqual([]);
});

test('a refused job check gives the slot back and forgets the retry record: the job still gets one credential only', async () => {
  const w = await world();
  const job = runningJob();
  const key = { 'idempotency-key': 'g'.repeat(32) };
  github.setAvailable(false);
  expect((await w.exchange(job, 'marketing-site', 'preview', key)).status).toBe(503);
  github.setAvailable(true);
  // The retry the 503 asked for takes the slot the refusal gave back and mints its own credential.
  const retry = await w.exchange(job, 'marketing-site', 'preview', key);
  expect(retry.status).toBe(200);
  expect(w.audit().at(-1)!.reason).not.toMatch(/retry of the same exchange/);
  // A record left behind would have answered that retry without a slot, leaving this one a second.
  expect((await errorOf(await w.exchange(job))).code).toBe('job_limit');
});
