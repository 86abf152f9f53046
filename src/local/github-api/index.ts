/**
 * A local GitHub REST API for the GitHub App endpoints Keyhole uses, answering as GitHub does: the
 * app's JWT is verified (RS256, iss = app id, at most 10 minutes), installation tokens are minted
 * and required, and check runs, repositories, environments, branch policies and contents are served.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportPKCS8, exportSPKI, generateKeyPair, importSPKI, jwtVerify } from 'jose';

export interface FakeEnvironment {
  name: string;
  /** Required reviewers (a count is enough: Keyhole checks that there are some). */
  reviewers?: number;
  waitTimerMinutes?: number;
  /** null: any branch may deploy. `protected`: protected branches. `custom`: the `policies` below. */
  branches: null | 'protected' | 'custom';
  policies?: { name: string; type: 'branch' | 'tag' }[];
}

export interface FakeRepository {
  owner: string;
  name: string;
  id: number;
  ownerId: number;
  environments?: FakeEnvironment[];
  /** `ref:path` of the files that exist, e.g. `refs/heads/main:.github/workflows/deploy.yml`. */
  files?: string[];
  checkRuns?: Record<string, 'queued' | 'in_progress' | 'completed'>;
}

export interface GitHubApiFake {
  url: string;
  appId: string;
  /** The app's private key (PKCS#8 PEM), as an admin would put it in the broker's environment. */
  privateKey: string;
  /** Adds or replaces a repository the app is installed on (names compare case-insensitively). */
  setRepository(repository: FakeRepository): void;
  repository(fullName: string): FakeRepository | undefined;
  setCheckRun(fullName: string, id: string, status: 'queued' | 'in_progress' | 'completed'): void;
  /** false: every request is answered 503 (GitHub unreachable as far as the broker can tell). */
  setAvailable(available: boolean): void;
  requests: { method: string; path: string }[];
  close(): Promise<void>;
}

