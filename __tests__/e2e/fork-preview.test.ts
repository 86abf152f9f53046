/**
 * Fork pull requests, both halves through the bundles: an untrusted build with no token at all, then
 * a `workflow_run` deploy of its output as a preview, and what such a token can never do.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../src/local/runner.js';
import { startGitHubApi, type GitHubApi } from '../../src/local/github-api/index.js';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';

const DEPLOY_WORKFLOW = 'acme/marketing/.github/workflows/fork-preview-deploy.yml@refs/heads/main';
const FORKS_PROJECT = `  marketing-forks:
    team_id: team_abc123
    project_id: prj_forks
    token_env: VERCEL_TOKEN_MARKETING
    preview_aliases: ["*.forks.acme.dev"]
    allow:
      - repository: acme/marketing
        repository_id: "123456789"
        repository_owner_id: "987654"
        targets: [preview]
        refs: [refs/heads/main]
        events: [workflow_run]
        workflows: ["${DEPLOY_WORKFLOW}"]
`;
const GITHUB_TOKEN = 'ghs_local_job_token';
const BASE_SHA = 'a3f1c0d2e4b5a6978899aabbccddeeff00112233';
const FORK_SHA = 'f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0';

/** The job claims GitHub gives a `workflow_run` job: the base repository's default branch and workflow. */
const workflowRunClaims = {
  event_name: 'workflow_run',
  ref: 'refs/heads/main',
  job_workflow_ref: DEPLOY_WORKFLOW,
  workflow_ref: DEPLOY_WORKFLOW,
};

/** The fork's build: it looks for anything secret in its environment and publishes what it found. */
const FORK_BUILD = `
import { mkdirSync, writeFileSync } from 'node:fs';
const found = Object.keys(process.env).filter((k) => /TOKEN|SECRET|ACTIONS_ID|VERCEL|KEYHOLE/.test(k));
mkdirSync('.vercel/output/static', { recursive: true });
writeFileSync('.vercel/output/config.json', JSON.stringify({ version: 3 }));
writeFileSync('.vercel/output/builds.json', JSON.stringify({ target: 'preview', builds: [] }));
writeFileSync('.vercel/output/static/index.html', '<h1>fork</h1><!-- found: ' + JSON.stringify(found) + ' -->');
`;

let world: BundledWorld;
let github: GitHubApi;

beforeAll(async () => {
  world = await startBundledWorld({
    extraConfig: FORKS_PROJECT,
    fake: { projects: [{ id: 'prj_forks', name: 'marketing-forks', teamId: 'team_abc123' }] },
  });
  github = await startGitHubApi({ token: GITHUB_TOKEN });
  github.pulls.push({
    number: 42,
    state: 'open',
    head: { ref: 'patch-1', sha: FORK_SHA, repo: { full_name: 'forker/marketing' } },
  });
});
afterAll(async () => {
  await github.close();
  await world.close();
});
beforeEach(() => world.fake.clearRecord());

/** The build half: the fork's code runs with what a fork's pull_request job has, then its output is the artifact. */
function buildHalf(): string {
  const checkout = mkdtempSync(path.join(world.dir, 'fork-checkout-'));
  writeFileSync(path.join(checkout, 'build.mjs'), FORK_BUILD);
  const built = spawnSync(process.execPath, ['build.mjs'], {
    cwd: checkout,
    // A fork's pull_request job: no secrets, no id-token, a read-only token GitHub does not pass to steps unasked.
    env: {
      PATH: process.env.PATH,
      CI: 'true',
      GITHUB_EVENT_NAME: 'pull_request',
      GITHUB_REPOSITORY: 'acme/marketing',
    },
  });
  expect(built.status).toBe(0);
  const artifact = mkdtempSync(path.join(world.dir, 'artifact-'));
  cpSync(path.join(checkout, '.vercel'), path.join(artifact, '.vercel'), { recursive: true });
  return artifact;
}

/** The deploy half's job: the workflow_run event payload, and the artifact downloaded into the workspace. */
function deployJob(artifact: string) {
  const workspace = mkdtempSync(path.join(world.dir, 'base-'));
  cpSync(artifact, path.join(workspace, 'preview'), { recursive: true });
  const event = path.join(workspace, 'event.json');
  writeFileSync(
    event,
    JSON.stringify({
      action: 'completed',
      workflow_run: {
        id: 9100,
        event: 'pull_request',
        conclusion: 'success',
        head_sha: FORK_SHA,
        head_branch: 'patch-1',
        head_repository: { full_name: 'forker/marketing' },
        // GitHub leaves this empty when the pull request comes from a fork.
        pull_requests: [],
      },
    }),
  );
  return {
    workspace,
    env: {
      GITHUB_EVENT_NAME: 'workflow_run',
      GITHUB_EVENT_PATH: event,
      GITHUB_API_URL: github.url,
      GITHUB_REPOSITORY: 'acme/marketing',
      GITHUB_SHA: BASE_SHA,
      GITHUB_REF_NAME: 'main',
    },
    claims: workflowRunClaims,
  };
}

test('the build half has no token: the action cannot even start there, and the build saw no secret', async () => {
  const artifact = buildHalf();
  expect(readFileSync(path.join(artifact, '.vercel/output/static/index.html'), 'utf8')).toContain(
    'found: []',
  );
  const workspace = mkdtempSync(path.join(world.dir, 'fork-job-'));
  cpSync(artifact, workspace, { recursive: true });
  const run = await world.run(
    { project: 'marketing-forks', prebuilt: 'true' },
    { workspace, oidc: undefined, env: { GITHUB_EVENT_NAME: 'pull_request' } },
  );
  expect(run.code).not.toBe(0);
  expect(run.stdout).toMatch(/id-token: write/);
  expect(world.fake.requests).toEqual([]);
});

