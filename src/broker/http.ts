/** Small HTTP helpers shared by the exchange and the gateway. */
import { concatBytes } from './bytes.js';
import { BrokerError } from './errors.js';

/** Reads a body as text, refusing it as soon as it passes `max` bytes (never buffers more). */
export async function readLimitedText(request: Request, max: number): Promise<string> {
  const declared = Number(request.headers.get('content-length') ?? NaN);
  if (declared > max)
    throw new BrokerError(413, 'payload_too_large', `the request body is larger than ${max} bytes`);
  if (!request.body) return '';
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      throw new BrokerError(413, 'payload_too_large', `the request body is larger than ${max} bytes`);
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(concatBytes(chunks));
}
