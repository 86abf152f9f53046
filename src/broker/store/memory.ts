/** The store of a single broker instance: bounded, and full means refusing, never forgetting. */
import type { CounterStep, ExchangeOutcome, ExchangeStep, ReplayStore } from './store.js';

type Entries = Map<string, { expiry: number; value: string }>;

/**
 * In-memory store for a single broker instance. Bounded: when full it evicts expired keys and,
 * failing that, refuses new reservations (fails closed) rather than forgetting a live one.
 * Counters (`take`) live in their own map with their own bound, so no number of rate windows or
 * quotas can crowd out a `jti` reservation, and no reservation can block a counter. Every method
 * runs to its end without awaiting, so each (the exchange's several steps included) is atomic.
 */
export class MemoryReplayStore implements ReplayStore {
  private readonly entries: Entries = new Map();
  private readonly counters: Entries = new Map();
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(options: { maxEntries?: number; now?: () => number } = {}) {
    this.maxEntries = options.maxEntries ?? 100_000;
    this.now = options.now ?? Date.now;
  }

  async reserve(key: string, ttlMs: number): Promise<boolean> {
    return this.reserveNow(key, ttlMs);
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
    return this.takeNow(key, amount, limit, ttlMs);
  }

  /** The exchange's steps in order, with nothing in between (store/exchange-step.ts has the rules). */
  async exchange({ rate, token, job }: ExchangeStep): Promise<ExchangeOutcome> {
    if (rate && this.takeNow(rate.key, 1, rate.limit, rate.ttlMs) === undefined)
      return { result: 'rate_limited' };
    try {
      if (token && !this.reserveNow(token.key, token.ttlMs)) return { result: 'replayed' };
    } catch (error) {
      // Full: the token is refused closed, and the rate it would have spent is not spent.
      if (rate) this.give(rate);
      throw error;
    }
    if (!job) return { result: 'admitted' };
    const { slot, record } = job;
    const previous = record?.mode === 'find' ? this.live(record.key) : undefined;
    if (previous !== undefined) return { result: 'retry', record: previous };
    if (this.takeNow(slot.key, 1, slot.limit, slot.ttlMs) === undefined) return { result: 'job_limit' };
    if (record) {
      try {
        this.set(this.entries, record.key, record.value, record.ttlMs);
      } catch (error) {
        this.give(slot);
        throw error;
      }
    }
    return { result: 'admitted' };
  }

  /** Reservations and records held (counters not included). */
  get size(): number {
    return this.entries.size;
  }

  private reserveNow(key: string, ttlMs: number): boolean {
    if (this.live(key) !== undefined) return false;
    this.set(this.entries, key, '1', ttlMs);
    return true;
  }

  private takeNow(key: string, amount: number, limit: number, ttlMs: number): number | undefined {
    const entry = this.counters.get(key);
    const live = entry && entry.expiry > this.now() ? entry : undefined;
    const next = Number(live?.value ?? 0) + amount;
    if (next > limit) return undefined;
    if (live) live.value = String(next);
    else this.set(this.counters, key, String(next), ttlMs);
    return next;
  }

  private give(counter: CounterStep): void {
    this.takeNow(counter.key, -1, counter.limit, counter.ttlMs);
  }

  private live(key: string): string | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiry > this.now()) return entry.value;
    this.entries.delete(key);
    return undefined;
  }

  private set(map: Entries, key: string, value: string, ttlMs: number): void {
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
