/**
 * The broker for platforms that call a `fetch(Request) → Response` handler (Vercel Functions,
 * Cloudflare Workers, Deno, Bun): config and secrets come from environment bindings, not files.
 * Memory replay stores are per isolate there, so a shared `replay_store` (Redis) is required.
 */
import { createBroker, type Broker } from './app.js';
import { createLogger } from './audit.js';
import { githubAppFromConfig } from './github-app.js';
import { parseConfig } from './config.js';
import { loadSigningKeys } from './credential.js';
import { createGitHubKeySet, createTokenVerifier } from './oidc/verify.js';
import type { ReplayStore } from './replay.js';

export interface ServerlessEnv {
  /** The YAML config file's text. */
  KEYHOLE_CONFIG: string;
  [name: string]: string | undefined;
}

export interface ServerlessOptions {
  /** Required: a store shared by every isolate (for example a Redis-over-HTTP adapter). */
  replay: ReplayStore;
  log?: (line: string) => void;
  fetch?: typeof fetch;
}

/** Builds the broker once per isolate; refuses to start without a persistent signing key. */
export async function createBrokerFromEnv(env: ServerlessEnv, options: ServerlessOptions): Promise<Broker> {
  const { config } = parseConfig(env.KEYHOLE_CONFIG, 'KEYHOLE_CONFIG');
  const keys = await loadSigningKeys(env[config.signingKeyEnv], config.signingKeyEnv);
  if (keys.ephemeral) {
    throw new Error(
      `${config.signingKeyEnv} must be set: serverless instances cannot share an ephemeral key`,
    );
  }
  const githubApp = githubAppFromConfig(config, (name) => env[name], options.fetch ?? fetch);
  return createBroker({
    config,
    keys,
    verifyToken: createTokenVerifier({
      issuer: config.issuer,
      audience: config.audience,
      keySet: createGitHubKeySet(config.jwksUrl, options.fetch ? { fetch: options.fetch } : {}),
    }),
    replay: options.replay,
    logger: createLogger(options.log ?? ((line) => console.log(line))),
    upstreamToken: (name) => env[name],
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(githubApp ? { githubApp } : {}),
  });
}
