/**
 * [2b] A tree over Vercel's 15,000-file limit: the Keyhole action (`archive: auto`, one tar.gz in
 * parts) against the newest official CLI's `vercel deploy --archive=tgz`, same tree, same fake,
 * side by side in one run.
 */
import path from 'node:path';
import { AUDIENCE } from '../../src/local/config.js';
import { runActionBundle } from '../../src/local/runner.js';
import { NEWEST_VERCEL_CLI, newestVercelCliVersion, vercelCli } from '../../src/local/vercel-cli.js';
import {
  MB,
  REPS,
  WORK,
  generateTree,
  log,
  median,
  quick,
  startBroker,
  startFakeProcess,
  type Figure,
} from '../harness.js';
import { runCli } from './cli.js';

const COUNT = 20_000;

/** The newest CLI the registry serves, installed into the cache on first use. */
async function newestCli(): Promise<{ version: string; cli: string }> {
  const version = await newestVercelCliVersion().catch(() => NEWEST_VERCEL_CLI);
  return { version, cli: await vercelCli(version) };
}

export default {
  name: 'archive',
  async run({ issuer, record }) {
    const bytes = (quick ? 20 : 100) * MB;
    const { version, cli } = await newestCli();
    log(
      `\n[2b] the action (archive: auto) ÷ vercel deploy --archive=tgz ${version}, ${COUNT} files (${bytes / MB} MB), same fake`,
    );
    const workspace = path.join(WORK, 'ws-archive');
    generateTree(path.join(workspace, 'site'), COUNT, bytes, 5);
    const fake = await startFakeProcess();
    const broker = await startBroker(issuer, fake.url);
    const action: number[] = [];
    const official: number[] = [];
    try {
      for (let rep = 0; rep < REPS; rep++) {
        // A reset fake each time: both sides upload their whole archive.
        await fake.command('reset');
        issuer.setJob({});
        const started = performance.now();
        const run = await runActionBundle({
          workspace,
          oidc: issuer,
          inputs: { 'broker-url': broker.url, audience: AUDIENCE, project: 'marketing-site', path: 'site' },
        });
        if (run.code !== 0) throw new Error(`action failed: ${run.stdout.slice(-800)}`);
        if (!/Packed 20000 files into one tar\.gz/.test(run.stdout))
          throw new Error('the action did not deploy an archive');
        action.push(performance.now() - started);
        await fake.command('reset');
        official.push(await runCli(cli, fake.url, path.join(workspace, 'site'), '--archive=tgz'));
      }
    } finally {
      await broker.stop();
      fake.stop();
    }
    const [a, c] = [median(action), median(official)];
    record(
      `action (archive: auto, via broker) ÷ vercel deploy --archive=tgz ${version} (${COUNT} files, ${bytes / MB} MB)`,
      `${(a / c).toFixed(2)} (${(a / 1000).toFixed(2)} s vs ${(c / 1000).toFixed(2)} s)`,
      '≤ 0.5',
      a / c <= 0.5,
    );
  },
} satisfies Figure;
