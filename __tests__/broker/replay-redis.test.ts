// The Redis store on a real redis-server with a password and a db: same semantics as the memory
// store, atomic across clients, fails fast while Redis is away and recovers when it returns.
import { createClient } from '@redis/client';
import { storeEventLog } from '../../src/broker/store/open.js';
import { RedisReplayStore, reconnectDelay, redactRedisUrl } from '../../src/broker/store/redis.js';
import { eventually, startRedis, type TestRedis } from '../../src/local/redis.js';

const PASSWORD = 'pw-7f3a9c1e';
let redis: TestRedis;
const stores: RedisReplayStore[] = [];
const open = (url: string) => {
  const store = new RedisReplayStore(url, { commandTimeoutMs: 1_000, connectTimeoutMs: 500 });
  stores.push(store);
  return store;
};

beforeAll(async () => {
  redis = await startRedis({ password: PASSWORD });
});
afterAll(async () => {
  for (const store of stores) await store.close();
  await redis.close();
});

test('reserve, records and take behave like the memory store, in the db the URL names', async () => {
  const store = open(redis.url(3));
  await eventually(() => store.ping());
  expect(await store.reserve('jti:a', 60_000)).toBe(true);
  expect(await store.reserve('jti:a', 60_000)).toBe(false);
  await store.release('jti:a');
  expect(await store.reserve('jti:a', 60_000)).toBe(true);
  await store.put('record', 'value', 60_000);
  expect(await store.get('record')).toBe('value');
  expect(await store.get('absent')).toBeUndefined();
  expect(await store.take('q', 2, 5, 60_000)).toBe(2);
  expect(await store.take('q', 3, 5, 60_000)).toBe(5);
  expect(await store.take('q', 1, 5, 60_000)).toBeUndefined();
  expect(await store.take('q', -2, 5, 60_000)).toBe(3);

  const otherDb = open(redis.url(0));
  await eventually(() => otherDb.ping());
  expect(await otherDb.get('record')).toBeUndefined();
});

test('takes from two clients never pass the limit together', async () => {
  const [a, b] = [open(redis.url(4)), open(redis.url(4))];
  await eventually(() => Promise.all([a.ping(), b.ping()]));
  const results = await Promise.all(
    Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).take('shared', 1, 7, 60_000)),
  );
  expect(results.filter((r) => r !== undefined)).toHaveLength(7);
});

test('a wrong password fails every command, and neither errors nor events carry the password', async () => {
  const events: string[] = [];
  const store = new RedisReplayStore(redis.url(0).replace(PASSWORD, 'wrong-secret-x'), {
    onEvent: (event, detail) => events.push(`${event} ${detail}`),
  });
  stores.push(store);
  await eventually(async () => {
    if (!events.some((e) => /WRONGPASS|invalid username-password/i.test(e)))
      throw new Error('no auth error yet');
  });
  const error = (await store.reserve('k', 1000).catch((e: unknown) => e)) as Error;
  expect(error).toBeInstanceOf(Error);
  expect(`${error.message} ${error.stack} ${events.join(' ')}`).not.toContain('wrong-secret-x');
});

test('while Redis is away commands fail at once; when it returns the same store works again', async () => {
  const store = open(redis.url(5));
  await eventually(() => store.ping());
  await redis.stop();
  await expect(store.reserve('during-outage', 60_000)).rejects.toThrow();
  await redis.restart();
  expect(await eventually(() => store.reserve('after-outage', 60_000))).toBe(true);
});

test('a command Redis does not answer within the timeout fails (a 503 upstream); the store works after', async () => {
  const store = open(redis.url(6));
  await eventually(() => store.ping());
  const admin = createClient({ url: redis.url(0) });
  admin.on('error', () => undefined);
  await admin.connect();
  // Every client's commands wait 1.5 s; the store gives up after its 1 s command timeout.
  await admin.sendCommand(['CLIENT', 'PAUSE', '1500', 'ALL']);
  admin.destroy();
  const error = (await store.reserve('paused', 60_000).catch((e: unknown) => e)) as Error;
  expect(error.name).toBe('TimeoutError');
  expect(await eventually(() => store.reserve('after-pause', 60_000))).toBe(true);
});

test('log lines show the URL without its password; reconnects back off up to 2 s with jitter', () => {
  expect(redactRedisUrl(`rediss://keyhole:${PASSWORD}@redis.internal:6380/2`)).toBe(
    'rediss://keyhole:***@redis.internal:6380/2',
  );
  expect([0, 1, 5, 30].map((n) => reconnectDelay(n, () => 1))).toEqual([50, 100, 1600, 2000]);
  expect(reconnectDelay(30, () => 0)).toBe(1000);
});

test('an unreachable store is logged once a minute, without the password, and once when it is back', () => {
  const lines: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
  let clock = 1_000_000;
  const onEvent = storeEventLog(
    (level, msg, fields) => lines.push({ level, msg, fields }),
    'rediss://keyhole:s3cret-pw@redis.internal:6380/0',
    () => clock,
  );
  onEvent('ready'); // the first connection: nothing to report
  for (let i = 0; i < 30; i++) {
    onEvent('error', 'connect ECONNREFUSED');
    onEvent('reconnecting');
    clock += 2_000; // the client retries every ≤ 2 s: 60 s of retries
  }
  onEvent('error', 'connect ECONNREFUSED');
  onEvent('ready');
  onEvent('ready');
  expect(lines.map((l) => `${l.level} ${l.msg}`)).toEqual([
    'error replay store unreachable; exchanges and creates answer 503 until it returns',
    'error replay store unreachable; exchanges and creates answer 503 until it returns',
    'info replay store reachable again',
  ]);
  expect(lines[0]!.fields).toEqual({
    store: 'rediss://keyhole:***@redis.internal:6380/0',
    reason: 'connect ECONNREFUSED',
  });
  expect(JSON.stringify(lines)).not.toContain('s3cret-pw');
});
