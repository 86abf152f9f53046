/** [6] A redeploy after one changed file uploads exactly that file. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { AUDIENCE } from '../../src/local/config.js';
import { runActionBundle } from '../../src/local/runner.js';
import { MB, WORK, generateTree, log, startBroker, startFakeProcess, type Figure } from '../harness.js';

export default {
  name: 'redeploy',
  async run({ issuer, record }) {
    const count = 5000;
    log(`\n[6] redeploy after changing 1 of ${count} files`);
    const workspace = path.join(WORK, 'ws-redeploy');
    generateTree(path.join(workspace, 'site'), count, 5 * MB, 6);
    const fake = await startFakeProcess();
    const broker = await startBroker(issuer, fake.url);
    try {
      const run = () =>
        runActionBundle({
          workspace,
          oidc: issuer,
          inputs: { 'broker-url': broker.url, audience: AUDIENCE, project: 'marketing-site', path: 'site' },
        });
      issuer.setJob({});
      if ((await run()).code !== 0) throw new Error('first deploy failed');
      await fake.command('stats');
      const before = (await fake.command('stats')).uploads;
      writeFileSync(path.join(workspace, 'site', 'd0', 'e0', 'f0.bin'), `changed ${Date.now()}`);
      const second = await run();
      const uploaded = (await fake.command('stats')).uploads - before;
      record(
        `files uploaded by a redeploy after changing 1 of ${count}`,
        `${uploaded} (${second.code === 0 ? 'READY' : 'failed'})`,
        'exactly 1',
        uploaded === 1 && second.code === 0,
      );
    } finally {
      await broker.stop();
      fake.stop();
    }
  },
} satisfies Figure;
