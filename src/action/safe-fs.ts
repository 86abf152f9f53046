/**
 * Every filesystem access of the action goes through here: the workspace belongs to whoever wrote
 * the pull request, so the action touches only regular files and directories it reached without
 * following a link, never anything under a `.git` directory, and never waits on a FIFO or device.
 *
 * How (docs/threat-model.md, "The workspace is the attacker's"):
 * - every component of a path is `lstat`ed first: a symbolic link, a `.git` name or a non-directory
 *   in the middle is refused (`O_NOFOLLOW` alone guards only the last component);
 * - files open with `O_NOFOLLOW | O_NONBLOCK` (a FIFO answers at once instead of hanging), and the
 *   open file's `fstat` must be a regular file with the device and inode the `lstat` saw: a path
 *   swapped for a link between the look and the read is caught here;
 * - reads are capped; writes go to a fresh temporary file (`wx`) renamed over the target, so a
 *   symlink planted at the target is replaced, never written through.
 * Other modules (files.ts, pull.ts, archive readers…) build on these primitives, not on node:fs.
 */
import { randomBytes } from 'node:crypto';
import {
  appendFileSync,
  closeSync,
  constants,
  existsSync,
  createReadStream,
  fstatSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  realpathSync,
  renameSync,
  rmSync,
  writeSync,
  type BigIntStats,
  type Dirent,
} from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';

export type { BigIntStats };

/** A file or directory the action refused to touch; the message names it and says why. */
export class UnsafeFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafeFileError';
  }
}

/**
 * `.git` as any filesystem may spell it: any case (`.GIT` on case-insensitive volumes), with the
 * trailing dots or spaces Windows drops (`.git.`), or its 8.3 short name (`GIT~1`).
 */
export function isGitName(name: string): boolean {
  return name.replace(/[. ]+$/, '').toLowerCase() === '.git' || /^git~\d+$/i.test(name);
}

/** True when any component of a relative or absolute path is a `.git` name. */
export const hasGitComponent = (p: string) => p.split(/[\\/]+/).some(isGitName);

/** Identity of a file as the walk saw it: a later open must find the same device and inode. */
export interface FileIdentity {
  dev: bigint;
  ino: bigint;
}

