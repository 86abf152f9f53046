/**
 * Reads a batched upload body (docs/batch-upload.md): frames of a 40-hex SHA-1, a 4-byte size and
 * the bytes. Every frame is checked before a byte of it goes anywhere: its header, its size against
 * the caps, its length against the body, its digest against its bytes.
 */
import { badRequest, BrokerError } from '../errors.js';
import { concatBytes, toHex } from '../bytes.js';
import { BATCH_FRAME_HEADER_BYTES, BATCH_PATH, type BatchCapability } from '../../shared/wire.js';
import type { GatewayLimits } from './context.js';

/** Frames per batch: enough to amortise a request, few enough that one answer stays small. */
const BATCH_MAX_FILES = 256;
/**
 * Views a frame may be made of before it is copied instead: a 1 MiB frame in 64 KiB socket reads is
 * about 17; a client that trickles bytes gets one buffer, not a view per read.
 */
const MAX_VIEWS_PER_FRAME = 64;
/**
 * Files up to this size ride in batches; larger ones stream singly through /v2/files, where the
 * per-request cost is small against the bytes (docs/benchmarks.md, "Batched uploads").
 */
const BATCH_MAX_FILE_BYTES = 1024 * 1024;
/** The whole body: bounds what one batch can make the broker read before it answers. */
const BATCH_MAX_BYTES = 16 * 1024 * 1024;
/** Files of one batch forwarded to Vercel at once (each also takes a slot of max_inflight_uploads). */
export const BATCH_FANOUT = 8;

const EMPTY = new Uint8Array(0);

const ASCII = new TextDecoder('latin1');

/** What this broker announces in the exchange answer; the config's own caps only ever lower it. */
export function batchCapability(
  limits: Pick<GatewayLimits, 'max_files' | 'max_file_bytes'>,
): BatchCapability {
  return {
    path: BATCH_PATH,
    max_files: Math.min(BATCH_MAX_FILES, limits.max_files),
    max_file_bytes: Math.min(BATCH_MAX_FILE_BYTES, limits.max_file_bytes),
    max_bytes: BATCH_MAX_BYTES,
  };
}

/** Bytes pieces keep alive: each socket read they are views of, whole (adjacent views counted once). */
export function retainedBytes(pieces: readonly Uint8Array[]): number {
  let total = 0;
  let last: ArrayBufferLike | undefined;
  for (const piece of pieces) {
    if (piece.buffer === last) continue;
    last = piece.buffer;
    total += last.byteLength;
  }
  return total;
}

/**
 * What the broker keeps of a verified frame, and the bytes that holds for the buffered-bytes
 * budget: the views as they are (their whole socket reads stay alive, and are counted), unless a
 * small frame would pin reads more than twice its size; then one copy of just its bytes.
 */
export function holdFrame(pieces: Uint8Array[], size: number): { pieces: Uint8Array[]; held: number } {
  const retained = retainedBytes(pieces);
  if (retained > 2 * size) return { pieces: [concatBytes(pieces)], held: size };
  return { pieces, held: Math.max(size, retained) };
}

export const tooLarge = (message: string) => new BrokerError(413, 'payload_too_large', message);

export interface FrameHeader {
  index: number;
  sha: string;
  size: number;
}

/** Pulls exact byte counts out of a chunked body; a body that ends or fails early is a 400. */
export class FrameReader {
  private chunk: Uint8Array = EMPTY;
  private offset = 0;
  private consumed = 0;
  private readonly iterator: AsyncIterator<Uint8Array>;
  private readonly header = new Uint8Array(BATCH_FRAME_HEADER_BYTES);

  private readonly sha1Hex: ((pieces: readonly Uint8Array[]) => string) | undefined;

  /**
   * `sha1Hex` is the platform's own SHA-1 when the adapter has one (Node): WebCrypto's digest cost
   * about 0.6 ms of main-thread time per 100 kB file in the broker's profile (docs/benchmarks.md).
   */
  constructor(source: AsyncIterable<Uint8Array>, sha1Hex?: (pieces: readonly Uint8Array[]) => string) {
    this.sha1Hex = sha1Hex;
    // A Node stream (the adapter's own body) is iterated without destroy-on-return, so a refused
    // batch leaves the connection for the adapter to drain and keep alive rather than reset.
    const node = source as {
      iterator?: (options: { destroyOnReturn: boolean }) => AsyncIterator<Uint8Array>;
    };
    this.iterator =
      typeof node.iterator === 'function'
        ? node.iterator({ destroyOnReturn: false })
        : source[Symbol.asyncIterator]();
  }

