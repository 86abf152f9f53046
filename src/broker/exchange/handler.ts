/** `POST /v1/exchange`: verified OIDC token → replay reservation → policy → a deploy credential. */
import {
  IDEMPOTENCY_HEADER,
  IDEMPOTENCY_KEY_PATTERN,
  type BatchCapability,
  type ExchangeResponse,
} from '../../shared/wire.js';
import type { Logger } from '../audit.js';
import {
  newCredentialClaims,
  signCredential,
  type CredentialClaims,
  type SigningKeys,
} from '../credential/credential.js';
import type { Revocations } from '../credential/revocation.js';
import { BrokerError } from '../errors.js';
import { jobKey, runUrl } from '../github/job.js';
import type { JobStatusChecker } from '../github/job-status.js';
import type { GitHubClaims } from '../oidc/claims.js';
import type { TokenVerifier } from '../oidc/verify.js';
import type { CompiledConfig, CompiledProject } from '../policy/compiled.js';
import { evaluatePolicy } from '../policy/evaluate.js';
import type { ExchangeStep, ReplayStore } from '../store/store.js';
import type { ExchangeRateLimit } from '../limits/rate.js';
import { batchCapability } from '../gateway/frames.js';
import { checkJobRunning, checkProof } from './job-checks.js';
import { giveBack, jobLimit, jobStep, retryRecordKey, takeJobStep, usableRetry } from './job-credentials.js';
import { reserveToken } from './one-time.js';
import { readExchangeRequest } from './request.js';

export interface ExchangeDeps {
  config: CompiledConfig;
  verifyToken: TokenVerifier;
  replay: ReplayStore;
  keys: SigningKeys;
  logger: Logger;
  upstreamToken: (envName: string) => string | undefined;
  now: () => number;
  /** GitHub's web origin, for the run URL in audit lines and refusals. */
  serverUrl: string;
  /** Exchanges per minute per repository owner (limits/rate.ts): 429 past the limit. */
  exchangeRate?: ExchangeRateLimit;
  /** With a github_app: is the job that asks still running? */
  jobStatus?: JobStatusChecker;
  /** A retried exchange never hands back a credential that was revoked since. */
  revocations?: Revocations;
}

