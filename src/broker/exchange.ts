/** `POST /v1/exchange`: verified OIDC token → replay reservation → policy → a deploy credential. */
import type { ExchangeResponse } from '../shared/wire.js';
import type { AuditEvent, Logger } from './audit.js';
import { mintCredential, type SigningKeys } from './credential.js';
import { badRequest, BrokerError } from './errors.js';
import type { GitHubClaims } from './oidc/claims.js';
import type { TokenVerifier } from './oidc/verify.js';
import type { CompiledConfig } from './config-types.js';
import { evaluatePolicy } from './policy/evaluate.js';
import type { ReplayStore } from './replay.js';
import { readLimitedText } from './http.js';

const MAX_EXCHANGE_BODY = 16 * 1024;
/** Reservations outlive the token: its 5 minutes, the verifier's clock tolerance, and a margin. */
const REPLAY_MARGIN_MS = 120_000;

export interface ExchangeDeps {
  config: CompiledConfig;
  verifyToken: TokenVerifier;
  replay: ReplayStore;
  keys: SigningKeys;
  logger: Logger;
  upstreamToken: (envName: string) => string | undefined;
  now: () => number;
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
  if (typeof target !== 'string' || !/^[a-z0-9][a-z0-9-]{0,63}$/.test(target)) {
    throw badRequest('"target" must be preview, production or a custom environment slug');
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

export async function handleExchange(
  request: Request,
  deps: ExchangeDeps,
  requestId: string,
): Promise<Response> {
  const fail = (error: BrokerError, audit: Partial<AuditEvent>) => Object.assign(error, { audit });
  const text = await readLimitedText(request, MAX_EXCHANGE_BODY);
  const input = parseRequest(text);
  const base: Partial<AuditEvent> = { project: input.project, target: input.target };

  let claims: GitHubClaims;
  try {
    claims = await deps.verifyToken(input.token);
  } catch (error) {
    if (error instanceof BrokerError)
      throw fail(error, { ...base, reason: (error as { detail?: string }).detail ?? error.code });
    throw error;
  }
  const audit = { ...base, ...claimFields(claims) };

  // Reserved before policy and minting, whatever the outcome: one token, one attempt.
  let first: boolean;
  try {
    first = await deps.replay.reserve(
      `jti:${claims.iss}:${claims.jti}`,
      claims.exp * 1000 - deps.now() + REPLAY_MARGIN_MS,
    );
  } catch {
    throw fail(
      new BrokerError(503, 'unavailable', 'The broker cannot record token use right now; retry shortly.', {
        'retry-after': '5',
      }),
      {
        ...audit,
        reason: 'replay store unavailable',
      },
    );
  }
  if (!first) {
    throw fail(
      new BrokerError(401, 'token_replayed', 'This OIDC token was already exchanged; request a fresh one.'),
      {
        ...audit,
        reason: 'jti already used',
      },
    );
  }

  const decision = evaluatePolicy(deps.config, claims, input.project, input.target);
  if (!decision.allowed) {
    throw fail(new BrokerError(403, 'policy_denied', decision.message), {
      ...audit,
      reason: decision.message,
    });
  }
  const { project } = decision.grant;
  if (!deps.upstreamToken(project.tokenEnv)) {
    deps.logger.log(
      'error',
      `environment variable ${project.tokenEnv} is empty; project ${project.name} cannot deploy`,
    );
    throw fail(
      new BrokerError(
        503,
        'unavailable',
        'The broker is not configured to deploy this project; tell its admin.',
      ),
      {
        ...audit,
        reason: `missing upstream token ${project.tokenEnv}`,
      },
    );
  }
  const now = deps.now();
  const expires = Math.min(now + deps.config.credentialTtlSeconds * 1000, now + 3600_000);
  const { credential, claims: minted } = await mintCredential(deps.keys, {
    pn: project.name,
    prj: project.projectId,
    team: project.teamId,
    tgt: input.target,
    rid: claims.repository_id,
    repo: claims.repository,
    ref: claims.ref,
    sha: claims.sha,
    run: claims.run_id,
    att: claims.run_attempt,
    wf: claims.job_workflow_ref,
    ...(claims.environment ? { env: claims.environment } : {}),
    evt: claims.event_name,
    iat: now,
    exp: expires,
  });
  deps.logger.audit({
    event: 'exchange',
    decision: 'allow',
    request_id: requestId,
    ...audit,
    reason: `allow[${decision.grant.ruleIndex}]`,
    credential_id: minted.cid,
  });
  const body: ExchangeResponse = {
    credential,
    expires_at: expires,
    project: { name: project.name, id: project.projectId, team_id: project.teamId },
    target: input.target,
  };
  return new Response(JSON.stringify(body), {
    status: 200,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
  });
}
