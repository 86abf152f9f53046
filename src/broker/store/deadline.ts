/**
 * A deadline around every call of a store, whatever the call: node-redis holds commands while a
 * Sentinel or Cluster fails over (seconds, with `isReady` still true), and a caller told nothing
 * for that long would hold a request open. Past the deadline the call rejects, the request answers
 * 503 with Retry-After, and the action retries. Wrapping the interface, not each command, keeps
 * the bound on methods added later (a Lua script replacing several calls).
 */
import type { ReplayStore } from './store.js';

export class StoreDeadlineError extends Error {
  constructor(operation: string, ms: number) {
    super(`the replay store did not answer ${operation} within ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

/** `store` with every method bounded to `ms` (close excepted: shutdown bounds it itself). */
export function withDeadline<S extends ReplayStore>(store: S, ms: number): S {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function' || property === 'close' || property === 'constructor') return value;
      return (...args: unknown[]) => {
        const result = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (!(result instanceof Promise)) return result;
        return new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new StoreDeadlineError(String(property), ms)), ms);
          result.then(
            (answer) => (clearTimeout(timer), resolve(answer)),
            (error: unknown) => (clearTimeout(timer), reject(error)),
          );
        });
      };
    },
  });
}