export async function handleExchange(
  request: Request,
  deps: ExchangeDeps,
  requestId: string,
  /** The Node adapter's body stream (app.ts `nodeBody`), read instead of `request.body`. */
  nodeBody?: AsyncIterable<Uint8Array>,
): Promise<Response> {
  const {
    project: asked,
    target,
    claims,
    audit,
  } = await readExchangeRequest(request, deps.verifyToken, nodeBody);
  const decision = evaluatePolicy(deps.config, claims, asked, target);
  const now = deps.now();
  const grant = decision.allowed ? decision.grant : undefined;
  const job = grant && (await jobKey(claims));
  const jobAudit = { ...audit, run_url: runUrl(deps.serverUrl, claims) };
  const expires = Math.min(now + deps.config.credentialTtlSeconds * 1000, now + 3600_000);
  const pendingFor = (project: CompiledProject, jkt: string | undefined) =>
    newCredentialClaims(credentialClaims(claims, project, { target, job: job!, jkt, now, expires }));
  const recordFor = async (project: CompiledProject, pending: CredentialClaims) => {
    const key = await retryRecordKey(request, project, job!, jobAudit);
    return key === undefined ? undefined : { key, pending, ttlMs: expires - now };
  };
  // When every check before the job's slot is already known to pass (no proof to verify: the
  // proof's own reservation needs the store), the slot and the retry record are taken with the
  // token's reservation, in one store step (docs/benchmarks.md, "Round 3").
  let step: NonNullable<ExchangeStep['job']> | undefined;
  let pending: CredentialClaims | undefined;
  if (
    grant &&
    !grant.project.requireDpop &&
    deps.upstreamToken(grant.project.tokenEnv) &&
    validKey(request)
  ) {
    pending = pendingFor(grant.project, undefined);
    step = jobStep(grant.project, job!, await recordFor(grant.project, pending));
  }
  // Reserved before policy and minting, whatever the outcome: one token, one attempt.
  let outcome = await reserveToken(deps, claims, audit, step);

  if (!decision.allowed)
    throw new BrokerError(403, 'policy_denied', decision.message).with({ audit, reason: decision.message });
  const { project } = decision.grant;
  // Every refusal that costs no GitHub request comes first (the proof, the token, a retry, the
  // job's slot); asking GitHub whether the job runs is the last check before minting.
  const jkt = await checkProof(request, deps, project, jobAudit);

  if (!deps.upstreamToken(project.tokenEnv)) {
    deps.logger.log(
      'error',
      `environment variable ${project.tokenEnv} is empty; project ${project.name} cannot deploy`,
    );
    throw new BrokerError(
      503,
      'unavailable',
      'The broker is not configured to deploy this project; tell its admin.',
    ).with({ audit, reason: `missing upstream token ${project.tokenEnv}` });
  }
  const allow = (credentialId: string, retry: boolean) =>
    deps.logger.audit({
      event: 'exchange',
      decision: 'allow',
      request_id: requestId,
      ...jobAudit,
      reason: `allow[${decision.grant.ruleIndex}]${retry ? ' retry of the same exchange' : ''}`,
      credential_id: credentialId,
    });

  if (!step) {
    pending = pendingFor(project, jkt);
    step = jobStep(project, job!, await recordFor(project, pending));
    outcome = await takeJobStep(deps, step, jobAudit);
  }
  // A retry of the same step (same idempotency key, same key pair) gets its credential back.
  if (outcome?.result === 'retry') {
    const previous = await usableRetry(deps, outcome.record, { target, jkt, now }, jobAudit);
    if (previous) {
      await checkJobRunning(deps, claims, project, jobAudit);
      const { credential } = await signCredential(deps.keys, previous);
      allow(previous.cid, true);
      return exchangeResponse(credential, previous, project, batchCapability(deps.config.limits), requestId);
    }
    // The record is another target's or key's, or about to expire: a new credential replaces it.
    step = jobStep(project, job!, await recordFor(project, pending!), 'replace');
    outcome = await takeJobStep(deps, step, jobAudit);
  }
  if (outcome?.result === 'job_limit') throw jobLimit(project, job!, jobAudit);
  let credential: string;
  try {
    await checkJobRunning(deps, claims, project, jobAudit);
    ({ credential } = await signCredential(deps.keys, pending!));
  } catch (error) {
    // Refused (or unconfirmed) before anything was answered: the slot is the job's again.
    await giveBack(deps, step);
    throw error;
  }
  allow(pending!.cid, false);
  return exchangeResponse(credential, pending!, project, batchCapability(deps.config.limits), requestId);
}

/** An Idempotency-Key the request may carry: absent, or well-formed (retryRecordKey refuses others). */
const validKey = (request: Request) => {
  const key = request.headers.get(IDEMPOTENCY_HEADER);
  return key === null || IDEMPOTENCY_KEY_PATTERN.test(key);
};

/** What the credential carries: scope from the grant, provenance only from the verified token. */
function credentialClaims(
  claims: GitHubClaims,
  project: CompiledProject,
  at: { target: string; job: string; jkt: string | undefined; now: number; expires: number },
): Omit<CredentialClaims, 'v' | 'cid'> {
  return {
    pn: project.name,
    prj: project.projectId,
    team: project.teamId,
    tgt: at.target,
    rid: claims.repository_id,
    repo: claims.repository,
    ref: claims.ref,
    sha: claims.sha,
    run: claims.run_id,
    att: claims.run_attempt,
    wf: claims.job_workflow_ref,
    ...(claims.environment ? { env: claims.environment } : {}),
    evt: claims.event_name,
    job: at.job,
    ...(claims.check_run_id ? { crid: claims.check_run_id } : {}),
    ...(at.jkt ? { jkt: at.jkt } : {}),
    iat: at.now,
    exp: at.expires,
  };
}

function exchangeResponse(
  credential: string,
  claims: CredentialClaims,
  project: { name: string; projectId: string; teamId: string },
  batch: BatchCapability,
  requestId: string,
): Response {
  const body: ExchangeResponse = {
    credential,
    expires_at: claims.exp,
    project: { name: project.name, id: project.projectId, team_id: project.teamId },
    target: claims.tgt,
    token_type: claims.jkt ? 'DPoP' : 'Bearer',
    upload_batch: batch,
  };
  return new Response(JSON.stringify(body), {
    status: 200,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
      'x-request-id': requestId,
    },
  });
}
