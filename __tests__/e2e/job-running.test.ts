/** The job must be running, through the bundles: the broker asks a local GitHub about the job's check run. */
import { startGitHubApi, type GitHubApiFake } from '../../src/local/github-api/index.js';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';

let github: GitHubApiFake;
let world: BundledWorld;

beforeAll(async () => {
  github = await startGitHubApi();
  github.setRepository({ owner: 'acme', name: 'marketing', id: 123456789, ownerId: 987654 });
  world = await startBundledWorld({
    extraConfig: `github_app:\n  app_id: "${github.appId}"\n  private_key_env: KEYHOLE_GITHUB_APP_KEY\n  api_url: ${github.url}\n  check_cache_seconds: 1\n`,
    env: { KEYHOLE_GITHUB_APP_KEY: github.privateKey },
  });
});
afterAll(async () => {
  await world?.close();
  await github.close();
});

test('a credential of a job that completed is refused within the check interval', async () => {
  github.setCheckRun('acme/marketing', '4242', 'in_progress');
  const run = await world.run({ deploy: 'false' }, { claims: { check_run_id: '4242' } });
  expect(run.code).toBe(0);
  const credential = run.exported.VERCEL_TOKEN!;
  const call = () =>
    fetch(`${world.broker.url}/v9/projects/prj_marketing`, {
      headers: { authorization: `Bearer ${credential}` },
    });
  expect((await call()).status).toBe(200);
  github.setCheckRun('acme/marketing', '4242', 'completed');
  // check_cache_seconds is 1 here (30 at most): ask for up to 3 s.
  let response = await call();
  for (let i = 0; i < 30 && response.status === 200; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    response = await call();
  }
  expect(response.status).toBe(401);
  expect(((await response.json()) as { error: { message: string } }).error.message).toBe(
    'The job that obtained this credential has ended.',
  );
});

test('a job that already ended gets no credential; a broker without the app key does not start', async () => {
  github.setCheckRun('acme/marketing', '4243', 'completed');
  const run = await world.run({ deploy: 'false' }, { claims: { check_run_id: '4243' } });
  expect(run.code).not.toBe(0);
  expect(run.stdout).toMatch(/403 job_not_running/);
  const { startBrokerProcess } = await import('../../src/local/runner.js');
  await expect(startBrokerProcess({ configPath: world.configPath, env: {} })).rejects.toThrow(
    /github_app.private_key_env: KEYHOLE_GITHUB_APP_KEY must hold the GitHub App's private key/,
  );
});
