/** Prebuilt deploys check what `vercel build` left behind, as the official CLI does before uploading. */
import { DeployError } from './deployment.js';
import { readFileInside } from './safe-fs.js';

/** builds.json is a small manifest; anything larger is not what `vercel build` writes. */
export const MAX_BUILDS_JSON_BYTES = 4 * 1024 * 1024;

export function checkBuildOutput(root: string, target: string): void {
  // The workspace's own file, read as every workspace file is (safe-fs.ts): a link, FIFO or device
  // here is refused by name, not followed or waited on.
  const text = readFileInside(root, '.vercel/output/builds.json', {
    maxBytes: MAX_BUILDS_JSON_BYTES,
    what: '.vercel/output/builds.json',
  });
  let builds: { error?: { message?: unknown }; target?: unknown };
  try {
    if (!text) throw new Error('missing');
    builds = JSON.parse(text.toString('utf8')) as typeof builds;
  } catch {
    throw new DeployError(
      `.vercel/output/builds.json is missing or unreadable in ${root}; run "vercel build${target === 'production' ? ' --prod' : ''}" before deploying with prebuilt: true`,
    );
  }
  // The message is the artifact's text (a fork's, in a workflow_run preview): it travels as data and
  // is quoted wherever it is shown (relay.ts), never rendered or run.
  if (builds.error)
    throw new DeployError(
      `the prebuilt output records a failed build: ${typeof builds.error.message === 'string' ? builds.error.message : 'unknown error'}; fix the build and run "vercel build" again`,
    );
  const builtFor = typeof builds.target === 'string' ? builds.target : 'preview';
  if ((builtFor === 'production') !== (target === 'production')) {
    throw new DeployError(
      `the prebuilt output was built for ${builtFor}, but target is ${target}; run "vercel build${target === 'production' ? ' --prod' : ''}" for this target`,
    );
  }
}
