/** GitHub Deployments through the bundled action, against a local GitHub API that records every call. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startGitHubApi, type GitHubApi } from '../../src/local/github-api/index.js';
import type { BundledWorld } from '../../src/local/bundled.js';
import { startPreviewWorld } from '../../src/local/previews.js';

const GITHUB_TOKEN = 'ghs_local_job_token';
let world: BundledWorld;
let github: GitHubApi;

beforeAll(async () => {
  world = await startPreviewWorld();
  github = await startGitHubApi({ token: GITHUB_TOKEN });
});
afterAll(async () => {
  await github.close();
  await world.close();
});
beforeEach(() => {
  github.deny.clear();
  github.calls.length = 0;
});

function pullRequestJob(number: number, files: Record<string, string> = { 'index.html': `pr ${number}` }) {
  const workspace = mkdtempSync(path.join(world.dir, 'ghd-'));
  mkdirSync(path.join(workspace, 'site'));
  for (const [name, content] of Object.entries(files))
    writeFileSync(path.join(workspace, 'site', name), content);
  const event = path.join(workspace, 'event.json');
  const headSha = `${String(number).padStart(4, '0')}${'c'.repeat(36)}`;
  writeFileSync(
    event,
    JSON.stringify({ pull_request: { number, head: { ref: `feature-${number}`, sha: headSha } } }),
  );
  return {
    headSha,
    job: {
      workspace,
      env: {
        GITHUB_EVENT_PATH: event,
        GITHUB_EVENT_NAME: 'pull_request',
        GITHUB_HEAD_REF: `feature-${number}`,
        GITHUB_API_URL: github.url,
      },
      claims: { ref: `refs/pull/${number}/merge`, event_name: 'pull_request' },
    },
  };
}

const inputs = {
  project: 'docs',
  path: 'site',
  alias: 'pr-{pr}.preview.acme.dev',
  'github-deployment': 'true',
  'github-token': GITHUB_TOKEN,
};
const states = (id: number) => github.deployments.find((d) => d.id === id)!.statuses.map((s) => s.state);

test('a preview records a deployment: in_progress, then success with the alias and the inspector', async () => {
  const { job, headSha } = pullRequestJob(21);
  const run = await world.run(inputs, job);
  expect(run.code).toBe(0);
  const deployment = github.deployments.at(-1)!;
  expect(deployment).toMatchObject({
    ref: headSha,
    environment: 'Preview – docs',
    transient_environment: true,
    production_environment: false,
    auto_merge: false,
    required_contexts: [],
    payload: { keyhole: { project: 'docs', pr: 21 } },
  });
  expect(deployment.statuses).toEqual([
    expect.objectContaining({ state: 'in_progress', log_url: run.outputs['inspector-url'] }),
    expect.objectContaining({
      state: 'success',
      environment_url: 'https://pr-21.preview.acme.dev',
      log_url: run.outputs['inspector-url'],
      auto_inactive: false,
    }),
  ]);
});

test('the next push retires the same pull request’s earlier deployment, and no other pull request’s', async () => {
  const first = await world.run(inputs, pullRequestJob(22).job);
  const other = await world.run(inputs, pullRequestJob(23).job);
  expect([first.code, other.code]).toEqual([0, 0]);
  const [firstId, otherId] = github.deployments.slice(-2).map((d) => d.id) as [number, number];
  const second = await world.run(inputs, pullRequestJob(22).job);
  expect(second.code).toBe(0);
  const secondId = github.deployments.at(-1)!.id;
  expect(states(firstId)).toEqual(['in_progress', 'success', 'inactive']);
  expect(states(otherId)).toEqual(['in_progress', 'success']);
  expect(states(secondId)).toEqual(['in_progress', 'success']);
});

test('a failed build ends the GitHub Deployment as failure', async () => {
  const { job } = pullRequestJob(24, { 'index.html': 'x', FAIL_BUILD: '' });
  const run = await world.run(inputs, job);
  expect(run.code).not.toBe(0);
  expect(states(github.deployments.at(-1)!.id)).toEqual(['in_progress', 'failure']);
});

test('without deployments: write it warns with the YAML to add, and the deploy stays green', async () => {
  github.deny.add('deployments');
  const before = github.deployments.length;
  const { job } = pullRequestJob(25);
  const run = await world.run(inputs, job);
  expect(run.code).toBe(0);
  expect(run.outputs['alias-url']).toBe('https://pr-25.preview.acme.dev');
  expect(run.stdout).toMatch(/::warning::The GitHub Deployment needs the "deployments: write" permission/);
  expect(run.stdout).toContain('%0Apermissions:%0A  deployments: write%0A  id-token: write');
  expect(github.deployments.length).toBe(before);
  expect(github.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/deployments'))).toHaveLength(1);
});

test('a production deploy is recorded in the job’s own environment, read from its OIDC token', async () => {
  const workspace = mkdtempSync(path.join(world.dir, 'prod-'));
  writeFileSync(path.join(workspace, 'index.html'), 'production');
  const run = await world.run(
    { target: 'production', 'github-deployment': 'true', 'github-token': GITHUB_TOKEN },
    {
      workspace,
      env: { GITHUB_EVENT_NAME: 'push', GITHUB_API_URL: github.url },
      claims: { environment: 'production' },
    },
  );
  expect(run.code).toBe(0);
  expect(github.deployments.at(-1)).toMatchObject({
    environment: 'production',
    production_environment: true,
    transient_environment: false,
    payload: { keyhole: { project: 'marketing-site' } },
  });
  expect(states(github.deployments.at(-1)!.id)).toEqual(['in_progress', 'success']);
});
