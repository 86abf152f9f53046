/** The action's GitHub API calls, through Octokit and the github-token input, loaded only when needed. */
import { readRunContext } from './context.js';
import type { GitHubDeploymentApi } from './github-deployment.js';
import type { CommentApi } from './report.js';

export interface GitHubApi {
  /** The pull request a `workflow_run` deploys, when the event payload does not name it (fork pull requests). */
  pullRequestNumber(): Promise<number | undefined>;
  /** The GitHub Deployments API of this repository (input github-deployment). */
  deployments(): Promise<GitHubDeploymentApi | undefined>;
  /** Present when the run is for a pull request: its number and a comments API. */
  pullRequest(): Promise<{ number: number; api: CommentApi } | undefined>;
}

/** The adapters for one run; `token` is the parsed github-token input (empty: no GitHub calls). */
export function createGitHubApi(token: string, env: NodeJS.ProcessEnv): GitHubApi {
  let pullRequestLookup: Promise<number | undefined> | undefined;
  const pullRequestNumber = () => (pullRequestLookup ??= lookUpPullRequest(token, env));
  return {
    pullRequestNumber,
    deployments: () => githubDeployments(token),
    pullRequest: async () => {
      // Loaded only when a comment is asked for: Octokit is heavy and most runs never need it.
      const github = await import('@actions/github');
      const number = await pullRequestNumber();
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
          // A job's or App's token gets 403 here: its comments are then told by their Bot author.
          self: async () => (await octokit.rest.users.getAuthenticated()).data.login,
        },
      };
    },
  };
}

/**
 * The pull request this run is for. A `workflow_run` started by a fork's pull request does not name
 * it (GitHub leaves `pull_requests` empty for forks), so it is looked up by the head commit the
 * triggering run built: an open pull request of this repository whose head is that commit.
 */
async function lookUpPullRequest(token: string, env: NodeJS.ProcessEnv): Promise<number | undefined> {
  const context = readRunContext(env);
  if (context.pr !== undefined) return context.pr;
  const triggering = context.workflowRun;
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
}

/** The repository's GitHub Deployments API (input github-deployment), through the job's token. */
async function githubDeployments(token: string): Promise<GitHubDeploymentApi | undefined> {
  const github = await import('@actions/github');
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
