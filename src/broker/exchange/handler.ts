/** `POST /v1/exchange`: verified OIDC token → replay reservation → policy → a deploy credential. */
import {
  EXCHANGE_PATH,
  IDEMPOTENCY_HEADER,
  IDEMPOTENCY_KEY_PATTERN,
  type BatchCapability,
  type ExchangeResponse,
} from '../../shared/wire.js';
import type { AuditEvent, Logger } from '../audit.js';
import { toHex } from '../bytes.js';
import {
  mintCredential,
  signCredential,
  type CredentialClaims,
  type SigningKeys,
} from '../credential/credential.js';
import { ProofError, verifyProof } from '../credential/dpop.js';
import { badRequest, BrokerError } from '../errors.js';
import { JOB_WINDOW_MS, jobKey, runUrl } from '../github/job.js';
import type { JobStatusChecker } from '../github/job-status.js';
import type { Revocations } from '../credential/revocation.js';
import type { GitHubClaims } from '../oidc/claims.js';
import type { TokenVerifier } from '../oidc/verify.js';
import type { CompiledConfig } from '../policy/compiled.js';
import { couldEverAllow, evaluatePolicy } from '../policy/evaluate.js';
import { storeKeys, type ReplayStore } from '../store/store.js';
import { readLimitedText } from '../http.js';
import { batchCapability } from '../gateway/frames.js';

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
  /** GitHub's web origin, for the run URL in audit lines and refusals. */
  serverUrl: string;
  /** Exchanges per minute per repository owner (limits.ts); throws 429 past the limit. */
  limitExchange?: (config: CompiledConfig, owner: string, insider: boolean) => Promise<void>;
  /** With a github_app: is the job that asks still running? */
  jobStatus?: JobStatusChecker;
  /** A retried exchange never hands back a credential that was revoked since. */
  revocations?: Revocations;
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

const sha256Hex = async (text: string) =>
  toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))));

/** A store failure on the way to a credential fails closed, with a retry hint. */
async function orUnavailable<T>(what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof BrokerError) throw error;
    throw new BrokerError(503, 'unavailable', `The broker cannot ${what} right now; retry shortly.`, {
      'retry-after': '5',
    });
  }
}

const storeUnavailable = () =>
  new BrokerError(503, 'unavailable', 'The broker cannot record token use right now; retry shortly.', {
    'retry-after': '5',
  });