const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** What a non-regular entry is, for the refusal message. */
export function kindOf(stat: {
  isSymbolicLink(): boolean;
  isDirectory(): boolean;
  isFIFO(): boolean;
  isSocket(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isFile(): boolean;
}): string {
  if (stat.isSymbolicLink()) return 'a symbolic link';
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO (named pipe)';
  if (stat.isSocket()) return 'a socket';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  return stat.isFile() ? 'a regular file' : 'not a regular file';
}

const errno = (error: unknown) => (error as NodeJS.ErrnoException).code;

function lstatOrUndefined(absolute: string): BigIntStats | undefined {
  try {
    return lstatSync(absolute, { bigint: true });
  } catch (error) {
    if (errno(error) === 'ENOENT' || errno(error) === 'ENOTDIR') return undefined;
    throw new UnsafeFileError(`cannot inspect ${absolute}: ${errno(error) ?? String(error)}`);
  }
}

/** Splits a relative path into its components, refusing `..`, absolute paths and `.git` names. */
function components(relative: string, shown: string): string[] {
  const parts = relative.split(/[\\/]+/).filter((p) => p !== '' && p !== '.');
  if (path.isAbsolute(relative) || parts.includes('..'))
    throw new UnsafeFileError(`${shown} leaves the directory it must stay in`);
  if (parts.some(isGitName))
    throw new UnsafeFileError(
      `${shown} is inside a .git directory; Keyhole never reads or writes there (the job's GitHub token lives in .git/config)`,
    );
  return parts;
}

/**
 * lstat of `relative` under `root`, every component checked: each directory on the way is a real
 * directory (not a link), the last one is returned as it is (a link stays a link). undefined when
 * it does not exist.
 */
export function lstatInside(root: string, relative: string, shown = relative): BigIntStats | undefined {
  const parts = components(relative, shown);
  let current = root;
  for (let i = 0; i < parts.length; i++) {
    current = path.join(current, parts[i]!);
    const stat = lstatOrUndefined(current);
    if (!stat) return undefined;
    if (i < parts.length - 1 && !stat.isDirectory())
      throw new UnsafeFileError(
        `${shown}: ${parts.slice(0, i + 1).join('/')} is ${kindOf(stat)}, not a directory; Keyhole does not follow links`,
      );
  }
  return lstatOrUndefined(current);
}

/** Opens `absolute` and proves it is the regular file `expected` described (the caller closes it). */
export function openVerified(absolute: string, expected: FileIdentity, shown: string): number {
  let fd: number;
  try {
    fd = openSync(absolute, READ_FLAGS);
  } catch (error) {
    const code = errno(error);
    throw new UnsafeFileError(
      code === 'ELOOP'
        ? `${shown} became a symbolic link after it was listed; Keyhole does not follow links`
        : `cannot read ${shown}: ${code ?? String(error)}; fix its permissions or add it to .vercelignore`,
    );
  }
  const stat = fstatSync(fd, { bigint: true });
  if (!stat.isFile() || stat.dev !== expected.dev || stat.ino !== expected.ino) {
    closeSync(fd);
    throw new UnsafeFileError(
      `${shown} changed between listing and reading (it is now ${stat.isFile() ? 'another file' : kindOf(stat)}, reached through a replaced directory or link); Keyhole reads only the files it listed`,
    );
  }
  return fd;
}

/** lstat of one entry the walk just listed (its directory is checked around it by the caller). */
export function lstatEntry(absolute: string): BigIntStats {
  return lstatSync(absolute, { bigint: true });
}

/** The next chunk of an open file (sequential reads, for hashing); 0 at its end. */
export const readChunk = (fd: number, into: Uint8Array) => readSync(fd, into, 0, into.length, null);

/** The size of an open file now. */
export const sizeOf = (fd: number) => fstatSync(fd).size;

export const closeFile = (fd: number) => closeSync(fd);

/** Reads exactly `length` bytes (or fewer at end of file) from `fd` into `into` at `offset`. */
export function readInto(fd: number, into: Uint8Array, offset: number, length: number): number {
  let read = 0;
  while (read < length) {
    const n = readSync(fd, into, offset + read, length - read, read);
    if (n === 0) break;
    read += n;
  }
  return read;
}

export interface ReadOptions {
  /** Refused above this many bytes (a huge or endless file never fills memory). */
  maxBytes: number;
  /** What the file is for, in the refusal: ".vercelignore", "the prebuilt builds.json"… */
  what?: string;
}

/**
 * A regular file under `root` (reached without links, not under `.git`), at most `maxBytes`;
 * undefined when it does not exist. A link, FIFO, device or directory there is refused by name.
 */
export function readFileInside(root: string, relative: string, options: ReadOptions): Buffer | undefined {
  const shown = options.what ?? relative;
  const stat = lstatInside(root, relative, shown);
  if (!stat) return undefined;
  if (!stat.isFile())
    throw new UnsafeFileError(
      `${shown} is ${kindOf(stat)}; Keyhole reads only regular files it reaches without following links`,
    );
  const tooBig = () =>
    new UnsafeFileError(`${shown} is larger than ${options.maxBytes} bytes; Keyhole refuses to read it`);
  if (stat.size > BigInt(options.maxBytes)) throw tooBig();
  const fd = openVerified(path.join(root, relative), stat, shown);
  try {
    // One byte more than allowed tells a file that grew since its lstat from one that fits.
    const buffer = Buffer.allocUnsafe(options.maxBytes + 1);
    const read = readInto(fd, buffer, 0, buffer.length);
    if (read > options.maxBytes) throw tooBig();
    return buffer.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}

/** The text of the symbolic link `absolute`, which must still be the link the walk saw. */
export function readLinkVerified(absolute: string, expected: FileIdentity, shown: string): Buffer {
  const stat = lstatOrUndefined(absolute);
  if (!stat?.isSymbolicLink() || stat.dev !== expected.dev || stat.ino !== expected.ino)
    throw new UnsafeFileError(
      `${shown} changed between listing and reading; Keyhole reads only what it listed`,
    );
  return Buffer.from(readlinkSync(absolute));
}

/**
 * A stream of the first `size` bytes of the listed file, opened and verified before the first byte
 * (an upload body: the file is never reopened by name behind the check).
 */
export function streamVerified(
  absolute: string,
  expected: FileIdentity,
  size: number,
  shown: string,
): ReadableStream<Uint8Array> {
  const fd = openVerified(absolute, expected, shown);
  const stream = createReadStream('', { fd, start: 0, end: Math.max(0, size - 1), autoClose: true });
  return Readable.toWeb(stream) as ReadableStream<Uint8Array>;
}

/**
 * One directory's entries, `dir` proved to be a real directory (not a link) before and after the
 * listing, so a directory swapped for a link mid-walk is caught rather than listed through.
 */
export function listDirectory(root: string, relative: string): Dirent[] {
  const shown = relative || '.';
  const absolute = relative ? path.join(root, relative) : root;
  const before = relative ? lstatInside(root, relative, shown) : lstatOrUndefined(root);
  if (!before?.isDirectory())
    throw new UnsafeFileError(
      `${shown} is ${before ? kindOf(before) : 'gone'}, not a directory; Keyhole does not follow links`,
    );
  let entries: Dirent[];
  try {
    entries = readdirSync(absolute, { withFileTypes: true });
  } catch (error) {
    throw new UnsafeFileError(`cannot read directory ${shown}: ${errno(error) ?? String(error)}`);
  }
  const after = lstatOrUndefined(absolute);
  if (!after?.isDirectory() || after.dev !== before.dev || after.ino !== before.ino)
    throw new UnsafeFileError(
      `${shown} changed while it was listed (replaced by a link?); Keyhole does not follow links`,
    );
  return entries;
}

/**
 * The real path of a directory the action works in (`path`, the pull target), which must stay
 * inside the real workspace and pass through no `.git` directory, however it is spelled or linked.
 * Links inside the workspace are allowed here (the directory is the user's choice, checked once);
 * everything below it is then walked without following links.
 */
export function resolveDirectory(dir: string, workspace: string, what = '"path" input'): string {
  const asGiven = path.relative(workspace, dir);
  if (hasGitComponent(asGiven))
    throw new UnsafeFileError(
      `the ${what} ${asGiven} names a .git directory; Keyhole never deploys or writes there`,
    );
  let real: string;
  let realWorkspace: string;
  try {
    realWorkspace = realpathSync(workspace);
    real = realpathSync(dir);
  } catch {
    throw new UnsafeFileError(`the directory ${dir} does not exist; check the ${what}`);
  }
  const fromWorkspace = path.relative(realWorkspace, real);
  if (fromWorkspace === '..' || fromWorkspace.startsWith(`..${path.sep}`) || path.isAbsolute(fromWorkspace))
    throw new UnsafeFileError(
      `the ${what} ${dir} resolves to ${real}, outside the workspace ${realWorkspace}; deploy a directory inside the workspace (a symlink in the path leads out of it)`,
    );
  if (hasGitComponent(fromWorkspace))
    throw new UnsafeFileError(
      `the ${what} ${dir} resolves to ${real}, inside a .git directory (a symlink leads there); Keyhole never deploys or writes there`,
    );
  const stat = lstatOrUndefined(real);
  if (!stat?.isDirectory())
    throw new UnsafeFileError(`${dir} is not a directory; the ${what} must name a directory`);
  return real;
}

/** Creates (or finds) the directory `relative` under `root`, each component a real directory. */
export function ensureDirectoryInside(root: string, relative: string): string {
  const parts = components(relative, relative);
  let current = root;
  for (let i = 0; i < parts.length; i++) {
    current = path.join(current, parts[i]!);
    let stat = lstatOrUndefined(current);
    if (!stat) {
      try {
        mkdirSync(current, { mode: 0o755 });
      } catch (error) {
        if (errno(error) !== 'EEXIST')
          throw new UnsafeFileError(
            `cannot create ${parts.slice(0, i + 1).join('/')}: ${errno(error) ?? String(error)}`,
          );
      }
      stat = lstatOrUndefined(current);
    }
    if (!stat?.isDirectory())
      throw new UnsafeFileError(
        `${parts.slice(0, i + 1).join('/')} is ${stat ? kindOf(stat) : 'gone'}, not a directory; Keyhole writes only into real directories, never through a link`,
      );
  }
  return current;
}

/**
 * Writes `content` to `relative` under `root`: into a fresh temporary file opened `wx` (never an
 * existing file or link), then renamed over the target, which replaces a planted link instead of
 * writing through it. The directories on the way are created as real directories.
 */
export function writeFileInside(
  root: string,
  relative: string,
  content: string | Uint8Array,
  mode = 0o644,
): string {
  const parts = components(relative, relative);
  const name = parts.pop();
  if (!name) throw new UnsafeFileError(`cannot write ${relative}: no file name`);
  const dir = ensureDirectoryInside(root, parts.join('/'));
  const target = path.join(dir, name);
  const existing = lstatOrUndefined(target);
  if (existing?.isDirectory()) throw new UnsafeFileError(`cannot write ${relative}: it is a directory`);
  const temporary = path.join(dir, `.${name}.${randomBytes(8).toString('hex')}.tmp`);
  const fd = openSync(temporary, WRITE_FLAGS, mode);
  try {
    const bytes = typeof content === 'string' ? Buffer.from(content) : content;
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
  } catch (error) {
    closeSync(fd);
    rmSync(temporary, { force: true });
    throw error;
  }
  closeSync(fd);
  renameSync(temporary, target);
  return target;
}

/**
 * A file the runner itself wrote (the event payload), read with the same care: regular, capped,
 * not through a final link. undefined when it is absent.
 */
export function readRunnerFile(absolute: string, maxBytes: number): Buffer | undefined {
  return readFileInside(path.dirname(absolute), path.basename(absolute), { maxBytes, what: absolute });
}

/** The runner's command files (GITHUB_OUTPUT, …, GITHUB_STEP_SUMMARY), used as @actions/core uses them. */
export const runnerFileExists = (absolute: string): boolean => existsSync(absolute);
export const appendRunnerFile = (absolute: string, text: string): void =>
  appendFileSync(absolute, text, { encoding: 'utf8' });

/**
 * Files the action writes for itself outside the workspace (an archive's parts, under
 * RUNNER_TEMP): a fresh private directory, files created `wx` in it, removed whole at the end.
 */
export const makeTemporaryDirectory = (parent: string, prefix: string): string =>
  mkdtempSync(path.join(parent, prefix));

export const removeTemporaryDirectory = (dir: string): void => rmSync(dir, { recursive: true, force: true });

/** A new file only this process can read, in a directory from makeTemporaryDirectory. */
export const createTemporaryFile = (absolute: string): number => openSync(absolute, WRITE_FLAGS, 0o600);

export function writeAll(fd: number, bytes: Uint8Array): void {
  let written = 0;
  while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
}

/** The device and inode of an open file: a later read proves it opens this very file (openVerified). */
export function identityOf(fd: number): FileIdentity {
  const { dev, ino } = fstatSync(fd, { bigint: true });
  return { dev, ino };
}

/** Removes a file the action itself wrote in a runner folder (RUNNER_TEMP); one already gone is fine. */
export function removeRunnerFile(absolute: string): void {
  const stat = lstatOrUndefined(absolute);
  if (stat && !stat.isDirectory()) rmSync(absolute, { force: true }); // a link itself, never its target
}
