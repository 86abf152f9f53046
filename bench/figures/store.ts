/** [9] Exchanges per second and p99 with the Redis store, plain and TLS, ÷ the memory store, in one run. */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AUDIENCE } from '../../src/local/config.js';
import { startRedis, type TestRedis } from '../../src/local/redis.js';
import { startBrokerProcess, type RunningBroker } from '../../src/local/runner.js';
import {
  SIGNING,
  TOKEN,
  WORK,
  writeBrokerConfig,
  loadExchanges,
  log,
  median,
  quick,
  startFakeProcess,
  type Figure,
} from '../harness.js';

export default {
  name: 'store',
  async run({ issuer, record }) {
    // Rounds long enough (~1 s) that scheduling noise on two shared cores does not decide a round.
    const [rounds, perRound] = quick ? [3, 1000] : [5, 3000];
    const concurrency = 8;
    log(
      `\n[9] exchanges with the Redis store (plain, TLS + ACL user) ÷ the memory store (${rounds} interleaved rounds of ${perRound} tokens each, ${concurrency} concurrent, after a warm-up; medians)`,
    );
    const fake = await startFakeProcess();
    const plain = await startRedis({ user: { name: 'keyhole', password: 'bench-redis-pw' } });
    const tls = await startRedis({ tls: true, user: { name: 'keyhole', password: 'bench-redis-pw' } });
    const base = readFileSync(writeBrokerConfig(issuer, fake.url), 'utf8');
    const configFor = (name: string, extra: string) => {
      const file = path.join(WORK, `store-${name}.yaml`);
      writeFileSync(file, `${base}${extra}`);
      return file;
    };
    const start = (name: string, redis?: TestRedis) =>
      startBrokerProcess({
        configPath: configFor(name, redis ? 'replay_store_env: KEYHOLE_REDIS_URL\n' : ''),
        env: {
          VERCEL_TOKEN_MARKETING: TOKEN,
          KEYHOLE_SIGNING_KEY: SIGNING,
          ...(redis ? { KEYHOLE_REDIS_URL: redis.url(0) } : {}),
          ...(redis?.caFile ? { NODE_EXTRA_CA_CERTS: redis.caFile } : {}),
        },
      });
    const brokers: [string, RunningBroker][] = [
      ['memory', await start('memory')],
      ['redis', await start('redis', plain)],
      ['rediss', await start('rediss', tls)],
    ];
    const mint = (n: number) => Promise.all(Array.from({ length: n }, () => issuer.mint(AUDIENCE)));
    try {
      issuer.setJob({});
      for (const [, broker] of brokers) await loadExchanges(broker.url, await mint(500), concurrency);
      // Three rounds, each store in turn, so a burst of load from elsewhere hits all three alike.
      const results = new Map<string, { perSecond: number[]; p99: number[]; errors: number }>();
      for (let round = 0; round < rounds; round++) {
        for (const [name, broker] of brokers) {
          const load = await loadExchanges(broker.url, await mint(perRound), concurrency);
          const entry = results.get(name) ?? { perSecond: [], p99: [], errors: 0 };
          entry.perSecond.push(load.perSecond);
          entry.p99.push(load.p99);
          entry.errors += load.errors;
          results.set(name, entry);
        }
      }
      const memory = results.get('memory')!;
      for (const name of ['redis', 'rediss']) {
        const r = results.get(name)!;
        const ratio = median(r.perSecond) / median(memory.perSecond);
        record(
          `exchanges/s with ${name}:// ÷ memory store`,
          `${ratio.toFixed(2)} (${median(r.perSecond).toFixed(0)}/s vs ${median(memory.perSecond).toFixed(0)}/s, ${r.errors} errors)`,
          '≥ 0.9',
          ratio >= 0.9,
        );
        record(
          `exchange p99 with ${name}:// vs memory store`,
          `${median(r.p99).toFixed(1)} ms vs ${median(memory.p99).toFixed(1)} ms`,
          'p99 < 20 ms',
          median(r.p99) < 20,
        );
      }
    } finally {
      for (const [, broker] of brokers) await broker.stop();
      await plain.close();
      await tls.close();
      fake.stop();
    }
  },
} satisfies Figure;
