/** The local world in one process: OIDC issuer, strict Vercel fake, and a broker behind the real Node adapter. */
import { createBroker, type Broker } from '../broker/app.js';
import { createLogger } from '../broker/audit.js';
import { parseConfig } from '../broker/policy/config.js';
import type { GitHubApp } from '../broker/github/app.js';
import { loadSigningKeys, type SigningKeys } from '../broker/credential/credential.js';
import { createGitHubKeySet, createTokenVerifier } from '../broker/oidc/verify.js';
import type { CompiledConfig } from '../broker/policy/compiled.js';
import { MemoryReplayStore } from '../broker/store/memory.js';
import type { ReplayStore } from '../broker/store/store.js';
import { startServer, type RunningServer } from '../broker/host/node/server.js';
import { startGitHubIssuer, type GitHubIssuer, type JobClaims } from './github-oidc.js';
import { startVercelFake, type VercelFake, type VercelFakeOptions } from './vercel/index.js';
import { AUDIENCE, brokerYaml, type ConfigOverrides } from './config.js';

export const UPSTREAM_TOKEN = 'vercel_upstream_token_for_tests';
export const SIGNING_KEY = `k1:${Buffer.alloc(32, 7).toString('base64url')}`;

export interface World {
  issuer: GitHubIssuer;
  fake: VercelFake;
  broker: Broker;
  server: RunningServer;
  url: string;
  config: CompiledConfig;
  keys: SigningKeys;
  logs: string[];
  replay: ReplayStore;
  /** Mints a token for `claims` and exchanges it; returns the raw response. */
  exchange(
    claims?: JobClaims,
    project?: string,
    target?: string,
    headers?: Record<string, string>,
  ): Promise<Response>;
  /** The audit events logged so far. */
  audit(): Record<string, unknown>[];
  /** Exchanges and returns the credential, failing the test when refused. */
  credential(claims?: JobClaims, project?: string, target?: string): Promise<string>;
  /** A gateway call with the credential. */
  call(credential: string, method: string, path: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

export async function startWorld(
  options: {
    fake?: VercelFakeOptions;
    /** Changes to the local world's config, merged in (config.ts, Overrides). */
    config?: ConfigOverrides;
    /** YAML text appended to the config. */
    extraConfig?: string;
    replay?: ReplayStore;
    now?: () => number;
    githubApp?: GitHubApp;
    /** The broker's upstream fetch (the Node adapter's `nodeFetch`, say); the global fetch otherwise. */
    fetch?: typeof fetch;
  } = {},
): Promise<World> {
  const issuer = await startGitHubIssuer();
  const fake = await startVercelFake({ tokens: [UPSTREAM_TOKEN], ...options.fake });
  const { config } = parseConfig(
    brokerYaml({ issuer: issuer.issuer, jwksUrl: issuer.jwksUrl, vercelApiUrl: fake.url }, options.config) +
      (options.extraConfig ?? ''),
    'broker.yaml',
  );
  const keys = await loadSigningKeys(SIGNING_KEY, 'KEYHOLE_SIGNING_KEY');
  const logs: string[] = [];
  const replay = options.replay ?? new MemoryReplayStore();
  const broker = createBroker({
    config,
    keys,
    verifyToken: createTokenVerifier({
      issuer: config.issuer,
      audience: config.audience,
      keySet: createGitHubKeySet(config.jwksUrl),
    }),
    replay,
    logger: createLogger((line) => logs.push(line)),
    upstreamToken: (name) =>
      name === 'VERCEL_TOKEN_MARKETING' || name === 'VERCEL_TOKEN_BILLING' ? UPSTREAM_TOKEN : undefined,
    ...(options.now ? { now: options.now } : {}),
    ...(options.githubApp ? { githubApp: options.githubApp } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const server = await startServer(broker, { host: '127.0.0.1', port: 0 });
  const url = server.url;
  const exchange = async (
    claims: JobClaims = {},
    project = 'marketing-site',
    target = 'preview',
    headers: Record<string, string> = {},
  ) => {
    issuer.setJob(claims);
    const token = await issuer.mint(AUDIENCE, undefined);
    return fetch(`${url}/v1/exchange`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ token, project, target }),
    });
  };
  return {
    issuer,
    fake,
    broker,
    server,
    url,
    config,
    keys,
    logs,
    replay,
    exchange,
    audit: () =>
      logs
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((record) => record.msg === 'audit'),
    credential: async (claims, project, target) => {
      const response = await exchange(claims, project, target);
      const body = (await response.json()) as { credential?: string };
      if (response.status !== 200 || !body.credential)
        throw new Error(`exchange refused: ${response.status} ${JSON.stringify(body)}`);
      return body.credential;
    },
    call: (credential, method, path, init = {}) =>
      fetch(`${url}${path}`, {
        ...init,
        method,
        headers: { authorization: `Bearer ${credential}`, ...Object.fromEntries(new Headers(init.headers)) },
      }),
    close: async () => {
      await server.close(100);
      await fake.close();
      await issuer.close();
    },
  };
}
