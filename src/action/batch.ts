/**
 * The action's side of the broker's batched upload (docs/batch-upload.md): which files ride in
 * batches, how they are grouped, and the framed body. Large files keep streaming one per request.
 */
import { readFile, readlink } from 'node:fs/promises';
import { BATCH_FRAME_HEADER_BYTES, BATCH_PATH, type BatchCapability } from '../shared/wire.js';
import type { DeployFile } from './files.js';

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

/** The framed body: per file its SHA-1 (40 hex), its size (4-byte big-endian), then its bytes. */
export async function encodeBatch(files: readonly DeployFile[]): Promise<Uint8Array<ArrayBuffer>> {
  const contents = await Promise.all(
    files.map((f) => (f.isSymlink ? readlink(f.absolute).then((t) => Buffer.from(t)) : readFile(f.absolute))),
  );
  const total = contents.reduce((n, c) => n + BATCH_FRAME_HEADER_BYTES + c.byteLength, 0);
  const body = new Uint8Array(total);
  const view = new DataView(body.buffer);
  let offset = 0;
  files.forEach((file, i) => {
    const content = contents[i]!;
    // A file that changed since it was hashed would be refused by the broker as a digest lie.
    if (content.byteLength !== file.size)
      throw new Error(
        `${file.file} changed size while deploying (${file.size} → ${content.byteLength} bytes)`,
      );
    body.set(Buffer.from(file.sha, 'latin1'), offset);
    view.setUint32(offset + 40, content.byteLength);
    body.set(content, offset + BATCH_FRAME_HEADER_BYTES);
    offset += BATCH_FRAME_HEADER_BYTES + content.byteLength;
  });
  return body;
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
