/** Entry point of the action bundle (dist/action/index.js): real dependencies in, `run()` called once. */
import * as core from '@actions/core';
import { readRunContext } from './context.js';
import type { GitHubDeploymentApi } from './github-deployment.js';
import { run } from './main.js';
import { defaultRetryPolicy } from './retry.js';
import { runPost } from './revoke.js';
import { isPostStep, markMainStep } from './state.js';

// One bundle, two steps: action.yml names it as both `main` and `post`; the saved state tells them
// apart. The post step only revokes what the main step left.
const isPost = isPostStep(core);
if (isPost) {
  await runPost({
    getState: core.getState,
    fetch,
    retry: defaultRetryPolicy(),
    info: core.info,
    warning: core.warning,
    now: Date.now,
  });
} else {
  markMainStep(core);
}

const controller = new AbortController();
// The runner sends SIGINT, then SIGTERM, when a job is cancelled: stop and cancel the deployment.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => controller.abort());

/**
 * The pull request this run is for. A `workflow_run` started by a fork's pull request does not name
 * it (GitHub leaves `pull_requests` empty for forks), so it is looked up by the head commit the
 * triggering run built: an open pull request of this repository whose head is that commit.
 */
let pullRequestLookup: Promise<number | undefined> | undefined;
function pullRequestNumber(): Promise<number | undefined> {
  return (pullRequestLookup ??= (async () => {
    const context = readRunContext(process.env);
    if (context.pr !== undefined) return context.pr;
    const triggering = context.workflowRun;
    const token = core.getInput('github-token');
    if (!triggering || triggering.event !== 'pull_request' || !token) return undefined;
    const github = await import('@actions/github');
    const octokit = github.getOctokit(token);
    const { owner, repo } = github.context.repo;
    const headOwner = triggering.headRepository?.split('/')[0];
    const pulls = await octokit.rest.pulls.list({
      owner,
      repo,
      state: 'open',
      per_page: 100,
      ...(headOwner && triggering.headBranch ? { head: `${headOwner}:${triggering.headBranch}` } : {}),
    });
    const matching = pulls.data.filter((p) => p.head.sha === triggering.headSha);
    return matching.length === 1 ? matching[0]!.number : undefined;
  })());
}

/** The repository's GitHub Deployments API (input github-deployment), through the job's token. */
async function githubDeployments(): Promise<GitHubDeploymentApi | undefined> {
  const github = await import('@actions/github');
  const token = core.getInput('github-token');
  if (!token) return undefined;
  const octokit = github.getOctokit(token);
  const { owner, repo } = github.context.repo;
  return {
    create: async (input) => {
      const created = await octokit.rest.repos.createDeployment({
        owner,
        repo,
        ref: input.ref,
        environment: input.environment,
        description: input.description,
        transient_environment: input.transient,
        production_environment: input.production,
        payload: input.payload as unknown as Record<string, unknown>,
        // The deploy already happened: no merge of the base branch, no waiting on other checks.
        auto_merge: false,
        required_contexts: [],
      });
      if (!('id' in created.data)) throw new Error(created.data.message ?? 'GitHub created no deployment');
      return created.data.id;
    },
    status: async (id, state, urls) =>
      void (await octokit.rest.repos.createDeploymentStatus({
        owner,
        repo,
        deployment_id: id,
        state,
        ...(urls.environmentUrl ? { environment_url: urls.environmentUrl } : {}),
        ...(urls.logUrl ? { log_url: urls.logUrl } : {}),
        ...(urls.autoInactive !== undefined ? { auto_inactive: urls.autoInactive } : {}),
      })),
    list: async (environment) =>
      (await octokit.rest.repos.listDeployments({ owner, repo, environment, per_page: 100 })).data,
  };
}

if (!isPost)
  await run({
    core: {
      getInput: (name) => core.getInput(name),
      setOutput: core.setOutput,
      setSecret: core.setSecret,
      setFailed: core.setFailed,
      saveState: core.saveState,
      exportVariable: core.exportVariable,
      info: core.info,
      warning: core.warning,
      startGroup: core.startGroup,
      endGroup: core.endGroup,
      getIDToken: (audience) => core.getIDToken(audience),
      writeSummary: async (markdown) => {
        if (process.env.GITHUB_STEP_SUMMARY) await core.summary.addRaw(markdown).write();
      },
    },
    env: process.env,
    fetch,
    retry: defaultRetryPolicy({
      onRetry: (what, attempt, delay, reason) =>
        core.info(`${what}: ${reason}; retry ${attempt} in ${(delay / 1000).toFixed(1)} s`),
    }),
    signal: controller.signal,
    now: Date.now,
    pullRequestNumber,
    githubDeployments,
    pullRequest: async () => {
      // Loaded only when a comment is asked for: Octokit is heavy and most runs never need it.
      const github = await import('@actions/github');
      const number = await pullRequestNumber();
      const token = core.getInput('github-token');
      if (!number || !token) return undefined;
      const octokit = github.getOctokit(token);
      const { owner, repo } = github.context.repo;
      return {
        number,
        api: {
          list: async (issue) =>
            (await octokit.rest.issues.listComments({ owner, repo, issue_number: issue, per_page: 100 }))
              .data,
          create: async (issue, body) =>
            void (await octokit.rest.issues.createComment({ owner, repo, issue_number: issue, body })),
          update: async (id, body) =>
            void (await octokit.rest.issues.updateComment({ owner, repo, comment_id: id, body })),
        },
      };
    },
  });
