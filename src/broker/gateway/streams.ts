/** Upload bodies in passing: the upstream request waits for the first byte, and carries exactly the declared size. */
import { badRequest, type BrokerError } from '../errors.js';

/**
 * The two refusals of a streamed body, shared by both ways a body moves (iterated here, pushed by
 * `pushedExactly`): a client gone before its first byte, and a length other than declared (handed
 * to `onMismatch` too, so the gateway answers it rather than the upstream failure it causes).
 */
const stoppedBeforeBody = () => badRequest('the client stopped before sending the upload body');
function lengthMismatch(size: number, said: string, onMismatch: (error: BrokerError) => void) {
  const error = badRequest(
    `the upload body has ${said} bytes, but Content-Length or x-now-size says ${size}; send the size of the file`,
  );
  onMismatch(error);
  return error;
}

/** Waits for the first chunk of a body, then passes it and the rest through. */
export async function startOfBody(source: AsyncIterable<Uint8Array>): Promise<AsyncIterable<Uint8Array>> {
  const iterator = source[Symbol.asyncIterator]();
  const first = await iterator.next().catch(() => {
    throw stoppedBeforeBody();
  });
  return {
    async *[Symbol.asyncIterator]() {
      if (first.done) return;
      let finished = false;
      try {
        yield first.value;
        for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
        finished = true;
      } finally {
        // Stopped early (a body longer than declared): close the source as for-await would.
        if (!finished) await iterator.return?.();
      }
    },
  };
}

/**
 * Passes exactly `size` bytes through, or fails with the client's error (also handed to `onMismatch`):
 * a body longer or shorter than declared never becomes a stored file.
 */
export async function* exactly(
  source: AsyncIterable<Uint8Array>,
  size: number,
  onMismatch: (error: BrokerError) => void,
): AsyncGenerator<Uint8Array> {
  const mismatch = (said: string) => lengthMismatch(size, said, onMismatch);
  let seen = 0;
  for await (const chunk of source) {
    seen += chunk.byteLength;
    if (seen > size) throw mismatch(`more than ${size}`);
    yield chunk;
  }
  if (seen !== size) throw mismatch(String(seen));
}

/**
 * A body its platform hands over piece by piece through callbacks (the Node adapter's request
 * stream), besides iterating it: `pushPieces` moves each piece with no promise, generator step or
 * microtask of its own, which per uploaded file cost about as much as all the gateway's checks
 * (docs/benchmarks.md, "The per-file path without promises").
 */
export interface PushBody extends AsyncIterable<Uint8Array> {
  /**
   * Starts delivering the body: each piece in order, then `end`, or `fail` once when the client
   * goes away first. Nothing is delivered while paused.
   */
  pushPieces(into: { piece(piece: Uint8Array): void; end(): void; fail(error: Error): void }): {
    pause(): void;
    resume(): void;
  };
}

/**
 * A `PushBody`, told apart by its method's name: a Node Readable (the web path's `nodeBody`) has a
 * `push` of its own, with another meaning, and must never be taken for one.
 */
export const isPushBody = (body: unknown): body is PushBody =>
  typeof (body as Partial<PushBody> | null)?.pushPieces === 'function';

/** Where a pumped body goes: the upstream request, as the platform's lean POST exposes it. */
export interface PieceSink {
  /** Writes one piece; false when the sink wants no more until `onDrain` calls back. */
  write(piece: Uint8Array): boolean;
  /** Every piece is written. */
  end(): void;
  /** The body failed (a wrong length, the client gone): the upstream request is abandoned. */
  fail(error: Error): void;
  /** Calls `resume` once, when the sink can take more or is gone. */
  onDrain(resume: () => void): void;
  /** The upstream request is over (it failed): the body is left where it stopped. */
  readonly gone: boolean;
}

/** Moves a body into a sink, once: what `pushedExactly` resolves with. */
export type Pump = (sink: PieceSink) => void;

/**
 * `startOfBody` and `exactly` for a `PushBody`, by events: resolves once the first piece has come
 * (or an empty body has ended) with the pump that moves exactly `size` bytes into the upstream
 * request; rejects if the client stops first. A body longer or shorter than declared fails the
 * sink with the client's error (also handed to `onMismatch`), so it never becomes a stored file.
 * When the sink fails, the body is left where it stopped (as a pipe leaves it), so the adapter can
 * still answer the client.
 */
export function pushedExactly(
  body: PushBody,
  size: number,
  onMismatch: (error: BrokerError) => void,
): Promise<Pump> {
  return new Promise<Pump>((resolve, reject) => {
    let seen = 0;
    let sink: PieceSink | undefined;
    /** Pieces delivered before the sink was attached: the first, and any the platform had buffered. */
    let held: Uint8Array[] = [];
    let ended = false;
    let started = false;
    let failure: Error | undefined;
    const mismatch = (said: string) => lengthMismatch(size, said, onMismatch);
    const stop = (error: Error) => {
      if (failure) return;
      failure = error;
      flow.pause();
      if (sink) sink.fail(error);
      else if (!started) reject(error);
      // Started without a sink yet: the pump fails it when attached.
    };
    const start = () => {
      if (started) return;
      started = true;
      resolve(pump);
    };
    const flow = body.pushPieces({
      piece(piece) {
        if (failure) return;
        seen += piece.byteLength;
        if (seen > size) return stop(mismatch(`more than ${size}`));
        if (!sink) {
          held.push(piece);
          flow.pause();
          return start();
        }
        if (sink.gone) return flow.pause();
        if (!sink.write(piece)) {
          flow.pause();
          sink.onDrain(() => {
            if (!failure && !sink!.gone) flow.resume();
          });
        }
      },
      end() {
        if (failure) return;
        if (seen !== size) return stop(mismatch(String(seen)));
        ended = true;
        if (sink) sink.end();
        else start();
      },
      fail(error) {
        if (!started && !failure) {
          failure = stoppedBeforeBody();
          reject(failure);
          return;
        }
        stop(error);
      },
    });
    const pump: Pump = (to) => {
      sink = to;
      const first = held;
      held = [];
      if (failure) return to.fail(failure);
      for (const piece of first) to.write(piece);
      if (ended) to.end();
      else flow.resume();
    };
  });
}
