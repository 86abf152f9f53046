/** Walks the deploy directory like Vercel's client: default ignores + .vercelignore, lstat modes, streamed SHA-1. */
import { createHash } from 'node:crypto';
import path from 'node:path';
import ignore, { type Ignore } from 'ignore';
import { createHashPool, hashWorkerCount } from './hash-pool.js';
import {
  closeFile,
  isGitName,
  lstatEntry,
  kindOf,
  listDirectory,
  openVerified,
  readFileInside,
  readChunk,
  readLinkVerified,
  resolveDirectory,
  streamVerified,
  type BigIntStats,
  type FileIdentity,
} from './safe-fs.js';

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
  /** Device and inode the walk saw: every later read must open this very file (safe-fs.ts). */
  identity: FileIdentity;
}

export interface CollectOptions {
  prebuilt: boolean;
  /**
   * Whether to hash the files, told how many there are: an archive deploy sends the archive's
   * parts, not the files, so hashing each would be wasted work. Default: always.
   */
  hash?: (count: number) => boolean;
  onProgress?: (done: number, total: number) => void;
  /**
   * Worker threads to hash on (hash-pool.ts); 0 hashes on the main thread. Default: one per core
   * besides the main thread (at most three) for a tree of POOL_MIN_BYTES or more, where starting them pays.
   */
  hashWorkers?: number;
}

export class FilesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FilesError';
  }
}

/** `.vercelignore` is read like every workspace file (safe-fs.ts): regular, reached without links, capped. */
export const MAX_VERCELIGNORE_BYTES = 1024 * 1024;

function buildFilter(root: string, prebuilt: boolean): Ignore {
  const ig = ignore();
  if (prebuilt) {
    // Only the Build Output API directory is deployed (Vercel client `buildFileTree` with prebuilt).
    ig.add(['*', '!/.vercel', '!/.vercel/output', '!/.vercel/output/**']);
  } else {
    ig.add(DEFAULT_IGNORES);
  }
  let text: Buffer | undefined;
  try {
    text = readFileInside(root, '.vercelignore', { maxBytes: MAX_VERCELIGNORE_BYTES });
  } catch (error) {
    throw new FilesError(`cannot use .vercelignore: ${(error as Error).message}`);
  }
  if (text) {
    ig.add(text.toString('utf8'));
    ig.add('.vercelignore');
  }
  return ig;
}

interface Listed {
  file: string;
  stat: BigIntStats;
}

/**
 * Lists the files to deploy, each with the lstat taken while its directory was proved a real
 * directory (safe-fs.ts listDirectory): reads later check the file is still that one.
 */
function walk(root: string, ig: Ignore): Listed[] {
  const found: Listed[] = [];
  const pending = [''];
  while (pending.length > 0) {
    const dir = pending.pop()!;
    const entries = listDirectory(root, dir);
    const absoluteDir = dir ? path.join(root, dir) : root;
    for (const entry of entries) {
      // Never uploaded whatever .vercelignore says (`!.git`, `.GIT`): actions/checkout keeps the
      // job's token in .git/config when credentials persist.
      if (isGitName(entry.name)) continue;
      const relative = dir ? `${dir}/${entry.name}` : entry.name;
      // Directories are tested with a trailing slash so `dir/` patterns apply; links are never followed.
      if (entry.isDirectory()) {
        if (!ig.ignores(`${relative}/`)) pending.push(relative);
      } else if (!ig.ignores(relative)) {
        let stat: BigIntStats;
        try {
          stat = lstatEntry(path.join(absoluteDir, entry.name));
        } catch (error) {
          throw new FilesError(
            `cannot read ${relative}: ${(error as NodeJS.ErrnoException).code ?? String(error)}; fix its permissions or add it to .vercelignore`,
          );
        }
        found.push({ file: relative, stat });
      }
    }
    // The listing's lstats count only if the directory was not swapped for a link meanwhile.
    listDirectory(root, dir);
  }
  return found.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
}

/**
 * Hashing reads synchronously into one reused 4 MiB buffer: measured (docs/benchmarks.md) at ~2.3×
 * sha1sum, where async reads cost four thread-pool round trips per file and ran at half its speed.
 * Memory stays at the one buffer whatever the file size.
 */
