/**
 * The exchange's store work (rate window, token reservation, job slot and retry record) from the
 * store's primitives, for stores with no single operation for it: a Redis Cluster (the keys live in
 * different hash slots), the Durable Object store (each key is its own object) and test doubles.
 * Each primitive is atomic, and the outcomes and give-backs are those of the one-step versions.
 */
import type { ExchangeOutcome, ExchangeStep, ReplayStore } from './store.js';

/** `store.exchange(step)` where the store has it, else the same outcome from its primitives. */
export function runExchangeStep(store: ReplayStore, step: ExchangeStep): Promise<ExchangeOutcome> {
  return store.exchange ? store.exchange(step) : composeExchangeStep(store, step);
}

export async function composeExchangeStep(store: ReplayStore, step: ExchangeStep): Promise<ExchangeOutcome> {
  const { rate, token, job } = step;
  // The rate and the reservation are asked at once: one round trip instead of two in a row.
  const [taken, reserved] = await Promise.allSettled([
    rate ? store.take(rate.key, 1, rate.limit, rate.ttlMs) : Promise.resolve(0),
    token ? store.reserve(token.key, token.ttlMs) : Promise.resolve(true),
  ]);
  const refused = taken.status === 'fulfilled' && taken.value === undefined;
  if (refused || taken.status === 'rejected') {
    // Past the rate (or not knowing it) the token is not spent: it may be tried again.
    if (token && reserved.status === 'fulfilled' && reserved.value)
      await store.release(token.key).catch(() => undefined);
    if (taken.status === 'rejected') throw taken.reason;
    return { result: 'rate_limited' };
  }
  if (reserved.status === 'rejected') {
    // Not knowing whether the token is spent refuses it closed, and gives the rate back.
    if (rate) await store.take(rate.key, -1, rate.limit, rate.ttlMs).catch(() => undefined);
    throw reserved.reason;
  }
  if (!reserved.value) return { result: 'replayed' };
  if (!job) return { result: 'admitted' };
  const { slot, record } = job;
  if (record?.mode === 'find') {
    const previous = await store.get(record.key);
    if (previous !== undefined) return { result: 'retry', record: previous };
  }
  if ((await store.take(slot.key, 1, slot.limit, slot.ttlMs)) === undefined) return { result: 'job_limit' };
  if (record) {
    try {
      await store.put(record.key, record.value, record.ttlMs);
    } catch (error) {
      // Unrecorded, the credential is never answered: the job's slot is given back.
      await store.take(slot.key, -1, slot.limit, slot.ttlMs).catch(() => undefined);
      throw error;
    }
  }
  return { result: 'admitted' };
}
