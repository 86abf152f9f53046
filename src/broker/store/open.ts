/**
 * The one factory from a store URL to a store, for the runtimes that can open one (Node, Vercel
 * Functions): `memory`, `redis://`, `rediss://`, `redis+cluster://` or `redis+sentinel://`. Workers bring their own
 * (a Durable Object namespace) and never load this module, nor node-redis with it.
 */
import type { Logger } from '../audit.js';
import { withDeadline } from './deadline.js';
import { MemoryReplayStore } from './memory.js';
import { RedisReplayStore, storeEventLog } from './redis.js';
import type { ReplayStore } from './store.js';

export interface OpenStoreOptions {
  /** The memory store's capacity (`limits.replay_store_max_entries`). */
  maxEntries?: number;
  /** Where connection events go: an unreachable store is logged once a minute, its password redacted. */
  log: Logger['log'];
}

/** The longest one store call may take before the request answers 503 (a failover's gap). */
export const STORE_CALL_DEADLINE_MS = 3_000;

export function openStore(url: string, options: OpenStoreOptions): ReplayStore {
  if (url === 'memory')
    return new MemoryReplayStore(options.maxEntries === undefined ? {} : { maxEntries: options.maxEntries });
  // Each command is bounded at 2 s inside; the whole call (the wait for the first connection,
  // several commands, a failover's held command) at 3 s here, still under the action's patience.
  return withDeadline(
    new RedisReplayStore(url, { onEvent: storeEventLog(options.log, url) }),
    STORE_CALL_DEADLINE_MS,
  );
}
