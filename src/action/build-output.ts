/** Prebuilt deploys check what `vercel build` left behind, as the official CLI does before uploading. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { DeployError } from './deployment.js';

export async function checkBuildOutput(root: string, target: string): Promise<void> {
  const file = path.join(root, '.vercel', 'output', 'builds.json');
  let builds: { error?: { message?: string }; target?: string };
  try {
    builds = JSON.parse(await readFile(file, 'utf8')) as typeof builds;
  } catch {
    throw new DeployError(
      `.vercel/output/builds.json is missing or unreadable in ${root}; run "vercel build${target === 'production' ? ' --prod' : ''}" before deploying with prebuilt: true`,
    );
  }
  if (builds.error)
    throw new DeployError(
      `the prebuilt output records a failed build: ${builds.error.message ?? 'unknown error'}; fix the build and run "vercel build" again`,
    );
  const builtFor = builds.target ?? 'preview';
  if ((builtFor === 'production') !== (target === 'production')) {
    throw new DeployError(
      `the prebuilt output was built for ${builtFor}, but target is ${target}; run "vercel build${target === 'production' ? ' --prod' : ''}" for this target`,
    );
  }
}
