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
  /**
   * Where the private key was read (`NAME`, or `NAME_FILE (path)`): named when GitHub refuses the
   * app's JWT, so an instance that missed a key rotation's reload says which file to fix.
   */
  keySource?: string;
  fetch: typeof fetch;
  timeoutMs?: number;
  /** Told once each time GitHub answers "rate limited": the broker logs it and counts it. */
  onRateLimited?: (info: { retryAfterSeconds: number; detail: string }) => void;
  /** Told of every GitHub request's outcome, and of every request a rate limit spared (metrics). */
  observe?: GitHubObserver;
  now?: () => number;
}

/** Outcomes of the broker's GitHub requests, a closed set (metric labels). */
export type GitHubOutcome = 'ok' | 'not_found' | 'refused' | 'unreachable' | 'rate_limited';

export interface GitHubObserver {
  request(outcome: GitHubOutcome): void;
  /** A request not made: GitHub's rate limit is in force, or the repository spent its budget. */
  spared(reason: 'rate_limited' | 'budget'): void;
}

export type GitHubAnswer = { status: number; body: unknown };

/** What the app needs, and nothing else: reads of checks, Actions settings (environments) and contents. */
const PERMISSIONS = { checks: 'read', actions: 'read', contents: 'read', metadata: 'read' } as const;
const INSTALLATION_TTL_MS = 10 * 60_000;

