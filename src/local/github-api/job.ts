/**
 * A small local GitHub REST API for the calls previews make (pull requests, issue comments,
 * deployments and their statuses), shaped like api.github.com and recording every request.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

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

export interface RecordedCall {
  method: string;
  path: string;
  query: Record<string, string>;
  json?: unknown;
  authorization?: string;
}

export interface GitHubApi {
  url: string;
  calls: RecordedCall[];
  pulls: GitHubPull[];
  comments: Map<number, { id: number; body: string }[]>;
  deployments: GitHubDeployment[];
  /** Resources the token may not write: answered 403 "Resource not accessible by integration". */
  deny: Set<'deployments' | 'comments'>;
  close(): Promise<void>;
}

export async function startGitHubApi(
  options: { repository?: string; token?: string } = {},
): Promise<GitHubApi> {
  const repository = options.repository ?? 'acme/marketing';
  const token = options.token ?? 'ghs_local_job_token';
  const calls: RecordedCall[] = [];
  const pulls: GitHubPull[] = [];
  const comments = new Map<number, { id: number; body: string }[]>();
  const deployments: GitHubDeployment[] = [];
  const deny = new Set<'deployments' | 'comments'>();
  let nextId = 1000;

  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://local');
      let text = '';
      for await (const chunk of req) text += String(chunk);
      const json = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
      calls.push({
        method: req.method ?? 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        ...(json ? { json } : {}),
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      });
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify(body));
      };
      if (req.headers.authorization !== `token ${token}` && req.headers.authorization !== `Bearer ${token}`)
        return send(401, { message: 'Bad credentials' });
      const prefix = `/repos/${repository}`;
      if (!url.pathname.startsWith(`${prefix}/`)) return send(404, { message: 'Not Found' });
      const path = url.pathname.slice(prefix.length);
      const forbidden = () =>
        send(403, {
          message: 'Resource not accessible by integration',
          documentation_url: 'https://docs.github.com/rest',
          status: '403',
        });
      let m: RegExpExecArray | null;

      if (req.method === 'GET' && path === '/pulls') {
        const state = url.searchParams.get('state') ?? 'open';
        const head = url.searchParams.get('head');
        return send(
          200,
          pulls.filter(
            (p) =>
              (state === 'all' || p.state === state) &&
              (!head || `${p.head.repo.full_name.split('/')[0]}:${p.head.ref}` === head),
          ),
        );
      }
      if ((m = /^\/issues\/(\d+)\/comments$/.exec(path))) {
        const list = comments.get(Number(m[1])) ?? [];
        if (req.method === 'GET') return send(200, list);
        if (req.method === 'POST') {
          if (deny.has('comments')) return forbidden();
          const comment = { id: nextId++, body: String(json?.body ?? '') };
          comments.set(Number(m[1]), [...list, comment]);
          return send(201, comment);
        }
      }
      if (req.method === 'PATCH' && (m = /^\/issues\/comments\/(\d+)$/.exec(path))) {
        if (deny.has('comments')) return forbidden();
        const comment = [...comments.values()].flat().find((c) => c.id === Number(m![1]));
        if (!comment) return send(404, { message: 'Not Found' });
        comment.body = String(json?.body ?? '');
        return send(200, comment);
      }
      if (path === '/deployments' && req.method === 'POST') {
        if (deny.has('deployments')) return forbidden();
        const deployment: GitHubDeployment = {
          id: nextId++,
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
        deployments.push(deployment);
        const { statuses: _, ...body } = deployment;
        return send(201, body);
      }
      if (path === '/deployments' && req.method === 'GET') {
        const environment = url.searchParams.get('environment');
        return send(
          200,
          deployments
            .filter((d) => !environment || d.environment === environment)
            .map(({ statuses: _, ...d }) => d)
            .reverse(),
        );
      }
      if ((m = /^\/deployments\/(\d+)\/statuses$/.exec(path))) {
        const deployment = deployments.find((d) => d.id === Number(m![1]));
        if (!deployment) return send(404, { message: 'Not Found' });
        if (req.method === 'GET') return send(200, [...deployment.statuses].reverse());
        if (req.method === 'POST') {
          if (deny.has('deployments')) return forbidden();
          const status = { id: nextId++, ...(json as GitHubDeployment['statuses'][number]) };
          deployment.statuses.push(status);
          return send(201, status);
        }
      }
      return send(404, { message: 'Not Found' });
    })().catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    pulls,
    comments,
    deployments,
    deny,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
