// The exchange's store step (rate window, token reservation, job slot, retry record) on every
// store: the memory store's atomic method, the Redis script on a real redis-server, and the
// composition from primitives that a Redis Cluster and the Durable Object store use. One contract.
import { createClient } from '@redis/client';
import { deferredStore } from '../../src/broker/store/deferred.js';
import { composeExchangeStep } from '../../src/broker/store/exchange-step.js';
import { MemoryReplayStore } from '../../src/broker/store/memory.js';
import { RedisReplayStore } from '../../src/broker/store/redis.js';
import type { ExchangeStep, ReplayStore } from '../../src/broker/store/store.js';
import { startRedis, type TestRedis } from '../../src/local/redis.js';

let redis: TestRedis;
const closers: (() => Promise<unknown>)[] = [];
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const close of closers) await close();
  await redis.close();
});

let db = 0;
/** A Redis store on an emptied db (so no case sees another's keys), and a raw client to read TTLs. */
async function redisStore(): Promise<{ store: RedisReplayStore; pttl: (key: string) => Promise<number> }> {
  db = (db % 15) + 1;
  const url = redis.url(db);
  const raw = createClient({ url });
  await raw.connect();
  await raw.flushDb();
  const store = new RedisReplayStore(url);
  closers.push(
    () => store.close(),
    () => raw.close(),
  );
  return { store, pttl: (key) => raw.pTTL(`keyhole:${key}`) };
}

/** A store without `exchange`: the step composed from its primitives. */
const composed = (store: ReplayStore): ReplayStore & { exchange: NonNullable<ReplayStore['exchange']> } =>
  Object.assign(Object.create(store) as ReplayStore, {
    exchange: (step: ExchangeStep) => composeExchangeStep(store, step),
  });

const STORES: [string, () => Promise<ReplayStore & { exchange: NonNullable<ReplayStore['exchange']> }>][] = [
  ['memory', async () => new MemoryReplayStore()],
  ['memory, composed', async () => composed(new MemoryReplayStore())],
  ['redis (one script)', async () => (await redisStore()).store],
  ['redis, composed (as on a Cluster)', async () => composed((await redisStore()).store)],
];

let n = 0;
/** One exchange's step: a fresh token, the owner's window, the job's slot, maybe a record. */
const step = (
  options: {
    rateLimit?: number;
    slots?: number;
    record?: string;
    mode?: 'find' | 'replace';
    jti?: string;
  } = {},
): ExchangeStep => ({
  rate: { key: 'rate:exchange:o1:9', limit: options.rateLimit ?? 100, ttlMs: 120_000 },
  token: { key: `jti:iss:${options.jti ?? `t${++n}`}`, ttlMs: 420_000 },
  job: {
    slot: { key: 'jobslots:site:j1', limit: options.slots ?? 1, ttlMs: 21_600_000 },
    ...(options.record
      ? {
          record: {
            key: 'jobcred:site:j1:k',
            value: options.record,
            ttlMs: 900_000,
            mode: options.mode ?? 'find',
          },
        }
      : {}),
  },
});
/**
 * A counter's value, read by taking 0. Taking creates an absent counter with the expiry given, and
 * a later take keeps it: an hour, so a read never makes a counter the step then takes expire at once.
 */
const counter = (store: ReplayStore, key: string) => store.take(key, 0, Number.MAX_SAFE_INTEGER, 3_600_000);

