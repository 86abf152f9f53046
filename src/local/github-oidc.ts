/** A local GitHub Actions OIDC issuer: RSA key, JWKS, and the runner's token-request protocol. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';

export type JobClaims = Record<string, string | number | boolean | undefined>;

export interface GitHubIssuer {
  /** The `iss` of every token, e.g. http://127.0.0.1:PORT. */
  issuer: string;
  jwksUrl: string;
  /** ACTIONS_ID_TOKEN_REQUEST_URL / _TOKEN for the job whose claims are set with `setJob`. */
  requestUrl: string;
  requestToken: string;
  /** Replaces the claims of the job the token endpoint serves (merged over `defaultClaims`). */
  setJob(claims: JobClaims): void;
  /** Mints a token directly, e.g. for tests that forge or replay. */
  mint(
    audience: string | string[],
    claims?: JobClaims,
    options?: { lifetimeSeconds?: number; header?: Record<string, unknown> },
  ): Promise<string>;
  /** The audiences of the runner's token requests so far, in order (refused ones included). */
  tokenRequests(): string[];
  /** Answers the next `count` token requests with `status` and no token (a failing token service). */
  failTokenRequests(count: number, status: number): void;
  /** How many times the JWKS was fetched (tests of caching). */
  jwksFetches(): number;
  setJwksAvailable(available: boolean): void;
  /** Delays every JWKS answer by this many ms (a slow issuer). */
  setJwksDelay(ms: number): void;
  close(): Promise<void>;
}

/**
 * A job in `acme/marketing` on main, GitHub-hosted, shaped like research/oidc.md §1.5. Its
 * `check_run_id` (the job's identity) is added by `mint`: a fresh one per token unless the claims
 * name it, so a test that wants two tokens of one job says `check_run_id`, and `check_run_id:
 * undefined` plays a GHES job without one.
 */
export function defaultClaims(overrides: JobClaims = {}): JobClaims {
  const repository = String(overrides.repository ?? 'acme/marketing');
  const ref = String(overrides.ref ?? 'refs/heads/main');
  const workflowPath = `${repository}/.github/workflows/deploy.yml@${ref}`;
  return {
    sub: `repo:${repository}:ref:${ref}`,
    repository,
    repository_id: '123456789',
    repository_owner: repository.split('/')[0],
    repository_owner_id: '987654',
    repository_visibility: 'private',
    ref,
    ref_type: ref.startsWith('refs/tags/') ? 'tag' : 'branch',
    ref_protected: 'true',
    sha: 'a3f1c0d2e4b5a6978899aabbccddeeff00112233',
    actor: 'octocat',
    actor_id: '583231',
    event_name: 'push',
    workflow: 'Deploy',
    workflow_ref: workflowPath,
    workflow_sha: 'a3f1c0d2e4b5a6978899aabbccddeeff00112233',
    job_workflow_ref: workflowPath,
    job_workflow_sha: 'a3f1c0d2e4b5a6978899aabbccddeeff00112233',
    run_id: '7000000001',
    run_number: '42',
    run_attempt: '1',
    runner_environment: 'github-hosted',
    ...overrides,
  };
}

export async function startGitHubIssuer(options: { port?: number } = {}): Promise<GitHubIssuer> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = randomUUID();
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  const requestToken = randomUUID().replace(/-/g, '');
  let job: JobClaims = defaultClaims();
  let jwksFetches = 0;
  let jwksAvailable = true;
  let jwksDelay = 0;
  const tokenRequests: string[] = [];
  let tokenFailures = { count: 0, status: 500 };
  let issuer = '';
  let nextCheckRun = 91_000_000_000 + Math.floor(Math.random() * 1_000_000) * 1000;

  const mint: GitHubIssuer['mint'] = async (audience, claims = job, mintOptions = {}) => {
    const now = Math.floor(Date.now() / 1000);
    const lifetime = mintOptions.lifetimeSeconds ?? 300;
    const named = 'check_run_id' in claims ? {} : { check_run_id: String(nextCheckRun++) };
    const payload = Object.fromEntries(
      Object.entries({ ...named, ...claims }).filter(([, v]) => v !== undefined),
    );
    // GitHub back-dates nbf by ten minutes and gives five minutes of life.
    return new SignJWT({ ...payload, jti: randomUUID() })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid, x5t: 'local', ...mintOptions.header } as {
        alg: string;
      })
      .setIssuer(typeof payload.iss === 'string' ? payload.iss : issuer)
      .setAudience(audience)
      .setIssuedAt(now)
      .setNotBefore(now - 600)
      .setExpirationTime(now + lifetime)
      .sign(privateKey);
  };

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://local');
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/.well-known/jwks') {
      jwksFetches += 1;
      const answer = () =>
        jwksAvailable ? send(200, { keys: [jwk] }) : send(503, { message: 'unavailable' });
      if (jwksDelay > 0) setTimeout(answer, jwksDelay);
      else answer();
      return undefined;
    }
    if (url.pathname === '/.well-known/openid-configuration') {
      return send(200, {
        issuer,
        jwks_uri: `${issuer}/.well-known/jwks`,
        id_token_signing_alg_values_supported: ['RS256'],
      });
    }
    if (url.pathname === '/_apis/token') {
      if (req.headers.authorization !== `Bearer ${requestToken}`)
        return send(401, { message: 'bad request token' });
      const audience =
        url.searchParams.get('audience') ?? `https://github.com/${String(job.repository_owner)}`;
      tokenRequests.push(audience);
      if (tokenFailures.count > 0) {
        tokenFailures.count -= 1;
        return send(tokenFailures.status, { message: 'token service failure (test)' });
      }
      void mint(audience).then((value) => send(200, { count: 1, value }));
      return undefined;
    }
    return send(404, { message: 'not found' });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  issuer = `http://127.0.0.1:${port}`;
  return {
    issuer,
    jwksUrl: `${issuer}/.well-known/jwks`,
    requestUrl: `${issuer}/_apis/token?api-version=2.0`,
    requestToken,
    setJob: (claims) => {
      job = defaultClaims(claims);
    },
    mint,
    tokenRequests: () => [...tokenRequests],
    failTokenRequests: (count, status) => {
      tokenFailures = { count, status };
    },
    jwksFetches: () => jwksFetches,
    setJwksAvailable: (available) => {
      jwksAvailable = available;
    },
    setJwksDelay: (ms) => {
      jwksDelay = ms;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
