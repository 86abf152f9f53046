/**
 * Builds a broker from a compiled config and its secrets, the same way on every runtime: signing
 * keys → store URL → GitHub App → store → issuer keys → `createBroker`. The runtimes only say where
 * secrets come from and which store they can open; `createBrokerFromEnv` is the entry for platforms
 * that call a `fetch(Request) → Response` handler (Vercel Functions, Cloudflare Workers, Deno, Bun).
 */
import type { JWTVerifyGetKey } from 'jose';
import { createBroker, type Broker, type BrokerDeps } from '../app.js';
import { createLogger, type Logger } from '../audit.js';
import { loadSigningKeys, type HmacFactory, type SigningKeys } from '../credential/credential.js';
import { githubAppFromConfig, type GitHubObserver } from '../github/app.js';
import { createGitHubKeySet, createTokenVerifier, type VerifierOptions } from '../oidc/verify.js';
import type { CompiledConfig } from '../policy/compiled.js';
import { parseConfig } from '../policy/config.js';
import type { ReplayStore } from '../store/store.js';

/** Secrets by name: an env file, the environment, `<NAME>_FILE`, a platform's bindings. */
export type SecretReader = (name: string) => string | undefined;

export interface ComposeOptions {
  config: CompiledConfig;
  readEnv: SecretReader;
  logger: Logger;
  /**
   * `fleet`: instances share nothing but the store (serverless isolates), so a memory store and an
   * ephemeral signing key are refused. `process`: one long-lived process may use both (with a warning).
   */
  instances: 'fleet' | 'process';
  /** A shared store the platform provides (a Durable Object namespace); the config's URL is not read. */
  store?: ReplayStore;
  /** Opens the store the config's URL names (store/open.ts, wrapped as the runtime likes). */
  openStore?: (url: string) => ReplayStore;
  /** The issuer's key set for a JWKS URL; `createGitHubKeySet` by default. */
  keySet?: (jwksUrl: string) => JWTVerifyGetKey;
  /** Told once when a process starts with an ephemeral key. */
  warn?: (line: string) => void;
  /** What the last composition of this process built: kept where the new config did not change it. */
  previous?: Composed;
  /** The platform's fetch for GitHub and the issuer's keys; the global one by default. */
  fetch?: typeof fetch;
  /** The platform's synchronous crypto (host/node/crypto.ts); WebCrypto when absent. */
  crypto?: {
    verifyRs256?: NonNullable<VerifierOptions['verifyRs256']>;
    hmacSha256?: HmacFactory;
  };
  /** Where a secret was read (`NAME_FILE (path)`), named in errors; the bare name by default. */
  secretSource?: (name: string) => string;
  /** Counts the broker's GitHub requests, rate-limit answers and spared requests (the Node metrics). */
  githubObserver?: GitHubObserver;
  /** Passed through to `createBroker` (`fetch` there is the upstream Vercel fetch). */
  deps?: Pick<BrokerDeps, 'fetch' | 'fetchFor' | 'sha1Hex' | 'serverUrl'>;
}

export interface Composed {
  broker: Broker;
  keys: SigningKeys;
  store: ReplayStore;
  /** The store's URL, or `platform` for a store the platform provided. */
  storeUrl: string;
  jwksUrl: string;
  keySet: JWTVerifyGetKey;
}

const STORE_URL = /^(memory|rediss?(\+cluster|\+sentinel)?:\/\/.+)$/;

export async function composeBroker(options: ComposeOptions): Promise<Composed> {
  const { config, readEnv, previous } = options;
  const keys = await signingKeys(options);
  const storeUrl = options.store ? 'platform' : storeUrlOf(config, readEnv, options.instances);
  // Its key is a secret like the others: read before a store is opened, so a missing one stops
  // the start or the reload without leaving a new connection behind.
  const githubApp = githubAppFromConfig(config, readEnv, options.fetch ?? fetch, {
    // Told once per rate-limited period: the requests it spares are counted, not logged one by one.
    onRateLimited: ({ retryAfterSeconds, detail }) =>
      options.logger.log('warn', 'GitHub rate-limited the broker: no GitHub request until its wait is over', {
        retry_after_seconds: retryAfterSeconds,
        detail,
      }),
    ...(options.githubObserver ? { observe: options.githubObserver } : {}),
    ...(config.githubApp && options.secretSource
      ? { keySource: options.secretSource(config.githubApp.private_key_env) }
      : {}),
  });
  const store =
    options.store ??
    (previous?.storeUrl === storeUrl ? previous.store : openConfiguredStore(storeUrl, options));
  const keySet =
    previous?.jwksUrl === config.jwksUrl
      ? previous.keySet
      : (options.keySet?.(config.jwksUrl) ??
        createGitHubKeySet(config.jwksUrl, options.fetch ? { fetch: options.fetch } : {}));
  const broker = createBroker({
    ...options.deps,
    config,
    keys,
    verifyToken: createTokenVerifier({
      issuer: config.issuer,
      audience: config.audience,
      keySet,
      ...(options.crypto?.verifyRs256 ? { verifyRs256: options.crypto.verifyRs256 } : {}),
    }),
    replay: store,
    logger: options.logger,
    upstreamToken: readEnv,
    ...(githubApp ? { githubApp } : {}),
    ...(options.githubObserver ? { githubObserver: options.githubObserver } : {}),
  });
  return { broker, keys, store, storeUrl, jwksUrl: config.jwksUrl, keySet };
}