const READ_BUFFER = Buffer.allocUnsafe(4 * 1024 * 1024);

function hashFile(absolute: string, identity: FileIdentity, shown: string): string {
  const hash = createHash('sha1');
  const fd = openVerified(absolute, identity, shown);
  try {
    for (;;) {
      const read = readChunk(fd, READ_BUFFER);
      if (read === 0) break;
      hash.update(READ_BUFFER.subarray(0, read));
    }
  } finally {
    closeFile(fd);
  }
  return hash.digest('hex');
}

function describe(root: string, { file, stat }: Listed, hash: boolean): DeployFile {
  const absolute = path.join(root, file);
  const identity = { dev: stat.dev, ino: stat.ino };
  const mode = Number(stat.mode);
  if (stat.isSymbolicLink()) {
    // As Vercel's client does: the link itself is the file; its content is the target text. The
    // link is never followed (its target may lead out of the workspace), only its text is sent.
    const bytes = readLinkVerified(absolute, identity, file);
    return {
      file,
      absolute,
      sha: createHash('sha1').update(bytes).digest('hex'),
      size: bytes.length,
      mode,
      isSymlink: true,
      identity,
    };
  }
  if (!stat.isFile())
    throw new FilesError(
      `${file} is ${kindOf(stat)}: only regular files and symlinks can be deployed; remove it or add it to .vercelignore`,
    );
  return {
    file,
    absolute,
    sha: hash ? hashFile(absolute, identity, file) : '',
    size: Number(stat.size),
    mode,
    isSymlink: false,
    identity,
  };
}

/**
 * The deploy directory with every symlink resolved, refused unless it stays inside the resolved
 * workspace and outside any `.git` directory: `path` is checked as a string by the input parser,
 * but a symlinked parent directory could still point anywhere on the runner.
 */
export function resolveInside(root: string, workspace: string): Promise<string> {
  try {
    return Promise.resolve(resolveDirectory(root, workspace));
  } catch (error) {
    return Promise.reject(new FilesError((error as Error).message));
  }
}

export async function collectFiles(root: string, options: CollectOptions): Promise<DeployFile[]> {
  let rootStat;
  try {
    rootStat = lstatEntry(root);
  } catch {
    throw new FilesError(`the directory ${root} does not exist; check the "path" input`);
  }
  if (!rootStat.isDirectory())
    throw new FilesError(`${root} is not a directory; "path" must name a directory`);
  const ig = buildFilter(root, options.prebuilt);
  const names = walk(root, ig);
  if (names.length === 0) {
    throw new FilesError(
      options.prebuilt
        ? `${root}/.vercel/output is missing or empty; run "vercel build" before a prebuilt deploy`
        : `${root} has no files to deploy (after Vercel's default ignores and .vercelignore)`,
    );
  }
  const files: DeployFile[] = [];
  const hash = options.hash?.(names.length) ?? true;
  const workers = hash ? (options.hashWorkers ?? autoWorkers(names)) : 0;
  if (workers > 0) {
    for (const name of names) files.push(describe(root, name, false));
    await hashOnWorkers(files, workers, options);
    return files;
  }
  let lastYield = Date.now();
  for (const name of names) {
    files.push(describe(root, name, hash));
    options.onProgress?.(files.length, names.length);
    // Synchronous hashing yields every 50 ms so a cancelled job's signal is still handled.
    if (Date.now() - lastYield > 50) {
      await new Promise((resolve) => setImmediate(resolve));
      lastYield = Date.now();
    }
  }
  return files;
}

/** Below this many bytes of regular files, starting workers costs more than they save. */
const POOL_MIN_BYTES = 32 * 1024 * 1024;
/** Files handed to a worker at once: few messages, and a bounded number of descriptors open. */
const BATCH_FILES = 32;
/** The main thread's batches are smaller: it yields after each to feed the workers. */
const MAIN_BATCH_FILES = 8;

function autoWorkers(names: Listed[]): number {
  const count = hashWorkerCount();
  if (count < 1) return 0;
  let bytes = 0;
  for (const { stat } of names) if (stat.isFile()) bytes += Number(stat.size);
  return bytes >= POOL_MIN_BYTES ? count : 0;
}

