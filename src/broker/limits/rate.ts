/**
 * Exchanges per minute per repository owner (docs/threat-model.md, "Availability"): no outsider and
 * no one owner takes the exchange capacity every other deploy needs.
 */
import { tooMany, type BrokerError } from '../errors.js';
import { MemoryReplayStore } from '../store/memory.js';
import { storeKeys, type CounterStep } from '../store/store.js';

const RATE_WINDOW_MS = 60_000;

type RateConfig = { limits: { exchange_rate_per_owner: number } };

export interface ExchangeRateLimit {
  /**
   * The owner's window in the shared store (every instance sees one budget), for the exchange's
   * store step to take with the token's reservation; and the refusal when it is spent.
   */
  window(config: RateConfig, owner: string): { step: CounterStep; refusal: () => BrokerError };
  /** An outsider's exchange, counted in a local store; throws 429 past the limit. */
  outsider(config: RateConfig, owner: string): Promise<void>;
}

/**
 * Exchanges per minute per `repository_owner_id`, in fixed one-minute windows taken with the
 * store's atomic `take`. Owners the policy names count in the shared store; outsiders count in a
 * small local store of their own, so no number of outsider owners can fill the shared store, and a
 * full local store only refuses outsiders.
 */
export function createExchangeRateLimit(now: () => number): ExchangeRateLimit {
  const outsiders = new MemoryReplayStore({ maxEntries: 10_000, now });
  const window = (config: RateConfig, owner: string) => {
    const minute = Math.floor(now() / RATE_WINDOW_MS);
    const retryAfter = Math.ceil(((minute + 1) * RATE_WINDOW_MS - now()) / 1000);
    const limit = config.limits.exchange_rate_per_owner;
    return {
      step: { key: storeKeys.exchangeRate(owner, minute), limit, ttlMs: RATE_WINDOW_MS * 2 },
      refusal: () =>
        tooMany(
          `repository owner ${owner} has made ${limit} exchanges this minute, the broker's limit; retry after ${retryAfter} s`,
          retryAfter,
        ),
    };
  };
  return {
    window,
    async outsider(config, owner) {
      const { step, refusal } = window(config, owner);
      const taken = await outsiders.take(step.key, 1, step.limit, step.ttlMs).catch(() => undefined);
      if (taken === undefined) throw refusal();
    },
  };
}