export async function startGitHubApi(options: { appId?: string } = {}): Promise<GitHubApiFake> {
  const appId = options.appId ?? '424242';
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const verifyKey = await importSPKI(await exportSPKI(publicKey), 'RS256');
  const repositories = new Map<string, FakeRepository & { installation: number }>();
  const tokens = new Map<string, { installation: number; expires: number }>();
  const requests: { method: string; path: string }[] = [];
  let available = true;
  let nextInstallation = 1000;

  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(body));
  };
  const notFound = { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' };

  async function appAuthorized(header: string | undefined): Promise<boolean> {
    const jwt = /^Bearer (\S+)$/i.exec(header ?? '')?.[1];
    if (!jwt) return false;
    try {
      const { payload } = await jwtVerify(jwt, verifyKey, { algorithms: ['RS256'], clockTolerance: 60 });
      return String(payload.iss) === appId && payload.exp! - payload.iat! <= 660;
    } catch {
      return false;
    }
  }

  function installationOf(header: string | undefined): number | undefined {
    const token = /^(?:token|Bearer) (\S+)$/i.exec(header ?? '')?.[1];
    const entry = token ? tokens.get(token) : undefined;
    return entry && entry.expires > Date.now() ? entry.installation : undefined;
  }

  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://local');
      requests.push({ method: req.method ?? 'GET', path: url.pathname });
      if (!available) return send(res, 503, { message: 'Service Unavailable' });
      const auth = req.headers.authorization;
      const install = /^\/app\/installations\/(\d+)\/access_tokens$/.exec(url.pathname);
      if (install && req.method === 'POST') {
        if (!(await appAuthorized(auth)))
          return send(res, 401, { message: 'A JSON web token could not be decoded' });
        const id = Number(install[1]);
        if (![...repositories.values()].some((r) => r.installation === id)) return send(res, 404, notFound);
        const token = `ghs_${randomBytes(18).toString('base64url')}`;
        const expires = Date.now() + 3600_000;
        tokens.set(token, { installation: id, expires });
        return send(res, 201, {
          token,
          expires_at: new Date(expires).toISOString(),
          permissions: { checks: 'read', metadata: 'read', contents: 'read', actions: 'read' },
          repository_selection: 'selected',
        });
      }
      const match = /^\/repos\/([^/]+)\/([^/]+)(\/.*)?$/.exec(url.pathname);
      const repo = match ? repositories.get(`${match[1]}/${match[2]}`.toLowerCase()) : undefined;
      const rest = match?.[3] ?? '';
      if (rest === '/installation' && req.method === 'GET') {
        if (!(await appAuthorized(auth)))
          return send(res, 401, { message: 'A JSON web token could not be decoded' });
        if (!repo) return send(res, 404, notFound);
        return send(res, 200, {
          id: repo.installation,
          app_id: Number(appId),
          account: { login: repo.owner, id: repo.ownerId },
        });
      }
      // Everything else needs an installation token of this repository's installation.
      const installation = installationOf(auth);
      if (installation === undefined) return send(res, 401, { message: 'Bad credentials' });
      if (!repo || repo.installation !== installation || req.method !== 'GET')
        return send(res, 404, notFound);
      if (rest === '') {
        return send(res, 200, {
          id: repo.id,
          name: repo.name,
          full_name: `${repo.owner}/${repo.name}`,
          owner: { login: repo.owner, id: repo.ownerId, type: 'Organization' },
        });
      }
      const checkRun = /^\/check-runs\/(\d+)$/.exec(rest);
      if (checkRun) {
        const status = repo.checkRuns?.[checkRun[1]!];
        if (!status) return send(res, 404, notFound);
        return send(res, 200, {
          id: Number(checkRun[1]),
          status,
          conclusion: status === 'completed' ? 'success' : null,
          name: 'deploy',
        });
      }
      const environment = /^\/environments\/([^/]+)(\/deployment-branch-policies)?$/.exec(rest);
      if (environment) {
        const name = decodeURIComponent(environment[1]!).toLowerCase();
        const env = repo.environments?.find((e) => e.name.toLowerCase() === name);
        if (!env) return send(res, 404, notFound);
        if (environment[2]) {
          if (env.branches !== 'custom') return send(res, 404, notFound);
          const policies = env.policies ?? [];
          // Paged as GitHub pages it: 30 by default, at most 100 (first page only).
          const perPage = Math.min(100, Number(url.searchParams.get('per_page') ?? 30) || 30);
          return send(res, 200, {
            total_count: policies.length,
            branch_policies: policies
              .slice(0, perPage)
              .map((p, i) => ({ id: i + 1, name: p.name, type: p.type })),
          });
        }
        const rules: unknown[] = [];
        if (env.waitTimerMinutes) rules.push({ id: 1, type: 'wait_timer', wait_timer: env.waitTimerMinutes });
        if (env.reviewers)
          rules.push({
            id: 2,
            type: 'required_reviewers',
            prevent_self_review: false,
            reviewers: Array.from({ length: env.reviewers }, (_, i) => ({
              type: 'User',
              reviewer: { login: `reviewer${i}`, id: 100 + i },
            })),
          });
        if (env.branches) rules.push({ id: 3, type: 'branch_policy' });
        return send(res, 200, {
          id: 1,
          name: env.name,
          protection_rules: rules,
          deployment_branch_policy: env.branches
            ? {
                protected_branches: env.branches === 'protected',
                custom_branch_policies: env.branches === 'custom',
              }
            : null,
        });
      }
      const contents = /^\/contents\/(.+)$/.exec(rest);
      if (contents) {
        const file = decodeURIComponent(contents[1]!);
        const ref = url.searchParams.get('ref') ?? 'refs/heads/main';
        if (!repo.files?.includes(`${ref}:${file}`)) return send(res, 404, notFound);
        return send(res, 200, { type: 'file', path: file, name: file.split('/').pop(), sha: 'f'.repeat(40) });
      }
      return send(res, 404, notFound);
    })().catch((error: unknown) => send(res, 500, { message: String(error) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    appId,
    privateKey: await exportPKCS8(privateKey),
    setRepository: (repository) => {
      const key = `${repository.owner}/${repository.name}`.toLowerCase();
      const installation = repositories.get(key)?.installation ?? nextInstallation++;
      repositories.set(key, { checkRuns: {}, ...repository, installation });
    },
    repository: (fullName) => repositories.get(fullName.toLowerCase()),
    setCheckRun: (fullName, id, status) => {
      const repo = repositories.get(fullName.toLowerCase());
      if (!repo) throw new Error(`${fullName} is not a repository of the fake`);
      repo.checkRuns = { ...repo.checkRuns, [id]: status };
    },
    setAvailable: (value) => {
      available = value;
    },
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
