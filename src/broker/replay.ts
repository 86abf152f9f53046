/** One-time reservations (OIDC `jti`s, job bindings): an atomic "first caller wins" with expiry. */

export interface ReplayStore {
  /** Atomically reserves `key` for `ttlMs`; true for the first caller, false while it is held. */
  reserve(key: string, ttlMs: number): Promise<boolean>;
  close?(): Promise<void>;
}

/**
 * In-memory store for a single broker instance. Bounded: when full it evicts expired keys and,
 * failing that, refuses new reservations (fails closed) rather than forgetting a live one.
 */
export class MemoryReplayStore implements ReplayStore {
  private readonly entries = new Map<string, number>();
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(options: { maxEntries?: number; now?: () => number } = {}) {
    this.maxEntries = options.maxEntries ?? 100_000;
    this.now = options.now ?? Date.now;
  }

  async reserve(key: string, ttlMs: number): Promise<boolean> {
    const now = this.now();
    const expiry = this.entries.get(key);
    if (expiry !== undefined && expiry > now) return false;
    if (this.entries.size >= this.maxEntries) this.sweep(now);
    if (this.entries.size >= this.maxEntries) {
      throw new Error('replay store is full; refusing to accept tokens it could not remember');
    }
    this.entries.set(key, now + ttlMs);
    return true;
  }

  get size(): number {
    return this.entries.size;
  }

  private sweep(now: number): void {
    for (const [key, expiry] of this.entries) if (expiry <= now) this.entries.delete(key);
  }
}
