/**
 * The broker for platforms that call a `fetch(Request) → Response` handler (Vercel Functions,
 * Cloudflare Workers, Deno, Bun): config and secrets come from environment bindings, not files.
 * Memory replay stores are per isolate there, so a shared store is required: one the platform
 * provides (`replay`, e.g. a Durable Object), or Redis from the config (`openStore`).
 */
import { createBroker, type Broker } from '../app.js';
import { createLogger } from '../audit.js';
import { githubAppFromConfig } from '../github/app.js';
import { parseConfig } from '../policy/config.js';
import { loadSigningKeys } from '../credential/credential.js';
import { createGitHubKeySet, createTokenVerifier } from '../oidc/verify.js';
import type { CompiledConfig } from '../policy/compiled.js';
import type { ReplayStore } from '../store/store.js';

export interface ServerlessEnv {
  /** The YAML config file's text. */
  KEYHOLE_CONFIG: string;
  [name: string]: string | undefined;
}

export interface ServerlessOptions {
  /** A store shared by every instance that the platform provides (a Durable Object namespace). */
  replay?: ReplayStore;
  /**
   * Opens the store the config names (`replay_store_env` or `replay_store`): Redis over `rediss://`
   * on Vercel Functions (`RedisReplayStore`). Used when `replay` is not given.
   */
  openStore?: (url: string) => ReplayStore;
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
    replay: options.replay ?? openConfiguredStore(config, env, options),
    logger: createLogger(options.log ?? ((line) => console.log(line))),
    upstreamToken: (name) => env[name],
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(githubApp ? { githubApp } : {}),
  });
}

/** The store the config names; memory is refused, since every instance would have its own. */
function openConfiguredStore(
  config: CompiledConfig,
  env: ServerlessEnv,
  options: ServerlessOptions,
): ReplayStore {
  const url = config.replayStoreEnv ? env[config.replayStoreEnv] : config.replayStore;
  const where = config.replayStoreEnv ?? 'replay_store';
  if (!url || url === 'memory' || !/^rediss?(\+cluster)?:\/\/./.test(url)) {
    throw new Error(
      `${where} must name a shared store (rediss://user:password@host:port/db): serverless instances do not share memory`,
    );
  }
  if (!options.openStore) throw new Error(`this platform's entry cannot open ${where}; pass a shared store`);
  return options.openStore(url);
}
