/**
 * The GitHub App side of the local GitHub API, answering as GitHub does: the app's JWT is verified
 * (RS256, iss = app id, at most 10 minutes) against the app's registered public keys (an app may hold
 * several during a key rotation), installation tokens are minted and required, and check runs,
 * repositories, environments, branch policies and contents are served.
 */
import { randomBytes } from 'node:crypto';
import { jwtVerify, type importSPKI } from 'jose';
import { NOT_FOUND, type GitHubRequest } from './http.js';

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

export type InstalledRepository = FakeRepository & { installation: number };

/** What the App routes read and write: the app, its installations and the tokens minted for them. */
export interface AppState {
  appId: string;
  /**
   * The app's public keys by fingerprint (`SHA256:…`, as the App settings page shows them): a JWT
   * signed by any of them is accepted, as GitHub does while an app holds several private keys.
   */
  verifyKeys: Map<string, Awaited<ReturnType<typeof importSPKI>>>;
  /** The fingerprint of the key that verified each accepted app JWT, in order. */
  jwtKeysUsed: string[];
  repositories: Map<string, InstalledRepository>;
  tokens: Map<string, { installation: number; expires: number }>;
}

/** The fingerprint of the app key that verifies the request's JWT (recorded in `jwtKeysUsed`), if any. */
async function appAuthorized(app: AppState, header: string | undefined): Promise<string | undefined> {
  const jwt = /^Bearer (\S+)$/i.exec(header ?? '')?.[1];
  if (!jwt) return undefined;
  for (const [fingerprint, key] of app.verifyKeys) {
    try {
      const { payload } = await jwtVerify(jwt, key, { algorithms: ['RS256'], clockTolerance: 60 });
      if (String(payload.iss) !== app.appId || payload.exp! - payload.iat! > 660) return undefined;
      app.jwtKeysUsed.push(fingerprint);
      return fingerprint;
    } catch {
      // Not this key's signature (or expired): the next key may verify it.
    }
  }
  return undefined;
}

function installationOf(app: AppState, header: string | undefined): number | undefined {
  const token = /^(?:token|Bearer) (\S+)$/i.exec(header ?? '')?.[1];
  const entry = token ? app.tokens.get(token) : undefined;
  return entry && entry.expires > Date.now() ? entry.installation : undefined;
}

const repositoryOf = (app: AppState, pathname: string) => {
  const match = /^\/repos\/([^/]+)\/([^/]+)(\/.*)?$/.exec(pathname);
  const repo = match ? app.repositories.get(`${match[1]}/${match[2]}`.toLowerCase()) : undefined;
  return { repo, rest: match?.[3] ?? '' };
};

/** The two calls signed with the app's JWT: an installation token, and a repository's installation. */
export async function appJwtRoute(app: AppState, r: GitHubRequest): Promise<boolean> {
  const install = /^\/app\/installations\/(\d+)\/access_tokens$/.exec(r.url.pathname);
  const { repo, rest } = repositoryOf(app, r.url.pathname);
  const isInstallation = rest === '/installation' && r.method === 'GET';
  if (!(install && r.method === 'POST') && !isInstallation) return false;
  if ((await appAuthorized(app, r.auth)) === undefined)
    r.send(401, { message: 'A JSON web token could not be decoded' });
  else if (install) {
    const id = Number(install[1]);
    if (![...app.repositories.values()].some((x) => x.installation === id)) r.send(404, NOT_FOUND);
    else {
      const token = `ghs_${randomBytes(18).toString('base64url')}`;
      const expires = Date.now() + 3600_000;
      app.tokens.set(token, { installation: id, expires });
      r.send(201, {
        token,
        expires_at: new Date(expires).toISOString(),
        permissions: { checks: 'read', metadata: 'read', contents: 'read', actions: 'read' },
        repository_selection: 'selected',
      });
    }
  } else if (!repo) r.send(404, NOT_FOUND);
  else
    r.send(200, {
      id: repo.installation,
      app_id: Number(app.appId),
      account: { login: repo.owner, id: repo.ownerId },
    });
  return true;
}

/** GET /repos/:owner/:repo/environments/:name (and its deployment-branch-policies). */
function environment(r: GitHubRequest, repo: InstalledRepository, name: string, policiesOnly: boolean) {
  const env = repo.environments?.find((e) => e.name.toLowerCase() === name);
  if (!env) return r.send(404, NOT_FOUND);
  if (policiesOnly) {
    if (env.branches !== 'custom') return r.send(404, NOT_FOUND);
    const policies = env.policies ?? [];
    // Paged as GitHub pages it: 30 by default, at most 100 (first page only).
    const perPage = Math.min(100, Number(r.url.searchParams.get('per_page') ?? 30) || 30);
    return r.send(200, {
      total_count: policies.length,
      branch_policies: policies.slice(0, perPage).map((p, i) => ({ id: i + 1, name: p.name, type: p.type })),
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
  return r.send(200, {
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

/** Reads of a repository, which need an installation token of this repository's installation. */
export function installationRoute(app: AppState, r: GitHubRequest): void {
  const { repo, rest } = repositoryOf(app, r.url.pathname);
  const installation = installationOf(app, r.auth);
  if (installation === undefined) return r.send(401, { message: 'Bad credentials' });
  if (!repo || repo.installation !== installation || r.method !== 'GET') return r.send(404, NOT_FOUND);
  if (rest === '')
    return r.send(200, {
      id: repo.id,
      name: repo.name,
      full_name: `${repo.owner}/${repo.name}`,
      owner: { login: repo.owner, id: repo.ownerId, type: 'Organization' },
    });
  const checkRun = /^\/check-runs\/(\d+)$/.exec(rest);
  if (checkRun) {
    const status = repo.checkRuns?.[checkRun[1]!];
    if (!status) return r.send(404, NOT_FOUND);
    return r.send(200, {
      id: Number(checkRun[1]),
      status,
      conclusion: status === 'completed' ? 'success' : null,
      name: 'deploy',
    });
  }
  const env = /^\/environments\/([^/]+)(\/deployment-branch-policies)?$/.exec(rest);
  if (env) return environment(r, repo, decodeURIComponent(env[1]!).toLowerCase(), Boolean(env[2]));
  const contents = /^\/contents\/(.+)$/.exec(rest);
  if (contents) {
    const file = decodeURIComponent(contents[1]!);
    const ref = r.url.searchParams.get('ref') ?? 'refs/heads/main';
    if (!repo.files?.includes(`${ref}:${file}`)) return r.send(404, NOT_FOUND);
    return r.send(200, { type: 'file', path: file, name: file.split('/').pop(), sha: 'f'.repeat(40) });
  }
  return r.send(404, NOT_FOUND);
}
