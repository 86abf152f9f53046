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

/**
 * Keyhole's batched upload (docs/batch-upload.md): many small files in one request, each checked
 * like a `POST /v2/files` upload. Only Keyhole's action speaks it; the official CLI keeps `/v2/files`.
 */
export const BATCH_PATH = '/v1/files/batch';
export const BATCH_CONTENT_TYPE = 'application/vnd.keyhole.file-batch';
/** The number of frames the body holds, declared up front so a batch over the cap is refused unread. */
export const BATCH_FILES_HEADER = 'x-keyhole-batch-files';
/** Each frame: the file's SHA-1 as 40 lowercase hex ASCII bytes, its size as a 4-byte big-endian unsigned integer, then its bytes. */
export const BATCH_FRAME_HEADER_BYTES = 44;

/** What a broker that serves `BATCH_PATH` announces in the exchange answer. */
export interface BatchCapability {
  path: string;
  /** Frames per batch at most. */
  max_files: number;
  /** A file larger than this goes to `/v2/files` on its own. */
  max_file_bytes: number;
  /** The whole body (frame headers included) at most. */
  max_bytes: number;
}

/** One entry per frame, in frame order: 2xx = stored; anything else can be retried on its own. */
export interface BatchFileResult {
  sha: string;
  status: number;
  error?: { code: string; message: string };
}

export interface BatchResponse {
  files: BatchFileResult[];
}

/** Vercel's own targets; every other target is a custom environment the project declares. */
export const BUILT_IN_TARGETS = ['preview', 'production'] as const;
/**
 * A deploy target as both sides spell it: preview, production, or a Vercel custom environment by
 * slug (lower-case letters, digits, -) or by id (`env_…`).
 */
export const TARGET_PATTERN = /^(?:[a-z0-9][a-z0-9-]{0,63}|env_[A-Za-z0-9]{1,64})$/;

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
  /** Present when the broker serves batched uploads; absent from older brokers (the action then uses /v2/files). */
  upload_batch?: BatchCapability;
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
