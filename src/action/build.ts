/**
 * `build: true`: the official `vercel build`, at the version the `vercel-version` input pins,
 * fetched from the npm registry with `npm exec`, run in the deploy directory after the pull.
 */
import { spawn } from 'node:child_process';
import { resolveInside } from './files.js';
import type { Step } from './step.js';

export class BuildError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BuildError';
  }
}

/** The CLI's target flag for `vercel build`: production, or a custom environment by slug. */
export function buildArgs(target: string): string[] {
  if (target === 'production') return ['--prod'];
  return target === 'preview' ? [] : [`--target=${target}`];
}

/**
 * Runs `vercel build` with the build-env input in its environment. Its output goes to the job's
 * log as a build step of the workflow would; the Keyhole credential is never in its environment
 * (it lives in this process only), so the build cannot deploy or read anything through the broker.
 */
export async function runVercelBuild(step: Step): Promise<void> {
  const { deps, settings } = step;
  const dir = await resolveInside(settings.path, settings.workspace);
  const args = [
    'exec',
    '--yes',
    `--package=vercel@${settings.vercelVersion}`,
    '--',
    'vercel',
    'build',
    ...buildArgs(settings.target),
    '--yes',
  ];
  deps.core.info(
    `Running vercel build ${buildArgs(settings.target).join(' ')} with vercel@${settings.vercelVersion}`,
  );
  const code = await step.phase(
    'vercel build',
    () =>
      new Promise<number | null>((resolve, reject) => {
        const child = spawn(process.platform === 'win32' ? 'npm.cmd' : 'npm', args, {
          cwd: dir,
          env: {
            ...deps.env,
            ...settings.buildEnv,
            VERCEL_TELEMETRY_DISABLED: '1',
            npm_config_update_notifier: 'false',
          },
          stdio: ['ignore', 'inherit', 'inherit'],
          signal: deps.signal,
        });
        child.once('error', (error) =>
          reject(new BuildError(`could not start npm to run vercel build: ${error.message}`)),
        );
        child.once('exit', resolve);
      }),
  );
  if (code !== 0)
    throw new BuildError(
      `vercel build (vercel@${settings.vercelVersion}) failed with exit code ${code}; its output is above`,
    );
}
