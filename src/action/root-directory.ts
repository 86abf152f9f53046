/**
 * Monorepo projects: where the uploaded files must sit for a Vercel project whose Root Directory
 * is a subfolder. Vercel reads the upload from that folder (the build, and for prebuilt deploys the
 * `.vercel/output` in it, as the CLI's repo-linked layout uploads it: research/vercel.md §2.1).
 */
import type { DeployFile } from './files.js';
import { hasGitComponent, lstatInside, UnsafeFileError } from './safe-fs.js';
import { fetchRetrying, type RetryPolicy } from './retry.js';

/** The project's Root Directory as a clean relative POSIX path, or undefined for the repository root. */
export function normalizeRootDirectory(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const clean = value
    .replace(/\\/g, '/')
    .replace(/^(\.\/)+/, '')
    .replace(/\/+$/, '');
  if (clean === '' || clean === '.') return undefined;
  if (clean.startsWith('/') || clean.split('/').some((s) => s === '..' || s === '.' || s === ''))
    return undefined;
  return clean;
}

/** Reads the project's Root Directory through the broker (GET /v9/projects/:id answers project settings only). */
export async function fetchRootDirectory(
  brokerUrl: string,
  credential: string,
  projectId: string,
  deps: { fetch: typeof fetch; retry: RetryPolicy },
): Promise<string | undefined> {
  const response = await fetchRetrying(
    deps.fetch,
    'project settings',
    deps.retry,
    `${brokerUrl}/v9/projects/${encodeURIComponent(projectId)}`,
    {
      headers: { authorization: `Bearer ${credential}` },
    },
  );
  if (!response.ok) {
    await response.body?.cancel();
    throw new Error(`the broker answered ${response.status} for the project's settings`);
  }
  return normalizeRootDirectory(((await response.json()) as { rootDirectory?: unknown }).rootDirectory);
}

/**
 * The prefix the upload needs: none when the deployed folder already contains the Root Directory
 * (a source deploy of the repository root, which Vercel builds in the subfolder with the rest of
 * the repository beside it); otherwise the Root Directory itself (`path` is the project's folder,
 * or a prebuilt `.vercel/output` built at the repository root).
 */
export function uploadPrefix(root: string, rootDirectory: string | undefined, prebuilt: boolean): string {
  if (!rootDirectory) return '';
  if (hasGitComponent(rootDirectory))
    throw new UnsafeFileError(
      `the project's Root Directory ${rootDirectory} names a .git directory; Keyhole never deploys from one. Change the Root Directory in the project's settings`,
    );
  if (!prebuilt) {
    // Looked at without following links (safe-fs.ts): a linked folder is not the Root Directory.
    let inside;
    try {
      inside = lstatInside(root, rootDirectory);
    } catch {
      inside = undefined;
    }
    if (inside?.isDirectory()) return '';
  }
  return `${rootDirectory}/`;
}

export const withPrefix = (files: DeployFile[], prefix: string): DeployFile[] =>
  prefix ? files.map((f) => ({ ...f, file: `${prefix}${f.file}` })) : files;