export class GitHubUnreachableError extends Error {
  /** How long to wait before asking again, when GitHub or the broker's own budget says so. */
  readonly retryAfterSeconds: number | undefined;
  constructor(detail: string, retryAfterSeconds?: number) {
    super(`GitHub did not answer: ${detail}`);
    this.name = 'GitHubUnreachableError';
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/**
 * GitHub said "rate limited" (or said so earlier and its wait is not over): unreachable for that
 * long, and no request is made meanwhile — asking again only extends a secondary limit.
 */
export class GitHubRateLimitedError extends GitHubUnreachableError {
  constructor(retryAfterSeconds: number) {
    super(`rate limited for ${retryAfterSeconds} s more`, retryAfterSeconds);
    this.name = 'GitHubRateLimitedError';
  }
}

/** Waits GitHub names are honoured up to an hour (a primary limit's reset); unnamed ones take a minute. */
const MAX_RATE_LIMIT_WAIT_S = 3600;
const DEFAULT_RATE_LIMIT_WAIT_S = 60;

/**
 * Seconds to wait when an answer is GitHub's rate limit, else undefined: a 403/429 with
 * `x-ratelimit-remaining: 0` (primary; wait until `x-ratelimit-reset`), or with `retry-after` or a
 * "secondary rate limit" message (GitHub's REST docs, "Rate limits for the REST API").
 */
export function rateLimitWait(
  status: number | undefined,
  header: (name: string) => string | null | undefined,
  message: string,
  nowMs: number,
): number | undefined {
  if (status !== 403 && status !== 429) return undefined;
  const retryAfter = header('retry-after');
  const remaining = header('x-ratelimit-remaining');
  const limited = remaining === '0' || Boolean(retryAfter) || /rate limit/i.test(message) || status === 429;
  if (!limited) return undefined;
  let wait = DEFAULT_RATE_LIMIT_WAIT_S;
  const reset = Number(header('x-ratelimit-reset'));
  if (retryAfter && /^\d{1,6}$/.test(retryAfter.trim())) wait = Number(retryAfter);
  else if (remaining === '0' && Number.isFinite(reset) && reset > 0) wait = Math.ceil(reset - nowMs / 1000);
  return Math.min(MAX_RATE_LIMIT_WAIT_S, Math.max(1, wait));
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

/**
 * The app's memory of GitHub's rate limit: a failed answer is classified (`githubFailure`), and a
 * rate-limit answer starts a wait, told once, during which `beforeRequest` refuses without a request.
 */
function rateLimitGuard(settings: GitHubAppSettings) {
  const now = settings.now ?? Date.now;
  /** Until when GitHub's rate limit is in force (epoch ms): no request leaves before. */
  let limitedUntil = 0;

  /** Refuses without a request while a rate limit lasts. */
  function beforeRequest(): void {
    const left = Math.ceil((limitedUntil - now()) / 1000);
    if (left <= 0) return;
    settings.observe?.spared('rate_limited');
    throw new GitHubRateLimitedError(left);
  }

  /** A failed answer: a rate limit starts the wait (told once); anything else is classified as before. */
  function failure(
    status: number | undefined,
    header: (name: string) => string | null | undefined,
    message: string,
    unreachable: string,
    refused: string,
  ): Error {
    const wait = rateLimitWait(status, header, message, now());
    if (wait === undefined) {
      settings.observe?.request(
        status === undefined || status >= 500 || status === 429 ? 'unreachable' : 'refused',
      );
      return githubFailure(status, unreachable, refused);
    }
    settings.observe?.request('rate_limited');
    const first = limitedUntil <= now();
    limitedUntil = Math.max(limitedUntil, now() + wait * 1000);
    if (first) settings.onRateLimited?.({ retryAfterSeconds: wait, detail: `HTTP ${status}: ${message}` });
    return new GitHubRateLimitedError(wait);
  }
  return { beforeRequest, failure };
}

/**
 * GitHub's 401 to a call signed with the app's JWT: the key this broker holds is not (or no
 * longer) one of the app's keys, typically an instance not reloaded after a key rotation.
 */
function jwtRefusedMessage(settings: GitHubAppSettings): string {
  return (
    `GitHub refused the App's JWT (401): the private key read from ` +
    `${settings.keySource ?? 'github_app.private_key_env'} is not one of app ${settings.appId}'s keys ` +
    `(deleted in the App's settings? write the current key there and reload the broker)`
  );
}

export function createGitHubApp(settings: GitHubAppSettings): GitHubApp {
  const timeoutMs = settings.timeoutMs ?? 10_000;
  const { beforeRequest, failure } = rateLimitGuard(settings);
  const request = octokitRequest.defaults({
    baseUrl: settings.apiUrl.replace(/\/+$/, ''),
    headers: { 'user-agent': 'keyhole-broker', 'x-github-api-version': '2022-11-28' },
    // Its successes are counted here; its failures go through `classify` like a direct answer's.
    request: {
      fetch: async (input: RequestInfo | URL, init?: RequestInit) => {
        const response = await settings.fetch(input, init);
        if (response.ok) settings.observe?.request('ok');
        return response;
      },
    },
  });
  const auth = createAppAuth({
    appId: settings.appId,
    privateKey: settings.privateKey.replace(/\\n/g, '\n'),
    request,
  });
  const installations = new Map<string, { id: number; at: number }>();

  const jwtRefused = jwtRefusedMessage(settings);

  /** An Octokit failure, classified like a direct answer (`githubFailure`). */
  function classify(error: unknown, signedWithAppJwt = false): never {
    const { status, response } = error as {
      status?: number;
      response?: { headers?: Record<string, string | undefined>; data?: { message?: unknown } };
    };
    const message = error instanceof Error ? error.message : String(error);
    throw failure(
      status,
      (name) => response?.headers?.[name],
      `${typeof response?.data?.message === 'string' ? response.data.message : ''} ${message}`,
      message,
      signedWithAppJwt && status === 401 ? jwtRefused : `GitHub answered ${status}`,
    );
  }

  async function installationToken(repository: string): Promise<string> {
    const [owner, repo] = repository.split('/') as [string, string];
    const key = repository.toLowerCase();
    let cached = installations.get(key);
    if (!cached || Date.now() - cached.at > INSTALLATION_TTL_MS) {
      beforeRequest();
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
        classify(error, true);
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
      // A cached token makes no request; a new one is asked for with the app's JWT.
      return classify(error, true);
    }
  }

  return {
    async getRepo(repository, path) {
      beforeRequest();
      const token = await installationToken(repository);
      beforeRequest();
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
        settings.observe?.request('unreachable');
        throw new GitHubUnreachableError(error instanceof Error ? error.message : String(error));
      }
      if (!response.ok && response.status !== 404) {
        // A secondary limit says so only in its message: read a little of a 403/429's body.
        const text =
          response.status === 403 || response.status === 429
            ? (await response.text().catch(() => '')).slice(0, 500)
            : (await response.body?.cancel(), '');
        throw failure(
          response.status,
          (name) => response.headers.get(name),
          text,
          `HTTP ${response.status}`,
          `GitHub answered ${response.status} to GET ${path}`,
        );
      }
      settings.observe?.request(response.status === 404 ? 'not_found' : 'ok');
      return { status: response.status, body: await response.json().catch(() => undefined) };
    },
  };
}

/** The config's `github_app`, with its private key read from the environment; none when not configured. */
export function githubAppFromConfig(
  config: { githubApp?: { app_id: string; private_key_env: string; api_url: string } },
  env: (name: string) => string | undefined,
  fetchImpl: typeof fetch,
  watch: Pick<GitHubAppSettings, 'onRateLimited' | 'observe' | 'keySource'> = {},
): GitHubApp | undefined {
  if (!config.githubApp) return undefined;
  const { app_id, private_key_env, api_url } = config.githubApp;
  const privateKey = env(private_key_env);
  // Fail at start rather than at the first exchange: the check is a security control.
  if (!privateKey?.includes('PRIVATE KEY'))
    throw new Error(
      `github_app.private_key_env: ${private_key_env} must hold the GitHub App's private key (the .pem file GitHub generated)`,
    );
  return createGitHubApp({ appId: app_id, privateKey, apiUrl: api_url, fetch: fetchImpl, ...watch });
}
