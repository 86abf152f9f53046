/**
 * The action's side of the broker's batched upload (docs/batch-upload.md): which files ride in
 * batches, how they are grouped, and the framed body. Large files keep streaming one per request.
 */
import { BATCH_FRAME_HEADER_BYTES, BATCH_PATH, type BatchCapability } from '../shared/wire.js';
import type { DeployFile } from './files.js';
import { closeFile, openVerified, readInto, readLinkVerified, sizeOf } from './safe-fs.js';

/**
 * Bytes per batch the action aims for: large enough that the per-request cost vanishes, small
 * enough that several batches run at once and a retried batch resends little (docs/benchmarks.md).
 */
export const BATCH_TARGET_BYTES = 4 * 1024 * 1024;
/** Batches in flight at once; the broker fans each out to Vercel on its own keep-alive sockets. */
export const BATCH_CONCURRENCY = 4;

/** Splits files into batches (small ones, grouped) and singles (over the broker's per-file cap). */
export function planBatches(
  files: readonly DeployFile[],
  capability: BatchCapability,
  targetBytes = BATCH_TARGET_BYTES,
): { batches: DeployFile[][]; singles: DeployFile[] } {
  const limit = Math.min(targetBytes, capability.max_bytes);
  const batches: DeployFile[][] = [];
  const singles: DeployFile[] = [];
  let current: DeployFile[] = [];
  let bytes = 0;
  for (const file of files) {
    if (file.size > capability.max_file_bytes || BATCH_FRAME_HEADER_BYTES + file.size > limit) {
      singles.push(file);
      continue;
    }
    const frame = BATCH_FRAME_HEADER_BYTES + file.size;
    if (current.length > 0 && (current.length >= capability.max_files || bytes + frame > limit)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(file);
    bytes += frame;
  }
  if (current.length > 0) batches.push(current);
  return { batches, singles };
}

/**
 * The framed body: per file its SHA-1 (40 hex), its size (4-byte big-endian), then its bytes, each
 * file read straight into its place (synchronous reads, as hashing measured fastest; a file is at
 * most the broker's per-file cap of a batch).
 */
export function encodeBatch(files: readonly DeployFile[]): Uint8Array<ArrayBuffer> {
  const total = files.reduce((n, f) => n + BATCH_FRAME_HEADER_BYTES + f.size, 0);
  const body = new Uint8Array(total);
  const view = new DataView(body.buffer);
  let offset = 0;
  for (const file of files) {
    body.set(Buffer.from(file.sha, 'latin1'), offset);
    view.setUint32(offset + 40, file.size);
    offset += BATCH_FRAME_HEADER_BYTES;
    const size = file.isSymlink ? readLinkInto(file, body, offset) : readFileInto(file, body, offset);
    // A file that changed since it was hashed would be refused by the broker as a digest lie.
    if (size !== file.size)
      throw new Error(`${file.file} changed size while deploying (${file.size} → ${size} bytes)`);
    offset += size;
  }
  return body;
}

function readLinkInto(file: DeployFile, body: Uint8Array, offset: number): number {
  const target = readLinkVerified(file.absolute, file.identity, file.file);
  if (target.byteLength === file.size) body.set(target, offset);
  return target.byteLength;
}

/**
 * Reads the file into `body` at `offset`; its size now (a file that changed size is not read). The
 * open proves it is still the file the walk listed (safe-fs.ts), not a link swapped in since.
 */
function readFileInto(file: DeployFile, body: Uint8Array, offset: number): number {
  const fd = openVerified(file.absolute, file.identity, file.file);
  try {
    const size = sizeOf(fd);
    if (size !== file.size) return size;
    return readInto(fd, body, offset, size);
  } finally {
    closeFile(fd);
  }
}

/**
 * The batch as a request body with its length: a one-chunk stream, because fetch copies a
 * Uint8Array body twice before sending it (measured, docs/benchmarks.md) but writes a stream's
 * chunks as they are. `Content-Length` keeps the request fixed-length, as the broker requires.
 */
export function batchRequestBody(body: Uint8Array): { body: ReadableStream<Uint8Array>; length: number } {
  return {
    body: new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(body);
        controller.close();
      },
    }),
    length: body.byteLength,
  };
}

/**
 * The batch capability from the exchange answer, when the broker announced a usable one: an older
 * broker announces none and the action uploads one file per request, as before.
 */
export function batchCapabilityOf(answer: { upload_batch?: unknown }): BatchCapability | undefined {
  const offered = answer.upload_batch as Partial<BatchCapability> | undefined;
  if (typeof offered !== 'object' || offered === null) return undefined;
  const positive = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n > 0;
  // Only the path Keyhole defines, on the broker's own origin: the credential goes nowhere else.
  if (offered.path !== BATCH_PATH) return undefined;
  if (!positive(offered.max_files) || !positive(offered.max_file_bytes) || !positive(offered.max_bytes))
    return undefined;
  return {
    path: offered.path,
    max_files: offered.max_files,
    max_file_bytes: offered.max_file_bytes,
    max_bytes: offered.max_bytes,
  };
}
