/** Small HTTP helpers shared by the exchange and the gateway. */
import { concatBytes } from './bytes.js';
import { BrokerError } from './errors.js';

const decoder = new TextDecoder();
const tooLarge = (max: number) =>
  new BrokerError(413, 'payload_too_large', `the request body is larger than ${max} bytes`);

/**
 * Reads a body as text, refusing it as soon as it passes `max` bytes (never buffers more). `nodeBody`
 * is the Node adapter's own body stream: reading it skips building a web stream and a full
 * `Request` for a body of a few hundred bytes (a measurable share of an exchange's CPU).
 */
export async function readLimitedText(
  request: Request,
  max: number,
  nodeBody?: AsyncIterable<Uint8Array>,
): Promise<string> {
  const declared = Number(request.headers.get('content-length') ?? NaN);
  if (declared > max) throw tooLarge(max);
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (nodeBody) {
    // Leaving the loop early (the throw) destroys the stream, as cancelling the web reader does.
    for await (const chunk of nodeBody) {
      size += chunk.byteLength;
      if (size > max) throw tooLarge(max);
      chunks.push(chunk);
    }
  } else {
    if (!request.body) return '';
    const reader = request.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > max) {
        await reader.cancel();
        throw tooLarge(max);
      }
      chunks.push(value);
    }
  }
  return decoder.decode(chunks.length === 1 ? chunks[0] : concatBytes(chunks));
}
