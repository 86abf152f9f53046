/**
 * The one factory from a store URL to a store, for the runtimes that can open one (Node, Vercel
 * Functions): `memory`, `redis://`, `rediss://` or `redis+cluster://`. Workers bring their own
 * (a Durable Object namespace) and never load this module, nor node-redis with it.
 */
import type { Logger } from '../audit.js';
import { MemoryReplayStore } from './memory.js';
import { RedisReplayStore, storeEventLog } from './redis.js';
import type { ReplayStore } from './store.js';

export interface OpenStoreOptions {
  /** The memory store's capacity (`limits.replay_store_max_entries`). */
  maxEntries?: number;
  /** Where connection events go: an unreachable store is logged once a minute, its password redacted. */
  log: Logger['log'];
}

export function openStore(url: string, options: OpenStoreOptions): ReplayStore {
  if (url === 'memory')
    return new MemoryReplayStore(options.maxEntries === undefined ? {} : { maxEntries: options.maxEntries });
  return new RedisReplayStore(url, { onEvent: storeEventLog(options.log, url) });
}
