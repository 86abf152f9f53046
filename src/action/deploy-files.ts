/** The files a deploy sends: the real path, prebuilt output checked, hashed, placed under the Root Directory. */
import { checkBuildOutput } from './build-output.js';
import type { Credential } from './credential.js';
import { collectFiles, resolveInside, type DeployFile } from './files.js';
import { fetchRootDirectory, uploadPrefix, withPrefix } from './root-directory.js';
import type { Step } from './step.js';

/**
 * A monorepo project (Root Directory set): the files go where Vercel will look for them. Asked
 * while the files are hashed; it decides only where they sit in the upload.
 */
export function readRootDirectory(
  { deps, settings }: Step,
  credential: Credential,
): Promise<string | undefined> {
  const { exchanged, gatewayFetch } = credential;
  return fetchRootDirectory(settings.brokerUrl, exchanged.credential, exchanged.project.id, {
    fetch: gatewayFetch,
    retry: deps.retry,
  }).catch((error: unknown) => {
    deps.core.warning(
      `Could not read the project's Root Directory (${error instanceof Error ? error.message : String(error)}); uploading paths as they are.`,
    );
    return undefined;
  });
}

export async function collectDeployFiles(
  step: Step,
  rootDirectory: Promise<string | undefined>,
): Promise<DeployFile[]> {
  const { deps, settings } = step;
  const { core } = deps;
  // Symlinks resolved before anything under `path` is read: it must stay inside the workspace.
  const root = await resolveInside(settings.path, settings.workspace);
  if (settings.prebuilt) checkBuildOutput(root, settings.target);
  let lastReport = 0;
  const files = await step.phase('hash', () =>
    collectFiles(root, {
      prebuilt: settings.prebuilt,
      onProgress: (done, total) => {
        if (deps.now() - lastReport > 2000 || done === total) {
          lastReport = deps.now();
          core.info(`Hashing ${done}/${total} files`);
        }
      },
    }),
  );
  const prefix = uploadPrefix(root, await rootDirectory, settings.prebuilt);
  if (prefix)
    core.info(`The project's Root Directory is ${prefix.slice(0, -1)}: uploading the files under ${prefix}`);
  return withPrefix(files, prefix);
}
