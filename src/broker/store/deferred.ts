/**
 * A store whose module is still loading: every call waits for it, then goes to it. The Node
 * process opens Redis through this, so node-redis (about 9 MB of the process's memory once
 * loaded) is loaded only by a config that names Redis; a broker on the memory store never pays it.
 * The load starts when the store is opened, as the connection did, so readiness is unchanged.
 */
import { runExchangeStep } from './exchange-step.js';
import type { ReplayStore } from './store.js';

export function deferredStore(loading: Promise<ReplayStore>): ReplayStore {
  // A load that fails (a broken install) fails each call, which answers 503 like an unreachable store.
  loading.catch(() => undefined);
  return {
    reserve: async (key, ttlMs) => (await loading).reserve(key, ttlMs),
    release: async (key) => (await loading).release(key),
    get: async (key) => (await loading).get(key),
    put: async (key, value, ttlMs) => (await loading).put(key, value, ttlMs),
    take: async (key, amount, limit, ttlMs) => (await loading).take(key, amount, limit, ttlMs),
    exchange: async (step) => runExchangeStep(await loading, step),
    ping: async () => (await loading).ping?.(),
    close: async () => (await loading.catch(() => undefined))?.close?.(),
  };
}
