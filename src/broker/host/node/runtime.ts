/**
 * `serve`'s moving parts: the store, the issuer's key set, metrics and the broker built from the
 * config in force, plus SIGHUP reload. A reload reads the config file and the secrets again and
 * swaps in a new broker for new requests; if anything is wrong the old one keeps serving.
 */
import { createHash, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import type { Logger } from '../../audit.js';
import type { UpstreamFetch } from '../../gateway/forward.js';
import { createGitHubKeySet } from '../../oidc/verify.js';
import type { CompiledConfig } from '../../policy/compiled.js';
import { parseConfig } from '../../policy/config.js';
import { ConfigError, formatIssue } from '../../policy/yaml-file.js';
import { deferredStore } from '../../store/deferred.js';
import { openStore } from '../../store/open.js';
import { redactRedisUrl } from '../../store/redis-urls.js';
import type { ReplayStore } from '../../store/store.js';
import { composeBroker, type Composed } from '../compose.js';
import { createPooledFetch, keySetFetch as nodeKeySetFetch, nodeFetch } from './fetch.js';
import { createMetrics, type BrokerMetrics } from './metrics.js';
import { hmacSha256, verifyRs256 } from './crypto.js';
import { withOperations, type OperatedBroker } from './ops.js';

/** How long the last good key set keeps verifying while the issuer is unreachable (keys.ts default). */
const MAX_KEY_SET_STALE_MS = 6 * 3600_000;
/** A store replaced by a reload is closed after requests that hold it have had time to finish. */
const OLD_STORE_GRACE_MS = 30_000;

export interface RuntimeOptions {
  configPath: string;
  /** The config as `serve` already loaded and reported it. */
  config: CompiledConfig;
  env: NodeJS.ProcessEnv;
  /** A dotenv file read at start and at every reload; its values win over the process environment. */
  envFile?: string;
  logger: Logger;
  stderr: (line: string) => void;
  serverUrl: string;
}

export interface Runtime {
  /** The broker to serve: always the one of the config in force, with /readyz and /metrics. */
  broker: OperatedBroker;
  /** A secret by name, as the config in force reads it (env file, environment, `<NAME>_FILE`). */
  readEnv(name: string): string | undefined;
  /** Re-reads the config file and secrets; true when the new config is in force. */
  reload(): Promise<boolean>;
  close(): Promise<void>;
}

interface Generation extends Composed {
  config: CompiledConfig;
  readEnv: (name: string) => string | undefined;
  /** Upstream connection pools, one per project (`limits.upstream_sockets_per_project` sockets each). */
  pools: { size: number; fetchFor: (project: string) => UpstreamFetch };
}

/**
 * Secrets by name: the env file, then the process environment, then `<NAME>_FILE` (a path whose
 * content is the value: Kubernetes Secret volumes, Docker and systemd credentials). Read once per
 * generation, so a rotated file applies at the next reload and never half-way through one.
 */
export function createEnvReader(env: NodeJS.ProcessEnv, envFile: string | undefined) {
  const fromFile = envFile ? parseEnv(readFileSync(envFile, 'utf8')) : {};
  const cache = new Map<string, string | undefined>();
  return (name: string): string | undefined => {
    if (cache.has(name)) return cache.get(name);
    let value = fromFile[name] ?? env[name];
    const path = fromFile[`${name}_FILE`] ?? env[`${name}_FILE`];
    if ((value === undefined || value === '') && path) {
      try {
        value = readFileSync(path, 'utf8').trim();
      } catch (error) {
        throw new Error(
          `${name}_FILE names ${path}, which cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
        );
      }
    }
    cache.set(name, value);
    return value;
  };
}

/** Where `createEnvReader` finds a secret, for errors: `NAME_FILE (path)`, `NAME in FILE`, or `NAME`. */
export function secretSource(env: NodeJS.ProcessEnv, envFile: string | undefined, name: string): string {
  const fromFile = envFile ? parseEnv(readFileSync(envFile, 'utf8')) : {};
  if (fromFile[name]) return `${name} in ${envFile}`;
  if (env[name]) return name;
  const path = fromFile[`${name}_FILE`] ?? env[`${name}_FILE`];
  return path ? `${name}_FILE (${path})` : name;
}

/**
 * The GitHub App key in force, by the fingerprint GitHub shows next to each key in the App's
 * settings (SHA-256 of the public key): a reload's log line says which key signs from now on.
 */
function githubAppKeyFingerprint(generation: Generation): string | undefined {
  const name = generation.config.githubApp?.private_key_env;
  const pem = name ? generation.readEnv(name) : undefined;
  if (!pem) return undefined;
  let der: Buffer;
  try {
    der = createPublicKey(pem.replace(/\\n/g, '\n')).export({ type: 'spki', format: 'der' });
  } catch (error) {
    // Refused here, a corrupt key file stops the start or the reload instead of every exchange.
    throw new Error(
      `github_app.private_key_env: ${name} is not a readable private key (${(error as Error).message})`,
    );
  }
  return `SHA256:${createHash('sha256').update(der).digest('base64')}`;
}

/**
 * Builds a generation from a config: what every generation of the process shares (metrics, the
 * upstream socket pools, the issuer-keys fetch) is made once here; `compose.ts` does the rest.
 */
function createGenerations(options: RuntimeOptions, metrics: BrokerMetrics) {
  const { logger } = options;
  const auditLogger = metrics.instrumentLogger(logger);
  const upstreamFetch = metrics.instrumentFetch(nodeFetch);
  const keySetFetch = metrics.instrumentKeySetFetch(nodeKeySetFetch);
  const instrumentedPools = (size: number) => {
    const pooled = createPooledFetch(size);
    const timed = new Map<string, UpstreamFetch>();
    return (project: string) => {
      let fetcher = timed.get(project);
      if (!fetcher) timed.set(project, (fetcher = metrics.instrumentFetch(pooled(project))));
      return fetcher;
    };
  };
  let lastStaleLog = 0;

  const keySetFor = (jwksUrl: string) =>
    createGitHubKeySet(jwksUrl, {
      fetch: keySetFetch,
      onStale: (ageMs, reason) => {
        metrics.staleKeySetUsed();
        if (Date.now() - lastStaleLog < 60_000) return;
        lastStaleLog = Date.now();
        logger.log('warn', 'issuer keys unreachable; verifying with the last good set', {
          age_seconds: Math.round(ageMs / 1000),
          reason,
        });
      },
    });

  async function build(config: CompiledConfig, previous?: Generation): Promise<Generation> {
    const readEnv = createEnvReader(options.env, options.envFile);
    const size = config.limits.upstream_sockets_per_project;
    const pools =
      previous && previous.pools.size === size ? previous.pools : { size, fetchFor: instrumentedPools(size) };
    const composed = await composeBroker({
      config,
      readEnv,
      logger: auditLogger,
      instances: 'process',
      openStore: (url) =>
        metrics.instrumentStore(
          openStore(url, {
            maxEntries: config.limits.replay_store_max_entries,
            log: (level, msg, fields) => logger.log(level, msg, fields),
            // node-redis is loaded only by a config that names Redis (store/deferred.ts).
            redis: (redisUrl, redisOptions) =>
              deferredStore(
                import('../../store/redis.js').then(
                  ({ RedisReplayStore }) => new RedisReplayStore(redisUrl, redisOptions),
                ),
              ),
          }),
        ),
      keySet: keySetFor,
      warn: options.stderr,
      githubObserver: metrics.github,
      secretSource: (name) => secretSource(options.env, options.envFile, name),
      crypto: { verifyRs256, hmacSha256 },
      ...(previous ? { previous } : {}),
      deps: {
        fetch: upstreamFetch,
        fetchFor: pools.fetchFor,
        sha1Hex: (pieces) => {
          const hash = createHash('sha1');
          for (const piece of pieces) hash.update(piece);
          return hash.digest('hex');
        },
        serverUrl: options.serverUrl,
      },
    });
    return { ...composed, config, readEnv, pools };
  }

  return { build, keySetFetch };
}

/** The issuer's keys were fetched within the stale bound, or can be fetched now. */
async function checkIssuerKeys(jwksUrl: string, metrics: BrokerMetrics, keySetFetch: typeof fetch) {
  const at = metrics.keySetLoadedAt();
  if (at !== undefined && Date.now() - at <= MAX_KEY_SET_STALE_MS) return;
  const response = await keySetFetch(jwksUrl, { signal: AbortSignal.timeout(2_500) }).catch(
    (error: unknown) => {
      // undici says only "fetch failed"; the reason an operator can act on (ECONNREFUSED, ENOTFOUND,
      // a certificate error) is its cause.
      const cause = (error as Error).cause as { code?: string; message?: string } | undefined;
      const why = cause?.code ?? cause?.message;
      throw new Error(`cannot fetch ${jwksUrl}: ${(error as Error).message}${why ? ` (${why})` : ''}`);
    },
  );
  const body = (await response.json().catch(() => undefined)) as { keys?: unknown } | undefined;
  if (!response.ok || !Array.isArray(body?.keys)) {
    throw new Error(`${jwksUrl} answered ${response.status} without a key set`);
  }
}

export async function startRuntime(options: RuntimeOptions): Promise<Runtime> {
  const { logger } = options;
  const metrics: BrokerMetrics = createMetrics();
  const { build, keySetFetch } = createGenerations(options, metrics);
  const retired: ReplayStore[] = [];

  let current = await build(options.config);
  logStore(current);

  function logStore(generation: Generation) {
    logger.log('info', 'replay store', {
      store: generation.storeUrl === 'memory' ? 'memory' : redactRedisUrl(generation.storeUrl),
      signing_keys: generation.keys.keys.map((k) => k.kid),
      ...githubAppKeyField(generation),
    });
  }

  /** The log field naming the App key in force, when there is an app. */
  function githubAppKeyField(generation: Generation): { github_app_key?: string } {
    const fingerprint = githubAppKeyFingerprint(generation);
    return fingerprint ? { github_app_key: fingerprint } : {};
  }

  const broker = withOperations(() => current.broker, {
    metrics,
    metricsToken: () =>
      current.config.metricsTokenEnv ? current.readEnv(current.config.metricsTokenEnv) : undefined,
    readiness: [
      {
        name: 'replay_store',
        check: async () => {
          await current.store.ping?.();
        },
      },
      { name: 'issuer_keys', check: () => checkIssuerKeys(current.jwksUrl, metrics, keySetFetch) },
    ],
  });

  // One line at start when the issuer's keys cannot be fetched: exchanges answer 503 until they can,
  // and /readyz carries the same cause.
  void checkIssuerKeys(current.jwksUrl, metrics, keySetFetch).catch((error: unknown) =>
    logger.log('warn', 'issuer keys unreachable at start; exchanges answer 503 until they can be fetched', {
      cause: (error as Error).message,
    }),
  );

  let reloading: Promise<boolean> = Promise.resolve(true);
  async function reload(): Promise<boolean> {
    let config: CompiledConfig;
    try {
      const text = readFileSync(options.configPath, 'utf8');
      const loaded = parseConfig(text, options.configPath);
      for (const w of loaded.warnings)
        logger.log('warn', `policy: ${formatIssue(options.configPath, w, 'warning')}`);
      config = loaded.config;
      const next = await build(config, current);
      const appKey = githubAppKeyField(next);
      const replaced = current;
      current = next;
      if (replaced.store !== next.store) {
        retired.push(replaced.store);
        setTimeout(() => {
          retired.splice(retired.indexOf(replaced.store), 1);
          void replaced.store.close?.();
        }, OLD_STORE_GRACE_MS).unref();
      }
      metrics.configReloaded('ok');
      logger.log('info', 'config reloaded', {
        file: options.configPath,
        projects: [...config.projects.keys()],
        signing_keys: next.keys.keys.map((k) => k.kid),
        ...appKey,
      });
      return true;
    } catch (error) {
      metrics.configReloaded('refused');
      logger.log('error', 'config reload refused; the running config stays in force', {
        file: options.configPath,
        errors:
          error instanceof ConfigError
            ? error.issues.map((i) => formatIssue(options.configPath, i, 'error'))
            : [error instanceof Error ? error.message : String(error)],
      });
      return false;
    }
  }

  return {
    broker,
    readEnv: (name) => current.readEnv(name),
    // Reloads run one at a time: two SIGHUPs in a row apply in order.
    reload: () => (reloading = reloading.then(reload)),
    close: async () => {
      await reloading;
      await Promise.all([current.store, ...retired].map((s) => s.close?.()));
    },
  };
}
