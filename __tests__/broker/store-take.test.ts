// `take`, the counter primitive behind quotas, job limits and rate windows: the memory store's semantics.
import { MemoryReplayStore } from '../../src/broker/store/memory.js';

test('take adds within the limit, refuses past it without adding, and gives back', async () => {
  let now = 1_000;
  const store = new MemoryReplayStore({ now: () => now });
  expect(await store.take('q', 2, 5, 60_000)).toBe(2);
  expect(await store.take('q', 3, 5, 60_000)).toBe(5);
  expect(await store.take('q', 1, 5, 60_000)).toBeUndefined();
  expect(await store.take('q', -2, 5, 60_000)).toBe(3);
  expect(await store.take('q', 2, 5, 60_000)).toBe(5);
  now += 60_001;
  expect(await store.take('q', 1, 5, 60_000)).toBe(1);
});

test('concurrent takes never pass the limit', async () => {
  const store = new MemoryReplayStore();
  const results = await Promise.all(Array.from({ length: 25 }, () => store.take('d', 1, 5, 60_000)));
  expect(results.filter((r) => r !== undefined)).toHaveLength(5);
});

test('counters and reservations are bounded separately: neither can crowd out the other', async () => {
  const store = new MemoryReplayStore({ maxEntries: 3 });
  for (let i = 0; i < 3; i++) expect(await store.take(`rate:exchange:${i}:1`, 1, 10, 60_000)).toBe(1);
  await expect(store.take('rate:exchange:other:1', 1, 10, 60_000)).rejects.toThrow(/full/);
  // Three live counters, and still room for every reservation the capacity allows.
  for (let i = 0; i < 3; i++) expect(await store.reserve(`jti:${i}`, 60_000)).toBe(true);
  await expect(store.reserve('jti:one-more', 60_000)).rejects.toThrow(/full/);
  // A full store forgets nothing: each reservation still answers "already used".
  for (let i = 0; i < 3; i++) expect(await store.reserve(`jti:${i}`, 60_000)).toBe(false);
  expect(await store.take('rate:exchange:0:1', 1, 10, 60_000)).toBe(2);
});
