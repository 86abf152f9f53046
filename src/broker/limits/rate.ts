/**
 * Exchanges per minute per repository owner (docs/threat-model.md, "Availability"): no outsider and
 * no one owner takes the exchange capacity every other deploy needs.
 */
import { tooMany } from '../errors.js';
import { MemoryReplayStore } from '../store/memory.js';
import { storeKeys, type ReplayStore } from '../store/store.js';

const RATE_WINDOW_MS = 60_000;

/**
 * Exchanges per minute per `repository_owner_id`, in fixed one-minute windows taken with the
 * store's atomic `take`. Owners the policy names count in the shared store (every instance sees
 * one budget); outsiders count in a small local store of their own, so no number of outsider
 * owners can fill the shared store, and a full local store only refuses outsiders.
 */
export function createExchangeRateLimit(shared: ReplayStore, now: () => number) {
  const outsiders = new MemoryReplayStore({ maxEntries: 10_000, now });
  return async function limitExchange(
    config: { limits: { exchange_rate_per_owner: number } },
    owner: string,
    insider: boolean,
  ) {
    const window = Math.floor(now() / RATE_WINDOW_MS);
    const retryAfter = Math.ceil(((window + 1) * RATE_WINDOW_MS - now()) / 1000);
    const limit = config.limits.exchange_rate_per_owner;
    const store = insider ? shared : outsiders;
    let taken: number | undefined;
    try {
      taken = await store.take(storeKeys.exchangeRate(owner, window), 1, limit, RATE_WINDOW_MS * 2);
    } catch (error) {
      if (insider) throw error;
      taken = undefined;
    }
    if (taken === undefined) {
      throw tooMany(
        `repository owner ${owner} has made ${limit} exchanges this minute, the broker's limit; retry after ${retryAfter} s`,
        retryAfter,
      );
    }
  };
}
