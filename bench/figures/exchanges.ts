/** [3] Exchanges per second from a second process against a bare in-process verify + mint loop, and latency. */
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { AUDIENCE } from '../../__tests__/helpers/config.js';
import { loadSigningKeys, mintCredential } from '../../src/broker/credential.js';
import {
  SIGNING,
  cpuMicros,
  loadExchanges,
  log,
  quick,
  startBroker,
  startFakeProcess,
  type Figure,
} from '../harness.js';

export default {
  name: 'exchanges',
  async run({ issuer, record }) {
    const count = quick ? 1500 : 5000;
    const concurrency = 8;
    log(
      `\n[3] exchanges per second, load from a second process (${count} tokens, ${concurrency} concurrent, after a warm-up) ÷ in-process jwtVerify + mint`,
    );
    const fake = await startFakeProcess();
    const broker = await startBroker(issuer, fake.url);
    issuer.setJob({});
    const mint = (n: number) => Promise.all(Array.from({ length: n }, () => issuer.mint(AUDIENCE)));
    try {
      // Steady state on both sides: the same warm-up load first (JIT, sockets, JWKS), then the run.
      await loadExchanges(broker.url, await mint(1000), concurrency);
      const tokens = await mint(count);
      const cpuBefore = cpuMicros(broker.process.pid!);
      const load = await loadExchanges(broker.url, tokens, concurrency);
      const brokerMicros = (cpuMicros(broker.process.pid!) - cpuBefore) / count;
      const jwks = createRemoteJWKSet(new URL(issuer.jwksUrl));
      const keys = await loadSigningKeys(SIGNING, 'K');
      const bareOnce = async (token: string) => {
        const { payload } = await jwtVerify(token, jwks, {
          issuer: issuer.issuer,
          audience: AUDIENCE,
          algorithms: ['RS256'],
        });
        await mintCredential(keys, {
          pn: 'm',
          prj: 'p',
          team: 't',
          tgt: 'preview',
          rid: String(payload.repository_id),
          repo: String(payload.repository),
          ref: String(payload.ref),
          sha: String(payload.sha),
          run: '1',
          att: '1',
          wf: String(payload.job_workflow_ref),
          iat: 0,
          exp: Date.now() + 1000,
        });
      };
      for (const token of await mint(1000)) await bareOnce(token);
      const bare = await mint(Math.min(count, 3000));
      const started = performance.now();
      for (const token of bare) await bareOnce(token);
      const barePerSecond = bare.length / ((performance.now() - started) / 1000);
      const ratio = load.perSecond / barePerSecond;
      record(
        'exchanges/s (2nd process, warm) ÷ bare verify+mint loop',
        `${ratio.toFixed(2)} (${load.perSecond.toFixed(0)}/s vs ${barePerSecond.toFixed(0)}/s, ${load.errors} errors)`,
        '≥ 0.5',
        ratio >= 0.5,
      );
      record(
        'broker CPU per exchange (all its threads: JS, GC helpers, crypto pool)',
        `${brokerMicros.toFixed(0)} µs`,
        'context',
        undefined,
      );
      record(
        `exchange latency p50 / p99 at ${concurrency} concurrent`,
        `${load.p50.toFixed(1)} ms / ${load.p99.toFixed(1)} ms`,
        'p99 < 20 ms',
        load.p99 < 20,
      );
    } finally {
      await broker.stop();
      fake.stop();
    }
  },
} satisfies Figure;