test('the workflow_run half deploys the artifact as a preview, aliases and comments on the fork’s pull request', async () => {
  const job = deployJob(buildHalf());
  const run = await world.run(
    {
      project: 'marketing-forks',
      path: 'preview',
      prebuilt: 'true',
      alias: 'pr-{pr}.forks.acme.dev',
      comment: 'true',
      'github-token': GITHUB_TOKEN,
    },
    job,
  );
  expect(run.code).toBe(0);
  expect(run.outputs['alias-url']).toBe('https://pr-42.forks.acme.dev');

  const deployment = world.fake.deployments.get(run.outputs['deployment-id']!)!;
  expect(deployment.target).toBeNull();
  expect(deployment.prebuilt).toBe(true);
  const meta = deployment.body.meta as Record<string, string>;
  // Verified, from the workflow_run job's token: which reviewed workflow ran, where, on what base.
  expect(meta).toMatchObject({
    keyholeEvent: 'workflow_run',
    keyholeBaseSha: BASE_SHA,
    keyholeBaseRef: 'refs/heads/main',
    keyholeWorkflow: DEPLOY_WORKFLOW,
    keyholeRunUrl: expect.stringMatching(/\/acme\/marketing\/actions\/runs\/7000000001\/attempts\/1$/),
  });
  // Reported by the deploy workflow from GitHub's event payload and API, labelled as such.
  expect(meta).toMatchObject({
    reportedTriggeringRunId: '9100',
    reportedHeadSha: FORK_SHA,
    reportedHeadRepository: 'forker/marketing',
    reportedPullRequest: '42',
  });
  // The base commit is not the deployed code: nothing claims it is.
  expect(meta.githubCommitSha).toBeUndefined();
  expect(deployment.body.gitMetadata).not.toHaveProperty('commitSha');

  const [comment] = github.comments.get(42) ?? [];
  expect(comment?.body).toContain('https://pr-42.forks.acme.dev');
  expect(github.calls).toContainEqual(
    expect.objectContaining({
      method: 'GET',
      path: '/repos/acme/marketing/pulls',
      query: expect.objectContaining({ head: 'forker:patch-1' }),
    }),
  );
});

test('a workflow_run token asking for production is refused, and nothing reaches Vercel', async () => {
  const job = deployJob(buildHalf());
  writeFileSync(
    path.join(job.workspace, 'preview/.vercel/output/builds.json'),
    JSON.stringify({ target: 'production', builds: [] }),
  );
  const run = await world.run(
    { project: 'marketing-forks', path: 'preview', prebuilt: 'true', target: 'production' },
    job,
  );
  expect(run.code).not.toBe(0);
  expect(run.stdout).toMatch(/policy_denied/);
  expect(world.fake.requests).toEqual([]);
  const denied = world.broker.auditLines().filter((l) => l.decision === 'deny' && l.target === 'production');
  expect(denied.length).toBeGreaterThan(0);
});

test('a workflow_run job of any other workflow file is refused', async () => {
  const job = deployJob(buildHalf());
  const other = 'acme/marketing/.github/workflows/other.yml@refs/heads/main';
  const run = await world.run(
    { project: 'marketing-forks', path: 'preview', prebuilt: 'true' },
    { ...job, claims: { ...workflowRunClaims, job_workflow_ref: other, workflow_ref: other } },
  );
  expect(run.code).not.toBe(0);
  expect(run.stdout).toMatch(
    /workflow acme\/marketing\/\.github\/workflows\/other\.yml@refs\/heads\/main may not deploy/,
  );
  expect(world.fake.requests).toEqual([]);
});

test('the example workflows are the tested pair: no id-token in the fork half, workflow_run preview-only in the other', () => {
  type Workflow = {
    on: Record<string, unknown>;
    permissions: object;
    jobs: Record<
      string,
      { permissions: Record<string, string>; steps: { uses?: string; with?: Record<string, unknown> }[] }
    >;
  };
  const read = (name: string) =>
    parse(readFileSync(path.join(REPO_ROOT, 'examples/workflows', name), 'utf8')) as Workflow;
  const build = read('fork-preview-build.yml');
  const deploy = read('fork-preview-deploy.yml');
  expect(Object.keys(build.on)).toEqual(['pull_request']);
  expect(build.permissions).toEqual({});
  expect(build.jobs.build!.permissions).toEqual({ contents: 'read' });
  expect(JSON.stringify(build.jobs)).not.toMatch(/secrets\.|keyhole/);

  expect(Object.keys(deploy.on)).toEqual(['workflow_run']);
  const job = deploy.jobs.deploy!;
  expect(job.permissions['id-token']).toBe('write');
  expect(job.steps.some((s) => s.uses?.startsWith('actions/checkout'))).toBe(false);
  const keyhole = job.steps.find((s) => s.uses?.includes('/keyhole@'))!;
  expect(keyhole.with).toMatchObject({ prebuilt: true, project: 'marketing-forks' });
  expect(keyhole.with).not.toHaveProperty('target');
});

// Every file of examples/workflows passes actionlint 1.7.7 in __tests__/release/workflows.test.ts.