/**
 * Hashes the regular files on `workers` threads and the main thread. The main thread opens and
 * verifies each file a worker hashes, as hashFile does, and closes it after; between its own
 * batches it yields, so the workers' answers are taken and their next batches posted.
 */
export async function hashOnWorkers(
  files: DeployFile[],
  workers: number,
  {
    onProgress,
    mainThread = true,
  }: Pick<CollectOptions, 'onProgress'> & {
    /** Whether the main thread hashes too (tests turn it off to see the workers do it all). */
    mainThread?: boolean;
  },
): Promise<void> {
  const regular = files.filter((f) => !f.isSymlink);
  const pool = createHashPool(workers);
  let done = files.length - regular.length;
  let next = 0;
  let failed = false;
  const take = (count: number) => {
    const batch = regular.slice(next, next + count);
    next += batch.length;
    return batch;
  };
  const finished = (count: number) => {
    done += count;
    onProgress?.(done, files.length);
  };
  const onWorker = async () => {
    await pool.online;
    for (let batch = take(BATCH_FILES); !failed && batch.length > 0; batch = take(BATCH_FILES)) {
      const fds: number[] = [];
      try {
        for (const f of batch) fds.push(openVerified(f.absolute, f.identity, f.file));
        const results = await pool.hash(fds);
        results.forEach((result, i) => {
          if (typeof result !== 'string')
            throw new FilesError(
              `cannot read ${batch[i]!.file}: ${result.error}; fix its permissions or add it to .vercelignore`,
            );
          batch[i]!.sha = result;
        });
      } finally {
        for (const fd of fds) closeFile(fd);
      }
      finished(batch.length);
    }
  };
  const onMain = async () => {
    for (let batch = take(MAIN_BATCH_FILES); !failed && batch.length > 0; batch = take(MAIN_BATCH_FILES)) {
      for (const f of batch) f.sha = hashFile(f.absolute, f.identity, f.file);
      finished(batch.length);
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  const runner = (run: () => Promise<void>) =>
    run().catch((error: unknown) => {
      failed = true;
      throw error;
    });
  try {
    // Every runner ends (and closes its descriptors) before the first failure is thrown.
    const runners = Array.from({ length: workers * 2 }, () => runner(onWorker));
    if (mainThread) runners.push(runner(onMain));
    const failure = (await Promise.allSettled(runners)).find((o) => o.status === 'rejected');
    if (failure) throw failure.reason;
  } finally {
    await pool.close();
  }
}

/**
 * A small regular file's bytes, read synchronously through the same checks as hashing (the very
 * file listed, no link followed): the packer reads thousands of them, and a thread-pool round
 * trip each would cost more than the reading. A file that changed size since the walk fails the
 * deploy instead of corrupting the archive.
 */
export function readSmallFile(file: DeployFile): Buffer {
  const bytes = Buffer.allocUnsafe(file.size);
  let read = 0;
  const fd = openVerified(file.absolute, file.identity, file.file);
  try {
    for (;;) {
      const n = readChunk(fd, READ_BUFFER);
      if (n === 0) break;
      if (read + n <= file.size) READ_BUFFER.copy(bytes, read, 0, n);
      read += n;
      if (read > file.size) break;
    }
  } finally {
    closeFile(fd);
  }
  if (read !== file.size) throw changedWhilePacked(file, read);
  return bytes;
}

const changedWhilePacked = (file: DeployFile, read: number) =>
  new FilesError(
    `${file.file} changed while it was packed (${file.size} bytes listed, ${read} read); re-run the job`,
  );

/** A large regular file's bytes, streamed from the very file listed, checked against its listed size. */
export async function* readFileChunks(file: DeployFile): AsyncIterable<Uint8Array> {
  let read = 0;
  // One byte past the listed size: a file that grew is caught, not cut.
  const stream = streamVerified(file.absolute, file.identity, file.size + 1, file.file);
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
    read += chunk.length;
    if (read > file.size) break;
    yield chunk;
  }
  if (read !== file.size) throw changedWhilePacked(file, read);
}

/** A symlink's target text, from the very link listed (links are deployed as links, never followed). */
export const readLinkTarget = (file: DeployFile): string =>
  readLinkVerified(file.absolute, file.identity, file.file).toString();
