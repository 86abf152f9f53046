/** The exchange's request: POST only, a small JSON body, and a verified GitHub OIDC token. */
import { EXCHANGE_PATH, TARGET_PATTERN } from '../../shared/wire.js';
import type { AuditEvent } from '../audit.js';
import { badRequest, BrokerError } from '../errors.js';
import { readLimitedText } from '../http.js';
import type { GitHubClaims } from '../oidc/claims.js';
import type { TokenVerifier } from '../oidc/verify.js';

const MAX_EXCHANGE_BODY = 16 * 1024;

export interface ExchangeRequest {
  project: string;
  target: string;
  /** Only from the verified token. */
  claims: GitHubClaims;
  /** The audit fields known so far: the request and the verified claims. */
  audit: Partial<AuditEvent>;
}

/** Reads and verifies the request; every refusal carries its audit fields. */
export async function readExchangeRequest(
  request: Request,
  verifyToken: TokenVerifier,
  nodeBody?: AsyncIterable<Uint8Array>,
): Promise<ExchangeRequest> {
  if (request.method !== 'POST') {
    throw new BrokerError(405, 'method_not_allowed', `${EXCHANGE_PATH} accepts POST only`, {
      allow: 'POST',
    }).with({ reason: `method ${request.method} not allowed; POST only` });
  }
  const text = await readLimitedText(request, MAX_EXCHANGE_BODY, nodeBody);
  const input = parseRequest(text);
  const base: Partial<AuditEvent> = { project: input.project, target: input.target };
  let claims: GitHubClaims;
  try {
    claims = await verifyToken(input.token);
  } catch (error) {
    // The verifier's own reason (which check failed) is kept; the caller learns only the code.
    if (error instanceof BrokerError) throw error.with({ audit: base, reason: error.code });
    throw error;
  }
  return { project: input.project, target: input.target, claims, audit: { ...base, ...claimFields(claims) } };
}

function parseRequest(text: string): { token: string; project: string; target: string } {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw badRequest(
      'the body must be JSON: {"token": "<GitHub OIDC token>", "project": "<name>", "target": "preview"}',
    );
  }
  const { token, project, target = 'preview' } = (body ?? {}) as Record<string, unknown>;
  if (typeof token !== 'string' || token === '')
    throw badRequest('"token" must be the GitHub OIDC token (a string)');
  if (typeof project !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(project)) {
    throw badRequest('"project" must be the project name from the broker config (letters, digits, . _ -)');
  }
  if (typeof target !== 'string' || !TARGET_PATTERN.test(target)) {
    throw badRequest('"target" must be preview, production or a custom environment (slug or env_… id)');
  }
  return { token, project, target };
}

function claimFields(claims: GitHubClaims): Partial<AuditEvent> {
  return {
    repository: claims.repository,
    repository_id: claims.repository_id,
    ref: claims.ref,
    environment: claims.environment,
    workflow: claims.job_workflow_ref,
    run_id: claims.run_id,
    run_attempt: claims.run_attempt,
    sha: claims.sha,
  };
}
