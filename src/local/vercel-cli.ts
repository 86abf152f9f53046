/**
 * The official Vercel CLI for tests: the pinned devDependency, or a newer version installed on first
 * use into a cache folder (like node@24 for the scripts), so a fresh machine obtains it by itself.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

/** The newest `vercel` the registry serves (checked 2026-12) next to the pinned 58.1.0. */
export const NEWEST_VERCEL_CLI = '64.0.2';

/**
 * The newest CLI, installed into the cache on first use (vercelCli below), not by `npm ci`: its
 * optional native packages for other platforms are missing from this registry, and a devDependency
 * on it left package-lock.json without them, which `npm ci` refuses as out of sync.
 */
export const newestVercelCliEntry = (): Promise<string> => vercelCli(NEWEST_VERCEL_CLI);

export const PINNED_VERCEL_CLI = path.join(
  path.dirname(createRequire(import.meta.url).resolve('vercel/package.json')),
  'dist',
  'vc.js',
);

/**
 * The registry here lacks the CLI's native trampolines (@vercel/vc-native-*, optional: the CLI
 * falls back to JavaScript) and the `sandbox` 4.4.0 it pins; 4.5.0 is API-compatible. Same gap and
 * override as the pinned install (package.json, commit history).
 */
const OVERRIDES = { sandbox: '4.5.0', 'unrs-resolver': '1.12.2' };

const npmCommand = () => {
  const npm = path.join(path.dirname(process.execPath), 'npm');
  return existsSync(npm) ? npm : 'npm';
};

/**
 * The newest `vercel` the registry serves now (the benchmark compares against it); the tests keep
 * NEWEST_VERCEL_CLI so that a release does not change what they run.
 */
export async function newestVercelCliVersion(): Promise<string> {
  const { stdout } = await promisify(execFile)(
    npmCommand(),
    ['view', 'vercel', 'version', '--loglevel=error'],
    {
      timeout: 60_000,
      env: { ...process.env, npm_config_update_notifier: 'false' },
    },
  );
  const version = stdout.trim();
  if (!/^\d+\.\d+\.\d+$/.test(version))
    throw new Error(`npm view vercel version answered ${JSON.stringify(version.slice(0, 80))}`);
  return version;
}

/** Returns the path of `vc.js` for `version`, installing it into the cache the first time. */
export async function vercelCli(version: string): Promise<string> {
  const cache = path.join(
    process.env.XDG_CACHE_HOME || path.join(homedir(), '.cache'),
    `keyhole-vercel-${version}`,
  );
  const entry = path.join(cache, 'node_modules', 'vercel', 'dist', 'vc.js');
  if (existsSync(entry)) return entry;
  mkdirSync(path.dirname(cache), { recursive: true });
  // Installed next to the cache and renamed into place: an interrupted install is never mistaken for one.
  const staging = mkdtempSync(`${cache}.installing-`);
  try {
    writeFileSync(
      path.join(staging, 'package.json'),
      JSON.stringify({ private: true, dependencies: { vercel: version }, overrides: OVERRIDES }),
    );
    await promisify(execFile)(
      npmCommand(),
      ['install', '--omit=optional', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'],
      { cwd: staging, timeout: 300_000, env: { ...process.env, npm_config_update_notifier: 'false' } },
    );
    if (!existsSync(entry)) renameSync(staging, cache);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return entry;
}

export interface VercelRun {
  cli: string;
  cwd: string;
  /** An isolated HOME: the CLI keeps its config and caches there. */
  home: string;
  api: string;
  credential: string;
  projectId: string;
  /** false: no `--yes` (`inspect` and `logs` refuse the option). */
  yes?: boolean;
  /** The run is stopped after this long (`vercel logs --follow` streams until stopped); default 2 minutes. */
  timeoutMs?: number;
}

/** Runs the CLI non-interactively against `api` with a Keyhole credential; never throws. */
export async function runVercel(
  run: VercelRun,
  ...args: string[]
): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [
        run.cli,
        ...args,
        ...(run.yes === false ? [] : ['--yes']),
        '--api',
        run.api,
        '--token',
        run.credential,
      ],
      {
        cwd: run.cwd,
        timeout: run.timeoutMs ?? 120_000,
        env: {
          PATH: process.env.PATH,
          HOME: run.home,
          VERCEL_ORG_ID: 'team_abc123',
          VERCEL_PROJECT_ID: run.projectId,
          VERCEL_TELEMETRY_DISABLED: '1',
          NO_UPDATE_NOTIFIER: '1',
          CI: '1',
        },
      },
    );
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, output: e.stdout + e.stderr };
  }
}