export async function handleExchange(
  request: Request,
  deps: ExchangeDeps,
  requestId: string,
  /** The Node adapter's body stream (app.ts `nodeBody`), read instead of `request.body`. */
  nodeBody?: AsyncIterable<Uint8Array>,
): Promise<Response> {
  const fail = (error: BrokerError, { reason, ...audit }: Partial<AuditEvent>) =>
    error.with({ audit, reason });
  if (request.method !== 'POST') {
    throw fail(
      new BrokerError(405, 'method_not_allowed', `${EXCHANGE_PATH} accepts POST only`, { allow: 'POST' }),
      { reason: `method ${request.method} not allowed; POST only` },
    );
  }
  const text = await readLimitedText(request, MAX_EXCHANGE_BODY, nodeBody);
  const input = parseRequest(text);
  const base: Partial<AuditEvent> = { project: input.project, target: input.target };

  let claims: GitHubClaims;
  try {
    claims = await deps.verifyToken(input.token);
  } catch (error) {
    if (error instanceof BrokerError) throw fail(error, { ...base, reason: error.code });
    throw error;
  }
  const audit = { ...base, ...claimFields(claims) };

  // Tokens no rule could ever allow (anyone can mint them) take no store entry: the policy below
  // denies them, and a replay of one is denied the same way.
  const insider = couldEverAllow(deps.config, claims);
  // Reserved before policy and minting, whatever the outcome: one token, one attempt. The owner's
  // rate window and the token's jti are asked at once: one round trip to a shared store instead of
  // two in a row (docs/benchmarks.md). A refused rate gives the jti back, so a rate-limited token
  // can still be retried, as when the rate was asked first.
  const jtiKey = storeKeys.tokenId(claims.iss, claims.jti);
  const [rate, reserved] = await Promise.allSettled([
    deps.limitExchange?.(deps.config, claims.repository_owner_id, insider),
    insider
      ? deps.replay.reserve(jtiKey, claims.exp * 1000 - deps.now() + REPLAY_MARGIN_MS)
      : Promise.resolve(true),
  ]);
  if (rate.status === 'rejected') {
    if (insider && reserved.status === 'fulfilled' && reserved.value)
      await deps.replay.release(jtiKey).catch(() => undefined);
    if (rate.reason instanceof BrokerError)
      throw fail(rate.reason, { ...audit, reason: 'exchange rate limit' });
    throw fail(storeUnavailable(), { ...audit, reason: 'replay store unavailable' });
  }
  if (reserved.status === 'rejected') {
    throw fail(storeUnavailable(), {
      ...audit,
      reason: 'replay store unavailable',
    });
  }
  if (!reserved.value) {
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
  const job = await jobKey(claims);
  const jobAudit = { ...audit, run_url: runUrl(deps.serverUrl, claims) };

  // A request that cannot succeed is refused before anything is asked of GitHub on its behalf.
  if (project.requireDpop && !request.headers.get('dpop')) {
    throw fail(
      new BrokerError(
        400,
        'bad_request',
        `Project ${project.name} requires DPoP-bound credentials (require_dpop: true): deploy with the Keyhole action (deploy: true), which holds the key. The official Vercel CLI cannot send DPoP proofs, so credential-only mode (deploy: false) is refused for this project.`,
      ),
      { ...jobAudit, reason: 'dpop proof missing at exchange' },
    );
  }

  // A token lifted from a job that has ended (its request token lives on) gets nothing.
  if (deps.jobStatus) {
    if (claims.check_run_id) {
      try {
        await deps.jobStatus.atExchange(
          { repository: claims.repository, checkRunId: claims.check_run_id },
          project,
        );
      } catch (error) {
        if (error instanceof BrokerError) throw fail(error, jobAudit);
        throw error;
      }
    } else {
      deps.logger.log(
        'warn',
        'the token has no check_run_id (an older GHES?): the job-running check is skipped',
        {
          repository: claims.repository,
          run_id: claims.run_id,
        },
      );
    }
  }

  // Sender-constrained projects bind the credential to the key that signed the exchange's proof.
  let jkt: string | undefined;
  if (project.requireDpop) {
    try {
      jkt = await verifyProof({
        request,
        publicUrl: deps.config.publicUrl!,
        path: EXCHANGE_PATH,
        store: deps.replay,
        now: deps.now,
        status: 400,
      });
    } catch (error) {
      if (error instanceof ProofError)
        throw fail(error, { ...jobAudit, reason: `dpop proof ${error.failure} at exchange` });
      throw error;
    }
  }

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

  // A retry of the same step (same idempotency key, same key pair) gets its credential back.
  const idempotencyKey = request.headers.get(IDEMPOTENCY_HEADER);
  if (idempotencyKey !== null && !IDEMPOTENCY_KEY_PATTERN.test(idempotencyKey))
    throw fail(badRequest('Idempotency-Key must be 16-128 letters, digits, _ or -'), jobAudit);
  const retryRecord = idempotencyKey
    ? storeKeys.exchangeRetry(project.name, job, await sha256Hex(idempotencyKey))
    : undefined;
  if (retryRecord) {
    const stored = await orUnavailable('look up this job', () => deps.replay.get(retryRecord));
    const previous = stored ? (JSON.parse(stored) as CredentialClaims) : undefined;
    if (previous && previous.tgt === input.target && previous.jkt === jkt && previous.exp > now + 5_000) {
      // Revoked meanwhile (the job's own post step, an admin): the retry gets a refusal, not a
      // credential every gateway call would refuse. The store's silence is a 503, as at the gateway.
      try {
        await deps.revocations?.check(previous);
      } catch (error) {
        if (!(error instanceof BrokerError) || error.status !== 401)
          throw fail(storeUnavailable(), { ...jobAudit, reason: 'replay store unavailable' });
        throw fail(
          new BrokerError(
            403,
            'forbidden',
            "The credential this exchange already issued (same Idempotency-Key) was revoked; a new deploy step sends a new Idempotency-Key and gets a new credential, within the job's max_credentials_per_job.",
          ),
          { ...jobAudit, reason: `retry of revoked credential ${previous.cid}` },
        );
      }
      const { credential } = await signCredential(deps.keys, previous);
      deps.logger.audit({
        event: 'exchange',
        decision: 'allow',
        request_id: requestId,
        ...jobAudit,
        reason: `allow[${decision.grant.ruleIndex}] retry of the same exchange`,
        credential_id: previous.cid,
      });
      return exchangeResponse(credential, previous, project, batchCapability(deps.config.limits), requestId);
    }
  }

  // One job, a bounded number of credentials: counted atomically in the store every instance shares.
  const slotKey = storeKeys.jobSlots(project.name, job);
  const taken = await orUnavailable("count this job's credentials", () =>
    deps.replay.take(slotKey, 1, project.maxCredentialsPerJob, JOB_WINDOW_MS),
  );
  if (taken === undefined) {
    throw fail(
      new BrokerError(
        403,
        'job_limit',
        `This job already obtained ${project.maxCredentialsPerJob} credential(s) for ${project.name}, the project's max_credentials_per_job. Use the credential the job already has, or re-run the job (a new attempt is a new job).`,
      ),
      {
        ...jobAudit,
        reason: `job_limit: ${project.maxCredentialsPerJob} credential(s) already issued to job ${job}`,
      },
    );
  }

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
    job,
    ...(claims.check_run_id ? { crid: claims.check_run_id } : {}),
    ...(jkt ? { jkt } : {}),
    iat: now,
    exp: expires,
  });
  if (retryRecord) {
    try {
      await orUnavailable('record this exchange', () =>
        deps.replay.put(retryRecord, JSON.stringify(minted), expires - now),
      );
    } catch (error) {
      // Unrecorded, the credential could not be handed to a retry: it is never answered, and the
      // job's slot is given back so the retry the 503 asks for can succeed.
      await deps.replay.take(slotKey, -1, project.maxCredentialsPerJob, JOB_WINDOW_MS).catch(() => undefined);
      throw fail(error as BrokerError, { ...jobAudit, reason: 'replay store unavailable' });
    }
  }
  deps.logger.audit({
    event: 'exchange',
    decision: 'allow',
    request_id: requestId,
    ...jobAudit,
    reason: `allow[${decision.grant.ruleIndex}]`,
    credential_id: minted.cid,
  });
  return exchangeResponse(credential, minted, project, batchCapability(deps.config.limits), requestId);
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
