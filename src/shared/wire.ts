/** The wire contract between the action and the broker: exchange shapes, error codes, credential form. */

export const EXCHANGE_PATH = '/v1/exchange';
/** `POST` with the credential (`Authorization: Bearer khd_…` or `DPoP khd_…`): it stops working everywhere. */
export const REVOKE_PATH = '/v1/revoke';
/**
 * Sent by the action on every exchange attempt of one step (RFC draft httpapi-idempotency-key-header):
 * a retry after a lost answer gets the same credential back instead of using another of the job's slots.
 */
export const IDEMPOTENCY_HEADER = 'idempotency-key';
export const IDEMPOTENCY_KEY_PATTERN = /^[A-Za-z0-9_-]{16,128}$/;

/** The Vercel CLI rejects tokens containing anything but `\w`; secret scanners key on the prefix. */
export const CREDENTIAL_PATTERN = /^khd_[A-Za-z0-9_]+$/;
export const CREDENTIAL_MAX_LENGTH = 1024;

/**
 * Tokens and credentials travel to these URLs: https only, except plain http on loopback hosts
 * (the local world, tests). One rule for the broker's config and the action's broker-url.
 */
export function isHttpsOrLoopback(url: URL): boolean {
  return (
    url.protocol === 'https:' ||
    (url.protocol === 'http:' && /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/.test(url.hostname))
  );
}

export interface ExchangeRequest {
  token: string;
  project: string;
  target: string;
}

export interface ExchangeResponse {
  credential: string;
  expires_at: number;
  project: { name: string; id: string; team_id: string };
  target: string;
  /** "DPoP" when the credential is sender-constrained (RFC 9449): every call needs a proof. */
  token_type?: 'Bearer' | 'DPoP';
}

export interface RevokeResponse {
  revoked: true;
}

/** Every error code either side of the wire can produce; a closed union, never matched on message text. */
export type ErrorCode =
  | 'bad_request'
  | 'method_not_allowed'
  | 'invalid_token'
  | 'token_replayed'
  | 'policy_denied'
  | 'job_limit'
  | 'job_not_running'
  | 'invalid_credential'
  | 'forbidden'
  | 'not_found'
  | 'team_unauthorized'
  | 'payload_too_large'
  | 'quota_exceeded'
  | 'rate_limited'
  | 'upstream_error'
  | 'unavailable'
  | 'internal_error';

export interface ErrorBody {
  error: { code: ErrorCode | string; message: string; request_id?: string; [extra: string]: unknown };
}

export function isErrorBody(value: unknown): value is ErrorBody {
  if (typeof value !== 'object' || value === null) return false;
  const error = (value as { error?: unknown }).error;
  return (
    typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string'
  );
}
