/**
 * [2] The Keyhole action against the official `vercel deploy` CLI, same tree, same fake: the newest
 * CLI the registry serves (installed on first use by the tests' helper) and the pinned one.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { AUDIENCE } from '../../src/local/config.js';
import {
  NEWEST_VERCEL_CLI,
  PINNED_VERCEL_CLI,
  newestVercelCliVersion,
  vercelCli,
} from '../../src/local/vercel-cli.js';
import { runActionBundle } from '../../src/local/runner.js';
import type { GitHubIssuer } from '../../src/local/github-oidc.js';
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
import { readFileSync } from 'node:fs';

const PINNED_VERSION = (
  JSON.parse(
    readFileSync(path.join(path.dirname(path.dirname(PINNED_VERCEL_CLI)), 'package.json'), 'utf8'),
  ) as {
    version: string;
  }
).version;

/** Both CLIs, each run as CI runs it: non-interactive, telemetry off, project from the environment. */
let newest: Promise<string> | undefined;
/** Asked of the registry once per run; without a registry, the newest seen when this was written. */
const newestVersion = () =>
  (newest ??= newestVercelCliVersion().catch((error: Error) => {
    log(`  (could not ask the registry for the newest vercel: ${error.message}; using ${NEWEST_VERCEL_CLI})`);
    return NEWEST_VERCEL_CLI;
  }));

/** The newest CLI the registry serves now (installed on first use) and the pinned one. */
export async function officialClis(): Promise<{ version: string; cli: string }[]> {
  const version = await newestVersion();
  return [
    { version, cli: await vercelCli(version) },
    { version: PINNED_VERSION, cli: PINNED_VERCEL_CLI },
  ];
}

export const runCli = (cli: string, apiUrl: string, cwd: string, ...args: string[]) => {
  const home = path.join(WORK, 'home');
  mkdirSync(home, { recursive: true });
  return timeCommand(process.execPath, [cli, 'deploy', ...args, '--yes', '--api', apiUrl, '--token', TOKEN], {
    cwd,
    env: {
      HOME: home,
      VERCEL_ORG_ID: 'team_abc123',
      VERCEL_PROJECT_ID: 'prj_marketing',
      VERCEL_TELEMETRY_DISABLED: '1',
      NO_UPDATE_NOTIFIER: '1',
      CI: '1',
    },
  });
};

/**
 * The action and every official CLI deploy `dir` under `workspace` in turn, each rep against a reset
 * fake (so each uploads everything); returns the medians in ms.
 */
export async function actionAgainstClis(
  issuer: GitHubIssuer,
  workspace: string,
  dir: string,
  prebuilt: boolean,
): Promise<{ action: number; clis: { version: string; ms: number }[] }> {
  const clis = await officialClis();
  const fake = await startFakeProcess();
  const broker = await startBroker(issuer, fake.url);
  const action: number[] = [];
  const official = clis.map(() => [] as number[]);
  try {
    for (let rep = 0; rep < REPS; rep++) {
      await fake.command('reset');
      issuer.setJob({});
      const started = performance.now();
      const run = await runActionBundle({
        workspace,
        oidc: issuer,
        inputs: {
          'broker-url': broker.url,
          audience: AUDIENCE,
          project: 'marketing-site',
          path: dir,
          ...(prebuilt ? { prebuilt: 'true' } : {}),
        },
      });
      if (run.code !== 0) throw new Error(`action failed: ${run.stdout.slice(-800)}`);
      action.push(performance.now() - started);
      for (const [i, { cli }] of clis.entries()) {
        await fake.command('reset');
        official[i]!.push(
          await runCli(cli, fake.url, path.join(workspace, dir), ...(prebuilt ? ['--prebuilt'] : [])),
        );
      }
    }
  } finally {
    await broker.stop();
    fake.stop();
  }
  return {
    action: median(action),
    clis: clis.map(({ version }, i) => ({ version, ms: median(official[i]!) })),
  };
}

export default {
  name: 'cli',
  async run({ issuer, record }) {
    const [count, bytes] = quick ? [300, 20 * MB] : [2000, 200 * MB];
    log(
      `\n[2] the Keyhole action ÷ the official vercel deploy CLI (${await newestVersion()}, the newest on the registry, and ${PINNED_VERSION}), same tree (${count} files, ${bytes / MB} MB), same fake`,
    );
    const workspace = path.join(WORK, 'ws-cli');
    generateTree(path.join(workspace, 'site'), count, bytes, 2);
    const { action, clis } = await actionAgainstClis(issuer, workspace, 'site', false);
    for (const { version, ms } of clis) {
      const ratio = action / ms;
      record(
        `action (incl. exchange, via broker) ÷ vercel deploy ${version} (${count} files, ${bytes / MB} MB)`,
        `${ratio.toFixed(2)} (${(action / 1000).toFixed(2)} s vs ${(ms / 1000).toFixed(2)} s)`,
        '≤ 0.5',
        ratio <= 0.5,
      );
    }
  },
} satisfies Figure;
