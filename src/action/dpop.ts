/**
 * The action's side of RFC 9449 DPoP: an ephemeral ES256 key that cannot leave this process, and a
 * fresh proof on every request, so a credential copied out of a log or a memory dump is useless.
 */
import { exportJWK, SignJWT, type JWK } from 'jose';

export interface ProofKey {
  /** Non-extractable: WebCrypto refuses to export it, even to this process. */
  privateKey: CryptoKey;
  jwk: JWK;
}

export async function createProofKey(): Promise<ProofKey> {
  const { privateKey, publicKey } = (await crypto.subtle.generateKey(
    { name: 'ECDSA', namedCurve: 'P-256' },
    false,
    ['sign', 'verify'],
  )) as CryptoKeyPair;
  const { kty, crv, x, y } = await exportJWK(publicKey);
  return { privateKey, jwk: { kty, crv, x, y } };
}

const base64url = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');

/** One proof for one request: method, URL without query, now, a random jti, and the credential's hash. */
export async function createProof(
  key: ProofKey,
  method: string,
  url: string,
  credential?: string,
): Promise<string> {
  const target = new URL(url);
  const ath = credential
    ? base64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(credential))))
    : undefined;
  return new SignJWT({
    htm: method.toUpperCase(),
    htu: `${target.origin}${target.pathname}`,
    ...(ath ? { ath } : {}),
  })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk })
    .setJti(base64url(crypto.getRandomValues(new Uint8Array(16))))
    .setIssuedAt()
    .sign(key.privateKey);
}

/**
 * `fetch` that presents a bound credential: `Authorization: DPoP khd_…` and a new proof per call,
 * retries included (each attempt goes through here again).
 */
export function withProofs(fetchImpl: typeof fetch, key: ProofKey, credential: string): typeof fetch {
  return async (input, init) => {
    const request = input instanceof Request ? input : undefined;
    const url = request ? request.url : input.toString();
    const method = init?.method ?? request?.method ?? 'GET';
    const headers = new Headers(init?.headers ?? request?.headers);
    headers.set('authorization', `DPoP ${credential}`);
    headers.set('dpop', await createProof(key, method, url, credential));
    return fetchImpl(input, { ...init, headers });
  };
}
