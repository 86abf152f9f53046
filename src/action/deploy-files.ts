/** The files a deploy sends: the real path, prebuilt output checked, hashed, placed under the Root Directory. */
import { tmpdir } from 'node:os';
import { packArchive, shouldArchive } from './archive.js';
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
      // An archive deploy lists its parts, not the files: their hashes would be wasted work.
      hash: (count) => !shouldArchive(settings.archive, count),
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

/** What the create lists and the upload sends: the files themselves, or the parts of their archive. */
export interface Upload {
  files: DeployFile[];
  /** Files in the tree (for an archive, packed into `files`). */
  entries: number;
  archived: boolean;
  dispose(): Promise<void>;
}

export async function prepareUpload(step: Step, files: DeployFile[]): Promise<Upload> {
  const { deps, settings } = step;
  if (!shouldArchive(settings.archive, files.length))
    return { files, entries: files.length, archived: false, dispose: () => Promise.resolve() };
  const why =
    settings.archive === 'tgz'
      ? 'archive: tgz'
      : `${files.length} files, more than Vercel's 15,000 per deployment (archive: auto)`;
  // The parts live in the runner's temp folder, never in the deployed tree.
  const archive = await step.phase('pack', () => packArchive(files, deps.env.RUNNER_TEMP || tmpdir()));
  const bytes = archive.parts.reduce((n, p) => n + p.size, 0);
  deps.core.info(
    `Packed ${archive.entries} files into one tar.gz (${(bytes / 1024 ** 2).toFixed(1)} MB in ${archive.parts.length} part(s)): ${why}`,
  );
  return { files: archive.parts, entries: archive.entries, archived: true, dispose: archive.dispose };
}
