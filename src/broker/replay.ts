/**
 * What broker instances share: one-time reservations (OIDC `jti`s, in-flight creates) and small
 * records with expiry (what each credential created). Memory for one instance, Redis for several.
 */

export interface ReplayStore {
  /** Atomically reserves `key` for `ttlMs`; true for the first caller, false while it is held. */
  reserve(key: string, ttlMs: number): Promise<boolean>;
  /** Gives a reservation back early (a create that failed may be tried again). */
  release(key: string): Promise<void>;
  get(key: string): Promise<string | undefined>;
  put(key: string, value: string, ttlMs: number): Promise<void>;
  /**
   * Atomically adds `amount` to the counter at `key` when the sum stays within `limit`, and returns
   * the new value; returns undefined and adds nothing when it would not. A new counter expires
   * `ttlMs` after it was created. A negative `amount` gives back what was taken (quotas refunded
   * after a refused upstream call). One primitive for quotas, job limits and rate windows, so every
   * store gives the same guarantee across instances.
   */
  take(key: string, amount: number, limit: number, ttlMs: number): Promise<number | undefined>;
  /** Readiness: resolves when the store answers (a Redis PING); absent for stores that always do. */
  ping?(): Promise<void>;
  close?(): Promise<void>;
}

/**
 * In-memory store for a single broker instance. Bounded: when full it evicts expired keys and,
 * failing that, refuses new reservations (fails closed) rather than forgetting a live one.
 * Counters (`take`) live in their own map with their own bound, so no number of rate windows or
 * quotas can crowd out a `jti` reservation, and no reservation can block a counter.
 */
export class MemoryReplayStore implements ReplayStore {
  private readonly entries = new Map<string, { expiry: number; value: string }>();
  private readonly counters = new Map<string, { expiry: number; value: string }>();
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(options: { maxEntries?: number; now?: () => number } = {}) {
    this.maxEntries = options.maxEntries ?? 100_000;
    this.now = options.now ?? Date.now;
  }

  async reserve(key: string, ttlMs: number): Promise<boolean> {
    if (this.live(key) !== undefined) return false;
    this.set(this.entries, key, '1', ttlMs);
    return true;
  }

  async release(key: string): Promise<void> {
    this.entries.delete(key);
  }

  async get(key: string): Promise<string | undefined> {
    return this.live(key);
  }

  async put(key: string, value: string, ttlMs: number): Promise<void> {
    this.set(this.entries, key, value, ttlMs);
  }

  async take(key: string, amount: number, limit: number, ttlMs: number): Promise<number | undefined> {
    const entry = this.counters.get(key);
    const live = entry && entry.expiry > this.now() ? entry : undefined;
    const next = Number(live?.value ?? 0) + amount;
    if (next > limit) return undefined;
    if (live) live.value = String(next);
    else this.set(this.counters, key, String(next), ttlMs);
    return next;
  }

  /** Reservations and records held (counters not included). */
  get size(): number {
    return this.entries.size;
  }

  private live(key: string): string | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiry > this.now()) return entry.value;
    this.entries.delete(key);
    return undefined;
  }

  private set(
    map: Map<string, { expiry: number; value: string }>,
    key: string,
    value: string,
    ttlMs: number,
  ): void {
    const now = this.now();
    if (!map.has(key) && map.size >= this.maxEntries) {
      for (const [k, e] of map) if (e.expiry <= now) map.delete(k);
      if (map.size >= this.maxEntries) {
        throw new Error('replay store is full; refusing to accept what it could not remember');
      }
    }
    map.set(key, { expiry: now + ttlMs, value });
  }
}