describe.each(STORES)('%s', (_name, open) => {
  test('admitted: the rate, the token, the slot and the record are all taken', async () => {
    const store = await open();
    const first = step({ record: '{"cid":"a"}' });
    expect(await store.exchange(first)).toEqual({ result: 'admitted' });
    expect(await counter(store, 'rate:exchange:o1:9')).toBe(1);
    expect(await store.reserve(first.token!.key, 1_000)).toBe(false);
    expect(await counter(store, 'jobslots:site:j1')).toBe(1);
    expect(await store.get('jobcred:site:j1:k')).toBe('{"cid":"a"}');
  });

  test('a refused rate takes nothing else: the token can be tried again, the slot is untouched', async () => {
    const store = await open();
    expect((await store.exchange(step({ rateLimit: 1, slots: 5 }))).result).toBe('admitted');
    const refused = step({ rateLimit: 1, slots: 5, record: 'r' });
    expect(await store.exchange(refused)).toEqual({ result: 'rate_limited' });
    expect(await counter(store, 'rate:exchange:o1:9')).toBe(1);
    expect(await counter(store, 'jobslots:site:j1')).toBe(1);
    expect(await store.get('jobcred:site:j1:k')).toBeUndefined();
    expect(await store.reserve(refused.token!.key, 1_000)).toBe(true);
  });

  test('a replayed token spends its rate, takes no slot and writes no record', async () => {
    const store = await open();
    expect((await store.exchange(step({ jti: 'same', slots: 5 }))).result).toBe('admitted');
    expect(await store.exchange(step({ jti: 'same', slots: 5, record: 'r' }))).toEqual({
      result: 'replayed',
    });
    expect(await counter(store, 'rate:exchange:o1:9')).toBe(2);
    expect(await counter(store, 'jobslots:site:j1')).toBe(1);
    expect(await store.get('jobcred:site:j1:k')).toBeUndefined();
  });

  test('a job with all its slots is refused; the token stays spent, the record unwritten', async () => {
    const store = await open();
    expect((await store.exchange(step())).result).toBe('admitted');
    const second = step({ record: 'r' });
    expect(await store.exchange(second)).toEqual({ result: 'job_limit' });
    expect(await store.reserve(second.token!.key, 1_000)).toBe(false);
    expect(await counter(store, 'jobslots:site:j1')).toBe(1);
    expect(await store.get('jobcred:site:j1:k')).toBeUndefined();
  });

  test('a retry with the same record key is answered the first record and takes no slot; replace takes one', async () => {
    const store = await open();
    expect((await store.exchange(step({ slots: 2, record: 'first' }))).result).toBe('admitted');
    expect(await store.exchange(step({ slots: 2, record: 'second' }))).toEqual({
      result: 'retry',
      record: 'first',
    });
    expect(await store.exchange(step({ slots: 2, record: 'again' }))).toEqual({
      result: 'retry',
      record: 'first',
    });
    expect(await counter(store, 'jobslots:site:j1')).toBe(1);
    expect(await store.exchange(step({ slots: 2, record: 'other', mode: 'replace' }))).toEqual({
      result: 'admitted',
    });
    expect(await counter(store, 'jobslots:site:j1')).toBe(2);
    expect(await store.get('jobcred:site:j1:k')).toBe('other');
  });

  test('parts left out are not touched: a token alone, a job alone', async () => {
    const store = await open();
    const { token, job } = step();
    expect(await store.exchange({ token: token! })).toEqual({ result: 'admitted' });
    expect(await store.exchange({ token: token! })).toEqual({ result: 'replayed' });
    expect(await counter(store, 'rate:exchange:o1:9')).toBe(0);
    expect(await counter(store, 'jobslots:site:j1')).toBe(0);
    expect(await store.exchange({ job: job! })).toEqual({ result: 'admitted' });
    expect(await store.exchange({ job: job! })).toEqual({ result: 'job_limit' });
  });

  test('parallel exchanges of one job never take more than its slots, and one record wins', async () => {
    const store = await open();
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        store.exchange(step({ slots: 3, ...(i % 2 ? { record: `r${i}` } : {}) })),
      ),
    );
    const admitted = answers.filter((a) => a.result === 'admitted').length;
    expect(admitted).toBeLessThanOrEqual(3);
    expect(admitted + answers.filter((a) => a.result === 'retry').length).toBeGreaterThan(0);
    expect(answers.every((a) => ['admitted', 'job_limit', 'retry'].includes(a.result))).toBe(true);
    expect(await counter(store, 'jobslots:site:j1')).toBe(admitted);
  });
});

test('redis: two clients racing for one job take exactly its slots', async () => {
  const { store: a } = await redisStore();
  const b = new RedisReplayStore(redis.url(db));
  closers.push(() => b.close());
  const answers = await Promise.all(
    Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).exchange(step({ slots: 3 }))),
  );
  expect(answers.filter((x) => x.result === 'admitted')).toHaveLength(3);
  expect(answers.filter((x) => x.result === 'job_limit')).toHaveLength(37);
});

