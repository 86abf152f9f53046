/** [2] The Keyhole action against the official `vercel deploy` CLI: same tree, same fake. */
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AUDIENCE } from '../../__tests__/helpers/config.js';
import { runActionBundle } from '../../src/local/runner.js';
import {
  MB,
  REPS,
  TOKEN,
  WORK,
  generateTree,
  log,
  median,
  quick,
  startBroker,
  startFakeProcess,
  timeCommand,
  type Figure,
} from '../harness.js';

const VERCEL_CLI_VERSION = (
  JSON.parse(readFileSync(fileURLToPath(import.meta.resolve('vercel/package.json')), 'utf8')) as {
    version: string;
  }
).version;

export default {
  name: 'cli',
  async run({ issuer, record }) {
    const [count, bytes] = quick ? [300, 20 * MB] : [2000, 200 * MB];
    log(
      `\n[2] the Keyhole action ÷ the official vercel deploy CLI, same tree (${count} files, ${bytes / MB} MB), same fake`,
    );
    const workspace = path.join(WORK, 'ws-cli');
    generateTree(path.join(workspace, 'site'), count, bytes, 2);
    const fake = await startFakeProcess();
    const broker = await startBroker(issuer, fake.url);
    const cli = path.join(
      path.dirname(fileURLToPath(import.meta.resolve('vercel/package.json'))),
      'dist',
      'vc.js',
    );
    const home = path.join(WORK, 'home');
    mkdirSync(home, { recursive: true });
    const action: number[] = [];
    const official: number[] = [];
    try {
      for (let rep = 0; rep < REPS; rep++) {
        await fake.command('reset');
        issuer.setJob({});
        const started = performance.now();
        const run = await runActionBundle({
          workspace,
          oidc: issuer,
          inputs: { 'broker-url': broker.url, audience: AUDIENCE, project: 'marketing-site', path: 'site' },
        });
        if (run.code !== 0) throw new Error(`action failed: ${run.stdout.slice(-800)}`);
        action.push(performance.now() - started);
        await fake.command('reset');
        official.push(
          await timeCommand(process.execPath, [cli, 'deploy', '--yes', '--api', fake.url, '--token', TOKEN], {
            cwd: path.join(workspace, 'site'),
            env: {
              HOME: home,
              VERCEL_ORG_ID: 'team_abc123',
              VERCEL_PROJECT_ID: 'prj_marketing',
              VERCEL_TELEMETRY_DISABLED: '1',
              NO_UPDATE_NOTIFIER: '1',
              CI: '1',
            },
          }),
        );
      }
    } finally {
      await broker.stop();
      fake.stop();
    }
    const ratio = median(action) / median(official);
    record(
      `action (incl. exchange, via broker) ÷ vercel deploy ${VERCEL_CLI_VERSION} (${count} files, ${bytes / MB} MB)`,
      `${ratio.toFixed(2)} (${(median(action) / 1000).toFixed(2)} s vs ${(median(official) / 1000).toFixed(2)} s)`,
      '≤ 0.5',
      ratio <= 0.5,
    );
  },
} satisfies Figure;
