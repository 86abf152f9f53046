/**
 * The shared store on Redis (or Valkey, which speaks the same protocol), for several broker
 * instances, through node-redis (`@redis/client`): one server, a Cluster, or a Sentinel group. `SET key 1 NX PX ttl` is the atomic reservation,
 * records are plain `SET … PX` / `GET`, `take` is one Lua script. While Redis is unreachable every
 * command rejects at once (no offline queue) and the caller fails closed (503); the client
 * reconnects with backoff in the background and the broker recovers by itself.
 */
import { createClient, createCluster, createSentinel } from '@redis/client';
import { composeExchangeStep } from './exchange-step.js';
import { parseClusterUrl, parseSentinelUrl, type SentinelGroup } from './redis-urls.js';
import { exchange, exchangeOutcome, take, ttl } from './redis-scripts.js';
import type { ExchangeOutcome, ExchangeStep, ReplayStore } from './store.js';

export { parseClusterUrl, parseSentinelUrl, redactRedisUrl } from './redis-urls.js';
export { TAKE_SCRIPT, EXCHANGE_SCRIPT } from './redis-scripts.js';

export interface RedisStoreOptions {
  /** How long one command may take before it fails (and the request answers 503). */
  commandTimeoutMs?: number;
  /** How long a connection attempt may take. */
  connectTimeoutMs?: number;
  /** Called on connection errors and state changes; the message never carries the URL's password. */
  onEvent?: (event: 'error' | 'ready' | 'reconnecting', detail?: string) => void;
}

/** Exponential backoff from 50 ms to 2 s, with jitter so a fleet of brokers does not reconnect in step. */
export function reconnectDelay(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(50 * 2 ** attempt, 2_000);
  return Math.round(base / 2 + (random() * base) / 2);
}

/** The commands the store sends; a single-node client and a cluster client both have them. */
interface StoreClient {
  set(key: string, value: string, options: object): Promise<unknown>;
  get(key: string): Promise<string | null>;
  del(key: string): Promise<unknown>;
  take(key: string, amount: number, limit: number, ttlMs: number): Promise<string | number | null>;
  exchange(step: ExchangeStep): Promise<string[]>;
  connect(): Promise<unknown>;
  close(): Promise<unknown>;
  destroy(): void;
  readonly isReady: boolean;
  readonly isOpen: boolean;
  on(event: string, listener: (...args: never[]) => void): unknown;
  once(event: string, listener: () => void): unknown;
  /** The same client, its commands carrying `options` (an abort signal here). */
  withCommandOptions(options: { abortSignal: AbortSignal }): StoreClient;
}

/** The client of a Sentinel group: sentinels tell where the master is, and again after a failover. */
function sentinelClient(group: SentinelGroup, socket: object): StoreClient {
  const tls = group.tls ? { tls: true as const } : {};
  return createSentinel({
    name: group.name,
    sentinelRootNodes: group.nodes,
    nodeClientOptions: {
      ...(group.username ? { username: group.username } : {}),
      ...(group.password ? { password: group.password } : {}),
      database: group.database,
      disableOfflineQueue: true,
      socket: { ...socket, ...tls },
    },
    sentinelClientOptions: {
      ...(group.sentinelUsername ? { username: group.sentinelUsername } : {}),
      ...(group.sentinelPassword ? { password: group.sentinelPassword } : {}),
      socket: { ...socket, ...tls },
    },
    // node-redis leaves the periodic topology scan off by default: a promoted replica would be
    // found only when a command fails on the old master.
    scanInterval: 1_000,
    scripts: { take, exchange },
  }) as unknown as StoreClient;
}

export class RedisReplayStore implements ReplayStore {
  private readonly client: StoreClient;
  private readonly mode: 'single' | 'cluster' | 'sentinel';
  private closed = false;
  private lastError: string | undefined;
  private readonly connecting: Promise<unknown>;
  private firstConnection: Promise<void> | undefined;
  private readonly timeoutMs: number;
  /** Ends the reconnect loop's backoff wait early (close). */
  private wake: () => void = () => undefined;

