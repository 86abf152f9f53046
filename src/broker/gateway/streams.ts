/** Upload bodies in passing: the upstream request waits for the first byte, and carries exactly the declared size. */
import { badRequest, type BrokerError } from '../errors.js';

/** Waits for the first chunk of a body, then passes it and the rest through. */
export async function startOfBody(source: AsyncIterable<Uint8Array>): Promise<AsyncIterable<Uint8Array>> {
  const iterator = source[Symbol.asyncIterator]();
  const first = await iterator.next().catch(() => {
    throw badRequest('the client stopped before sending the upload body');
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
  const mismatch = (seen: string) => {
    const error = badRequest(
      `the upload body has ${seen} bytes, but Content-Length or x-now-size says ${size}; send the size of the file`,
    );
    onMismatch(error);
    return error;
  };
  let seen = 0;
  for await (const chunk of source) {
    seen += chunk.byteLength;
    if (seen > size) throw mismatch(`more than ${size}`);
    yield chunk;
  }
  if (seen !== size) throw mismatch(String(seen));
}
