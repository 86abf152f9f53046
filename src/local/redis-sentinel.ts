/**
 * A real Redis Sentinel group for tests: a master, a replica and one sentinel (quorum 1, a master
 * is down after 1 s), each a redis-server process on loopback, so a failover can be played by
 * killing the master and watching the sentinel promote the replica.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, startRedis, type TestRedis } from './redis.js';

export const SENTINEL_MASTER_NAME = 'keyhole-master';

export interface TestSentinelGroup {
  master: TestRedis;
  replica: TestRedis;
  sentinelPort: number;
  /** `redis+sentinel://:password@127.0.0.1:<sentinel>/keyhole-master`. */
  url(): string;
  /** Waits until the replica has synced with the master (it refuses to fail over before). */
  replicaInSync(): Promise<void>;
  /** The port of the node the sentinel names as master now. */
  currentMasterPort(): number;
  close(): Promise<void>;
}

const cli = (port: number, password: string, ...args: string[]) =>
  execFileSync('redis-cli', ['-p', String(port), '-a', password, '--no-auth-warning', ...args], {
    stdio: 'pipe',
  }).toString();

export async function startRedisSentinel(options: { password: string }): Promise<TestSentinelGroup> {
  const { password } = options;
  const auth = ['--masterauth', password];
  const master = await startRedis({ password, args: auth });
  const replica = await startRedis({
    password,
    args: [...auth, '--replicaof', '127.0.0.1', String(master.port)],
  });
  const dir = mkdtempSync(path.join(tmpdir(), 'keyhole-sentinel-'));
  const sentinelPort = await freePort();
  const conf = path.join(dir, 'sentinel.conf');
  // The sentinel rewrites its config file as the topology changes: it must be writable.
  writeFileSync(
    conf,
    [
      `port ${sentinelPort}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${SENTINEL_MASTER_NAME} 127.0.0.1 ${master.port} 1`,
      `sentinel auth-pass ${SENTINEL_MASTER_NAME} ${password}`,
      `sentinel down-after-milliseconds ${SENTINEL_MASTER_NAME} 1000`,
      `sentinel failover-timeout ${SENTINEL_MASTER_NAME} 5000`,
      '',
    ].join('\n'),
  );
  const sentinel: ChildProcess = spawn('redis-server', [conf, '--sentinel'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    let output = '';
    sentinel.once('exit', (code) => reject(new Error(`redis sentinel exited with ${code}: ${output}`)));
    sentinel.stdout!.on('data', (d: Buffer) => {
      output += d.toString();
      if (output.includes('+monitor master')) resolve();
    });
  });
  const currentMasterPort = () =>
    Number(
      execFileSync('redis-cli', [
        '-p',
        String(sentinelPort),
        'sentinel',
        'get-master-addr-by-name',
        SENTINEL_MASTER_NAME,
      ])
        .toString()
        .trim()
        .split('\n')[1],
    );
  return {
    master,
    replica,
    sentinelPort,
    url: () =>
      `redis+sentinel://:${encodeURIComponent(password)}@127.0.0.1:${sentinelPort}/${SENTINEL_MASTER_NAME}`,
    replicaInSync: async () => {
      for (
        let i = 0;
        !cli(replica.port, password, 'info', 'replication').includes('master_link_status:up');
        i++
      ) {
        if (i > 400) throw new Error('the test replica never synced with its master');
        await new Promise((r) => setTimeout(r, 50));
      }
      // The sentinel must know the replica too, or it has no one to promote.
      for (let i = 0; ; i++) {
        const replicas = execFileSync('redis-cli', [
          '-p',
          String(sentinelPort),
          'sentinel',
          'replicas',
          SENTINEL_MASTER_NAME,
        ]).toString();
        if (replicas.includes(String(replica.port))) break;
        if (i > 400) throw new Error('the test sentinel never discovered the replica');
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    currentMasterPort,
    close: async () => {
      if (sentinel.exitCode === null) {
        const exited = new Promise((resolve) => sentinel.once('exit', resolve));
        sentinel.kill();
        await exited;
      }
      await replica.close();
      await master.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