/** The keys named by `signing_key_env`; a reload never drops persistent keys for an ephemeral one. */
async function signingKeys(options: ComposeOptions): Promise<SigningKeys> {
  const { config, previous } = options;
  const value = options.readEnv(config.signingKeyEnv);
  if (value) return loadSigningKeys(value, config.signingKeyEnv, options.crypto?.hmacSha256);
  if (options.instances === 'fleet')
    throw new Error(
      `${config.signingKeyEnv} must be set: serverless instances cannot share an ephemeral key`,
    );
  if (previous && !previous.keys.ephemeral)
    throw new Error(
      `${config.signingKeyEnv} is empty; a reload must not drop the signing keys (every credential in flight would fail)`,
    );
  if (previous) return previous.keys;
  options.warn?.(
    `WARNING: ${config.signingKeyEnv} is not set; using an ephemeral signing key. Credentials stop working when this process restarts, and several instances cannot share them.`,
  );
  return loadSigningKeys(undefined, config.signingKeyEnv, options.crypto?.hmacSha256);
}

/** The store URL the config names (`replay_store_env` wins over `replay_store`), checked. */
function storeUrlOf(config: CompiledConfig, readEnv: SecretReader, instances: 'fleet' | 'process'): string {
  const url = config.replayStoreEnv ? readEnv(config.replayStoreEnv) : config.replayStore;
  if (instances === 'fleet' && (!url || url === 'memory' || !STORE_URL.test(url)))
    throw new Error(
      `${config.replayStoreEnv ?? 'replay_store'} must name a shared store (rediss://user:password@host:port/db): serverless instances do not share memory`,
    );
  if (!url || !STORE_URL.test(url)) {
    const setting = config.replayStoreEnv ? `${config.replayStoreEnv} (replay_store_env)` : 'replay_store';
    throw new Error(
      `${setting} must hold memory, redis://…, rediss://…, redis+cluster://host1:port1,host2:port2 or redis+sentinel://host1:26379,host2:26379/mymaster (user, password and db in the URL), but it is ${url ? 'something else' : 'empty'}`,
    );
  }
  return url;
}

function openConfiguredStore(url: string, options: ComposeOptions): ReplayStore {
  if (!options.openStore) {
    const where = options.config.replayStoreEnv ?? 'replay_store';
    throw new Error(`this platform's entry cannot open ${where}; pass a shared store`);
  }
  return options.openStore(url);
}

export interface ServerlessEnv {
  /** The YAML config file's text. */
  KEYHOLE_CONFIG: string;
  [name: string]: string | undefined;
}

export interface ServerlessOptions {
  /** A store shared by every instance that the platform provides (a Durable Object namespace). */
  replay?: ReplayStore;
  /** Opens the store the config names (Redis over `rediss://` on Vercel Functions); used without `replay`. */
  openStore?: (url: string) => ReplayStore;
  log?: (line: string) => void;
  fetch?: typeof fetch;
  /** The platform's synchronous crypto, where it has one (Vercel's Node.js runtime). */
  crypto?: ComposeOptions['crypto'];
}

/** The broker of one serverless isolate: the config and secrets come from its environment bindings. */
export async function createBrokerFromEnv(env: ServerlessEnv, options: ServerlessOptions): Promise<Broker> {
  const { config } = parseConfig(env.KEYHOLE_CONFIG, 'KEYHOLE_CONFIG');
  const composed = await composeBroker({
    config,
    readEnv: (name) => env[name],
    logger: createLogger(options.log ?? ((line) => console.log(line))),
    instances: 'fleet',
    ...(options.replay ? { store: options.replay } : {}),
    ...(options.openStore ? { openStore: options.openStore } : {}),
    ...(options.fetch ? { fetch: options.fetch, deps: { fetch: options.fetch } } : {}),
    ...(options.crypto ? { crypto: options.crypto } : {}),
  });
  return composed.broker;
}
