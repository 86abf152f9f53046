/** [8] Hundreds of concurrent exchanges and tens of concurrent deploys against one broker. */
import { AUDIENCE } from '../../src/local/config.js';
import {
  MB,
  credentialFor,
  deployWith,
  loadExchanges,
  log,
  peakRssBytes,
  sharedTree,
  startBroker,
  startFakeProcess,
  type Figure,
} from '../harness.js';

export default {
  name: 'load',
  async run({ issuer, record }) {
    const [exchanges, deploys] = [500, 20];
    log(`\n[8] load: ${exchanges} concurrent exchanges and ${deploys} concurrent deploys against one broker`);
    const { files } = await sharedTree('tree-load', 50, 2 * MB, 8);
    const fake = await startFakeProcess();
    const broker = await startBroker(issuer, fake.url);
    try {
      issuer.setJob({});
      const tokens = await Promise.all(Array.from({ length: exchanges }, () => issuer.mint(AUDIENCE)));
      const credentials = await Promise.all(
        Array.from({ length: deploys }, () => credentialFor(issuer, broker)),
      );
      const started = performance.now();
      const loadDone = loadExchanges(broker.url, tokens, exchanges, 'load-tokens');
      const results = await Promise.allSettled(
        credentials.map((credential) => deployWith(broker.url, credential, files)),
      );
      const load = await loadDone;
      const seconds = (performance.now() - started) / 1000;
      const failedDeploys = results.filter((r) => r.status === 'rejected').length;
      const peak = peakRssBytes(broker.process.pid!);
      record(
        `${exchanges} concurrent exchanges + ${deploys} concurrent deploys (50 files each)`,
        `${load.errors + failedDeploys} errors; exchange p50 ${load.p50.toFixed(0)} ms, p99 ${load.p99.toFixed(0)} ms; ${seconds.toFixed(1)} s; broker peak RSS ${(peak / MB).toFixed(0)} MB`,
        '0 errors, bounded RSS',
        load.errors + failedDeploys === 0 && peak < 300 * MB,
      );
    } finally {
      await broker.stop();
      fake.stop();
    }
  },
} satisfies Figure;
