/** Verifies a GitHub Actions OIDC token with jose, every option spelled out; returns only verified claims. */
import {
  base64url,
  errors,
  jwtVerify,
  UnsecuredJWT,
  type JWTHeaderParameters,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { BrokerError } from '../errors.js';
import { REQUIRED_CLAIMS, type GitHubClaims } from './claims.js';
import { KeySetFetchError } from './keys.js';

export { createGitHubKeySet } from './keys.js';

export const MAX_TOKEN_BYTES = 8 * 1024;
/** GitHub tokens live 5 minutes (exp = iat + 300); a minute of slack, never more than 10. */
const MAX_TOKEN_AGE_SECONDS = 360;
const MAX_LIFETIME_SECONDS = 600;
const CLOCK_TOLERANCE_SECONDS = 30;
/** Headers GitHub sends; anything else (jku, x5u, jwk, x5c, crit, b64) is refused outright. */
const ALLOWED_HEADERS = new Set(['alg', 'kid', 'typ', 'x5t']);
const NUMERIC_CLAIMS = ['repository_id', 'repository_owner_id', 'run_id', 'run_attempt'] as const;

export interface VerifierOptions {
  issuer: string;
  audience: string;
  keySet: JWTVerifyGetKey;
  now?: () => Date;
  /**
   * The platform's synchronous RS256 check (the Node host's `crypto.verify`), used instead of
   * WebCrypto's: about a third of the CPU and no hop to a thread pool. Claims are checked by jose
   * either way.
   */
  verifyRs256?: (key: CryptoKey, signed: Uint8Array, signature: Uint8Array) => boolean;
}

export type TokenVerifier = (token: string) => Promise<GitHubClaims>;

/** Every rejection is the same `invalid_token` answer: the caller learns nothing about which check failed. */
export class InvalidTokenError extends BrokerError {
  readonly detail: string;
  constructor(detail: string) {
    super(401, 'invalid_token', 'The OIDC token is invalid, expired, or not meant for this broker.');
    this.detail = detail;
    this.with({ reason: detail });
  }
}

export class KeySetUnavailableError extends BrokerError {
  /** For the audit line: which URL failed and why (the caller only learns to retry). */
  readonly detail: string;
  constructor(detail: string) {
    super(503, 'unavailable', 'The broker cannot reach the OIDC issuer keys right now; retry shortly.', {
      'retry-after': '5',
    });
    this.detail = detail;
    this.with({ reason: detail });
  }
}

/** jose's text, plus what was expected where the claim is one the admin configured. */
function describeVerifyError(error: unknown, options: VerifierOptions): string {
  if (!(error instanceof Error)) return `verification failed: ${String(error)}`;
  const claim = (error as { claim?: string }).claim;
  const expected =
    claim === 'iss'
      ? ` (expected ${options.issuer})`
      : claim === 'aud'
        ? ` (expected ${options.audience})`
        : '';
  return `${error.name}: ${error.message}${expected}`;
}

/** What jose checks after the signature; the same options on both paths. */
const claimOptions = (options: VerifierOptions) => ({
  issuer: options.issuer,
  audience: options.audience,
  clockTolerance: CLOCK_TOLERANCE_SECONDS,
  maxTokenAge: MAX_TOKEN_AGE_SECONDS,
  requiredClaims: [...REQUIRED_CLAIMS],
  ...(options.now ? { currentDate: options.now() } : {}),
});

const UNSECURED_HEADER = base64url.encode(JSON.stringify({ alg: 'none' }));
const textDecoder = new TextDecoder();
const textEncoder = new TextEncoder();

/**
 * jwtVerify's steps with the platform's RS256 check: the header (RS256 only, only the headers
 * GitHub sends, `typ` JWT), the key from the key set, the signature over the token's own bytes, and
 * then jose's claim checks, given the verified payload under an unsecured header (jose's
 * `UnsecuredJWT.decode` runs the same claim validation as `jwtVerify`).
 */
async function verifyWith(
  verifyRs256: NonNullable<VerifierOptions['verifyRs256']>,
  token: string,
  options: VerifierOptions,
): Promise<{ payload: JWTPayload; protectedHeader: JWTHeaderParameters }> {
  const [encodedHeader, encodedPayload, encodedSignature] = token.split('.') as [string, string, string];
  let header: unknown;
  try {
    header = JSON.parse(textDecoder.decode(base64url.decode(encodedHeader)));
  } catch {
    throw new errors.JWSInvalid('JWS Protected Header is invalid');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    throw new errors.JWSInvalid('JWS Protected Header is invalid');
  const protectedHeader = header as JWTHeaderParameters;
  if (protectedHeader.alg !== 'RS256')
    throw new errors.JOSEAlgNotAllowed('"alg" (Algorithm) Header Parameter value not allowed');
  // crit, b64, jku, jwk…: refused before a key is looked up, as the caller refuses them after jose.
  const unexpected = Object.keys(protectedHeader).filter((h) => !ALLOWED_HEADERS.has(h));
  if (unexpected.length > 0) throw new errors.JWSInvalid(`header ${unexpected.join(', ')} not accepted`);
  const key = await options.keySet(protectedHeader, {
    protected: encodedHeader,
    payload: encodedPayload,
    signature: encodedSignature,
  });
  const algorithm = (key as CryptoKey).algorithm as RsaHashedKeyAlgorithm | undefined;
  if (
    !(key instanceof CryptoKey) ||
    algorithm?.name !== 'RSASSA-PKCS1-v1_5' ||
    algorithm.hash.name !== 'SHA-256' ||
    algorithm.modulusLength < 2048 ||
    !key.usages.includes('verify')
  )
    throw new errors.JOSENotSupported(
      'the key set answered a key that is not an RS256 public key of 2048 bits or more',
    );
  let signature: Uint8Array;
  try {
    signature = base64url.decode(encodedSignature);
  } catch {
    throw new errors.JWSInvalid('Failed to base64url decode the signature');
  }
  if (!verifyRs256(key, textEncoder.encode(`${encodedHeader}.${encodedPayload}`), signature))
    throw new errors.JWSSignatureVerificationFailed();
  const typ = typeof protectedHeader.typ === 'string' ? protectedHeader.typ.toLowerCase() : undefined;
  if (typ?.replace(/^application\//, '') !== 'jwt')
    throw new errors.JWTClaimValidationFailed('unexpected "typ" JWT header value', {}, 'typ', 'check_failed');
  const { payload } = UnsecuredJWT.decode(`${UNSECURED_HEADER}.${encodedPayload}.`, claimOptions(options));
  return { payload, protectedHeader };
}

export function createTokenVerifier(options: VerifierOptions): TokenVerifier {
  return async (token) => {
    if (typeof token !== 'string') throw new InvalidTokenError('not a JWT: the token is not a string');
    if (token.length > MAX_TOKEN_BYTES)
      throw new InvalidTokenError(
        `token too large: ${token.length} bytes, at most ${MAX_TOKEN_BYTES} accepted`,
      );
    // JWS compact only: JWE (5 segments) and JSON serialisation are refused before any parsing.
    const segments = token.split('.').length;
    if (segments !== 3)
      throw new InvalidTokenError(`not a JWT: 3 dot-separated segments expected, got ${segments}`);
    let result;
    try {
      if (options.verifyRs256) result = await verifyWith(options.verifyRs256, token, options);
      else
        result = await jwtVerify(token, options.keySet, {
          algorithms: ['RS256'],
          typ: 'JWT',
          ...claimOptions(options),
        });
    } catch (error) {
      // A key set that cannot be fetched is the broker's outage, not a bad token: answer 503 so the
      // action retries, rather than a 401 that would send a workflow author hunting a non-problem.
      if (error instanceof KeySetFetchError) throw new KeySetUnavailableError(error.message);
      throw new InvalidTokenError(describeVerifyError(error, options));
    }
    const { payload, protectedHeader } = result;
    const unexpected = Object.keys(protectedHeader).filter((h) => !ALLOWED_HEADERS.has(h));
    if (unexpected.length > 0)
      throw new InvalidTokenError(
        `header ${unexpected.join(', ')} not accepted (GitHub sends only ${[...ALLOWED_HEADERS].join(', ')})`,
      );
    // jose accepts an `aud` array that contains the audience; a token for several parties is refused.
    if (typeof payload.aud !== 'string')
      throw new InvalidTokenError(
        'aud is a list: a token for several audiences is refused, GitHub sends one',
      );
    const exp = payload.exp!;
    const iat = payload.iat!;
    if (exp - iat > MAX_LIFETIME_SECONDS)
      throw new InvalidTokenError(
        `lifetime too long: exp - iat is ${exp - iat} s, at most ${MAX_LIFETIME_SECONDS} s accepted`,
      );
    for (const claim of REQUIRED_CLAIMS) {
      const value = payload[claim];
      if (typeof value !== 'string' && typeof value !== 'number')
        throw new InvalidTokenError(`claim ${claim} is not a string or number`);
    }
    for (const claim of NUMERIC_CLAIMS) {
      const value = payload[claim];
      if (typeof value !== 'string' || !/^[0-9]{1,20}$/.test(value))
        throw new InvalidTokenError(`claim ${claim} is not a numeric string (GitHub sends ids as "123")`);
    }
    // GitHub added check_run_id (the job's id) in 2025; GHES versions without it omit it.
    const checkRunId = payload.check_run_id;
    if (checkRunId !== undefined && (typeof checkRunId !== 'string' || !/^[0-9]{1,20}$/.test(checkRunId)))
      throw new InvalidTokenError('claim check_run_id not numeric string');
    // Claims land in audit lines and deployment metadata: control characters are refused outright.
    // eslint-disable-next-line no-control-regex
    const CONTROL = /[\u0000-\u001f\u007f]/;
    const text = (name: string, max = 512): string => {
      const value = payload[name];
      if (typeof value !== 'string' || value.length > max || CONTROL.test(value)) {
        throw new InvalidTokenError(
          `claim ${name} is missing, longer than ${max} characters, or holds control characters`,
        );
      }
      return value;
    };
    const optional = (name: string): string | undefined =>
      payload[name] === undefined ? undefined : text(name, 255);
    return {
      iss: text('iss'),
      jti: text('jti', 256),
      exp,
      iat,
      repository: text('repository', 256),
      repository_id: text('repository_id'),
      repository_owner: text('repository_owner', 256),
      repository_owner_id: text('repository_owner_id'),
      ref: text('ref', 512),
      ref_type: text('ref_type', 16),
      sha: text('sha', 64),
      event_name: text('event_name', 64),
      runner_environment: text('runner_environment', 64),
      run_id: text('run_id'),
      run_attempt: text('run_attempt'),
      workflow_ref: text('workflow_ref', 1024),
      job_workflow_ref: text('job_workflow_ref', 1024),
      environment: optional('environment'),
      ref_protected: optional('ref_protected'),
      ...(checkRunId !== undefined ? { check_run_id: checkRunId } : {}),
    };
  };
}
