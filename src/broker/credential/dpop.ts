/**
 * RFC 9449 DPoP proofs: a fresh ES256 JWT per request, signed by the key the credential is bound to,
 * naming the method and URL, used once (`jti` through the shared store), and hashing the credential.
 */
import { calculateJwkThumbprint, EmbeddedJWK, jwtVerify, type JWK } from 'jose';
import { BrokerError } from '../errors.js';
import { storeKeys, type ReplayStore } from '../store/store.js';

/** A proof is accepted for a minute after its `iat`, and 10 s early (runner clocks drift). */
const PROOF_MAX_AGE_SECONDS = 60;
const PROOF_FUTURE_SECONDS = 10;
const MAX_PROOF_BYTES = 4096;

/** Why a proof was refused: the audit reason; the message says what the client must change. */
export type ProofFailure = 'missing' | 'invalid' | 'wrong_key' | 'replayed' | 'wrong_request' | 'stale';

export class ProofError extends BrokerError {
  readonly failure: ProofFailure;
  constructor(status: 400 | 401, failure: ProofFailure, message: string) {
    super(status, status === 400 ? 'bad_request' : 'invalid_credential', message, {
      'www-authenticate': `DPoP algs="ES256", error="invalid_dpop_proof"`,
    });
    this.failure = failure;
  }
}

/** What a proof is checked against: the call's method and headers (a web Request has both). */
export interface ProofRequest {
  readonly method: string;
  readonly headers: { get(name: string): string | null };
}

export interface ProofCheck {
  request: ProofRequest;
  /** The broker's public URL (config `public_url`): `htu` must be it plus the request's path. */
  publicUrl: string;
  path: string;
  store: ReplayStore;
  now: () => number;
  /** On gateway calls: the credential, whose SHA-256 the proof's `ath` must carry. */
  credential?: string;
  /** On gateway calls: the thumbprint the credential is bound to. */
  boundTo?: string;
  /** 400 at the exchange (RFC 9449 §5), 401 on gateway calls (§7.1). */
  status: 400 | 401;
}

const base64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');

export async function accessTokenHash(credential: string): Promise<string> {
  return base64url(
    new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(credential))),
  );
}

/** Verifies the request's DPoP proof and returns the thumbprint (`jkt`) of the key that signed it. */
export async function verifyProof(check: ProofCheck): Promise<string> {
  const fail = (failure: ProofFailure, message: string) => new ProofError(check.status, failure, message);
  const proof = check.request.headers.get('dpop');
  if (!proof)
    throw fail(
      'missing',
      'This credential is bound to a key (DPoP): send a fresh proof in the "DPoP" header with every request.',
    );
  // Headers.get joins repeated headers with ", "; a JWT never contains either.
  if (proof.length > MAX_PROOF_BYTES || proof.includes(',') || proof.split('.').length !== 3)
    throw fail('invalid', 'Send exactly one DPoP proof (a compact JWT) in the "DPoP" header.');
  let payload;
  let jwk: JWK;
  try {
    const verified = await jwtVerify(proof, EmbeddedJWK, {
      typ: 'dpop+jwt',
      algorithms: ['ES256'],
      requiredClaims: ['jti', 'htm', 'htu', 'iat'],
    });
    payload = verified.payload;
    jwk = verified.protectedHeader.jwk as JWK;
  } catch (error) {
    throw fail(
      'invalid',
      `The DPoP proof is not a valid ES256 dpop+jwt signed by the key in its header (${error instanceof Error ? error.name : 'invalid'}).`,
    );
  }
  const jkt = await calculateJwkThumbprint(jwk, 'sha256');
  if (check.boundTo !== undefined && jkt !== check.boundTo)
    throw fail(
      'wrong_key',
      'The DPoP proof is signed by another key than the one this credential is bound to.',
    );
  const expectedUrl = normalizeHtu(`${check.publicUrl}${check.path}`);
  const otherBroker =
    typeof payload.htu === 'string' ? otherOrigin(payload.htu, expectedUrl, check.publicUrl) : undefined;
  if (otherBroker)
    throw fail(
      'wrong_request',
      `The DPoP proof names the broker at ${otherBroker}, but this broker's public_url is ${check.publicUrl}: point the client (the action's broker-url input) at ${check.publicUrl}, or, if clients do reach the broker at ${otherBroker}, set public_url: ${otherBroker} in the broker config.`,
    );
  if (
    payload.htm !== check.request.method ||
    typeof payload.htu !== 'string' ||
    normalizeHtu(payload.htu) !== expectedUrl
  )
    throw fail(
      'wrong_request',
      `The DPoP proof is for ${String(payload.htm)} ${String(payload.htu)}, not ${check.request.method} ${expectedUrl}; make one per request.`,
    );
  const now = Math.floor(check.now() / 1000);
  const iat = payload.iat!;
  if (iat < now - PROOF_MAX_AGE_SECONDS || iat > now + PROOF_FUTURE_SECONDS)
    throw fail(
      'stale',
      'The DPoP proof was not made just now (iat); make a fresh proof per request and check the clock.',
    );
  if (check.credential !== undefined && payload.ath !== (await accessTokenHash(check.credential)))
    throw fail('wrong_request', "The DPoP proof does not carry this credential's hash (ath).");
  if (typeof payload.jti !== 'string' || payload.jti.length < 8 || payload.jti.length > 128)
    throw fail('invalid', 'The DPoP proof needs a random jti of 8 to 128 characters.');
  // Reserved after every other check, so a refused proof cannot burn a jti; kept past the window.
  let first: boolean;
  try {
    first = await check.store.reserve(
      storeKeys.proofId(jkt, payload.jti),
      (PROOF_MAX_AGE_SECONDS + PROOF_FUTURE_SECONDS + 5) * 1000,
    );
  } catch {
    throw new BrokerError(
      503,
      'unavailable',
      'The broker cannot record DPoP proofs right now; retry shortly.',
      {
        'retry-after': '2',
      },
    );
  }
  if (!first) throw fail('replayed', 'This DPoP proof was already used; make a fresh proof per request.');
  return jkt;
}

/**
 * The broker URL a proof names when only its origin differs from the expected URL (same path): the client and
 * the broker's public_url disagree about the broker's address, which no proof made "per request" fixes.
 */
function otherOrigin(htu: string, expectedUrl: string | undefined, publicUrl: string): string | undefined {
  const named = normalizeHtu(htu);
  if (!named || !expectedUrl || named === expectedUrl) return undefined;
  const [got, want] = [new URL(named), new URL(expectedUrl)];
  if (got.origin === want.origin || got.pathname !== want.pathname) return undefined;
  // public_url may carry a base path (a broker behind a path prefix): the other broker URL keeps it.
  return `${got.origin}${new URL(publicUrl).pathname.replace(/\/$/, '')}`;
}

/** RFC 9449 §4.3: htu is compared without query and fragment, after syntax-based normalisation. */
function normalizeHtu(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return undefined;
  }
}
