/** The store of a single broker instance: bounded, and full means refusing, never forgetting. */
import type { ReplayStore } from './store.js';

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
