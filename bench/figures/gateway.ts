/** [1] The broker's gateway cost: the same client deploying the same tree direct to the fake and through the broker. */
import type { DeployFile } from '../../src/action/files.js';
import type { GitHubIssuer } from '../../src/local/github-oidc.js';
import {
  MB,
  REPS,
  TOKEN,
  credentialFor,
  deployWith,
  log,
  median,
  quick,
  sharedTree,
  startBroker,
  startFakeProcess,
  type Figure,
} from '../harness.js';

const [count, bytes] = quick ? [500, 50 * MB] : [2000, 200 * MB];
/** The many-files tree, shared with the hashing figure. */
export const gatewayTree = () => sharedTree('tree-gateway', count, bytes, 1);

/** Alternating repetitions, so drift on this shared machine hits both sides alike. */
async function gatewayRatio(issuer: GitHubIssuer, files: DeployFile[]) {
  const fake = await startFakeProcess();
  const broker = await startBroker(issuer, fake.url);
  const direct: number[] = [];
  const through: number[] = [];
  try {
    for (let rep = 0; rep < REPS; rep++) {
      await fake.command('reset');
      direct.push(await deployWith(fake.url, TOKEN, files));
      await fake.command('reset');
      through.push(await deployWith(broker.url, await credentialFor(issuer, broker), files));
    }
  } finally {
    await broker.stop();
    fake.stop();
  }
  return { ratio: median(through) / median(direct), through: median(through), direct: median(direct) };
}

export default {
  name: 'gateway',
  async run({ issuer, record }) {
    log(
      `\n[1] deploy through the broker ÷ the same client direct to the fake (${count} files, ${bytes / MB} MB, ${REPS} reps each, alternating)`,
    );
    const { files } = await gatewayTree();
    const many = await gatewayRatio(issuer, files);
    const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    record(
      `deploy via broker ÷ direct (${count} files, ${bytes / MB} MB)`,
      `${many.ratio.toFixed(2)} (${seconds(many.through)} vs ${seconds(many.direct)})`,
      '≤ 1.10',
      many.ratio <= 1.1,
    );
    // The same bytes in few files: what the broker costs per byte rather than per request.
    const large = await gatewayRatio(issuer, (await sharedTree('tree-gateway-large', 20, bytes, 11)).files);
    record(
      `… the same bytes in 20 files (per-byte cost)`,
      `${large.ratio.toFixed(2)} (${seconds(large.through)} vs ${seconds(large.direct)})`,
      'context',
      undefined,
    );
  },
} satisfies Figure;
