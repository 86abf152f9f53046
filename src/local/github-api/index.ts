/**
 * A local GitHub REST API, shaped like api.github.com and recording every request: the GitHub App
 * endpoints the broker uses (app.ts) and the calls an action job makes with its token (job.ts).
 */
import { createHash } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportPKCS8, exportSPKI, generateKeyPair, importSPKI } from 'jose';
import { appJwtRoute, installationRoute, type AppState, type FakeRepository } from './app.js';
import { readRequest, type RecordedCall } from './http.js';
import { isJobToken, jobRoute, type GitHubDeployment, type GitHubPull, type JobState } from './job.js';

export type { FakeEnvironment, FakeRepository } from './app.js';
export type { GitHubDeployment, GitHubPull } from './job.js';
export type { RecordedCall } from './http.js';

export interface GitHubApiFake {
  url: string;
  appId: string;
  /** The app's first private key (PKCS#8 PEM), as an admin would put it in the broker's environment. */
  privateKey: string;
  /**
   * "Generate a private key" in the App's settings: a new key pair whose public half GitHub now
   * accepts too (the older keys stay valid). Answers the private key and its fingerprint.
   */
  addAppKey(): Promise<{ privateKey: string; fingerprint: string }>;
  /**
   * Deletes one of the app's keys by fingerprint: JWTs it signs are refused from now on, while
   * installation tokens minted with it stay valid until they expire, as on GitHub.
   */
  deleteAppKey(fingerprint: string): void;
  /** The fingerprints of the app's registered keys, oldest first. */
  appKeys(): string[];
  /** The fingerprint of the key that signed each app JWT GitHub accepted, in order. */
  jwtKeysUsed: string[];
  /** Adds or replaces a repository the app is installed on (names compare case-insensitively). */
  setRepository(repository: FakeRepository): void;
  repository(fullName: string): FakeRepository | undefined;
  setCheckRun(fullName: string, id: string, status: 'queued' | 'in_progress' | 'completed'): void;
  /** false: every request is answered 503 (GitHub unreachable as far as the broker can tell). */
  setAvailable(available: boolean): void;
  /**
   * Answers every request as GitHub does past a rate limit, until cleared (undefined): `primary`
   * is 403 with `x-ratelimit-remaining: 0` and the reset `seconds` ahead; `secondary` is 403 with
   * `retry-after: seconds` and GitHub's "secondary rate limit" message.
   */
  setRateLimited(limit: { kind: 'primary' | 'secondary'; seconds: number } | undefined): void;
  /** Every request, in order. */
  calls: RecordedCall[];
  /** The same record as `calls`. */
  requests: RecordedCall[];
  /** The job's repository: its pull requests, comments and deployments (job-token side). */
  pulls: GitHubPull[];
  /** Each with its author: the job token's comments are by `github-actions[bot]`, a Bot. */
  comments: Map<number, { id: number; body: string; user?: { login: string; type: 'Bot' | 'User' } }[]>;
  deployments: GitHubDeployment[];
  /** Resources the job's token may not write: answered 403 "Resource not accessible by integration". */
  deny: Set<'deployments' | 'comments'>;
  close(): Promise<void>;
}

/** The job-token side's name for the fake. */
export type GitHubApi = GitHubApiFake;

/** GitHub's key fingerprint: SHA-256 of the public key's DER SubjectPublicKeyInfo, base64. */
function keyFingerprint(spkiPem: string): string {
  const der = Buffer.from(spkiPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  return `SHA256:${createHash('sha256').update(der).digest('base64')}`;
}

/** GitHub's answers past its primary and secondary rate limits (REST docs, "Rate limits for the REST API"). */
function rateLimitAnswer(res: ServerResponse, limit: { kind: 'primary' | 'secondary'; seconds: number }) {
  const docs = 'https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api';
  const headers =
    limit.kind === 'primary'
      ? {
          'x-ratelimit-limit': '5000',
          'x-ratelimit-remaining': '0',
          'x-ratelimit-used': '5000',
          'x-ratelimit-reset': String(Math.ceil(Date.now() / 1000) + limit.seconds),
          'x-ratelimit-resource': 'core',
        }
      : { 'retry-after': String(limit.seconds) };
  const message =
    limit.kind === 'primary'
      ? 'API rate limit exceeded for installation ID 1000.'
      : 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.';
  res.writeHead(403, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify({ message, documentation_url: docs, status: '403' }));
}

export async function startGitHubApi(
  options: { appId?: string; repository?: string; token?: string } = {},
): Promise<GitHubApiFake> {
  const app: AppState = {
    appId: options.appId ?? '424242',
    verifyKeys: new Map(),
    jwtKeysUsed: [],
    repositories: new Map(),
    tokens: new Map(),
  };
  async function addAppKey() {
    if (app.verifyKeys.size >= 25) throw new Error('an app holds at most 25 private keys: delete one first');
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
    const spki = await exportSPKI(publicKey);
    const fingerprint = keyFingerprint(spki);
    app.verifyKeys.set(fingerprint, await importSPKI(spki, 'RS256'));
    return { privateKey: await exportPKCS8(privateKey), fingerprint };
  }
  const first = await addAppKey();
  const job: JobState = {
    repository: options.repository ?? 'acme/marketing',
    token: options.token ?? 'ghs_local_job_token',
    pulls: [],
    comments: new Map(),
    deployments: [],
    deny: new Set(),
    nextId: 1000,
  };
  const calls: RecordedCall[] = [];
  let available = true;
  let rateLimited: { kind: 'primary' | 'secondary'; seconds: number } | undefined;
  let nextInstallation = 1000;

  const server: Server = createServer((req, res) => {
    void (async () => {
      const r = await readRequest(req, res, calls);
      if (!available) return r.send(503, { message: 'Service Unavailable' });
      if (rateLimited) return rateLimitAnswer(res, rateLimited);
      if (await appJwtRoute(app, r)) return;
      if (isJobToken(job, r.auth)) return jobRoute(job, r);
      return installationRoute(app, r);
    })().catch((error: unknown) => {
      if (res.headersSent) return;
      res.writeHead(500, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify({ message: String(error) }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    appId: app.appId,
    privateKey: first.privateKey,
    addAppKey,
    deleteAppKey: (fingerprint) => {
      if (!app.verifyKeys.delete(fingerprint)) throw new Error(`the app has no key ${fingerprint}`);
    },
    appKeys: () => [...app.verifyKeys.keys()],
    jwtKeysUsed: app.jwtKeysUsed,
    setRepository: (repository) => {
      const key = `${repository.owner}/${repository.name}`.toLowerCase();
      const installation = app.repositories.get(key)?.installation ?? nextInstallation++;
      app.repositories.set(key, { checkRuns: {}, ...repository, installation });
    },
    repository: (fullName) => app.repositories.get(fullName.toLowerCase()),
    setCheckRun: (fullName, id, status) => {
      const repo = app.repositories.get(fullName.toLowerCase());
      if (!repo) throw new Error(`${fullName} is not a repository of the fake`);
      repo.checkRuns = { ...repo.checkRuns, [id]: status };
    },
    setAvailable: (value) => {
      available = value;
    },
    setRateLimited: (limit) => {
      rateLimited = limit;
    },
    calls,
    requests: calls,
    pulls: job.pulls,
    comments: job.comments,
    deployments: job.deployments,
    deny: job.deny,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
