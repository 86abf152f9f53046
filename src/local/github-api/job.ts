/**
 * The job-token side of the local GitHub API: the calls previews make with the workflow's
 * GITHUB_TOKEN (pull requests, issue comments, deployments and their statuses), for one repository.
 */
import type { GitHubRequest } from './http.js';

export interface GitHubPull {
  number: number;
  state: 'open' | 'closed';
  head: { ref: string; sha: string; repo: { full_name: string } };
}

export interface GitHubDeployment {
  id: number;
  ref: string;
  sha: string;
  environment: string;
  description: string | null;
  transient_environment: boolean;
  production_environment: boolean;
  auto_merge: boolean;
  required_contexts: string[];
  payload: unknown;
  statuses: { state: string; environment_url?: string; log_url?: string; description?: string }[];
}

/** What the job-token routes read and write. */
export interface JobState {
  repository: string;
  token: string;
  pulls: GitHubPull[];
  /** Each with its author: the job token's comments are by `github-actions[bot]`, a Bot. */
  comments: Map<number, { id: number; body: string; user?: { login: string; type: 'Bot' | 'User' } }[]>;
  deployments: GitHubDeployment[];
  /** Resources the token may not write: answered 403 "Resource not accessible by integration". */
  deny: Set<'deployments' | 'comments'>;
  nextId: number;
}

/** The job's token, as `token …` or `Bearer …`. */
export const isJobToken = (job: JobState, auth: string | undefined) =>
  auth === `token ${job.token}` || auth === `Bearer ${job.token}`;

const forbidden = (r: GitHubRequest) =>
  r.send(403, {
    message: 'Resource not accessible by integration',
    documentation_url: 'https://docs.github.com/rest',
    status: '403',
  });

function pullsAndComments(job: JobState, r: GitHubRequest, path: string): boolean {
  const { method, json } = r;
  let m: RegExpExecArray | null;
  if (method === 'GET' && path === '/pulls') {
    const state = r.url.searchParams.get('state') ?? 'open';
    const head = r.url.searchParams.get('head');
    r.send(
      200,
      job.pulls.filter(
        (p) =>
          (state === 'all' || p.state === state) &&
          (!head || `${p.head.repo.full_name.split('/')[0]}:${p.head.ref}` === head),
      ),
    );
    return true;
  }
  if ((m = /^\/issues\/(\d+)\/comments$/.exec(path)) && (method === 'GET' || method === 'POST')) {
    const list = job.comments.get(Number(m[1])) ?? [];
    if (method === 'GET') r.send(200, list);
    else if (job.deny.has('comments')) forbidden(r);
    else {
      const comment = {
        id: job.nextId++,
        body: String(json?.body ?? ''),
        user: { login: 'github-actions[bot]', type: 'Bot' as const },
      };
      job.comments.set(Number(m[1]), [...list, comment]);
      r.send(201, comment);
    }
    return true;
  }
  if (method === 'PATCH' && (m = /^\/issues\/comments\/(\d+)$/.exec(path))) {
    if (job.deny.has('comments')) return (forbidden(r), true);
    const comment = [...job.comments.values()].flat().find((c) => c.id === Number(m![1]));
    if (!comment) return (r.send(404, { message: 'Not Found' }), true);
    comment.body = String(json?.body ?? '');
    r.send(200, comment);
    return true;
  }
  return false;
}

function deployments(job: JobState, r: GitHubRequest, path: string): boolean {
  const { method, json } = r;
  let m: RegExpExecArray | null;
  if (path === '/deployments' && method === 'POST') {
    if (job.deny.has('deployments')) return (forbidden(r), true);
    const deployment: GitHubDeployment = {
      id: job.nextId++,
      ref: String(json?.ref),
      sha: String(json?.ref),
      environment: String(json?.environment ?? 'production'),
      description: (json?.description as string | undefined) ?? null,
      transient_environment: Boolean(json?.transient_environment),
      production_environment: Boolean(json?.production_environment),
      auto_merge: json?.auto_merge !== false,
      required_contexts: (json?.required_contexts as string[] | undefined) ?? [],
      payload: json?.payload ?? {},
      statuses: [],
    };
    job.deployments.push(deployment);
    const { statuses: _, ...body } = deployment;
    r.send(201, body);
    return true;
  }
  if (path === '/deployments' && method === 'GET') {
    const environment = r.url.searchParams.get('environment');
    r.send(
      200,
      job.deployments
        .filter((d) => !environment || d.environment === environment)
        .map(({ statuses: _, ...d }) => d)
        .reverse(),
    );
    return true;
  }
  if ((m = /^\/deployments\/(\d+)\/statuses$/.exec(path)) && (method === 'GET' || method === 'POST')) {
    const deployment = job.deployments.find((d) => d.id === Number(m![1]));
    if (!deployment) r.send(404, { message: 'Not Found' });
    else if (method === 'GET') r.send(200, [...deployment.statuses].reverse());
    else if (job.deny.has('deployments')) forbidden(r);
    else {
      const status = { id: job.nextId++, ...(r.json as GitHubDeployment['statuses'][number]) };
      deployment.statuses.push(status);
      r.send(201, status);
    }
    return true;
  }
  return false;
}

/** Answers a request made with the job's token; only the job's own repository exists for it. */
export function jobRoute(job: JobState, r: GitHubRequest): void {
  const prefix = `/repos/${job.repository}`;
  if (!r.url.pathname.startsWith(`${prefix}/`)) return r.send(404, { message: 'Not Found' });
  const path = r.url.pathname.slice(prefix.length);
  if (pullsAndComments(job, r, path) || deployments(job, r, path)) return;
  r.send(404, { message: 'Not Found' });
}
