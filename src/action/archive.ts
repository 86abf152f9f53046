/**
 * Archive mode: the deploy's files packed into one deterministic tar.gz and cut into Vercel's
 * `.vercel/source.tgz.partN` parts, the way `vercel deploy --archive=tgz` sends a tree too large
 * for a file list.
 */
import { createHash, type Hash } from 'node:crypto';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { pack as tarPack, type Headers } from 'tar-stream';
import { readFileChunks, readLinkTarget, readSmallFile, type DeployFile } from './files.js';
import {
  closeFile,
  createTemporaryFile,
  identityOf,
  makeTemporaryDirectory,
  removeTemporaryDirectory,
  writeAll,
} from './safe-fs.js';

/** Vercel refuses a file list longer than this (`too_many_files`); `archive: auto` packs above it. */
export const MAX_LISTED_FILES = 15_000;
/** The official CLI's part size (@vercel/build-utils streamToBufferChunks): 100 MiB. */
export const PART_BYTES = 100 * 1024 * 1024;
/** Files up to this size are read whole and synchronously; larger ones are streamed. */
const SMALL_FILE = 1024 * 1024;
/** The tar stream reaches gzip in chunks of about this size: each gzip write is a thread-pool round trip. */
const GZIP_CHUNK = 1024 * 1024;
/** The CLI's mode for a part (0o666). */
const PART_MODE = 0o666;

export type ArchiveMode = 'auto' | 'tgz' | 'off';

export const shouldArchive = (mode: ArchiveMode, fileCount: number): boolean =>
  mode === 'tgz' || (mode === 'auto' && fileCount > MAX_LISTED_FILES);

export interface Archive {
  /** The parts, as files the deploy lists and uploads. */
  parts: DeployFile[];
  /** Files packed; the compressed size is the sum of the parts' sizes. */
  entries: number;
  /** Removes the parts from disk. */
  dispose(): Promise<void>;
}

/**
 * Writes the gzip stream into part files of at most `partBytes`, hashing each as it goes: the
 * archive is never held in memory, whatever its size.
 */
class PartWriter extends Writable {
  readonly parts: DeployFile[] = [];
  private fd: number | undefined;
  private hash: Hash | undefined;
  private size = 0;
  private readonly dir: string;
  private readonly partBytes: number;

  constructor(dir: string, partBytes: number) {
    super();
    this.dir = dir;
    this.partBytes = partBytes;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void) {
    try {
      let rest = chunk;
      while (rest.length > 0) {
        if (this.fd === undefined) this.open();
        const take = Math.min(rest.length, this.partBytes - this.size);
        writeAll(this.fd!, rest.subarray(0, take));
        this.hash!.update(rest.subarray(0, take));
        this.size += take;
        rest = rest.subarray(take);
        if (this.size === this.partBytes) this.close();
      }
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _final(callback: (error?: Error | null) => void) {
    try {
      if (this.fd !== undefined) this.close();
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void) {
    if (this.fd !== undefined) closeFile(this.fd);
    this.fd = undefined;
    callback(error);
  }

  private open() {
    const name = `source.tgz.part${this.parts.length + 1}`;
    this.fd = createTemporaryFile(path.join(this.dir, name));
    this.hash = createHash('sha1');
    this.size = 0;
  }

  private close() {
    // The upload opens the part again and proves it is this very file, as for any deployed file.
    const identity = identityOf(this.fd!);
    closeFile(this.fd!);
    this.fd = undefined;
    const n = this.parts.length + 1;
    this.parts.push({
      file: `.vercel/source.tgz.part${n}`,
      absolute: path.join(this.dir, `source.tgz.part${n}`),
      sha: this.hash!.digest('hex'),
      size: this.size,
      mode: PART_MODE,
      isSymlink: false,
      identity,
    });
  }
}

/**
 * The tar header of one file. Everything that is not the file (time, owner, order) is fixed, so an
 * unchanged tree packs to the same bytes and the same parts, which Vercel then already has.
 */
function headerOf(file: DeployFile): Headers {
  const common = {
    name: file.file,
    mode: file.mode & 0o7777,
    mtime: new Date(0),
    uid: 0,
    gid: 0,
    uname: '',
    gname: '',
  };
  return file.isSymlink
    ? { ...common, type: 'symlink', linkname: readLinkTarget(file), size: 0 }
    : { ...common, type: 'file', size: file.size };
}

/** Feeds every file into the tar stream in order, honouring its backpressure. */
async function feed(tar: ReturnType<typeof tarPack>, files: readonly DeployFile[]): Promise<void> {
  for (const file of files) {
    const header = headerOf(file);
    await new Promise<void>((resolve, reject) => {
      const done = (error?: Error | null) => (error ? reject(error) : resolve());
      if (header.type === 'file' && file.size <= SMALL_FILE) {
        tar.entry(header, readSmallFile(file), done).on('error', () => undefined);
        return;
      }
      const entry = tar.entry(header, done);
      // Failures reach the caller through the callback or the read below, never as an event.
      entry.on('error', () => undefined);
      if (header.type === 'symlink') return;
      void (async () => {
        try {
          for await (const chunk of readFileChunks(file)) {
            if (!entry.write(chunk)) await new Promise((drained) => entry.once('drain', drained));
          }
          entry.end();
        } catch (error) {
          reject(error as Error);
        }
      })();
    });
  }
  tar.finalize();
}

/**
 * Packs `files` (sorted, as collectFiles lists them) into parts under a new directory of
 * `tempRoot`. Streaming throughout: memory holds a few buffers, never the archive.
 */
export async function packArchive(
  files: readonly DeployFile[],
  tempRoot: string,
  partBytes = PART_BYTES,
): Promise<Archive> {
  const dir = makeTemporaryDirectory(tempRoot, 'keyhole-archive-');
  const dispose = () => Promise.resolve(removeTemporaryDirectory(dir));
  try {
    const tar = tarPack();
    const writer = new PartWriter(dir, partBytes);
    // Node's gzip header carries no time or name: the same tar gives the same gzip bytes.
    const packed = pipeline(
      async function* () {
        let pending: Buffer[] = [];
        let bytes = 0;
        for await (const chunk of tar as AsyncIterable<Buffer>) {
          pending.push(chunk);
          bytes += chunk.length;
          if (bytes >= GZIP_CHUNK) {
            yield Buffer.concat(pending);
            pending = [];
            bytes = 0;
          }
        }
        if (bytes > 0) yield Buffer.concat(pending);
      },
      createGzip(),
      writer,
    );
    await Promise.all([
      feed(tar, files).catch((error: unknown) => {
        tar.destroy(error as Error);
        throw error;
      }),
      packed,
    ]);
    return { parts: writer.parts, entries: files.length, dispose };
  } catch (error) {
    await dispose();
    throw error;
  }
}
