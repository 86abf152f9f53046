/** Swaps the OIDC token for a deploy credential at the broker; masks the credential the moment it arrives. */
import {
  CREDENTIAL_PATTERN,
  EXCHANGE_PATH,
  IDEMPOTENCY_HEADER,
  isErrorBody,
  type ExchangeRequest,
  type ExchangeResponse,
} from '../shared/wire.js';
import { createProof, type ProofKey } from './dpop.js';
import { RETRYABLE_STATUS, RetryableError, retryAfterMs, withRetry, type RetryPolicy } from './retry.js';

/** What each broker refusal means for the person reading the job log. */
const HINTS: Record<string, string> = {
  policy_denied:
    "The broker's policy does not allow this run. Ask your Keyhole admins to check the rule with `keyhole-broker policy explain`, or change the ref, environment or target to one the rule allows.",
  invalid_token:
    'The broker refused the OIDC token. Check that the "audience" input matches the broker\'s configured audience (default: the origin of broker-url).',
  token_replayed: 'This OIDC token was already used. Each run step requests a fresh token; re-run the job.',
  bad_request: 'The request to the broker was malformed; check the project and target inputs.',
  job_not_running:
    "The broker asked GitHub and this job's check run is not in progress. Credentials are issued only to running jobs; re-run the job.",
  job_limit:
    'Each job may obtain a limited number of credentials for this project (max_credentials_per_job). Deploy once per job, or split the deploys into separate jobs.',
};

/**
 * A refused DPoP proof is no malformed request: say which input or config key to change. Without a
 * key the step ran with deploy: false; with one, the proof's URL (broker-url) is not the broker's public_url.
 */
function dpopHint(sentProof: boolean): string {
  return sentProof
    ? "The broker refused this action's DPoP proof: the proof names the broker-url input, which must be the URL in the broker's public_url config key. Set broker-url to it, or ask your Keyhole admins to correct public_url."
    : 'This project requires key-bound credentials (require_dpop: true in the broker config): remove deploy: false from this step so the action deploys with its own key, or ask your Keyhole admins to set require_dpop: false for the project if another tool must use the credential.';
}

export class ExchangeError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'ExchangeError';
    this.code = code;
  }
}

export async function exchangeToken(
  brokerUrl: string,
  request: Omit<ExchangeRequest, 'token'>,
  deps: {
    fetch: typeof fetch;
    retry: RetryPolicy;
    setSecret: (value: string) => void;
    getToken: () => Promise<string>;
    /** Offered to the broker, which binds the credential to it when the project requires DPoP. */
    proofKey?: ProofKey;
  },
): Promise<ExchangeResponse> {
  // One key for every attempt of this step: a job may hold a limited number of credentials, and a
  // retry after a lost answer must get the first one back rather than spend another.
  const idempotencyKey = Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString('base64url');
  const url = `${brokerUrl}${EXCHANGE_PATH}`;
  // The broker accepts each OIDC token once, whatever happens next: every attempt asks GitHub for a fresh one.
  return withRetry('exchange', { ...deps.retry, attempts: 4 }, async () => {
    const token = await deps.getToken();
    let response: Response;
    try {
      response = await deps.fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          [IDEMPOTENCY_HEADER]: idempotencyKey,
          ...(deps.proofKey ? { dpop: await createProof(deps.proofKey, 'POST', url) } : {}),
        },
        body: JSON.stringify({ ...request, token } satisfies ExchangeRequest),
      });
    } catch (error) {
      throw new RetryableError(
        `broker unreachable: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    if (RETRYABLE_STATUS.has(response.status)) {
      await response.body?.cancel();
      throw new RetryableError(
        `broker answered ${response.status}`,
        retryAfterMs(response.headers.get('retry-after')),
      );
    }
    let body: unknown;
    try {
      body = await response.json();
    } catch {
      throw new ExchangeError(
        'bad_response',
        `The broker at ${brokerUrl} answered ${response.status} without JSON; is broker-url right?`,
      );
    }
    if (!response.ok) {
      if (!isErrorBody(body))
        throw new ExchangeError('bad_response', `The broker answered ${response.status}.`);
      const { code, message, request_id: requestId } = body.error;
      const dpop = /invalid_dpop_proof/.test(response.headers.get('www-authenticate') ?? '');
      const text = dpop ? dpopHint(Boolean(deps.proofKey)) : HINTS[code];
      const hint = text ? `\n${text}` : '';
      throw new ExchangeError(
        code,
        `The broker refused the exchange (${response.status} ${code}): ${message}${hint}${requestId ? `\nBroker request id: ${requestId}` : ''}`,
      );
    }
    const result = body as ExchangeResponse;
    if (typeof result.credential !== 'string' || !CREDENTIAL_PATTERN.test(result.credential)) {
      throw new ExchangeError('bad_response', 'The broker answered without a valid credential.');
    }
    deps.setSecret(result.credential);
    return result;
  });
}