test('redis: every key the script writes expires when its part says', async () => {
  const { store, pttl } = await redisStore();
  const first = step({ record: 'r' });
  expect((await store.exchange(first)).result).toBe('admitted');
  const within = async (key: string, ttlMs: number) => {
    const left = await pttl(key);
    expect(left).toBeGreaterThan(ttlMs - 60_000);
    expect(left).toBeLessThanOrEqual(ttlMs);
  };
  await within('rate:exchange:o1:9', 120_000);
  await within(first.token!.key, 420_000);
  await within('jobslots:site:j1', 21_600_000);
  await within('jobcred:site:j1:k', 900_000);
  // A counter keeps the expiry it was created with (KEEPTTL), as `take` does.
  expect((await store.exchange(step({ slots: 2 }))).result).toBe('admitted');
  await within('jobslots:site:j1', 21_600_000);
  expect(await pttl('unused')).toBe(-2);
});

test('memory: every part expires when its part says', async () => {
  let now = 1_000_000;
  const store = new MemoryReplayStore({ now: () => now });
  const first = step({ record: 'r' });
  expect((await store.exchange(first)).result).toBe('admitted');
  now += 120_001;
  expect(await counter(store, 'rate:exchange:o1:9')).toBe(0);
  expect(await store.reserve(first.token!.key, 1)).toBe(false);
  now += 300_000;
  expect(await store.reserve(first.token!.key, 1)).toBe(true);
  expect(await store.get('jobcred:site:j1:k')).toBe('r');
  now += 480_000;
  expect(await store.get('jobcred:site:j1:k')).toBeUndefined();
  expect(await counter(store, 'jobslots:site:j1')).toBe(1);
  now += 21_600_000;
  expect(await counter(store, 'jobslots:site:j1')).toBe(0);
});

test('memory: a full store refuses closed and gives back what the step took before', async () => {
  const store = new MemoryReplayStore({ maxEntries: 1 });
  expect((await store.exchange({ token: step().token! })).result).toBe('admitted');
  const full = step({ slots: 5, record: 'r' });
  await expect(store.exchange(full)).rejects.toThrow(/full/);
  expect(await counter(store, 'rate:exchange:o1:9')).toBe(0);
});

test("the Node host's metrics wrapper keeps the one step (a dropped method would silently compose it) and counts its failures", async () => {
  const { createMetrics } = await import('../../src/broker/host/node/metrics.js');
  const metrics = createMetrics();
  const store = new MemoryReplayStore();
  const counted = metrics.instrumentStore(store);
  const calls: ExchangeStep[] = [];
  store.exchange = async (s) => (calls.push(s), { result: 'admitted' });
  expect(await counted.exchange!(step())).toEqual({ result: 'admitted' });
  expect(calls).toHaveLength(1);
  store.exchange = () => Promise.reject(new Error('store down'));
  await expect(counted.exchange!(step())).rejects.toThrow('store down');
  expect(await metrics.render()).toMatch(/keyhole_store_errors_total\{operation="exchange"\} 1/);
  // A store without the step stays without it (the exchange then composes the step).
  const m = new MemoryReplayStore();
  const primitives: ReplayStore = {
    reserve: (k, t) => m.reserve(k, t),
    release: (k) => m.release(k),
    get: (k) => m.get(k),
    put: (k, v, t) => m.put(k, v, t),
    take: (k, a, l, t) => m.take(k, a, l, t),
  };
  expect('exchange' in metrics.instrumentStore(primitives)).toBe(false);
});

test('a deferred store (node-redis still loading): calls made meanwhile wait and then run, the one step included; a failed load fails every call and close still ends', async () => {
  let loaded!: (store: ReplayStore) => void;
  const store = deferredStore(new Promise((resolve) => (loaded = resolve)));
  const early = [store.reserve('jti:a', 60_000), store.exchange!(step()), store.put('k', 'v', 60_000)];
  let settled = false;
  void Promise.all(early).then(() => (settled = true));
  await new Promise((r) => setTimeout(r, 20));
  expect(settled).toBe(false);
  const memory = new MemoryReplayStore();
  loaded(memory);
  expect(await Promise.all(early)).toEqual([true, { result: 'admitted' }, undefined]);
  expect(await memory.get('k')).toBe('v');
  expect(await store.reserve('jti:a', 60_000)).toBe(false);
  expect(await counter(memory, 'rate:exchange:o1:9')).toBe(1);
  await store.close!();

  const broken = deferredStore(Promise.reject(new Error('Cannot find module ./797.index.js')));
  await expect(broken.get('k')).rejects.toThrow('Cannot find module');
  await expect(broken.exchange!(step())).rejects.toThrow('Cannot find module');
  await expect(broken.ping!()).rejects.toThrow('Cannot find module');
  await expect(broken.close!()).resolves.toBeUndefined();
});