  /**
   * `url`: `redis://[user[:password]@]host[:port][/db]`, or `rediss://` for TLS; `redis+cluster://`
   * seed nodes; `redis+sentinel://…/<master name>` (redis-urls.ts). TLS verifies the server against
   * Node's CA store, which includes the file named by `NODE_EXTRA_CA_CERTS` (read at process start).
   */
  constructor(url: string, options: RedisStoreOptions = {}) {
    const seeds = parseClusterUrl(url);
    const group = seeds ? undefined : parseSentinelUrl(url);
    const report = options.onEvent ?? (() => undefined);
    // The last connection error (WRONGPASS, ECONNREFUSED) is what /readyz reports, not the client's
    // "The client is offline"; a password the server echoes would be cut out here.
    const secret = URL.canParse(url) ? decodeURIComponent(new URL(url).password) : '';
    const onEvent: typeof report = (event, detail) => {
      if (event === 'ready') this.lastError = undefined;
      if (event === 'error' && detail) this.lastError = secret ? detail.split(secret).join('***') : detail;
      report(event, detail);
    };
    this.timeoutMs = options.commandTimeoutMs ?? 2_000;
    const socket = {
      connectTimeout: options.connectTimeoutMs ?? 2_000,
      reconnectStrategy: (attempt: number) => reconnectDelay(attempt),
    };
    // Fail closed fast: a command sent while disconnected is refused now, not queued until Redis
    // returns (a queued reservation could land long after the caller was told 503).
    const common = { disableOfflineQueue: true };
    this.mode = seeds ? 'cluster' : group ? 'sentinel' : 'single';
    if (seeds) {
      // Every key the store touches is one key per command (and `take` reads and writes KEYS[1]
      // only), so each command lives in one hash slot and nothing needs a hash tag.
      const tls = seeds.tls ? { tls: true as const } : {};
      this.client = createCluster({
        rootNodes: seeds.nodes.map((node) => ({ socket: { ...node, ...tls } })),
        // Discovered nodes get only `defaults`: credentials and TLS must be here, not in rootNodes.
        defaults: {
          ...(seeds.username ? { username: seeds.username } : {}),
          ...(seeds.password ? { password: seeds.password } : {}),
          disableOfflineQueue: true,
          socket: { ...socket, ...tls },
        },
        scripts: { take },
        // A dead master answers no MOVED: the slot map is refreshed when a node's reconnection
        // starts, 5 s later by default. 300 ms finds a promoted replica in about 2.4 s instead.
        topologyRefreshOnReconnectionAttemptStrategy: 300,
      }) as unknown as StoreClient;
      this.client.on('error', (error: Error) => onEvent('error', error.message));
      this.client.on('node-error', (error: Error) => onEvent('error', error.message));
      this.client.on('connect', () => onEvent('ready'));
      this.client.on('node-ready', () => onEvent('ready'));
      this.client.on('node-reconnecting', () => onEvent('reconnecting'));
    } else if (group) {
      this.client = sentinelClient(group, socket);
      this.client.on('error', (error: Error | string) =>
        onEvent('error', String((error as Error).message ?? error)),
      );
      this.client.on('ready', () => onEvent('ready'));
      this.client.on('reconnecting', () => onEvent('reconnecting'));
    } else {
      const parsed = new URL(url);
      if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
        throw new Error(
          `the replay store URL must start with redis://, rediss://, redis+cluster://, rediss+cluster://, redis+sentinel:// or rediss+sentinel://, got ${parsed.protocol}//`,
        );
      }
      this.client = createClient({
        url,
        scripts: { take, exchange },
        ...common,
        socket,
      }) as unknown as StoreClient;
      // Without a listener node-redis would throw connection errors as uncaught exceptions.
      this.client.on('error', (error: Error) => onEvent('error', error.message));
      this.client.on('ready', () => onEvent('ready'));
      this.client.on('reconnecting', () => onEvent('reconnecting'));
    }
    // The broker starts even when Redis is down: the client keeps trying, commands fail until it is up.
    this.connecting =
      this.mode === 'single' ? this.client.connect().catch(() => undefined) : this.connectRetrying(onEvent);
    // Requests that arrive while the first connection is still being made wait for it (bounded);
    // after that, a disconnected store fails at once.
    this.firstConnection = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, options.connectTimeoutMs ?? 2_000);
      timer.unref();
      this.client.once(this.mode === 'cluster' ? 'connect' : 'ready', () => (clearTimeout(timer), resolve()));
    });
  }

  /**
   * A cluster or sentinel client that cannot reach any seed node gives up (unlike a single-node
   * client, which keeps reconnecting): try again with the same backoff until it connects or closes.
   */
  private async connectRetrying(onEvent: NonNullable<RedisStoreOptions['onEvent']>): Promise<void> {
    for (let attempt = 0; !this.closed; attempt++) {
      try {
        await this.client.connect();
        return;
      } catch (error) {
        onEvent('error', (error as Error).message);
        // Unref'd so it never holds the process open, and woken by close() so close never waits on
        // a timer that nothing else keeps alive (a SIGTERM would otherwise end on an unsettled await).
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, reconnectDelay(attempt));
          timer.unref();
          this.wake = () => (clearTimeout(timer), resolve());
        });
      }
    }
  }

  /**
   * Bounds one command to `timeoutMs`: past it the caller is refused, and a command node-redis has
   * not yet written is taken out of its queue (the abort signal), so it never lands after the
   * caller was told 503. A late reply to a command already written is matched and dropped.
   * node-redis's own `timeout` option would do the second part with an `AbortSignal.timeout` per
   * command, whose timer cannot be cleared and fires two seconds later for every command, each
   * building a DOMException (docs/benchmarks.md, "The second session of round 3").
   */
  private bounded<T>(command: (client: StoreClient) => Promise<T>): Promise<T> {
    const abort = new AbortController();
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        abort.abort();
        reject(
          Object.assign(new Error(`Redis did not answer within ${this.timeoutMs} ms`), {
            name: 'TimeoutError',
          }),
        );
      }, this.timeoutMs);
      command(this.client.withCommandOptions({ abortSignal: abort.signal })).then(
        (value) => (clearTimeout(timer), resolve(value)),
        (error: unknown) => (clearTimeout(timer), reject(error)),
      );
    });
  }

  private async connected(): Promise<void> {
    if (this.firstConnection) {
      await this.firstConnection;
      this.firstConnection = undefined;
    }
  }

  async reserve(key: string, ttlMs: number): Promise<boolean> {
    await this.connected();
    const reply = await this.bounded((client) =>
      client.set(`keyhole:${key}`, '1', {
        condition: 'NX',
        expiration: { type: 'PX', value: ttl(ttlMs) },
      }),
    );
    return reply === 'OK';
  }

  async release(key: string): Promise<void> {
    await this.connected();
    await this.bounded((client) => client.del(`keyhole:${key}`));
  }

  async get(key: string): Promise<string | undefined> {
    await this.connected();
    return (await this.bounded((client) => client.get(`keyhole:${key}`))) ?? undefined;
  }

  async put(key: string, value: string, ttlMs: number): Promise<void> {
    await this.connected();
    await this.bounded((client) =>
      client.set(`keyhole:${key}`, value, { expiration: { type: 'PX', value: ttl(ttlMs) } }),
    );
  }

  async take(key: string, amount: number, limit: number, ttlMs: number): Promise<number | undefined> {
    await this.connected();
    const reply = await this.bounded((client) =>
      client.take(`keyhole:${key}`, amount, Math.min(limit, Number.MAX_SAFE_INTEGER), ttl(ttlMs)),
    );
    return reply === null ? undefined : Number(reply);
  }

  /**
   * The exchange's step in one script, one round trip; on a Cluster its keys live in different
   * hash slots, so there it is composed from single-key commands (exchange-step.ts).
   */
  async exchange(step: ExchangeStep): Promise<ExchangeOutcome> {
    if (this.mode === 'cluster') return composeExchangeStep(this, step);
    await this.connected();
    return exchangeOutcome(await this.bounded((client) => client.exchange(step)));
  }

  /** Readiness: Redis answers a PING within the command timeout. */
  async ping(): Promise<void> {
    try {
      await this.connected();
      // A cluster has no single node to PING: a GET of a key no one writes asks the node owning its slot.
      await this.bounded((client) =>
        this.mode === 'cluster'
          ? client.get('keyhole:ping')
          : (client as unknown as { ping(): Promise<unknown> }).ping(),
      );
    } catch (error) {
      if (this.lastError === undefined) throw error;
      throw new Error(`${(error as Error).message}: ${this.lastError}`);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wake();
    // node-redis 6.3 ignores a destroy() during the first handshake and connects anyway: let the
    // first attempt finish (bounded by the connect timeout) before choosing how to close.
    await this.firstConnection;
    if (this.client.isReady) await this.client.close();
    else if (this.client.isOpen) this.client.destroy();
    await this.connecting;
  }
}
