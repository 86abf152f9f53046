/**
 * [13] Exchange throughput of two broker instances on one Redis ÷ one instance, with the same total
 * cores: one instance may use both cores, each of the two is pinned to one (taskset). The store is
 * the only thing the two share, so a ratio well under 1 means the shared store is the bottleneck.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import { AUDIENCE } from '../../src/local/config.js';
import { startRedis } from '../../src/local/redis.js';
import { startBrokerProcess, type RunningBroker } from '../../src/local/runner.js';
import {
  SIGNING,
  TOKEN,
  WORK,
  loadExchanges,
  log,
  median,
  quick,
  startFakeProcess,
  writeBrokerConfig,
  type Figure,
} from '../harness.js';

/** Pins every thread of a process (the libuv pool included) to `cores`, e.g. `0` or `0,1`. */
const pin = (pid: number, cores: string) => execFileSync('taskset', ['-a', '-pc', cores, String(pid)]);

export default {
  name: 'scale-out',
  async run({ issuer, record }) {
    const [rounds, perRound] = quick ? [3, 1000] : [5, 3000];
    if (cpus().length < 2) {
      log('\n[13] scale-out: needs two cores; skipped');
      return;
    }
    log(
      `\n[13] exchanges/s of two instances on one Redis (one core each) ÷ one instance (both cores); ${rounds} interleaved rounds of ${perRound} tokens, two load processes of 4 connections each`,
    );
    const fake = await startFakeProcess();
    const redis = await startRedis({ user: { name: 'keyhole', password: 'bench-redis-pw' } });
    const file = path.join(WORK, 'scale-out.yaml');
    writeFileSync(
      file,
      `${readFileSync(writeBrokerConfig(issuer, fake.url), 'utf8')}replay_store_env: KEYHOLE_REDIS_URL\n`,
    );
    const start = () =>
      startBrokerProcess({
        configPath: file,
        env: { VERCEL_TOKEN_MARKETING: TOKEN, KEYHOLE_SIGNING_KEY: SIGNING, KEYHOLE_REDIS_URL: redis.url(0) },
      });
    const brokers: RunningBroker[] = [];
    try {
      const one = await start();
      const [a, b] = [await start(), await start()];
      brokers.push(one, a, b);
      pin(one.process.pid!, '0,1');
      pin(a.process.pid!, '0');
      pin(b.process.pid!, '1');
      const mint = (n: number) => Promise.all(Array.from({ length: n }, () => issuer.mint(AUDIENCE)));
      issuer.setJob({});
      /** Both load processes at once, half the tokens each; exchanges/s over both. */
      const load = async (urls: [string, string], n: number) => {
        const [x, y] = await Promise.all([
          loadExchanges(urls[0], await mint(n / 2), 4, 'scale-out-a'),
          loadExchanges(urls[1], await mint(n / 2), 4, 'scale-out-b'),
        ]);
        return { perSecond: x.perSecond + y.perSecond, errors: x.errors + y.errors };
      };
      await load([one.url, one.url], 1000);
      await load([a.url, b.url], 1000);
      const single: number[] = [];
      const double: number[] = [];
      let errors = 0;
      for (let round = 0; round < rounds; round++) {
        const s = await load([one.url, one.url], perRound);
        const d = await load([a.url, b.url], perRound);
        single.push(s.perSecond);
        double.push(d.perSecond);
        errors += s.errors + d.errors;
      }
      const ratio = median(double) / median(single);
      record(
        'exchanges/s: two instances on one Redis (1 core each) ÷ one instance (2 cores)',
        `${ratio.toFixed(2)} (${median(double).toFixed(0)}/s vs ${median(single).toFixed(0)}/s, ${errors} errors)`,
        '≥ 0.9',
        ratio >= 0.9,
      );
    } finally {
      for (const broker of brokers) await broker.stop();
      await redis.close();
      fake.stop();
    }
  },
} satisfies Figure;
