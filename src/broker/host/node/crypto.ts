/**
 * Node's synchronous crypto for the exchange's hot path, injected into the web-standard core:
 * RS256 verification of OIDC tokens and HMAC-SHA-256 of credentials without WebCrypto's hop to the
 * thread pool (docs/benchmarks.md, "Exchange path").
 */
import { createHmac, createSecretKey, KeyObject, verify } from 'node:crypto';
import type { HmacFactory } from '../../credential/credential.js';

/** A CryptoKey's KeyObject, made once per key the key set hands out. */
const keyObjects = new WeakMap<CryptoKey, KeyObject>();

export function verifyRs256(key: CryptoKey, signed: Uint8Array, signature: Uint8Array): boolean {
  let keyObject = keyObjects.get(key);
  if (!keyObject) keyObjects.set(key, (keyObject = KeyObject.from(key)));
  return verify('sha256', signed, keyObject, signature);
}

export const hmacSha256: HmacFactory = (secret) => {
  // A KeyObject made once: given raw bytes, createHmac makes one on every call (about 16 µs of the
  // exchange's CPU, more than the MAC itself). Each MAC is one synchronous call on the calling thread.
  const key = createSecretKey(Buffer.from(secret));
  return (data) => createHmac('sha256', key).update(data).digest();
};
