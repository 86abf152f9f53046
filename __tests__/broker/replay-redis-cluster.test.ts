// The Redis store on a real three-master Redis Cluster with a password: the same semantics as on
// one node, with keys spread over every node, and atomic takes across clients.
import { execFileSync } from 'node:child_process';
import { parseClusterUrl, RedisReplayStore, redactRedisUrl } from '../../src/broker/store/redis.js';
import { eventually, freePort, startRedisCluster, type TestRedisCluster } from '../../src/local/redis.js';

const PASSWORD = 'pw-c1u5t3r';
let cluster: TestRedisCluster;
const stores: RedisReplayStore[] = [];
const open = (url: string) => {
  const store = new RedisReplayStore(url, { commandTimeoutMs: 1_000, connectTimeoutMs: 500 });
  stores.push(store);
  return store;
};
const keysOn = (port: number) =>
  Number(
    execFileSync('redis-cli', ['-a', PASSWORD, '--no-auth-warning', '-p', String(port), 'dbsize']).toString(),
  );

beforeAll(async () => {
  cluster = await startRedisCluster({ password: PASSWORD });
});
afterAll(async () => {
  for (const store of stores) await store.close();
  await cluster?.close();
});

test('reserve, records and take behave as on one node, with the keys on every node of the cluster', async () => {
  const store = open(cluster.url());
  await eventually(() => store.ping());
  for (let i = 0; i < 12; i++) {
    expect(await store.reserve(`jti:${i}`, 60_000)).toBe(true);
    expect(await store.reserve(`jti:${i}`, 60_000)).toBe(false);
    await store.put(`record:${i}`, `value ${i}`, 60_000);
    expect(await store.take(`q:${i}`, 2, 3, 60_000)).toBe(2);
    expect(await store.take(`q:${i}`, 2, 3, 60_000)).toBeUndefined();
  }
  for (let i = 0; i < 12; i++) expect(await store.get(`record:${i}`)).toBe(`value ${i}`);
  expect(await store.get('absent')).toBeUndefined();
  await store.release('jti:0');
  expect(await store.reserve('jti:0', 60_000)).toBe(true);
  // Every master holds some of the 36 keys: the client followed the slots, not one node.
  for (const port of cluster.ports) expect(keysOn(port)).toBeGreaterThan(0);
  expect(cluster.ports.reduce((sum, port) => sum + keysOn(port), 0)).toBe(36);
});

test("the exchange's step on a cluster: composed from single-key commands, the same outcomes", async () => {
  const store = open(cluster.url());
  await eventually(() => store.ping());
  const rate = { key: 'rate:exchange:o:1', limit: 2, ttlMs: 60_000 };
  const job = {
    slot: { key: 'jobslots:p:j', limit: 1, ttlMs: 60_000 },
    record: { key: 'jobcred:p:j:k', value: 'first', ttlMs: 60_000, mode: 'find' as const },
  };
  const token = (jti: string) => ({ key: `jti:x:${jti}`, ttlMs: 60_000 });
  expect(await store.exchange({ rate, token: token('a'), job })).toEqual({ result: 'admitted' });
  expect(await store.exchange({ rate, token: token('a'), job })).toEqual({ result: 'replayed' });
  expect(await store.exchange({ rate, token: token('b'), job })).toEqual({ result: 'rate_limited' });
  expect(await store.exchange({ token: token('c'), job })).toEqual({ result: 'retry', record: 'first' });
  expect(await store.exchange({ token: token('d'), job: { slot: job.slot } })).toEqual({
    result: 'job_limit',
  });
  expect(await store.reserve('jti:x:b', 60_000)).toBe(true);
});

test('concurrent takes from two clients never pass the limit together, on every slot', async () => {
  const a = open(cluster.url());
  const b = open(cluster.url());
  await eventually(() => a.ping());
  await eventually(() => b.ping());
  for (const key of ['limit:x', 'limit:y', 'limit:z']) {
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).take(key, 1, 15, 60_000)),
    );
    expect(results.filter((r) => r !== undefined)).toHaveLength(15);
    expect(await a.take(key, 0, 15, 60_000)).toBe(15);
  }
});

test('a cluster no node of which answers fails every command (fail closed), and closes cleanly', async () => {
  const url = `redis+cluster://:${PASSWORD}@127.0.0.1:${await freePort()},127.0.0.1:${await freePort()}`;
  const events: string[] = [];
  const store = new RedisReplayStore(url, {
    commandTimeoutMs: 300,
    connectTimeoutMs: 200,
    onEvent: (event, detail) => events.push(`${event} ${detail ?? ''}`),
  });
  stores.push(store);
  await expect(store.reserve('jti:down', 60_000)).rejects.toThrow();
  await expect(store.take('q:down', 1, 5, 60_000)).rejects.toThrow();
  await expect(store.ping()).rejects.toThrow();
  expect(events.some((e) => e.startsWith('error'))).toBe(true);
  expect(events.join('\n')).not.toContain(PASSWORD);
});

test('cluster URLs: seed nodes, credentials and TLS parsed; the password is redacted for logs', () => {
  expect(parseClusterUrl('rediss+cluster://broker:p%40ss@10.0.0.1:7000,10.0.0.2:7001,redis-3')).toEqual({
    tls: true,
    username: 'broker',
    password: 'p@ss',
    nodes: [
      { host: '10.0.0.1', port: 7000 },
      { host: '10.0.0.2', port: 7001 },
      { host: 'redis-3', port: 6379 },
    ],
  });
  expect(parseClusterUrl('redis://h:1')).toBeUndefined();
  expect(() => parseClusterUrl('redis+cluster://a:1,,b:2')).toThrow(/host:port,host:port/);
  const shown = redactRedisUrl('redis+cluster://broker:s3cret@a:1,b:2');
  expect(shown).toBe('redis+cluster://broker:***@a:1,b:2');
});

test('a least-privilege ACL user works on a cluster once it may also discover the slots (cluster|slots)', async () => {
  const acl = await startRedisCluster({ user: { name: 'keyhole', password: 'acl-pw-3e8a' } });
  try {
    const store = open(acl.url());
    await eventually(() => store.ping());
    expect(await store.reserve('jti:acl', 60_000)).toBe(true);
    expect(await store.reserve('jti:acl', 60_000)).toBe(false);
    expect(await store.take('q:acl', 1, 1, 60_000)).toBe(1);
  } finally {
    await stores.pop()?.close();
    await acl.close();
  }
});