  /** Bytes read so far. */
  get position(): number {
    return this.consumed;
  }

  /** The next frame's header, checked: a lowercase 40-hex digest and a size within `maxFileBytes`. */
  async readHeader(index: number, maxFileBytes: number): Promise<FrameHeader> {
    await this.fill(this.header, `the header of frame ${index}`);
    const sha = ASCII.decode(this.header.subarray(0, 40));
    if (!/^[0-9a-f]{40}$/.test(sha))
      throw badRequest(
        `frame ${index} does not start with a SHA-1 in 40 lowercase hex digits; see docs/batch-upload.md for the framing`,
      );
    const view = new DataView(this.header.buffer, this.header.byteOffset + 40, 4);
    const size = view.getUint32(0);
    if (size > maxFileBytes)
      throw tooLarge(
        `frame ${index} (${sha}) declares ${size} bytes; a batch carries files of at most ${maxFileBytes} bytes, send larger ones to POST /v2/files`,
      );
    return { index, sha, size };
  }

  /**
   * Exactly the frame's bytes, whose SHA-1 must be the one its header names: as views of the chunks
   * the body arrived in, not a copy (a copy per file doubled the bytes the collector tracks;
   * docs/benchmarks.md). With WebCrypto the pieces are joined once to be digested.
   */
  async readFile(frame: FrameHeader): Promise<Uint8Array[]> {
    let pieces: Uint8Array[] = [];
    const what = `frame ${frame.index} (${frame.sha}), declared ${frame.size} bytes,`;
    let taken = 0;
    while (taken < frame.size) {
      if (pieces.length === MAX_VIEWS_PER_FRAME) {
        // A body arriving in many tiny reads would make as many views (and objects) as reads: from
        // here on the frame is copied into one buffer, so what it holds is bounded by its size.
        const whole = new Uint8Array(frame.size);
        whole.set(concatBytes(pieces));
        await this.fill(whole, what, taken);
        pieces = [whole];
        break;
      }
      if (this.offset >= this.chunk.length) {
        if ((await this.next(what)) === undefined) throw this.endedInside(what, taken, frame.size);
        continue;
      }
      const n = Math.min(frame.size - taken, this.chunk.length - this.offset);
      pieces.push(this.chunk.subarray(this.offset, this.offset + n));
      taken += n;
      this.offset += n;
      this.consumed += n;
    }
    const digest =
      this.sha1Hex?.(pieces) ??
      toHex(new Uint8Array(await crypto.subtle.digest('SHA-1', concatBytes(pieces))));
    if (digest !== frame.sha)
      throw badRequest(
        `frame ${frame.index} declares SHA-1 ${frame.sha}, but its ${frame.size} bytes hash to ${digest}; send each file's own digest and size`,
      );
    return pieces;
  }

  /** True when the body has no byte left. */
  async atEnd(): Promise<boolean> {
    while (this.offset >= this.chunk.length) {
      const next = await this.next('the end of the batch');
      if (next === undefined) return true;
    }
    return false;
  }

  private async fill(target: Uint8Array, what: string, from = 0): Promise<void> {
    let filled = from;
    while (filled < target.length) {
      if (this.offset >= this.chunk.length) {
        if ((await this.next(what)) === undefined) throw this.endedInside(what, filled, target.length);
        continue;
      }
      const n = Math.min(target.length - filled, this.chunk.length - this.offset);
      target.set(this.chunk.subarray(this.offset, this.offset + n), filled);
      filled += n;
      this.offset += n;
      this.consumed += n;
    }
  }

  private endedInside(what: string, got: number, wanted: number): BrokerError {
    return badRequest(
      `the batch body ended inside ${what} (${got} of ${wanted} bytes); each frame is a 44-byte header and exactly the size it declares`,
    );
  }

  private async next(what: string): Promise<Uint8Array | undefined> {
    let result: IteratorResult<Uint8Array>;
    try {
      result = await this.iterator.next();
    } catch {
      throw badRequest(`the client stopped sending the batch body at ${what}`);
    }
    if (result.done) return undefined;
    this.chunk = result.value;
    this.offset = 0;
    return this.chunk;
  }

  /** Stops reading (a refusal): the rest of the body is left to the adapter, which discards it. */
  async release(): Promise<void> {
    await this.iterator.return?.().catch(() => undefined);
  }
}
