// `take`, the counter primitive behind quotas, job limits and rate windows: the memory store's semantics.
import { MemoryReplayStore } from '../../src/broker/replay.js';

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
