// The Redis store on a real Sentinel group (a master, a replica, a sentinel): the URL form, the same
// semantics as on one node, and a failover (the master killed, the replica promoted) during which
// every call fails within the store's deadline instead of hanging, after which the store works
// again without being reopened. The deadline wrapper bounds any call, whatever the store does.
import { execFileSync } from 'node:child_process';
import { withDeadline } from '../../src/broker/store/deadline.js';
import { parseSentinelUrl, RedisReplayStore, redactRedisUrl } from '../../src/broker/store/redis.js';
import type { ReplayStore } from '../../src/broker/store/store.js';
import { eventually } from '../../src/local/redis.js';
import { startRedisSentinel, type TestSentinelGroup } from '../../src/local/redis-sentinel.js';

const PASSWORD = 'pw-s3nt1nel';
let group: TestSentinelGroup;
const stores: RedisReplayStore[] = [];

beforeAll(async () => {
  group = await startRedisSentinel({ password: PASSWORD });
});
afterAll(async () => {
  for (const store of stores) await store.close();
  await group?.close();
});

test('redis+sentinel:// and rediss+sentinel:// URLs: sentinels, master group, db, credentials; redacted', () => {
  expect(parseSentinelUrl('redis+sentinel://user:p%40ss@h1:26379,h2:26380/mymaster')).toEqual({
    tls: false,
    username: 'user',
    password: 'p@ss',
    nodes: [
      { host: 'h1', port: 26379 },
      { host: 'h2', port: 26380 },
    ],
    name: 'mymaster',
    database: 0,
  });
  expect(
    parseSentinelUrl('rediss+sentinel://:pw@h1/mymaster/2?sentinel_password=spw&sentinel_user=s'),
  ).toMatchObject({
    tls: true,
    password: 'pw',
    nodes: [{ host: 'h1', port: 26379 }],
    database: 2,
    sentinelPassword: 'spw',
    sentinelUsername: 's',
  });
  expect(() => parseSentinelUrl('redis+sentinel://h1:26379')).toThrow(/must name the master group/);
  expect(() => parseSentinelUrl('redis+sentinel://h1:26379/m?password=x')).toThrow(/not password/);
  expect(parseSentinelUrl('redis://h1:6379')).toBeUndefined();
  const redacted = redactRedisUrl(
    'rediss+sentinel://user:secret@h1:26379,h2:26379/mymaster?sentinel_password=s2',
  );
  expect(redacted).toBe('rediss+sentinel://user:***@h1:26379,h2:26379/mymaster?sentinel_password=***');
  expect(redactRedisUrl('redis+cluster://h1:1,h2:2')).toBe('redis+cluster://h1:1,h2:2');
});

test('a failover: calls fail within the deadline during the gap, then work again on the promoted replica', async () => {
  const store = new RedisReplayStore(group.url(), { commandTimeoutMs: 1_000, connectTimeoutMs: 1_000 });
  stores.push(store);
  const bounded = withDeadline<ReplayStore>(store, 1_500);
  await eventually(() => bounded.ping!());
  expect(await bounded.reserve('jti:before', 60_000)).toBe(true);
  expect(await bounded.take('quota', 1, 1, 60_000)).toBe(1);
  // The exchange's one-step script: a job's one slot taken before the failover.
  const job = { slot: { key: 'jobslots:p:j', limit: 1, ttlMs: 60_000 } };
  expect(await bounded.exchange!({ token: { key: 'jti:x0', ttlMs: 60_000 }, job })).toEqual({
    result: 'admitted',
  });
  await group.replicaInSync();
  // The reservation and the counter are on the replica before the master goes.
  execFileSync('redis-cli', [
    '-p',
    String(group.master.port),
    '-a',
    PASSWORD,
    '--no-auth-warning',
    'wait',
    '1',
    '2000',
  ]);
  await group.master.stop();

  const outcomes: string[] = [];
  let recovered = false;
  for (let i = 0; i < 200 && !recovered; i++) {
    try {
      const reserved = await bounded.reserve(`jti:during-${i}`, 60_000);
      outcomes.push(reserved ? 'ok' : 'refused');
      recovered = reserved;
    } catch (error) {
      // Every failure is an error the caller turns into 503: never a hang, never a false "reserved".
      outcomes.push((error as Error).name === 'TimeoutError' ? 'timeout' : 'error');
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  expect(recovered).toBe(true);
  expect(group.currentMasterPort()).toBe(group.replica.port);
  expect(outcomes.some((o) => o !== 'ok')).toBe(true);
  expect(outcomes).not.toContain('refused');
  // What was held before the failover is still held: no token replayed, no quota passed twice.
  expect(await bounded.reserve('jti:before', 60_000)).toBe(false);
  expect(await bounded.take('quota', 1, 1, 60_000)).toBeUndefined();
  // The script runs on the promoted replica (EVAL when it answers NOSCRIPT) and sees the slot taken.
  expect(await bounded.exchange!({ token: { key: 'jti:x0', ttlMs: 60_000 } })).toEqual({
    result: 'replayed',
  });
  expect(await bounded.exchange!({ token: { key: 'jti:x1', ttlMs: 60_000 }, job })).toEqual({
    result: 'job_limit',
  });
});

test('the deadline bounds any call of any store, also one a store holds forever', async () => {
  const never = new Promise<never>(() => undefined);
  const held: ReplayStore = {
    reserve: () => never,
    release: () => never,
    get: () => never,
    put: () => never,
    take: () => never,
    exchange: () => never,
  };
  const bounded = withDeadline(held, 50);
  await expect(bounded.reserve('k', 1)).rejects.toThrow(
    'the replay store did not answer reserve within 50 ms',
  );
  await expect(bounded.take('k', 1, 1, 1)).rejects.toMatchObject({ name: 'TimeoutError' });
  await expect(bounded.exchange!({ token: { key: 'k', ttlMs: 1 } })).rejects.toThrow(
    'the replay store did not answer exchange within 50 ms',
  );
});
