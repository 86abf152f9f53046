/**
 * The broker's GitHub App: installation tokens from @octokit/auth-app, narrowed to one repository and
 * read-only permissions, for the few REST reads Keyhole makes (is the job running; doctor's checks).
 */
import { createAppAuth } from '@octokit/auth-app';
import { request as octokitRequest } from '@octokit/request';

export interface GitHubAppSettings {
  appId: string;
  /** PEM (PKCS#1 as GitHub hands it out, or PKCS#8); `\n` escapes from an env file are accepted. */
  privateKey: string;
  /** https://api.github.com, or https://HOST/api/v3 on GHES. */
  apiUrl: string;
  fetch: typeof fetch;
  timeoutMs?: number;
}

export type GitHubAnswer = { status: number; body: unknown };

/** What the app needs, and nothing else: reads of checks, Actions settings (environments) and contents. */
const PERMISSIONS = { checks: 'read', actions: 'read', contents: 'read', metadata: 'read' } as const;
const INSTALLATION_TTL_MS = 10 * 60_000;

export class GitHubUnreachableError extends Error {
  constructor(detail: string) {
    super(`GitHub did not answer: ${detail}`);
    this.name = 'GitHubUnreachableError';
  }
}

/** GitHub refused the app (a missing installation, 401/403): a setting to fix, not an outage. */
export class GitHubRefusedError extends Error {
  readonly status: number;
  constructor(message: string, status: number) {
    super(message);
    this.name = 'GitHubRefusedError';
    this.status = status;
  }
}

export interface GitHubApp {
  /**
   * GET `/repos/{repository}{path}` with an installation token for that repository. Answers the
   * status and body for 2xx and 404; throws GitHubUnreachableError for network errors, time-outs
   * and 5xx/429, and GitHubRefusedError (with the status) for other refusals (a missing installation, 401/403).
   */
  getRepo(repository: string, path: string): Promise<GitHubAnswer>;
}

/**
 * One classification for every GitHub failure: no status (network errors, time-outs), 5xx and 429
 * mean "GitHub cannot say", which callers may treat with grace; any other refusal (a missing
 * installation, 401/403) is a GitHubRefusedError carrying its status.
 */
function githubFailure(status: number | undefined, unreachable: string, refused: string): Error {
  if (status === undefined || status >= 500 || status === 429) return new GitHubUnreachableError(unreachable);
  return new GitHubRefusedError(refused, status);
}

export function createGitHubApp(settings: GitHubAppSettings): GitHubApp {
  const timeoutMs = settings.timeoutMs ?? 10_000;
  const request = octokitRequest.defaults({
    baseUrl: settings.apiUrl.replace(/\/+$/, ''),
    headers: { 'user-agent': 'keyhole-broker', 'x-github-api-version': '2022-11-28' },
    request: { fetch: settings.fetch },
  });
  const auth = createAppAuth({
    appId: settings.appId,
    privateKey: settings.privateKey.replace(/\\n/g, '\n'),
    request,
  });
  const installations = new Map<string, { id: number; at: number }>();

  /** An Octokit failure, classified like a direct answer (`githubFailure`). */
  function classify(error: unknown): never {
    const status = (error as { status?: number }).status;
    throw githubFailure(
      status,
      error instanceof Error ? error.message : String(error),
      `GitHub answered ${status}`,
    );
  }

  async function installationToken(repository: string): Promise<string> {
    const [owner, repo] = repository.split('/') as [string, string];
    const key = repository.toLowerCase();
    let cached = installations.get(key);
    if (!cached || Date.now() - cached.at > INSTALLATION_TTL_MS) {
      try {
        const { token } = await auth({ type: 'app' });
        const { data } = await request('GET /repos/{owner}/{repo}/installation', {
          owner,
          repo,
          headers: { authorization: `bearer ${token}` },
          request: { signal: AbortSignal.timeout(timeoutMs) },
        });
        cached = { id: data.id, at: Date.now() };
        installations.set(key, cached);
      } catch (error) {
        classify(error);
      }
    }
    try {
      // auth-app caches installation tokens (per installation, repositories and permissions) until
      // shortly before they expire, so this is one GitHub round trip an hour per repository.
      const { token } = await auth({
        type: 'installation',
        installationId: cached.id,
        repositoryNames: [repo],
        permissions: PERMISSIONS,
      });
      return token;
    } catch (error) {
      return classify(error);
    }
  }

  return {
    async getRepo(repository, path) {
      const token = await installationToken(repository);
      let response: Response;
      try {
        response = await settings.fetch(`${settings.apiUrl.replace(/\/+$/, '')}/repos/${repository}${path}`, {
          headers: {
            authorization: `token ${token}`,
            accept: 'application/vnd.github+json',
            'user-agent': 'keyhole-broker',
            'x-github-api-version': '2022-11-28',
          },
          redirect: 'error',
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (error) {
        throw new GitHubUnreachableError(error instanceof Error ? error.message : String(error));
      }
      if (!response.ok && response.status !== 404) {
        await response.body?.cancel();
        throw githubFailure(
          response.status,
          `HTTP ${response.status}`,
          `GitHub answered ${response.status} to GET ${path}`,
        );
      }
      return { status: response.status, body: await response.json().catch(() => undefined) };
    },
  };
}

/** The config's `github_app`, with its private key read from the environment; none when not configured. */
export function githubAppFromConfig(
  config: { githubApp?: { app_id: string; private_key_env: string; api_url: string } },
  env: (name: string) => string | undefined,
  fetchImpl: typeof fetch,
): GitHubApp | undefined {
  if (!config.githubApp) return undefined;
  const { app_id, private_key_env, api_url } = config.githubApp;
  const privateKey = env(private_key_env);
  // Fail at start rather than at the first exchange: the check is a security control.
  if (!privateKey?.includes('PRIVATE KEY'))
    throw new Error(
      `github_app.private_key_env: ${private_key_env} must hold the GitHub App's private key (the .pem file GitHub generated)`,
    );
  return createGitHubApp({ appId: app_id, privateKey, apiUrl: api_url, fetch: fetchImpl });
}
