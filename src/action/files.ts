/** Walks the deploy directory like Vercel's client: default ignores + .vercelignore, lstat modes, streamed SHA-1. */
import { createHash } from 'node:crypto';
import { closeSync, lstatSync, openSync, readlinkSync, readSync } from 'node:fs';
import { lstat, readdir, readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import ignore, { type Ignore } from 'ignore';

/** Vercel's default ignore list (@vercel/client utils `getVercelIgnore`, research/vercel.md §1.1). */
export const DEFAULT_IGNORES = [
  '.hg',
  '.git',
  '.gitmodules',
  '.svn',
  '.cache',
  '.next',
  '.now',
  '.vercel',
  '.npmignore',
  '.dockerignore',
  '.gitignore',
  '.*.swp',
  '.DS_Store',
  '.wafpicke-*',
  '.lock-wscript',
  '.env.local',
  '.env.*.local',
  '.venv',
  '.yarn/cache',
  '.pnp*',
  'npm-debug.log',
  'config.gypi',
  'node_modules',
  '__pycache__',
  'venv',
  'CVS',
];

export interface DeployFile {
  /** POSIX path relative to the deploy root, as Vercel expects it. */
  file: string;
  absolute: string;
  sha: string;
  size: number;
  /** Full st_mode from lstat: 33188 regular, 33261 executable, 41471 symlink. */
  mode: number;
  isSymlink: boolean;
}

export interface CollectOptions {
  prebuilt: boolean;
  onProgress?: (done: number, total: number) => void;
}

export class FilesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FilesError';
  }
}

async function buildFilter(root: string, prebuilt: boolean): Promise<Ignore> {
  const ig = ignore();
  if (prebuilt) {
    // Only the Build Output API directory is deployed (Vercel client `buildFileTree` with prebuilt).
    ig.add(['*', '!/.vercel', '!/.vercel/output', '!/.vercel/output/**']);
  } else {
    ig.add(DEFAULT_IGNORES);
  }
  try {
    ig.add(await readFile(path.join(root, '.vercelignore'), 'utf8'));
    ig.add('.vercelignore');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new FilesError(`cannot read .vercelignore: ${String(error)}`);
  }
  return ig;
}

async function walk(root: string, ig: Ignore): Promise<string[]> {
  const found: string[] = [];
  const pending = [''];
  while (pending.length > 0) {
    const dir = pending.pop()!;
    let entries;
    try {
      entries = await readdir(path.join(root, dir), { withFileTypes: true });
    } catch (error) {
      throw new FilesError(
        `cannot read directory ${dir || '.'}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      );
    }
    for (const entry of entries) {
      // Never uploaded whatever .vercelignore says (`!.git`): actions/checkout keeps the job's
      // token in .git/config when credentials persist.
      if (entry.name === '.git') continue;
      const relative = dir ? `${dir}/${entry.name}` : entry.name;
      // Directories are tested with a trailing slash so `dir/` patterns apply; links are never followed.
      if (entry.isDirectory()) {
        if (!ig.ignores(`${relative}/`)) pending.push(relative);
      } else if (!ig.ignores(relative)) {
        found.push(relative);
      }
    }
  }
  return found.sort();
}

/**
 * Hashing reads synchronously into one reused 4 MiB buffer: measured (docs/benchmarks.md) at ~2.3×
 * sha1sum, where async reads cost four thread-pool round trips per file and ran at half its speed.
 * Memory stays at the one buffer whatever the file size.
 */
const READ_BUFFER = Buffer.allocUnsafe(4 * 1024 * 1024);

function hashFile(absolute: string): string {
  const hash = createHash('sha1');
  const fd = openSync(absolute, 'r');
  try {
    for (;;) {
      const read = readSync(fd, READ_BUFFER, 0, READ_BUFFER.length, null);
      if (read === 0) break;
      hash.update(READ_BUFFER.subarray(0, read));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

function describe(root: string, file: string): DeployFile {
  const absolute = path.join(root, file);
  try {
    const stat = lstatSync(absolute);
    if (stat.isSymbolicLink()) {
      // As Vercel's client does: the link itself is the file; its content is the target text.
      const target = readlinkSync(absolute);
      const bytes = Buffer.from(target);
      return {
        file,
        absolute,
        sha: createHash('sha1').update(bytes).digest('hex'),
        size: bytes.length,
        mode: stat.mode,
        isSymlink: true,
      };
    }
    if (!stat.isFile())
      throw new FilesError(
        `${file} is neither a file nor a symlink (sockets and devices cannot be deployed)`,
      );
    return {
      file,
      absolute,
      sha: hashFile(absolute),
      size: stat.size,
      mode: stat.mode,
      isSymlink: false,
    };
  } catch (error) {
    if (error instanceof FilesError) throw error;
    throw new FilesError(
      `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}; fix its permissions or add it to .vercelignore`,
    );
  }
}

/**
 * The deploy directory with every symlink resolved, refused unless it stays inside the resolved
 * workspace: `path` is checked as a string by the input parser, but a symlinked parent directory
 * could still point anywhere on the runner.
 */
export async function resolveInside(root: string, workspace: string): Promise<string> {
  let real: string;
  let realWorkspace: string;
  try {
    [real, realWorkspace] = await Promise.all([realpath(root), realpath(workspace)]);
  } catch {
    throw new FilesError(`the directory ${root} does not exist; check the "path" input`);
  }
  const fromWorkspace = path.relative(realWorkspace, real);
  if (fromWorkspace === '..' || fromWorkspace.startsWith(`..${path.sep}`) || path.isAbsolute(fromWorkspace)) {
    throw new FilesError(
      `the "path" input ${root} resolves to ${real}, outside the workspace ${realWorkspace}; deploy a directory inside the workspace (a symlink in the path leads out of it)`,
    );
  }
  return real;
}

export async function collectFiles(root: string, options: CollectOptions): Promise<DeployFile[]> {
  let rootStat;
  try {
    rootStat = await lstat(root);
  } catch {
    throw new FilesError(`the directory ${root} does not exist; check the "path" input`);
  }
  if (!rootStat.isDirectory())
    throw new FilesError(`${root} is not a directory; "path" must name a directory`);
  const ig = await buildFilter(root, options.prebuilt);
  const names = await walk(root, ig);
  if (names.length === 0) {
    throw new FilesError(
      options.prebuilt
        ? `${root}/.vercel/output is missing or empty; run "vercel build" before a prebuilt deploy`
        : `${root} has no files to deploy (after Vercel's default ignores and .vercelignore)`,
    );
  }
  const files: DeployFile[] = [];
  let lastYield = Date.now();
  for (const name of names) {
    files.push(describe(root, name));
    options.onProgress?.(files.length, names.length);
    // Synchronous hashing yields every 50 ms so a cancelled job's signal is still handled.
    if (Date.now() - lastYield > 50) {
      await new Promise((resolve) => setImmediate(resolve));
      lastYield = Date.now();
    }
  }
  return files;
}
