/**
 * The shared store on Redis (or Valkey, which speaks the same protocol), for several broker
 * instances, through node-redis (`@redis/client`): `SET key 1 NX PX ttl` is the atomic reservation,
 * records are plain `SET … PX` / `GET`, `take` is one Lua script. While Redis is unreachable every
 * command rejects at once (no offline queue) and the caller fails closed (503); the client
 * reconnects with backoff in the background and the broker recovers by itself.
 */
import { createClient, defineScript, type RedisClientType } from '@redis/client';
import type { ReplayStore } from './replay.js';

/**
 * `take` as one Lua script: Redis runs it atomically, so two instances can never both pass a limit.
 * It reads and writes KEYS[1] only, so on a Redis Cluster it stays within one hash slot.
 */
export const TAKE_SCRIPT = `local next = (tonumber(redis.call('GET', KEYS[1])) or 0) + tonumber(ARGV[1])
if next > tonumber(ARGV[2]) then return false end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('SET', KEYS[1], next, 'KEEPTTL')
else redis.call('SET', KEYS[1], next, 'PX', ARGV[3]) end
return next`;

/** EVALSHA with the script's digest, falling back to EVAL once per connection (node-redis does it). */
const take = defineScript({
  SCRIPT: TAKE_SCRIPT,
  NUMBER_OF_KEYS: 1,
  parseCommand(parser, key: string, amount: number, limit: number, ttlMs: number) {
    parser.pushKey(key);
    parser.push(String(amount), String(limit), String(ttlMs));
  },
  transformReply: (reply: unknown) => reply as string | number | null,
});

export interface RedisStoreOptions {
  /** How long one command may take before it fails (and the request answers 503). */
  commandTimeoutMs?: number;
  /** How long a connection attempt may take. */
  connectTimeoutMs?: number;
  /** Called on connection errors and state changes; the message never carries the URL's password. */
  onEvent?: (event: 'error' | 'ready' | 'reconnecting', detail?: string) => void;
}

/** The URL with its password replaced, for log lines and error messages. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'an unparseable Redis URL';
  }
}

/** Exponential backoff from 50 ms to 2 s, with jitter so a fleet of brokers does not reconnect in step. */
export function reconnectDelay(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(50 * 2 ** attempt, 2_000);
  return Math.round(base / 2 + (random() * base) / 2);
}

const ttl = (ms: number) => Math.max(1, Math.ceil(ms));

export class RedisReplayStore implements ReplayStore {
  private readonly client: RedisClientType<
    Record<string, never>,
    Record<string, never>,
    { take: typeof take }
  >;
  private readonly connecting: Promise<unknown>;
  private firstConnection: Promise<void> | undefined;
  private readonly timeoutMs: number;

  /**
   * `url`: `redis://[user[:password]@]host[:port][/db]`, or `rediss://` for TLS. TLS verifies the
   * server against Node's CA store, which includes the file named by `NODE_EXTRA_CA_CERTS` (read by
   * Node at process start).
   */
  constructor(url: string, options: RedisStoreOptions = {}) {
    const parsed = new URL(url);
    if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
      throw new Error(`the replay store URL must start with redis:// or rediss://, got ${parsed.protocol}//`);
    }
    const onEvent = options.onEvent ?? (() => undefined);
    this.timeoutMs = options.commandTimeoutMs ?? 2_000;
    this.client = createClient({
      url,
      scripts: { take },
      // Fail closed fast: a command sent while disconnected is refused now, not queued until Redis
      // returns (a queued reservation could land long after the caller was told 503).
      disableOfflineQueue: true,
      commandOptions: { timeout: this.timeoutMs },
      socket: {
        connectTimeout: options.connectTimeoutMs ?? 2_000,
        reconnectStrategy: (attempt) => reconnectDelay(attempt),
      },
    });
    // Without a listener node-redis would throw connection errors as uncaught exceptions.
    this.client.on('error', (error: Error) => onEvent('error', error.message));
    this.client.on('ready', () => onEvent('ready'));
    this.client.on('reconnecting', () => onEvent('reconnecting'));
    // The broker starts even when Redis is down: the client keeps trying, commands fail until it is up.
    this.connecting = this.client.connect().catch(() => undefined);
    // Requests that arrive while the first connection is still being made wait for it (bounded);
    // after that, a disconnected store fails at once.
    this.firstConnection = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, options.connectTimeoutMs ?? 2_000);
      timer.unref();
      this.client.once('ready', () => (clearTimeout(timer), resolve()));
    });
  }

  /**
   * Bounds one command: node-redis's own `timeout` covers only the wait to be written, not the
   * wait for the reply. A late reply is still matched to its command by node-redis and dropped.
   */
  private bounded<T>(command: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            Object.assign(new Error(`Redis did not answer within ${this.timeoutMs} ms`), {
              name: 'TimeoutError',
            }),
          ),
        this.timeoutMs,
      );
      command().then(
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
    const reply = await this.bounded(() =>
      this.client.set(`keyhole:${key}`, '1', {
        condition: 'NX',
        expiration: { type: 'PX', value: ttl(ttlMs) },
      }),
    );
    return reply === 'OK';
  }

  async release(key: string): Promise<void> {
    await this.connected();
    await this.bounded(() => this.client.del(`keyhole:${key}`));
  }

  async get(key: string): Promise<string | undefined> {
    await this.connected();
    return (await this.bounded(() => this.client.get(`keyhole:${key}`))) ?? undefined;
  }

  async put(key: string, value: string, ttlMs: number): Promise<void> {
    await this.connected();
    await this.bounded(() =>
      this.client.set(`keyhole:${key}`, value, { expiration: { type: 'PX', value: ttl(ttlMs) } }),
    );
  }

  async take(key: string, amount: number, limit: number, ttlMs: number): Promise<number | undefined> {
    await this.connected();
    const reply = await this.bounded(() =>
      this.client.take(`keyhole:${key}`, amount, Math.min(limit, Number.MAX_SAFE_INTEGER), ttl(ttlMs)),
    );
    return reply === null ? undefined : Number(reply);
  }

  /** Readiness: Redis answers a PING within the command timeout. */
  async ping(): Promise<void> {
    await this.connected();
    await this.bounded(() => this.client.ping());
  }

  async close(): Promise<void> {
    // node-redis 6.3 ignores a destroy() during the first handshake and connects anyway: let the
    // first attempt finish (bounded by the connect timeout) before choosing how to close.
    await this.firstConnection;
    if (this.client.isReady) await this.client.close();
    else if (this.client.isOpen) this.client.destroy();
    await this.connecting;
  }
}
