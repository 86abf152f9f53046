/** [5] The action's hashing throughput against sha1sum over the gateway figure's tree. */
import { collectFiles } from '../../src/action/files.js';
import { MB, REPS, log, median, timeCommand, type Figure } from '../harness.js';
import { gatewayTree } from './gateway.js';

export default {
  name: 'hashing',
  async run({ record }) {
    const { root, files } = await gatewayTree();
    const bytes = files.reduce((n, f) => n + f.size, 0);
    log(
      `\n[5] the action's hashing ÷ sha1sum over the same tree (${files.length} files, ${(bytes / MB).toFixed(0)} MB, warm cache)`,
    );
    const sha1sum = () =>
      timeCommand('sh', ['-c', `find "${root}" -type f -print0 | xargs -0 sha1sum > /dev/null`]);
    await sha1sum();
    const ours: number[] = [];
    const mainOnly: number[] = [];
    const theirs: number[] = [];
    const time = async (hashWorkers?: number) => {
      const started = performance.now();
      await collectFiles(root, { prebuilt: false, ...(hashWorkers === undefined ? {} : { hashWorkers }) });
      return performance.now() - started;
    };
    for (let rep = 0; rep < REPS; rep++) {
      ours.push(await time());
      theirs.push(await sha1sum());
      mainOnly.push(await time(0));
    }
    const ratio = median(theirs) / median(ours);
    record(
      'hashing throughput ÷ sha1sum',
      `${ratio.toFixed(2)} (${(bytes / MB / (median(ours) / 1000)).toFixed(0)} MB/s vs ${(bytes / MB / (median(theirs) / 1000)).toFixed(0)} MB/s)`,
      '≥ 2.0',
      ratio >= 2,
    );
    // The same walk hashing on the main thread only, as before the workers (src/action/hash-pool.ts).
    record(
      `… on the main thread only (hashWorkers: 0)`,
      `${(median(theirs) / median(mainOnly)).toFixed(2)} (${(bytes / MB / (median(mainOnly) / 1000)).toFixed(0)} MB/s)`,
      'context',
      undefined,
    );
  },
} satisfies Figure;
