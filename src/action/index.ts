/** Entry point of the action bundle (dist/action/index.js): real dependencies in, `run()` called once. */
import * as core from '@actions/core';
import { run } from './main.js';
import { defaultRetryPolicy } from './retry.js';

const controller = new AbortController();
// The runner sends SIGINT, then SIGTERM, when a job is cancelled: stop and cancel the deployment.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => controller.abort());

await run({
  core: {
    getInput: (name) => core.getInput(name),
    setOutput: core.setOutput,
    setSecret: core.setSecret,
    setFailed: core.setFailed,
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
  pullRequest: async () => {
    // Loaded only when a comment is asked for: Octokit is heavy and most runs never need it.
    const github = await import('@actions/github');
    const number = github.context.payload.pull_request?.number;
    const token = core.getInput('github-token');
    if (!number || !token) return undefined;
    const octokit = github.getOctokit(token);
    const { owner, repo } = github.context.repo;
    return {
      number,
      api: {
        list: async (issue) =>
          (await octokit.rest.issues.listComments({ owner, repo, issue_number: issue, per_page: 100 })).data,
        create: async (issue, body) =>
          void (await octokit.rest.issues.createComment({ owner, repo, issue_number: issue, body })),
        update: async (id, body) =>
          void (await octokit.rest.issues.updateComment({ owner, repo, comment_id: id, body })),
      },
    };
  },
});
