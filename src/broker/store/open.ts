/**
 * The one factory from a store URL to a store, for the runtimes that can open one (Node, Vercel
 * Functions): `memory`, `redis://`, `rediss://`, `redis+cluster://` or `redis+sentinel://`. Workers bring their own
 * (a Durable Object namespace) and never load this module. The Redis store comes from the host
 * (`redis`): the Node process loads node-redis only when its config names Redis (deferred.ts).
 */
import type { Logger } from '../audit.js';
import { withDeadline } from './deadline.js';
import { MemoryReplayStore } from './memory.js';
import type { RedisStoreOptions } from './redis.js';
import { redactRedisUrl } from './redis-urls.js';
import type { ReplayStore } from './store.js';

export interface OpenStoreOptions {
  /** The memory store's capacity (`limits.replay_store_max_entries`). */
  maxEntries?: number;
  /** Where connection events go: an unreachable store is logged once a minute, its password redacted. */
  log: Logger['log'];
  /** Opens a Redis store (`new RedisReplayStore`, or one that loads it first). */
  redis: (url: string, options: RedisStoreOptions) => ReplayStore;
}

/** The longest one store call may take before the request answers 503 (a failover's gap). */
export const STORE_CALL_DEADLINE_MS = 3_000;

export function openStore(url: string, options: OpenStoreOptions): ReplayStore {
  if (url === 'memory')
    return new MemoryReplayStore(options.maxEntries === undefined ? {} : { maxEntries: options.maxEntries });
  // Each command is bounded at 2 s inside; the whole call (the wait for the first connection,
  // several commands, a failover's held command) at 3 s here, still under the action's patience.
  return withDeadline(
    options.redis(url, { onEvent: storeEventLog(options.log, url) }),
    STORE_CALL_DEADLINE_MS,
  );
}

/** How often, at most, an unreachable store is logged while the client keeps reconnecting. */
const UNREACHABLE_LOG_INTERVAL_MS = 60_000;

/**
 * The store's connection events as log lines, for every adapter (Node server, Vercel Function):
 * one line a minute while Redis is down (the client retries every ≤ 2 s), and one when it is back.
 */
export function storeEventLog(
  log: (level: 'info' | 'error', msg: string, fields: Record<string, unknown>) => void,
  url: string,
  now: () => number = Date.now,
): NonNullable<RedisStoreOptions['onEvent']> {
  const store = redactRedisUrl(url);
  let lastErrorLog = -Infinity;
  let down = false;
  return (event, detail) => {
    if (event === 'ready') {
      if (down) log('info', 'replay store reachable again', { store });
      down = false;
      return;
    }
    if (event !== 'error') return;
    down = true;
    if (now() - lastErrorLog < UNREACHABLE_LOG_INTERVAL_MS) return;
    lastErrorLog = now();
    log('error', 'replay store unreachable; exchanges and creates answer 503 until it returns', {
      store,
      reason: detail,
    });
  };
}
